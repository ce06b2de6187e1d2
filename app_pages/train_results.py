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
    if snap.class_result is not None:
        heldout_figures(snap)
    else:
        st.subheader(t("train.test.title"))
        m = st.columns(4)
        m[0].metric(t("train.test.accuracy"), f"{ev.accuracy:.2%}")
        m[1].metric(t("train.test.loss"), f"{ev.loss:.4f}")
        m[2].metric(t("train.test.epochs"), f"{snap.epochs_run}", help=t("train.test.best", best=snap.best_epoch or "-"))
        m[3].metric(t("train.test.time"), duration(snap.elapsed))
    names = i18n.class_names(snap.class_names or CLASS_NAMES[snap.config.dataset])
    confusion(ev, names, snap.job_id)
    mistakes(ev, names, "train.class.wrong" if snap.class_result is not None else "train.wrong")


def heldout_figures(snap) -> None:
    """A class dataset's run: its held-out drawings read before and after (a new network has no before), and MNIST's
    test set after, when digits were fine-tuned with it."""
    r = snap.class_result
    st.subheader(t("train.class.results"))
    st.caption(tn("train.class.heldout", r["heldout_size"], n=r["heldout_size"], drawings=r["drawings"]))
    m = st.columns(4)
    before, after = r["heldout_before"], r["heldout_after"]
    m[0].metric(t("train.class.before"), "—" if before is None else f"{before:.1%}")
    m[1].metric(t("train.class.after"), "—" if after is None else f"{after:.1%}",
                delta=None if before is None or after is None else f"{(after - before) * 100:+.1f} pt")
    if r["mnist_after"] is not None:
        m[2].metric(t("train.class.mnist"), f"{r['mnist_after']:.2%}")
    m[3].metric(t("train.test.time"), duration(snap.elapsed))


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
        true = a.selectbox(t("train.cm.true"), range(len(names)), format_func=names.__getitem__, key="tr_cm_true")
        pred = b.selectbox(t("train.cm.pred"), range(len(names)), format_func=names.__getitem__, key="tr_cm_pred")
        cell = ev.cell(true, pred)
        st.markdown(tn("train.cm.cell", len(cell), n=len(cell), true=names[true], pred=names[pred]))
        shown = cell[:GALLERY]
        gallery.gallery(ev.images[shown], [f"#{i} · {percent(ev.confidence[i])}" for i in shown], per_row=5, width=56)


def mistakes(ev, names: list[str], words: str = "train.wrong") -> None:
    """The images read wrongly, most confident first; ``words``: the test set's or a class's held-out drawings'."""
    wrong = ev.misclassified()
    st.subheader(t(f"{words}.title", n=len(wrong), total=len(ev.labels)))
    if not len(wrong):
        st.caption(t(f"{words}.none"))
        return
    st.caption(t("train.wrong.caption"))
    shown = wrong[:GALLERY]
    gallery.gallery(ev.images[shown], [t("train.wrong.item", pred=names[ev.predicted[i]], conf=percent(ev.confidence[i]),
                                         true=names[ev.labels[i]]) for i in shown], per_row=8)
