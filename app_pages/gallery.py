"""Small pictures of the Train page: test-image galleries, and the probe image's feature maps epoch by epoch."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages.i18n import t, tn
from model_store import render
from model_store.model_input import to_float


def thumbnail(image: np.ndarray, scale: int = 3) -> np.ndarray:
    return render.enlarge(to_float(image), scale=scale, grid=False)


def gallery(images: np.ndarray, captions: list[str], per_row: int = 8, width: int = 84) -> None:
    """Small images with a caption each, in rows."""
    for start in range(0, len(images), per_row):
        cols = st.columns(per_row)
        for col, image, caption in zip(cols, images[start:start + per_row], captions[start:start + per_row]):
            with col:
                st.image(thumbnail(image), caption=caption, width=width)


def probe_maps(probes, probe_image: np.ndarray | None, key: str, live: bool) -> None:
    """The probe image's first-layer feature maps at a chosen epoch (epoch 0: before training)."""
    if not probes:
        st.caption(t("train.probe.none"))
        return
    epochs = [p.epoch for p in probes]
    if len(epochs) > 1:
        # While live, a new slider per recorded epoch follows the newest one; afterwards one slider keeps its place.
        slider_key = f"{key}_epoch_{len(epochs)}" if live else f"{key}_epoch"
        chosen = st.slider(t("train.probe.epoch"), epochs[0], epochs[-1], epochs[-1], key=slider_key,
                           help=t("train.probe.help"))
    else:
        chosen = epochs[0]
    probe = next(p for p in probes if p.epoch == chosen)
    cols = st.columns([1] + [3] * len(probe.layers))
    with cols[0]:
        if probe_image is not None:
            st.image(thumbnail(probe_image, scale=4), caption=t("train.probe.image"), width=112)
    for col, (layer, maps) in zip(cols[1:], probe.layers):
        h, w, c = maps.shape
        with col:
            st.image(render.tile_channels(maps, scale=max(1, 56 // h)),
                     caption=tn("train.probe.layer", c, layer=layer, h=h, w=w, c=c, epoch=chosen))
