"""Browser fixtures: the app served by ``streamlit run`` on a free port, driven by Playwright in Debian's Chromium.

Chromium comes from Debian (``apt-get install chromium``); Playwright never downloads a browser of its own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CONVSCOPE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"

# Records, in the page, how the server reports each script run ended: ForwardMsg.script_finished (field 6), pushed
# to ``window.__runEnds`` (0 FINISHED_SUCCESSFULLY, 2 FINISHED_EARLY_FOR_RERUN, 3 FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
# a run of only a fragment, e.g. the Draw page after a stroke); ``window.__runsFinished`` counts the successful
# ones (0 or 3). An init script (``context.add_init_script``): it wraps every WebSocket the app opens.
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


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int, env: dict, log_path: Path, root: Path = ROOT, launcher: str | None = None) -> subprocess.Popen:
    """``streamlit run <root>/app.py`` on loopback ``port``, headless, logging to ``log_path``; run from ``root`` so
    that its ``.streamlit/config.toml`` applies. ``launcher``: Python code that ``python -c`` runs instead of
    ``python -m streamlit`` (the benches' probes), ending in Streamlit's own CLI."""
    head = [sys.executable, "-c", launcher] if launcher else [sys.executable, "-m", "streamlit"]
    cmd = head + ["run", str(root / "app.py"), "--server.port", str(port), "--server.address", "127.0.0.1",
                  "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    log = open(log_path, "w")
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.2)  # polling interval while the server starts, not a synchronisation sleep
    raise RuntimeError("streamlit did not become healthy in time")


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (run_tests.sh does) for browser tests")
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    env = {**os.environ, "CONVSCOPE_MODELS": str(tmp_path_factory.mktemp("models")),
           "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    log_path = ARTIFACTS / "streamlit-server.log"
    proc = start_app(port, env, log_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield {"url": url, "log": log_path, "proc": proc}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium for browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until the app's script has finished its run (the page then shows that run's output)."""
    page.wait_for_selector(IDLE, timeout=timeout)


def open_page(page, app_server, path: str = "") -> None:
    page.goto(f"{app_server['url']}/{path}")
    page.wait_for_selector("[data-testid='stApp']")
    wait_idle(page)


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


def canvas_box(page):
    canvas = page.locator("[data-testid=stBidiComponentIsolated] canvas.upper-canvas").first
    canvas.wait_for()
    return canvas.bounding_box()


def draw_strokes(page, strokes, box=None) -> None:
    """Draw each stroke (a list of (x, y) in 0..1 canvas units) with real mouse events."""
    box = box or canvas_box(page)
    for stroke in strokes:
        x0, y0 = stroke[0]
        page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=4)
        page.mouse.up()
