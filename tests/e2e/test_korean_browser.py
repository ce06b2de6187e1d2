"""The whole app in Korean, in a real browser: switch the language in the sidebar, then visit every page.

The tab starts in English (``locale="en-US"``). The test switches to 한국어 as a user would (it opens the
sidebar's "Language / 언어" select box and picks the option), then goes through every page with the
sidebar navigation, so one Streamlit session carries the choice from page to page. On each page it checks
what a Korean reader sees: the page title is the page's ``<page>.title`` string of ``ko.json``, the
navigation shows the ``nav.*`` strings of ``ko.json`` (and none of the English ones), no English title
is shown anywhere on the page, the language picker still says 한국어 and no exception is shown. All strings
are read from the locale files. A screenshot of every page is saved as test-artifacts/ko-<page>.png.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from app_pages.i18n import LANGUAGES  # the picker's option labels
from harness import ROOT
from harness.chromium import MAIN, exceptions_shown, open_tab, screenshot, wait_idle

LOCALES = ROOT / "app_pages" / "locales"
EN = json.loads((LOCALES / "en.json").read_text(encoding="utf-8"))
KO = json.loads((LOCALES / "ko.json").read_text(encoding="utf-8"))

# page (as in the screenshots' names) -> (url path, navigation label key, title key)
PAGES = {
    "draw": ("", "nav.draw", "draw.title"),
    "fashion": ("fashion", "nav.fashion", "fashion.title"),
    "convolution": ("convolution", "nav.convolution", "conv.title"),
    "datasets": ("datasets", "nav.dataset", "data.title"),
    "train": ("train", "nav.train", "train.title"),
    "models": ("models", "nav.models", "models.title"),
    "class-data": ("class-data", "nav.class_data", "classdata.title"),
}
# Draw is the page the app opens on; it is visited through the navigation last, after a round trip.
VISIT_ORDER = ["fashion", "convolution", "datasets", "train", "models", "class-data", "draw"]
LANGUAGE_PICKER = "Language / 언어"  # the picker's label, the same in both languages
NAV_LINKS = "[data-testid='stSidebarNav'] a[data-testid='stSidebarNavLink']"
SLOW = 60_000  # ms, for what waits on a script run (expect's own default is 5 s; the test machine may be busy)


def nav_labels(page) -> list[str]:
    """The navigation's labels as shown (without the links' icon names)."""
    return [label.strip() for label in page.locator(f"{NAV_LINKS} [data-testid='stMarkdownContainer']").all_inner_texts()]


def language(page):
    return page.locator("[data-testid='stSidebar']").get_by_role("combobox", name=LANGUAGE_PICKER)


@pytest.fixture(scope="module")
def korean(browser, app_server):
    """One English tab on the Draw page, switched to Korean with the sidebar's language picker."""
    with open_tab(browser, f"{app_server['url']}/", locale="en-US", timeout=SLOW) as page:
        expect(page.locator(MAIN).get_by_role("heading", level=1)).to_have_text(EN["draw.title"], timeout=SLOW)
        wait_idle(page)
        assert nav_labels(page) == [EN[PAGES[p][1]] for p in PAGES]  # it really starts in English
        expect(language(page)).to_have_value("English")

        language(page).click()
        page.get_by_role("option", name=LANGUAGES["ko"], exact=True).click()
        expect(language(page)).to_have_value(LANGUAGES["ko"], timeout=SLOW)
        expect(page.locator(MAIN).get_by_role("heading", level=1)).to_have_text(KO["draw.title"], timeout=SLOW)
        expect(page.locator(NAV_LINKS).first.get_by_test_id("stMarkdownContainer")).to_have_text(KO["nav.draw"], timeout=SLOW)
        wait_idle(page)
        yield page


def test_locale_files_have_the_keys_used_here():
    for _, nav, title in PAGES.values():
        for key in (nav, title):
            assert key in EN and key in KO, key
            assert re.search(r"[\uac00-\ud7a3]", KO[key]) or KO[key] == EN[key], f"{key} is not Korean: {KO[key]!r}"


@pytest.mark.parametrize("name", VISIT_ORDER)
def test_page_in_korean(korean, app_server, name):
    page = korean
    path, nav_key, title_key = PAGES[name]
    link = page.locator(NAV_LINKS).filter(has=page.get_by_text(KO[nav_key], exact=True))
    link.click()
    expect(page).to_have_url(f"{app_server['url']}/{path}", timeout=SLOW)
    title = page.locator(MAIN).get_by_role("heading", level=1)
    expect(title).to_have_text(KO[title_key], timeout=SLOW)
    wait_idle(page)
    expect(title).to_have_text(KO[title_key])  # still, now that the page's run is over
    expect(title).to_be_visible()
    expect(link).to_have_attribute("aria-current", "page")

    # the language is remembered: the picker still says 한국어 and the navigation is in Korean
    expect(language(page)).to_have_value(LANGUAGES["ko"])
    assert nav_labels(page) == [KO[PAGES[p][1]] for p in PAGES]
    for p in PAGES:
        expect(page.locator(NAV_LINKS).filter(has=page.get_by_text(KO[PAGES[p][1]], exact=True))).to_be_visible()

    # no English title: not this page's, nor any other page's title or nav label that differs in Korean
    main_text = page.locator(MAIN).inner_text()
    headings = [h.strip() for h in page.locator(MAIN).get_by_role("heading").all_inner_texts()]
    for p in PAGES:
        en_title, ko_title = EN[PAGES[p][2]], KO[PAGES[p][2]]
        if en_title != ko_title:
            assert en_title not in headings, f"{name}: English title {en_title!r} shown; headings {headings}"
    if EN[title_key] != KO[title_key]:
        assert EN[title_key] not in main_text, f"{name}: English title {EN[title_key]!r} on the page"
    assert exceptions_shown(page) is None, exceptions_shown(page)
    screenshot(page, f"ko-{name}.png")
