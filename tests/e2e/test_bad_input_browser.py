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

Synchronisation: the tab counts the script runs the server reports finished (its WebSocket messages; the
app's ``data-test-script-state`` alone misses runs too short for the browser to paint "running"). After
every action the test waits until that count has grown and the page shows the run's complete outcome,
a new one where the action must change it (see ``wait_outcome``), then reads the page. Every test works in
a fresh tab (its own Streamlit session) on the shared server.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tomllib

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from harness import ROOT
from harness.chromium import ARTIFACTS, EXCEPTION, IDLE, MAIN, RUN_ENDS, exceptions_shown, open_tab, wait_idle
from harness.digits import line
from harness.draw import CLEAR_BUTTON, DRAWING, PREDICTION, UPPER_CANVAS, canvas_box, draw_strokes
from model_store.refusal import REASONS
from model_store.store import DEFAULTS_DIR

MODEL = "convscope-digits"
EN = json.loads((ROOT / "app_pages" / "locales" / "en.json").read_text(encoding="utf-8"))
HINT, COMPARE = EN["draw.hint"], EN["draw.compare"]
BLOB = EN["draw.not_a_digit"].split("{reason}")[0]  # the reason after it says which: a dot, a filled area
MAX_UPLOAD_MB = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))["server"]["maxUploadSize"]
ALERTS = f"{MAIN} [data-testid='stAlert'], {MAIN} [data-testid='panel-message']"  # the Draw page's: in its panel
SLOW = 60_000  # ms, for what waits on a script run (expect's own default is 5 s; the test machine may be busy)

pytestmark = pytest.mark.skipif(
    not ((DEFAULTS_DIR / f"{MODEL}.keras").is_file() and (DEFAULTS_DIR / f"{MODEL}.json").is_file()),
    reason=f"the shipped digit model model_store/defaults/{MODEL}.keras/.json is missing (train it first)",
)


# What the Draw page shows once a run's whole output is there, or null while it is not (still running, or the
# last elements not drawn yet): "exception", "hint", "blob", or "prediction:<input fingerprint>". A prediction
# counts once the page's last control (the filters toggle) is there too. Elements left over from the previous
# run (marked data-stale) do not count.
OUTCOME = """([idle, hint, blob, last]) => {
    if (document.querySelector(idle) === null) return null;
    const live = sel => [...document.querySelectorAll("[data-testid='stMain'] " + sel)]
        .filter(e => !e.closest("[data-stale='true']"));
    if (live("[data-testid='stException']").length) return "exception";
    const prediction = live("[data-testid='prediction']");
    if (prediction.length) {
        return live("[data-testid='stCheckbox']").some(e => e.textContent.includes(last))
            ? "prediction:" + prediction[0].getAttribute("data-input") : null;
    }
    const messages = live("[data-testid='stAlert'], [data-testid='panel-message']").map(e => e.textContent);
    if (messages.some(m => m.includes(blob))) return "blob";
    if (messages.some(m => m.includes(hint))) return "hint";
    return null;
}"""
OUTCOME_ARGS = [IDLE, HINT, BLOB, EN["filters.toggle"]]


# ---- page helpers -----------------------------------------------------------------------------------
def runs(page) -> int:
    """Script runs the server has reported finished to this tab."""
    return page.evaluate("() => window.__runsFinished")


def outcome(page) -> str | None:
    return page.evaluate(OUTCOME, OUTCOME_ARGS)


def quiet_strokes(page) -> int:
    """Strokes the stroke route answered without a run of the page (app_pages/stroke_send.py)."""
    return page.evaluate("() => window.__convscopeStrokeSend ? window.__convscopeStrokeSend.quiet : 0")


def wait_outcome(page, before: int, unlike: str | None = None, timeout: float = SLOW, quiet: int | None = None) -> str:
    """Wait for the outcome of the run(s) an action caused: more than ``before`` runs finished and the page shows
    a complete outcome, other than ``unlike`` where given (the outcome before the action). ``quiet``: the count of
    quiet strokes before the action (a stroke), which may be answered without a run. Returns the outcome."""
    try:
        return page.wait_for_function(f"""([before, unlike, args, quiet]) => {{
            const shown = ({OUTCOME})(args);
            const answered = window.__runsFinished > before
                || (quiet !== null && window.__convscopeStrokeSend.quiet > quiet);
            return answered && shown !== null && shown !== unlike ? shown : false;
        }}""", arg=[before, unlike, OUTCOME_ARGS, quiet], timeout=timeout, polling="raf").json_value()
    except PlaywrightTimeout:
        page.screenshot(path=str(ARTIFACTS / "bad-input-timeout.png"))
        text = page.locator(MAIN).inner_text()[:600]
        raise AssertionError(f"no new outcome after {timeout / 1000:.0f} s: runs {before} -> {runs(page)}, outcome "
                             f"{unlike} -> {outcome(page)}; page: {text!r}; see test-artifacts/bad-input-timeout.png") from None


def on_canvas(page, box, x: float, y: float) -> bool:
    """Whether a mouse press at (x, y) in canvas units lands on the drawing canvas (not on the toolbar over it)."""
    return page.locator(UPPER_CANVAS).first.evaluate("""(canvas, [x, y]) =>
        canvas.getRootNode().elementFromPoint(x, y) === canvas""", [box["x"] + x * box["width"], box["y"] + y * box["height"]])


def stroke(page, points, box=None) -> str:
    """One stroke with real mouse events; waits for the page's new outcome and returns it."""
    box = box or canvas_box(page)
    assert on_canvas(page, box, *points[0]), f"the stroke would start on something covering the canvas: {points[0]}"
    before, shown, quiet = runs(page), outcome(page), quiet_strokes(page)
    draw_strokes(page, [points], box)
    return wait_outcome(page, before, unlike=shown, quiet=quiet)


def alerts(page) -> list[str]:
    return [text.strip() for text in page.locator(ALERTS).all_inner_texts()]


def assert_no_exception(page) -> None:
    shown = exceptions_shown(page)
    assert shown is None, f"the page shows {shown}"


def ink_share(page) -> float:
    """Share of the drawing canvas' pixels that hold ink, once the canvas has painted its last frame."""
    return page.locator(DRAWING).first.evaluate("""async c => {
        await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let ink = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 25 && (d[i] > 25 || d[i + 1] > 25 || d[i + 2] > 25)) ink++;
        return ink / (d.length / 4);
    }""")


def set_stroke_width(page, key: str) -> int:
    """Move the "Stroke width" slider with the keyboard (``Home`` or ``End``); returns the width the page then has."""
    thumb = page.locator("[data-testid='stSlider']").filter(has_text=EN["draw.stroke"]).get_by_role("slider")
    before = runs(page)
    thumb.focus()
    thumb.press(key)
    wait_outcome(page, before)  # the run that hands the canvas its new width is over
    return int(thumb.input_value())


def clear(page) -> None:
    """Clear the canvas with its toolbar's trash can ("Reset canvas & history"); waits for the hint."""
    before, shown = runs(page), outcome(page)
    assert shown != "hint", "the canvas is empty already"
    page.locator(CLEAR_BUTTON).first.click()
    assert wait_outcome(page, before, unlike=shown) == "hint"
    assert ink_share(page) == 0


@pytest.fixture
def draw_page(browser, app_server):
    """A fresh English tab (its own session) on the Draw page: the canvas empty, the hint shown, the run over."""
    with open_tab(browser, f"{app_server['url']}/", timeout=SLOW, ready=UPPER_CANVAS, init_script=RUN_ENDS) as page:
        assert wait_outcome(page, 0) == "hint"
        yield page


# ---- the Draw canvas --------------------------------------------------------------------------------
def test_single_click_gives_a_clear_message_and_no_prediction(draw_page):
    page = draw_page
    box = canvas_box(page)
    before, quiet = runs(page), quiet_strokes(page)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    if ink_share(page) > 0:
        # the click left a dot, which goes to the app: the page must say something new about it
        shown = wait_outcome(page, before, unlike="hint", quiet=quiet)
    else:
        shown = outcome(page)  # the canvas dropped the click: nothing was sent, the empty-canvas state stays
    assert_no_exception(page)
    assert shown in ("hint", "blob"), f"a click gives {shown}, not a clear message; alerts: {alerts(page)}"
    assert page.locator(PREDICTION).count() == 0
    page.screenshot(path=str(ARTIFACTS / "bad-input-click.png"))

    # a dot drawn on purpose (a press with a tiny wiggle) on the cleared canvas: a blob, not a digit
    clear(page)
    shown = stroke(page, [(0.3, 0.3), (0.304, 0.3), (0.304, 0.304), (0.3, 0.3)], box)
    assert_no_exception(page)
    assert shown == "blob", f"a dot gives {shown}; alerts: {alerts(page)}"
    assert page.locator(PREDICTION).count() == 0
    expect(page.locator(ALERTS).filter(has_text=REASONS["image_dot"])).to_be_visible()  # says which: a dot


def test_painting_the_whole_canvas_is_a_blob(draw_page):
    page = draw_page
    assert set_stroke_width(page, "End") == 40
    box = canvas_box(page)
    # one zig-zag stroke over the whole canvas: rows 0.07 (20 px) apart, half the 40 px stroke
    points = []
    for i, y in enumerate([0.01 + 0.07 * k for k in range(15)]):
        xs = (0.01, 0.99) if i % 2 == 0 else (0.99, 0.01)
        points += line((xs[0], y), (xs[1], y + 0.035), 6)
    shown = stroke(page, points, box)
    covered = ink_share(page)
    assert covered > 0.99, f"the canvas is not painted over ({covered:.1%}): was the stroke drawn 40 px wide?"
    assert_no_exception(page)
    assert shown == "blob", f"a painted-over canvas gives {shown}; alerts: {alerts(page)}"
    assert page.locator(PREDICTION).count() == 0
    expect(page.locator(ALERTS).filter(has_text=BLOB)).to_be_visible()
    expect(page.locator(ALERTS).filter(has_text=REASONS["image_filled"])).to_be_visible()  # says which: filled
    page.screenshot(path=str(ARTIFACTS / "bad-input-filled.png"))


def test_strokes_along_the_edge_do_not_crash(draw_page):
    page = draw_page
    box = canvas_box(page)
    e = 1 / box["width"]  # one CSS pixel inside the canvas
    # Each stroke starts where the canvas takes the press: the canvas' toolbar, shown while the mouse is over
    # the canvas, covers its top few pixels from about the middle to the right-hand corner.
    edges = {
        "top": line((e, e), (1 - e, e)),
        "right": line((1 - e, 1 - e), (1 - e, e)),
        "bottom": line((e, 1 - e), (1 - e, 1 - e)),
        "left": line((e, 1 - e), (e, e)),
    }
    for name, points in edges.items():  # one edge alone, then a frame growing around the canvas
        shown = stroke(page, points, box)
        assert shown != "exception", f"after the {name} edge: {page.locator(EXCEPTION).first.inner_text()}"
        assert_no_exception(page)
        assert shown.startswith("prediction:") or shown in ("hint", "blob"), shown
        if shown.startswith("prediction:"):
            assert re.fullmatch(r"\d", page.locator(PREDICTION).inner_text().strip())
        else:
            assert page.locator(PREDICTION).count() == 0
    page.screenshot(path=str(ARTIFACTS / "bad-input-edges.png"))


def test_clear_brings_back_the_hint_and_keeps_the_toggles(draw_page):
    page = draw_page
    one = line((0.55, 0.15), (0.45, 0.85), 10)
    assert stroke(page, one).startswith("prediction:")
    switch = page.locator("[data-testid='stCheckbox']").filter(has_text=COMPARE)
    naive = page.locator("[data-testid='naive-prediction']")
    before = runs(page)
    switch.click()
    expect(naive).to_be_visible(timeout=SLOW)
    wait_outcome(page, before)
    expect(switch.get_by_role("switch")).to_be_checked()

    clear(page)
    assert_no_exception(page)
    assert page.locator(PREDICTION).count() == 0 and naive.count() == 0

    assert stroke(page, one).startswith("prediction:")
    expect(switch.get_by_role("switch")).to_be_checked()  # the toggle kept its state through the empty canvas
    expect(naive).to_be_visible()
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


@contextlib.contextmanager
def models_tab(browser, app_server, **options):
    """A new English tab on the Models page, for a ``with`` block: its title is shown and its run over."""
    with open_tab(browser, f"{app_server['url']}/models", timeout=SLOW, **options) as page:
        expect(page.locator(MAIN).get_by_role("heading", level=1)).to_have_text(EN["models.title"], timeout=SLOW)
        wait_idle(page)
        yield page


def open_upload(page):
    """Open the Models page's upload section; returns its file uploader once it is shown and the run is over."""
    page.locator("[data-testid='stButtonGroup']").get_by_text(EN["models.section.upload"], exact=True).click()
    uploader = page.locator("[data-testid='stFileUploader']").filter(has_text=EN["models.upload.file"])
    expect(uploader).to_be_visible(timeout=SLOW)
    wait_idle(page)
    return uploader


def test_upload_above_the_size_limit_is_refused(browser, app_server, tmp_path):
    uploads = []  # file uploads the browser sends to the server (Streamlit PUTs them to /_stcore/upload_file/...)

    def watch_uploads(page):
        page.on("request", lambda request: uploads.append(request.url) if "/_stcore/upload_file" in request.url else None)

    with models_tab(browser, app_server, setup=watch_uploads) as page:
        table = model_table(page)
        assert len(table) >= 2 and any(row[0] == MODEL for row in table[1:]), table

        uploader = open_upload(page)
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

        # nothing reached the app: no upload request, the add button stays disabled, no notice, the table is unchanged
        wait_idle(page)
        assert uploads == [], uploads
        expect(page.get_by_role("button", name=EN["models.upload.button"])).to_be_disabled()
        assert_no_exception(page)
        added, refused = EN["models.upload.saved"].split("{")[0], EN["models.upload.refused"].split(":")[0].split("}")[1]
        assert not [a for a in alerts(page) if added in a or refused in a], alerts(page)
        assert model_table(page) == table
        page.reload()
        page.wait_for_selector("[data-testid='stApp']")
        wait_idle(page)
        assert model_table(page) == table


def test_a_zip_bomb_model_is_refused_with_the_reason_and_no_traceback(browser, app_server, tmp_path):
    """A real small model whose config.json unpacks to 200 MB of spaces: refused from the zip's directory, in
    the server, before anything inflates it; the page says why and shows no traceback."""
    import zipfile

    import keras

    good = tmp_path / "good.keras"
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]).save(good)
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            content = source.read(name)
            target.writestr(name, content[:-1] + b" " * (200 * 2**20) + b"}" if name == "config.json" else content)
    assert bomb.stat().st_size < 2**20
    with models_tab(browser, app_server) as page:
        table = model_table(page)
        uploader = open_upload(page)
        uploader.locator("input[type=file]").set_input_files(str(bomb))
        button = page.get_by_role("button", name=EN["models.upload.button"])
        expect(button).to_be_enabled()
        wait_idle(page)
        button.click()
        error = page.locator(f"{MAIN} [data-testid='stAlertContentError']").first
        expect(error).to_contain_text("bomb.keras was refused", timeout=SLOW)
        expect(error).to_contain_text("zip bomb")
        page.screenshot(path=str(ARTIFACTS / "bad-input-zip-bomb.png"))
        assert_no_exception(page)
        wait_idle(page)
        assert model_table(page) == table
