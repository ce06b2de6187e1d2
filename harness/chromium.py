"""Debian's Chromium driven by Playwright: launching it, a tab on the app in a given locale, waiting for the app's
script runs, and the few page-wide reads and actions the tests and benches share.

Chromium comes from Debian (``apt-get install chromium``); Playwright never downloads a browser of its own. Apart
from ``launch``, the functions take a page of Playwright's sync API.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from harness import ROOT

CHROMIUM = os.environ.get("CONVSCOPE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1400, "height": 1000}
ARTIFACTS = ROOT / "test-artifacts"  # screenshots and logs of the browser tests (and the benches' timeouts)

APP = "[data-testid='stApp']"
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
MAIN = "[data-testid='stMain']"
EXCEPTION = "[data-testid='stException']"
SIDEBAR_NAV = "[data-testid='stSidebarNav']"

# Records, in the page, how the server reports each script run ended: ForwardMsg.script_finished (field 6), pushed
# to ``window.__runEnds`` (0 FINISHED_SUCCESSFULLY, 2 FINISHED_EARLY_FOR_RERUN, 3 FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
# a run of only a fragment, e.g. the Draw page after a stroke); ``window.__runsFinished`` counts the successful
# ones (0 or 3). An init script (``new_tab(init_script=RUN_ENDS)``): it wraps every WebSocket the app opens.
RUN_ENDS = """(() => {
    const finishStatus = buffer => {  // walks the top-level fields of one ForwardMsg
        const b = new Uint8Array(buffer);
        let i = 0;
        const varint = () => {
            let x = 0, shift = 0, c;
            do { c = b[i++]; x += (c & 0x7f) * 2 ** shift; shift += 7; } while (c & 0x80 && i < b.length);
            return x;
        };
        while (i < b.length) {
            const key = varint(), field = Math.floor(key / 8), type = key & 7;
            if (type === 0) { const value = varint(); if (field === 6) return value; }
            else if (type === 2) { const length = varint(); i += length; }
            else if (type === 1) i += 8;
            else if (type === 5) i += 4;
            else return null;
        }
        return null;
    };
    window.__runEnds = [];
    window.__runsFinished = 0;
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
        constructor(...args) {
            super(...args);
            this.addEventListener("message", async event => {
                const data = event.data instanceof Blob ? await event.data.arrayBuffer() : event.data;
                const status = data instanceof ArrayBuffer ? finishStatus(data) : null;
                if (status === null) return;
                window.__runEnds.push(status);
                if (status === 0 || status === 3) window.__runsFinished++;
            });
        }
    };
})();"""


def chromium_missing() -> str | None:
    """Why the browser cannot run here, or None when Chromium is installed."""
    if Path(CHROMIUM).exists():
        return None
    return f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium; run_tests.sh does)"


def launch(playwright):
    """Headless Debian Chromium. With Playwright's async API, await what this returns."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def new_tab(browser, url: str, locale: str = "en-US", timeout: float = 60_000, ready: str | None = APP,
            init_script: str | None = None, setup: Callable | None = None, **context_options):
    """A tab on ``url`` in a browser context of its own (its own Streamlit session), in ``locale``, with ``timeout``
    (ms) for what waits on the page. ``setup(page)`` runs before the page loads (to listen to its requests or
    websocket); once loaded, the tab waits for ``ready`` (a selector) and the end of the first script run, or for
    nothing when ``ready`` is None. ``context_options`` go to ``browser.new_context`` (the viewport is VIEWPORT unless
    given). Close it with ``page.context.close()``, or use ``open_tab``."""
    context = browser.new_context(**{"viewport": VIEWPORT, "locale": locale, **context_options})
    try:
        if init_script:
            context.add_init_script(script=init_script)
        page = context.new_page()
        page.set_default_timeout(timeout)
        if setup:
            setup(page)
        page.goto(url)
        if ready:
            page.wait_for_selector(ready)
            wait_idle(page)
        return page
    except BaseException:
        context.close()
        raise


@contextlib.contextmanager
def open_tab(browser, url: str, **options) -> Iterator:
    """``new_tab`` for a ``with`` block: the tab's context is closed on leaving it."""
    page = new_tab(browser, url, **options)
    try:
        yield page
    finally:
        page.context.close()


def wait_idle(page, timeout: float | None = None) -> None:
    """Wait until the app's script has finished its run (the page then shows that run's output)."""
    page.wait_for_selector(IDLE, timeout=timeout)


def count_runs(page) -> None:
    """From now on, count the script runs the page starts (``window.__runs``): a rerun that shows what was shown
    already (the same image, an empty canvas) can still be waited for."""
    page.evaluate("""() => {
        const app = document.querySelector("[data-testid='stApp']");
        window.__runs = 0;
        new MutationObserver(() => {
            if (app.getAttribute('data-test-script-state') !== 'notRunning') window.__runs += 1;
        }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
    }""")


def screenshot(page, name: str) -> None:
    """Save test-artifacts/<name> once the page's images and charts are drawn, not their placeholders."""
    page.wait_for_function("""() => {
        const main = document.querySelector("[data-testid='stMain']");
        const shown = e => e.offsetParent !== null;  // not inside a hidden tab panel
        const loading = main.querySelector("[data-testid='stSkeleton']");  // e.g. a chart whose plotly.js loads
        const images = [...main.querySelectorAll("img")].filter(shown);
        const charts = [...main.querySelectorAll("[data-testid='stPlotlyChart']")].filter(shown);
        return !loading && images.every(i => i.complete && i.naturalWidth > 0)
            && charts.every(c => c.querySelector(".main-svg") && c.getBoundingClientRect().height > 100);
    }""")
    page.screenshot(path=str(ARTIFACTS / name))


def exceptions_shown(page) -> str | None:
    """"N Streamlit exception box(es): <the first one's text>" when the page shows any, else None."""
    boxes = page.locator(EXCEPTION)
    count = boxes.count()
    return f"{count} Streamlit exception box(es): {boxes.first.inner_text()[:300]}" if count else None


def open_from_sidebar(page, nav: str, title: str) -> None:
    """Click ``nav`` in the sidebar navigation; returns once the page titled ``title`` is shown and its run is over."""
    page.locator(f"{SIDEBAR_NAV} a", has_text=nav).first.click()
    page.get_by_role("heading", name=title, exact=True).first.wait_for(state="visible")
    wait_idle(page)


def type_number(page, label: str, value: int) -> None:
    """Type ``value`` into the number field labelled ``label`` and press Enter; waits for the run it causes."""
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)
