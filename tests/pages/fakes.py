"""Stand-ins for what AppTest cannot drive: the drawing canvas."""

from __future__ import annotations

import sys
from types import ModuleType, SimpleNamespace

import numpy as np
from PIL import Image, ImageDraw


class FakeCanvas:
    """Replaces st_canvas: returns the RGBA image the test set last, like the real canvas after a stroke."""

    image: np.ndarray | None = None

    def __call__(self, *args, **kwargs):
        return SimpleNamespace(image_data=FakeCanvas.image, json_data=None)


def drawing(strokes, size: int = 280, width: int = 18) -> np.ndarray:
    """RGBA canvas with white strokes on black, as the real canvas returns it; strokes in 0..1 units."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 255))
    pen = ImageDraw.Draw(img)
    for stroke in strokes:
        pen.line([(x * size, y * size) for x, y in stroke], fill=(255, 255, 255, 255), width=width, joint="curve")
    return np.asarray(img)


SEVEN = [[(0.3, 0.25), (0.7, 0.25), (0.45, 0.8)]]
ONE_SMALL_CORNER = [[(0.12, 0.1), (0.12, 0.35)]]
FOUR = [[(0.35, 0.2), (0.25, 0.55), (0.7, 0.55)], [(0.6, 0.3), (0.6, 0.85)]]


def install_fake_canvas(monkeypatch) -> None:
    """Make ``from streamlit_drawable_canvas import st_canvas`` in the page return a FakeCanvas."""
    module = ModuleType("streamlit_drawable_canvas")
    module.st_canvas = FakeCanvas()
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", module)
    FakeCanvas.image = None
