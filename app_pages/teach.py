"""Teach the network: a pupil says what a misread drawing is, and the drawing joins the class's drawings (its digits,
or the class dataset that the model reading it learned).

Outside the Draw page's fragment, so that a stroke sends none of it: the pupil opens it when the answer is wrong,
and it takes the last drawing the page read (``last_drawing``, ``last_reading``, ``last_canvas``, kept by the page).
"""

from __future__ import annotations

import streamlit as st

from app_pages import class_resources, i18n, live_drawing
from app_pages.i18n import t
from model_store.refusal import Refusal

DIGITS = tuple(str(d) for d in range(10))


def add_correction(model: str, label: str, class_data: str | None) -> None:
    """The last drawing, with ``label``, into the class dataset ``class_data`` (None: the class's digits); what
    happened is said in the page."""
    live_drawing.catch_up(model)  # strokes the stroke route answered may not have reached the page's run
    image = st.session_state.get("last_drawing")
    if image is None:
        st.session_state.teach_message = ("warning", t("teach.nothing"))
        return
    datasets = class_resources.class_datasets()
    try:
        class_resources.drawing_rate().admit(class_resources.pupil_id())
        dataset = datasets.ensure_digits() if class_data is None else datasets.get(class_data)
        drawing = datasets.add(dataset.name, label, image, picture=st.session_state.get("last_canvas"),
                               misread_by=model, read_as=st.session_state.get("last_reading"),
                               pupil=class_resources.pupil_id())
    except Refusal as exc:
        st.session_state.teach_message = ("error", i18n.refusal(exc))
        return
    count = datasets.get(dataset.name).counts[drawing.label]
    st.session_state.teach_message = ("success", t("teach.added", label=i18n.as_text(label), count=count,
                                                   dataset=i18n.as_text(dataset.name)))


def correction(model: str, classes=DIGITS, class_data: str | None = None) -> None:
    """"Wrong? Teach it": what the drawing really is (a digit, or one of ``classes`` of the class dataset
    ``class_data``), and a button that adds the last drawing with that label."""
    with st.popover(t("teach.open"), icon=":material/school:"):
        st.caption(t("teach.help"))
        label = st.segmented_control(t("teach.it_is"), list(classes), key="teach_label")
        st.button(t("teach.add"), key="teach_add", disabled=label is None, type="primary",
                  on_click=add_correction, args=(model, label, class_data))
    message = st.session_state.pop("teach_message", None)
    if message:
        kind, text = message
        {"success": st.success, "warning": st.warning, "error": st.error}[kind](text)
