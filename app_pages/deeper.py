"""Beyond the feature maps, for the input on the page: where the evidence is (Grad-CAM, saliency, ``inside``), where
the input lands among the test images (``embedding_view``), what covering parts of it or switching filters off does
(``occlusion_view``), and the whole network at once (``network_view``). One at a time: a stroke computes only the
view chosen."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages import embedding_view, inside, network_view, occlusion_view
from app_pages.i18n import t

VIEWS = ("evidence", "lands", "occlusion", "network")


def view_key(prefix: str) -> str:
    return f"{prefix}_deeper"


def kept(prefix: str) -> tuple[str, ...]:
    """The choices a page keeps while they are not drawn (an empty canvas shows no view): the view and its layer."""
    return view_key(prefix), occlusion_view.LAYER_KEY


def show(model: str, image: np.ndarray, prediction, names: list[str], prefix: str) -> None:
    """The chosen view for ``image`` (read as ``prediction``), under a row of choices."""
    labels = {view: t(f"deeper.{view}") for view in VIEWS}  # now, in this run's language
    view = st.segmented_control(t("deeper.choose"), VIEWS, format_func=labels.get, key=view_key(prefix),
                                default="evidence") or "evidence"
    if view == "lands":
        embedding_view.show(model, image, names)
    elif view == "occlusion":
        occlusion_view.show(model, image, prediction.label, names)
    elif view == "network":
        network_view.show(model, image, names, key=f"{prefix}_network")
    else:
        inside.explanation_view(model, image, prediction.label, names, key=f"{prefix}_explain_view")
