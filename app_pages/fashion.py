"""Pick a Fashion-MNIST test image and see the network classify it."""

import numpy as np
import streamlit as st

from app_pages import ui
from model_store import preprocess, render

DATASET = "fashion-mnist"
THUMBS = 6


def pick(position: int):
    st.session_state.fashion_pick = int(position)


def chooser(test, names):
    """By class (a gallery of thumbnails), by index, or at random; the choice is a position in ``test``."""
    if "fashion_pick" not in st.session_state:
        st.session_state.fashion_pick = 0
    c1, c2, c3 = st.columns([2, 2, 1])
    with c1:
        label = st.selectbox("Class", range(10), format_func=lambda i: names[i], key="fashion_class")
    with c2:
        st.number_input("Test image", 0, len(test.labels) - 1, key="fashion_pick")
    with c3:
        st.write("")
        if st.button("Random", icon=":material/casino:", key="fashion_random", width="stretch"):
            pick(np.random.default_rng().integers(len(test.labels)))
            st.rerun()
    members = test.by_class(label)
    start = st.session_state.get(f"fashion_page_{label}", 0) % max(1, len(members))
    shown = members[start:start + THUMBS]
    cols = st.columns(THUMBS + 1)
    for col, pos in zip(cols, shown):
        with col:
            st.image(render.enlarge(preprocess.from_uint8(test.images[pos]), scale=3, grid=False), width=84)
            st.button(f"#{int(test.indices[pos])}", key=f"thumb_{pos}", on_click=pick, args=(pos,),
                      width="stretch")
    with cols[-1]:
        if st.button("More ▸", key="fashion_more"):
            st.session_state[f"fashion_page_{label}"] = start + THUMBS
            st.rerun()


def main():
    st.title("Fashion-MNIST")
    st.caption("Pick a clothing image by class, by number, or at random, and see what the network thinks it is.")
    model = ui.current_model(DATASET)
    if model is None:
        st.error("No Fashion-MNIST model is available. Train one on the Train page or upload one on the Models page.")
        return
    names = ui.class_names(model, DATASET)
    test = ui.test_set(DATASET)
    if not test.full:
        st.caption(f"The Fashion-MNIST test set is not on this machine: using the shipped sample of "
                   f"{len(test.labels)} images.")
    chooser(test, names)
    pos = st.session_state.fashion_pick
    image, true_label = preprocess.from_uint8(test.images[pos]), int(test.labels[pos])
    prediction = ui.predict(model, image)

    left, right = st.columns([1, 2], gap="large")
    with left:
        st.image(render.enlarge(image, scale=8), caption=f"Test image #{int(test.indices[pos])}", width=224)
        st.markdown(f"True class: **{names[true_label]}**")
    with right:
        right_or_wrong = "correct ✓" if prediction.label == true_label else "wrong ✗"
        ui.prediction_headline(names[prediction.label], prediction.confidence, right_or_wrong, image)
        ui.probability_chart(prediction.probabilities, names, key="fashion_probs", true_label=true_label)

    st.subheader("Feature maps")
    ui.feature_maps_view(prediction, key="fashion_maps")


main()
