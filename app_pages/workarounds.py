"""Where Streamlit's defaults do not suit ConvScope: its per-run Keras clean-up, and widgets that forget their value."""

from __future__ import annotations

import streamlit as st


def keep_keras_state() -> None:
    """Streamlit calls ``keras.backend.clear_session()`` after every script run. We hold compiled models for the whole
    server (and a training may run in a thread of it), so that costs time on every stroke and resets state others
    use. Switched off where this Streamlit still has the hook."""
    from streamlit.runtime.scriptrunner import script_runner

    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = lambda: None


def keep_widget_state(*keys: str) -> None:
    """Widgets not drawn in a run lose their value (Streamlit's rule); pages that return early, e.g. on an
    empty canvas, call this first so toggles survive a Clear."""
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
