"""Browse MNIST and Fashion-MNIST per class; open one image with its pixel values, as the tutorials print them."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app_pages import i18n, resources
from app_pages.i18n import t
from model_store import render
from model_store.model_input import to_float
from training import datasets

PER_PAGE = 24


@st.cache_resource(show_spinner=False)
def train_split(dataset: str):
    """The training images and labels, read once per server; None when they are not on this machine."""
    try:
        data = datasets.load(dataset, allow_download=False)
    except datasets.DatasetError:  # said on the page: the test sample is still there
        return None
    return None if data.train is None else (data.train.images, data.train.labels)


def split(dataset: str, part: str):
    """(images, labels, full) for the train or test split; the shipped sample of the test set when it is absent."""
    if part == "test":
        test = resources.test_set(dataset)
        return test.images, test.labels, test.full
    train = train_split(dataset)
    return None if train is None else (*train, True)


def open_image(position: int):
    st.session_state.data_open = position


def main():
    st.title(t("data.title"))
    st.caption(t("data.intro"))
    c1, c2 = st.columns(2)
    dataset = c1.segmented_control(t("data.dataset"), list(resources.DATASETS), format_func=lambda d: t(f"dataset.{d}"),
                                   default="mnist", key="data_dataset") or "mnist"
    parts = {"train": t("data.train"), "test": t("data.test")}
    part = c2.segmented_control(t("data.split"), list(parts), format_func=parts.get, default="test",
                                key="data_split") or "test"
    loaded = split(dataset, part)
    if loaded is None:
        st.warning(t("data.missing", dataset=t(f"dataset.{dataset}")))
        return
    images, labels, full = loaded
    if not full:
        st.caption(t("common.sample_only", dataset=t(f"dataset.{dataset}"), count=len(labels)))
    names = i18n.class_names(datasets.CLASS_NAMES[dataset])
    counts = np.bincount(labels, minlength=10)

    fig = go.Figure(go.Bar(x=names, y=counts, text=counts, textposition="outside", marker_color="#4fc3f7"))
    fig.update_layout(title=t("data.balance", n=len(labels)), height=260, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(type="category"), yaxis=dict(range=[0, counts.max() * 1.2]))
    st.plotly_chart(fig, key="data_balance", config={"displayModeBar": False})

    label = st.selectbox(t("fashion.class"), range(10), key="data_class",
                         format_func=lambda i: f"{names[i]} ({counts[i]})")
    members = np.flatnonzero(labels == label)
    pages = max(1, (len(members) + PER_PAGE - 1) // PER_PAGE)
    page = st.number_input(t("data.page", pages=pages), 1, pages, 1, key=f"data_page_{dataset}_{part}_{label}") - 1
    shown = members[page * PER_PAGE:(page + 1) * PER_PAGE]
    cols = st.columns(12)
    for i, pos in enumerate(shown):
        with cols[i % 12]:
            st.image(render.enlarge(to_float(images[pos]), scale=2, grid=False), width=56)
            st.button(f"#{pos}", key=f"data_open_{pos}", on_click=open_image, args=(int(pos),), width="stretch")

    pos = st.session_state.get("data_open")
    if pos is None or pos >= len(labels):
        pos = int(shown[0]) if len(shown) else 0
    st.subheader(t("data.image", index=pos, name=names[int(labels[pos])]))
    left, right = st.columns([1, 3])
    with left:
        st.image(render.enlarge(to_float(images[pos]), scale=8), width=224)
    with right:
        st.dataframe(images[pos].astype(int), key="data_pixels", height=560,
                     column_config={str(i): st.column_config.NumberColumn(width="small") for i in range(28)})


main()
