"""model_store.preprocess: any drawing becomes an MNIST-like 28x28 image (20 px box, centre of mass at (14, 14))."""

from __future__ import annotations

import numpy as np
import pytest

from model_store import preprocess as pp
from model_store.model_input import to_float
from model_store.preprocess import PreprocessError

CANVAS = 280


def ring(centre=(140, 140), radius=60, thickness=14, size=CANVAS) -> np.ndarray:
    """White ring on black, uint8, on a square canvas."""
    rows, cols = np.indices((size, size))
    dist = np.hypot(rows - centre[0], cols - centre[1])
    return np.where(np.abs(dist - radius) <= thickness / 2, 255, 0).astype(np.uint8)


def line(top, left, length, thickness=16, slope=0.35, size=CANVAS) -> np.ndarray:
    """A thick slanted stroke (like a '1') starting at (top, left), white on black, uint8."""
    canvas = np.zeros((size, size), np.uint8)
    for t in range(length):
        r, c = top + t, int(round(left + slope * t))
        canvas[r, max(c - thickness // 2, 0): c + thickness // 2] = 255
    return canvas


def seven(top, left, scale=1.0, size=CANVAS) -> np.ndarray:
    """A '7': horizontal bar and a diagonal, scaled and placed anywhere."""
    canvas = np.zeros((size, size), np.uint8)
    w, h, t = int(120 * scale), int(180 * scale), max(int(16 * scale), 3)
    canvas[top: top + t, left: left + w] = 255
    for i in range(h):
        c = left + w - int(i * w * 0.6 / h)
        canvas[top + i, max(c - t, 0): c] = 255
    return canvas


def ink_box(image: np.ndarray, threshold: float = 0.0) -> tuple[int, int]:
    """(height, width) of the pixels brighter than ``threshold``."""
    rows = np.flatnonzero((image > threshold).any(axis=1))
    cols = np.flatnonzero((image > threshold).any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


DRAWINGS = {
    "ring-centre": ring(),
    "ring-top-left-small": ring((45, 50), 30, 10),
    "ring-bottom-right-big": ring((170, 175), 100, 20),
    "ring-tiny": ring((240, 30), 6, 4),
    "line-left": line(10, 20, 200),
    "line-right-short": line(150, 200, 90, thickness=10),
    "seven-top-left": seven(5, 5, 0.6),
    "seven-centre": seven(50, 80, 1.0),
    "seven-bottom-right": seven(100, 140, 0.9),
}


# ---- to_ink -----------------------------------------------------------------------------------------------
def test_white_on_black_grey_is_read_as_is():
    a = ring()
    np.testing.assert_allclose(pp.to_ink(a), a / 255.0, atol=1e-6)


def test_black_on_white_is_inverted():
    a = ring()
    np.testing.assert_allclose(pp.to_ink(255 - a), a / 255.0, atol=1e-6)


def test_float_input_in_0_1_and_uint8_agree():
    a = ring()
    np.testing.assert_allclose(pp.to_ink(a.astype(np.float32) / 255.0), pp.to_ink(a), atol=1e-6)
    np.testing.assert_allclose(pp.to_ink(a.astype(np.float64)), pp.to_ink(a), atol=1e-6)  # 0..255 floats


def test_grey_background_is_stretched_to_zero():
    a = np.full((50, 50), 0.3, np.float32)
    a[20:30, 10:40] = 1.0
    ink = pp.to_ink(a)
    assert ink[0, 0] == pytest.approx(0.0) and ink[25, 25] == pytest.approx(1.0)


@pytest.mark.parametrize("invert", [False, True], ids=["white-on-black", "black-on-white"])
def test_rgb_equals_grey(invert):
    a = ring()
    a = 255 - a if invert else a
    rgb = np.stack([a, a, a], axis=-1)
    np.testing.assert_allclose(pp.to_ink(rgb), pp.to_ink(a), atol=1e-5)


def test_rgb_coloured_ink_on_white():
    a = ring()
    rgb = np.full((*a.shape, 3), 255, np.uint8)
    rgb[a > 0] = (0, 0, 200)  # dark blue pen on white paper
    ink = pp.to_ink(rgb)
    assert ink[a == 0].max() == pytest.approx(0.0, abs=1e-6)
    assert ink[a > 0].min() > 0.8


def test_rgba_transparent_background_reads_the_alpha_channel():
    a = ring()
    rgba = np.zeros((*a.shape, 4), np.uint8)
    rgba[..., :3] = 0  # black strokes, and black "transparent" pixels: only alpha tells them apart
    rgba[..., 3] = a
    np.testing.assert_allclose(pp.to_ink(rgba), a / 255.0, atol=1e-6)
    rgba[..., :3] = 255  # white strokes on transparent: same ink
    np.testing.assert_allclose(pp.to_ink(rgba), a / 255.0, atol=1e-6)


def test_rgba_opaque_is_read_like_rgb():
    a = ring()
    rgba = np.stack([255 - a] * 3 + [np.full_like(a, 255)], axis=-1)  # black on white, fully opaque
    np.testing.assert_allclose(pp.to_ink(rgba), a / 255.0, atol=1e-5)


def test_single_channel_axis_is_dropped():
    a = ring()
    np.testing.assert_allclose(pp.to_ink(a[..., None]), pp.to_ink(a), atol=0)


def test_light_on_dark_polarity_never_inverts():
    a = 255 - ring()  # black on white
    ink = pp.to_ink(a, polarity="light-on-dark")
    np.testing.assert_allclose(ink, a / 255.0, atol=1e-6)
    assert pp.to_ink(a, polarity="auto")[0, 0] == 0.0


def test_ink_values_stay_in_0_1():
    a = np.random.default_rng(0).random((40, 40)) * 3 - 1  # floats outside [0, 1]
    ink = pp.to_ink(a)
    assert ink.min() >= 0.0 and ink.max() <= 1.0 and ink.dtype == np.float32


@pytest.mark.parametrize("bad", [
    np.zeros((28, 28, 2)), np.zeros((28, 28, 5)), np.zeros(784), np.zeros((1, 28, 28, 1)), np.zeros((0, 0)),
    np.array([[None, 1], [2, 3]], dtype=object), None, np.float32(3.0),
], ids=["2-channels", "5-channels", "flat", "4-d", "empty", "object", "none", "scalar"])
def test_wrong_inputs_raise_preprocess_error(bad):
    for function in (pp.to_ink, pp.mnist_style, pp.naive_resize):
        with pytest.raises(PreprocessError):
            function(bad)


def test_text_array_raises_preprocess_error():
    with pytest.raises(PreprocessError):
        pp.to_ink(np.array([["a", "b"], ["c", "d"]]))


# ---- mnist_style -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(DRAWINGS))
def test_mnist_style_box_and_centre(name):
    drawing = DRAWINGS[name]
    result = pp.mnist_style(drawing)
    assert result.status == "ok" and not result.empty
    image = result.image
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert max(ink_box(image)) in (19, 20)  # the long side of the ink fills the 20 px box
    assert max(ink_box(image, 0.5)) >= 17  # ... with solid ink, not a faint smear
    cy, cx = pp.centre_of_mass(image)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    if name.startswith("ring"):  # a balanced shape keeps MNIST's 4 px margin around the 20 px box on every side
        assert image[[0, 1, 2, -1, -2, -3], :].max() == 0 and image[:, [0, 1, 2, -1, -2, -3]].max() == 0


def test_mnist_style_bbox_is_the_ink_on_the_input():
    drawing = line(10, 20, 200)
    result = pp.mnist_style(drawing)
    rows = np.flatnonzero(drawing.any(axis=1))
    cols = np.flatnonzero(drawing.any(axis=0))
    assert result.bbox == (rows[0], cols[0], rows[-1] + 1, cols[-1] + 1)


def test_position_does_not_matter():
    """The same drawing anywhere on the canvas gives the very same 28x28 image."""
    outputs = [pp.mnist_style(ring(c, 40, 12)).image for c in [(50, 50), (140, 140), (220, 60), (75, 230)]]
    for other in outputs[1:]:
        np.testing.assert_allclose(other, outputs[0], atol=1e-6)
    outputs = [pp.mnist_style(seven(top, left, 0.7)).image for top, left in [(0, 0), (60, 100), (150, 190)]]
    for other in outputs[1:]:
        np.testing.assert_allclose(other, outputs[0], atol=1e-6)


def test_size_barely_matters():
    small, big = pp.mnist_style(seven(10, 10, 0.5)).image, pp.mnist_style(seven(10, 10, 1.2)).image
    assert np.abs(small - big).mean() < 0.02


def test_polarity_and_colour_do_not_matter():
    a = seven(40, 60)
    reference = pp.mnist_style(a).image
    rgba = np.zeros((*a.shape, 4), np.uint8)
    rgba[..., 3] = a
    variants = {
        "black-on-white": 255 - a,
        "rgb": np.stack([a] * 3, -1),
        "rgb-black-on-white": np.stack([255 - a] * 3, -1),
        "rgba-transparent": rgba,
        "float": a / 255.0,
    }
    for name, variant in variants.items():
        np.testing.assert_allclose(pp.mnist_style(variant).image, reference, atol=1e-4, err_msg=name)


def test_non_square_canvas():
    canvas = np.zeros((100, 400), np.uint8)
    canvas[30:70, 300:310] = 255  # a short vertical stroke far to the right
    canvas[30:40, 290:330] = 255
    image = pp.mnist_style(canvas).image
    assert max(ink_box(image)) in (19, 20)
    cy, cx = pp.centre_of_mass(image)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_a_small_drawing_is_scaled_up():
    canvas = np.zeros((28, 28), np.uint8)
    canvas[10:16, 12] = 255  # a six pixel stroke
    canvas[10, 12:15] = 255
    image = pp.mnist_style(canvas).image
    assert max(ink_box(image)) in (19, 20)


@pytest.mark.parametrize("canvas", [
    np.zeros((CANVAS, CANVAS), np.uint8),
    np.full((CANVAS, CANVAS), 255, np.uint8),
    np.full((CANVAS, CANVAS, 3), 255, np.uint8),
    np.zeros((CANVAS, CANVAS, 4), np.uint8),  # untouched transparent canvas
    np.full((CANVAS, CANVAS), 0.04, np.float32),  # faint noise under the ink threshold
], ids=["black", "white", "white-rgb", "transparent", "faint"])
def test_empty_canvas(canvas):
    for function in (pp.mnist_style, pp.naive_resize):
        result = function(canvas)
        assert result.status == "empty" and result.image is None and result.empty


def test_faint_specks_below_threshold_are_not_ink():
    canvas = np.zeros((CANVAS, CANVAS), np.float32)
    canvas[5, 5] = canvas[270, 270] = 0.09  # below INK_THRESHOLD
    canvas += seven(60, 60) / 255.0
    assert pp.mnist_style(canvas).bbox == pp.mnist_style(seven(60, 60)).bbox


@pytest.mark.parametrize("blob", ["disc", "square", "dot"])
def test_filled_areas_are_blobs(blob):
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    if blob == "disc":
        rows, cols = np.indices(canvas.shape)
        canvas[np.hypot(rows - 140, cols - 140) <= 50] = 255
    elif blob == "square":
        canvas[50:150, 60:140] = 255
    else:
        canvas[100:104, 100:104] = 255
    result = pp.mnist_style(canvas)
    assert result.status == "blob" and result.image is None and result.empty
    assert result.bbox is not None


# ---- naive_resize ------------------------------------------------------------------------------------------
def test_naive_resize_differs_from_mnist_style():
    drawing = seven(5, 5, 0.5)  # small, in the top-left corner
    naive, proper = pp.naive_resize(drawing), pp.mnist_style(drawing)
    assert naive.status == "ok" and naive.image.shape == (28, 28)
    assert naive.image.min() >= 0 and naive.image.max() <= 1
    assert max(ink_box(naive.image)) < 12  # squeezed with the empty canvas, the digit stays small
    cy, cx = pp.centre_of_mass(naive.image)
    assert cy < 9 and cx < 9  # ... and stays in the corner
    assert np.abs(naive.image - proper.image).mean() > 0.05


def test_naive_resize_of_a_28x28_image_is_the_image():
    a = np.random.default_rng(0).random((28, 28)).astype(np.float32) * 0.8 + 0.1
    a[0, :] = a[-1, :] = a[:, 0] = a[:, -1] = 0  # black border, so no inversion or stretch
    np.testing.assert_allclose(pp.naive_resize(a).image, a, atol=1e-5)


# ---- helpers ------------------------------------------------------------------------------------------------
def test_centre_of_mass_hand_cases():
    image = np.zeros((28, 28))
    image[3, 5] = 1.0
    assert pp.centre_of_mass(image) == (3.0, 5.0)
    image[7, 5] = 3.0
    assert pp.centre_of_mass(image) == pytest.approx((6.0, 5.0))


def test_uint8_round_trip():
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(pp.to_uint8(to_float(values)), values)
    np.testing.assert_array_equal(pp.to_uint8(np.array([-0.5, 0.0, 0.5, 1.0, 2.0])), [0, 0, 128, 255, 255])
