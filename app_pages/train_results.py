"""A finished training's results on the Train page: the test figures, the confusion matrix with the images of a cell,
and the misclassified test images."""

from __future__ import annotations

import streamlit as st

from app_pages import charts, gallery, i18n
from app_pages.bars import percent
from app_pages.i18n import t, tn
from app_pages.train_live import duration
from model_store.scores import most_frequent_mistake
from training.datasets import CLASS_NAMES

GALLERY = 24
CELL_KEYS = ("tr_cm_true", "tr_cm_pred", "tr_cm_clicked")  # the chosen cell, forgotten with its run


def figures(snap) -> None:
    """The test figures of the kept weights, then the confusion matrix and the mistakes."""
    ev = snap.evaluation
    if ev is None:
        return
    st.subheader(t("train.test.title"))
    m = st.columns(4)
    m[0].metric(t("train.test.accuracy"), f"{ev.accuracy:.2%}")
    m[1].metric(t("train.test.loss"), f"{ev.loss:.4f}")
    m[2].metric(t("train.test.epochs"), f"{snap.epochs_run}", help=t("train.test.best", best=snap.best_epoch or "-"))
    m[3].metric(t("train.test.time"), duration(snap.elapsed))
    names = i18n.class_names(CLASS_NAMES[snap.config.dataset])
    confusion(ev, names, snap.job_id)
    mistakes(ev, names)


def confusion(ev, names: list[str], job_id: str) -> None:
    st.subheader(t("train.cm.title"))
    st.caption(t("train.cm.caption"))
    left, right = st.columns([3, 2], gap="large")
    with left:
        clicked = charts.confusion_matrix(ev.confusion, names, key=f"tr_cm_{job_id}")
    if clicked is not None and st.session_state.get("tr_cm_clicked") != clicked:
        st.session_state.tr_cm_clicked = clicked
        st.session_state.tr_cm_true, st.session_state.tr_cm_pred = clicked
    if "tr_cm_true" not in st.session_state:  # start on the most frequent mistake
        st.session_state.tr_cm_true, st.session_state.tr_cm_pred = most_frequent_mistake(ev.confusion) or (0, 0)
    with right:
        a, b = st.columns(2)
        true = a.selectbox(t("train.cm.true"), range(10), format_func=names.__getitem__, key="tr_cm_true")
        pred = b.selectbox(t("train.cm.pred"), range(10), format_func=names.__getitem__, key="tr_cm_pred")
        cell = ev.cell(true, pred)
        st.markdown(tn("train.cm.cell", len(cell), n=len(cell), true=names[true], pred=names[pred]))
        shown = cell[:GALLERY]
        gallery.gallery(ev.images[shown], [f"#{i} · {percent(ev.confidence[i])}" for i in shown], per_row=5, width=56)


def mistakes(ev, names: list[str]) -> None:
    wrong = ev.misclassified()
    st.subheader(t("train.wrong.title", n=len(wrong), total=len(ev.labels)))
    if not len(wrong):
        st.caption(t("train.wrong.none"))
        return
    st.caption(t("train.wrong.caption"))
    shown = wrong[:GALLERY]
    gallery.gallery(ev.images[shown], [t("train.wrong.item", pred=names[ev.predicted[i]], conf=percent(ev.confidence[i]),
                                         true=names[ev.labels[i]]) for i in shown], per_row=8)
