"""Turn a drawing of any size and polarity into the 28x28 image a model trained on MNIST expects.

MNIST itself was made this way: crop to the ink, scale the long side to 20 px with anti-aliasing,
and place the result in 28x28 so that its centre of mass sits in the centre. The naive resize
(the whole canvas squeezed to 28x28, as many tutorials do) is here too, so the app can show the difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from model_store.model_input import SIDE

INK_THRESHOLD = 0.1  # a pixel is ink when it is this much brighter than the background
BOX = 20  # MNIST fitted each digit's long side into 20 px ...
SIZE = SIDE  # ... and centred it in 28 x 28


class PreprocessError(ValueError):
    """The image cannot be turned into a model input (wrong shape or type); the message says why."""


@dataclass(frozen=True)
class Prepared:
    image: np.ndarray | None  # (28, 28) float32 in [0, 1], ink bright; None unless status is "ok"
    status: str  # "ok", "empty" (no ink) or "blob" (a dot or a filled area, not strokes)
    bbox: tuple[int, int, int, int] | None = None  # top, left, bottom, right of the ink on the input

    @property
    def empty(self) -> bool:
        return self.image is None

BLOB_FILL = 0.75  # share of the ink's bounding box that is ink; strokes of a digit fill far less


def to_ink(image, polarity: str = "auto") -> np.ndarray:
    """Grey ink map in [0, 1] (ink = 1) from grey, RGB or RGBA of either polarity.

    A transparent background (the canvas' default) is read from the alpha channel; otherwise the
    background is whatever covers most of the border, and the image is inverted when that is bright.
    """
    a = np.asarray(image)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or a.size == 0:
        raise PreprocessError("the image is empty or not numeric")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise PreprocessError(f"expected a grey, RGB or RGBA image, got an array of shape {a.shape}")
    scale = 255.0 if a.dtype == np.uint8 or a.max() > 1.0 else 1.0
    a = a.astype(np.float32) / scale
    if a.ndim == 3:
        if a.shape[2] == 4 and a[..., 3].min() < 0.99:
            return np.clip(a[..., 3], 0.0, 1.0)  # strokes on a transparent canvas
        a = a[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if polarity == "light-on-dark":
        return np.clip(a, 0.0, 1.0)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    background = float(np.median(border))
    if background > 0.5:
        a, background = 1.0 - a, 1.0 - background
    return np.clip((a - background) / max(1.0 - background, 1e-6), 0.0, 1.0)


def _resize(ink: np.ndarray, width: int, height: int) -> np.ndarray:
    """Anti-aliased resize of a float image: area average when shrinking, bilinear when growing."""
    shrinking = width < ink.shape[1] or height < ink.shape[0]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(ink.astype(np.float32), mode="F").resize((width, height), method))


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    total = image.sum()
    rows, cols = np.indices(image.shape)
    return float((rows * image).sum() / total), float((cols * image).sum() / total)


def mnist_style(image, polarity: str = "auto") -> Prepared:
    """Crop to ink, fit the long side into 20 px, centre by centre of mass in 28x28."""
    ink = to_ink(image, polarity)
    mask = ink > INK_THRESHOLD
    if not mask.any():
        return Prepared(None, "empty")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = ink[top:bottom, left:right]
    h, w = crop.shape
    if 0.5 <= h / w <= 2.0 and mask[top:bottom, left:right].mean() > BLOB_FILL:
        return Prepared(None, "blob", (int(top), int(left), int(bottom), int(right)))
    factor = BOX / max(h, w)
    small = np.clip(_resize(crop, max(1, round(w * factor)), max(1, round(h * factor))), 0.0, 1.0)
    cy, cx = centre_of_mass(small)
    out = np.zeros((SIZE, SIZE), np.float32)
    oy, ox = int(round(SIZE / 2 - cy)), int(round(SIZE / 2 - cx))  # MNIST digits have their centre of mass at (14, 14)
    sh, sw = small.shape
    # paste with clipping: a very lopsided shape may lose a sliver at the edge, as in MNIST
    y0, x0 = max(oy, 0), max(ox, 0)
    y1, x1 = min(oy + sh, SIZE), min(ox + sw, SIZE)
    out[y0:y1, x0:x1] = small[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    return Prepared(out, "ok", (int(top), int(left), int(bottom), int(right)))


def naive_resize(image, polarity: str = "auto") -> Prepared:
    """The whole picture squeezed to 28x28, no cropping or centring (what many tutorials do)."""
    ink = to_ink(image, polarity)
    if not (ink > INK_THRESHOLD).any():
        return Prepared(None, "empty")
    return Prepared(np.clip(_resize(ink, SIZE, SIZE), 0.0, 1.0), "ok")


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
