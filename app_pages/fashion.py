"""Pick a Fashion-MNIST test image and see the network classify it."""

import numpy as np
import streamlit as st

from app_pages import i18n, inside, ui
from app_pages.i18n import t
from model_store import preprocess, render

DATASET = "fashion-mnist"
THUMBS = 6


def pick(position: int):
    st.session_state.fashion_pick = int(position)


def chooser(test, names):
    """By class (a gallery of thumbnails), by index, or at random; the choice is a position in ``test``."""
    c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    with c1:
        label = st.selectbox(t("fashion.class"), range(10), format_func=lambda i: names[i], key="fashion_class")
    with c2:
        ui.pick_test_image(test, "fashion_pick", t("common.test_image"))
    with c3:
        st.button(t("common.random"), icon=":material/casino:", key="fashion_random", width="stretch",
                  on_click=lambda: pick(np.random.default_rng().integers(len(test.labels))))
    members = test.by_class(label)
    start = st.session_state.get(f"fashion_page_{label}", 0) % max(1, len(members))
    shown = members[start:start + THUMBS]
    cols = st.columns(THUMBS + 1)
    for col, pos in zip(cols, shown):
        with col:
            st.image(render.png_data_url(render.enlarge(preprocess.from_uint8(test.images[pos]), scale=3, grid=False)),
                     width=84)
            st.button(f"#{int(test.indices[pos])}", key=f"thumb_{pos}", on_click=pick, args=(pos,), width="stretch")
    with cols[-1]:
        st.button(t("fashion.more"), key="fashion_more",
                  on_click=lambda: st.session_state.update({f"fashion_page_{label}": start + THUMBS}))


def main():
    st.title(t("fashion.title"))
    st.caption(t("fashion.intro"))
    model = ui.current_model(DATASET)
    if model is None:
        st.error(t("fashion.no_model"))
        return
    names = ui.class_names(model, DATASET)
    test = ui.test_set(DATASET)
    if not test.full:
        st.caption(t("common.sample_only", dataset="Fashion-MNIST", count=len(test.labels)))
    picking_and_reading(model, names, test)


@st.fragment
def picking_and_reading(model: str, names: list[str], test):
    """Everything a new pick changes. A fragment: a pick reruns (and the browser redraws) this part only."""
    chooser(test, names)
    pos = st.session_state.fashion_pick
    image, true_label = preprocess.from_uint8(test.images[pos]), int(test.labels[pos])

    left, right = st.columns([1, 2], gap="large")
    with left:
        st.image(render.png_data_url(render.enlarge(image, scale=8)), width=224,
                 caption=t("fashion.image_caption", index=int(test.indices[pos])))
        st.markdown(t("common.true_class", name=i18n.as_text(names[true_label])))
    with right:
        # Shown only if the answer takes over half a second: the first visit after a server start, while
        # TensorFlow and the model load. The image is already on the page meanwhile.
        with st.spinner(t("common.loading_model")):
            prediction = ui.prediction(model, image, names)
        if prediction is None:
            return
        verdict = t("common.correct") if prediction.label == true_label else t("common.wrong")
        ui.prediction_headline(names[prediction.label], prediction.confidence, verdict, image)
        ui.probability_bars(prediction.probabilities, names, key="fashion_probs", true_label=true_label)

    st.subheader(t("maps.title"))
    ui.feature_maps_view(prediction, key="fashion_maps")
    st.subheader(t("explain.title"))
    if st.toggle(t("explain.toggle"), key="fashion_explain"):
        inside.explanation_view(model, image, prediction.label, names, key="fashion_explain_view")
    if ui.presenting():
        return  # fewer controls on a projector
    st.subheader(t("filters.title"))
    if st.toggle(t("filters.toggle"), key="fashion_filters"):
        inside.filters_view(model, key="fashion_filters_view")


main()
