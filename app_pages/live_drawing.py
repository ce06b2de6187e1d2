"""The Draw page's session side of the stroke route (``stroke_answer.py``): what the page's script is told, and the
drawing the page's runs read.

A stroke the route answered is sent to the page only while it shows views that only its run draws
(``stroke_send.py``), so the canvas component's value can be older than what the pupil sees. The route keeps each
session's newest picture (``stroke_answer.LATEST``, under the session's key); the page's run takes it unless the
canvas itself sent something since (a Clear, a stroke sent), and a correction or the Convolution page catch up with
it (``catch_up``).
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from app_pages import i18n, resources
from app_pages.sidebar import presenting
from app_pages.stroke_answer import LATEST, ROUTE, canvas_pixels, served
from model_store import preprocess
from model_store.refusal import Refusal

TOKEN_KEY = "stroke_token"  # session state: the key of this session's pictures in ``stroke_answer.LATEST``
SEEN_KEY = "stroke_canvas_seen"  # session state: the canvas value of the page's last run (its digest)
SENDS_KEY = "stroke_canvas_sends"  # session state: how many times a run found the canvas changed
CAUGHT_KEY = "stroke_caught_up"  # session state: the picture the session's last drawing was taken from


def session_token() -> str:
    return st.session_state.setdefault(TOKEN_KEY, hashlib.blake2b(np.random.bytes(32), digest_size=16).hexdigest())


def live_settings(model: str, language: str, compare: bool, large: bool, sync: bool = False) -> dict | None:
    """What the page's script sends with a stroke (the open layer it knows itself), or None where no route serves.
    ``sync``: every stroke is sent to the page too (views of the drawing that only a run draws are on)."""
    if not served():
        return None
    return {"route": ROUTE, "model": model, "lang": language, "compare": bool(compare), "large": bool(large),
            "sync": bool(sync), "token": session_token()}


def page_settings(model: str) -> dict | None:
    """``live_settings`` for the Draw page's canvas as the session has its switches: strokes are sent to the page
    too while it shows the drawing's pixel values or the deeper views, which only its run draws."""
    sync = st.session_state.get("draw_explain") or (st.session_state.get("show_values") and not presenting())
    return live_settings(model, i18n.lang(), st.session_state.get("compare_naive", False), presenting(), bool(sync))


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def newest_canvas(canvas: np.ndarray | None) -> np.ndarray | None:
    """The drawing the pupil sees, for the page's run: the canvas component's value (``canvas``) when it changed since
    the last run (a Clear, a stroke sent), else the newer picture the route read since (quiet strokes)."""
    seen = None if canvas is None else _digest(np.ascontiguousarray(canvas).tobytes())
    token = session_token()
    if st.session_state.get(SEEN_KEY, "") != seen:
        st.session_state[SEEN_KEY] = seen
        st.session_state[SENDS_KEY] = canvas_sends() + 1
        LATEST.drop(token)
        return canvas
    png = LATEST.get(token)
    if png is None:
        return canvas
    try:
        return canvas_pixels(png)
    except Refusal:
        return canvas


def canvas_sends() -> int:
    """How many times the page's runs found the canvas changed (a Clear, a stroke sent): a message shown after quiet
    strokes (the hint after a Clear) carries it, so that it differs from the same message the run showed before them
    and the panel draws it."""
    return st.session_state.get(SENDS_KEY, 0)


def catch_up(model: str | None = None) -> None:
    """Bring the session's last drawing (``last_drawing``, ``last_canvas`` and, with ``model``, ``last_reading``) up
    to the route's newest picture of the Draw page's canvas, for what reads it outside the page's run (a correction,
    the Convolution page)."""
    png = LATEST.get(session_token()) if TOKEN_KEY in st.session_state else None
    if png is None or st.session_state.get(CAUGHT_KEY) == _digest(png):
        return
    try:
        canvas = canvas_pixels(png)
    except Refusal:
        return
    prepared = preprocess.mnist_style(canvas, polarity="light-on-dark")
    if prepared.status != "ok":
        return
    st.session_state.last_drawing, st.session_state.last_canvas = prepared.image, canvas
    if model is not None:
        try:
            st.session_state.last_reading = resources.predictor(model)(prepared.image).label
        except Exception:  # the model went away: the drawing is still the pupil's
            st.session_state.pop("last_reading", None)
    st.session_state[CAUGHT_KEY] = _digest(png)
