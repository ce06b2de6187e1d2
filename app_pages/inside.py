"""Look inside the model for the current input: Grad-CAM, saliency, and the filters' weights."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages import resources
from app_pages.i18n import t, tn
from model_store import explain, render

FILTERS_PER_PAGE = 8


@st.cache_data(max_entries=128, show_spinner=False)
def _explanation(model_name: str, image: np.ndarray, method: str, class_index: int, layer: str | None):
    model = resources.predictor(model_name).model
    if method == "gradcam":
        return explain.grad_cam(model, image, class_index, layer)
    return explain.saliency(model, image, class_index)


def explanation_view(model_name: str, image: np.ndarray, predicted: int, names: list[str], key: str):
    """Where the evidence for a class sits: Grad-CAM or saliency, over the input."""
    model = resources.predictor(model_name).model
    layers = explain.conv_layer_names(model)
    methods = {"gradcam": t("explain.gradcam"), "saliency": t("explain.saliency")}
    if not layers:
        methods.pop("gradcam")
    c1, c2, c3 = st.columns(3)
    with c1:
        method = st.radio(t("explain.method"), list(methods), format_func=methods.get, key=f"{key}_method",
                          horizontal=True)
    with c2:
        class_index = st.selectbox(t("explain.class"), range(len(names)), index=predicted, key=f"{key}_class_{predicted}",
                                   format_func=lambda i: f"{names[i]}{' ★' if i == predicted else ''}")
    layer = None
    with c3:
        if method == "gradcam":
            layer = st.selectbox(t("explain.layer"), layers, index=len(layers) - 1, key=f"{key}_layer")
    result = _explanation(model_name, image, method, class_index, layer)
    left, right = st.columns(2)
    with left:
        st.image(render.enlarge(result.heatmap, scale=7, grid=False, cmap="inferno"), width=196,
                 caption=t("explain.heatmap", method=methods[method], name=names[class_index]))
    with right:
        st.image(np.repeat(np.repeat(explain.overlay(image, result.heatmap), 7, 0), 7, 1), width=196,
                 caption=t("explain.overlay"))
    st.caption(t(f"explain.about_{method}"))


def filters_view(model_name: str, key: str):
    """The Conv2D kernels: the first layer's as small images, deeper layers page by page."""
    import keras

    model = resources.predictor(model_name).model
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        st.info(t("maps.none"))
        return
    names = [f"{c.name} · {'×'.join(map(str, c.kernel.shape))}" for c in convs]
    index = st.selectbox(t("filters.layer"), range(len(convs)), format_func=names.__getitem__, key=f"{key}_layer")
    weights = np.asarray(convs[index].kernel)  # (k, k, in, out)
    k, _, n_in, n_out = weights.shape
    limit = float(np.abs(weights).max()) or 1.0
    scale = max(4, 48 // k)
    if n_in == 1:
        st.image(render.tile_channels(weights[:, :, 0, :], scale=scale, cmap="RdBu_r", value_range=(-limit, limit)),
                 caption=tn("filters.first", n_out, n=n_out, k=k))
    else:
        pages = (n_out + FILTERS_PER_PAGE - 1) // FILTERS_PER_PAGE
        page = st.number_input(t("filters.page", pages=pages), 1, pages, 1, key=f"{key}_page_{index}") - 1
        for out in range(page * FILTERS_PER_PAGE, min(n_out, (page + 1) * FILTERS_PER_PAGE)):
            st.image(render.tile_channels(weights[:, :, :, out], scale=scale, cmap="RdBu_r", value_range=(-limit, limit),
                                          columns=min(n_in, 32)),
                     caption=t("filters.deeper", out=out, n_in=n_in, k=k))
    st.image(render.legend_bar(-limit, limit, cmap="RdBu_r"), width=256,
             caption=t("filters.scale", low=f"{-limit:.2f}", high=f"{limit:.2f}"))
