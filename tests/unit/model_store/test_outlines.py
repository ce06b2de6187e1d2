"""model_store.outlines: a digit drawn as outlines (a hollow font) has the insides of its strokes filled in; a
digit's own loops, and digits drawn with an ordinary pen, are left as they are."""

from __future__ import annotations

import numpy as np

from model_store import outlines
from model_store import preprocess as pp
from model_store.masks import inner

SIZE = 280


def ellipse(height: float, width: float, centre=(140, 140)) -> np.ndarray:
    rows, cols = np.indices((SIZE, SIZE))
    return ((rows - centre[0]) / (height / 2)) ** 2 + ((cols - centre[1]) / (width / 2)) ** 2 <= 1.0


def bar(top=40, bottom=240, left=125, right=155) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), bool)
    mask[top:bottom, left:right] = True
    return mask


def outline(solid: np.ndarray, line: int = 3) -> np.ndarray:
    """The edge of a solid shape, ``line`` px wide: what a hollow font draws."""
    core = solid
    for _ in range(line):
        core = inner(core)
    return solid & ~core


def picture(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, 255, 0).astype(np.uint8)


def crop(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32)


def test_an_outlined_stroke_is_filled_and_reads_like_the_solid_one():
    solid = bar()
    insides = outlines.stroke_insides(crop(outline(solid)), crop(outline(solid)) > 0)
    assert insides is not None
    assert insides.sum() >= 0.9 * (crop(solid).sum() - crop(outline(solid)).sum())
    hollow, filled = pp.mnist_style(picture(outline(solid))), pp.mnist_style(picture(solid))
    assert hollow.status == "ok"
    assert np.abs(hollow.image - filled.image).mean() < 0.02


def test_an_outlined_ring_keeps_its_loop_open():
    """A '0' drawn as outlines: the band between the outlines is filled, the paper inside the 0 is not."""
    band = ellipse(200, 130) & ~ellipse(160, 90)
    hollow = outline(ellipse(200, 130)) | outline(ellipse(160, 90)) & ~ellipse(154, 84)
    prepared = pp.mnist_style(picture(hollow))
    solid = pp.mnist_style(picture(band))
    assert prepared.status == "ok"
    assert prepared.image[14, 14] < 0.05  # the loop's middle stays paper
    assert np.abs(prepared.image - solid.image).mean() < 0.03


def test_a_thin_pen_loop_is_not_a_stroke():
    """A '0' drawn with a thin pen is one outline round its loop: the loop is round, not a stroke's inside."""
    zero = outline(ellipse(200, 120), line=4)
    assert outlines.stroke_insides(crop(zero), crop(zero) > 0) is None


def test_an_ordinary_pen_is_never_looked_at():
    """A stroke as wide as a canvas pen's is not made of outlines: even its slit-like gaps stay."""
    eight = (ellipse(100, 90, (90, 140)) | ellipse(110, 100, (190, 140))) \
        & ~ellipse(70, 18, (90, 140)) & ~ellipse(80, 20, (190, 140))  # loops squeezed to slits
    assert outlines.line_width(crop(eight) > 0) >= outlines.HAIRLINE * 200
    assert outlines.stroke_insides(crop(eight), crop(eight) > 0) is None


def test_line_width_measures_a_line():
    mask = np.zeros((40, 100), bool)
    mask[10:16, 5:95] = True
    assert abs(outlines.line_width(mask) - 6) < 0.5
