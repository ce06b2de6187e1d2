"""Adding a model file on the Models page: checked in a sandbox process, scored on the test set, or refused with the
reason."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages import i18n, resources
from app_pages.i18n import t
from model_store.intake import add_model
from model_store.refusal import Refusal
from training.datasets import CLASS_NAMES, DATASETS


def test_split(dataset: str) -> tuple | None:
    test = resources.test_set(dataset)
    return (test.images, test.labels) if test.full else None


def upload() -> None:
    st.caption(f'{t("models.upload.help")} {t("models.upload.limit", mb=st.get_option("server.maxUploadSize"))}')
    file = st.file_uploader(t("models.upload.file"), type=["keras", "h5", "hdf5"], key="models_file")
    c1, c2 = st.columns(2)
    dataset = c1.selectbox(t("models.upload.dataset"), list(DATASETS), format_func=lambda d: t(f"dataset.{d}"),
                           key="models_up_dataset")
    if file is not None and st.session_state.get("models_up_for") != file.name:
        st.session_state.models_up_for = file.name
        st.session_state.models_up_name = Path(file.name).stem
    c2.text_input(t("models.upload.name"), key="models_up_name")
    if not st.button(t("models.upload.button"), icon=":material/upload:", disabled=file is None, key="models_up_go"):
        return
    try:
        with st.spinner(t("models.upload.checking")):
            added = add_model(resources.store(), file.getvalue(), file.name, dataset, CLASS_NAMES[dataset],
                              st.session_state.get("models_up_name") or Path(file.name).stem, test=test_split(dataset))
    except Refusal as exc:
        st.error(t("models.upload.refused", name=i18n.as_text(file.name), reason=i18n.refusal(exc)))
        return
    entry = added.entry
    accuracy = t("models.upload.accuracy", accuracy=f"{entry.test_accuracy:.2%}") if entry.test_accuracy is not None \
        else t("models.upload.no_test")
    notes = "".join(f" ({i18n.refusal(note)})" for note in added.notes)
    st.session_state.models_notice = t("models.upload.saved", name=i18n.as_text(entry.name),
                                       dataset=t(f"dataset.{dataset}"), accuracy=accuracy) + notes
    st.session_state.models_pick = entry.name
    st.rerun()  # the table at the top lists it now
