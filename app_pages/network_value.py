"""One value of a Conv2D layer's output, opened up: where it is in its channel, the patch of the layer's input under
the kernel, the kernel, their products, the sums per input channel, the bias, the activation and the layers after it
(BatchNormalization, ReLU), each step's number checked against what the model computed. Shown by
``app_pages/network_view.py``; the arithmetic is ``model_store.network_view.explain_value``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app_pages.i18n import as_text, t
from model_store import network_view as nv
from model_store import render

SIZE = 196  # px: the enlarged maps
BOX = np.array([255, 235, 59], np.uint8)  # the marked position, as on the Convolution page


def number(x: float) -> str:
    """Four decimals, and never "-0.0000"."""
    text = f"{x:.4f}"
    return text[1:] if text == "-0.0000" else text


def _marked(values: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """A channel enlarged on its own colour scale, with a frame around rows top..top+height, columns left..left+width
    (clipped to the map: a patch can reach into the padding)."""
    low, high = render.layer_range(values)
    big = render.enlarge_channel(values, low, high, size=SIZE)
    scale = big.shape[0] // values.shape[0]
    y0, x0 = max(top, 0) * scale, max(left, 0) * scale
    y1 = min(top + height, values.shape[0]) * scale - 1
    x1 = min(left + width, values.shape[1]) * scale - 1
    for d in range(2):
        big[y0 + d, x0:x1 + 1] = big[y1 - d, x0:x1 + 1] = BOX
        big[y0:y1 + 1, x0 + d] = big[y0:y1 + 1, x1 - d] = BOX
    return big


def _table(values: np.ndarray, key: str) -> None:
    st.dataframe(pd.DataFrame(np.asarray(values, float)).round(3), hide_index=True, key=key)


def show(model, reading: nv.Reading, layer: str, channel: int, row: int, col: int, key: str) -> None:
    """The explanation of ``layer``'s output at (``row``, ``col``) of ``channel`` for the input of ``reading``."""
    e = nv.explain_value(model, reading, layer, channel, row, col)
    source = reading.conv_inputs[layer]
    kh, kw, n_in = e.kernel.shape
    dh, dw = model.get_layer(layer).dilation_rate
    left, middle, right = st.columns([2, 3, 2])
    shown = 0
    with right:
        if n_in > 1:  # the input channel whose patch, kernel and products are shown: the one that adds most first
            order = [int(i) for i in np.argsort(-np.abs(e.channel_sums))]
            shown = st.selectbox(t("network.input_channel", n=n_in), order, key=f"{key}_in_{layer}_{channel}",
                                 format_func=lambda i: t("network.input_channel_option", channel=e.input_channels[i],
                                                         total=number(e.channel_sums[i])))
            st.markdown(t("network.channel_sums"))
            sums = pd.DataFrame({t("network.input"): e.input_channels, t("network.sum_column"): e.channel_sums.round(4)})
            st.dataframe(sums, hide_index=True, key=f"{key}_sums")
    with left:
        st.image(_marked(source[:, :, e.input_channels[shown]], e.top, e.left, (kh - 1) * dh + 1, (kw - 1) * dw + 1),
                 width=SIZE, caption=t("network.input_map", channel=e.input_channels[shown], h=source.shape[0],
                                       w=source.shape[1]))
        st.image(_marked(reading.layer(layer).values[:, :, channel], row, col, 1, 1), width=SIZE,
                 caption=t("network.output_map", layer=layer, channel=channel, row=row, col=col))
    with middle:
        st.markdown(t("network.patch"))
        _table(e.patch[:, :, shown], f"{key}_patch")
        if not e.inside.all():
            st.caption(t("network.padding"))
        st.markdown(t("network.kernel"))
        _table(e.kernel[:, :, shown], f"{key}_kernel")
        st.markdown(t("network.products", total=number(e.channel_sums[shown])))
        _table(e.products[:, :, shown], f"{key}_products")
    steps = [t("network.sum", n=n_in, sums=number(float(e.channel_sums.sum())), bias=number(e.bias),
               pre=number(e.pre_activation))]
    if e.activation != "linear":
        steps.append(t("network.activation", name=as_text(e.activation), pre=number(e.pre_activation),
                       value=number(e.value)))
    x = e.value
    for step in e.then:
        if step.kind == "batchnorm":
            steps.append(t("network.batchnorm", layer=as_text(step.name), x=number(x), value=number(step.value),
                           **{k: number(v) for k, v in step.terms.items()}))
        else:
            steps.append(t("network.then_activation", layer=as_text(step.name), x=number(x), value=number(step.value),
                           name=as_text(step.terms["activation"])))
        x = step.value
    st.markdown("\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)))
    last = e.then[-1] if e.then else e
    result = dict(layer=as_text(last.layer if last is e else last.name), channel=channel, row=row, col=col,
                  value=number(last.value), actual=number(last.actual))
    if e.matches and all(step.matches for step in e.then):
        st.success(t("network.checked", **result))
    else:
        st.warning(t("network.mismatch", **result))
    if on_the_drawing(e, source) and st.button(t("network.step_through"), key=f"{key}_to_conv", icon=":material/grid_on:"):
        open_in_convolution(e)
    st.page_link("app_pages/convolution.py", label=t("network.to_convolution"), icon=":material/grid_on:")


def on_the_drawing(e: nv.ValueExplained, source: np.ndarray) -> bool:
    """The value is a 3x3 kernel over the pupil's own drawing (the first layer, no padding under it): the
    Convolution page can then step through the very same computation, with this trained kernel."""
    drawing = st.session_state.get("last_drawing")
    return (e.kernel.shape == (3, 3, 1) and bool(e.inside.all()) and drawing is not None
            and np.array_equal(np.asarray(drawing, np.float32), source[..., 0]))


def open_in_convolution(e: nv.ValueExplained) -> None:
    """The Convolution page on the drawing, with this trained kernel and this position (its output there is this
    value before the bias and the activation)."""
    st.session_state.update(conv_source="drawing", conv_kernel="custom", conv_custom_seed=e.kernel[..., 0].tolist(),
                            conv_row=e.top, conv_col=e.left)
    st.session_state.pop("conv_custom", None)  # the kernel table starts from the new seed
    st.switch_page("app_pages/convolution.py")
