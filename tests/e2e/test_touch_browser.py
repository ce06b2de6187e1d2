"""The Draw page on a tablet: a finger draws, the page does not scroll under it, and the answer arrives, also with the
CPU slowed down as on a school tablet (Chromium's CPU throttling through the DevTools protocol).

Fingers are real touch events sent through the browser's input pipeline (CDP ``Input.dispatchTouchEvent``), so the
browser decides about scrolling as it would for a finger: a stroke on the canvas must not move the page (the page
sets ``touch-action: none`` on the canvas' host and the canvas, ``app_pages/stroke_send.py``), while the same gesture
beside the canvas does scroll it, which shows that the test would see a scroll.

Synchronisation: after each stroke the test waits for the prediction's ``data-input`` fingerprint to change and the
script run to end (``harness/draw.py``), then reads the scroll positions.
"""

from __future__ import annotations

import pytest

from harness.chromium import MAIN, open_tab, screenshot
from harness.digits import place
from harness.draw import PROBABILITIES, UPPER_CANVAS, canvas_box, prediction_input, wait_new_prediction
from model_store.store import DEFAULTS_DIR

MODEL = "convscope-digits"
TABLET = {"has_touch": True, "is_mobile": True, "device_scale_factor": 2}
SLOW = 120_000  # ms: at 6x throttling a run's answer takes seconds to paint on a busy test machine

pytestmark = pytest.mark.skipif(
    not (DEFAULTS_DIR / f"{MODEL}.keras").is_file(),
    reason=f"the shipped digit model model_store/defaults/{MODEL}.keras is missing: the answers cannot be checked",
)


def swipe(cdp, points) -> None:
    """One finger down at the first (x, y) (page pixels), moved through the others, lifted."""
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": points[0][0], "y": points[0][1]}]})
    for x, y in points[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def finger_strokes(page, cdp, strokes, box) -> None:
    """Draw each stroke (0..1 canvas units) with a finger, waiting for each one's answer."""
    for stroke in strokes:
        before = prediction_input(page)
        swipe(cdp, [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke])
        wait_new_prediction(page, before, timeout=SLOW)


def scrolled(page) -> dict:
    """How far the page has moved: the window, Streamlit's scrolling main area, the visual viewport (pinch/pan)."""
    return page.evaluate("""([main]) => ({window: window.scrollY, main: document.querySelector(main).scrollTop,
                                          viewport: visualViewport.pageTop})""", [MAIN])


def test_digit_drawn_with_a_finger_is_read(browser, app_server):
    """A 7 drawn with touch events is read, each stroke answered once; the whole canvas is reachable, upright."""
    with open_tab(browser, f"{app_server['url']}/", ready=UPPER_CANVAS, timeout=SLOW,
                  viewport={"width": 1024, "height": 1366}, **TABLET) as page:
        box = canvas_box(page)
        corner = page.evaluate("""([x, y]) => {
            const host = document.elementFromPoint(x, y);
            const inner = host && host.shadowRoot ? host.shadowRoot.elementFromPoint(x, y) : host;
            return inner ? inner.className : null;
        }""", [box["x"] + box["width"] - 3, box["y"] + box["height"] - 3])
        assert corner and "upper-canvas" in corner, f"the canvas' bottom-right corner is covered or clipped: {corner}"
        cdp = page.context.new_cdp_session(page)
        strokes = place("7", 0.5, 0.5, 0.6)
        finger_strokes(page, cdp, strokes, box)
        assert page.locator("[data-testid='prediction']").inner_text().strip() == "7"
        assert page.evaluate("() => window.__convscopeStrokeSend.answered") == len(strokes)  # by the stroke route
        screenshot(page, "draw-touch-7.png")


@pytest.mark.parametrize("throttle", [1, 4])
def test_a_finger_on_the_canvas_never_scrolls_the_page(browser, app_server, throttle):
    """Strokes up and down the canvas (a scrolling gesture anywhere else), on a landscape tablet, the CPU slowed down
    ``throttle`` times: the page stays where it is and every stroke is answered; the same swipe beside the canvas
    scrolls."""
    with open_tab(browser, f"{app_server['url']}/", ready=UPPER_CANVAS, timeout=SLOW,
                  viewport={"width": 1024, "height": 768}, **TABLET) as page:
        box = canvas_box(page)
        assert box["y"] + box["height"] < 768, "the canvas must be on screen for this test"
        styles = page.locator(UPPER_CANVAS).first.evaluate("""c => [getComputedStyle(c).touchAction,
            getComputedStyle(c.getRootNode().host).touchAction]""")
        assert styles == ["none", "none"], f"touch-action of the canvas and its host: {styles}"
        cdp = page.context.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
        up_and_down = [[(0.3, 0.85 - 0.05 * i) for i in range(14)], [(0.7, 0.2 + 0.05 * i) for i in range(14)],
                       [(0.5, 0.9 - 0.06 * i) for i in range(14)]]
        finger_strokes(page, cdp, up_and_down, box)
        assert scrolled(page) == {"window": 0, "main": 0, "viewport": 0}
        assert page.locator("[data-testid='prediction']").count() == 1

        bars = page.locator(PROBABILITIES).bounding_box()  # beside the canvas: a place with nothing to draw on
        x, y = bars["x"] + bars["width"] / 2, min(bars["y"] + bars["height"], 700)
        swipe(cdp, [(x, y - 25 * i) for i in range(12)])
        page.wait_for_function("([main]) => document.querySelector(main).scrollTop > 0", arg=[MAIN])
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
