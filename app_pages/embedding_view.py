"""Where a drawing lands among the test images, as the model sees them (logic: model_store/embedding.py)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app_pages import gallery, resources
from app_pages.i18n import as_text, t
from model_store import embedding, render
from model_store.model_input import to_float


@st.cache_resource(max_entries=4, show_spinner=False)
def _drawing_map(name: str, path: str, version: str, dataset: str, full: bool, _test) -> embedding.DrawingMap:
    """Built once per model file and test set (seconds), then read from the store's cache folder at the next start."""
    from pathlib import Path

    model = resources.predictor(name).model
    return embedding.DrawingMap.in_store(resources.store(), Path(path), model, _test.images, _test.labels)


def drawing_map(model_name: str) -> embedding.DrawingMap:
    dataset = resources.store().get(model_name).dataset
    test = resources.test_set(dataset)
    with st.spinner(t("embedding.building")):
        return _drawing_map(model_name, *resources.model_version(model_name), dataset, test.full, test)


def _figure(mapped: embedding.EmbeddingMap, placed: embedding.Placement, names: list[str]) -> go.Figure:
    fig = go.Figure()
    for label in np.unique(mapped.labels):
        members = mapped.labels == label
        fig.add_trace(go.Scattergl(x=mapped.points[members, 0], y=mapped.points[members, 1], mode="markers",
                                   name=names[int(label)], marker={"size": 4, "opacity": 0.55}, hoverinfo="name"))
    near = mapped.points[placed.neighbours]
    fig.add_trace(go.Scattergl(x=near[:, 0], y=near[:, 1], mode="markers", name=t("embedding.neighbours"),
                             marker={"size": 11, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": "#222"}}))
    fig.add_trace(go.Scattergl(x=[placed.point[0]], y=[placed.point[1]], mode="markers", name=t("embedding.you"),
                             marker={"size": 22, "symbol": "star", "color": "#ffd400",
                                     "line": {"width": 2, "color": "#222"}}))
    share = mapped.explained
    fig.update_layout(height=460, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"itemsizing": "constant"},
                      xaxis_title=t("embedding.axis", n=1, share=f"{share[0]:.0%}"),
                      yaxis_title=t("embedding.axis", n=2, share=f"{share[1]:.0%}"))
    return fig


def clicked_image(event, mapped: embedding.EmbeddingMap) -> tuple[int, int] | None:
    """(position in the test set, class) of the test image whose dot was clicked (the first of a selection), or None.
    Each class is a trace of its own, in the order of ``np.unique(labels)``, its dots in the map's order."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    classes = np.unique(mapped.labels)
    for point in points:
        trace, index = point.get("curve_number"), point.get("point_index")
        if trace is not None and index is not None and trace < len(classes):
            members = np.flatnonzero(mapped.labels == classes[trace])
            if index < len(members):
                return int(mapped.positions[members[index]]), int(classes[trace])
    return None


def show(model_name: str, image: np.ndarray, names: list[str]) -> None:
    """The map of the test images coloured by class, the drawing as a star, and its nearest test images beside it."""
    st.caption(t("embedding.about"))
    mapped_images = drawing_map(model_name)
    placed = mapped_images.place(image)
    mapped = mapped_images.map
    test = resources.test_set(resources.store().get(model_name).dataset)
    left, right = st.columns([3, 1])
    with left:
        event = st.plotly_chart(_figure(mapped, placed, names), key="embedding_map", config={"displayModeBar": False},
                                on_select="rerun", selection_mode="points")
        clicked = clicked_image(event, mapped)
        if clicked is not None:  # a click on a dot: that test image, to compare with the drawing
            st.image(render.enlarge(to_float(test.images[clicked[0]]), scale=3, grid=False), width=84,
                     caption=t("embedding.clicked", name=names[clicked[1]], index=int(test.indices[clicked[0]])))
    with right:
        st.markdown(t("embedding.nearest_title"))
        positions = mapped.positions[placed.neighbours]
        labels = mapped.labels[placed.neighbours]
        gallery.gallery(test.images[positions], [t("embedding.neighbour", name=names[int(label)]) for label in labels],
                        per_row=2, width=84)
    agree = int(np.sum(labels == int(np.argmax(placed.probabilities))))
    st.caption(t("embedding.agree", agree=agree, k=len(labels), name=as_text(names[int(np.argmax(placed.probabilities))])))
