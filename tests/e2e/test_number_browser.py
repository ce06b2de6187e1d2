"""The Draw page's number mode and picture upload in a real browser, read by the shipped digit model.

A number is written on the wide canvas with real mouse strokes, digit after digit (``harness.digits.place_number``);
after each stroke the test waits until the number shown is for the new drawing (``data-input``) and the run is over,
then reads the page as a person would: the number, its confidence, one card per digit with its model input drawn.
Screenshots go to test-artifacts/ (a laptop's window in English, a tablet held upright in Korean).
"""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image, ImageDraw

from app_pages.i18n import strings
from harness.chromium import MAIN, exceptions_shown, open_tab, screenshot, wait_idle
from harness.digits import place_number
from harness.draw import NUMBER, NUMBER_CONFIDENCE, NUMBER_DIGIT, UPPER_CANVAS, canvas_box, draw_strokes, wait_new_number
from model_store.store import DEFAULTS_DIR

MODEL = "convscope-digits"
TABLET = {"width": 768, "height": 1024}  # an iPad held upright
FIRST_ANSWER_MS = 180_000

pytestmark = pytest.mark.skipif(not (DEFAULTS_DIR / f"{MODEL}.keras").is_file(),
                                reason=f"the shipped digit model model_store/defaults/{MODEL}.keras is missing")


def choose_source(page, label: str, shown: str) -> None:
    """Pick the Draw page's input ``label``; returns once the text ``shown`` is on the page and the run is over."""
    page.locator("[data-testid='stButtonGroup']").get_by_text(label, exact=True).first.click()
    page.locator(MAIN).get_by_text(shown).first.wait_for()
    wait_idle(page)


def number_state(page) -> tuple[str, str] | None:
    """(data-input, the number's text) of the number shown, or None."""
    return page.evaluate("""(sel) => {
        const e = document.querySelector(sel);
        return e ? [e.getAttribute('data-input'), e.textContent.trim()] : null;
    }""", NUMBER)


def write(page, text: str) -> list[str]:
    """Write ``text`` on the wide canvas stroke by stroke; returns the number shown after each stroke. The first
    answer may wait for the model to load on a fresh server (slow on a busy machine)."""
    box = canvas_box(page)
    read = []
    for stroke in place_number(text, round(box["width"]), round(box["height"])):
        state = number_state(page)
        draw_strokes(page, [stroke], box)
        wait_new_number(page, state and state[0], timeout=None if read else FIRST_ANSWER_MS)
        read.append(number_state(page)[1])
    return read


def digit_inputs_drawn(page) -> list[int]:
    """The natural width of each digit card's model input picture (28 once the browser has decoded it)."""
    page.wait_for_function("(sel) => [...document.querySelectorAll(sel + ' img')].every(i => i.complete)", arg=NUMBER_DIGIT)
    return page.locator(f"{NUMBER_DIGIT} img").evaluate_all("images => images.map(i => i.naturalWidth)")


def fits(page) -> bool:
    """Nothing sticks out sideways: the page does not scroll horizontally."""
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize(("device", "lang"), [("laptop", "en"), ("tablet", "ko")])
def test_a_number_written_on_the_wide_canvas_is_read_digit_by_digit(browser, app_server, device, lang):
    words = strings(lang)
    options = {"viewport": TABLET} if device == "tablet" else {}
    locale = {"en": "en-US", "ko": "ko-KR"}[lang]
    with open_tab(browser, f"{app_server['url']}/", ready=UPPER_CANVAS, locale=locale, **options) as page:
        choice = page.locator("[data-testid='stButtonGroup']").first
        choose_source(page, words["draw.source.number"], words["number.hint"])
        last = choice.locator("button").last  # the inputs' choice is not cut off: its last option is whole in view
        assert last.inner_text() == words["draw.source.upload"]
        assert last.evaluate("""b => { let e = b.parentElement, r = b.getBoundingClientRect();
            for (; e; e = e.parentElement) { const c = e.getBoundingClientRect(); if (r.right > c.right + 1) return false; }
            return r.right <= window.innerWidth; }"""), "the inputs' choice is cut off"
        box = canvas_box(page)
        assert (round(box["width"]), round(box["height"])) == (560, 200)
        assert fits(page), "the wide canvas sticks out of the page"
        before = page.evaluate("() => window.__convscopeStrokeSend ? window.__convscopeStrokeSend.sent : -1")
        read = write(page, "2026")
        assert read[-1] == "2026", f"wrote 2026, the page reads {read}"
        assert read[0] == "2" and len(read) == 4  # read after every stroke (each digit is one stroke)
        sent = page.evaluate("() => window.__convscopeStrokeSend.sent")
        assert sent == before + 4, "each stroke is sent at once, on the wide canvas too"
        confidence = page.locator(NUMBER_CONFIDENCE).inner_text()
        said = re.escape(words["number.confidence"]).replace(re.escape("{value}"), r"[<>]?\d+\.\d%")
        assert re.match(said, confidence), confidence
        classes = page.locator(NUMBER_DIGIT).evaluate_all("cards => cards.map(c => c.getAttribute('data-class'))")
        assert classes == ["2", "0", "2", "6"]
        assert digit_inputs_drawn(page) == [28] * 4  # the inputs survive Streamlit's HTML sanitiser
        assert fits(page) and exceptions_shown(page) is None
        page.locator(NUMBER).scroll_into_view_if_needed()
        screenshot(page, f"number-2026-{device}-{lang}.png")


def paper(text: str) -> bytes:
    """``text`` in dark ink on white paper, as a PNG."""
    width, height = 140 * len(text) + 60, 240
    img = Image.new("L", (width, height), 255)
    pen = ImageDraw.Draw(img)
    for stroke in place_number(text, width, height):
        pen.line([(x * width, y * height) for x, y in stroke], fill=20, width=14, joint="curve")
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


def test_an_uploaded_picture_is_read_and_a_file_that_is_none_is_refused(browser, app_server):
    with open_tab(browser, f"{app_server['url']}/", ready=UPPER_CANVAS) as page:
        choose_source(page, "Upload a picture", strings("en")["upload.hint"])
        files = page.locator("[data-testid='stFileUploader'] input[type=file]")
        files.set_input_files(files=[{"name": "worksheet.png", "mimeType": "image/png", "buffer": paper("2026")}])
        page.locator(NUMBER).wait_for(timeout=FIRST_ANSWER_MS)
        wait_idle(page)
        assert number_state(page)[1] == "2026"
        assert digit_inputs_drawn(page) == [28] * 4
        picture = page.locator(f"{MAIN} [data-testid='stImage'] img").first  # the picture with a box round each digit
        assert picture.evaluate("i => i.complete && i.naturalWidth > 0")
        screenshot(page, "upload-2026.png")
        files.set_input_files(files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not a picture"}])
        error = page.locator(f"{MAIN} [data-testid='stAlertContentError']").first
        error.wait_for()
        wait_idle(page)
        assert "notes.png cannot be read" in error.inner_text()
        assert exceptions_shown(page) is None and page.locator(NUMBER).count() == 0
        screenshot(page, "upload-refused.png")
