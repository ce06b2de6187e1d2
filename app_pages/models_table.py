"""The Models page's table of every model, and the active model per dataset."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from app_pages import i18n, resources
from app_pages.i18n import t, tn
from app_pages.sidebar import model_key
from model_store.store import ReadOnlyStore, StoreError
from training.datasets import CLASS_NAMES, DATASETS


def columns() -> dict:
    """Number formats of the model tables (labels in the session's language)."""
    return {t("models.col.accuracy"): st.column_config.NumberColumn(format="%.2f %%"),
            t("models.col.params"): st.column_config.NumberColumn(format="localized")}


def when(iso: str | None) -> str:
    try:
        return dt.datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return ""


def trained_for(meta: dict) -> str:
    epochs, seconds = meta.get("epochs_run"), meta.get("training_seconds")
    if not epochs:
        return "—"
    return tn("models.trained_for", epochs, epochs=epochs, seconds=f"{seconds:.0f}" if seconds is not None else "?")


def table(store) -> None:
    active = {ds: store.active(ds) for ds in DATASETS}
    rows = []
    for e in store.list():
        m = e.meta
        rows.append({
            t("models.col.name"): e.name,
            t("models.col.dataset"): t(f"dataset.{e.dataset}") if e.dataset in CLASS_NAMES else (e.dataset or "?"),
            t("models.col.preset"): m.get("preset", ""),
            t("models.col.params"): m.get("params"),
            t("models.col.accuracy"): None if e.test_accuracy is None else round(100 * e.test_accuracy, 2),
            t("models.col.trained"): trained_for(m),
            t("models.col.date"): when(m.get("created_at")),
            t("models.col.default"): "🔒 " + t("models.default") if e.shipped else "",
            t("models.col.active"): "✓" if active.get(e.dataset) == e.name else "",
            t("models.col.problem"): e.broken or "",
        })
    if not any(e.broken for e in store.list()):
        for row in rows:
            row.pop(t("models.col.problem"))
    if store.read_only:
        st.warning(i18n.refusal(ReadOnlyStore("store_read_only", folder=str(store.user_dir))))
    st.dataframe(rows, key="models_table", hide_index=True, width="stretch", column_config=columns())


def active_changed(dataset: str) -> None:
    """Set the server's active model and make this session's sidebar picker follow it (callbacks run before the page)."""
    name = st.session_state.get(f"active::{dataset}")
    if not name:
        return
    try:
        resources.store().set_active(dataset, name)
    except StoreError as exc:
        st.session_state.models_error = i18n.refusal(exc)
        return
    st.session_state[model_key(dataset)] = name


def active_pickers(store) -> None:
    st.subheader(t("models.active"))
    st.caption(t("models.active_help"))
    cols = st.columns(len(DATASETS))
    for col, dataset in zip(cols, DATASETS):
        names = [e.name for e in store.for_dataset(dataset)]
        key = f"active::{dataset}"
        if not names:
            col.caption(t("picker.none", dataset=t(f"dataset.{dataset}")))
            continue
        st.session_state[key] = store.active(dataset)  # what the store says, also after another user changed it
        col.selectbox(t("picker.label", dataset=t(f"dataset.{dataset}")), names, key=key, on_change=active_changed,
                      args=(dataset,))
