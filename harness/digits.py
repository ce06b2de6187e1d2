"""Digits as a person draws them: strokes of points in a unit box (x right, y down), in the order a pen moves.

``place`` maps a digit's box onto the canvas (0..1 canvas units); ``harness.draw.draw_strokes`` draws the result.
"""

from __future__ import annotations

import math


def line(p, q, n: int = 8):
    """``n + 1`` points from ``p`` to ``q``."""
    return [(p[0] + (q[0] - p[0]) * i / n, p[1] + (q[1] - p[1]) * i / n) for i in range(n + 1)]


def ellipse(n: int = 40, tilt: float = 0.12):
    """Starts at the top, runs anticlockwise as most people write a 0, and overlaps its start a little."""
    points = []
    for i in range(n + 3):
        a = -2 * math.pi * i / n
        x, y = 0.45 * math.sin(a), -0.48 * math.cos(a)
        points.append((0.5 + x - tilt * y, 0.5 + y))  # slanted a little to the right, like handwriting
    return points


# digit -> (strokes, width / height of its box)
SHAPES = {
    # an oval with many points, one stroke
    "0": ([ellipse()], 0.65),
    # a single, slightly slanted vertical line
    "1": ([line((0.62, 0.0), (0.38, 1.0), 10)], 0.25),
    # an open 4 in two strokes: down-left diagonal then across; then the long vertical
    "4": ([line((0.55, 0.0), (0.05, 0.62)) + line((0.05, 0.62), (0.95, 0.6))[1:],
           line((0.68, 0.25), (0.66, 1.0))], 0.8),
    # a 7 in one stroke: the top bar, then the diagonal down to the left
    "7": ([line((0.05, 0.06), (0.95, 0.02)) + line((0.95, 0.02), (0.4, 1.0), 10)[1:]], 0.7),
}


def place(digit: str, cx: float, cy: float, height: float):
    """The strokes of ``digit`` centred at (cx, cy), ``height`` tall, in canvas units."""
    strokes, aspect = SHAPES[digit]
    width = height * aspect
    return [[(cx - width / 2 + x * width, cy - height / 2 + y * height) for x, y in stroke] for stroke in strokes]
