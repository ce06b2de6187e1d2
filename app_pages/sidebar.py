"""The sidebar's controls: one model picker per dataset, and presentation mode for projectors."""

from __future__ import annotations

import streamlit as st

from app_pages import resources
from app_pages.i18n import t

PRESENT_KEY = "present"
_PRESENT_CSS = """
<style>
html, body, [data-testid="stAppViewContainer"] { font-size: 22px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stCaptionContainer"] { font-size: 1.15rem; }
h1 { font-size: 3rem !important; }
</style>
"""


# ---- the model pickers -----------------------------------------------------------------------------
def model_key(dataset: str) -> str:
    """The session-state key of the sidebar's picker for ``dataset`` (pages set it to make the picker follow)."""
    return f"model::{dataset}"


def model_picker(dataset: str) -> str | None:
    """Select box of the models for ``dataset``; remembers the choice for the session."""
    store = resources.store()
    entries = store.for_dataset(dataset)
    if not entries:
        st.sidebar.warning(t("picker.none", dataset=t(f"dataset.{dataset}")))
        return None
    names = [e.name for e in entries]
    key = model_key(dataset)
    if st.session_state.get(key) not in names:
        st.session_state[key] = store.active(dataset)

    # Labels are made now, in this run's language: Streamlit may call format_func outside the run.
    default = t("picker.default")
    labels = {e.name: f"{e.name}{f' ({default})' if e.shipped else ''}"
                      f"{f' · {e.test_accuracy:.2%}' if e.test_accuracy else ''}" for e in entries}
    st.sidebar.selectbox(t("picker.label", dataset=t(f"dataset.{dataset}")), names, key=key, format_func=labels.get)
    return st.session_state[key]


CLASS_MODEL_KEY = "model::class-data"


def class_model_picker() -> None:
    """Which model the Draw page reads drawings with: digits (the MNIST model), or one a class taught its own
    classes. Shown once the store has such a model; each session chooses (a pupil's digits are never taken away)."""
    entries = resources.store().for_class_data()
    if not entries:
        st.session_state.pop(CLASS_MODEL_KEY, None)
        return
    names = ["", *(e.name for e in entries)]
    if st.session_state.get(CLASS_MODEL_KEY) not in names:
        st.session_state[CLASS_MODEL_KEY] = ""
    labels = {"": t("picker.class_none"), **{e.name: f"{e.name} · {', '.join(e.meta.get('class_names') or [])}"
                                              for e in entries}}
    st.sidebar.selectbox(t("picker.class"), names, key=CLASS_MODEL_KEY, format_func=labels.get,
                         help=t("picker.class_help"))


def class_model() -> str | None:
    """The class-taught model this session's Draw page reads with, or None (digits)."""
    return st.session_state.get(CLASS_MODEL_KEY) or None


def current_model(dataset: str) -> str | None:
    """The model this session reads ``dataset``'s inputs with: its sidebar choice, else the store's active one."""
    name = st.session_state.get(model_key(dataset))
    return name or resources.store().active(dataset)


# ---- presentation mode ------------------------------------------------------------------------------
def presenting() -> bool:
    """Presentation mode (projectors): larger text and charts, fewer controls."""
    return bool(st.session_state.get(PRESENT_KEY, False))


def presentation_toggle() -> None:
    st.sidebar.toggle(t("present.toggle"), key=PRESENT_KEY, help=t("present.help"))
    if presenting():
        st.html(_PRESENT_CSS)


def chart_height(normal: int) -> int:
    return int(normal * 1.6) if presenting() else normal
