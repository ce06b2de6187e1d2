"""model_store.numbers: the digits of a picture side by side, left to right, each prepared as if drawn alone, and the
number they make as a model reads them (``read_number``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from model_store import numbers
from model_store import preprocess as pp
from model_store.masks import Piece
from model_store.store import DEFAULTS_DIR
from tests.unit.model_store.test_preprocess import on_paper, soft

PICTURES = Path(__file__).parent / "pictures"

HEIGHT = 100  # of a digit
PEN = 12


def draw(shape: str, pen: ImageDraw.ImageDraw, x: int, y: int, h: int = HEIGHT, width: int = PEN) -> None:
    """A digit-like shape ``h`` px tall with its top-left corner at (x, y), white on black."""
    w = int(0.6 * h)
    if shape == "0":
        pen.ellipse([x, y, x + w, y + h], outline=255, width=width)
    elif shape == "1":
        pen.line([(x + w // 2 + h // 8, y), (x + w // 2 - h // 8, y + h)], fill=255, width=width)
    elif shape == "7":
        pen.line([(x, y + width // 2), (x + w, y + width // 2), (x + w // 4, y + h)], fill=255, width=width,
                 joint="curve")
    elif shape == "7-apart":  # the bar drawn on its own, above the stem
        pen.line([(x, y + width // 2), (x + w, y + width // 2)], fill=255, width=width)
        pen.line([(x + w - width // 2, y + 2 * width), (x + w // 4, y + h)], fill=255, width=width)
    elif shape == "5":  # the hat apart from the body, as people write it
        pen.line([(x + w // 4, y + width // 2), (x + w, y + width // 2)], fill=255, width=width)
        pen.line([(x + w // 4 - width // 2, y + 2 * width), (x + w // 4 - width // 2, y + h // 2)], fill=255,
                 width=width)
        pen.arc([x, y + h // 3, x + w, y + h], start=-150, end=140, fill=255, width=width)
    elif shape == "dot":
        pen.ellipse([x, y + h - width * 2, x + width * 2, y + h], fill=255)
    elif shape == "square":
        pen.rectangle([x, y, x + w, y + int(0.8 * h)], fill=255)
    else:
        raise ValueError(shape)


def number(shapes: str, gap: int = 40, offsets=None, only: int | None = None) -> np.ndarray:
    """Shapes (``"170"``, or ``"5|7-apart"`` separated by ``|``) side by side, ``gap`` px apart, white on black;
    with ``only``, that shape alone where it would be (the same picture otherwise)."""
    parts = shapes.split("|") if "|" in shapes or len(shapes) > 1 and not shapes.isdigit() else list(shapes)
    offsets = offsets or [0] * len(parts)
    img = Image.new("L", (60 + len(parts) * (int(0.6 * HEIGHT) + gap), HEIGHT + 120), 0)
    pen = ImageDraw.Draw(img)
    x = 30
    for i, (part, dy) in enumerate(zip(parts, offsets)):
        if only is None or only == i:
            draw(part, pen, x, 60 + dy)
        x += int(0.6 * HEIGHT) + gap
    return np.asarray(img)


def alone(shapes: str, i: int, **kwargs) -> np.ndarray:
    """The ``i``-th shape of ``number(shapes, ...)`` prepared by itself."""
    return pp.mnist_style(number(shapes, only=i, **kwargs)).image


@pytest.mark.parametrize("shapes", ["17", "170", "7101", "0707"])
@pytest.mark.parametrize("ink", ["light-on-dark", "dark-on-light", "photo"])
def test_digits_are_read_left_to_right_each_as_if_alone(shapes, ink):
    offsets = [(-1) ** i * 12 for i in range(len(shapes))]
    picture = number(shapes, offsets=offsets)
    if ink == "dark-on-light":
        picture = 255 - picture
    elif ink == "photo":
        picture = on_paper(picture / 255.0, seed=len(shapes))
    digits = numbers.segment_digits(picture)
    assert [d.status for d in digits] == ["ok"] * len(shapes)
    lefts = [d.bbox[1] for d in digits]
    assert lefts == sorted(lefts)
    for i, digit in enumerate(digits):
        reference = alone(shapes, i, offsets=offsets)
        if ink == "photo":  # against the crisp drawings: nearest to its own (a little blur and noise)
            likeness = {j: np.corrcoef(digit.image.ravel(), alone(shapes, j, offsets=offsets).ravel())[0, 1]
                        for j in range(len(shapes))}
            assert shapes[max(likeness, key=likeness.get)] == shapes[i]
        else:
            np.testing.assert_allclose(digit.image, reference, atol=1e-6)


def test_boxes_are_on_the_picture_given():
    picture = number("170")
    digits = numbers.segment_digits(picture)
    for digit in digits:
        top, left, bottom, right = digit.bbox
        assert picture[top:bottom, left:right].any()
        assert not picture[:top].any() or not picture[:top, left:right].any()
    big = np.asarray(Image.fromarray(picture).resize((picture.shape[1] * 3, picture.shape[0] * 3)))  # past WORK_SIDE
    for small_box, big_box in zip((d.bbox for d in digits), (d.bbox for d in numbers.segment_digits(big))):
        assert all(abs(3 * a - b) <= 6 for a, b in zip(small_box, big_box)), (small_box, big_box)


@pytest.mark.parametrize("shapes", ["5", "7-apart", "5|7-apart", "7-apart|5|1"])
def test_the_parts_of_one_digit_stay_together(shapes):
    """A 5's hat and a 7's bar, drawn apart from the rest, overlap it horizontally: one digit each."""
    parts = shapes.split("|")
    picture = number(shapes, gap=40)
    digits = numbers.segment_digits(picture)
    assert len(digits) == len(parts) and all(d.status == "ok" for d in digits)
    pieces = pp.ink_pieces(pp.find_ink(picture))[1]
    assert len(pieces) > len(parts)  # they really are apart


def test_slanted_neighbours_are_cut_apart_without_each_others_ink():
    """Boxes that overlap a little (a slanted 1 leaning over the next digit) are still two digits, and each crop
    leaves the neighbour's ink out."""
    picture = number("10", gap=-14)
    ink = pp.find_ink(picture)
    boxes = [p.box for p in pp.ink_pieces(ink)[1]]
    assert boxes[0][3] > boxes[1][1]  # the boxes overlap
    digits = numbers.segment_digits(picture)
    assert len(digits) == 2
    for i, digit in enumerate(digits):
        np.testing.assert_allclose(digit.image, alone("10", i, gap=-14), atol=1e-6)


def test_digits_that_touch_are_cut_where_the_ink_is_thinnest():
    img = Image.new("L", (500, 260), 0)
    pen = ImageDraw.Draw(img)
    pen.ellipse([60, 60, 140, 160], outline=255, width=PEN)
    pen.ellipse([134, 60, 214, 160], outline=255, width=PEN)  # touching the first
    picture = np.asarray(img)
    assert len(pp.ink_pieces(pp.find_ink(picture))[1]) == 1  # one piece of ink
    digits = numbers.segment_digits(picture)
    assert len(digits) == 2 and all(d.status == "ok" for d in digits)
    assert 130 <= digits[0].bbox[3] <= 155 and 120 <= digits[1].bbox[1] <= 145  # near where they touch (137)


def test_one_wide_digit_is_not_cut():
    img = Image.new("L", (400, 260), 0)
    ImageDraw.Draw(img).ellipse([60, 60, 60 + 110, 160], outline=255, width=PEN)  # a 0 wider than tall
    assert len(numbers.segment_digits(np.asarray(img))) == 1


def test_pieces_joined_by_faint_ink_are_one_digit():
    """A stroke whose middle is faint (a pen running dry) breaks into pieces side by side; the faint ink between
    them joins them, as long as they stay no wider than a digit."""
    img = Image.new("L", (400, 260), 0)
    pen = ImageDraw.Draw(img)
    pen.line([(100, 60), (100, 160)], fill=255, width=PEN)  # an L: the stem ...
    pen.line([(116, 154), (170, 154)], fill=255, width=PEN)  # ... and its foot, apart
    pen.line([(104, 154), (116, 154)], fill=60, width=PEN)  # joined by faint ink
    picture = np.asarray(img)
    assert len(pp.ink_pieces(pp.find_ink(picture))[1]) == 2
    assert len(numbers.segment_digits(picture)) == 1
    picture = picture.copy()
    picture[picture == 60] = 0
    assert len(numbers.segment_digits(picture)) == 2


def test_soft_and_close_digits_stay_apart():
    """Blurred digits 10 px apart: their soft edges touch, their strokes do not."""
    picture = soft(number("707", gap=10), 4)
    assert [d.status for d in numbers.segment_digits(picture)] == ["ok"] * 3


@pytest.mark.parametrize("name", ["bold-1359-photo.png", "bold-4015-photo.png"])
def test_bold_numbers_photographed_on_unevenly_lit_paper_are_found(name):
    """Two photos from bench/read_anything.py (seed 0) that once read as empty: bold strokes covered the tiles that
    would have shown the light changing, one paper level was taken, and the paper's shading, left in as noise, hid
    the ink."""
    picture = np.asarray(Image.open(PICTURES / name))
    assert not pp.find_ink(picture).empty
    digits = numbers.segment_digits(picture)
    assert [d.status for d in digits] == ["ok"] * 4
    lefts = [d.bbox[1] for d in digits]
    assert lefts == sorted(lefts) and lefts[-1] > picture.shape[1] / 2


def test_a_dot_beside_digits_is_left_out_but_a_lone_dot_or_a_filled_area_is_refused():
    digits = numbers.segment_digits(number("1|dot|7"))
    assert len(digits) == 2
    np.testing.assert_allclose(digits[1].image, alone("1|dot|7", 2), atol=1e-6)
    assert [d.status for d in numbers.segment_digits(number("dot"))] == ["dot"]
    assert [d.status for d in numbers.segment_digits(number("1|square|7"))] == ["ok", "filled", "ok"]
    assert numbers.segment_digits(np.zeros((200, 500), np.uint8)) == []
    assert numbers.segment_digits(on_paper(np.zeros((200, 500)), shadow=0.0)) == []


def test_group_pieces_by_horizontal_overlap():
    def piece(index, left, right, top=0, bottom=100):
        return Piece(index, (top, left, bottom, right), (right - left) * (bottom - top) // 4)

    body, hat, next_digit = piece(1, 10, 60, 30), piece(2, 20, 70, 0, 12), piece(3, 75, 130)
    groups = numbers.group_pieces([next_digit, hat, body])
    assert [[p.index for p in g] for g in groups] == [[1, 2], [3]]
    leaning = piece(4, 55, 110)  # overlaps the body by 5 px of its 55: a neighbour, not a part
    assert len(numbers.group_pieces([body, leaning])) == 2
    one_stroke = {1: 9, 4: 9, 5: 9}.get
    assert len(numbers.group_pieces([body, leaning], lambda p: one_stroke(p.index))) == 1  # on one faint stroke
    far = piece(5, 140, 200)
    assert len(numbers.group_pieces([body, far], lambda p: one_stroke(p.index))) == 2  # together wider than a digit


def test_touching_cuts():
    core = np.zeros((100, 130), bool)
    core[:, :8] = core[:, 55:63] = core[:, 122:] = True  # two boxes side by side sharing a wall
    core[:8] = core[-8:] = True
    cuts = numbers.touching_cuts(core)
    assert len(cuts) == 1 and 55 <= cuts[0] < 63  # through the shared wall, where one stroke is crossed
    assert numbers.touching_cuts(core[:, :63]) == []  # no wider than tall: one digit
    assert numbers.touching_cuts(core[:20, :110], height=100) == []  # a flat mark beside digits 100 px tall
    core[40:48, :] = True  # a bar through both: three strokes everywhere near the middle
    assert numbers.touching_cuts(core[:, :]) == [] or core[:, numbers.touching_cuts(core)[0]].sum() == 100


# ---- read_number ------------------------------------------------------------------------------------
NAMES = [str(i) for i in range(10)]


class Answers:
    """A stand-in model: answers ``labels`` in turn, each with ``confidence``, and keeps the inputs it was given."""

    def __init__(self, labels: str, confidence: float = 0.9):
        self.labels, self.confidence, self.inputs = [int(c) for c in labels], confidence, []

    def __call__(self, image: np.ndarray):
        self.inputs.append(image)
        probabilities = np.full(10, (1 - self.confidence) / 9)
        probabilities[self.labels[len(self.inputs) - 1]] = self.confidence
        return SimpleNamespace(label=int(np.argmax(probabilities)), confidence=float(probabilities.max()),
                               probabilities=probabilities)


def test_a_number_is_each_digits_answer_left_to_right_and_as_sure_as_all_of_them_together():
    picture = number("170")
    model = Answers("170", confidence=0.9)
    read = numbers.read_number(picture, model)
    assert read.status == "ok" and read.refusal is None
    assert read.text(NAMES) == "170"
    segments = numbers.segment_digits(picture)
    assert len(model.inputs) == 3  # each digit's own MNIST-style input, in order, with its box on the picture
    for digit, segment, given in zip(read.digits, segments, model.inputs):
        np.testing.assert_array_equal(given, segment.image)
        assert digit.image is given and digit.bbox == segment.bbox
    assert read.confidence == pytest.approx(0.9 ** 3)  # the product: every digit must be right
    assert numbers.read_number(picture, Answers("170", confidence=1.0)).confidence == pytest.approx(1.0)


def test_class_names_make_the_text():
    read = numbers.read_number(number("17"), Answers("17"))
    assert read.text(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]) == "oneseven"


@pytest.mark.parametrize(("picture", "status", "code", "found"), [
    (np.zeros((200, 500), np.uint8), "empty", "image_empty", 0),
    (number("dot"), "dot", "image_dot", 1),
    (number("1|square|7"), "filled", "image_filled", 3),
])
def test_nothing_is_read_from_a_picture_without_digits_a_dot_or_a_filled_area(picture, status, code, found):
    model = Answers("0000")
    read = numbers.read_number(picture, model)
    assert (read.status, read.refusal) == (status, code)
    assert model.inputs == [] and read.confidence == 0.0
    assert len(read.digits) == found and all(d.prediction is None and d.bbox for d in read.digits)  # boxes to show


def test_a_model_that_cannot_answer_leaves_no_reading():
    assert numbers.read_number(number("17"), lambda image: None) is None


def test_the_polarity_given_is_used():
    picture = 255 - number("17")  # dark ink on light paper
    assert numbers.read_number(picture, Answers("17"), "dark-on-light").text(NAMES) == "17"
    assert numbers.read_number(picture, Answers("17"), "light-on-dark").status != "ok"  # the paper read as ink


HANDWRITING = ("DkgHandwriting", "Rufscript", "HumorSans")


@pytest.mark.skipif(not (DEFAULTS_DIR / "convscope-digits.keras").exists(), reason="the shipped digit model is missing")
def test_the_shipped_model_reads_a_year_written_in_handwriting_fonts():
    from model_store.inference import Predictor
    from model_store.store import ModelStore
    from training.handwriting import available_fonts

    fonts = {name: path for name, path in available_fonts().items() if name in HANDWRITING}
    if not fonts:
        pytest.skip(f"none of the handwriting fonts {HANDWRITING} is installed (training/handwriting.py)")
    predictor = Predictor(ModelStore().load("convscope-digits"))
    for name, path in fonts.items():
        font = ImageFont.truetype(str(path), 120)
        img = Image.new("L", (600, 240), 0)
        ImageDraw.Draw(img).text((40, 40), "2026", fill=255, font=font)
        for picture in (np.asarray(img), 255 - np.asarray(img)):  # a canvas, and ink on paper
            read = numbers.read_number(picture, predictor)
            assert read.text(NAMES) == "2026", name
            assert 0 < read.confidence <= min(d.prediction.confidence for d in read.digits)


class ByWidth:
    """A stand-in model that reads a prepared digit by the width of its ink: a narrow one is a 1, a middling one a
    7, both surely; a wide one an 8, at ``wide_confidence`` (two touching digits often look like one wide one)."""

    def __init__(self, wide_confidence: float):
        self.wide_confidence, self.inputs = wide_confidence, 0

    def __call__(self, image: np.ndarray):
        self.inputs += 1
        width = int(np.flatnonzero(image.max(axis=0) > 0.3).size)
        label, confidence = (1, 0.99) if width < 10 else (7, 0.99) if width < 15 else (8, self.wide_confidence)
        probabilities = np.full(10, (1 - confidence) / 9)
        probabilities[label] = confidence
        return SimpleNamespace(label=label, confidence=confidence, probabilities=probabilities)


def test_two_digits_that_touch_without_a_gap_are_cut_where_the_model_reads_both_surely():
    picture = number("17", gap=-20)  # the 7's bar runs into the 1: one piece of ink, not wide enough to be cut by shape
    assert len(numbers.segment_digits(picture)) == 1
    read = numbers.read_number(picture, ByWidth(wide_confidence=0.6))
    assert read.text(NAMES) == "17" and len(read.digits) == 2
    left, right = (digit.bbox for digit in read.digits)
    assert left[1] < right[1] and left[3] <= right[3]  # left to right, each with its own box on the picture


def test_a_wide_digit_the_model_reads_surely_is_not_cut():
    assert numbers.read_number(number("17", gap=-20), ByWidth(wide_confidence=0.99)).text(NAMES) == "8"


def test_a_digit_no_wider_than_one_is_read_once():
    model = ByWidth(wide_confidence=0.2)
    assert numbers.read_number(number("0"), model).status == "ok" and model.inputs == 1  # never tried cut
