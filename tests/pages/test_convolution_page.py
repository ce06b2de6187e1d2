"""The Convolution page under AppTest: the step view (patch, products, sum) for a sample image and a kernel, and the
upload: a picture too large or not a picture is refused in the session's language, before it is decoded; a blank one
is named as blank. Files are made by the tests (a few KB each)."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model_store import convolution as conv
from model_store.model_input import to_float
from model_store.store import DEFAULTS_DIR
from tests.unit.image_files import black_png, encode, seven

CONVOLUTION = "app_pages/convolution.py"


def upload(open_app, lang: str, filename: str, data: bytes) -> AppTest:
    at = open_app(CONVOLUTION, lang=lang)
    at.segmented_control(key="conv_source").set_value("upload").run()
    at.file_uploader(key="conv_upload").upload(filename, data)
    at.run()
    assert not at.exception, at.exception
    return at


REFUSED = {
    ("huge", "en"): "the image has 196 megapixels; at most 16 megapixels can be read",
    ("huge", "ko"): "이미지가 196메가픽셀입니다. 최대 16메가픽셀까지 읽을 수 있으니",
    ("garbage", "en"): "this is not an image ConvScope can read, or the file is damaged",
    ("garbage", "ko"): "ConvScope가 읽을 수 있는 이미지가 아니거나 파일이 손상되었습니다",
}
FILES = {
    "huge": lambda: black_png(14_000, 14_000),
    "garbage": lambda: b"\x89PNG\r\n\x1a\n" + b"not really a picture, " * 40,
}


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("kind", ["huge", "garbage"])
def test_a_refused_upload_says_why_in_the_sessions_language(open_app, kind, lang):
    at = upload(open_app, lang, f"{kind}.png", FILES[kind]())
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and REFUSED[kind, lang] in errors[0], errors
    assert not at.get("plotly_chart"), "a refused upload must not be drawn"


def test_a_blank_upload_is_named_blank(open_app):
    at = upload(open_app, "en", "blank.png", encode(seven(200, 200, ink="white")))
    assert not at.error
    assert any("the image is blank" in w.value for w in at.warning), [w.value for w in at.warning]


def test_a_big_photo_is_read_and_convolved(open_app):
    at = upload(open_app, "en", "photo.jpg", encode(seven(6000, 4000), "JPEG", quality=90))
    assert not at.error and not at.warning
    assert any("28×28 input → 26×26" in c.value for c in at.caption), [c.value for c in at.caption]


def tables(at) -> dict[str, np.ndarray]:
    """The page's number tables in the order it draws them (AppTest keeps no key for a dataframe)."""
    return dict(zip(("kernel", "patch", "products"), (df.value.to_numpy(dtype=float) for df in at.dataframe)))


def test_the_step_view_shows_the_patch_the_products_and_their_sum(open_app):
    from training.samples import test_images

    at = open_app(CONVOLUTION)  # an MNIST sample image and the first preset kernel
    at.selectbox(key="conv_kernel").set_value("vertical edge").run()
    at.slider(key="conv_row").set_value(10)
    at.slider(key="conv_col").set_value(12).run()
    assert not at.exception, at.exception
    kernel = conv.as_kernel(conv.KERNELS["vertical edge"])
    np.testing.assert_allclose(tables(at)["kernel"], kernel)
    image = to_float(test_images("mnist").images[0])  # the first image, as the page reads it
    step = conv.step(image, kernel, 10, 12)
    assert step.patch.any(), "a patch on the digit's strokes, not on the black border"
    np.testing.assert_allclose(tables(at)["patch"], step.patch.round(2))
    np.testing.assert_allclose(tables(at)["products"], step.products.round(2))
    assert any(f"Sum = **{step.total:.3f}** → output at row 10, column 12" in md.value for md in at.markdown)
    assert any("28×28 input → 26×26" in c.value and "→ 13×13" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) >= 4  # input, feature map, ReLU, pooling


def test_a_custom_kernel_starts_from_the_last_preset(open_app):
    at = open_app(CONVOLUTION)
    at.selectbox(key="conv_kernel").set_value("edge").run()
    at.selectbox(key="conv_kernel").set_value("custom").run()
    assert not at.exception, at.exception
    np.testing.assert_allclose(tables(at)["kernel"], conv.as_kernel(conv.KERNELS["edge"]))
    assert [c.value for c in at.caption if "28×28 input" in c.value]


@pytest.mark.skipif(not (DEFAULTS_DIR / "convscope-digits.keras").exists(), reason="the shipped digit model is missing")
def test_the_closest_trained_filter_is_named(open_app):
    at = open_app(CONVOLUTION)
    assert not at.exception, at.exception
    assert any("convscope-digits" in md.value and "is the most similar to your kernel" in md.value for md in at.markdown)
