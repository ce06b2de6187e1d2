"""Draw a digit and watch the network read it."""

import html

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from app_pages import bars, reading, resources, stroke_send, views
from app_pages.i18n import t
from app_pages.sidebar import current_model, presenting
from app_pages.workarounds import keep_widget_state
from model_store import preprocess
from model_store.model_input import to_float

DATASET = "mnist"
CANVAS = 280


def drawing_input(stroke: int):
    result = st_canvas(
        stroke_width=stroke, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS, width=CANVAS,
        drawing_mode="freedraw", return_image_data=True, update_streamlit=True, key="draw_canvas",
    )
    stroke_send.install()  # the canvas itself would wait 200 ms after each stroke
    return None if result is None else result.image_data


def mnist_digit_input():
    test = resources.test_set(DATASET)
    if not test.full:
        st.caption(t("common.sample_only", dataset="MNIST", count=len(test.labels)))
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    with c2:
        if st.button(t("common.random"), icon=":material/casino:", key="mnist_random", width="stretch"):
            st.session_state.mnist_pick = int(np.random.default_rng().integers(len(test.labels)))
    with c1:
        pos = views.pick_test_image(test, "mnist_pick", t("common.test_image"),
                                      help=t("draw.mnist_help_full" if test.full else "draw.mnist_help_sample"))
    label = int(test.labels[pos])
    st.caption(t("draw.mnist_caption", index=int(test.indices[pos]), label=label))
    return to_float(test.images[pos]), label


KEPT = ("draw_source", "stroke_width", "compare_naive", "show_values", "draw_explain", "draw_filters", "mnist_pick")


def main():
    keep_widget_state(*KEPT)
    # Defaults set here, not on the widgets: a kept widget with a default makes Streamlit warn.
    st.session_state.setdefault("draw_source", "draw")
    st.session_state.setdefault("stroke_width", 18)
    st.title(t("draw.title"))
    st.caption(t("draw.intro"))
    model = current_model(DATASET)
    if model is None:
        st.error(t("draw.no_model"))
        return
    drawing_and_reading(model, resources.class_names(model, DATASET))


@st.fragment
def drawing_and_reading(model: str, names: list[str]):
    """Everything a stroke changes. A fragment: a stroke reruns (and the browser redraws) this part only, not the
    sidebar, navigation and title."""
    keep_widget_state(*KEPT)  # a stroke's run is this fragment's alone: it must keep the toggles itself
    left, right = st.columns([3, 2], gap="large")  # the 280 px canvas fits a tablet held upright
    with left:
        sources = {"draw": t("draw.source.draw"), "mnist": t("draw.source.mnist")}
        source = st.segmented_control(t("draw.source"), list(sources), format_func=sources.get,
                                      key="draw_source")
        true_label, naive = None, None
        if source == "mnist":
            image, true_label = mnist_digit_input()
        else:
            stroke = st.slider(t("draw.stroke"), 6, 40, key="stroke_width")
            canvas = drawing_input(stroke)
            prepared = None if canvas is None else preprocess.mnist_style(canvas, polarity="light-on-dark")
            if prepared is None or prepared.status == "empty":
                st.info(t("draw.hint"))
                resources.warm_up(model)
                return
            if prepared.status != "ok":
                st.warning(t("draw.blob"))
                return
            image = prepared.image
            st.session_state.last_drawing = image  # the Convolution page can use it
            naive = preprocess.naive_resize(canvas, polarity="light-on-dark").image
    with right:
        wrong = None if true_label is None else t("draw.wrong_is", label=names[true_label])
        prediction = reading.answer(model, image, names, "draw", true_label, wrong)
        if prediction is None:
            return

    st.subheader(t("draw.sees"))
    compare = naive is not None and st.toggle(t("draw.compare"), key="compare_naive", help=t("draw.compare_help"))
    show_values = not presenting() and st.checkbox(t("input.values"), key="show_values")
    cols = st.columns(2 if compare else 1)
    with cols[0]:
        views.model_input_view(image, t("draw.caption_mnist"), "mnist_style", show_values)
    if compare:
        naive_pred = resources.prediction(model, naive, names)
        with cols[1]:
            views.model_input_view(naive, t("draw.caption_naive"), "naive", show_values)
            if naive_pred is not None:
                text = t("draw.naive_reads", label=html.escape(names[naive_pred.label]),
                         confidence=bars.percent(naive_pred.confidence, 0))
                st.markdown(f"<span data-testid='naive-prediction'>{text}</span>", unsafe_allow_html=True)

    reading.look_inside(model, image, prediction, names, "draw")


main()
