"""What each filter and each class looks for: inputs grown to excite them (logic: model_store/filter_viz.py).

The computation runs in a background thread (seconds per layer, then kept in the store's cache folder); while it runs
the view shows its progress and polls once a second, then reruns the page once to show the pictures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from app_pages import resources
from app_pages.i18n import t
from model_store import filter_viz, render

POLL_SECONDS = 1.0


@st.cache_resource(show_spinner=False)
def background() -> filter_viz.BackgroundCache:
    """One per server: every session asking for the same model and layer gets the same computation."""
    return filter_viz.BackgroundCache()


def _job(model_name: str, target: str | None) -> filter_viz.Job:
    path, version = resources.model_version(model_name)
    model = resources.predictor(model_name).model
    try:
        cache = resources.store().derived_path(Path(path), filter_viz.cache_tag(target))
    except OSError:  # the file went away meanwhile: compute without keeping the result
        cache = None
    return background().job((path, version, target), lambda progress: filter_viz.cached_preferred_inputs(
        model, target, cache, progress=progress))


def _stretched(images: np.ndarray) -> np.ndarray:
    """Each picture on its own scale: a weakly excited filter's preferred input is faint but no less telling."""
    top = images.max(axis=(1, 2), keepdims=True)
    return images / np.where(top > 0, top, 1.0)


def _grid(result: filter_viz.PreferredInputs, caption: str) -> None:
    images = _stretched(result.cropped())
    scale = max(2, 56 // images.shape[1])
    st.image(render.tile_channels(images.transpose(1, 2, 0), scale=scale, cmap="gray", value_range=(0.0, 1.0),
                                  columns=min(len(images), 8 if result.target else 5)), caption=caption)


def _waiting(job: filter_viz.Job, what: str) -> None:
    st.progress(job.progress, text=t("filterviz.working", what=what, percent=f"{job.progress:.0%}"))


@st.fragment(run_every=POLL_SECONDS)
def _poll(model_name: str, targets: list[str | None]) -> None:
    """Shown while a computation runs: its progress, refreshed every second; once all are done, the page reruns."""
    jobs = [_job(model_name, target) for target in targets]
    if all(job.done for job in jobs):
        st.rerun()
    for job, target in zip(jobs, targets):
        if not job.done:
            _waiting(job, target or t("filterviz.classes_word"))


def _section(job: filter_viz.Job, caption: str) -> None:
    if job.error is not None:
        st.error(t("filterviz.failed", error=type(job.error).__name__))
    else:
        _grid(job.result, caption)


def show(model_name: str) -> None:
    """A grid of the chosen Conv2D layer's filters' preferred inputs, and one of each class's."""
    st.caption(t("filterviz.about"))
    targets = filter_viz.targets(resources.predictor(model_name).model)
    if not targets:
        st.info(t("filterviz.no_conv"))
        return
    layer = st.selectbox(t("filterviz.layer"), targets, key="filterviz_layer")
    layer_job, class_job = _job(model_name, layer), _job(model_name, filter_viz.CLASSES)
    if not (layer_job.done and class_job.done):
        st.caption(t("filterviz.note"))
        _poll(model_name, [layer, filter_viz.CLASSES])
        return
    _section(layer_job, t("filterviz.filters", layer=layer, n=len(layer_job.result.images) if layer_job.result else 0))
    _section(class_job, t("filterviz.classes"))
