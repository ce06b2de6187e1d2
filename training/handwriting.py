"""A held-out check for digit models: digits rendered in handwriting fonts, drawn like people draw them.

None of these images comes from MNIST. Each digit is rendered at a random size, position, slant and
stroke weight on a 280x280 canvas (white on black, like the Draw page), so the check exercises the
same preprocessing as a drawing in the browser. Fonts come from Debian packages (see FONT_PACKAGES).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_PACKAGES = (
    "fonts-dkg-handwriting fonts-breip fonts-femkeklaver fonts-rufscript fonts-sjfonts fonts-humor-sans fonts-comic-neue"
)
FONT_FILES = {
    "DkgHandwriting": "truetype/fifthhorseman/dkg.ttf",
    "Breip": "truetype/breip/Breip.ttf",
    "femkeklaver": "truetype/femkeklaver/femkeklaver.ttf",
    "Rufscript": "truetype/rufscript/Rufscript010.ttf",
    "SteveHand": "truetype/sjfonts/SteveHand.ttf",
    "HumorSans": "truetype/humor-sans/Humor-Sans.ttf",
    "ComicNeue": "opentype/comic-neue/ComicNeue-Regular.otf",
}
FONT_ROOT = Path("/usr/share/fonts")
CANVAS = 280


@dataclass(frozen=True)
class Drawing:
    canvas: np.ndarray  # (280, 280, 4) uint8 RGBA, white ink on black, like st_canvas returns
    label: int
    font: str


def available_fonts() -> dict[str, Path]:
    return {name: FONT_ROOT / rel for name, rel in FONT_FILES.items() if (FONT_ROOT / rel).is_file()}


def render_digit(digit: int, font_path: Path, rng: np.random.Generator, weight: int | None = None) -> np.ndarray:
    """One digit at a random size (25-90% of the canvas), place, slant (±15°) and stroke weight (0-2, or
    ``weight``: the digits of one number are written with one pen)."""
    size = int(rng.uniform(0.25, 0.9) * CANVAS)
    font = ImageFont.truetype(str(font_path), size)
    glyph = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(glyph).text((size // 2, size // 4), str(digit), fill=255, font=font)
    if weight is None:
        weight = int(rng.integers(0, 3))
    if weight:
        glyph = glyph.filter(ImageFilter.MaxFilter(2 * weight + 1))
    glyph = glyph.rotate(float(rng.uniform(-15, 15)), resample=Image.Resampling.BILINEAR)
    box = glyph.getbbox()
    if box is None:
        raise ValueError(f"font {font_path} has no glyph for {digit}")
    glyph = glyph.crop(box)
    if max(glyph.size) > CANVAS - 8:
        glyph.thumbnail((CANVAS - 8, CANVAS - 8))
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    x = int(rng.integers(0, CANVAS - glyph.size[0] + 1))
    y = int(rng.integers(0, CANVAS - glyph.size[1] + 1))
    canvas.paste(glyph, (x, y))
    grey = np.asarray(canvas)
    return np.dstack([grey, grey, grey, np.full_like(grey, 255)])


def drawings(per_digit_and_font: int = 5, seed: int = 0) -> list[Drawing]:
    rng = np.random.default_rng(seed)
    out = []
    for name, path in available_fonts().items():
        for digit in range(10):
            for _ in range(per_digit_and_font):
                out.append(Drawing(render_digit(digit, path, rng), digit, name))
    return out
