"""How the network reads one input, as the Draw and Fashion pages show it: the answer beside the input, then the
feature maps, where the evidence is, and the filters.

Widget keys start with the page's ``prefix`` (``draw``, ``fashion``), so each page keeps its own toggles.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages import inside, resources, views
from app_pages.i18n import t
from app_pages.sidebar import presenting


def answer(model: str, image: np.ndarray, names: list[str], prefix: str, true_label: int | None = None,
           wrong: str | None = None):
    """The prediction, its confidence, whether it is right (when the true class is known: ``wrong`` says how a miss is
    told) and every class's probability. Returns the prediction, or None with the reason shown."""
    # Shown only if the answer takes over half a second: the first input after a server start, while TensorFlow and
    # the model load. The input is already on the page meanwhile.
    with st.spinner(t("common.loading_model")):
        prediction = resources.prediction(model, image, names)
    if prediction is None:
        return None
    verdict = None
    if true_label is not None:
        verdict = t("common.correct") if prediction.label == true_label else wrong or t("common.wrong")
    views.prediction_headline(names[prediction.label], prediction.confidence, verdict, image)
    views.probability_bars(prediction.probabilities, names, key=f"{prefix}_probs", true_label=true_label)
    return prediction


def look_inside(model: str, image: np.ndarray, prediction, names: list[str], prefix: str) -> None:
    """The feature maps of every Conv2D layer, then on request Grad-CAM or saliency, and the filters' weights (not in
    presentation mode: fewer controls on a projector)."""
    st.subheader(t("maps.title"))
    views.feature_maps_view(prediction, key=f"{prefix}_maps")
    st.subheader(t("explain.title"))
    if st.toggle(t("explain.toggle"), key=f"{prefix}_explain"):
        inside.explanation_view(model, image, prediction.label, names, key=f"{prefix}_explain_view")
    if presenting():
        return
    st.subheader(t("filters.title"))
    if st.toggle(t("filters.toggle"), key=f"{prefix}_filters"):
        inside.filters_view(model, key=f"{prefix}_filters_view")
