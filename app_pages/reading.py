"""How the network reads one input, as the Draw and Fashion pages show it: the answer beside the input, then the
feature maps, where the evidence is, and the filters.

The Draw page shows the answer, its input and the feature maps in one result panel (``panel_reading``: one element,
updated in place on every stroke); Fashion as Streamlit elements (``answer``, ``look_inside``). Widget keys start
with the page's ``prefix`` (``draw``, ``fashion``), so each page keeps its own toggles.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages import deeper, filter_viz_view, i18n, inside, panel, resources, views
from app_pages.i18n import t
from app_pages.sidebar import presenting
from model_store.panel import reading_payload

_ANSWERED: set[str] = set()  # models that have answered in this server process: loaded, nothing to wait for


def predict(model: str, image: np.ndarray, names: list[str]):
    """The prediction for ``image``, or None with the reason shown."""
    if model in _ANSWERED:
        return resources.prediction(model, image, names)
    # "Loading the model…" if the answer takes over half a second: the first input after a server start, while
    # TensorFlow and the model load (the input is already on the page meanwhile). Only until the model has answered
    # once: a spinner costs every answer a timer thread and an update, tens of milliseconds on a busy server.
    with st.spinner(t("common.loading_model")):
        prediction = resources.prediction(model, image, names)
    if prediction is not None:
        _ANSWERED.add(model)
    return prediction


def panel_reading(model: str, image: np.ndarray | None, names: list[str], prefix: str, true_label: int | None = None,
                  wrong: str | None = None, naive: np.ndarray | None = None, message: dict | None = None):
    """The result panel (``app_pages/panel.py``) for ``image``: the prediction, its confidence, whether it is right
    (when the true class is known: ``wrong`` says how a miss is told), every class's probability, the input (beside
    the naive resize ``naive`` and its answer, when given) and the open layer's feature maps. Without an image, or
    when the model cannot answer (the reason shown), the panel is there but empty, or shows ``message``
    (``model_store.panel.message_payload``). Returns the prediction or None."""
    key = f"{prefix}_panel"
    prediction = None if image is None else predict(model, image, names)
    payload = None
    if prediction is not None:
        naive_reading = None if naive is None else (naive, resources.prediction(model, naive, names))
        payload = reading_payload(prediction, image, names, i18n, open_layer=panel.open_layer(key),
                                  true_label=true_label, wrong=wrong, naive=naive_reading, large=presenting(),
                                  key=prefix)
    panel.show(payload or message, key)
    return prediction


def answer(model: str, image: np.ndarray, names: list[str], prefix: str, true_label: int | None = None,
           wrong: str | None = None):
    """The prediction, its confidence, whether it is right (when the true class is known: ``wrong`` says how a miss is
    told) and every class's probability. Returns the prediction, or None with the reason shown."""
    prediction = predict(model, image, names)
    if prediction is None:
        return None
    verdict = None
    if true_label is not None:
        verdict = t("common.correct") if prediction.label == true_label else wrong or t("common.wrong")
    views.prediction_headline(names[prediction.label], prediction.confidence, verdict, image)
    views.probability_bars(prediction.probabilities, names, key=f"{prefix}_probs", true_label=true_label)
    return prediction


def look_inside(model: str, image: np.ndarray, prediction, names: list[str], prefix: str) -> None:
    """The feature maps of every Conv2D layer, then ``explain_and_filters``."""
    st.subheader(t("maps.title"))
    views.feature_maps_view(prediction, key=f"{prefix}_maps")
    explain_and_filters(model, image, prediction, names, prefix)


def explain_and_filters(model: str, image: np.ndarray, prediction, names: list[str], prefix: str) -> None:
    """On request Grad-CAM or saliency, and the filters' weights."""
    explain_toggle(prefix)
    explanation(model, image, prediction, names, prefix)
    filters(model, prefix)


def explain_toggle(prefix: str) -> bool:
    st.subheader(t("explain.title"))
    return st.toggle(t("explain.toggle"), key=f"{prefix}_explain")


def explanation(model: str, image: np.ndarray | None, prediction, names: list[str], prefix: str) -> None:
    """A deeper view of ``image`` (``deeper``: Grad-CAM, where it lands, occlusion...), when its toggle
    (``explain_toggle``) is on and there is a prediction. Apart from the toggle: the Draw page shows it with the
    answer, which a stroke reruns, and the toggle with the others."""
    if st.session_state.get(f"{prefix}_explain") and prediction is not None:
        deeper.show(model, image, prediction, names, prefix)


def filters(model: str, prefix: str) -> None:
    """The filters' weights on request (not in presentation mode: fewer controls on a projector)."""
    if presenting():
        return
    st.subheader(t("filters.title"))
    if st.toggle(t("filters.toggle"), key=f"{prefix}_filters"):
        inside.filters_view(model, key=f"{prefix}_filters_view")
        st.subheader(t("filterviz.title"))
        filter_viz_view.show(model)
