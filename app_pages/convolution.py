"""What one convolution does, step by step, and how it compares with the trained network's filters."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app_pages import i18n, live_drawing, resources
from app_pages.i18n import refusal, t
from app_pages.sidebar import current_model
from model_store import convolution as conv
from model_store import preprocess, render
from model_store.images import read_image
from model_store.model_input import to_float
from model_store.refusal import Refusal


def heatmap(values: np.ndarray, title: str, key: str, diverging: bool = True, box=None):
    limit = float(np.abs(values).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=values, colorscale="RdBu_r" if diverging else "gray",
                               zmin=-limit if diverging else 0, zmax=limit if diverging else 1,
                               hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>"))
    if box is not None:
        top, left, size = box
        fig.add_shape(type="rect", x0=left - 0.5, x1=left + size - 0.5, y0=top - 0.5, y1=top + size - 0.5,
                      line=dict(color="#ffeb3b", width=3))
    fig.update_layout(title=title, height=300, margin=dict(l=5, r=5, t=40, b=5),
                      yaxis=dict(autorange="reversed", scaleanchor="x", visible=False), xaxis=dict(visible=False))
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})


def input_image() -> np.ndarray | None:
    sources = {"drawing": t("conv.src.drawing"), "mnist": t("conv.src.mnist"), "fashion-mnist": t("conv.src.fashion"),
               "upload": t("conv.src.upload")}
    source = st.segmented_control(t("conv.source"), list(sources), format_func=sources.get, default="mnist",
                                  key="conv_source")
    if source == "drawing":
        live_drawing.catch_up()  # the Draw page's last strokes may have gone to the stroke route only
        image = st.session_state.get("last_drawing")
        if image is None:
            st.info(t("conv.no_drawing"))
        return image
    if source == "upload":
        file = st.file_uploader(t("conv.upload"), type=["png", "jpg", "jpeg"], key="conv_upload")
        if file is None:
            return None
        try:
            prepared = preprocess.naive_resize(read_image(file))
        except Refusal as exc:
            st.error(refusal(exc))
            return None
        if prepared.empty:
            st.warning(refusal(Refusal("image_empty")))
        return prepared.image
    if source is None:
        return None
    test = resources.test_set(source)
    index = st.number_input(t("common.test_image"), 0, len(test.labels) - 1, 0, key=f"conv_index_{source}")
    return to_float(test.images[index])


def kernel_input() -> np.ndarray:
    names = list(conv.KERNELS) + ["custom"]
    choice = st.selectbox(t("conv.kernel"), names, key="conv_kernel",
                          format_func=lambda n: t("conv.custom") if n == "custom" else n)
    if choice != "custom":
        st.session_state.conv_custom_seed = conv.KERNELS[choice]
        return conv.as_kernel(conv.KERNELS[choice])
    seed = st.session_state.get("conv_custom_seed", conv.KERNELS["identity"])
    edited = st.data_editor(pd.DataFrame(np.asarray(seed, float), columns=["1", "2", "3"]), key="conv_custom",
                            hide_index=True, num_rows="fixed")
    values = edited.to_numpy(dtype=float, na_value=0.0)
    return conv.as_kernel(values)


def main():
    st.title(t("conv.title"))
    st.caption(t("conv.intro"))
    left, right = st.columns([1, 1], gap="large")
    with left:
        image = input_image()
    with right:
        kernel = kernel_input()
        st.dataframe(pd.DataFrame(kernel).round(3), hide_index=True, key="conv_kernel_table")
    if image is None:
        return
    output = conv.convolve(image, kernel)
    rectified = conv.relu(output)
    pooled = conv.max_pool(rectified)
    size = kernel.shape[0]

    st.subheader(t("conv.step"))
    c1, c2 = st.columns(2)
    start_row, start_col = np.unravel_index(int(np.argmax(np.abs(output))), output.shape)  # where something happens
    row = c1.slider(t("conv.row"), 0, output.shape[0] - 1, int(start_row), key="conv_row")
    col = c2.slider(t("conv.col"), 0, output.shape[1] - 1, int(start_col), key="conv_col")
    s = conv.step(image, kernel, row, col)
    cols = st.columns(4)
    with cols[0]:
        heatmap(image, t("conv.input", h=image.shape[0], w=image.shape[1]), "conv_in", diverging=False, box=(row, col, size))
    with cols[1]:
        st.markdown(t("conv.patch"))
        st.dataframe(pd.DataFrame(s.patch).round(2), hide_index=True, key="conv_patch")
        st.markdown(t("conv.products"))
        st.dataframe(pd.DataFrame(s.products).round(2), hide_index=True, key="conv_products")
        st.markdown(t("conv.sum", total=f"{s.total:.3f}", row=row, col=col))
    with cols[2]:
        heatmap(output, t("conv.output", h=output.shape[0], w=output.shape[1]), "conv_out", box=(row, col, 1))
    with cols[3]:
        heatmap(rectified, t("conv.relu", h=rectified.shape[0], w=rectified.shape[1]), "conv_relu")
        heatmap(pooled, t("conv.pool", h=pooled.shape[0], w=pooled.shape[1]), "conv_pool")
    st.caption(t("conv.shapes", a=image.shape[0], b=output.shape[0], c=pooled.shape[0]))

    st.subheader(t("conv.network"))
    source = st.session_state.get("conv_source")
    dataset = "fashion-mnist" if source == "fashion-mnist" else "mnist"
    model = current_model(dataset)
    found = conv.first_layer_kernels(resources.predictor(model).model) if model else None
    if found is None:
        st.info(t("conv.no_conv"))
        return
    layer, kernels = found
    try:
        best, similarity = conv.most_similar(kernels, kernel)
    except ValueError:  # the model's first layer has kernels of another size (e.g. 5x5)
        st.info(t("conv.other_size", model=i18n.as_text(model), layer=i18n.as_text(layer), k=kernels.shape[1], size=size))
        return
    st.markdown(t("conv.similar", model=i18n.as_text(model), layer=i18n.as_text(layer), index=best,
                  similarity=f"{similarity:.2f}"))
    n1, n2 = st.columns(2)
    with n1:
        st.dataframe(pd.DataFrame(kernels[best]).round(3), hide_index=True, key="conv_best_kernel")
        limit = float(np.abs(kernels).max()) or 1.0
        st.image(render.tile_channels(kernels[best][..., None], scale=24, cmap="RdBu_r", value_range=(-limit, limit)),
                 width=96)
    with n2:
        heatmap(conv.convolve(image, kernels[best]), t("conv.network_output", index=best), "conv_net_out")


main()
