"""model_store.images: a picture a user gives is checked before it is decoded, shrunk at once, and refused by code.

The huge PNGs are a few KB (tests/unit/image_files.py writes them row by row). How much memory reading costs is
measured in a fresh process, by its own peak RSS (VmHWM): ``ru_maxrss`` cannot tell, in this process (an earlier
test's peak hides it) nor in a child (Linux carries the parent's peak over into the child's ``ru_maxrss``).
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_store import images, preprocess
from model_store.images import MAX_SIDE, read_image
from model_store.refusal import Refusal
from tests.unit.image_files import black_png, encode, seven

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import json, resource, sys, time
from model_store.images import read_image
from model_store.refusal import Refusal

def peak_mb():  # this process' own peak RSS: VmHWM starts afresh at exec, unlike ru_maxrss (which keeps the parent's)
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

before = peak_mb()
start = time.perf_counter()
try:
    result = {"shape": list(read_image(sys.argv[1]).shape)}
except Refusal as exc:
    result = {"code": exc.code, "values": exc.values}
result["seconds"] = time.perf_counter() - start
result["grew_mb"] = peak_mb() - before
print(json.dumps(result))
"""


def read_in_a_fresh_process(path: Path) -> dict:
    """``read_image(path)`` in a new interpreter: its shape or refusal, its time, and how much its peak RSS grew."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def refusal_of(source) -> Refusal:
    with pytest.raises(Refusal) as info:
        read_image(source)
    return info.value


# ---- too big ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("side, megapixels", [(10_000, 100), (14_000, 196)])
def test_huge_pngs_are_refused_before_decoding(tmp_path, side, megapixels):
    path = tmp_path / "huge.png"
    path.write_bytes(black_png(side, side))
    assert path.stat().st_size < 50_000
    assert struct.unpack(">II", path.read_bytes()[16:24]) == (side, side)  # IHDR: Pillow would decode it all
    result = read_in_a_fresh_process(path)
    assert result.get("code") == "image_too_large", result
    assert result["values"] == {"megapixels": megapixels, "limit": images.MAX_FULL_DECODE_PIXELS // 10**6}
    assert result["grew_mb"] < 100, f"refusing {side}x{side} grew the process by {result['grew_mb']:.0f} MB"
    assert result["seconds"] < 2


def test_the_refusal_says_how_big_and_the_limit(tmp_path):
    exc = refusal_of(black_png(14_000, 14_000))
    assert str(exc) == "the image has 196 megapixels; at most 16 megapixels can be read: make it smaller and try again"
    assert exc.as_record() == {"error": str(exc), "reason": "image_too_large"}


def test_pillows_bomb_warning_as_an_error_is_refused_too():
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        exc = refusal_of(black_png(10_000, 10_000))  # 100 MP: above Pillow's warning level, below its error level
    assert exc.code == "image_too_large" and exc.values["megapixels"] == 100


def test_just_under_the_limit_is_read(tmp_path):
    side = int(images.MAX_FULL_DECODE_PIXELS ** 0.5)  # 4000 x 4000: a PNG decodes at full size, so its limit is lower
    path = tmp_path / "big.png"
    path.write_bytes(black_png(side, side))
    result = read_in_a_fresh_process(path)
    assert result["shape"] == [MAX_SIDE, MAX_SIDE], result


def test_too_many_bytes_are_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_BYTES", 1000)
    data = encode(Image.effect_noise((64, 64), 50).convert("L"))
    assert len(data) > 1000
    path = tmp_path / "noise.png"
    path.write_bytes(data)
    for source in (data, path, str(path), io.BytesIO(data)):
        exc = refusal_of(source)
        assert exc.code == "image_too_many_bytes" and exc.values == {"limit_mb": 0}, source


# ---- big but allowed: shrunk early -----------------------------------------------------------------
@pytest.fixture(scope="module")
def big_photo(tmp_path_factory) -> Path:
    """A 6000x4000 colour JPEG of a '7' (24 MP, like a phone photo)."""
    path = tmp_path_factory.mktemp("photo") / "seven.jpg"
    path.write_bytes(encode(seven(6000, 4000), "JPEG", quality=90))
    return path


def test_a_big_photo_is_decoded_small_and_still_reads_as_the_digit(big_photo):
    result = read_in_a_fresh_process(big_photo)
    assert result["shape"] == [683, 1024]  # long side MAX_SIDE, aspect ratio kept
    assert result["grew_mb"] < 40, f"reading a 24 MP JPEG grew the process by {result['grew_mb']:.0f} MB"

    pixels = read_image(big_photo)
    assert pixels.dtype == np.uint8 and pixels.shape == (683, 1024)
    prepared = preprocess.mnist_style(pixels)
    small = preprocess.mnist_style(np.asarray(seven(600, 400).convert("L")))  # the same digit drawn small
    assert prepared.status == "ok" and small.status == "ok"
    assert np.abs(prepared.image - small.image).mean() < 0.03


def test_a_12_megapixel_photo_reads_fast(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(encode(seven(4000, 3000), "JPEG", quality=90))
    read_image(path)  # warm (plugins imported)
    start = time.perf_counter()
    assert read_image(path).shape == (768, 1024)
    assert time.perf_counter() - start < 1.0


def test_small_pictures_are_not_enlarged():
    assert read_image(encode(seven(28, 28, mode="L"))).shape == (28, 28)


def test_paths_bytes_and_files_give_the_same_pixels(tmp_path):
    data = encode(seven(300, 200))
    path = tmp_path / "seven.png"
    path.write_bytes(data)
    arrays = [read_image(source) for source in (data, bytearray(data), path, str(path), io.BytesIO(data))]
    for array in arrays[1:]:
        np.testing.assert_array_equal(array, arrays[0])


# ---- not an image ----------------------------------------------------------------------------------
def truncated(fmt: str) -> bytes:
    data = encode(Image.effect_noise((200, 200), 60).convert("RGB"), fmt)
    return data[: len(data) * 2 // 3]


@pytest.mark.parametrize("data", [
    pytest.param(bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)), id="random-bytes"),
    pytest.param(truncated("PNG"), id="truncated-png"),
    pytest.param(truncated("JPEG"), id="truncated-jpeg"),
    pytest.param(b"7,0,0,255\nthis is a text file, not a picture\n" * 20, id="text"),
    pytest.param(b"", id="empty-file"),
    pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(200), id="png-magic-then-zeros"),
    pytest.param(encode(Image.new("RGB", (8, 8)), "TIFF"), id="tiff-not-accepted"),
    pytest.param(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", id="eps-never-run"),
])
def test_what_is_not_a_readable_picture_is_refused(tmp_path, data):
    path = tmp_path / "picture.png"
    path.write_bytes(data)
    for source in (path, data, io.BytesIO(data)):
        exc = refusal_of(source)
        assert exc.code == "image_unreadable", (source, exc)
    assert str(exc).startswith("this is not an image ConvScope can read, or the file is damaged")


@pytest.mark.parametrize("where", ["missing.png", "."])
def test_a_path_that_cannot_be_opened_says_why(tmp_path, where):
    exc = refusal_of(tmp_path / where)
    assert exc.code == "image_cannot_open"
    assert exc.values["detail"] in ("No such file or directory", "Is a directory")


# ---- kinds of images ---------------------------------------------------------------------------------
def test_palette_image_reads_as_grey():
    img = seven(120, 120).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    assert img.mode == "P"
    pixels = read_image(encode(img))
    assert pixels.shape == (120, 120)
    np.testing.assert_allclose(pixels, np.asarray(seven(120, 120).convert("L")), atol=8)


def test_palette_image_with_a_transparent_background_keeps_its_alpha():
    img = Image.new("P", (64, 64), 0)
    img.putpalette([255, 255, 255, 0, 0, 0])
    img.paste(1, (20, 10, 28, 54))  # a black '1' on a transparent background
    pixels = read_image(encode(img, transparency=0))
    assert pixels.shape == (64, 64, 4)
    assert pixels[..., 3].max() == 255 and pixels[0, 0, 3] == 0 and pixels[30, 24, 3] == 255
    assert preprocess.mnist_style(pixels).status == "ok"


def test_grey_with_alpha_reads_as_rgba():
    grey = np.zeros((40, 40), np.uint8)
    alpha = np.zeros((40, 40), np.uint8)
    alpha[5:35, 18:22] = 255
    pixels = read_image(encode(Image.fromarray(np.stack([grey, alpha], axis=-1), "LA")))
    assert pixels.shape == (40, 40, 4)
    np.testing.assert_array_equal(pixels[..., 3], alpha)


def test_16_bit_grey_is_scaled_not_clipped():
    values = np.array([[0, 1000, 32896, 65535]], dtype=np.uint16).repeat(4, axis=0)
    img = Image.fromarray(values)
    assert img.mode.startswith("I;16")
    pixels = read_image(encode(img))
    np.testing.assert_array_equal(pixels[0], [0, 4, 128, 255])  # Pillow's own convert("L") gives 0, 255, 255, 255


def test_cmyk_jpeg_reads_as_grey():
    pixels = read_image(encode(seven(200, 200).convert("CMYK"), "JPEG", quality=95))
    assert pixels.shape == (200, 200)
    np.testing.assert_allclose(pixels.astype(int), np.asarray(seven(200, 200).convert("L")), atol=40)
    assert pixels[0, 0] > 240 and pixels[40, 100] < 30  # white paper, black bar


@pytest.mark.parametrize("mode", ["1", "P"])
@pytest.mark.parametrize("offset", range(4))
def test_thin_lines_of_palette_and_1_bit_images_are_averaged_not_dropped(mode, offset):
    """Pillow resizes these modes by nearest neighbour only, which here keeps one column in four: every line or none.
    Read as grey first, each 1-px line is averaged into its output column: a uniform 75% grey."""
    lines = np.full((64, 4 * MAX_SIDE), 255, np.uint8)
    lines[:, offset::4] = 0
    img = Image.fromarray(lines).convert(mode, dither=Image.Dither.NONE)
    pixels = read_image(encode(img))
    assert pixels.shape == (16, MAX_SIDE)
    assert np.abs(pixels.astype(int) - 191).max() <= 2


def test_animated_gif_gives_its_first_frame():
    first, second = seven(60, 60, mode="L"), Image.new("L", (60, 60), 255)
    data = encode(first.convert("P"), "GIF", save_all=True, append_images=[second.convert("P")], duration=100)
    with Image.open(io.BytesIO(data)) as img:
        assert img.n_frames == 2
    np.testing.assert_array_equal(read_image(data), np.asarray(first))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_is_applied(fmt):
    img = Image.new("L", (80, 40), 255)
    img.paste(0, (0, 0, 16, 40))  # a dark band on the left of the stored pixels
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view": the band is at the top when shown
    pixels = read_image(encode(img, fmt, exif=exif.tobytes()))
    assert pixels.shape == (80, 40)
    assert pixels[:16].mean() < 30 and pixels[20:].mean() > 225


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_a_broken_exif_block_does_not_make_the_picture_unreadable(fmt):
    img = seven(50, 50, mode="L")
    data = encode(img, fmt, exif=b"Exif\x00\x00not a TIFF header", **({"lossless": True} if fmt == "WEBP" else {}))
    with Image.open(io.BytesIO(data)) as opened, pytest.raises(SyntaxError):
        opened.getexif()  # what ImageOps.exif_transpose raises on it
    np.testing.assert_array_equal(read_image(data), np.asarray(img))
