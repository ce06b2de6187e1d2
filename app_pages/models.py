"""The model store: every model in a table; choose the active ones, rename, delete, download, upload, compare."""

import datetime as dt
import html
from pathlib import Path

import numpy as np
import streamlit as st

from app_pages import bars, charts, i18n, ui
from app_pages.i18n import t
from model_store import preprocess
from model_store.intake import add_model
from model_store.refusal import Refusal
from model_store.store import ReadOnlyStore, StoreError
from training.datasets import CLASS_NAMES

SECTIONS = ("manage", "upload", "compare")


# ---- the table -------------------------------------------------------------------------------------------
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
    return t("models.trained_for", epochs=epochs, seconds=f"{seconds:.0f}" if seconds is not None else "?")


def table(store) -> None:
    active = {ds: store.active(ds) for ds in ui.DATASETS}
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


# ---- active model per dataset ----------------------------------------------------------------------------
def active_changed(dataset: str) -> None:
    """Set the server's active model and make this session's sidebar picker follow it (callbacks run before the page)."""
    name = st.session_state.get(f"active::{dataset}")
    if not name:
        return
    try:
        ui.store().set_active(dataset, name)
    except StoreError as exc:
        st.session_state.models_error = i18n.refusal(exc)
        return
    st.session_state[ui.model_key(dataset)] = name


def active_pickers(store) -> None:
    st.subheader(t("models.active"))
    st.caption(t("models.active_help"))
    cols = st.columns(len(ui.DATASETS))
    for col, dataset in zip(cols, ui.DATASETS):
        names = [e.name for e in store.for_dataset(dataset)]
        key = f"active::{dataset}"
        if not names:
            col.caption(t("picker.none", dataset=t(f"dataset.{dataset}")))
            continue
        st.session_state[key] = store.active(dataset)  # what the store says, also after another user changed it
        col.selectbox(t("picker.label", dataset=t(f"dataset.{dataset}")), names, key=key, on_change=active_changed,
                      args=(dataset,))


# ---- manage one model --------------------------------------------------------------------------------------
def rename_clicked(old: str) -> None:
    new = st.session_state.get("models_new_name", "")
    try:
        entry = ui.store().rename(old, new)
    except Refusal as exc:
        st.session_state.models_error = i18n.refusal(exc)
        return
    for dataset in ui.DATASETS:
        if st.session_state.get(ui.model_key(dataset)) == old:
            st.session_state[ui.model_key(dataset)] = entry.name
    st.session_state.models_pick = entry.name
    st.session_state.models_notice = t("models.renamed", old=i18n.as_text(old), new=i18n.as_text(entry.name))


def delete_confirmed(name: str) -> None:
    try:
        ui.store().delete(name)
    except StoreError as exc:
        st.session_state.models_error = i18n.refusal(exc)
        return
    st.session_state.pop("models_confirm", None)
    st.session_state.pop("models_pick", None)
    for dataset in ui.DATASETS:
        if st.session_state.get(ui.model_key(dataset)) == name:
            st.session_state.pop(ui.model_key(dataset))  # the picker falls back to the store's active model
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
        if meta.get("history"):
            charts.learning_curves(meta["history"], key="models_curves")
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


# ---- upload ------------------------------------------------------------------------------------------------
def test_split(dataset: str) -> tuple | None:
    test = ui.test_set(dataset)
    return (test.images, test.labels) if test.full else None


def upload() -> None:
    st.caption(f'{t("models.upload.help")} {t("models.upload.limit", mb=st.get_option("server.maxUploadSize"))}')
    file = st.file_uploader(t("models.upload.file"), type=["keras", "h5", "hdf5"], key="models_file")
    c1, c2 = st.columns(2)
    dataset = c1.selectbox(t("models.upload.dataset"), list(ui.DATASETS), format_func=lambda d: t(f"dataset.{d}"),
                           key="models_up_dataset")
    if file is not None and st.session_state.get("models_up_for") != file.name:
        st.session_state.models_up_for = file.name
        st.session_state.models_up_name = Path(file.name).stem
    c2.text_input(t("models.upload.name"), key="models_up_name")
    if not st.button(t("models.upload.button"), icon=":material/upload:", disabled=file is None, key="models_up_go"):
        return
    try:
        with st.spinner(t("models.upload.checking")):
            added = add_model(ui.store(), file.getvalue(), file.name, dataset, CLASS_NAMES[dataset],
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


# ---- compare -----------------------------------------------------------------------------------------------
def compare(store) -> None:
    dataset = st.segmented_control(t("models.compare.dataset"), list(ui.DATASETS), format_func=lambda d: t(f"dataset.{d}"),
                                   default="mnist", key="models_cmp_dataset") or "mnist"
    names = [e.name for e in store.for_dataset(dataset)]
    chosen = st.multiselect(t("models.compare.pick"), names, key=f"models_cmp_{dataset}", max_selections=4)
    if len(chosen) < 2:
        st.info(t("models.compare.need_two"))
        return
    entries = [store.get(n) for n in chosen]
    st.subheader(t("models.compare.metrics"))
    st.dataframe([{
        t("models.col.name"): e.name, t("models.col.preset"): e.meta.get("preset", ""),
        t("models.col.params"): e.meta.get("params"),
        t("models.col.accuracy"): None if e.test_accuracy is None else round(100 * e.test_accuracy, 2),
        t("models.col.loss"): None if e.meta.get("test_loss") is None else round(e.meta["test_loss"], 4),
        t("models.col.trained"): trained_for(e.meta), t("models.col.date"): when(e.meta.get("created_at")),
    } for e in entries], hide_index=True, key="models_cmp_table", width="stretch", column_config=columns())
    runs = [(e.name, e.meta["history"]) for e in entries if e.meta.get("history")]
    if runs:
        st.subheader(t("models.compare.curves"))
        charts.compare_curves(runs, key="models_cmp_curves")
    missing = [e.name for e in entries if not e.meta.get("history")]
    if missing:
        st.caption(t("models.compare.no_history", names=", ".join(missing)))

    st.subheader(t("models.compare.same_input"))
    test = ui.test_set(dataset)
    key = f"models_cmp_image_{dataset}"
    st.session_state.setdefault(key, 0)
    a, b = st.columns([3, 1], vertical_alignment="bottom")
    b.button(t("common.random"), icon=":material/casino:", key="models_cmp_random",
             on_click=lambda: st.session_state.update({key: int(np.random.default_rng().integers(len(test.labels)))}))
    pos = a.number_input(t("common.test_image"), 0, len(test.labels) - 1, key=key)
    image = preprocess.from_uint8(test.images[pos])
    truth = int(test.labels[pos])
    class_names = i18n.class_names(CLASS_NAMES[dataset])
    cols = st.columns(len(entries) + 1)
    with cols[0]:
        st.image(charts.thumbnail(test.images[pos], scale=5), width=140)
        st.markdown(t("common.true_class", name=i18n.as_text(class_names[truth])))
    for col, e in zip(cols[1:], entries):
        with col:
            st.markdown(f"**{i18n.as_text(e.name)}**")
            prediction = ui.prediction(e.name, image, class_names)
            if prediction is None:
                continue
            verdict = t("common.correct") if prediction.label == truth else t("common.wrong")
            st.markdown(f"<div data-testid='compare-prediction' data-model='{html.escape(e.name)}' "
                        f"style='font-size:2rem;font-weight:700'>{html.escape(class_names[prediction.label])}</div>"
                        f"{bars.percent(prediction.confidence, 1)} · {verdict}",
                        unsafe_allow_html=True)
            ui.probability_bars(prediction.probabilities, class_names, key=f"models_cmp_probs_{e.name}", true_label=truth)
            if prediction.feature_maps:
                fm = prediction.feature_maps[0]
                from model_store import render

                st.image(render.tile_channels(fm.maps, scale=2), caption=t("models.compare.maps", layer=fm.layer))
            else:
                st.caption(t("maps.none"))


# ---- the page ----------------------------------------------------------------------------------------------
def main():
    st.title(t("models.title"))
    st.caption(t("models.intro"))
    store = ui.store()
    for key, show in (("models_notice", st.success), ("models_error", st.error)):
        if st.session_state.get(key):
            show(st.session_state.pop(key))
    table(store)
    active_pickers(store)
    labels = {s: t(f"models.section.{s}") for s in SECTIONS}
    section = st.segmented_control(t("models.section"), list(SECTIONS), format_func=labels.get, default="manage",
                                   key="models_section") or "manage"
    if section == "manage":
        manage(store)
    elif section == "upload":
        upload()
    else:
        compare(store)


main()
