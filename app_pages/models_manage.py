"""One model on the Models page: its layers, settings and curves, download (.keras, or exported for phones and
browsers), rename, and delete with confirmation."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages import charts, i18n, models_export, resources
from app_pages.i18n import t
from app_pages.sidebar import CLASS_MODEL_KEY, model_key
from model_store.refusal import Refusal
from model_store.store import StoreError
from training.datasets import DATASETS

PICKER_KEYS = (*(model_key(dataset) for dataset in DATASETS), CLASS_MODEL_KEY)  # the sidebar's, following a model


def rename_clicked(old: str) -> None:
    new = st.session_state.get("models_new_name", "")
    try:
        entry = resources.store().rename(old, new)
    except Refusal as exc:
        st.session_state.models_error = i18n.refusal(exc)
        return
    for key in PICKER_KEYS:
        if st.session_state.get(key) == old:
            st.session_state[key] = entry.name
    st.session_state.models_pick = entry.name
    st.session_state.models_notice = t("models.renamed", old=i18n.as_text(old), new=i18n.as_text(entry.name))


def delete_confirmed(name: str) -> None:
    try:
        resources.store().delete(name)
    except StoreError as exc:
        st.session_state.models_error = i18n.refusal(exc)
        return
    st.session_state.pop("models_confirm", None)
    st.session_state.pop("models_pick", None)
    for key in PICKER_KEYS:
        if st.session_state.get(key) == name:
            st.session_state.pop(key)  # the picker falls back to the store's active model (or to digits)
    st.session_state.models_notice = t("models.deleted", name=i18n.as_text(name))


def manage(store) -> None:
    entries = store.list()
    names = [e.name for e in entries]
    if st.session_state.get("models_pick") not in names:
        st.session_state.models_pick = names[0] if names else None
    if not names:
        return
    name = st.selectbox(t("models.pick"), names, key="models_pick")
    entry = store.get(name)
    meta = entry.meta
    left, right = st.columns([3, 2], gap="large")
    with left:
        if meta.get("layers"):
            charts.layer_table(meta["layers"], key="models_layers")
        settings = meta.get("hyperparameters")
        if settings:
            st.caption(t("models.settings") + " " + ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None))
        calibration = meta.get("calibration")
        if isinstance(calibration, dict) and "temperature" in calibration:
            st.caption(t("models.calibrated", temperature=calibration["temperature"], count=calibration.get("fitted_on", "?")))
        if meta.get("history"):
            charts.learning_curves(meta["history"], key="models_curves")
        if not entry.broken:
            models_export.export_section(entry.name)
    with right:
        if entry.broken:
            st.error(t("models.broken", reason=i18n.as_text(entry.broken)))
        if not entry.broken:
            st.download_button(t("models.download"), data=lambda: Path(entry.path).read_bytes(),
                               file_name=f"{entry.name}.keras", mime="application/octet-stream", icon=":material/download:",
                               key="models_download", on_click="ignore")
        if entry.shipped:
            st.info(t("models.protected"))
            return
        st.text_input(t("models.new_name"), key="models_new_name")
        st.button(t("models.rename"), icon=":material/edit:", on_click=rename_clicked, args=(name,), key="models_rename")
        if st.session_state.get("models_confirm") == name:
            st.warning(t("models.confirm", name=i18n.as_text(name)))
            a, b = st.columns(2)
            a.button(t("models.delete_yes"), type="primary", on_click=delete_confirmed, args=(name,), key="models_delete_yes")
            b.button(t("models.cancel"), on_click=lambda: st.session_state.pop("models_confirm", None), key="models_cancel")
        else:
            st.button(t("models.delete"), icon=":material/delete:", key="models_delete",
                      on_click=lambda: st.session_state.update(models_confirm=name))
