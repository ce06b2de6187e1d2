"""Pictures of model inputs and feature maps as plain RGB arrays (fast to draw, no plotting library).

One image per layer, every channel tiled in a grid and coloured with one colour scale for the
whole layer, so channels of a layer can be compared at a glance.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np

_COLORMAPS: dict[str, np.ndarray] = {}


def colormap(name: str = "viridis") -> np.ndarray:
    """A (256, 3) uint8 lookup table from matplotlib, built once."""
    if name not in _COLORMAPS:
        from matplotlib import colormaps

        _COLORMAPS[name] = (colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    return _COLORMAPS[name]


def layer_range(maps: np.ndarray) -> tuple[float, float]:
    """One colour scale per layer: from its smallest to its largest activation."""
    low, high = float(np.min(maps)), float(np.max(maps))
    return (low, high) if high > low else (low, low + 1.0)


def colorize(values: np.ndarray, low: float, high: float, cmap: str = "viridis") -> np.ndarray:
    idx = np.clip((values - low) / (high - low) * 255.0, 0, 255).astype(np.uint8)
    return colormap(cmap)[idx]


def grid_shape(channels: int, columns: int | None = None) -> tuple[int, int]:
    cols = columns or (math.ceil(math.sqrt(channels * 2)) if channels > 8 else channels)
    return math.ceil(channels / cols), cols


def tile_channels(maps: np.ndarray, scale: int = 3, gap: int = 2, cmap: str = "viridis",
                  value_range: tuple[float, float] | None = None, columns: int | None = None) -> np.ndarray:
    """(h, w, c) feature maps -> one RGB image of all channels in a grid, enlarged ``scale`` times."""
    h, w, c = maps.shape
    low, high = value_range or layer_range(maps)
    rows, cols = grid_shape(c, columns)
    cell_h, cell_w = h * scale, w * scale
    out = np.full((rows * (cell_h + gap) - gap, cols * (cell_w + gap) - gap, 3), 40, np.uint8)
    coloured = colorize(maps, low, high, cmap)  # (h, w, c, 3)
    for k in range(c):
        r, q = divmod(k, cols)
        cell = np.repeat(np.repeat(coloured[:, :, k], scale, axis=0), scale, axis=1)
        out[r * (cell_h + gap): r * (cell_h + gap) + cell_h, q * (cell_w + gap): q * (cell_w + gap) + cell_w] = cell
    return out


def enlarge(image: np.ndarray, scale: int = 8, grid: bool = True, cmap: str | None = None) -> np.ndarray:
    """A (28, 28) image in [0, 1] enlarged with visible pixels (thin grid lines between them)."""
    img = np.clip(image, 0.0, 1.0)
    rgb = colorize(img, 0.0, 1.0, cmap) if cmap else np.repeat((img * 255).astype(np.uint8)[..., None], 3, axis=2)
    big = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    if grid and scale >= 4:
        big[::scale, :, :] = 70
        big[:, ::scale, :] = 70
    return big


def enlarge_channel(values: np.ndarray, low: float, high: float, size: int = 280, cmap: str = "viridis") -> np.ndarray:
    """One (h, w) channel on its layer's colour scale, enlarged to about ``size`` pixels with visible pixels."""
    h, w = values.shape
    scale = max(1, size // max(h, w))
    big = np.repeat(np.repeat(colorize(values, low, high, cmap), scale, axis=0), scale, axis=1)
    if scale >= 6:  # thin lines between pixels, as in the input view
        big[::scale, :, :] = 40
        big[:, ::scale, :] = 40
    return big


def legend_bar(low: float, high: float, width: int = 256, height: int = 12, cmap: str = "viridis") -> np.ndarray:
    """A horizontal colour bar from ``low`` (left) to ``high`` (right)."""
    row = colorize(np.linspace(low, high, width), low, high, cmap)
    return np.repeat(row[None], height, axis=0)


def png_data_url(rgb: np.ndarray) -> str:
    """An RGB (or grey) uint8 image as a ``data:image/png`` URL.

    Shown with ``st.image(url)``, a picture travels inside the page update instead of as a separate file the
    browser fetches: one request less per picture per stroke, and no 404 when a busy browser asks for the
    picture of a run the server has already replaced by the next one."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
