"""Saving a finished training from the Train page: a name checked as it is typed, the store's answer, the active model."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from app_pages import i18n, resources
from app_pages.i18n import t
from app_pages.sidebar import CLASS_MODEL_KEY, model_key
from model_store.refusal import Refusal
from training.class_training import ClassTrainConfig
from training.jobs import TrainingJob
from training.trainer import TrainConfig

FORM_KEYS = ("tr_save_name", "tr_save_error")  # forgotten with the run


def default_name(config: TrainConfig | ClassTrainConfig) -> str:
    if isinstance(config, ClassTrainConfig):
        return f"{config.class_data}-{dt.datetime.now():%m%d-%H%M}"
    return f"{config.preset}-{config.dataset}-{dt.datetime.now():%m%d-%H%M}"


def new_classes(snap) -> bool:
    """The model will read classes a class invented (not digits, not Fashion-MNIST's)."""
    return bool(snap.class_result) and snap.class_result["kind"] == "custom"


def save_clicked(job: TrainingJob) -> None:
    """Runs before the page is drawn, so the sidebar picker can follow the new active model at once. A refused save
    keeps the trained model in the job: the user can choose another name and save again."""
    st.session_state.pop("tr_save_error", None)
    name = st.session_state.get("tr_save_name", "")
    store = resources.store()
    try:
        entry = job.save(store, name)
    except Refusal as exc:
        st.session_state.tr_save_error = i18n.refusal(exc)
        return
    except RuntimeError:  # the job holds no model any more: saved, dismissed or replaced meanwhile
        st.session_state.tr_save_error = t("train.save.gone")
        return
    job.discard()  # the model lives in the store now; the job keeps only its numbers
    if st.session_state.get("tr_make_active"):
        store.set_active(entry.dataset, entry.name)
        key = model_key(entry.dataset) if entry.dataset in resources.DATASETS else CLASS_MODEL_KEY
        st.session_state[key] = entry.name


def name_refusal(name: str) -> Refusal | None:
    """Why a new model cannot be saved under ``name`` now (``InvalidName``, ``NameTaken``), or None."""
    try:
        resources.store().check_new_name(name)
    except Refusal as exc:
        return exc
    return None


def save_form(job: TrainingJob, snap) -> None:
    """The name is checked as it is typed (never cut: a long paste stays, with the reason); Save waits for a good one."""
    if snap.saved_as:
        st.success(t("train.saved", name=i18n.as_text(snap.saved_as)))
        st.page_link("app_pages/models.py", label=t("train.to_models"), icon=":material/inventory_2:")
        return
    if snap.save_refusal is not None:  # the training went NaN: said above in the outcome; never saved
        st.subheader(t("train.save.title"))
        st.button(t("train.save.button"), icon=":material/save:", key="tr_save", type="primary", disabled=True)
        st.caption(t("train.save.never"))
        return
    if not snap.can_save:
        return
    st.subheader(t("train.save.title"))
    if "tr_save_name" not in st.session_state:
        st.session_state.tr_save_name = default_name(snap.config)
    bad_name = name_refusal(st.session_state.tr_save_name)
    a, b, c = st.columns([3, 2, 1], vertical_alignment="bottom")
    a.text_input(t("train.save.name"), key="tr_save_name", help=t("train.save.name_help"),
                 on_change=st.session_state.pop, args=("tr_save_error", None))  # a new name, a new answer
    dataset = "mnist" if snap.class_result else snap.config.dataset
    b.checkbox(t("train.save.active_class") if new_classes(snap) else t("train.save.active", dataset=t(f"dataset.{dataset}")),
               key="tr_make_active")
    c.button(t("train.save.button"), icon=":material/save:", on_click=save_clicked, args=(job,), key="tr_save",
             type="primary", width="stretch", disabled=bad_name is not None)
    if bad_name is not None:
        st.error(t("train.save.bad_name", reason=i18n.refusal(bad_name)))
    elif st.session_state.get("tr_save_error"):
        st.error(t("train.save.refused", reason=st.session_state.tr_save_error))
    if snap.status == "stopped":
        st.caption(t("train.save.stopped_note", best=snap.best_epoch or "-"))
