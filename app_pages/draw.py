"""Draw a digit and watch the network read it."""

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from app_pages import ui
from model_store import preprocess

DATASET = "mnist"
CANVAS = 280


def drawing_input(stroke: int):
    result = st_canvas(
        stroke_width=stroke, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS, width=CANVAS,
        drawing_mode="freedraw", return_image_data=True, update_streamlit=True, key="draw_canvas",
    )
    return None if result is None else result.image_data


def main():
    st.title("Draw a digit")
    st.caption("Draw any digit with the mouse or a finger, anywhere on the canvas: the network reads it after every "
               "stroke. Use the canvas' own toolbar to undo or clear.")
    model = ui.current_model(DATASET)
    if model is None:
        st.error("No digit model is available. Train one on the Train page or upload one on the Models page.")
        return
    names = ui.class_names(model, DATASET)

    left, right = st.columns([1, 1], gap="large")
    with left:
        source = st.segmented_control("Input", ["Draw", "MNIST test digit"], default="Draw", key="draw_source")
        true_label = None
        if source == "MNIST test digit":
            image, true_label = mnist_digit_input()
            naive = None
        else:
            stroke = st.slider("Stroke width", 6, 40, 18, key="stroke_width")
            canvas = drawing_input(stroke)
            prepared = None if canvas is None else preprocess.mnist_style(canvas, polarity="light-on-dark")
            if prepared is None or prepared.status == "empty":
                st.info("Draw a digit on the black canvas to see the prediction.")
                return
            if prepared.status != "ok":
                st.warning(prepared.message)
                return
            image = prepared.image
            naive = preprocess.naive_resize(canvas, polarity="light-on-dark").image
    prediction = ui.predict(model, image)
    with right:
        verdict = None
        if true_label is not None:
            verdict = "correct ✓" if prediction.label == true_label else f"wrong ✗, it is a {names[true_label]}"
        ui.prediction_headline(names[prediction.label], prediction.confidence, verdict, image)
        ui.probability_chart(prediction.probabilities, names, key="draw_probs", true_label=true_label)

    st.subheader("What the model sees")
    compare = naive is not None and st.toggle(
        "Compare with a naive resize", key="compare_naive",
        help="Squeezing the whole canvas to 28x28 leaves small or off-centre digits tiny and misplaced; MNIST digits "
             "were cropped, scaled to 20x20 and centred by their centre of mass.")
    show_values = st.checkbox("Show pixel values (0-255)", key="show_values")
    cols = st.columns(2 if compare else 1)
    with cols[0]:
        ui.model_input_view(image, "MNIST-style: cropped, 20x20, centred (28x28)", "mnist_style", show_values)
    if compare:
        naive_pred = ui.predict(model, naive)
        with cols[1]:
            ui.model_input_view(naive, "Naive resize of the whole canvas (28x28)", "naive", show_values)
            st.markdown(f"<span data-testid='naive-prediction'>Naive resize reads: **{names[naive_pred.label]}** "
                        f"({naive_pred.confidence:.0%})</span>", unsafe_allow_html=True)

    st.subheader("Feature maps")
    ui.feature_maps_view(prediction, key="draw_maps")


def mnist_digit_input():
    test = ui.test_set(DATASET)
    if not test.full:
        st.caption(f"The MNIST test set is not on this machine: showing the shipped sample of {len(test.labels)} images.")
    if "mnist_pick" not in st.session_state:
        st.session_state.mnist_pick = 0
    c1, c2 = st.columns([2, 1])
    with c2:
        if st.button("Random", icon=":material/casino:", key="mnist_random", width="stretch"):
            st.session_state.mnist_pick = int(np.random.default_rng().integers(len(test.labels)))
    with c1:
        st.number_input("Test image", 0, len(test.labels) - 1, key="mnist_pick",
                        help="Position in the test set" if test.full else "Position in the shipped sample")
    pos = st.session_state.mnist_pick
    label = int(test.labels[pos])
    st.caption(f"MNIST test image #{int(test.indices[pos])}, true label **{label}**")
    return preprocess.from_uint8(test.images[pos]), label


main()
