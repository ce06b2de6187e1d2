"""Views the pages share as Streamlit elements: the prediction headline, the probability bars, a model input's pixel
values, the feature maps, and the test-image picker. (The Draw page shows its answer in one result panel instead:
``app_pages/panel.py``.)"""

from __future__ import annotations

import html

import numpy as np
import streamlit as st

from app_pages import bars, resources
from app_pages.i18n import t, tn
from app_pages.sidebar import presenting
from model_store import render
from model_store.model_input import to_float
from model_store.panel import LOW_CONFIDENCE, input_id  # one fingerprint and one threshold for every page
from training.samples import TestImages


def pick_test_image(test: TestImages, key: str, label: str, help: str | None = None, on_change=None) -> int:
    """Choose a test image by its official test-set index; returns its position in ``test``.

    With the full test set position and index are the same number; with the shipped sample only the
    sampled indices can be chosen, so the number the user sees is always the dataset's own index."""
    if key not in st.session_state:
        st.session_state[key] = 0
    if test.full:
        st.number_input(label, 0, len(test.labels) - 1, key=key, help=help, on_change=on_change)
    else:
        st.selectbox(label, range(len(test.labels)), key=key, help=help, on_change=on_change,
                     format_func=lambda pos: f"#{int(test.indices[pos])}")
    return int(st.session_state[key])


def prediction_headline(label: str, confidence: float, verdict: str | None = None, image: np.ndarray | None = None):
    """The prediction, large, with its confidence; marked when the model is unsure."""
    marker = f" data-input='{input_id(image)}'" if image is not None else ""
    label = html.escape(label)  # class names can come from an uploaded model's metadata
    note = t("pred.unsure") if confidence < LOW_CONFIDENCE else ""
    st.markdown(
        f"<div data-testid='prediction'{marker} style='font-size:4.5rem;font-weight:700;line-height:1.1'>{label}</div>"
        f"<div data-testid='confidence'>{t('pred.confidence', value=bars.percent(confidence, 1))}{note}</div>"
        + (f"<div data-testid='verdict'>{html.escape(verdict)}</div>" if verdict else ""),
        unsafe_allow_html=True,
    )


def probability_bars(probabilities: np.ndarray, names: list[str], key: str, true_label: int | None = None):
    """Every class's probability as a labelled bar, in class order (bars keep their place from stroke to stroke).

    Plain HTML, not a chart: a stroke redraws it, and a chart library's script costs the browser far more per stroke
    (``bench/browser_cost.py`` measures it; with many sessions on one machine the browsers' CPU is the limit)."""
    st.html(bars.probability_html(probabilities, names, true_label=true_label, large=presenting(), key=key))


def pixel_values(image: np.ndarray, caption: str, key: str):
    """The pixel values (0-255) of a 28x28 model input, as a grid of numbers under its caption."""
    st.caption(caption)
    values = (np.clip(image, 0, 1) * 255).round().astype(int)
    st.dataframe(values, key=f"{key}_values", height=330, column_config={
        str(i): st.column_config.NumberColumn(width="small") for i in range(28)})


def feature_maps_view(prediction, key: str):
    """Every Conv2D layer: name, output shape, all channels on one colour scale, and one enlarged."""
    maps = prediction.feature_maps
    if not maps:
        st.info(t("maps.none"))
        return
    st.caption(t("maps.caption"))
    # Lazy tabs: only the open layer is drawn, so a stroke costs one layer's images, not all of them.
    tabs = st.tabs([f"{fm.layer} · {'×'.join(map(str, fm.shape))}" for fm in maps], key=f"{key}_tabs", on_change="rerun")
    for tab, fm in zip(tabs, maps):
        if tab.open is False:
            continue
        with tab:
            low, high = render.layer_range(fm.maps)
            h, w, c = fm.shape
            folded = t("maps.after", layers=" + ".join(fm.after)) if fm.after else ""
            st.markdown(tn("maps.layer", c, layer=fm.layer, after=folded, h=h, w=w, c=c))
            # Pictures as data URLs (render.png_data_url): PNG, as JPEG would blur the pixels.
            st.image(_tiles(fm.maps, max(1, 84 // h)), caption=tn("maps.all_channels", c, layer=fm.layer, c=c))
            st.image(render.png_data_url(render.legend_bar(low, high)), width=256,
                     caption=t("maps.scale", low=f"{low:.2f}", high=f"{high:.2f}"))
            channel = st.slider(t("maps.enlarge"), 0, c - 1, 0, key=f"{key}_{fm.layer}_channel")
            # An image on the layer's colour scale, not a heatmap chart: a stroke redraws it (see probability_bars).
            st.image(render.png_data_url(render.enlarge_channel(fm.maps[:, :, channel], low, high)),
                     caption=t("maps.channel_title", layer=fm.layer, channel=channel) + " · " + t(
                         "maps.channel_range", low=f"{fm.maps[:, :, channel].min():.2f}",
                         high=f"{fm.maps[:, :, channel].max():.2f}"), width=280)


@st.cache_data(max_entries=16, show_spinner=False)  # a stroke redraws the open layer's grid: keep the recent ones
def _tiles(maps: np.ndarray, scale: int) -> str:
    return render.png_data_url(render.tile_channels(maps, scale=scale))


def mnist_test_digit():
    """(model input, true class) of the MNIST test digit the reader picks, or a random one (the Draw page)."""
    test = resources.test_set("mnist")
    if not test.full:
        st.caption(t("common.sample_only", dataset="MNIST", count=len(test.labels)))
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    with c2:
        if st.button(t("common.random"), icon=":material/casino:", key="mnist_random", width="stretch"):
            st.session_state.mnist_pick = int(np.random.default_rng().integers(len(test.labels)))
    with c1:
        pos = pick_test_image(test, "mnist_pick", t("common.test_image"),
                          help=t("draw.mnist_help_full" if test.full else "draw.mnist_help_sample"))
    label = int(test.labels[pos])
    st.caption(t("draw.mnist_caption", index=int(test.indices[pos]), label=label))
    return to_float(test.images[pos]), label
