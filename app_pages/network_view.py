"""The whole network at once, CNN-Explainer style: every layer's output for the current input, side by side, then one
value of a convolution opened up (``app_pages/network_value.py``; the logic: ``model_store/network_view.py``).

The strip is plain HTML (one small PNG per layer, as a data URL), not Streamlit columns: a model has twenty layers and
more, which a horizontally scrollable row shows at a size a person can read; a rerun that does not change the input
takes it from the cache.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import math

import numpy as np
import streamlit as st

from app_pages import bars, i18n, network_value, resources
from app_pages.i18n import t
from model_store import network_view as nv
from model_store import render

TILE = 28  # px: about one channel's side in the strip
CHANNEL_ROWS = 8  # channels per column of tiles
UNITS = 64  # a dense layer's units per column of cells
CELL = 4  # px: one unit's cell


def _img(rgb: np.ndarray, alt: str, scale: int = 1) -> str:
    return _tag(render.png_data_url(rgb), rgb.shape[1] * scale, alt)


def _tag(url: str, width: int, alt: str) -> str:
    return f"<img src='{url}' alt='{html.escape(alt)}' style='width:{width}px;image-rendering:pixelated;display:block'>"


@functools.cache
def _palette() -> bytes:
    """Viridis in 255 colours, then the gaps' grey."""
    colours = render.colormap()[np.linspace(0, 255, 255).round().astype(int)]
    return np.vstack([colours, [[40, 40, 40]]]).astype(np.uint8).tobytes()


def _palette_png(grid: np.ndarray, low: float, high: float, alt: str, scale: int) -> str:
    """Values (nan: a gap between tiles) as a palette PNG at one pixel per value, enlarged by the browser: a third of
    an RGB PNG's bytes and ``scale``² fewer pixels to encode, for the ~230,000 numbers of a model like ours."""
    from PIL import Image

    index = np.clip((grid - low) / (high - low) * 254, 0, 254)
    index = np.where(np.isnan(grid), 255, index).astype(np.uint8)  # 255: the gaps' grey
    picture = Image.fromarray(index, "L")
    picture.putpalette(_palette())
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=6)
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return _tag(url, grid.shape[1] * scale, alt)


def _maps_picture(values: np.ndarray, alt: str) -> str:
    """(h, w, c) maps: every channel a tile, CHANNEL_ROWS tiles a column, on the layer's colour scale."""
    h, w, c = values.shape
    rows, cols = min(c, CHANNEL_ROWS), math.ceil(c / CHANNEL_ROWS)
    tiles = np.full((h + 1, w + 1, rows * cols), np.nan)  # one row and column of gap after each tile
    tiles[:h, :w, :c] = values
    grid = tiles.reshape(h + 1, w + 1, cols, rows).transpose(3, 0, 2, 1).reshape(rows * (h + 1), cols * (w + 1))
    return _palette_png(grid[:-1, :-1], *render.layer_range(values), alt, max(1, TILE // max(h, w)))


def _units_picture(values: np.ndarray, alt: str) -> str:
    """A vector as a strip of cells, unit k at row k % UNITS of column k // UNITS, on the layer's colour scale."""
    n = values.size
    rows, cols = min(n, UNITS), math.ceil(n / UNITS)
    grid = np.full(rows * cols, np.nan)
    grid[:n] = values.ravel()
    return _palette_png(grid.reshape(cols, rows).T, *render.layer_range(values), alt, CELL)


def _content(layer: nv.LayerOutput, image: np.ndarray, names: list[str]) -> str:
    values = layer.values
    if layer.kind == "input":
        return _img(render.enlarge(image, scale=1, grid=False), layer.name, scale=2)
    if layer.kind == "dropout":
        return f"<div style='font-size:.7rem;opacity:.7;max-width:5em'>{html.escape(t('network.pass_through'))}</div>"
    if layer.kind == "softmax" and values.size == len(names):
        return f"<div style='width:11em'>{bars.probability_html(values, names, key='network')}</div>"
    if values.ndim == 3:
        return _maps_picture(values, layer.name)
    return _units_picture(values, layer.name)


def strip_html(reading: nv.Reading, image: np.ndarray, names: list[str]) -> str:
    """Every layer as a column: its name, what it is and its shape over its channels (maps), units (cells) or
    classes (bars). Names come from the model file (an upload's too): escaped."""
    columns = []
    for layer in reading.layers:
        fused = f" + {layer.activation}" if layer.activation and layer.kind != "softmax" else ""
        about = f"{t(f'network.kind.{layer.kind}')}{fused} · {'×'.join(map(str, layer.shape))}"
        columns.append(
            f"<div data-layer='{html.escape(layer.name)}' data-kind='{layer.kind}' style='flex:0 0 auto;display:flex;"
            "flex-direction:column;align-items:center;gap:4px'>"
            f"<div style='font-weight:600;font-size:.8rem'>{html.escape(layer.name)}</div>"
            f"<div style='font-size:.7rem;opacity:.7;white-space:nowrap'>{html.escape(about)}</div>"
            f"{_content(layer, image, names)}</div>")
    return ("<div data-testid='network-strip' style='display:flex;gap:16px;overflow-x:auto;align-items:flex-start;"
            "padding:4px 2px 10px'>" + "".join(columns) + "</div>")


@st.cache_data(max_entries=16, show_spinner=False)
def _strip(model_name: str, path: str, version: str, image: np.ndarray, names: tuple[str, ...], lang: str) -> str:
    reading = nv.read_network(resources.predictor(model_name).model, image)
    return strip_html(reading, image, list(names))


def _position(label: str, size: int, default: int, key: str) -> int:
    if size == 1:  # a slider needs two values
        return 0
    return st.slider(label, 0, size - 1, default, key=key)


def show(model_name: str, image: np.ndarray, names: list[str], key: str) -> None:
    """Every layer's output for ``image`` (28x28 in [0, 1]), then one value of a chosen Conv2D channel explained."""
    st.caption(t("network.about"))
    model = resources.predictor(model_name).model
    image = np.asarray(image, np.float32)
    st.html(_strip(model_name, *resources.model_version(model_name), image, tuple(names), i18n.lang()))
    reading = nv.read_network(model, image)
    convs = [layer.name for layer in reading.layers if layer.kind == "conv"]
    if not convs:
        st.info(t("network.no_conv"))
        return
    st.subheader(t("network.value_title"))
    c1, c2, c3, c4 = st.columns(4)
    shape = {name: "×".join(map(str, reading.layer(name).shape)) for name in convs}
    with c1:
        layer = st.selectbox(t("network.layer"), convs, key=f"{key}_layer", format_func=lambda n: f"{n} · {shape[n]}")
    values = reading.layer(layer).values
    h, w, c = values.shape
    with c2:
        channel = int(st.number_input(t("network.channel"), 0, c - 1, 0, key=f"{key}_channel_{layer}"))
    strongest = np.unravel_index(int(np.argmax(np.abs(values[:, :, channel]))), (h, w))  # where something happens
    with c3:
        row = _position(t("network.row"), h, int(strongest[0]), f"{key}_row_{layer}")
    with c4:
        col = _position(t("network.col"), w, int(strongest[1]), f"{key}_col_{layer}")
    network_value.show(model, reading, layer, channel, row, col, key)
