"""What the answer depends on: covering parts of the input, and switching filters off (logic: model_store/occlusion.py)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages import bars, resources
from app_pages.i18n import as_text, t
from model_store import explain, occlusion, render

LAYER_KEY = "occlusion_layer"


@st.cache_data(max_entries=32, show_spinner=False)
def _occlusion(name: str, path: str, version: str, image: np.ndarray, label: int | None) -> occlusion.OcclusionMap:
    return occlusion.occlusion_map(resources.predictor(name).model, image, label)


def _drop_picture(drop: np.ndarray) -> np.ndarray:
    """Red where covering hurt the class, blue where it helped, white where it changed nothing."""
    limit = float(np.abs(drop).max()) or 1.0
    return render.enlarge(0.5 - 0.5 * drop / limit, scale=7, grid=False, cmap="RdBu")


def show(model_name: str, image: np.ndarray, label: int | None, names: list[str]) -> None:
    """The occlusion map for class ``label`` (None: the predicted class) beside the input, then filter ablation."""
    st.caption(t("occlusion.about"))
    result = _occlusion(model_name, *resources.model_version(model_name), image, label)
    left, right = st.columns(2)
    with left:
        st.image(render.enlarge(image, scale=7, grid=False), width=196, caption=t("occlusion.input"))
    with right:
        st.image(_drop_picture(result.drop), width=196,
                 caption=t("occlusion.map", name=names[result.class_index], patch=result.patch))
    row, col = result.most_needed
    st.caption(t("occlusion.summary", name=as_text(names[result.class_index]), probability=bars.percent(result.probability, 1),
                 drop=bars.percent(float(result.drop.max()), 1), row=row, col=col))
    _ablation(model_name, image, names)


def _ablation(model_name: str, image: np.ndarray, names: list[str]) -> None:
    st.subheader(t("occlusion.ablation_title"))
    model = resources.predictor(model_name).model
    layers = explain.conv_layer_names(model)
    if not layers:
        st.info(t("occlusion.no_conv"))
        return
    layer = st.selectbox(t("occlusion.layer"), layers, key=LAYER_KEY)
    filters = int(model.get_layer(layer).filters)
    off = st.multiselect(t("occlusion.filters_off"), list(range(filters)), key=f"occlusion_off_{layer}",
                         format_func=lambda k: t("occlusion.filter", k=k))
    switched = occlusion.switch_off(model, image, layer, off)
    before, after = int(np.argmax(switched.before)), int(np.argmax(switched.after))
    shown = [as_text(name) for name in names]  # class names can come from an uploaded model's metadata
    st.markdown(t("occlusion.before_after", before=shown[before], p_before=bars.percent(float(switched.before[before]), 1),
                  after=shown[after], p_after=bars.percent(float(switched.after[after]), 1), n=len(off)))
    if switched.changed:
        st.warning(t("occlusion.changed", before=shown[before], after=shown[after]))
    elif off:
        st.caption(t("occlusion.unchanged"))
