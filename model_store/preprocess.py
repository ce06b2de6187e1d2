"""Turn a picture of a digit, whatever made it, into the 28x28 image a model trained on MNIST expects.

MNIST itself was made this way: crop to the ink, scale the long side to 20 px with anti-aliasing, and place
the result in 28x28 so that its centre of mass sits in the centre. Before that, the ink has to be found, and a
picture is not always a clean canvas: a scan has soft edges, a marker thick strokes, a phone photo grey paper,
uneven light, a shadow and JPEG noise, and the ink may be dark on light or light on dark. So:

1. grey levels, ink bright (the polarity given, or the side the ink is on, see ``_ink_is_dark``);
2. the background: one level when the light is even (a canvas, a scan, MNIST: exactly what the old recipe
   subtracted), else a smooth field from the paper around the ink (tile statistics with the ink left out);
3. Otsu's threshold on the flattened picture separates surely-ink from paper. A clean picture (flat, noiseless
   paper: a canvas, MNIST) keeps its ink levels as drawn; on a noisy one (a photo) the ink map starts above the
   paper's noise and faint ink is brought up to full strength;
4. the connected pieces of surely-ink; on a noisy picture, grains and specks far smaller than the largest piece
   are dust (on a clean one every dot was drawn, as MNIST's few stray dots were);
5. a digit drawn as outlines (a hollow font) has the insides of its strokes filled in (``model_store.outlines``);
   a dot or a filled area (solid, no hole) is refused; otherwise crop to the ink with its soft edge and place it.

Canvas drawings and MNIST's own digits come out exactly as the old recipe made them.

The naive resize (the whole picture squeezed to 28x28, as many tutorials do) is here too, so the app can show
the difference. ``model_store.numbers`` reads several digits side by side from the same pieces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from model_store import outlines
from model_store.masks import Piece, grow, holes, label_pieces
from model_store.model_input import SIDE

INK_THRESHOLD = 0.1  # on the ink map: a pixel this bright belongs to a stroke (its soft edge included)
BOX = 20  # MNIST fitted each digit's long side into 20 px ...
SIZE = SIDE  # ... and centred it in 28 x 28
POLARITIES = ("auto", "light-on-dark", "dark-on-light")

WORK_SIDE = 400  # a larger picture is read at this long side: a digit needs 20 px, and time grows with pixels
COARSE_SIDE = 64  # the background is estimated on the picture shrunk to this long side ...
TILE = 8  # ... in tiles of about this many coarse pixels
DECISIVE = 4.0  # deviations from the median level this one-sided settle the polarity at once
CLEAR_SKEW = 0.5  # a skewness of the picture's fine detail this far from 0 shows the ink's side
EVEN_LIGHT = 0.06  # background levels that vary less than this across the picture are one level
MAX_BACKGROUND = 0.75  # with the polarity given, the background is on the dark side of this (ink bright)
MIN_CONTRAST = 0.06  # ink fainter than this (or than NOISE_CONTRAST x the paper's noise) is no ink
NOISE_CONTRAST = 6.0
NOISE_FLOOR = 3.0  # the ink map starts this many noise deviations above the paper
FULL_INK = 0.9  # ink whose typical level reaches this share of the full range keeps the old scale
MIN_PIXELS = 4  # on a noisy picture, a piece of ink smaller than this many pixels ...
GRAIN_SHARE = 0.0002  # ... or this share of the picture is its grain (sensor noise, JPEG), even alone
SPECK_SHARE = 0.03  # a piece of ink with less than this share of the largest one's pixels ...
SPECK_SIDE = 0.25  # ... and shorter than this share of the longest one's long side is dust, not part of a digit
SOLID_FILL = 0.7  # share of its box a dot or a filled area covers; a digit's strokes cover less or leave a hole
CONVEX_FILL = 0.99  # ... and nearly all of the span between its first and last pixel in every row and column
HOLE_SHARE = 0.004  # a hole this big (share of the box) makes a thick 0, 6, 8 or 9 a digit, not a filled area
HALF = 0.5  # surely-ink over more of the picture than this is a filled area (the paper said to be ink)
DOT_SHARE = 0.2  # a solid mark whose long side is under this share of the picture's short side is a dot
EDGE_SHARE = 0.06  # a stroke's soft edge reaches this share of the ink's long side (plus 2 px) beyond its core
FAINT_REACH = 0.35  # faint ink this close to a lone digit's core (share of its long side, plus 2 px) is part of it


class PreprocessError(ValueError):
    """The image cannot be turned into a model input (wrong shape or type); the message says why."""


@dataclass(frozen=True)
class Prepared:
    image: np.ndarray | None  # (28, 28) float32 in [0, 1], ink bright; None unless status is "ok"
    status: str  # "ok"; "empty" (no ink); "dot" (a small solid mark); "filled" (a filled area, not strokes)
    bbox: tuple[int, int, int, int] | None = None  # top, left, bottom, right of the ink on the input

    @property
    def empty(self) -> bool:
        return self.image is None


REFUSAL = {"empty": "image_empty", "dot": "image_dot", "filled": "image_filled"}  # status -> model_store.refusal code


@dataclass(frozen=True)
class Ink:
    """A picture's ink, found once; the single-digit and the number readers both start from it."""

    map: np.ndarray  # (h, w) float32 in [0, 1], ink = 1, on the picture (shrunk to WORK_SIDE at most)
    strong: np.ndarray  # (h, w) bool: surely ink (above Otsu's threshold of the flattened picture)
    picture: tuple[int, int]  # height and width of the picture given (the map's is ``map.shape``)
    clean: bool = True  # a flat, noiseless background (a canvas, MNIST): the ink is taken exactly as drawn

    @property
    def empty(self) -> bool:
        return not self.strong.any()

    def on_picture(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A box on the map as a box on the picture given."""
        fy, fx = self.picture[0] / self.map.shape[0], self.picture[1] / self.map.shape[1]
        top, left, bottom, right = box
        return int(top * fy), int(left * fx), int(min(round(bottom * fy), self.picture[0])), \
            int(min(round(right * fx), self.picture[1]))


# ---- grey levels -------------------------------------------------------------------------------------------
def _grey(image) -> tuple[np.ndarray, bool]:
    """Grey levels in [0, 1] as float32, and whether they are a transparent canvas' alpha (then already ink)."""
    a = np.asarray(image)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or a.size == 0:
        raise PreprocessError("the image is empty or not numeric")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise PreprocessError(f"expected a grey, RGB or RGBA image, got an array of shape {a.shape}")
    scale = 255.0 if a.dtype == np.uint8 or a.max() > 1.0 else 1.0
    if a.ndim == 3:
        if a.shape[2] == 4 and a[..., 3].min() < 0.99 * scale:
            return np.clip(a[..., 3].astype(np.float32) / scale, 0.0, 1.0), True  # strokes on a transparent canvas
        if a.dtype == np.uint8:  # Pillow's integer luma (alpha ignored): the same weights, many times faster
            a = np.asarray(Image.fromarray(np.ascontiguousarray(a)).convert("L"))
        else:
            a = a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(255.0), False
    return np.clip(a.astype(np.float32) / scale, 0.0, 1.0), False


def _resize(ink: np.ndarray, width: int, height: int) -> np.ndarray:
    """Anti-aliased resize of a float image: area average when shrinking, bilinear when growing."""
    shrinking = width < ink.shape[1] or height < ink.shape[0]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(ink.astype(np.float32), mode="F").resize((width, height), method))


def _shrunk(a: np.ndarray, side: int) -> np.ndarray:
    h, w = a.shape
    if max(h, w) <= side:
        return a
    f = side / max(h, w)
    return _resize(a, max(1, round(w * f)), max(1, round(h * f)))


def _block_means(a: np.ndarray, block: int) -> np.ndarray:
    """The mean of each ``block`` x ``block`` square (a remainder at the bottom and right is left out)."""
    h, w = a.shape[0] // block, a.shape[1] // block
    if block == 1 or h == 0 or w == 0:
        return a if block == 1 else _resize(a, max(1, w), max(1, h))
    rows = a[:h * block, :w * block].reshape(h, block, w * block).sum(axis=1)
    return rows.reshape(h, w, block).sum(axis=2) * np.float32(1.0 / (block * block))


def _ink_is_dark(grey: np.ndarray, coarse: np.ndarray) -> bool:
    """Which side the ink is on, asked three ways, each where it is reliable (the coarse picture is enough).

    1. Under even light, ink is the side whose deviations from the median level weigh more: strokes stand far
       from the paper on one side only. A big bold digit is still a minority of the pixels.
    2. Otherwise strokes are thin against the light's changes: what a small blur takes away is skewed towards
       the ink (a few pixels far off on one side, many a little off on the other); a shadow is not.
    3. Otherwise the deviations from the median of each tile and its neighbours, as in 1.
    Failing all three, the old rule: the border is the background, and a light background means dark ink.
    """
    dev = coarse - _median(coarse)
    spread = 1.4826 * _median(np.abs(dev))
    if spread <= EVEN_LIGHT:
        dark = _one_sided(dev, max(3.0 * spread, 0.02), DECISIVE)
        if dark is not None:
            return dark
    detail = coarse - _box_mean(coarse, 2)
    square = detail * detail
    skew = float((square * detail).mean()) / (float(square.mean()) ** 1.5 + 1e-12)
    if abs(skew) >= CLEAR_SKEW:
        return skew < 0
    tiles, th, tw = _tiles(coarse)
    middle = np.partition(tiles, tiles.shape[2] // 2, axis=2)[..., tiles.shape[2] // 2]
    local = coarse - _upsampled(_neighbourhood_median(middle), coarse.shape, th, tw)
    dark = _one_sided(local, max(3.0 * 1.4826 * _median(np.abs(local)), 0.02), 1.5)
    return _border_level(grey) > 0.5 if dark is None else dark


def _box_mean(a: np.ndarray, radius: int) -> np.ndarray:
    """The mean over a (2 radius + 1) square around each pixel (the edges repeated), by running sums."""
    k = 2 * radius + 1
    sums = np.cumsum(np.pad(a, ((radius + 1, radius), (radius, radius)), mode="edge"), axis=0)
    sums = np.cumsum(sums[k:] - sums[:-k], axis=1)
    sums = np.pad(sums, ((0, 0), (1, 0)))
    return (sums[:, k:] - sums[:, :-k]) / (k * k)


def _one_sided(dev: np.ndarray, margin: float, ratio: float) -> bool | None:
    """Whether deviations beyond ``margin`` weigh ``ratio`` times more on the dark side (True) or the bright side
    (False) than on the other; None when neither does."""
    bright = float(np.clip(dev - margin, 0.0, None).sum()) + 1e-6
    dark = float(np.clip(-dev - margin, 0.0, None).sum()) + 1e-6
    if max(bright, dark) < ratio * min(bright, dark):
        return None
    return dark > bright


def _border_level(a: np.ndarray) -> float:
    return _median(np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]]))


def _median(values: np.ndarray) -> float:
    """``np.median`` of a flat array, without its overhead (it is called several times per drawing)."""
    v = np.ravel(values)
    k = v.size // 2
    if v.size % 2:
        return float(np.partition(v, k)[k])
    low, high = np.partition(v, (k - 1, k))[k - 1:k + 1]
    return float(low + high) / 2.0


# ---- background --------------------------------------------------------------------------------------------
def _tiles(coarse: np.ndarray) -> tuple[np.ndarray, int, int]:
    """The coarse picture cut into whole tiles: (rows, cols, pixels per tile), and the tile's height and width."""
    h, w = coarse.shape
    rows, cols = max(1, round(h / TILE)), max(1, round(w / TILE))
    th, tw = h // rows, w // cols
    cut = coarse[:rows * th, :cols * tw].reshape(rows, th, cols, tw).transpose(0, 2, 1, 3)
    return cut.reshape(rows, cols, th * tw), th, tw


def _neighbours(grid: np.ndarray) -> np.ndarray:
    """(9, rows, cols): each tile's value and its eight neighbours' (the edge tiles repeated)."""
    p = np.pad(grid, 1, mode="edge")
    h, w = grid.shape
    return np.stack([p[i:i + h, j:j + w] for i in range(3) for j in range(3)])


def _neighbourhood_min(grid: np.ndarray) -> np.ndarray:
    """The minimum over each tile and its eight neighbours (a 3x3 minimum is a 3-minimum down, then across)."""
    rows = grid.copy()
    np.minimum(rows[1:], grid[:-1], out=rows[1:])
    np.minimum(rows[:-1], grid[1:], out=rows[:-1])
    out = rows.copy()
    np.minimum(out[:, 1:], rows[:, :-1], out=out[:, 1:])
    np.minimum(out[:, :-1], rows[:, 1:], out=out[:, :-1])
    return out


def _neighbourhood_median(grid: np.ndarray) -> np.ndarray:
    return np.partition(_neighbours(grid), 4, axis=0)[4]


def _upsampled(grid: np.ndarray, shape: tuple[int, int], th: float, tw: float) -> np.ndarray:
    """A tile grid spread smoothly over ``shape`` (linear interpolation between tile centres ``th`` x ``tw`` apart)."""
    low, frac = _interpolation(shape[0], grid.shape[0], th)
    grid = grid.astype(np.float32)
    rows = grid[low] * (1 - frac)[:, None] + grid[np.minimum(low + 1, grid.shape[0] - 1)] * frac[:, None]
    low, frac = _interpolation(shape[1], grid.shape[1], tw)
    return rows[:, low] * (1 - frac) + rows[:, np.minimum(low + 1, grid.shape[1] - 1)] * frac


def _interpolation(n_out: int, n_grid: int, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``n_out`` pixels, the grid cell before it and how far towards the next (cells ``cell`` apart)."""
    pos = np.clip((np.arange(n_out, dtype=np.float32) + 0.5) / cell - 0.5, 0, n_grid - 1)
    low = np.minimum(pos.astype(np.int64), max(n_grid - 2, 0))
    return low, (pos - low).astype(np.float32)


def _background(x: np.ndarray, coarse: np.ndarray, block: int,
                even_allowed: bool = True) -> tuple[float | np.ndarray, float]:
    """The paper under bright ink: one level under even light, else a smooth field of the same shape as ``x``
    (``coarse`` is ``x`` in means of ``block`` x ``block`` squares); and the paper's typical level.

    Each tile's low percentile is paper unless ink covers most of it. The minimum over 5x5 tiles holds even a
    filled area or a thick stroke five tiles across: when those levels are all alike, the light is even and the
    border's level is kept (what the old recipe subtracted). Otherwise the median over a tile's neighbours
    (which keeps the edge of a shadow where it is) is a rough field; the ink found against it is left out and
    each tile's paper is averaged (a tile with too little paper keeps the rough level). ``even_allowed=False``
    always builds the field.
    """
    tiles, th, tw = _tiles(coarse)
    k = max(0, int(0.2 * tiles.shape[2]) - 1)
    low = np.partition(tiles, k, axis=2)[..., k]
    floor = _neighbourhood_min(_neighbourhood_min(low))
    if even_allowed and float(floor.max() - floor.min()) <= EVEN_LIGHT:
        border = _border_level(x)
        middle = _median(floor)
        level = border if abs(border - middle) <= EVEN_LIGHT else middle
        return level, level
    rough = _neighbourhood_median(low)
    residual = coarse - _upsampled(rough, coarse.shape, th, tw)
    spread = 1.4826 * _median(np.abs(residual))
    ink = residual > max(_otsu(residual), 3.0 * spread + 0.02)
    ink[1:] |= ink[:-1].copy()
    ink[:-1] |= ink[1:].copy()
    ink[:, 1:] |= ink[:, :-1].copy()
    ink[:, :-1] |= ink[:, 1:].copy()
    paper_sum, _, _ = _tiles(np.where(ink, 0.0, coarse))
    paper_count, _, _ = _tiles((~ink).astype(np.float32))
    total, known = paper_sum.sum(axis=2), paper_count.sum(axis=2)
    level = np.where(known >= 0.25 * tiles.shape[2], total / np.maximum(known, 1), rough)
    field = _upsampled(level, coarse.shape, th, tw)
    for axis, n in enumerate(x.shape):  # each coarse pixel back to its block; the last one takes the remainder
        counts = np.full(field.shape[axis], block)
        counts[-1] += n - block * field.shape[axis]
        field = np.repeat(field, counts, axis=axis)
    return field, _median(level)


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold of values in [0, 1] (those below 0 count as 0): the level that best splits them in two."""
    step = 1 + values.size // 25000  # a sample of a few thousand pixels gives the histogram's shape ...
    counts = np.bincount(np.clip(values[::step, ::step] * 255.0, 0, 255).astype(np.int32).ravel(), minlength=256)
    if step > 1 and np.count_nonzero(counts) < 2:  # ... unless the ink is so small that it missed it all
        counts = np.bincount(np.clip(values * 255.0, 0, 255).astype(np.int32).ravel(), minlength=256)
    counts = counts.astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(counts)
    m0 = np.cumsum(counts * levels)
    total, mean = w0[-1], m0[-1]
    w1 = total - w0
    valid = (w0 > 0) & (w1 > 0)
    if not valid.any():  # one level only: ink everywhere (half way up to it), or nothing at all
        level = int(np.argmax(counts))
        return level / 2 / 255.0 if level else 1.0
    between = np.zeros(256)
    between[valid] = (mean * w0[valid] - total * m0[valid]) ** 2 / (w0[valid] * w1[valid])
    best = np.flatnonzero(between >= between.max() * (1 - 1e-9))  # a flat top (nothing between paper and ink):
    return ((best[0] + best[-1]) / 2 + 1) / 255.0  # its middle, not its first level


# ---- the ink -----------------------------------------------------------------------------------------------
def find_ink(image, polarity: str = "auto") -> Ink:
    """The ink of a picture: an ink map in [0, 1] with the background flattened, and where ink surely is."""
    if polarity not in POLARITIES:
        raise PreprocessError(f"polarity must be one of {', '.join(POLARITIES)}, not {polarity!r}")
    grey, is_alpha = _grey(image)
    picture = grey.shape
    a = _shrunk(grey, WORK_SIDE)
    if is_alpha:  # a transparent canvas: no paper at all
        return _ink_against(a, 0.0, 0.0, polarity, picture)
    block = -(-max(a.shape) // COARSE_SIDE)
    coarse = _block_means(a, block)
    if polarity == "dark-on-light" or (polarity == "auto" and _ink_is_dark(a, coarse)):
        a, coarse = 1.0 - a, 1.0 - coarse
    background, level = _background(a, coarse, block)
    ink = _ink_against(a, background, level, polarity, picture)
    if ink.empty and np.ndim(background) == 0:
        # Bold strokes can cover the tiles that would show the light changing: one level then leaves the paper's
        # shading as noise that hides the ink. A smooth field of the paper decides instead.
        field_ink = _ink_against(a, *_background(a, coarse, block, even_allowed=False), polarity, picture)
        ink = ink if field_ink.empty else field_ink
    return ink


def _ink_against(x: np.ndarray, background, level: float, polarity: str, picture: tuple[int, int]) -> Ink:
    """The ink of ``x`` (ink bright) above ``background`` (a level or a field), the paper's typical level."""
    if polarity != "auto" and level > MAX_BACKGROUND:  # the paper is on the side the polarity calls ink: it is
        background = level = MAX_BACKGROUND  # all ink (a canvas painted over), on a background of that level
    residual = x - background if np.ndim(background) or background else x
    full = 1.0 - level
    threshold = _otsu(residual)
    step = 1 + residual.size // 20000  # a sample of the paper is enough for its noise
    sample = residual[::step, ::step]
    paper = sample[sample < threshold]
    if 2 * np.count_nonzero(paper) <= paper.size:  # mostly exactly the background (or none): a clean picture
        noise = 0.0
    else:
        noise = 1.4826 * _median(np.abs(paper - _median(paper)))
    strong = residual > max(threshold, NOISE_FLOOR * noise + INK_THRESHOLD * full)  # surely ink is ink
    if strong.any():
        ink_values = residual[strong]
        k = int(0.9 * (ink_values.size - 1))
        typical = float(np.partition(ink_values, k)[k])
    else:
        typical = 0.0
    if typical < max(MIN_CONTRAST, NOISE_CONTRAST * noise):
        return Ink(np.clip(residual, 0.0, 1.0).astype(np.float32), np.zeros(x.shape, bool), picture)
    clean = noise == 0 and np.ndim(background) == 0
    scale = full if clean or typical >= FULL_INK * full else typical / FULL_INK
    ink = residual / max(scale, 1e-6)
    if noise > 0:
        floor = NOISE_FLOOR * noise / scale
        ink = (ink - floor) / (1.0 - floor)
    return Ink(np.clip(ink, 0.0, 1.0).astype(np.float32), strong, picture, clean)


def to_ink(image, polarity: str = "auto") -> np.ndarray:
    """Grey ink map in [0, 1] (ink = 1) from grey, RGB or RGBA of either polarity, background flattened.

    A transparent background (the canvas' default) is read from the alpha channel. A picture larger than
    ``WORK_SIDE`` comes back shrunk to it.
    """
    return find_ink(image, polarity).map


# ---- pieces of ink -----------------------------------------------------------------------------------------
def ink_pieces(ink: Ink) -> tuple[np.ndarray, list[Piece]]:
    """The pieces of surely-ink, left to right, without specks (dust, JPEG blocks, paper texture) unless the
    picture is clean: there a dot was drawn, as MNIST's few stray dots were."""
    labels, pieces = label_pieces(ink.strong)
    if pieces and not ink.clean:
        grain = max(MIN_PIXELS, GRAIN_SHARE * ink.map.size)
        pieces = [p for p in pieces if p.area >= grain]
    if pieces and not ink.clean:
        area, side = max(p.area for p in pieces), max(p.side for p in pieces)
        pieces = [p for p in pieces if p.area >= SPECK_SHARE * area or p.side >= SPECK_SIDE * side]
    return labels, sorted(pieces, key=lambda p: (p.box[1], p.box[0]))


def union_box(pieces: list[Piece]) -> tuple[int, int, int, int]:
    """The box around all of ``pieces`` (top, left, bottom, right)."""
    return (min(p.box[0] for p in pieces), min(p.box[1] for p in pieces),
            max(p.box[2] for p in pieces), max(p.box[3] for p in pieces))


def _solid(core: np.ndarray) -> bool:
    """A dot or a filled area rather than a digit's strokes: about as wide as tall, covering most of its box,
    convex along every row and column (a bold 3 or 7 leaves bays), and without a hole (a bold 0, 6, 8, 9)."""
    h, w = core.shape
    if not (0.5 <= h / w <= 2.0 and core.mean() >= SOLID_FILL):
        return False
    for spans in (core, core.T):
        rows = spans.any(axis=1)
        first = spans.argmax(axis=1)[rows]
        last = spans.shape[1] - spans[:, ::-1].argmax(axis=1)[rows]
        if spans.sum() < CONVEX_FILL * (last - first).sum():
            return False
    return not _has_hole(core)


def _has_hole(solid: np.ndarray) -> bool:
    """Whether the paper inside a mark (not connected to its box's edge) makes a hole of some size."""
    return any(p.area >= HOLE_SHARE * solid.size for p in holes(solid)[1])


def prepare_digit(ink: Ink, core: np.ndarray, at: tuple[int, int], alone: bool = True) -> Prepared:
    """One digit, its surely-ink ``core`` (a mask whose top-left corner is at ``at`` on the ink map): refused as a
    dot or a filled area, or cropped with its soft edge and placed MNIST-style. A lone digit on a clean picture
    keeps all faint ink near it (MNIST's faint tails); otherwise (a digit of a number, a photo) ink farther than
    its soft edge from the core (a neighbouring digit, a speck, the paper's grain) is left out of the crop."""
    rows, cols = np.flatnonzero(core.any(axis=1)), np.flatnonzero(core.any(axis=0))
    if rows.size == 0:
        return Prepared(None, "empty")
    core = core[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    top, left = at[0] + int(rows[0]), at[1] + int(cols[0])
    (h, w), (bottom, right) = core.shape, (top + core.shape[0], left + core.shape[1])
    insides = outlines.stroke_insides(ink.map[top:bottom, left:right], core)
    if insides is not None:  # a digit drawn as outlines: its strokes filled in
        core = core | insides
    edge = 2 + round(EDGE_SHARE * max(h, w))
    as_drawn = alone and ink.clean  # all faint ink around it is the digit's, as the old recipe took it
    reach = 2 + round(FAINT_REACH * max(h, w)) if as_drawn else edge
    t, lf = max(top - reach, 0), max(left - reach, 0)
    b, r = min(bottom + reach, ink.map.shape[0]), min(right + reach, ink.map.shape[1])
    region = ink.map[t:b, lf:r]
    if not as_drawn:  # only the soft edge of its own strokes: no neighbour, no speck, no grain of the paper
        own = np.zeros(region.shape, bool)
        own[top - t:bottom - t, left - lf:right - lf] = core
        other = ink.strong[t:b, lf:r] & ~own
        near = grow(own, edge)
        if other.any():  # where another digit's strokes are nearer, their soft edge is theirs
            near &= ~grow(other, edge) | grow(own, edge // 2)
        region = np.where(near, region, 0.0)
    if insides is not None:
        region = region.copy()
        region[top - t:bottom - t, left - lf:right - lf][insides] = 1.0
    weak = region > INK_THRESHOLD
    weak[top - t:bottom - t, left - lf:right - lf] |= core
    rows, cols = np.flatnonzero(weak.any(axis=1)), np.flatnonzero(weak.any(axis=0))
    box = (t + int(rows[0]), lf + int(cols[0]), t + int(rows[-1]) + 1, lf + int(cols[-1]) + 1)
    bbox = ink.on_picture(box)
    if max(h, w) <= 2 or _solid(core) or core.sum() > HALF * ink.map.size:
        small = max(h, w) <= DOT_SHARE * min(ink.map.shape) or max(h, w) <= 2
        return Prepared(None, "dot" if small else "filled", bbox)
    crop = region[box[0] - t:box[2] - t, box[1] - lf:box[3] - lf]
    return Prepared(place(crop), "ok", bbox)


def place(crop: np.ndarray) -> np.ndarray:
    """Ink cropped to its box -> 28x28: the long side fitted into 20 px, the centre of mass at (14, 14)."""
    h, w = crop.shape
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
    return out


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    total = image.sum()
    rows, cols = np.indices(image.shape)
    return float((rows * image).sum() / total), float((cols * image).sum() / total)


# ---- the two recipes the pages show ------------------------------------------------------------------------
def mnist_style(image, polarity: str = "auto") -> Prepared:
    """All the ink of a picture as one digit: crop, fit the long side into 20 px, centre by centre of mass."""
    ink = find_ink(image, polarity)
    if ink.empty:
        return Prepared(None, "empty")
    if ink.clean:  # nothing is dust: the box of all surely-ink, no need to tell its pieces apart
        rows, cols = np.flatnonzero(ink.strong.any(axis=1)), np.flatnonzero(ink.strong.any(axis=0))
        top, left, bottom, right = int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1
    else:
        pieces = ink_pieces(ink)[1]
        if not pieces:
            return Prepared(None, "empty")
        top, left, bottom, right = union_box(pieces)
    return prepare_digit(ink, ink.strong[top:bottom, left:right], (top, left))


def naive_resize(image, polarity: str = "auto") -> Prepared:
    """The whole picture squeezed to 28x28, no cropping or centring (what many tutorials do)."""
    ink = find_ink(image, polarity)
    if ink.empty:
        return Prepared(None, "empty")
    return Prepared(np.clip(_resize(ink.map, SIZE, SIZE), 0.0, 1.0), "ok")


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
