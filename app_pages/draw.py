"""Draw a digit and watch the network read it; or a whole number, or a picture of digits (``draw_sources``)."""

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from app_pages import (
    deeper,
    draw_sources,
    i18n,
    live_drawing,
    number_view,
    panel,
    reading,
    resources,
    stroke_answer,
    stroke_send,
    teach,
    views,
)
from app_pages.i18n import t
from app_pages.sidebar import class_model, current_model, presenting
from app_pages.workarounds import keep_widget_state
from model_store import preprocess

DATASET = "mnist"
CANVAS = 280


def drawing_input(stroke: int, live: bool):
    """The canvas' drawing; ``live``: strokes reach the page only when ``stroke_send.py`` sends them (live_drawing)."""
    result = st_canvas(
        stroke_width=stroke, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS, width=CANVAS,
        drawing_mode="freedraw", return_image_data=True, update_streamlit=not live, key="draw_canvas",
    )
    canvas = None if result is None else result.image_data
    return live_drawing.newest_canvas(canvas) if live else canvas


def drawn_input(model: str, stroke: int, compare: bool, live: bool):
    """(model input, its naive resize when ``compare``, else None, None) of the canvas' drawing; when the canvas holds
    no digit, (None, None, the result panel's message) where strokes go to the stroke route (it says the same), else
    (None, None, None) with a hint or a warning on the page."""
    canvas = drawing_input(stroke, live)
    status = "empty" if canvas is None else (prepared := preprocess.mnist_style(canvas, "light-on-dark")).status
    if status == "empty":
        resources.warm_up(model)
    if status != "ok":  # the hint, or why it is not read (a dot, a filled area): the stroke route's words
        message = stroke_answer.drawing_message(status, i18n.Words(i18n.lang()))
        if live:
            return None, None, {**message, "sends": live_drawing.canvas_sends()}
        (st.info if status == "empty" else st.warning)(message["message"])
        return None, None, None
    st.session_state.last_drawing, st.session_state.last_canvas = prepared.image, canvas  # Convolution, teach.py
    naive = preprocess.naive_resize(canvas, polarity="light-on-dark").image if compare else None
    return prepared.image, naive, None


KEPT = ("draw_source", "stroke_width", "compare_naive", "show_values", "draw_explain", "draw_filters", "mnist_pick",
        draw_sources.POLARITY_KEY, *deeper.kept("draw"))
SOURCES = ("draw", "mnist", "number", "upload")  # one digit drawn, an MNIST test digit, a number drawn, a picture


def main():
    keep_widget_state(*KEPT)
    # Defaults set here, not on the widgets: a kept widget with a default makes Streamlit warn.
    st.session_state.setdefault("draw_source", "draw")
    st.session_state.setdefault("stroke_width", 18)
    st.session_state.setdefault(draw_sources.POLARITY_KEY, "auto")
    taught = class_model()  # a model of classes the class invented reads drawings only
    st.title(t("draw.title_class" if taught else "draw.title"))
    if not taught:  # a class model's page says what it reads instead (draw_sources.taught_classes)
        st.caption(t("draw.intro"))
    model = taught or current_model(DATASET)
    if model is None:
        st.error(t("draw.no_model"))
        return
    panel.install()  # outside the fragment, as the stroke sender below: once per page, not sent with every stroke
    classes, class_data, source = teach.DIGITS, None, "draw"  # what a correction labels, and where it goes
    if taught:
        classes, class_data = draw_sources.taught_classes(model)
    else:
        labels = {source: t(f"draw.source.{source}") for source in SOURCES}  # the page's width: four fit a tablet
        source = st.segmented_control(t("draw.source"), SOURCES, format_func=labels.get, key="draw_source",
                                      label_visibility="collapsed") or "draw"  # the options say it; the canvas stays
    live = live_drawing.page_settings(model) if source == "draw" else None  # strokes to the stroke route first
    stroke_send.install(live)
    controls, views_shown = st.columns([3, 2], gap="large")  # above the canvas and above the result panel
    with controls:
        if source in ("draw", "number"):
            st.slider(t("draw.stroke"), 6, 40, key="stroke_width")
        if source == "draw":  # under the slider: the switches beside them are taller, the canvas stays as high
            teach.correction(model, classes, class_data)
        elif source == "upload":
            draw_sources.upload_controls()
    with views_shown:  # what they switch on is drawn in the fragment, with each stroke
        if source == "draw":
            st.toggle(t("draw.compare"), key="compare_naive", help=t("draw.compare_help"))
        if source != "number" and not presenting():
            st.checkbox(t("input.values"), key="show_values")
        if source != "number":
            st.toggle(t("explain.toggle"), key="draw_explain")
    drawing_and_reading(model, resources.class_names(model, DATASET), source, live is not None)
    reading.filters(model, "draw")


@st.fragment
def drawing_and_reading(model: str, names: list[str], source: str, live: bool = False):
    """What a stroke changes: the canvas' input and the result panel (or the number read, ``source`` "number", or of
    an uploaded picture of several digits). A fragment: a stroke reruns (and the browser
    redraws) this part only, and it holds nothing else: every element of a page costs a pupil's browser work on every
    run, so the controls are outside, and what they switch on (the naive resize, the pixel values, where the evidence
    is) is drawn here only while they are on."""
    keep_widget_state("mnist_pick", *deeper.kept("draw"))  # a stroke's run is this fragment's: it keeps its widgets
    if source == "number":  # the wide canvas takes the page's width, the number comes under it
        draw_sources.drawn_number(model, names, st.session_state.stroke_width)
        return
    left, right = st.columns([3, 2], gap="large")  # the 280 px canvas fits a tablet held upright
    true_label, naive, number, message = None, None, None, None
    with left:
        if source == "draw":
            image, naive, message = drawn_input(model, st.session_state.stroke_width,
                                                st.session_state.get("compare_naive"), live)
        elif source == "upload":  # one digit goes to the result panel, several are a number
            number = draw_sources.uploaded_number(model, names)
            image = number.digits[0].image if number is not None and len(number.digits) == 1 else None
        else:
            image, true_label = views.mnist_test_digit()
    if image is None and number is not None:  # several digits: the number under the picture, across the page
        number_view.show(number, names)
        return
    with right:
        wrong = None if true_label is None else t("draw.wrong_is", label=names[true_label])
        prediction = reading.panel_reading(model, image, names, "draw", true_label, wrong, naive, message)
    if prediction is None:
        return
    st.session_state.last_reading = prediction.label  # what a correction says the model read
    with left:
        if st.session_state.get("show_values") and not presenting():
            shown = [(image, t("draw.caption_mnist"), "mnist_style")] + ([] if naive is None else [
                (naive, t("draw.caption_naive"), "naive")])
            for col, (values, caption, key) in zip(st.columns(len(shown)), shown):
                with col:
                    views.pixel_values(values, caption, key)
        if st.session_state.get("draw_explain"):
            st.subheader(t("explain.title"))
            reading.explanation(model, image, prediction, names, "draw")


main()
