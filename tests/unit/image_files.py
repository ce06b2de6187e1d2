"""Image files the image tests write themselves: a huge PNG of a few KB, a drawn digit of any size, encoders."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageDraw


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def black_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of ``width`` x ``height`` black pixels, a few KB, written without ever holding the pixels
    (one row at a time into the zlib stream): Pillow would decode it into ``width * height`` bytes or more."""
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # bit depth 1, greyscale
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def encode(img: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def seven(width: int = 280, height: int = 280, mode: str = "RGB", ink="black", paper="white") -> Image.Image:
    """A handwritten-looking '7' (bar and diagonal) in the middle of a picture of any size, strokes scaled with it."""
    img = Image.new(mode, (width, height), paper)
    unit = min(width, height)
    cx, cy = width / 2, height / 2
    points = [(cx - 0.2 * unit, cy - 0.3 * unit), (cx + 0.2 * unit, cy - 0.3 * unit), (cx - 0.05 * unit, cy + 0.3 * unit)]
    ImageDraw.Draw(img).line(points, fill=ink, width=max(2, round(0.06 * unit)), joint="curve")
    return img


def square(width: int = 280, height: int = 280, mode: str = "RGB") -> Image.Image:
    """A filled black square on white: a blob, not a digit."""
    img = Image.new(mode, (width, height), "white")
    ImageDraw.Draw(img).rectangle([width * 0.3, height * 0.3, width * 0.7, height * 0.7], fill="black")
    return img
