"""Bad input in a real browser: what a careless or curious user does to the Draw canvas and the model upload.

On the Draw page, with real mouse events on the canvas:

* a single click (a dot) gives a clear message, the empty-canvas hint or the "blob" warning, and no prediction;
* the whole canvas painted over (widest stroke, zig-zag strokes) gives the "blob" warning and no prediction;
* strokes along the very edge of the canvas do not crash the page (no exception element): it shows a
  prediction or a clear message;
* Clear (the canvas toolbar's trash can) brings the hint back and keeps the page's toggles: "Compare with
  a naive resize", switched on before Clear, is still on when a digit is drawn again.

On the Models page a file larger than the server's upload limit (``server.maxUploadSize`` in
.streamlit/config.toml) is refused by Streamlit with a message naming the limit, and the model table is
unchanged.

Synchronisation: the tab counts finished script runs (a MutationObserver on the app's
``data-test-script-state``); after every stroke the test waits until the count has grown and the app is
idle, then reads the page. Every test works in a fresh tab (its own Streamlit session) on the shared server.
"""

from __future__ import annotations

import json
import os
import re
import tomllib

import pytest
from playwright.sync_api import expect

from model_store.store import DEFAULTS_DIR
from tests.e2e.conftest import ARTIFACTS, IDLE, ROOT, canvas_box, draw_strokes, wait_idle

MODEL = "convscope-digits"
EN = json.loads((ROOT / "app_pages" / "locales" / "en.json").read_text(encoding="utf-8"))
HINT, BLOB, COMPARE = EN["draw.hint"], EN["draw.blob"], EN["draw.compare"]
MAX_UPLOAD_MB = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))["server"]["maxUploadSize"]
CLEAR_BUTTON = "[data-testid=stBidiComponentIsolated] button[aria-label='Reset canvas & history']"
PREDICTION = "[data-testid='prediction']"
EXCEPTION = "[data-testid='stException']"
ALERTS = "[data-testid='stMain'] [data-testid='stAlert']"

pytestmark = pytest.mark.skipif(
    not ((DEFAULTS_DIR / f"{MODEL}.keras").is_file() and (DEFAULTS_DIR / f"{MODEL}.json").is_file()),
    reason=f"the shipped digit model model_store/defaults/{MODEL}.keras/.json is missing (train it first)",
)

COUNT_RUNS = """([idle]) => {
    if (window.__runsDone === undefined) {
        window.__runsDone = 0;
        const app = document.querySelector("[data-testid='stApp']");
        new MutationObserver(records => {
            for (const r of records) if (r.oldValue === 'running') window.__runsDone++;
        }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state'], attributeOldValue: true});
    }
    return window.__runsDone;
}"""


# ---- page helpers -----------------------------------------------------------------------------------
def runs(page) -> int:
    """Script runs finished in this tab since it was opened (the counter is installed on the first call)."""
    return page.evaluate(COUNT_RUNS, [IDLE])


def wait_run_after(page, before: int, timeout: float = 60_000) -> None:
    """Wait until a script run has finished after ``runs(page) == before`` was read and the app is idle."""
    page.wait_for_function("([before, idle]) => window.__runsDone > before && document.querySelector(idle) !== null",
                           arg=[before, IDLE], timeout=timeout)


def stroke(page, points, box=None) -> None:
    """One stroke with real mouse events, then wait for the script run it causes."""
    before = runs(page)
    draw_strokes(page, [points], box)
    wait_run_after(page, before)


def alerts(page) -> list[str]:
    return [text.strip() for text in page.locator(ALERTS).all_inner_texts()]


def assert_no_exception(page) -> None:
    shown = page.locator(EXCEPTION)
    assert shown.count() == 0, f"the page shows an exception: {shown.first.inner_text()}"


def canvas_has_ink(page) -> bool:
    """Whether the drawing canvas holds any non-black pixel, once the canvas has painted its last frame."""
    return page.evaluate("""async () => {
        await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
        const c = document.querySelector("[data-testid=stBidiComponentIsolated] canvas.lower-canvas");
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 25 || d[i + 1] > 25 || d[i + 2] > 25) return true;
        return false;
    }""")


def wait_empty(page) -> None:
    """The empty-canvas state: the hint is shown, no prediction, the run is over."""
    page.wait_for_function("""([idle, hint]) => document.querySelector(idle) !== null
        && document.querySelector("[data-testid='prediction']") === null
        && [...document.querySelectorAll("[data-testid='stAlertContentInfo']")].some(e => e.textContent.includes(hint))
    """, arg=[IDLE, HINT])


def set_stroke_width(page, key: str) -> int:
    """Move the "Stroke width" slider with the keyboard (``Home`` or ``End``); returns the new width."""
    thumb = page.locator("[data-testid='stSlider']").filter(has_text=EN["draw.stroke"]).get_by_role("slider")
    before = runs(page)
    thumb.focus()
    thumb.press(key)
    wait_run_after(page, before)
    return int(thumb.get_attribute("aria-valuenow"))


def line(p, q, n: int = 8):
    return [(p[0] + (q[0] - p[0]) * i / n, p[1] + (q[1] - p[1]) * i / n) for i in range(n + 1)]


@pytest.fixture
def draw_page(browser, app_server):
    """A fresh English tab (its own session) on the Draw page, the canvas empty and the first run over."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{app_server['url']}/")
    page.wait_for_selector("[data-testid='stApp']")
    canvas_box(page)
    wait_idle(page)
    wait_empty(page)
    runs(page)  # start counting
    yield page
    context.close()


# ---- the Draw canvas --------------------------------------------------------------------------------
def test_single_click_gives_a_clear_message_and_no_prediction(draw_page):
    page = draw_page
    box = canvas_box(page)
    before = runs(page)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    if canvas_has_ink(page):
        wait_run_after(page, before)  # the dot went to the app: wait for what it says about it
    # else the canvas dropped the click (nothing to send): the page keeps its empty-canvas state
    wait_idle(page)
    assert_no_exception(page)
    assert page.locator(PREDICTION).count() == 0
    shown = alerts(page)
    assert HINT in shown or BLOB in shown, f"a click gives no clear message; alerts: {shown}"

    # a dot drawn on purpose (a tiny wiggle, so the canvas keeps it) is a blob, not a digit
    cx, cy = 0.5, 0.5
    stroke(page, [(cx, cy), (cx + 0.004, cy), (cx + 0.004, cy + 0.004), (cx, cy)], box)
    assert canvas_has_ink(page)
    assert_no_exception(page)
    assert page.locator(PREDICTION).count() == 0
    assert BLOB in alerts(page), f"a dot is not called a blob; alerts: {alerts(page)}"
    page.screenshot(path=str(ARTIFACTS / "bad-input-dot.png"))


def test_painting_the_whole_canvas_is_a_blob(draw_page):
    page = draw_page
    assert set_stroke_width(page, "End") == 40
    box = canvas_box(page)
    # one zig-zag stroke over the whole canvas: rows 0.07 apart, far less than the 40 px (0.14) stroke
    points = []
    for i, y in enumerate([0.01 + 0.07 * k for k in range(15)]):
        xs = (0.01, 0.99) if i % 2 == 0 else (0.99, 0.01)
        points += line((xs[0], y), (xs[1], y + 0.035), 6)
    stroke(page, points, box)
    assert_no_exception(page)
    assert page.locator(PREDICTION).count() == 0
    expect(page.locator(ALERTS).filter(has_text=BLOB)).to_be_visible()
    assert BLOB in alerts(page)
    page.screenshot(path=str(ARTIFACTS / "bad-input-filled.png"))


def test_strokes_along_the_edge_do_not_crash(draw_page):
    page = draw_page
    box = canvas_box(page)
    e = 1 / box["width"]  # one CSS pixel inside the canvas
    edges = {
        "top": line((e, e), (1 - e, e)),
        "right": line((1 - e, e), (1 - e, 1 - e)),
        "bottom": line((1 - e, 1 - e), (e, 1 - e)),
        "left": line((e, 1 - e), (e, e)),
    }
    for name, points in edges.items():  # one edge, then a frame growing around the canvas
        stroke(page, points, box)
        assert_no_exception(page)
        predicted = page.locator(PREDICTION).count() == 1
        shown = alerts(page)
        assert predicted or HINT in shown or BLOB in shown, f"after the {name} edge: no prediction and no message ({shown})"
        if predicted:
            assert re.fullmatch(r"\d", page.locator(PREDICTION).inner_text().strip())
    page.screenshot(path=str(ARTIFACTS / "bad-input-edges.png"))


def test_clear_brings_back_the_hint_and_keeps_the_toggles(draw_page):
    page = draw_page
    one = line((0.55, 0.15), (0.45, 0.85), 10)
    stroke(page, one)
    expect(page.locator(PREDICTION)).to_have_count(1)
    switch = page.locator("[data-testid='stCheckbox']").filter(has_text=COMPARE)
    before = runs(page)
    switch.click()
    wait_run_after(page, before)
    expect(page.locator("[data-testid='naive-prediction']")).to_be_visible()
    expect(switch.get_by_role("checkbox")).to_be_checked()

    page.locator(CLEAR_BUTTON).first.click()
    wait_empty(page)
    assert_no_exception(page)
    assert not canvas_has_ink(page)
    assert page.locator("[data-testid='naive-prediction']").count() == 0

    stroke(page, one)
    expect(page.locator(PREDICTION)).to_have_count(1)
    expect(switch.get_by_role("checkbox")).to_be_checked()  # the toggle kept its state through the empty canvas
    expect(page.locator("[data-testid='naive-prediction']")).to_be_visible()
    assert_no_exception(page)


# ---- the Models page: an upload above the size limit -------------------------------------------------
def model_table(page) -> list[list[str]]:
    """The model table's rows (header first) as its accessible grid gives them."""
    page.wait_for_function("""() => {
        const t = document.querySelector("[data-testid='stDataFrame'] table[role=grid]");
        return t !== null && t.querySelectorAll("tr").length == Number(t.getAttribute('aria-rowcount'));
    }""")
    return page.evaluate("""() => [...document.querySelector("[data-testid='stDataFrame'] table[role=grid]")
        .querySelectorAll("tr")].map(r => [...r.children].map(c => c.textContent.trim()))""")


def test_upload_above_the_size_limit_is_refused(browser, app_server, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{app_server['url']}/models")
        page.wait_for_selector("[data-testid='stApp']")
        expect(page.get_by_role("heading", level=1)).to_have_text(EN["models.title"])
        wait_idle(page)
        table = model_table(page)
        assert len(table) >= 2 and any(row[0] == MODEL for row in table[1:]), table

        page.locator("[data-testid='stButtonGroup']").get_by_text(EN["models.section.upload"], exact=True).click()
        uploader = page.locator("[data-testid='stFileUploader']").filter(has_text=EN["models.upload.file"])
        expect(uploader).to_be_visible()
        wait_idle(page)
        # the limit is stated before anything is chosen
        expect(uploader.get_by_test_id("stFileUploaderDropzoneInstructions")).to_contain_text(f"{MAX_UPLOAD_MB}MB per file")

        big = tmp_path / "too-big.keras"
        size = (MAX_UPLOAD_MB + 1) * 1024 * 1024 + 1
        big.write_bytes(os.urandom(size))
        uploader.locator("input[type=file]").set_input_files(str(big))

        chip = uploader.get_by_test_id("stFileChip")
        expect(chip).to_have_attribute("aria-invalid", "true")
        expect(chip).to_contain_text(big.name)
        limit = re.compile(rf"File must be {MAX_UPLOAD_MB}(\.0)?\s?MB or smaller")
        expect(chip.get_by_role("alert")).to_have_text(limit)  # read out by screen readers
        chip.hover()  # and shown to everyone else next to the file
        tooltip = page.get_by_test_id("stTooltipErrorContent")
        expect(tooltip).to_be_visible()
        expect(tooltip).to_have_text(limit)
        page.screenshot(path=str(ARTIFACTS / "bad-input-upload-too-big.png"))

        # nothing reached the app: no file, the add button stays disabled, no notice, the table is unchanged
        wait_idle(page)
        expect(page.get_by_role("button", name=EN["models.upload.button"])).to_be_disabled()
        assert_no_exception(page)
        added, refused = EN["models.upload.saved"].split("{")[0], EN["models.upload.refused"].split(":")[0].split("}")[1]
        assert not [a for a in alerts(page) if added in a or refused in a], alerts(page)
        assert model_table(page) == table
        page.reload()
        page.wait_for_selector("[data-testid='stApp']")
        wait_idle(page)
        assert model_table(page) == table
    finally:
        context.close()
