"""The Draw page in a real browser: digits drawn as mouse strokes, read by the shipped digit model.

Each digit is drawn twice, small in a corner and large in the centre, with real mouse events on the
canvas; the test reads the prediction as a person would (the big label) and saves a screenshot per
drawing in test-artifacts/. The canvas is cleared between drawings with the canvas' own toolbar
(its "Reset canvas & history" button), which also brings back the empty-canvas hint.

The answer is the page's result panel (app_pages/panel.js): one element that draws the prediction, the bars, the
model input and the feature maps itself; the tests read its markers (harness/draw.py) as they read Streamlit's.

Synchronisation: the prediction element carries ``data-input``, a fingerprint of the model input.
After every stroke the test waits until that attribute differs from its value before the stroke and
the app's script has finished its run; only then is the page read.

Only the shipped default models are used (the ``app_server`` fixture gives the app an empty user model
folder); the module skips when ``model_store/defaults/convscope-digits`` is missing.
"""

from __future__ import annotations

import re

import pytest

from app_pages.stroke_answer import ROUTE
from app_pages.stroke_send import SEND_BUTTON
from harness.chromium import IDLE, MAIN, RUN_ENDS, count_runs, open_tab, screenshot, wait_idle
from harness.digits import SHAPES, place
from harness.draw import (
    CANVAS,
    CLEAR_BUTTON,
    MODEL_INPUT,
    NAIVE_PREDICTION,
    PANEL,
    PREDICTION,
    PROBABILITIES,
    UNDO,
    UPPER_CANVAS,
    canvas_box,
    draw_strokes,
    wait_new_prediction,
)
from model_store.store import DEFAULTS_DIR, ModelStore

MODEL = "convscope-digits"
HINT = "Draw a digit on the black canvas to see the prediction."
STROKE_BYTES = 20 * 1024  # what one stroke may bring over the websocket

pytestmark = pytest.mark.skipif(
    not ((DEFAULTS_DIR / f"{MODEL}.keras").is_file() and (DEFAULTS_DIR / f"{MODEL}.json").is_file()),
    reason=f"the shipped digit model model_store/defaults/{MODEL}.keras/.json is missing (train it first); "
           "these tests assert what the shipped model reads",
)


# ---- where the digits of harness/digits.py are drawn ------------------------------------------------
# (name, centre x, centre y, height) in canvas units (the canvas is 280x280 CSS px)
LARGE_CENTRE = ("large-centre", 0.5, 0.5, 0.7)
SMALL_CORNERS = {
    "0": ("small-top-left", 0.2, 0.2, 0.3),
    "1": ("small-top-right", 0.82, 0.2, 0.3),
    "4": ("small-bottom-left", 0.2, 0.8, 0.3),
    "7": ("small-bottom-right", 0.8, 0.8, 0.3),
}
CASES = [(digit, where) for digit in SHAPES for where in (SMALL_CORNERS[digit], LARGE_CENTRE)]


# ---- page helpers -----------------------------------------------------------------------------------
def prediction_state(page) -> tuple[str, str] | None:
    """(data-input fingerprint, predicted label) of the prediction on the page, or None when there is none."""
    return page.evaluate("""() => {
        const e = document.querySelector("[data-testid='prediction']");
        return e ? [e.getAttribute('data-input'), e.textContent.trim()] : null;
    }""")


def draw(page, strokes) -> str:
    """Draw the strokes one by one, waiting for each one's prediction; returns the label finally shown."""
    box = canvas_box(page)
    for stroke in strokes:
        state = prediction_state(page)
        draw_strokes(page, [stroke], box)
        wait_new_prediction(page, state and state[0])
    return prediction_state(page)[1]


def wait_empty(page) -> None:
    """Wait for the empty-canvas state: the hint is shown, no prediction, the run is over."""
    page.wait_for_function("""([idle, hint]) => document.querySelector(idle) !== null
        && document.querySelector("[data-testid='prediction']") === null
        && [...document.querySelectorAll("[data-testid='panel-message']")].some(e => e.textContent.includes(hint))
    """, arg=[IDLE, HINT])


def clear_canvas(page) -> None:
    """Clear with the canvas' own toolbar (the trash can: "Reset canvas & history")."""
    if prediction_state(page) is not None:
        page.locator(CLEAR_BUTTON).first.click()
    wait_empty(page)


def tab_labels(page) -> list[str]:
    return [label.strip() for label in page.get_by_role("tab").all_inner_texts()]


def conv_layers(name: str, tmp_path_factory) -> list[str]:
    meta = ModelStore(user_dir=tmp_path_factory.mktemp("store")).get(name).meta
    return [layer["name"] for layer in meta["layers"] if layer["type"] == "Conv2D"]


# ---- fixtures ---------------------------------------------------------------------------------------
def draw_tab(browser, app_server, **options):
    """A new English tab on the Draw page (the default page, served at "/"), ready to draw on: the canvas is there
    and the first run is over (strokes drawn earlier are lost). A ``with`` block closes it."""
    return open_tab(browser, f"{app_server['url']}/", ready=UPPER_CANVAS, **options)


@pytest.fixture(scope="module")
def draw_page(browser, app_server):
    """One tab shared by the drawing tests of this module."""
    with draw_tab(browser, app_server) as pg:
        yield pg


@pytest.fixture
def blank(draw_page):
    """The shared tab with an empty canvas."""
    clear_canvas(draw_page)
    return draw_page


# ---- tests ------------------------------------------------------------------------------------------
def test_empty_canvas_shows_hint_and_no_prediction(browser, app_server):
    with draw_tab(browser, app_server) as page:
        assert HINT in page.locator(MAIN).inner_text()
        assert page.locator(PREDICTION).count() == 0
        assert page.locator("[data-testid='confidence']").count() == 0
        assert tab_labels(page) == []  # no feature maps without an input
        # the sidebar offers the shipped default digit model and the page uses it
        picker = page.locator("[data-testid='stSidebar']").get_by_role("combobox", name="Digits (MNIST) model")
        assert picker.input_value().startswith(f"{MODEL} (default)"), picker.input_value()


@pytest.mark.parametrize("digit,where", CASES, ids=[f"{d}-{p[0]}" for d, p in CASES])
def test_drawn_digit_is_read(blank, digit, where):
    name, cx, cy, height = where
    label = draw(blank, place(digit, cx, cy, height))
    screenshot(blank, f"draw-{digit}-{name}.png")
    assert label == digit, f"drew a {digit} ({name}), the page reads {label}"
    confidence = blank.locator("[data-testid='confidence']").inner_text()
    assert re.match(r"confidence [<>]?\d+\.\d%", confidence), confidence
    # clearing with the toolbar empties the canvas: the hint is back and the prediction gone
    clear_canvas(blank)


def strokes_sent(page) -> int:
    """Strokes the app's stroke sender (app_pages/stroke_send.py) has sent at once by pressing the canvas' send button."""
    return page.evaluate("() => window.__convscopeStrokeSend ? window.__convscopeStrokeSend.sent : -1")


def strokes_answered(page) -> int:
    """Strokes the server's stroke route (app_pages/stroke_answer.py) answered before the page's run."""
    return page.evaluate("() => window.__convscopeStrokeSend ? window.__convscopeStrokeSend.answered : -1")


def strokes_quiet(page) -> int:
    """Strokes answered by the stroke route alone, without a run of the page."""
    return page.evaluate("() => window.__convscopeStrokeSend ? window.__convscopeStrokeSend.quiet : -1")


def test_each_stroke_is_answered_by_the_route_and_sent_only_when_the_page_has_something_to_show(blank):
    """Every stroke is answered by the stroke route, and not sent to the page: its run would show nothing new. With
    the pixel values on (which only a run draws), every stroke is sent too, at once (the page presses the canvas' own
    send button, which it still finds under its label). Clicks that do not start on the drawing surface (the
    toolbar's Clear) send nothing."""
    before, answered, quiet = strokes_sent(blank), strokes_answered(blank), strokes_quiet(blank)
    assert before >= 0, "the stroke sender is not installed on the Draw page"
    strokes = place("4", 0.5, 0.5, 0.7)
    assert len(strokes) >= 2
    assert draw(blank, strokes) == "4"
    assert strokes_answered(blank) == answered + len(strokes)
    assert strokes_quiet(blank) == quiet + len(strokes) and strokes_sent(blank) == before
    clear_canvas(blank)
    values = blank.locator("[data-testid='stCheckbox']").filter(has_text="Show pixel values")
    values.click()
    wait_idle(blank)
    try:
        assert draw(blank, strokes) == "4"
        blank.wait_for_function("([n]) => window.__convscopeStrokeSend.sent >= n", arg=[before + len(strokes)])
        assert strokes_sent(blank) == before + len(strokes)
        assert strokes_quiet(blank) == quiet + len(strokes) + 1  # the Clear in between was answered by the route
        assert blank.locator(f"{MAIN} [data-testid='stTable'], {MAIN} [data-testid='stDataFrame']").count() >= 1
    finally:
        values.click()
        wait_idle(blank)
    clear_canvas(blank)
    assert (strokes_sent(blank), strokes_answered(blank)) == (before + len(strokes), answered + 2 * len(strokes))
    # the canvas, which no longer sends by itself, would pin its toolbar over the page with a send button: neither
    assert blank.locator(f"{CANVAS} {SEND_BUTTON}").first.is_hidden()
    blank.locator(f"{MAIN} h1").first.click()  # the mouse off the canvas, the focus out of its toolbar
    assert blank.locator(f"{CANVAS} .dc-toolbar").first.evaluate("e => getComputedStyle(e).opacity") == "0"


def test_undo_and_redo_are_answered_too(blank):
    """Undo and Redo change the drawing without a stroke; the page answers them as it answers a stroke."""
    first, second = place("4", 0.5, 0.5, 0.7)[:2]
    draw(blank, [first])
    after_first = prediction_state(blank)
    draw(blank, [second])
    after_both = prediction_state(blank)
    assert after_both[0] != after_first[0]
    blank.locator(UNDO).first.click()
    wait_new_prediction(blank, after_both[0])
    assert prediction_state(blank) == after_first
    blank.locator(f"{CANVAS} button[aria-label='Redo']").first.click()
    wait_new_prediction(blank, after_first[0])
    assert prediction_state(blank) == after_both


def painted(page, selector: str) -> bool:
    """Whether the canvas ``selector`` has been drawn on (not blank)."""
    return page.locator(selector).first.evaluate("""c => c.width > 0 && c.getContext('2d')
        .getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 !== 3 && v > 0)""")


def test_a_stroke_costs_the_page_no_run_and_fetches_no_images(browser, app_server):
    """A stroke is answered by the stroke route alone: no script run, nothing over the websocket, one small request
    whose answer the result panel draws in place, and no image fetched (a busy browser never asks for an image a run
    has already dropped: a 404)."""
    frames = []

    def listen(page):
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(len(payload))))

    with draw_tab(browser, app_server, init_script=RUN_ENDS, setup=listen) as page:
        page.wait_for_function("() => window.__runEnds.length > 0")  # the first, whole-app run has ended
        before = page.evaluate("() => window.__runEnds.length")
        requests, answers = [], []
        page.on("request", lambda request: requests.append(request.url))
        page.on("requestfinished", lambda request: answers.append(request.sizes()["responseBodySize"])
                if ROUTE in request.url else None)
        box = canvas_box(page)
        strokes, sizes = place("4", 0.5, 0.5, 0.7), []
        for stroke in strokes:
            state = prediction_state(page)
            frames.clear()
            draw_strokes(page, [stroke], box)
            wait_new_prediction(page, state and state[0])
            sizes.append(sum(frames))
        assert prediction_state(page)[1] == "4"
        ends = page.evaluate("() => window.__runEnds")[before:]
        assert ends == [], f"the strokes caused runs: {ends}"
        assert sizes == [0] * len(strokes), f"websocket bytes per stroke: {sizes}"
        assert len(answers) == len(strokes) and max(answers) <= STROKE_BYTES, f"the route's answers: {answers} bytes"
        images = [url for url in requests if "/media/" in url or url.endswith((".png", ".jpg", ".jpeg"))]
        assert not images, f"a stroke fetched images: {images}"
        assert page.locator(f"{MAIN} img").count() == 0  # the answer's pictures are the panel's canvases
        page.wait_for_function("([grid]) => document.querySelector(grid).width > 0", arg=[f"{PANEL} .cs-grid"])
        for canvas in (f"{MODEL_INPUT} canvas", f"{PANEL} .cs-grid", f"{PANEL} .cs-channel"):
            assert painted(page, canvas), f"{canvas} is blank"


def test_the_probabilities_are_a_labelled_list(blank):
    """Every class's probability as text too, in a list a keyboard reaches and a screen reader names."""
    assert draw(blank, place("7", 0.5, 0.5, 0.7)) == "7"
    bars = blank.get_by_role("list", name="Probability of each class")
    assert bars.get_attribute("data-predicted") == "7" and bars.get_attribute("data-testid") == "probabilities"
    rows = bars.get_by_role("listitem")
    assert rows.count() == 10
    labels = [rows.nth(i).get_attribute("aria-label") for i in range(10)]
    assert all(re.fullmatch(rf"{i}: [<>]?\d+%", label) for i, label in enumerate(labels)), labels
    assert blank.locator(f"{PROBABILITIES} [data-mark='predicted']").get_attribute("data-class") == "7"
    bars.focus()
    assert blank.evaluate("() => document.activeElement.getAttribute('data-testid')") == "probabilities"


def test_naive_resize_comparison(blank):
    label = draw(blank, place("7", 0.8, 0.8, 0.3))  # off-centre and small: the naive resize reads it worse
    assert label == "7"
    switch = blank.locator("[data-testid='stCheckbox']").filter(has_text="Compare with a naive resize")
    switch.click()
    blank.wait_for_selector(NAIVE_PREDICTION)
    wait_idle(blank)
    captions = blank.locator(f"{MODEL_INPUT} figcaption").all_inner_texts()
    assert captions == ["MNIST-style: cropped, 20x20, centred (28x28)", "Naive resize of the whole canvas (28x28)"]
    # both 28x28 views are drawn, side by side
    a = blank.locator(f"{MODEL_INPUT}[data-view='mnist_style'] canvas").bounding_box()
    b = blank.locator(f"{MODEL_INPUT}[data-view='naive'] canvas").bounding_box()
    assert b["x"] > a["x"] + a["width"] / 2 and abs(b["y"] - a["y"]) < 20
    naive = blank.locator(NAIVE_PREDICTION).inner_text()
    assert re.fullmatch(r"Naive resize reads: \d \([<>]?\d+%\)", naive.strip()), naive
    assert prediction_state(blank)[1] == "7"  # the MNIST-style prediction is unchanged
    blank.locator(NAIVE_PREDICTION).scroll_into_view_if_needed()
    screenshot(blank, "draw-naive-comparison.png")
    switch.click()  # off again, for the next tests
    blank.wait_for_selector(NAIVE_PREDICTION, state="detached")
    wait_idle(blank)


def test_every_conv_layer_has_a_feature_map_tab(blank, tmp_path_factory):
    expected = conv_layers(MODEL, tmp_path_factory)
    assert expected, f"{MODEL} lists no Conv2D layer in its metadata"
    assert draw(blank, place("4", 0.5, 0.5, 0.7)) == "4"
    labels = tab_labels(blank)
    shown = [label.split(" · ")[0] for label in labels]
    for layer in expected:
        assert layer in shown, f"no feature-map tab for Conv2D layer {layer}; tabs: {labels}"
    # the last tab opens on its own layer's maps (they come with the run the click starts)
    blank.get_by_role("tab").filter(has_text=f"{expected[-1]} ·").click()
    panel = blank.get_by_role("tabpanel").filter(has_text=f"{expected[-1]}: all")
    panel.wait_for()
    wait_idle(blank)
    assert re.search(rf"{expected[-1]}\b.*output \d+×\d+, \d+ channels", panel.inner_text())
    assert blank.get_by_role("tab", selected=True).inner_text().startswith(f"{expected[-1]} ·")
    # and stays open for the next drawing, after a Clear too
    clear_canvas(blank)
    assert draw(blank, place("7", 0.5, 0.5, 0.7)) == "7"
    assert blank.get_by_role("tab", selected=True).inner_text().startswith(f"{expected[-1]} ·")
    assert blank.get_by_role("tabpanel").filter(has_text=f"{expected[-1]}: all").count() == 1


def test_a_channel_is_enlarged_in_the_browser(blank):
    """The enlarged channel is picked in the browser, with the slider or a click on its tile: no script run."""
    assert draw(blank, place("0", 0.5, 0.5, 0.7)) == "0"
    caption = blank.locator(f"{PANEL} .cs-channel + figcaption")
    count_runs(blank)
    slider = blank.locator(f"{PANEL} input[type=range]")
    slider.focus()
    slider.press("ArrowRight")
    slider.press("ArrowRight")
    assert blank.locator(f"{PANEL} output").inner_text() == "2"
    assert re.search(r", channel 2 · values -?\d+\.\d\d to -?\d+\.\d\d$", caption.inner_text()), caption.inner_text()
    grid = blank.locator(f"{PANEL} .cs-grid")
    box = grid.bounding_box()
    grid.click(position={"x": 2, "y": box["height"] - 2})  # the first tile of the grid's last row
    assert re.search(r", channel [1-9]\d* · ", caption.inner_text()), caption.inner_text()
    assert blank.evaluate("() => window.__runs") == 0
