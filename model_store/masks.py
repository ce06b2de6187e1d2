"""Boolean masks of ink: their connected pieces, and masks widened, closed or peeled by a few pixels.

Plain numpy (runs of each row, running sums), so that finding a digit's pieces costs a fraction of a millisecond
and nothing beyond numpy and Pillow is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Piece:
    """One connected piece of surely-ink."""

    index: int  # its number in the label image (1, 2, ...)
    box: tuple[int, int, int, int]  # top, left, bottom, right on the ink map
    area: int  # pixels

    @property
    def width(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def side(self) -> int:
        return max(self.box[2] - self.box[0], self.box[3] - self.box[1])


def label_pieces(mask: np.ndarray) -> tuple[np.ndarray, list[Piece]]:
    """Connected pieces (8 neighbours) of a boolean mask: a label image (0 = none) and each piece's box and area.

    Works on the runs of each row: runs in neighbouring rows that touch are joined; the larger of two joined
    labels is hooked onto the smaller and chains of labels are flattened, until no join is left.
    """
    labels = np.zeros(mask.shape, np.int32)
    rows_any, cols_any = mask.any(axis=1), mask.any(axis=0)
    if not rows_any.any():
        return labels, []
    r0, c0 = int(rows_any.argmax()), int(cols_any.argmax())
    r1, c1 = mask.shape[0] - int(rows_any[::-1].argmax()), mask.shape[1] - int(cols_any[::-1].argmax())
    sub = mask[r0:r1, c0:c1]
    w = c1 - c0
    padded = np.zeros((r1 - r0, w + 2), np.int8)
    padded[:, 1:-1] = sub
    edges = np.flatnonzero(np.diff(padded, axis=1))  # in each row a run starts, ends, starts, ends ...
    row, start = np.divmod(edges[0::2], w + 1)
    end = edges[1::2] - row * (w + 1)
    n = row.size
    # the runs of the next row that touch each run (8 neighbours): a contiguous range of them
    key_start, key_end = row * (w + 2) + start, row * (w + 2) + end
    first = np.searchsorted(key_end, (row + 1) * (w + 2) + start, "left")
    last = np.searchsorted(key_start, (row + 1) * (w + 2) + end, "right") - 1
    count = np.maximum(last - first + 1, 0)
    a = np.repeat(np.arange(n), count)
    b = np.repeat(first, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    label = np.arange(n)
    while a.size:
        ra, rb = label[a], label[b]
        apart = ra != rb
        if not apart.any():
            break
        np.minimum.at(label, np.maximum(ra[apart], rb[apart]), np.minimum(ra[apart], rb[apart]))
        while True:
            jumped = label[label]
            if np.array_equal(jumped, label):
                break
            label = jumped
    roots = label == np.arange(n)
    index = np.cumsum(roots)[label]  # 1, 2, ... in the order of each piece's first run
    lengths = end - start
    local = np.zeros(sub.size, np.int32)
    local[np.flatnonzero(sub.ravel())] = np.repeat(index, lengths)
    labels[r0:r1, c0:c1] = local.reshape(sub.shape)
    k = int(roots.sum()) + 1
    area = np.bincount(index, lengths, minlength=k).astype(int)
    top, bottom = np.full(k, r1), np.zeros(k, int)
    left, right = np.full(k, c1), np.zeros(k, int)
    np.minimum.at(top, index, row)
    np.maximum.at(bottom, index, row + 1)
    np.minimum.at(left, index, start)
    np.maximum.at(right, index, end)
    return labels, [Piece(i, (int(top[i]) + r0, int(left[i]) + c0, int(bottom[i]) + r0, int(right[i]) + c0),
                          int(area[i])) for i in range(1, k)]


def holes(mask: np.ndarray) -> tuple[np.ndarray, list[Piece]]:
    """The paper a mask encloses (not connected to its box's edge): a label image of the mask's shape (0 = ink or the
    paper round it) and each hole as a piece."""
    labels, paper = label_pieces(framed(~mask, 1, True))
    outside = labels[0, 0]  # the padding joins everything that reaches the box's edge
    labels = labels[1:-1, 1:-1]
    labels[labels == outside] = 0
    return labels, [Piece(p.index, (p.box[0] - 1, p.box[1] - 1, p.box[2] - 1, p.box[3] - 1), p.area)
                    for p in paper if p.index != outside]


def framed(mask: np.ndarray, width: int, value: bool) -> np.ndarray:
    """The mask inside a frame of ``width`` pixels of ``value`` (``np.pad`` costs more than the work on a small mask)."""
    out = np.full((mask.shape[0] + 2 * width, mask.shape[1] + 2 * width), value, bool)
    out[width:width + mask.shape[0], width:width + mask.shape[1]] = mask
    return out


def grow(mask: np.ndarray, radius: int) -> np.ndarray:
    """The mask widened by ``radius`` pixels in every direction (a square), by running sums down, then across."""
    if radius <= 0:
        return mask
    for axis in (0, 1):
        n = mask.shape[axis]
        sums = np.zeros((n + 1, mask.shape[1]) if axis == 0 else (mask.shape[0], n + 1), np.int32)
        np.cumsum(mask, axis=axis, out=sums[1:] if axis == 0 else sums[:, 1:])
        reach = np.arange(n)
        low, high = np.maximum(reach - radius, 0), np.minimum(reach + radius + 1, n)
        mask = (sums[high] - sums[low] if axis == 0 else sums[:, high] - sums[:, low]) > 0
    return mask


def close(mask: np.ndarray, radius: int) -> np.ndarray:
    """The mask with its gaps and notches narrower than about ``2 * radius`` pixels filled (grown, then shrunk)."""
    if radius <= 0:
        return mask
    padded = grow(framed(mask, radius, False), radius)
    return ~grow(~padded, radius)[radius:-radius, radius:-radius]


def inner(mask: np.ndarray) -> np.ndarray:
    """The pixels of a mask whose four neighbours are in it too (the mask less its boundary)."""
    out = mask.copy()
    out[1:] &= mask[:-1]
    out[:-1] &= mask[1:]
    out[:, 1:] &= mask[:, :-1]
    out[:, :-1] &= mask[:, 1:]
    return out
