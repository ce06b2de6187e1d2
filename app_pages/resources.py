"""What is cached per server: the model store, each model's predictor, the test sets, the training jobs, and the
predictions of recent inputs.

Everything heavy is cached per server (``st.cache_resource``) or per input (``st.cache_data``), so a rerun that does
not change the input recomputes nothing.

A server may be several processes sharing one model store (deploy/replicas.py): what one of them saves, renames,
deletes or makes active, the others see at their next run. So nothing read from the store is cached by a model's
name alone: the store itself reads the folder at every call, and predictors and predictions are keyed by the model
file's identity (``model_version``), which a model saved under a name that another model had before changes.
"""

from __future__ import annotations

import threading

import numpy as np
import streamlit as st

from app_pages import i18n
from app_pages.i18n import t
from model_store.inference import check_reading
from model_store.refusal import Refusal
from model_store.store import ModelStore
from training import datasets
from training.samples import TestImages, test_images

DATASETS = datasets.DATASETS


@st.cache_resource
def store() -> ModelStore:
    return ModelStore()


def model_version(name: str) -> tuple[str, str]:
    """The file of model ``name`` and what tells this file from any other that had its path (modification time,
    size and inode), read from the store now: ``ModelNotFound`` when no such model exists (any more)."""
    path = store().get(name).path
    stat = path.stat()
    return str(path), f"{stat.st_mtime_ns}-{stat.st_size}-{stat.st_ino}"


@st.cache_resource(max_entries=8, show_spinner=False)
def _predictor(name: str, path: str, version: str):
    from model_store import litert
    from model_store.inference import Predictor

    # LiteRT for single drawings where it matches Keras, converted in the background (and kept in the store's
    # cache for the next start): until it is ready, drawings are answered through tf.function, not kept waiting.
    model = store().load(name)
    try:
        cache = store().derived_path(path, litert.cache_tag())
    except OSError:  # the file went away meanwhile: convert without a cache
        cache = None
    return Predictor(model, litert=True, convert_in_background=True, litert_cache=cache)


def predictor(name: str):
    """The compiled predictor of model ``name``, loaded once per server (reloaded if the file changes)."""
    return _predictor(name, *model_version(name))


def warm_up(*names: str) -> None:
    """Load the models in the background while the user is still drawing, so the first stroke is fast: one after the
    other, in this order (on two cores, the first one is ready sooner than if all loaded at once)."""
    models = [(name, *model_version(name)) for name in names]
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    def load() -> None:
        for args in models:
            try:
                _predictor(*args)
            except Exception:  # only a head start: the page's own call reports what is wrong (e.g. a model deleted)
                pass

    # Not a daemon: a TensorFlow call cut off at interpreter exit aborts the process.
    thread = threading.Thread(target=load, daemon=False, name=f"warm-up {', '.join(names)}")
    add_script_run_ctx(thread, get_script_run_ctx())  # the cache wants a context; the thread draws nothing
    thread.start()


def warm_up_once(names) -> None:
    """Load (and convert to LiteRT) these models in the background, once per session, so that the first visit to
    Draw or Fashion does not wait for them. Loading is cached per server, so later sessions cost nothing."""
    names = [name for name in names if name and not st.session_state.get(f"warmed::{name}")]
    for name in names:
        st.session_state[f"warmed::{name}"] = True
    if names:
        warm_up(*names)


@st.cache_resource(show_spinner=False)
def _test_set(dataset: str) -> TestImages:
    return test_images(dataset)


def test_set(dataset: str) -> TestImages:
    """The dataset's test images (the shipped sample where the test set is not on this machine), read once per server."""
    with st.spinner(t("common.loading_images")):
        return _test_set(dataset)


@st.cache_data(max_entries=32, show_spinner=False)  # few: each holds every Conv2D layer's feature maps
def _prediction(model_name: str, path: str, version: str, image: np.ndarray):
    return _predictor(model_name, path, version)(image)


def prediction(model_name: str, image: np.ndarray, names: list[str]):
    """Prediction and feature maps for one (28, 28) input, cached on the input's bytes; None, with the reason
    shown, when the model cannot give one that makes sense (broken model, NaN outputs, wrong class count)."""
    try:
        return check_reading(_prediction(model_name, *model_version(model_name), image), len(names))
    except Refusal as exc:
        st.error(i18n.refusal(exc))
        return None


def class_names(model_name: str, dataset: str) -> list[str]:
    """The model's class names in the session's language."""
    return i18n.class_names(store().get(model_name).meta.get("class_names") or datasets.CLASS_NAMES[dataset])


@st.cache_resource
def jobs():
    """The server's training jobs: one registry per server process, so every session sees the same running
    training; its slots in the store's folder hold the limit for all the processes of a server that share it."""
    from training.registry import JobRegistry

    return JobRegistry(slot_folder=store().user_dir)
