"""The Draw page's canvas (streamlit-drawable-canvas, inside Streamlit's isolated component) and its prediction:
selectors, real mouse strokes, and waits on the prediction's ``data-input`` fingerprint of the model input."""

from __future__ import annotations

from harness.chromium import IDLE

CANVAS = "[data-testid=stBidiComponentIsolated]"
UPPER_CANVAS = f"{CANVAS} canvas.upper-canvas"  # takes the mouse events
DRAWING = f"{CANVAS} canvas.dc-canvas.lower-canvas"  # holds the strokes
CLEAR_BUTTON = f"{CANVAS} button[aria-label='Reset canvas & history']"  # the toolbar's trash can
UNDO = f"{CANVAS} button[aria-label='Undo']"  # enabled once the canvas took a stroke
PREDICTION = "[data-testid='prediction']"  # the predicted label; its data-input: the model input's fingerprint
# The Draw page's result panel (app_pages/panel.js) and what is in it, besides the prediction: its confidence, verdict,
# the probability list (data-predicted; rows with data-class, data-p, data-mark), the model inputs (data-view
# "mnist_style" or "naive", a canvas and a figcaption), the naive resize's reading, the layers' tabs and their panel.
PANEL = "[data-testid='result-panel']"
PROBABILITIES = "[data-testid='probabilities']"
MODEL_INPUT = "[data-testid='model-input']"
NAIVE_PREDICTION = "[data-testid='naive-prediction']"

# The page's run has caught up with the result panel: a stroke's answer from the stroke route (app_pages/panel.js)
# is marked data-synced="0" until the run that the stroke sends afterwards brings the same reading.
IN_STEP = "(document.querySelector(\"[data-testid='result-panel']\")?.dataset.synced ?? '1') !== '0'"
# No prediction on the page and the run is over (the canvas is empty); argument: [IDLE].
EMPTY = "([idle]) => !document.querySelector(\"[data-testid='prediction']\") && document.querySelector(idle) !== null"


def canvas_box(page) -> dict:
    """The drawing canvas' bounding box, once the canvas is there."""
    canvas = page.locator(UPPER_CANVAS).first
    canvas.wait_for()
    return canvas.bounding_box()


def draw_strokes(page, strokes, box: dict | None = None) -> None:
    """Draw each stroke (a list of (x, y) in 0..1 canvas units) with real mouse events."""
    box = box or canvas_box(page)
    for stroke in strokes:
        x0, y0 = stroke[0]
        page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=4)
        page.mouse.up()


def prediction_input(page) -> str | None:
    """The fingerprint of the input the shown prediction is for, or None when the page shows no prediction."""
    return page.evaluate("""() => {
        const e = document.querySelector("[data-testid='prediction']");
        return e ? e.getAttribute('data-input') : null;
    }""")


def wait_new_prediction(page, previous: str | None, timeout: float | None = None) -> None:
    """Wait until the prediction's input fingerprint differs from ``previous``, the page's run has caught up with it
    and is over."""
    page.wait_for_function(f"""([previous, idle]) => {{
        const e = document.querySelector("[data-testid='prediction']");
        return e !== null && e.getAttribute('data-input') !== previous && document.querySelector(idle) !== null
            && {IN_STEP};
    }}""", arg=[previous, IDLE], timeout=timeout)


def clear(page) -> None:
    """Clear the canvas with its toolbar's trash can; returns once the prediction is gone and the run is over."""
    page.locator(CLEAR_BUTTON).first.click()
    page.wait_for_function(EMPTY, arg=[IDLE])

# The Draw page's number mode (app_pages/number_view.py): the number read, its confidence and one card per digit.
NUMBER = "[data-testid='number']"  # its text: the number; its data-input: a fingerprint of the digits' inputs
NUMBER_CONFIDENCE = "[data-testid='number-confidence']"
NUMBER_DIGIT = "[data-testid='number-digit']"  # data-class: the digit's predicted class


def wait_new_number(page, previous: str | None, timeout: float | None = None) -> None:
    """Wait until the number shown is for other inputs than ``previous`` (its ``data-input``; None: no number yet)
    and the script run is over."""
    page.wait_for_function("""([previous, idle]) => {
        const e = document.querySelector("[data-testid='number']");
        return e !== null && e.getAttribute('data-input') !== previous && document.querySelector(idle) !== null;
    }""", arg=[previous, IDLE], timeout=timeout)
