"""Streamlit helpers shared by the pages: cached resources, the model picker, and the common views.

Everything heavy is cached per server (``st.cache_resource``) or per input (``st.cache_data``), so a
rerun that does not change the input recomputes nothing.
"""

from __future__ import annotations

import html
import threading

import numpy as np
import streamlit as st

from app_pages import bars, i18n
from app_pages.i18n import t
from model_store import render
from model_store.inference import check_reading
from model_store.refusal import Refusal
from model_store.store import ModelStore
from training import datasets
from training.samples import TestImages, test_images

LOW_CONFIDENCE = 0.6
DATASETS = ("mnist", "fashion-mnist")


def keep_keras_state() -> None:
    """Streamlit calls ``keras.backend.clear_session()`` after every script run. We hold compiled models
    for the whole server (and may be training in a thread), so that only costs ~50 ms per stroke and
    resets state others use. Switched off where this Streamlit still has the hook."""
    from streamlit.runtime.scriptrunner import script_runner

    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = lambda: None


def keep_widget_state(*keys: str) -> None:
    """Widgets not drawn in a run lose their value (Streamlit's rule); pages that return early, e.g. on an
    empty canvas, call this first so toggles survive a Clear."""
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def pick_test_image(test: TestImages, key: str, label: str, help: str | None = None) -> int:
    """Choose a test image by its official test-set index; returns its position in ``test``.

    With the full test set position and index are the same number; with the shipped sample only the
    sampled indices can be chosen, so the number the user sees is always the dataset's own index."""
    if key not in st.session_state:
        st.session_state[key] = 0
    if test.full:
        st.number_input(label, 0, len(test.labels) - 1, key=key, help=help)
    else:
        st.selectbox(label, range(len(test.labels)), key=key, help=help,
                     format_func=lambda pos: f"#{int(test.indices[pos])}")
    return int(st.session_state[key])


@st.cache_resource
def store() -> ModelStore:
    return ModelStore()


@st.cache_resource(max_entries=8, show_spinner=False)
def _predictor(name: str, path: str, mtime: float):
    from model_store import litert
    from model_store.inference import Predictor

    # LiteRT for single drawings where it matches Keras, converted in the background (and kept in the store's
    # cache for the next start): until it is ready, drawings are answered through tf.function, not kept waiting.
    model = store().load(name)
    try:
        cache = store().derived_path(path, litert.cache_tag())
    except OSError:  # the file went away meanwhile: convert without a cache
        cache = None
    return Predictor(model, litert=True, convert_in_background=True, litert_cache=cache)


def predictor(name: str):
    """The compiled predictor of model ``name``, loaded once per server (reloaded if the file changes)."""
    entry = store().get(name)
    return _predictor(name, str(entry.path), entry.path.stat().st_mtime)


def warm_up(name: str) -> None:
    """Load the model in the background while the user is still drawing, so the first stroke is fast."""
    entry = store().get(name)
    args = (name, str(entry.path), entry.path.stat().st_mtime)
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    def load() -> None:
        try:
            _predictor(*args)
        except Exception:  # only a head start: the page's own call reports what is wrong (e.g. a model deleted)
            pass

    # Not a daemon: a TensorFlow call cut off at interpreter exit aborts the process (seen under pytest).
    thread = threading.Thread(target=load, daemon=False, name=f"warm-up {name}")
    add_script_run_ctx(thread, get_script_run_ctx())  # the cache wants a context; the thread draws nothing
    thread.start()


def warm_up_current_models() -> None:
    """Load (and convert to LiteRT) each dataset's current model in the background, so that the first visit to
    Draw or Fashion does not wait seconds for it. Loading is cached per server, so later calls cost nothing."""
    for dataset in DATASETS:
        name = current_model(dataset)
        if name and not st.session_state.get(f"warmed::{name}"):
            st.session_state[f"warmed::{name}"] = True
            warm_up(name)


@st.cache_resource(show_spinner="Loading the test images…")
def test_set(dataset: str) -> TestImages:
    return test_images(dataset)


@st.cache_data(max_entries=32, show_spinner=False)  # drawings rarely repeat; ~0.3 MB each
def _prediction(model_name: str, image: np.ndarray):
    return predictor(model_name)(image)


def prediction(model_name: str, image: np.ndarray, names: list[str]):
    """Prediction and feature maps for one (28, 28) input, cached on the input's bytes; None, with the reason
    shown, when the model cannot give one that makes sense (broken model, NaN outputs, wrong class count)."""
    try:
        return check_reading(_prediction(model_name, image), len(names))
    except Refusal as exc:
        st.error(i18n.refusal(exc))
        return None


def class_names(model_name: str, dataset: str) -> list[str]:
    """The model's class names in the session's language."""
    return i18n.class_names(store().get(model_name).meta.get("class_names") or datasets.CLASS_NAMES[dataset])


# ---- the sidebar model picker ---------------------------------------------------------------------
def model_key(dataset: str) -> str:
    return f"model::{dataset}"


def model_picker(dataset: str) -> str | None:
    """Select box of the models for ``dataset``; remembers the choice for the session."""
    entries = store().for_dataset(dataset)
    if not entries:
        st.sidebar.warning(t("picker.none", dataset=t(f"dataset.{dataset}")))
        return None
    names = [e.name for e in entries]
    key = model_key(dataset)
    if st.session_state.get(key) not in names:
        st.session_state[key] = store().active(dataset)

    # Labels are made now, in this run's language: Streamlit may call format_func outside the run.
    default = t("picker.default")
    labels = {e.name: f"{e.name}{f' ({default})' if e.shipped else ''}"
                      f"{f' · {e.test_accuracy:.2%}' if e.test_accuracy else ''}" for e in entries}
    st.sidebar.selectbox(t("picker.label", dataset=t(f"dataset.{dataset}")), names, key=key, format_func=labels.get)
    return st.session_state[key]


def current_model(dataset: str) -> str | None:
    name = st.session_state.get(model_key(dataset))
    return name or store().active(dataset)


# ---- presentation mode ------------------------------------------------------------------------------
PRESENT_KEY = "present"
_PRESENT_CSS = """
<style>
html, body, [data-testid="stAppViewContainer"] { font-size: 22px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stCaptionContainer"] { font-size: 1.15rem; }
h1 { font-size: 3rem !important; }
</style>
"""


def presenting() -> bool:
    """Presentation mode (projectors): larger text and charts, fewer controls."""
    return bool(st.session_state.get(PRESENT_KEY, False))


def presentation_toggle() -> None:
    st.sidebar.toggle(t("present.toggle"), key=PRESENT_KEY, help=t("present.help"))
    if presenting():
        st.html(_PRESENT_CSS)


def chart_height(normal: int) -> int:
    return int(normal * 1.6) if presenting() else normal


# ---- views --------------------------------------------------------------------------------------
def probability_bars(probabilities: np.ndarray, names: list[str], key: str, true_label: int | None = None):
    """Every class's probability as a labelled bar, in class order (bars keep their place from stroke to stroke).

    Plain HTML, not a chart: a stroke redraws it, and this chart and the enlarged channel as plotly charts cost the
    browser ~130 ms of script per stroke (``bench/browser_cost.py``; with 20 sessions on one machine the
    browsers' CPU is the limit, ``bench/load.py``)."""
    st.html(bars.probability_html(probabilities, names, true_label=true_label, large=presenting(), key=key))


def input_id(image: np.ndarray) -> str:
    """A short fingerprint of a model input; browser tests wait for it to change after a stroke."""
    import hashlib

    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=6).hexdigest()


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


def model_input_view(image: np.ndarray, caption: str, key: str, show_values: bool = False):
    """The 28x28 image the model received, with visible pixels and optionally its values."""
    st.image(render.png_data_url(render.enlarge(image, scale=7)), caption=caption, width=300 if presenting() else 196)
    if show_values:
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
            st.markdown(t("maps.layer", layer=fm.layer, after=folded, h=h, w=w, c=c))
            # Pictures as data URLs (render.png_data_url): PNG, as JPEG would blur the pixels.
            st.image(_tiles(fm.maps, max(1, 84 // h)), caption=t("maps.all_channels", layer=fm.layer, c=c))
            st.image(render.png_data_url(render.legend_bar(low, high)), width=256,
                     caption=t("maps.scale", low=f"{low:.2f}", high=f"{high:.2f}"))
            channel = st.slider(t("maps.enlarge"), 0, c - 1, 0, key=f"{key}_{fm.layer}_channel")
            # An image on the layer's colour scale, not a heatmap chart: a stroke redraws it (see probability_bars).
            st.image(render.png_data_url(render.enlarge_channel(fm.maps[:, :, channel], low, high)),
                     caption=t("maps.channel_title", layer=fm.layer, channel=channel) + " · " + t(
                         "maps.channel_range", low=f"{fm.maps[:, :, channel].min():.2f}",
                         high=f"{fm.maps[:, :, channel].max():.2f}"), width=280)


@st.cache_data(max_entries=16, show_spinner=False)  # ~0.1 MB each
def _tiles(maps: np.ndarray, scale: int) -> str:
    return render.png_data_url(render.tile_channels(maps, scale=scale))


# ---- training in the background (Train page) --------------------------------------------------------
@st.cache_resource
def jobs():
    """The server's training jobs: one registry per server, so every session sees the same running training."""
    from training.jobs import JobRegistry

    return JobRegistry()
