"""Read a number: the digits of a picture side by side ("2026"), left to right, each made an MNIST-style input.

The ink is found as for one digit (``preprocess.find_ink``); its connected pieces are the candidates. Pieces
that overlap horizontally by at least half the narrower one's width are one digit (a 5's hat and its body, a
7's bar and its stem); so are pieces joined by faint ink while no wider than a digit (a stroke broken where
the pen ran dry); pieces side by side are different digits. Ink far wider than tall is digits that touch: it
is cut near where equal widths would end, where the fewest strokes cross. Each digit is cropped with its own
soft edge only, so a slanted neighbour reaching into its box is left out.

``read_number`` reads them with a model: the number as text and how sure the model is of all of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from model_store import preprocess
from model_store.masks import Piece, label_pieces
from model_store.preprocess import Prepared

SAME_DIGIT_OVERLAP = 0.5  # pieces overlapping horizontally by this share of the narrower one belong to one digit
TOUCHING_ASPECT = 1.2  # ink this much wider than tall is several digits that touch (one digit: at most ~1.1) ...
DIGIT_ASPECT = 0.7  # ... each about this wide for its height
CUT_STROKES = 2  # a cut crosses at most this many strokes: where digits touch, not through the middle of one
DIGIT_WIDTH = 1.0  # pieces on one faint stroke are one digit while together no wider than this times their height
SPLIT_ASPECT = 0.75  # a digit wider than this times the tallest's height may be two that touch: the model decides
SPLIT_MIDDLE = (0.3, 0.7)  # where such a digit is tried cut (shares of its width)
SPLIT_TRIES = 4  # columns tried
SPLIT_GAIN = 0.05  # cut when both halves are read surer than the whole, by this much


def group_pieces(pieces: list[Piece], stroke_of: Callable[[Piece], int] | None = None) -> list[list[Piece]]:
    """Pieces of ink (any order) gathered into digits, left to right. ``stroke_of`` tells which faint stroke (ink
    map above ``INK_THRESHOLD``) a piece lies on: pieces on one faint stroke are one digit as long as they stay no
    wider than a digit (a stroke broken by faint ink, not two digits whose edges touch)."""
    groups: list[list[Piece]] = []
    for piece in sorted(pieces, key=lambda p: (p.box[1], p.box[0])):
        if groups and _same_digit(groups[-1], piece, stroke_of):
            groups[-1].append(piece)
        else:
            groups.append([piece])
    return groups


def _same_digit(group: list[Piece], piece: Piece, stroke_of: Callable[[Piece], int] | None) -> bool:
    top, left, bottom, right = preprocess.union_box(group)
    overlap = min(right, piece.box[3]) - max(left, piece.box[1])
    if overlap >= SAME_DIGIT_OVERLAP * min(right - left, piece.width):
        return True
    top, bottom = min(top, piece.box[0]), max(bottom, piece.box[2])
    if max(right, piece.box[3]) - min(left, piece.box[1]) > DIGIT_WIDTH * (bottom - top) or stroke_of is None:
        return False
    return stroke_of(piece) in {stroke_of(p) for p in group}


def touching_cuts(core: np.ndarray, height: int = 0) -> list[int]:
    """Columns where ink far wider than tall is cut into the digits that touch there (none for one digit): near
    where equal widths would end, the column that crosses the fewest strokes (where two digits meet, often one),
    then the least ink, then the nearest; never one that crosses more than two strokes. ``height``: of the
    tallest digit beside it (a flat mark, a 7's bar or a minus, is not digits side by side)."""
    h, w = max(core.shape[0], height), core.shape[1]
    if w <= TOUCHING_ASPECT * h:
        return []
    n = max(2, round(w / (DIGIT_ASPECT * h)))
    ink_per_column = core.sum(axis=0)
    strokes_per_column = (np.diff(core.astype(np.int8), axis=0, prepend=0) == 1).sum(axis=0)
    cuts = []
    for i in range(1, n):
        low, high = int((i - 0.25) * w / n), int((i + 0.25) * w / n) + 1
        span = np.arange(low, min(high, w))
        best = np.lexsort((np.abs(span - i * w / n), ink_per_column[span], strokes_per_column[span]))[0]
        if strokes_per_column[span[best]] <= CUT_STROKES:
            cuts.append(int(span[best]))
    return cuts


@dataclass(frozen=True)
class Segment:
    """One digit's surely-ink ``core`` (a mask whose top-left corner is at ``at`` on the ink map), before it is
    prepared; ``tallest``: the height of the number's tallest digit, what its width is compared with."""

    core: np.ndarray
    at: tuple[int, int]
    tallest: int

    def prepared(self, ink) -> Prepared:
        return preprocess.prepare_digit(ink, self.core, self.at, alone=False)

    def split(self, column: int) -> tuple[Segment, Segment]:
        return (Segment(self.core[:, :column], self.at, self.tallest),
                Segment(self.core[:, column:], (self.at[0], self.at[1] + column), self.tallest))


def digit_segments(image, polarity: str = "auto"):
    """The ink (``preprocess.find_ink``) and each digit's ``Segment``, left to right (none without ink)."""
    ink = preprocess.find_ink(image, polarity)
    if ink.empty:
        return ink, []
    labels, pieces = preprocess.ink_pieces(ink)
    if not pieces:
        return ink, []
    strokes: list[np.ndarray] = []  # the faint strokes' labels, found only if two pieces could be one digit

    def stroke_of(piece: Piece) -> int:
        if not strokes:
            strokes.append(label_pieces((ink.map > preprocess.INK_THRESHOLD) | ink.strong)[0])
        top, left, _, right = piece.box
        return int(strokes[0][top, left + int(np.argmax(labels[top, left:right] == piece.index))])

    groups = group_pieces(pieces, stroke_of)
    tallest = max(box[2] - box[0] for box in map(preprocess.union_box, groups))
    segments = []
    for group in groups:
        top, left, bottom, right = preprocess.union_box(group)
        window = labels[top:bottom, left:right]
        core = window == group[0].index if len(group) == 1 else np.isin(window, [p.index for p in group])
        edges = [0, *touching_cuts(core, tallest), core.shape[1]]
        segments += [Segment(core[:, start:end], (top, left + start), tallest) for start, end in zip(edges, edges[1:])]
    return ink, segments


def prepared_segments(ink, segments: list[Segment]) -> list[tuple[Segment, Prepared]]:
    """Each segment with its digit prepared; a dot beside digits (a full stop, a speck) is left out, a lone dot kept
    (to be refused)."""
    pairs = [(segment, segment.prepared(ink)) for segment in segments]
    if any(digit.status == "ok" for _, digit in pairs):
        pairs = [(segment, digit) for segment, digit in pairs if digit.status != "dot"]
    return pairs


def segment_digits(image, polarity: str = "auto") -> list[Prepared]:
    """Each digit in the picture, left to right, as ``preprocess.mnist_style`` would prepare it alone.

    Every ``Prepared`` has its ``bbox`` on the picture. An empty list: no ink. A dot beside digits (a full stop,
    a speck) is left out; a lone dot, or a filled area anywhere, comes back with its status ("dot", "filled").
    """
    ink, segments = digit_segments(image, polarity)
    return [digit for _, digit in prepared_segments(ink, segments)]


def split_columns(segment: Segment) -> list[int]:
    """Where a digit wider than one usually is might be two that touch: the columns of its middle that cross the
    fewest strokes (then the least ink), a few pixels apart; none for a digit no wider than ``SPLIT_ASPECT``."""
    core = segment.core
    h, w = core.shape
    if w <= SPLIT_ASPECT * max(h, segment.tallest):
        return []
    low, high = int(SPLIT_MIDDLE[0] * w), int(SPLIT_MIDDLE[1] * w) + 1
    span = np.arange(max(low, 2), min(high, w - 2))
    if not span.size:
        return []
    strokes = (np.diff(core.astype(np.int8), axis=0, prepend=0) == 1).sum(axis=0)[span]
    ink = core.sum(axis=0)[span]
    chosen: list[int] = []
    for i in np.lexsort((ink, strokes)):
        if strokes[i] <= CUT_STROKES and all(abs(int(span[i]) - c) > max(2, w // 10) for c in chosen):
            chosen.append(int(span[i]))
        if len(chosen) == SPLIT_TRIES:
            break
    return chosen


@dataclass(frozen=True)
class DigitReading:
    """One digit of a number: its model input and box (``prepared``) and the model's answer for it (None while the
    number is refused: a filled area or a lone dot is not read)."""

    prepared: Prepared
    prediction: Any = None  # anything with ``label``, ``confidence`` and ``probabilities`` (an inference.Prediction)

    @property
    def image(self) -> np.ndarray | None:
        return self.prepared.image

    @property
    def bbox(self) -> tuple[int, int, int, int] | None:
        return self.prepared.bbox


@dataclass(frozen=True)
class NumberReading:
    """The digits of a picture, left to right, and whether they could be read (``status`` as ``Prepared``'s: "ok";
    "empty" without ink; "filled" or "dot" for the first digit that is not one, the others then unread)."""

    status: str
    digits: tuple[DigitReading, ...] = ()

    @property
    def refusal(self) -> str | None:
        """The ``model_store.refusal`` code that says why the number cannot be read; None when it is read."""
        return preprocess.REFUSAL.get(self.status)

    def text(self, names: list[str]) -> str:
        """The number as the model reads it ("2026"): each digit's class name, left to right."""
        return "".join(str(names[digit.prediction.label]) for digit in self.digits)

    @property
    def confidence(self) -> float:
        """How sure the model is of the whole number: the product of its digits' confidences. A number is right only
        if every digit is, so four digits at 90% each make 66%, not the 90% of the weakest one (the minimum would
        hide that a long number is more often wrong somewhere). 0 when nothing was read."""
        if self.status != "ok" or not self.digits:
            return 0.0
        return float(np.prod([digit.prediction.confidence for digit in self.digits]))


def read_number(picture, predict: Callable[[np.ndarray], Any], polarity: str = "auto") -> NumberReading | None:
    """The number in ``picture`` read digit by digit: ``predict`` maps each digit's 28x28 model input to the model's
    answer (or None when the model cannot answer: then the whole reading is None, the caller has said why).
    Nothing is predicted for a picture with no digits, a filled area or a lone dot: its status says which.

    A digit wider than one usually is (``split_columns``) may be two that touch without a stroke's gap between them
    (a "17" written tight): it is also read cut in two at a few columns, and kept cut when both halves are read
    surer than the whole (``SPLIT_GAIN``). The model decides what the ink's shape alone cannot."""
    ink, segments = digit_segments(picture, polarity)
    pairs = prepared_segments(ink, segments)
    if not pairs:
        return NumberReading("empty")
    refused = next((digit.status for _, digit in pairs if digit.status != "ok"), None)
    if refused is not None:
        return NumberReading(refused, tuple(DigitReading(digit) for _, digit in pairs))
    digits = []
    for segment, digit in pairs:
        read = _read_maybe_split(ink, segment, digit, predict)
        if read is None:
            return None
        digits += read
    return NumberReading("ok", tuple(digits))


def _read_maybe_split(ink, segment: Segment, digit: Prepared, predict) -> list[DigitReading] | None:
    whole = predict(digit.image)
    if whole is None:
        return None
    best = None
    for column in split_columns(segment):
        halves = [half.prepared(ink) for half in segment.split(column)]
        if any(half.status != "ok" for half in halves):
            continue
        answers = [predict(half.image) for half in halves]
        if any(answer is None for answer in answers):
            return None
        sureness = min(answer.confidence for answer in answers)
        if best is None or sureness > best[0]:
            best = (sureness, halves, answers)
    if best is not None and best[0] > whole.confidence + SPLIT_GAIN:
        return [DigitReading(half, answer) for half, answer in zip(best[1], best[2])]
    return [DigitReading(digit, whole)]
