"""The teacher's side of class data: a new task with its classes, export and import, deleting a dataset.

Who is the teacher: with ``CONVSCOPE_TEACHER_CODE`` set, whoever types that code in this session; without it, every
session (a teacher alone on a laptop needs no code).
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

import streamlit as st

from app_pages import class_resources, i18n, resources
from app_pages.i18n import t
from model_store import class_files
from model_store.refusal import Refusal

CODE_ENV = "CONVSCOPE_TEACHER_CODE"


def is_teacher() -> bool:
    code = os.environ.get(CODE_ENV, "")
    return not code or st.session_state.get("teacher_ok", False)


def teacher_login() -> None:
    typed = st.text_input(t("classdata.teacher_code"), type="password", key="teacher_code")
    if typed and hmac.compare_digest(typed.encode(), os.environ.get(CODE_ENV, "").encode()):
        st.session_state.teacher_ok = True
        st.rerun()
    elif typed:
        st.error(t("classdata.teacher_wrong"))


def manage(name: str) -> None:
    if not is_teacher():
        st.info(t("classdata.teacher_only"))
        teacher_login()
        return
    for key, show in (("class_notice", st.success), ("class_error", st.error)):
        if st.session_state.get(key):
            show(st.session_state.pop(key))
    left, right = st.columns(2, gap="large")
    with left:
        new_task()
    with right:
        export(name)
        import_file()
        delete(name)


def new_task() -> None:
    st.subheader(t("classdata.new"))
    with st.form("class_new", clear_on_submit=False, border=False):
        task = st.text_input(t("classdata.new_name"), max_chars=64, key="class_new_name")
        classes = st.text_area(t("classdata.new_classes"), help=t("classdata.new_classes_help"), key="class_new_classes")
        if st.form_submit_button(t("classdata.create"), type="primary"):
            names = [line.strip() for line in classes.replace(",", "\n").splitlines() if line.strip()]
            try:
                made = class_resources.class_datasets().create(task, names, kind="custom")
            except Refusal as exc:
                st.error(i18n.refusal(exc))
                return
            st.session_state.class_pick_next = made.name  # the picker is drawn already: it takes it next run
            st.session_state.class_notice = t("classdata.created", name=i18n.as_text(made.name), count=len(made.classes))
            st.rerun()


def export(name: str) -> None:
    st.subheader(t("classdata.export"))
    datasets = class_resources.class_datasets()
    dataset = datasets.get(name)
    x, y = datasets.images(name)
    files = class_files.export_files(dataset.name, dataset.kind, list(dataset.classes), x, y)
    st.caption(t("classdata.export_help", files=", ".join(files)))
    npz = next(f for f in files if f.endswith(".npz"))
    idx = {file: data for file, data in files.items() if file != npz}  # the IDX pair and the class names
    st.download_button(t("classdata.export_npz"), data=files[npz], file_name=npz, icon=":material/download:",
                       key="class_export_npz", on_click="ignore")
    st.download_button(t("classdata.export_idx"), data=class_files.zipped(idx), file_name=f"{dataset.name}-idx.zip",
                       icon=":material/download:", key="class_export_idx", on_click="ignore")


def import_file() -> None:
    st.subheader(t("classdata.import"))
    upload = st.file_uploader(t("classdata.import_file"), type=["npz"], key="class_import")
    if upload is None or not st.button(t("classdata.import_go"), key="class_import_go"):
        return
    try:
        with resources.store().work_dir() as folder:  # removed after, or at the next start if the server dies
            path = folder / Path(upload.name).name
            path.write_bytes(upload.getvalue())
            made = class_resources.class_datasets().import_file(path)
    except Refusal as exc:
        st.error(i18n.refusal(exc))
        return
    st.session_state.class_pick_next = made.name
    st.session_state.class_notice = t("classdata.imported", name=i18n.as_text(made.name), count=made.total)
    st.rerun()


def delete(name: str) -> None:
    st.subheader(t("classdata.delete"))
    sure = st.checkbox(t("classdata.delete_sure", name=i18n.as_text(name)), key=f"class_delete_sure_{name}")
    if st.button(t("classdata.delete_go"), disabled=not sure, icon=":material/delete:", key="class_delete_go"):
        try:
            class_resources.class_datasets().delete(name)
        except Refusal as exc:
            st.error(i18n.refusal(exc))
            return
        st.session_state.class_pick_next = None
        st.session_state.class_notice = t("classdata.deleted", name=i18n.as_text(name))
        st.rerun()
