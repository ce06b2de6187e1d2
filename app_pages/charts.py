"""Charts of the Train and Models pages: learning curves, the confusion matrix, a model's layer table.

Each function draws from plain numbers (a history list, a matrix, layer rows); none of them trains or loads anything.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app_pages.i18n import t
from app_pages.sidebar import chart_height, presenting

PALETTE = ["#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#fff176", "#4db6ac", "#f06292", "#90a4ae", "#aed581"]
TRAIN, VAL = "#4fc3f7", "#ffb74d"


def _layout(fig: go.Figure, title: str, y_title: str, percent: bool = False, height: int = 300) -> go.Figure:
    fig.update_layout(
        title=title, height=chart_height(height), margin=dict(l=10, r=10, t=40, b=10),
        xaxis=dict(title=t("chart.epoch"), rangemode="tozero"), yaxis=dict(title=y_title, tickformat=".0%" if percent else None),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
        font=dict(size=18 if presenting() else 13), uirevision="keep",
    )
    return fig


def learning_curves(history: list[dict], batch_points=(), key: str = "curves") -> None:
    """Train and validation loss and accuracy per epoch, side by side; the per-batch running loss as a faint line."""
    x = [h["epoch"] for h in history]
    cols = st.columns(2)
    for col, metric, percent in ((cols[0], "loss", False), (cols[1], "accuracy", True)):
        fig = go.Figure()
        if batch_points:
            column = 1 if metric == "loss" else 2
            fig.add_trace(go.Scatter(
                x=[p[0] for p in batch_points], y=[p[column] for p in batch_points], mode="lines",
                name=t("chart.batches"), line=dict(color=TRAIN, width=1), opacity=0.3, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=x, y=[h.get(metric) for h in history], mode="lines+markers", name=t("chart.train"),
                                 line=dict(color=TRAIN, width=3)))
        if any(f"val_{metric}" in h for h in history):
            fig.add_trace(go.Scatter(x=x, y=[h.get(f"val_{metric}") for h in history], mode="lines+markers",
                                     name=t("chart.val"), line=dict(color=VAL, width=3)))
        _layout(fig, t(f"chart.{metric}"), t(f"chart.{metric}"), percent)
        with col:
            st.plotly_chart(fig, key=f"{key}_{metric}", config={"displayModeBar": False})


def compare_curves(runs: list[tuple[str, list[dict]]], key: str) -> None:
    """Several models' curves on the same axes: validation solid, training dotted, one colour per model."""
    cols = st.columns(2)
    for col, metric, percent in ((cols[0], "loss", False), (cols[1], "accuracy", True)):
        fig = go.Figure()
        for i, (name, history) in enumerate(runs):
            colour = PALETTE[i % len(PALETTE)]
            x = [h.get("epoch", n + 1) for n, h in enumerate(history)]
            if any(f"val_{metric}" in h for h in history):
                fig.add_trace(go.Scatter(x=x, y=[h.get(f"val_{metric}") for h in history], mode="lines+markers",
                                         name=f"{name} · {t('chart.val')}", line=dict(color=colour, width=3)))
            fig.add_trace(go.Scatter(x=x, y=[h.get(metric) for h in history], mode="lines",
                                     name=f"{name} · {t('chart.train')}", line=dict(color=colour, width=2, dash="dot")))
        _layout(fig, t(f"chart.{metric}"), t(f"chart.{metric}"), percent, height=340)
        with col:
            st.plotly_chart(fig, key=f"{key}_{metric}", config={"displayModeBar": False})


def confusion_matrix(matrix: np.ndarray, names: list[str], key: str) -> tuple[int, int] | None:
    """The confusion matrix as a heatmap (rows true, columns predicted); returns the cell the user clicked, if any.

    Streamlit reports no selection for heatmap traces (streamlit/streamlit#8760), so an invisible square marker
    sits on every cell and takes the clicks.
    """
    matrix = np.asarray(matrix)
    labels = [str(n) for n in names]
    n = len(labels)
    shown = np.log1p(matrix)  # the diagonal dwarfs the mistakes on a linear scale
    fig = go.Figure(go.Heatmap(
        z=shown, x=labels, y=labels, colorscale="Blues", showscale=False, text=matrix, texttemplate="%{text}",
        hoverinfo="skip",
    ))
    rows, cols = np.divmod(np.arange(n * n), n)
    fig.add_trace(go.Scatter(
        x=[labels[c] for c in cols], y=[labels[r] for r in rows], customdata=matrix.ravel(), mode="markers",
        marker=dict(symbol="square", size=30, opacity=0.0), selected=dict(marker=dict(opacity=0.0)),
        unselected=dict(marker=dict(opacity=0.0)), hovertemplate=t("chart.cm_hover") + "<extra></extra>", showlegend=False,
    ))
    fig.update_layout(
        height=chart_height(460), margin=dict(l=10, r=10, t=30, b=10),
        xaxis=dict(title=t("chart.predicted"), type="category", side="top", range=[-0.5, n - 0.5]),
        yaxis=dict(title=t("chart.true"), type="category", range=[n - 0.5, -0.5]),
        font=dict(size=16 if presenting() else 12), clickmode="event+select", dragmode=False,
    )
    event = st.plotly_chart(fig, key=key, on_select="rerun", selection_mode="points", config={"displayModeBar": False})
    try:
        points = event.selection.points
    except AttributeError:
        points = []
    for point in points:
        x, y = str(point.get("x")), str(point.get("y"))
        if x in labels and y in labels:
            return labels.index(y), labels.index(x)
    return None


def layer_rows(layers: list[dict]) -> list[dict]:
    """A model's layers as table rows, like model.summary()."""
    return [{t("layers.name"): row["name"], t("layers.type"): row.get("type", ""),
             t("layers.shape"): row.get("output_shape", ""), t("layers.params"): row.get("params", 0)} for row in layers]


def layer_table(layers: list[dict], key: str) -> None:
    total = sum(int(row.get("params", 0)) for row in layers)
    st.dataframe(layer_rows(layers), key=key, hide_index=True, width="stretch")
    st.caption(t("layers.total", params=f"{total:,}"))


@st.cache_data(max_entries=16, show_spinner=False)
def preset_layers(preset: str) -> list[dict]:
    """The layers of an untrained preset (name, type, output shape, parameters), built once per preset."""
    from model_store.describe import layer_table as describe_layers
    from training import presets

    return describe_layers(presets.build(preset))
