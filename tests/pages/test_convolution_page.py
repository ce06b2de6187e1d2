"""The Convolution page's upload under AppTest: a picture too large or not a picture is refused in the session's
language, before it is decoded; a blank one is named as blank. Files are made by the tests (a few KB each)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.unit.image_files import black_png, encode, seven

APP = str(Path(__file__).resolve().parents[2] / "app.py")
CONVOLUTION = "app_pages/convolution.py"


@pytest.fixture
def env(monkeypatch, tmp_path):
    import streamlit as st

    monkeypatch.setenv("CONVSCOPE_MODELS", str(tmp_path / "models"))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield tmp_path
    st.cache_resource.clear()


def upload(lang: str, filename: str, data: bytes) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["lang"] = lang
    at.run()
    at.switch_page(CONVOLUTION).run()
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
def test_a_refused_upload_says_why_in_the_sessions_language(env, kind, lang):
    at = upload(lang, f"{kind}.png", FILES[kind]())
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and REFUSED[kind, lang] in errors[0], errors
    assert not at.get("plotly_chart"), "a refused upload must not be drawn"


def test_a_blank_upload_is_named_blank(env):
    at = upload("en", "blank.png", encode(seven(200, 200, ink="white")))
    assert not at.error
    assert any("the image is blank" in w.value for w in at.warning), [w.value for w in at.warning]


def test_a_big_photo_is_read_and_convolved(env):
    at = upload("en", "photo.jpg", encode(seven(6000, 4000), "JPEG", quality=90))
    assert not at.error and not at.warning
    assert any("28×28 input → 26×26" in c.value for c in at.caption), [c.value for c in at.caption]
