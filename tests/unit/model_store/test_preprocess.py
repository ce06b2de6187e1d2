"""model_store.preprocess: any picture of a digit becomes an MNIST-like 28x28 image (20 px box, centre of mass at
(14, 14)): canvas drawings as before, and soft, scanned, thick, inverted and photographed digits too; a dot, a
filled area or nothing at all is refused with its status."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

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
    assert ink[ring() > 0].max() == 0.0  # the dark ring is never ink, whatever the paper becomes
    assert pp.to_ink(a, polarity="auto")[0, 0] == 0.0
    np.testing.assert_allclose(pp.to_ink(a, polarity="dark-on-light"), pp.to_ink(a), atol=0)


def test_unknown_polarity_is_refused():
    with pytest.raises(PreprocessError, match="polarity"):
        pp.mnist_style(ring(), polarity="upside-down")


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


@pytest.mark.parametrize(("mark", "status"), [("disc", "filled"), ("square", "filled"), ("dot", "dot"),
                                              ("pixel", "dot"), ("big-dot", "dot")])
def test_dots_and_filled_areas_are_refused(mark, status):
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    rows, cols = np.indices(canvas.shape)
    if mark == "disc":
        canvas[np.hypot(rows - 140, cols - 140) <= 50] = 255
    elif mark == "square":
        canvas[50:150, 60:140] = 255
    elif mark == "dot":
        canvas[100:104, 100:104] = 255
    elif mark == "pixel":
        canvas[5, 5] = 255
    else:  # a press of the widest brush on the canvas
        canvas[np.hypot(rows - 60, cols - 200) <= 20] = 255
    photo = on_paper(canvas / 255.0) if mark != "pixel" else 255 - canvas  # one pixel does not survive a camera
    for picture in (canvas, 255 - canvas, photo):
        result = pp.mnist_style(picture)
        assert result.status == status and result.image is None and result.empty
        assert result.bbox is not None


def test_a_painted_over_canvas_is_a_filled_area():
    """The Draw page says light-on-dark: a canvas painted all over is ink everywhere, not a blank page."""
    painted = np.full((CANVAS, CANVAS, 4), 255, np.uint8)
    assert pp.mnist_style(painted, polarity="light-on-dark").status == "filled"
    painted[:3, :3, 3] = 0  # a corner left transparent: read from the alpha channel
    assert pp.mnist_style(painted, polarity="light-on-dark").status == "filled"
    assert pp.mnist_style(np.full((CANVAS, CANVAS), 255, np.uint8)).status == "empty"  # a white page


@pytest.mark.parametrize("shape", ["thick-ring", "bold-eight"])
def test_bold_digits_with_a_hole_are_not_filled_areas(shape):
    """A bold 0 or 8 covers most of its box, but its holes make it a digit."""
    if shape == "thick-ring":
        canvas = ring(radius=50, thickness=44)
    else:
        canvas = np.maximum(ring((90, 140), 38, 34), ring((178, 140), 46, 34))
    result = pp.mnist_style(canvas)
    assert result.status == "ok", result.status
    assert max(ink_box(result.image)) in (19, 20)


# ---- pictures not drawn on our canvas ------------------------------------------------------------------------
def soft(canvas: np.ndarray, sigma: float) -> np.ndarray:
    """Out of focus: a Gaussian blur of ``sigma`` px."""
    return np.asarray(Image.fromarray(canvas).filter(ImageFilter.GaussianBlur(sigma)))


def scanned(canvas: np.ndarray, low: int = 16) -> np.ndarray:
    """The ink's box scanned at ``low`` px tall and scaled back up with bicubic interpolation, where it was."""
    rows, cols = np.flatnonzero(canvas.any(axis=1)), np.flatnonzero(canvas.any(axis=0))
    top, left, bottom, right = rows[0], cols[0], rows[-1] + 1, cols[-1] + 1
    crop = Image.fromarray(canvas[top:bottom, left:right])
    small = crop.resize((max(2, round(crop.width * low / crop.height)), low), Image.Resampling.BOX)
    out = np.zeros_like(canvas)
    out[top:bottom, left:right] = np.asarray(small.resize(crop.size, Image.Resampling.BICUBIC))
    return out


def thick(canvas: np.ndarray, radius: int) -> np.ndarray:
    """A felt marker: every stroke ``radius`` px wider on each side."""
    return np.asarray(Image.fromarray(canvas).filter(ImageFilter.MaxFilter(2 * radius + 1)))


def on_paper(ink: np.ndarray, seed: int = 0, paper: float = 0.75, pen: float = 0.15, shadow: float = 0.3,
             quality: int = 60) -> np.ndarray:
    """Dark ink (``ink`` in [0, 1]) photographed on grey paper: a light gradient, a soft shadow over one corner,
    sensor noise, a slight blur and JPEG compression; uint8 grey."""
    rng = np.random.default_rng(seed)
    h, w = ink.shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    light = paper + 0.24 * (xx - 0.5) + 0.05 * (yy - 0.5)
    light = light * (1 - shadow / (1 + np.exp(-(xx + yy - 1.3) / 0.06))) + rng.normal(0, 0.02, (h, w))
    seen = light * (1 - ink) + pen * light * ink
    blurred = Image.fromarray(np.clip(seen * 255, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8))
    buffer = io.BytesIO()
    blurred.save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())))


SHAPES = {"0": "ring-centre", "7": "seven-centre", "1": "line-left"}


def read_as(result: pp.Prepared) -> str:
    """A tiny reader for these tests: the digit whose crisp drawing, prepared, correlates best with ``result``; the
    input must also be MNIST-like (20 px box of solid ink, centre of mass at (14, 14))."""
    assert result.status == "ok", result.status
    image = result.image
    assert max(ink_box(image)) in (19, 20) and max(ink_box(image, 0.5)) >= 16
    cy, cx = pp.centre_of_mass(image)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    scores = {digit: np.corrcoef(image.ravel(), pp.mnist_style(DRAWINGS[name]).image.ravel())[0, 1]
              for digit, name in SHAPES.items()}
    return max(scores, key=scores.get)


DIGIT_OF = {"ring-centre": "0", "ring-top-left-small": "0", "ring-bottom-right-big": "0", "seven-centre": "7",
            "seven-bottom-right": "7", "seven-top-left": "7", "line-left": "1", "line-right-short": "1"}


@pytest.mark.parametrize("name", ["ring-top-left-small", "ring-bottom-right-big", "seven-top-left",
                                  "seven-bottom-right", "line-right-short"])
@pytest.mark.parametrize("look", ["soft", "scanned", "thick", "inverted-soft"])
def test_soft_scanned_and_thick_digits_are_read(name, look):
    drawing = DRAWINGS[name]
    size = max(ink_box(drawing))
    if look == "soft":
        picture = soft(drawing, 0.04 * size)
    elif look == "scanned":
        picture = scanned(drawing)
    elif look == "thick":
        picture = thick(drawing, max(1, round(0.04 * size)))
    else:
        picture = 255 - soft(drawing, 0.03 * size)
    assert read_as(pp.mnist_style(picture)) == DIGIT_OF[name]


def test_a_scan_whose_soft_edge_fills_its_box_is_read():
    """What the old blob test refused: at its 0.1 threshold the soft edge of a bold scanned 0 filled the hole."""
    picture = soft(ring(radius=45, thickness=36), 10)
    inked = pp.to_ink(picture) > pp.INK_THRESHOLD
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    assert inked[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].mean() > 0.75  # the old blob test's measure
    result = pp.mnist_style(picture)
    assert result.status == "ok" and max(ink_box(result.image)) in (19, 20)
    assert result.image[13:15, 13:15].max() < 0.5 * result.image.max()  # the 0 keeps its hole


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", ["ring-top-left-small", "ring-bottom-right-big", "seven-top-left",
                                  "seven-bottom-right", "line-right-short"])
def test_photos_of_ink_on_paper_are_read(name, seed):
    drawing = DRAWINGS[name]
    photo = on_paper(drawing / 255.0, seed)
    assert read_as(pp.mnist_style(photo)) == DIGIT_OF[name]
    ink = pp.to_ink(photo)
    far = thick(drawing, 12) == 0  # paper well away from the strokes: the shadow and the gradient are gone
    assert np.percentile(ink[far], 99.9) < 0.1
    assert np.percentile(ink[drawing > 0], 75) > 0.8  # ink at full strength, although a grey pen on grey paper


def test_a_photo_in_a_dim_room_is_read():
    """Paper darker than mid grey (the old rule then took the paper for the background of bright ink)."""
    drawing = seven(50, 80)
    photo = on_paper(drawing / 255.0, paper=0.42, pen=0.2, shadow=0.15)
    assert np.median(photo) < 128
    assert read_as(pp.mnist_style(photo)) == "7"


def test_light_ink_on_a_dark_uneven_board_is_read():
    """Chalk on a blackboard: light ink, uneven light, noise."""
    drawing = seven(50, 80)
    board = 255 - on_paper(drawing / 255.0, paper=0.8, pen=0.3, shadow=0.0)
    assert read_as(pp.mnist_style(board)) == "7"
    assert read_as(pp.mnist_style(board, polarity="light-on-dark")) == "7"


def test_uneven_light_alone_is_blank():
    yy, xx = np.mgrid[0:CANVAS, 0:CANVAS] / CANVAS
    gradient = (0.3 + 0.6 * xx + 0.1 * yy) * 255
    shadowed = on_paper(np.zeros((CANVAS, CANVAS)), seed=3)
    for picture in (gradient.astype(np.uint8), shadowed, np.random.default_rng(0).normal(128, 6, (CANVAS, CANVAS))):
        assert pp.mnist_style(np.clip(picture, 0, 255).astype(np.uint8)).status == "empty"


def test_dust_on_a_photo_does_not_move_the_crop():
    drawing = seven(50, 80)
    dusty = drawing.copy()
    dusty[250:254, 20:24] = dusty[10:13, 260:263] = 255  # two specks far from the digit
    clean = pp.mnist_style(on_paper(drawing / 255.0))
    result = pp.mnist_style(on_paper(dusty / 255.0))
    assert result.bbox == clean.bbox
    np.testing.assert_allclose(result.image, clean.image, atol=0.05)


def test_a_dot_drawn_on_a_clean_canvas_stays_part_of_the_drawing():
    """On a clean picture nothing is dust: a stray dot moves the crop as it did (MNIST has a few such dots)."""
    drawing = seven(50, 80)
    drawing[250:254, 20:24] = 255
    assert pp.mnist_style(drawing).bbox == (50, 20, 254, 200)


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
    a = pp.mnist_style(ring(thickness=20)).image  # a 28x28 digit: black background, so no inversion or stretch
    np.testing.assert_allclose(pp.naive_resize(a).image, a, atol=1e-5)
    np.testing.assert_allclose(pp.naive_resize(pp.to_uint8(a)).image, pp.to_uint8(a) / 255.0, atol=1e-5)


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
