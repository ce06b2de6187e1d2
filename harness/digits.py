"""Digits as a person draws them: strokes of points in a unit box (x right, y down), in the order a pen moves.

``place`` maps a digit's box onto the canvas (0..1 canvas units), ``place_number`` a row of digits onto a wide one;
``harness.draw.draw_strokes`` draws the result.
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


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 24):
    """``n + 1`` points on an ellipse from angle ``start`` to ``end`` (degrees, anticlockwise as on paper: y is down,
    so 90 is the top)."""
    angles = [math.radians(start + (end - start) * i / n) for i in range(n + 1)]
    return [(cx + rx * math.cos(a), cy - ry * math.sin(a)) for a in angles]


# Digits besides SHAPES, for numbers such as 2026 (the Draw page's browser tests and benches go through SHAPES).
MORE_SHAPES = {
    # a 2 in one stroke: the hook over the top, down to the bottom left, then the base to the right
    "2": ([arc(0.5, 0.3, 0.42, 0.28, 165, -35) + line((0.84, 0.46), (0.05, 1.0))[1:] + line((0.05, 1.0), (0.95, 0.98))[1:]],
          0.65),
    # a 6 in one stroke: down the left side from the top right, then the loop at the bottom
    "6": ([line((0.8, 0.0), (0.3, 0.3), 6) + line((0.3, 0.3), (0.12, 0.73), 6)[1:]
           + arc(0.5, 0.73, 0.38, 0.26, 180, 540, 40)[1:]], 0.65),
}


def place(digit: str, cx: float, cy: float, height: float, width_per_height: float = 1.0):
    """The strokes of ``digit`` centred at (cx, cy), ``height`` tall, in canvas units; ``width_per_height``: the
    canvas' height over its width (a wide canvas' unit of x is longer than its unit of y)."""
    strokes, aspect = {**SHAPES, **MORE_SHAPES}[digit]
    width = height * aspect * width_per_height
    return [[(cx - width / 2 + x * width, cy - height / 2 + y * height) for x, y in stroke] for stroke in strokes]


def place_number(text: str, canvas_width: int, canvas_height: int, height: float = 0.7, step: float = 0.2):
    """The strokes of the digits of ``text`` side by side on a canvas of that size (in px), each ``height`` of the
    canvas tall, their centres ``step`` of the canvas' width apart, the row centred."""
    squeeze = canvas_height / canvas_width
    first = 0.5 - step * (len(text) - 1) / 2
    return [stroke for i, digit in enumerate(text) for stroke in place(digit, first + i * step, 0.5, height, squeeze)]
