"""Digits drawn as outlines (a hollow "bubble" font, a stroke traced round its edge): the insides of their strokes.

MNIST has no such digits, and a model trained on it reads a double outline poorly (a "1" outlined is a long ring).
Filled in, the outline becomes the solid stroke it stands for. A stroke's inside is told from a digit's own loop
(the paper inside a 0, 6, 8 or 9) by its shape: the space between a stroke's two outlines is long and narrow and
wider than the outlines themselves, where a loop is round or oval. Only ink made of thin lines is looked at, so a
drawing with an ordinary pen or an MNIST digit never changes. A large digit drawn with the canvas' thinnest pen is
looked at: of its loops only one narrower than about 1:4 is filled (a 0 that thin reads as a 1 either way).
"""

from __future__ import annotations

import numpy as np

from model_store.masks import close, holes, inner

RIDGES = (0.5, 0.3)  # the ink levels where a stroke's outlines are looked for: crisp lines, then blurred ones
HAIRLINE = 0.065  # surely-ink in lines thinner than this share of the digit's long side may be outlines (a pen: 0.07-0.2)
SEAL = 0.025  # breaks in an outline narrower than this share of the long side are closed first
INSIDE_WIDTH = 0.15  # a stroke's inside is at most this wide (share of the long side) ...
INSIDE_OVER_LINE = 1.5  # ... at least this many times as wide as its outlines ...
INSIDE_LENGTH = 6.0  # ... and long: perimeter² / (4 x area) this high (a circle ~3, a digit's loop 2.4-5, a 1's inside 15)


def line_width(mask: np.ndarray) -> float:
    """The mean width of a mask's lines in pixels: twice its area over its boundary (a line of width w: w)."""
    area = int(mask.sum())
    return 2 * area / max(area - int(inner(mask).sum()), 1)


def stroke_insides(ink: np.ndarray, strong: np.ndarray) -> np.ndarray | None:
    """Where the insides of outlined strokes are on ``ink`` (one digit's ink map cropped to it, ink = 1; ``strong``:
    where ink surely is on it), or None when the digit is not drawn as outlines."""
    side = max(ink.shape)
    if side < 8 or line_width(strong) >= HAIRLINE * side:
        return None
    found = None
    for ridge in RIDGES:
        insides = _insides_at(ink > ridge, side)
        if insides is not None:
            found = insides if found is None else found | insides
    return found


def _insides_at(lines: np.ndarray, side: int) -> np.ndarray | None:
    """The long, narrow holes of a mask of lines (its small breaks closed first), with the breaks."""
    sealed = close(lines, max(1, round(SEAL * side)))
    labels, found = holes(sealed)
    if not found:
        return None
    paper = labels > 0
    count = int(labels.max()) + 1
    area = np.bincount(labels[paper], minlength=count)
    boundary = np.bincount(labels[paper & ~inner(paper)], minlength=count)
    width = 2 * area / np.maximum(boundary, 1)
    length = boundary.astype(float) ** 2 / np.maximum(4 * area, 1)
    thin = (area > 0) & (width <= INSIDE_WIDTH * side) & (width >= INSIDE_OVER_LINE * line_width(lines)) \
        & (length >= INSIDE_LENGTH)
    if not thin.any():
        return None
    return (paper & thin[labels]) | (sealed & ~lines)
