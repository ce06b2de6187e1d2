"""Look deeper, in a real browser: the drawing's point on the map of the test images, and the whole network's
columns, change with every drawing.

The test switches "Look deeper" on, draws a 7, looks at "Where it lands" and "The whole network", then draws a 1 on
a cleared canvas and looks again. It reads the star's place from the plotly figure itself (its trace data) and the
network's softmax column from the page, never waiting on the time passed. Screenshots: test-artifacts/deeper-*.png.
"""

from __future__ import annotations

import pytest

from app_pages.i18n import strings
from harness.chromium import MAIN, exceptions_shown, open_tab, screenshot, wait_idle
from harness.digits import place
from harness.draw import canvas_box, clear, draw_strokes, prediction_input, wait_new_prediction
from model_store.store import DEFAULTS_DIR

EN = strings("en")
pytestmark = pytest.mark.skipif(not (DEFAULTS_DIR / "convscope-digits.keras").is_file(),
                                reason="the shipped digit model model_store/defaults/convscope-digits.keras is missing")

STAR = """() => {
  for (const el of document.querySelectorAll('.js-plotly-plot')) {
    const star = (el.data || []).find(d => d.marker && d.marker.symbol === 'star');
    if (star) return [star.x[0], star.y[0]];
  }
  return null;
}"""


def draw_digit(page, digit: str) -> None:
    box = canvas_box(page)
    for stroke in place(digit, 0.5, 0.5, 0.7):
        before = prediction_input(page)
        draw_strokes(page, [stroke], box)
        wait_new_prediction(page, before)


def star_moved_from(page, where) -> list[float]:
    """Wait until the map's star is drawn somewhere else than ``where`` (None: anywhere); returns its place."""
    page.wait_for_function(f"([where]) => {{ const s = ({STAR})(); return s !== null && JSON.stringify(s) !== "
                           f"JSON.stringify(where); }}", arg=[where], timeout=120_000)
    return page.evaluate(STAR)


def look_at(page, view: str) -> None:
    page.locator(MAIN).locator("[data-testid='stButtonGroup']").get_by_text(EN[f"deeper.{view}"], exact=True).click()
    wait_idle(page)


def softmax_column(page) -> str:
    """The network strip's last column (the softmax, as bars with their values), once it is on the page."""
    column = page.locator("[data-testid='network-strip'] [data-kind='softmax']").first
    column.wait_for()
    return column.inner_text()


def test_the_drawings_point_on_the_map_and_the_whole_network_change_with_each_drawing(app_server, browser):
    with open_tab(browser, app_server["url"]) as page:
        main = page.locator(MAIN)
        main.get_by_text(EN["explain.toggle"], exact=True).click()
        wait_idle(page)
        draw_digit(page, "7")
        look_at(page, "lands")
        seven = star_moved_from(page, None)
        screenshot(page, "deeper-lands-7.png")
        look_at(page, "network")
        network_seven = softmax_column(page)
        page.locator("[data-testid='network-strip']").first.scroll_into_view_if_needed()
        screenshot(page, "deeper-network-7.png")

        clear(page)
        draw_digit(page, "1")
        assert softmax_column(page) != network_seven  # the view chosen stays, and follows the new drawing
        look_at(page, "lands")
        one = star_moved_from(page, seven)
        assert one != seven
        main.locator(".js-plotly-plot").last.scroll_into_view_if_needed()
        screenshot(page, "deeper-lands-1.png")
        assert exceptions_shown(page) is None
