"""Class data in real browsers: two pupils' tabs add drawings at once, and every tab sees the class's counts.

Each tab is a browser context of its own (its own Streamlit session, as a pupil's device is). A pupil draws on the
Class data page's canvas with real mouse strokes and presses Add; the page thanks them and asks for the class the
class has drawn least. What a canvas asks for stays while the pupil draws, whatever the other pupil adds. The
teacher's tab, opened afterwards, counts both drawings. Screenshots: test-artifacts/.
"""

from __future__ import annotations

from playwright.sync_api import expect

from app_pages.i18n import strings
from harness.chromium import ARTIFACTS, MAIN, exceptions_shown, open_tab, wait_idle
from harness.digits import place
from harness.draw import canvas_box, draw_strokes

EN = strings("en")


def add_drawing(page, digit: str) -> None:
    """Draw ``digit`` and add it; returns once the page thanks the pupil (the run is over)."""
    draw_strokes(page, place(digit, 0.5, 0.55, 0.6), canvas_box(page))
    add = page.get_by_role("button", name=EN["classdata.add"])
    add.and_(page.locator(":enabled")).wait_for()  # enabled once the canvas has sent the drawing
    add.click()
    page.locator(MAIN).get_by_text("Added, thank you").first.wait_for()
    wait_idle(page)


def test_two_pupils_add_drawings_and_the_teacher_counts_them(app_server, browser):
    url = f"{app_server['url']}/class-data"
    with open_tab(browser, url) as first, open_tab(browser, url) as second:
        for page in (first, second):
            page.locator(MAIN).get_by_text("Draw a").first.wait_for()
        assert "Draw a 0" in first.locator(MAIN).inner_text()  # an empty dataset asks for its first class
        assert "Draw a 0" in second.locator(MAIN).inner_text()
        add_drawing(first, "0")
        draw_strokes(second, place("0", 0.5, 0.55, 0.6), canvas_box(second))  # a stroke reruns the page's fragment
        wait_idle(second)
        assert "Draw a 0" in second.locator(MAIN).inner_text()  # what this canvas asks for stays while it is drawn
        add_drawing(second, "0")
        assert "one more 0" in second.locator(MAIN).inner_text()
        assert "Draw a 1" in second.locator(MAIN).inner_text()  # a new canvas asks for the rarest class again
        assert exceptions_shown(first) is None and exceptions_shown(second) is None
        first.screenshot(path=str(ARTIFACTS / "class-data-pupil.png"))
    with open_tab(browser, url) as teacher:
        main = teacher.locator(MAIN)
        main.get_by_text(EN["classdata.counts"].format(total=2)).first.wait_for()  # both pupils', from a new device
        assert "Draw a 1" in main.inner_text()  # two 0s now: the class is asked for a 1
        teacher.locator("[data-testid='stButtonGroup']").get_by_text(EN["classdata.section.browse"], exact=True).click()
        main.locator("[data-testid='stImage'] img").first.wait_for()  # class 0, the first class, and its drawing
        wait_idle(teacher)
        pickers = main.get_by_role("combobox")  # the dataset, then the class
        expect(pickers.nth(0)).to_have_value("digits")
        expect(pickers.nth(1)).to_have_value(EN["classdata.class_option"].format(name="0", n=2))
        main.locator("[data-testid='stImage'] img").nth(1).wait_for()
        assert main.locator("[data-testid='stImage'] img").count() == 2, "class 0's two drawings are shown"
        teacher.screenshot(path=str(ARTIFACTS / "class-data-browse.png"))
        assert exceptions_shown(teacher) is None
