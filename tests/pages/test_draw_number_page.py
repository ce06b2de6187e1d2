"""The Draw page's number mode and picture upload under AppTest, read by the shipped digit model.

The wide canvas is the fake canvas of ``fakes.py`` (it returns what the test drew, whatever the canvas' key); the
number is drawn with the strokes the browser tests draw (``harness.digits.place_number``). Uploads go through
AppTest's file uploader, so the page reads the bytes as it would a pupil's file. The number view is one HTML element
(``app_pages/number_view.py``); the tests read its markers.
"""

from __future__ import annotations

import html
import io
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw

from app_pages.draw_sources import NUMBER_HEIGHT, NUMBER_WIDTH
from app_pages.i18n import strings
from harness.digits import place_number
from model_store.refusal import REASONS
from model_store.store import DEFAULTS_DIR
from tests.pages.fakes import FakeCanvas, install_fake_canvas
from tests.pages.test_draw_page import panels, payload

pytestmark = pytest.mark.skipif(not (DEFAULTS_DIR / "convscope-digits.keras").exists(),
                                reason="the shipped digit model model_store/defaults/convscope-digits.keras is missing")


def written(text: str, width: int = NUMBER_WIDTH, height: int = NUMBER_HEIGHT, pen: int = 18) -> np.ndarray:
    """``text``'s digits side by side as the wide canvas returns them: RGBA, white strokes on black."""
    img = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    draw = ImageDraw.Draw(img)
    for stroke in place_number(text, width, height):
        draw.line([(x * width, y * height) for x, y in stroke], fill=(255, 255, 255, 255), width=pen, joint="curve")
    return np.asarray(img)


def on_paper(text: str, kind: str = "PNG") -> bytes:
    """``text`` written in dark ink on white paper, as a file's bytes (a scan, a photo of a worksheet)."""
    grey = 255 - written(text, width=140 * len(text) + 60, height=240, pen=14)[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(grey).convert("RGB").save(buffer, kind)
    return buffer.getvalue()


def filled_area() -> np.ndarray:
    img = Image.new("RGBA", (NUMBER_WIDTH, NUMBER_HEIGHT), (0, 0, 0, 255))
    ImageDraw.Draw(img).rectangle([200, 40, 330, 160], fill=(255, 255, 255, 255))
    return np.asarray(img)


def number_shown(at) -> dict | None:
    """The number view's number, its confidence line and its digits' classes, or None when it is not shown."""
    views = [e.proto.body for e in at.get("html") if "data-testid='number'" in e.proto.body]
    if not views:
        return None
    (body,) = views
    return {"number": re.search(r"data-testid='number'[^>]*>(.*?)</div>", body).group(1),
            "confidence": html.unescape(re.search(r"data-testid='number-confidence'[^>]*>(.*?)</div>", body).group(1)),
            "digits": re.findall(r"data-testid='number-digit' data-class='(\d)'", body),
            "inputs": len(re.findall(r"<img src='data:image/png;base64,", body)),
            "bars": len(re.findall(r"data-testid='probabilities'", body)),
            "body": body}


@pytest.fixture
def app(monkeypatch, open_app):
    install_fake_canvas(monkeypatch)
    return open_app()


def choose(at, source: str):
    return at.segmented_control(key="draw_source").set_value(source).run()


def upload(at, name: str, data: bytes, mime: str = "image/png"):
    return at.file_uploader(key="draw_upload").set_value((name, data, mime)).run()


# ---- a number drawn on the wide canvas ---------------------------------------------------------------
def test_number_mode_reads_the_digits_left_to_right_after_every_stroke(app):
    choose(app, "number")
    assert not app.exception
    assert [i.value for i in app.info] == [strings("en")["number.hint"]]  # the empty canvas asks for a number
    assert panels(app) == [] and number_shown(app) is None
    # the stroke width and the filters; no switches for one digit's views (the naive resize, pixels, the evidence)
    assert [s.key for s in app.main.slider] == ["stroke_width"] and not app.main.checkbox
    assert [c.key for c in app.main.toggle] == ["draw_filters"]
    FakeCanvas.image = written("20")  # the first strokes ...
    app.run()
    assert number_shown(app)["number"] == "20"
    FakeCanvas.image = written("2026")  # ... and the last
    app.run()
    assert not app.exception
    shown = number_shown(app)
    assert shown["number"] == "2026" and shown["digits"] == ["2", "0", "2", "6"]
    assert shown["inputs"] == 4 and shown["bars"] == 4  # each digit's 28x28 input and its probabilities
    assert re.fullmatch(r"confidence in the whole number [<>]?\d+\.\d%", shown["confidence"])
    assert not app.info and not app.warning


def test_a_filled_area_on_the_wide_canvas_is_refused_with_the_reason(app):
    choose(app, "number")
    FakeCanvas.image = filled_area()
    app.run()
    assert not app.exception
    assert [w.value for w in app.warning] == [f"This cannot be read as a number: {REASONS['image_filled']}."]
    assert number_shown(app) is None


def test_the_digit_canvas_is_still_there_after_the_number_mode(app):
    choose(app, "number")
    choose(app, "draw")
    FakeCanvas.image = written("7", width=280, height=280)
    app.run()
    assert not app.exception
    assert payload(app)["label"] == "7" and number_shown(app) is None


def test_in_presentation_mode_the_number_is_larger_and_the_ink_is_found_out(app):
    choose(app, "number")
    FakeCanvas.image = written("2026")
    app.run()
    assert "font-size:4.5rem" in number_shown(app)["body"]
    app.sidebar.toggle(key="present").set_value(True).run()
    assert not app.exception
    shown = number_shown(app)
    assert shown["number"] == "2026" and "font-size:7rem" in shown["body"]
    choose(app, "upload")  # on a projector the uploader only: the ink's side is found out
    assert [w.key for w in app.main.file_uploader] == ["draw_upload"] and len(app.main.segmented_control) == 1
    upload(app, "year.png", on_paper("2026"))
    assert number_shown(app)["number"] == "2026" and "font-size:7rem" in number_shown(app)["body"]


def test_in_korean_the_number_mode_speaks_korean(monkeypatch, open_app):
    install_fake_canvas(monkeypatch)
    at = open_app(lang="ko")
    choose(at, "number")
    ko = strings("ko")
    assert [i.value for i in at.info] == [ko["number.hint"]]
    FakeCanvas.image = written("2026")
    at.run()
    shown = number_shown(at)
    assert shown["number"] == "2026" and shown["confidence"].startswith("수 전체의 확신도")
    FakeCanvas.image = filled_area()
    at.run()
    assert [w.value for w in at.warning] == [f"수로 읽을 수 없습니다: {ko['refusal.image_filled']}."]


# ---- an uploaded picture ---------------------------------------------------------------------------
def test_upload_of_a_number_shows_the_picture_with_its_digits_and_reads_the_number(app):
    choose(app, "upload")
    assert not app.exception
    assert [i.value for i in app.info] == [strings("en")["upload.hint"]]
    assert app.segmented_control(key="upload_polarity").value == "auto"
    upload(app, "year.png", on_paper("2026"))
    assert not app.exception
    assert number_shown(app)["number"] == "2026"
    assert panels(app) == []  # several digits: the number view, not the one-digit panel
    (picture,) = app.get("image")
    assert strings("en")["upload.boxes"] in str(picture.proto)


def test_upload_of_one_digit_goes_to_the_result_panel(app):
    choose(app, "upload")
    upload(app, "six.jpg", on_paper("6", "JPEG"), "image/jpeg")
    assert not app.exception
    shown = payload(app)
    assert shown["label"] == "6" and [view["id"] for view in shown["sees"]["views"]] == ["mnist_style"]
    assert shown["maps"]["layers"] and number_shown(app) is None
    app.checkbox(key="show_values").check().run()  # the controls of a drawn digit work on it too
    assert app.dataframe[0].value.to_numpy().shape == (28, 28)


def test_the_polarity_chosen_is_used(app):
    choose(app, "upload")
    upload(app, "year.png", on_paper("2026"))
    app.segmented_control(key="upload_polarity").set_value("light-on-dark").run()  # the white paper read as ink
    assert not app.exception
    wrong = number_shown(app)
    assert wrong is None or wrong["number"] != "2026"
    app.segmented_control(key="upload_polarity").set_value("dark-on-light").run()
    assert number_shown(app)["number"] == "2026"


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_file_that_is_no_picture_is_refused_in_the_readers_language_and_nothing_is_lost(monkeypatch, open_app, lang):
    install_fake_canvas(monkeypatch)
    at = open_app(lang=lang)
    at.slider(key="stroke_width").set_value(30).run()
    choose(at, "upload")
    upload(at, "homework.png", b"this is not a picture at all")
    assert not at.exception
    reason = REASONS["image_unreadable"] if lang == "en" else strings("ko")["refusal.image_unreadable"]
    expected = strings(lang)["upload.refused"].format(name="homework.png", reason=reason)
    assert [e.value for e in at.error] == [expected]
    assert number_shown(at) is None and payload(at) is None  # the panel is there, empty
    upload(at, "year.png", on_paper("2026"))  # the next file is read
    assert not at.error and number_shown(at)["number"] == "2026"
    choose(at, "draw")
    assert at.slider(key="stroke_width").value == 30


def test_a_blank_picture_says_there_is_no_ink(app):
    choose(app, "upload")
    buffer = io.BytesIO()
    Image.new("L", (400, 200), 255).save(buffer, "PNG")
    upload(app, "blank.png", buffer.getvalue())
    assert not app.exception
    assert [w.value for w in app.warning] == [f"blank.png cannot be read: {REASONS['image_empty']}."]
