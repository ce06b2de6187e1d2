"""Mouse-up to the new prediction on the Draw page on a slow device: Chromium's CPU throttled as a school tablet is.

    .venv/bin/python bench/device_latency.py --cpu-throttle 4 [1 6] [--ref HEAD] [--digits 8] [--new-pages 3]

Why: pupils draw on Chromebooks and tablets several times slower than a developer's machine, where the browser's own
work per stroke (the page's update), not the server, sets how long a stroke's answer takes.

1. Starts the app of the working tree and, with ``--ref``, of a git revision (a temporary ``git worktree``), each on
   a free loopback port with an empty user model folder (the shipped digit model); both run for the whole bench.
2. One headless Debian Chromium (Playwright); every tab has its own browser context, and its CPU throttled
   (``Emulation.setCPUThrottlingRate``) before it loads the page. First, on each app right after its start, the
   first stroke of its first page (the server still loading the model): "first stroke after a server start"; then
   the bench waits until that server's background work (model conversions) is over.
3. Per throttling rate: one tab per app; ``--digits`` digits of harness/digits.py at several sizes and places, each
   followed by a short extra stroke, as real mouse strokes; the canvas cleared with its toolbar after each digit. The
   two apps take turns stroke by stroke (the order alternating), so that the machine's other load hits both alike.
   For every stroke the page records, on the browser's clock: mouse-up, the prediction's ``data-input`` fingerprint
   changing (a MutationObserver: the new answer is in the DOM), the next frame (on screen) and the run's end; and the
   websocket bytes received (and the stroke route's, where the app answers strokes there first: the run that follows
   is waited for too). No polling in the page while a stroke is timed. Then ``--new-pages`` times per app, a
   new tab (throttled from the start) and its first stroke: "first stroke of a new page".
4. Prints per rate the median, p90 and max over the strokes, the first strokes, and the bytes per stroke, with the
   load average before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app_pages.stroke_answer import ROUTE  # noqa: E402
from bench.load import cpu_seconds, load_average, percentile, process_tree  # noqa: E402
from harness.app import app_env, running_app  # noqa: E402
from harness.chromium import chromium_missing, launch, new_tab  # noqa: E402
from harness.digits import SHAPES, line, place  # noqa: E402
from harness.draw import UPPER_CANVAS, canvas_box, clear, draw_strokes  # noqa: E402

PLACES = [(0.5, 0.55, 0.6), (0.35, 0.6, 0.45), (0.65, 0.6, 0.5), (0.45, 0.5, 0.7), (0.6, 0.55, 0.4)]
TIMEOUT_MS = 180_000  # a tab's page load, throttled, on a busy machine
ANSWER_MS = 60_000  # a stroke without an answer by then counts as missed

# On the browser's clock. ``window.__strokeDone(ms)`` resolves once the stroke that the last mouse-up ended has its
# prediction in the DOM, on screen (the next frame) and its run over; a MutationObserver drives it, no polling.
PROBE = """() => {
  const app = document.querySelector("[data-testid='stApp']");
  const current = () => {
    const e = document.querySelector("[data-testid='prediction']");
    return e ? e.getAttribute('data-input') : null;
  };
  // the page's run has caught up with the panel (a stroke route's answer comes before the run: app_pages/panel.js)
  const inStep = () => (document.querySelector("[data-testid='result-panel']")?.dataset.synced ?? '1') !== '0';
  const lat = window.__lat = {up: null, before: null, prediction: null, frame: null, idle: null};
  let waiting = null;
  const check = () => {
    if (lat.up === null) return;
    if (lat.prediction === null) {
      const input = current();
      if (input !== null && input !== lat.before) {
        lat.prediction = performance.now();
        requestAnimationFrame(() => { lat.frame = performance.now(); check(); });
      }
    }
    if (lat.prediction !== null && lat.idle === null && app.getAttribute('data-test-script-state') === 'notRunning'
        && inStep()) {
      lat.idle = performance.now();
    }
    if (waiting && lat.frame !== null && lat.idle !== null) { waiting(true); waiting = null; }
  };
  window.addEventListener('mouseup', () => {
    Object.assign(lat, {up: performance.now(), before: current(), prediction: null, frame: null, idle: null});
  }, true);
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                      attributeFilter: ['data-input', 'data-test-script-state', 'data-synced']});
  window.__strokeDone = (ms) => new Promise((resolve) => {
    waiting = resolve;
    setTimeout(() => { if (waiting === resolve) { waiting = null; resolve(false); } }, ms);
    check();
  });
}"""


def wait_quiet(pid: int, busy_ms_per_s: float = 50, timeout_s: float = 120) -> float:
    """Wait until the server ``pid`` (and its children) uses under ``busy_ms_per_s`` of CPU per second: after a start
    it loads and converts models in the background for a while, which would be counted against the first strokes.
    Returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        before = cpu_seconds(process_tree(pid))
        time.sleep(1)  # a measurement interval, not a synchronisation
        if (cpu_seconds(process_tree(pid)) - before) * 1000 < busy_ms_per_s:
            break
    return time.monotonic() - start


class App:
    """One app under test: its server, and the tab currently drawn on with the websocket bytes it received."""

    def __init__(self, label: str, root: Path, url: str, pid: int):
        self.label, self.root, self.url, self.pid = label, root, url, pid
        self.page = None
        self.received = self.route_sent = self.route_received = 0

    def open(self, browser, rate: int):
        """A new tab (own context) on the Draw page, its CPU throttled ``rate`` times before the page loads."""
        def setup(page):
            page.context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": rate})
            page.on("websocket", lambda ws: ws.on("framereceived", self._count))
            page.on("requestfinished", self._count_route)

        page = new_tab(browser, f"{self.url}/", timeout=TIMEOUT_MS, ready=UPPER_CANVAS, setup=setup)
        page.evaluate(PROBE)
        return page

    def _count(self, payload) -> None:
        self.received += len(payload)

    def _count_route(self, request) -> None:
        """The stroke route's bytes (app_pages/stroke_answer.py): the canvas' PNG up, the answer down."""
        if ROUTE in request.url:
            self.route_sent += len(request.post_data_buffer or b"")
            self.route_received += request.sizes()["responseBodySize"]

    def stroke(self, page, points) -> dict | None:
        """One stroke with real mouse events; its timings (ms after mouse-up) and bytes, or None if no answer came."""
        self.received = self.route_sent = self.route_received = 0
        draw_strokes(page, [points], canvas_box(page))
        if not page.evaluate("([ms]) => window.__strokeDone(ms)", [ANSWER_MS]):
            return None
        lat = page.evaluate("() => window.__lat")
        return {"prediction": lat["prediction"] - lat["up"], "frame": lat["frame"] - lat["up"],
                "idle": lat["idle"] - lat["up"], "bytes": self.received, "route_sent": self.route_sent,
                "route_received": self.route_received}


def plan(n_digits: int) -> list[list]:
    """Per digit, its strokes then a short extra stroke beside it (a correction): a new answer on a full panel."""
    digits = list(SHAPES)
    out = []
    for i in range(n_digits):
        cx, cy, height = PLACES[i % len(PLACES)]
        strokes = place(digits[i % len(digits)], cx, cy, height)
        tick = line((cx + height * 0.45, cy + height * 0.35), (cx + height * 0.55, cy + height * 0.45), 4)
        out.append(strokes + [tick])
    return out


def first_stroke(app: App, browser, rate: int) -> tuple[float | None, object]:
    """A new tab and its first stroke at once; returns (mouse-up to prediction, the tab), or (None, None) when the
    page did not load within ``TIMEOUT_MS`` (counted as missed: a throttled tab on a busy machine can take that)."""
    from playwright.sync_api import TimeoutError as PageTimeout

    try:
        page = app.open(browser, rate)
    except PageTimeout:
        return None, None
    shown = app.stroke(page, place("7", 0.5, 0.55, 0.6)[0])
    return (None if shown is None else shown["prediction"]), page


def series(apps: list[App], browser, rate: int, n_digits: int, n_pages: int, started: dict) -> dict:
    results = {app.label: {"strokes": [], "missed": 0, "new_page": [], "after_start": started.get(app.label)}
               for app in apps}
    for app in apps:
        if app.page is None:
            app.page = app.open(browser, rate)
            app.stroke(app.page, place("1", 0.5, 0.55, 0.6)[0])  # not counted: the session's first answer
        clear(app.page)
    turn = 0
    for strokes in plan(n_digits):
        for points in strokes:
            order = apps if turn % 2 == 0 else apps[::-1]
            turn += 1
            for app in order:
                shown = app.stroke(app.page, points)
                if shown is None:
                    results[app.label]["missed"] += 1
                else:
                    results[app.label]["strokes"].append(shown)
        for app in apps:
            clear(app.page)
    for i in range(n_pages):
        for app in (apps if i % 2 == 0 else apps[::-1]):
            latency, page = first_stroke(app, browser, rate)
            results[app.label]["new_page"].append(latency)
            if page is not None:
                page.context.close()
    return results


def report(rate: int, results: dict, loads: tuple[str, str]) -> None:
    labels = list(results)
    print(f"\nDraw page, CPU throttled {rate}x: mouse-up to ... (ms); load average {loads[0]} before, {loads[1]} after")
    print(f"{'':42}" + "".join(f"{label:>22}" for label in labels))

    def row(name, values):
        print(f"{name:42}" + "".join(f"{v:>22}" for v in values))

    def stat(key, fn):
        out = []
        for label in labels:
            xs = [s[key] for s in results[label]["strokes"]]
            out.append(f"{fn(xs):.0f}" if xs else "-")
        return out

    row("strokes measured (no answer)", [f"{len(results[x]['strokes'])} ({results[x]['missed']})" for x in labels])
    row("prediction in the DOM, median", stat("prediction", statistics.median))
    row("prediction in the DOM, p90", stat("prediction", lambda xs: percentile(xs, 0.9)))
    row("prediction in the DOM, max", stat("prediction", max))
    row("on screen (next frame), median", stat("frame", statistics.median))
    row("script run over, median", stat("idle", statistics.median))

    def firsts(label):
        xs = [x for x in results[label]["new_page"] if x is not None]
        missed = len(results[label]["new_page"]) - len(xs)
        text = "/".join(f"{x:.0f}" for x in xs) or "-"
        return f"{statistics.median(xs):.0f} ({text})" if xs else f"- ({missed} missed)"

    row("first stroke of a new page, median (all)", [firsts(x) for x in labels])
    after = [results[x]["after_start"] for x in labels]
    row("first stroke after a server start", [("-" if a is None else f"{a:.0f}") for a in after])
    def kib(x: str, key: str) -> str:
        strokes = results[x]["strokes"]
        return f"{statistics.median(s[key] for s in strokes) / 1024:.1f}" if strokes else "-"

    row("websocket KiB received per stroke, median", [kib(x, "bytes") for x in labels])
    row("stroke route KiB sent / received, median", [f"{kib(x, 'route_sent')} / {kib(x, 'route_received')}"
                                                      for x in labels])


@contextlib.contextmanager
def worktree(revision: str):
    tree = Path(tempfile.mkdtemp(prefix="convscope-ref-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), revision], cwd=ROOT, check=True, capture_output=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-throttle", type=int, nargs="+", default=[4], help="rates, e.g. 1 4 6")
    parser.add_argument("--ref", help="a git revision measured side by side (e.g. HEAD: the current release)")
    parser.add_argument("--digits", type=int, default=8, help="digits per rate (each: its strokes and one more)")
    parser.add_argument("--new-pages", type=int, default=3, help="new tabs per rate and app, for their first stroke")
    args = parser.parse_args()
    if missing := chromium_missing():
        sys.exit(missing)
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="convscope-device-"))
    with contextlib.ExitStack() as stack, sync_playwright() as pw:
        roots = []
        if args.ref:
            roots.append((args.ref, stack.enter_context(worktree(args.ref))))
        roots.append(("working tree", ROOT))
        browser = launch(pw)
        apps, started = [], {}
        for label, root in roots:  # one after the other: each server's start has the machine to itself
            proc, url = stack.enter_context(running_app(app_env(work / label.replace(" ", "-") / "models"),
                                                        work / f"{label.replace(' ', '-')}.log", root=root))
            app = App(label, root, url, proc.pid)
            started[label], app.page = first_stroke(app, browser, args.cpu_throttle[0])
            wait_quiet(app.pid)  # its model conversions done before the next server starts or strokes are timed
            apps.append(app)
        print(f"apps: {', '.join(f'{a.label} at {a.url} ({a.root})' for a in apps)}; server logs in {work}", flush=True)
        for i, rate in enumerate(args.cpu_throttle):
            if i > 0:
                for app in apps:
                    app.page.context.close()
                    app.page = None
            before = load_average()
            results = series(apps, browser, rate, args.digits, args.new_pages, started if i == 0 else {})
            report(rate, results, (before, load_average()))
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
