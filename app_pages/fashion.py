"""Pick a Fashion-MNIST test image and see the network classify it."""

import numpy as np
import streamlit as st

from app_pages import i18n, reading, resources, views
from app_pages.i18n import t
from app_pages.sidebar import current_model
from model_store import render
from model_store.model_input import to_float

DATASET = "fashion-mnist"
THUMBS = 6
PICK, CLASS = "fashion_pick", "fashion_class"


def pick(position: int):
    st.session_state[PICK] = int(position)


def class_chosen(test):
    """A class chosen in the picker shows its first image (the picker and the image shown always agree)."""
    members = test.by_class(st.session_state[CLASS])
    if len(members):
        pick(members[0])


def chooser(test, names):
    """By class (a gallery of thumbnails), by index, or at random; the choice is a position in ``test``."""
    st.session_state.setdefault(PICK, 0)
    st.session_state[CLASS] = int(test.labels[st.session_state[PICK]])  # the class of the image shown, however picked
    c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    with c1:
        label = st.selectbox(t("fashion.class"), range(10), format_func=lambda i: names[i], key=CLASS,
                             on_change=class_chosen, args=(test,))
    with c2:
        views.pick_test_image(test, PICK, t("common.test_image"))
    with c3:
        st.button(t("common.random"), icon=":material/casino:", key="fashion_random", width="stretch",
                  on_click=lambda: pick(np.random.default_rng().integers(len(test.labels))))
    members = test.by_class(label)
    start = st.session_state.get(f"fashion_page_{label}", 0) % max(1, len(members))
    shown = members[start:start + THUMBS]
    cols = st.columns(THUMBS + 1)
    for col, pos in zip(cols, shown):
        with col:
            st.image(render.png_data_url(render.enlarge(to_float(test.images[pos]), scale=3, grid=False)),
                     width=84)
            st.button(f"#{int(test.indices[pos])}", key=f"thumb_{pos}", on_click=pick, args=(pos,), width="stretch")
    with cols[-1]:
        st.button(t("fashion.more"), key="fashion_more",
                  on_click=lambda: st.session_state.update({f"fashion_page_{label}": start + THUMBS}))


def main():
    st.title(t("fashion.title"))
    st.caption(t("fashion.intro"))
    model = current_model(DATASET)
    if model is None:
        st.error(t("fashion.no_model"))
        return
    names = resources.class_names(model, DATASET)
    test = resources.test_set(DATASET)
    if not test.full:
        st.caption(t("common.sample_only", dataset="Fashion-MNIST", count=len(test.labels)))
    picking_and_reading(model, names, test)


@st.fragment
def picking_and_reading(model: str, names: list[str], test):
    """Everything a new pick changes. A fragment: a pick reruns (and the browser redraws) this part only."""
    chooser(test, names)
    pos = st.session_state[PICK]
    image, true_label = to_float(test.images[pos]), int(test.labels[pos])

    left, right = st.columns([1, 2], gap="large")
    with left:
        st.image(render.png_data_url(render.enlarge(image, scale=8)), width=224,
                 caption=t("fashion.image_caption", index=int(test.indices[pos])))
        st.markdown(t("common.true_class", name=i18n.as_text(names[true_label])))
    with right:
        prediction = reading.answer(model, image, names, "fashion", true_label)
    if prediction is not None:
        reading.look_inside(model, image, prediction, names, "fashion")


main()
