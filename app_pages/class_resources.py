"""What the class data pages and the Draw page's correction share: the class datasets and the drawing rate limit
(once per server process), and the id of this session's pupil (once per session)."""

from __future__ import annotations

import secrets

import streamlit as st

from app_pages import resources


@st.cache_resource
def class_datasets():
    """The class datasets in the model store's folder (every replica of a server shares them)."""
    from model_store.class_data import ClassDatasets

    return ClassDatasets(resources.store().user_dir)


@st.cache_resource
def drawing_rate():
    """How fast each pupil may add drawings to a class dataset: one limiter per server process, where a pupil's
    session lives."""
    from model_store.class_data import RateLimiter

    return RateLimiter()


def pupil_id() -> str:
    """This session's id, kept with the drawings it adds (and what the rate limit counts by)."""
    if "pupil_id" not in st.session_state:
        st.session_state.pupil_id = secrets.token_hex(6)
    return st.session_state.pupil_id
