"""The drawings of a class dataset, class by class, newest first; the teacher deletes the bad ones."""

from __future__ import annotations

import streamlit as st

from app_pages import class_manage, class_resources, i18n
from app_pages.i18n import t, tn
from model_store.refusal import Refusal
from model_store.render import enlarge, png_data_url

PAGE = 40  # drawings shown at once (a class may have hundreds)
ACROSS = 8


def browse(name: str) -> None:
    datasets = class_resources.class_datasets()
    dataset = datasets.get(name)
    labels = {i: tn("classdata.class_option", n, name=c, n=n)
              for i, (c, n) in enumerate(zip(dataset.classes, dataset.counts))}
    index = st.selectbox(t("classdata.col.class"), list(labels), format_func=labels.get, key=f"class_browse_{name}")
    drawings = sorted(datasets.drawings(name, index), key=lambda d: d.id, reverse=True)
    if not drawings:
        st.info(t("classdata.no_drawings"))
        return
    shown = drawings[:PAGE]
    if len(drawings) > PAGE:
        st.caption(t("classdata.newest", shown=PAGE, count=len(drawings)))
    teacher = class_manage.is_teacher()
    chosen = []
    for row in range(0, len(shown), ACROSS):
        for col, drawing in zip(st.columns(ACROSS), shown[row:row + ACROSS]):
            with col:
                st.image(png_data_url(enlarge(drawing.image / 255.0, scale=3, grid=False)), width=84,
                         caption=caption(drawing))
                if teacher and st.checkbox(t("classdata.pick"), key=f"class_del_{drawing.id}", label_visibility="collapsed"):
                    chosen.append(drawing.id)
    if teacher:
        if st.button(t("classdata.delete_chosen", count=len(chosen)), disabled=not chosen, icon=":material/delete:",
                     key="class_delete_chosen"):
            delete(name, chosen)
            st.rerun()
    else:
        st.caption(t("classdata.teacher_deletes"))


def caption(drawing) -> str:
    """When it was added; for a correction, what the model had read."""
    when = drawing.added_at[11:19] or drawing.added_at
    if drawing.misread_by and drawing.read_as is not None:
        return t("classdata.was_read_as", time=when, read=drawing.read_as)
    return when


def delete(name: str, ids: list[str]) -> None:
    datasets = class_resources.class_datasets()
    for drawing_id in ids:
        try:
            datasets.delete_drawing(name, drawing_id)
        except Refusal as exc:  # deleted by someone else meanwhile: nothing left to do
            st.session_state.class_browse_error = i18n.refusal(exc)
