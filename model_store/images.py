"""Open a picture a user gave, within bounds: its size is checked before it is decoded, and it is shrunk at once.

A pupil's upload or a file given to the CLI may be anything: a 100-megapixel PNG of a few KB (which Pillow would
decode into gigabytes), a truncated download, a text file renamed .png. ``read_image`` reads the header first
(``Image.open`` is lazy: the size is known before any pixel is decoded), refuses above ``MAX_PIXELS``, lets a JPEG
decode at 1/2, 1/4 or 1/8 scale (``draft``), and brings the long side down to ``MAX_SIDE`` right after decoding,
so that nothing after it holds a big array. Other formats are decoded once at full size, so their limit is lower
(``MAX_FULL_DECODE_PIXELS``): a 50 MP PNG with transparency would cost the server ~0.5 GB for under a second.
Every way a file can fail becomes a ``Refusal`` with a code; nothing Pillow raises gets out.
"""

from __future__ import annotations

import io
import math
import os
import re

import numpy as np
from PIL import Image, ImageOps

from model_store.refusal import Refusal

MAX_PIXELS = 50_000_000  # a JPEG is refused above this, before decoding; phone photos (12-48 MP) still pass
MAX_FULL_DECODE_PIXELS = 16_000_000  # other formats, which decode at full size: a scan at 600 dpi of A5 passes
MAX_SIDE = 1024  # the long side after reading; the digit preprocessing brings it down to 28x28 anyway
MAX_BYTES = 64 * 2**20  # the file itself; a 48 MP photo is a JPEG of ~10-20 MB
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")  # what Pillow may identify the file as; no EPS (Ghostscript), no TIFF


def read_image(source) -> np.ndarray:
    """The picture in ``source`` (a path, bytes or a binary file object) as uint8: (H, W) grey, or (H, W, 4) RGBA
    when it has transparency; long side at most ``MAX_SIDE``, upright as its EXIF orientation says.

    Raises ``Refusal`` (``image_cannot_open``, ``image_too_many_bytes``, ``image_too_large``, ``image_unreadable``).
    """
    stream = _open_bounded(source)
    try:
        with Image.open(stream, formats=FORMATS) as img:  # the header only
            width, height = img.size
            if width < 1 or height < 1:
                raise Refusal("image_unreadable")
            limit = MAX_PIXELS if img.format == "JPEG" else MAX_FULL_DECODE_PIXELS
            if width * height > limit:
                raise _too_large(width * height, limit)
            if img.mode == "RGB":  # a colour JPEG decodes its grey (Y) channel only, at reduced scale
                img.draft("L", _draft_size(img.size))
            else:
                img.draft(None, _draft_size(img.size))  # a no-op for formats other than JPEG
            img.load()  # the first frame of an animation
            _upright(img)
            return _as_array(_shrink(img))
    except Refusal:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own limits, checked inside Image.open: an error above 179 MP, a warning (an error where warnings
        # are errors) above 89 MP; both above MAX_PIXELS
        raise _too_large(_pixels_in(str(exc))) from exc
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, struct.error ... on garbage
        raise Refusal("image_unreadable") from exc
    finally:
        stream.close()


def _open_bounded(source) -> io.IOBase:
    """A binary stream over ``source``, refusing files larger than ``MAX_BYTES`` before reading them."""
    if isinstance(source, (str, os.PathLike)):
        try:
            if os.stat(source).st_size > MAX_BYTES:
                raise Refusal("image_too_many_bytes", limit_mb=MAX_BYTES // 2**20)
            return open(source, "rb")  # closed by read_image
        except OSError as exc:
            raise Refusal("image_cannot_open", detail=exc.strerror or type(exc).__name__) from exc
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        data = source.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise Refusal("image_too_many_bytes", limit_mb=MAX_BYTES // 2**20)
    return io.BytesIO(data)


def _too_large(pixels: int | None, limit: int = MAX_FULL_DECODE_PIXELS) -> Refusal:
    if pixels is None:  # Pillow's message changed: it refuses above twice its MAX_IMAGE_PIXELS
        pixels = 2 * (Image.MAX_IMAGE_PIXELS or MAX_PIXELS)
    return Refusal("image_too_large", megapixels=_megapixels(pixels), limit=_megapixels(limit))


def _megapixels(pixels: int):
    value = round(pixels / 1e6, 1)
    return int(value) if value.is_integer() else value


def _pixels_in(message: str) -> int | None:
    """The pixel count in Pillow's decompression-bomb message ("Image size (196000000 pixels) exceeds ...")."""
    found = re.search(r"\((\d+) pixels\)", message)
    return int(found.group(1)) if found else None


def _draft_size(size: tuple[int, int]) -> tuple[int, int]:
    """The smallest size a JPEG may be decoded at so that its long side still reaches ``MAX_SIDE``."""
    factor = min(1.0, MAX_SIDE / max(size))
    return max(1, math.ceil(size[0] * factor)), max(1, math.ceil(size[1] * factor))


def _upright(img: Image.Image) -> None:
    """Turn a photo as its EXIF orientation says (phones store them sideways and set the tag)."""
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception:  # a damaged EXIF block does not make the picture unreadable; keep it as stored
        pass


def _shrink(img: Image.Image) -> Image.Image:
    """Grey (L) or grey with alpha (LA), long side at most ``MAX_SIDE`` (area averaging, aspect ratio kept)."""
    if img.mode in ("1", "P", "PA"):  # Pillow resizes these by nearest neighbour only: thin strokes would vanish
        img = _grey(img)
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BOX)
    return _grey(img)


def _grey(img: Image.Image) -> Image.Image:
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):  # 16-bit grey PNG; Pillow's convert would clip at 255
        values = np.asarray(img, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) > 255 else 255.0
        return Image.fromarray(np.clip(values * (255.0 / top) + 0.5, 0, 255).astype(np.uint8), "L")
    transparent = "A" in img.getbands() or "transparency" in img.info
    return img.convert("LA" if transparent else "L")


def _as_array(img: Image.Image) -> np.ndarray:
    if img.mode == "L":
        return np.array(img, dtype=np.uint8)
    grey, alpha = (np.asarray(band, dtype=np.uint8) for band in img.split())
    return np.stack([grey, grey, grey, alpha], axis=-1)
