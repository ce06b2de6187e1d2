"""Load: N browser sessions draw and predict on the Draw page for a minute while one training runs on the server.

    CONVSCOPE_DATA=/work/shared/datasets .venv/bin/python bench/load.py [--sessions 20] [--seconds 60]

1. Starts the app on a free loopback port with an empty user model folder (so the shipped default models are
   used); its log goes to a file whose path is printed. By default it is ``streamlit run app.py`` through a
   small launcher (PROBED_LAUNCHER below) that logs, per session, each rerun request, script start/stop and
   the moment the prediction element is sent: the server's share of the latency (``--plain-server``: none).
   This script, Playwright and Chromium then lower their priority (``--client-nice``, default 10): here the
   simulated pupils share the server's two cores, in a classroom each runs on their own device.
2. Starts one training the way a teacher does, in its own browser context: Train in the sidebar, "Classroom
   demo settings", then ``--train-epochs`` epochs (so it outlasts the load), "Start training", and waits until
   the progress bar shows batches (data loaded, fit running); then reads the training speed alone for
   ``--train-probe`` seconds. That page stays open: its fragment redraws the progress every second.
3. Opens ``--sessions`` contexts of one headless Chromium on the Draw page; each does one warm-up round (not
   measured). When all are ready, each one for ``--seconds``, back to back: draws a one-stroke digit (0, 1 or
   7; size, place and every point jittered per session, so no two inputs hit the prediction cache; kept out
   of the top of the canvas, see ``stroke_for``), checks the canvas took it (its Undo became enabled), measures
   mouse-up -> new prediction in the DOM (the ``[data-testid=prediction]`` ``data-input`` fingerprint changes)
   on the browser's clock, waits for the run to end, checks for Streamlit exception boxes, clears the canvas
   with its toolbar and waits for the empty page; with ``--think S`` it then pauses S seconds (+-50%, per
   session's own random numbers) as a pupil looks at the answer before drawing again; the default 0 is a stress
   test, back to back. Mouse-up -> script run start (``data-test-script-state``) is recorded too: it holds the
   send (at once, ``app_pages/stroke_send.py``), the websocket hop and any queueing. A stroke's pointer and
   mouse events are dispatched inside the page in one call (``--input dom``, default; ``--input mouse`` uses
   Playwright's mouse, one round trip per move, which with 20 starved renderers made drawing itself take tens
   of seconds).
4. Stops the training (Stop on the Train page), closes the browser and the server, and scans the server log.

Errors counted: page errors (uncaught JS), console errors, failed requests, ``[data-testid=stException]``
elements, strokes the canvas did not take, predictions that did not come within ``--timeout`` seconds, and
Traceback / ERROR lines in the server log (TensorFlow's GPU probe on a CPU-only machine left out).
Also printed: the server-side split, CPU used during the window by the server, the browser and the machine,
server CPU per prediction, training batches/s alone and during the load, the latency by quarter of the window.

Targets (issue): zero errors, p95 mouse-up -> prediction <= 1 s. The script exits 1 when there were errors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.app import app_env, launch_app, stop_app, wait_healthy  # noqa: E402
from harness.chromium import IDLE, VIEWPORT, chromium_missing, launch  # noqa: E402
from harness.digits import place  # noqa: E402
from harness.draw import CLEAR_BUTTON, UNDO, UPPER_CANVAS  # noqa: E402

DIGITS = ("0", "1", "7")  # one-stroke shapes: one stroke is one prediction
STATE = "[data-testid='train-state']"
PROGRESS = re.compile(r"Epoch (\d+)/(\d+) · batch (\d+)/(\d+)")
LOG_ERROR = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b|Exception|^E\d{4} ")
LOG_NOISE = re.compile(r"cuInit|cuda_")  # TensorFlow looking for a GPU on a CPU-only machine
LOG_WARNING = re.compile(r"\bWARNING\b|Warning:|^\S+ \S+ .*(was created with|deprecated)")
DATA_DEFAULT = Path("/work/shared/datasets")  # the benches' CONVSCOPE_DATA when the environment names none

# In-page probe on the browser's clock: mouse-up, script run start, new prediction fingerprint. It also answers the
# session's waits (``window.__waitFor``) from DOM mutations: Playwright's ``wait_for_function`` polls on every
# animation frame, which keeps 20 renderers drawing frames while they wait, load that no pupil's browser has.
PROBE = """() => {
  const app = document.querySelector("[data-testid='stApp']");
  const lat = window.__lat = {up: null, before: null, running: null, prediction: null};
  const current = () => {
    const e = document.querySelector("[data-testid='prediction']");
    return e ? e.getAttribute('data-input') : null;
  };
  // the run is over and has caught up with the result panel (a stroke route's answer comes first: app_pages/panel.js)
  const inStep = () => (document.querySelector("[data-testid='result-panel']")?.dataset.synced ?? '1') !== '0';
  const idle = () => app.getAttribute('data-test-script-state') === 'notRunning' && inStep();
  const reached = {
    prediction: () => lat.prediction !== null,
    idle,
    empty: () => idle() && current() === null,
  };
  const waiters = new Set();
  window.__waitFor = (what, ms) => new Promise((resolve, reject) => {
    if (reached[what]()) return resolve(true);
    const waiter = {what, resolve};
    waiter.timer = setTimeout(() => {
      waiters.delete(waiter);
      reject(new Error(`${what}: not reached within ${ms} ms`));
    }, ms);
    waiters.add(waiter);
  });
  window.addEventListener('mouseup', () => {
    Object.assign(lat, {up: performance.now(), before: current(), running: null, prediction: null});
  }, true);
  new MutationObserver(() => {
    if (lat.up !== null) {
      if (lat.running === null && app.getAttribute('data-test-script-state') === 'running') lat.running = performance.now();
      if (lat.prediction === null) {
        const input = current();
        if (input !== null && input !== lat.before) lat.prediction = performance.now();
      }
    }
    for (const waiter of [...waiters]) {
      if (reached[waiter.what]()) {
        waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.resolve(true);
      }
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true,
                             attributeFilter: ['data-input', 'data-test-script-state', 'data-synced']});
}"""
WAIT_FOR = "([what, ms]) => window.__waitFor(what, ms)"
# ``streamlit run`` with a probe: every rerun request a session receives, every script start/stop and every
# ForwardMsg that carries the Draw page's prediction (its result panel with an answer) is written (monotonic clock,
# session id) to the file named by CONVSCOPE_BENCH_EVENTS. Nothing else changes. This splits the browser's latency
# into the server's part (request -> prediction sent) and the rest (canvas send delay, websocket, the browser's own
# work).
PROBED_LAUNCHER = """
import json, os, sys, threading, time
from streamlit.runtime import app_session as _a
_out = open(os.environ['CONVSCOPE_BENCH_EVENTS'], 'a', buffering=1)
_lock = threading.Lock()
def _write(*rec):
    with _lock:
        _out.write(json.dumps(rec) + chr(10))
_request = _a.AppSession._handle_rerun_script_request
def _on_request(self, client_state=None):
    _write(time.monotonic(), self.id, 'request')
    return _request(self, client_state)
_event = _a.AppSession._on_scriptrunner_event
def _on_event(self, sender, event, forward_msg=None, *args, **kwargs):
    if event.name != 'ENQUEUE_FORWARD_MSG':
        _write(time.monotonic(), self.id, event.name)
    elif forward_msg is not None and forward_msg.WhichOneof('type') == 'delta' and (
            "data-testid='prediction'" in forward_msg.delta.new_element.markdown.body
            or forward_msg.delta.new_element.bidi_component.component_name.endswith('convscope.panel')
            and forward_msg.delta.new_element.bidi_component.bytes):
        _write(time.monotonic(), self.id, 'prediction')
    return _event(self, sender, event, forward_msg, *args, **kwargs)
_a.AppSession._handle_rerun_script_request = _on_request
_a.AppSession._on_scriptrunner_event = _on_event
from streamlit.web.cli import main
sys.argv[0] = 'streamlit'
sys.exit(main())
"""

# One stroke as the canvas sees it from a mouse (Fabric listens to mouse events), dispatched inside the page in one
# call: with 20 sessions on two cores, Playwright's per-move round trips (a move waits for the starved renderer to
# take it) made drawing, not the server, the bottleneck. ``--input mouse`` uses the real mouse instead.
DOM_STROKE = """([points]) => {
  let canvas = null;
  for (const host of document.querySelectorAll('[data-testid=stBidiComponentIsolated]')) {
    canvas = (host.shadowRoot || host).querySelector('canvas.upper-canvas');
    if (canvas) break;
  }
  if (!canvas) return false;
  const r = canvas.getBoundingClientRect();
  // As a browser does for a mouse: each pointer event, then its mouse event (the app listens to both).
  const fire = (type, [x, y], buttons) => {
    const init = {bubbles: true, composed: true, cancelable: true, view: window, button: 0, buttons,
                  clientX: r.left + x * r.width, clientY: r.top + y * r.height};
    canvas.dispatchEvent(new PointerEvent('pointer' + type, {...init, pointerId: 1, pointerType: 'mouse', isPrimary: true}));
    canvas.dispatchEvent(new MouseEvent('mouse' + type, init));
  };
  fire('over', [0.5, 0.9], 0);
  fire('enter', [0.5, 0.9], 0);
  fire('move', [0.5, 0.9], 0);
  fire('down', points[0], 1);
  for (const p of points.slice(1)) fire('move', p, 1);
  fire('up', points[points.length - 1], 0);
  return true;
}"""


# ---- helpers the other bench scripts share ------------------------------------------------------------------
def percentile(values, q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def server_side(events: Path, start: float, end: float) -> dict:
    """Per rerun request received in [start, end]: request -> script start, and request -> prediction sent (the
    requests of strokes; a Clear's request sends none). Sessions that never sent a prediction (the Train page) are
    left out."""
    import json

    by_session: dict[str, list] = {}
    with open(events) as f:
        for line in f:
            t, session, what = json.loads(line)
            by_session.setdefault(session, []).append((t, what))
    to_start, to_prediction, runs = [], [], []
    for seq in by_session.values():
        if not any(what == "prediction" for _, what in seq):  # the Train page's session
            continue
        for i, (t, what) in enumerate(seq):
            if what == "SCRIPT_STARTED" and start <= t <= end:
                stop = next((u for u, w in seq[i + 1:] if w.startswith(("SCRIPT_STOPPED", "FRAGMENT_STOPPED"))), None)
                if stop is not None:
                    runs.append(stop - t)
            if what != "request" or not start <= t <= end:
                continue
            started = predicted = None
            for u, w in seq[i + 1:]:
                if w == "request":
                    break
                if w == "SCRIPT_STARTED" and started is None:
                    started = u
                if w == "prediction" and predicted is None:
                    predicted = u
            if started is not None:
                to_start.append((started - t) * 1000)
            if predicted is not None:
                to_prediction.append((predicted - t) * 1000)
    return {"to_start": to_start, "to_prediction": to_prediction, "runs": [r * 1000 for r in runs]}


def _ppids() -> dict[int, int]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    out[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return out


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    parents = _ppids()
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(c for c, parent in parents.items() if parent == p)
    return tree


def rss_bytes(pid: int) -> int:
    """VmRSS of ``pid`` and its children, in bytes (0 for processes that are gone)."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def cpu_seconds(pids) -> float:
    """utime + stime of ``pids`` (threads included), and of their children once reaped (cutime + cstime: the
    training process that ends inside the window still counts for its server), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / tick, sum(values[:8]) / tick


def load_average() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def log_lines(log_path: Path, start: int = 0) -> tuple[list[str], list[str]]:
    """(Traceback / ERROR lines, warning lines) of the server log from byte ``start`` on; GPU-probe noise left out."""
    errors, warnings = [], []
    with open(log_path, errors="replace") as f:
        f.seek(start)
        for line in f:
            if LOG_NOISE.search(line):
                continue
            if LOG_ERROR.search(line):
                errors.append(line.rstrip())
            elif LOG_WARNING.search(line):
                warnings.append(line.rstrip())
    return errors, warnings


def browser_pids(server_pid: int | None) -> list[int]:
    """The Chromium processes started by this script (descendants of it, not of the server)."""
    server = set(process_tree(server_pid)) if server_pid else set()
    pids = []
    for p in process_tree(os.getpid()):
        if p in server or p == os.getpid():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if b"chrom" in f.read():
                    pids.append(p)
        except OSError:
            pass
    return pids


def quarters(samples: list[dict]) -> list[list[float]]:
    """Latencies of the measured predictions in four equal slices of time (does the queue build up?)."""
    if not samples:
        return [[]] * 4
    t0, t1 = min(s["t"] for s in samples), max(s["t"] for s in samples)
    span = max(t1 - t0, 1e-9)
    out = [[], [], [], []]
    for s in samples:
        out[min(3, int(4 * (s["t"] - t0) / span))].append(s["latency"])
    return out


def grouped(lines: list[str]) -> list[tuple[str, int]]:
    """Identical messages once, with their count (the session name and numbers that vary are folded)."""
    counts: dict[str, int] = {}
    for line in lines:
        key = re.sub(r"^s\d\d: ", "sNN: ", line)
        key = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", key)
        counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])


# ---- the load ---------------------------------------------------------------------------------------------
def stroke_for(rng: random.Random):
    """A one-stroke digit at a random size and place, every point jittered. The stroke keeps out of the top
    15% of the canvas: the canvas' toolbar (invisible until hovered) covers the top-right of the canvas and
    swallows a pointer-down there (see the report of this bench)."""
    digit = rng.choice(DIGITS)
    height = rng.uniform(0.45, 0.7)
    cx, cy = rng.uniform(0.38, 0.62), rng.uniform(0.5, 0.6)
    stroke = place(digit, cx, cy, height)[0]
    return digit, [(min(0.95, max(0.05, x + rng.uniform(-0.01, 0.01))), min(0.95, max(0.15, y + rng.uniform(-0.01, 0.01))))
                   for x, y in stroke]


async def draw(page, box, stroke, how: str = "mouse") -> None:
    """Hover into the canvas, then draw the stroke with real mouse events (or mouse events dispatched in the page)."""
    if how == "dom":
        if not await page.evaluate(DOM_STROKE, [stroke]):
            raise RuntimeError("no canvas on the page")
        return
    x0, y0 = stroke[0]
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.9, steps=2)
    await page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
    await page.mouse.down()
    for x, y in stroke[1:]:
        await page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
    await page.mouse.up()


def watch_errors(page, name: str, errors: list) -> None:
    def console(msg):
        if msg.type == "error":
            where = (msg.location or {}).get("url", "")
            errors.append(f"{name}: console error: {msg.text[:300]}{f' ({where})' if where else ''}")

    def failed(request):
        errors.append(f"{name}: request failed: {request.url[:200]} ({request.failure})")

    page.on("pageerror", lambda exc: errors.append(f"{name}: page error: {exc}"))
    page.on("console", console)
    page.on("requestfailed", failed)


async def new_page(browser, url: str, path: str, name: str, errors: list):
    context = await browser.new_context(viewport=VIEWPORT, locale="en-US")
    page = await context.new_page()
    page.set_default_timeout(120_000)
    watch_errors(page, name, errors)
    await page.goto(f"{url}/{path}")
    await page.wait_for_selector(IDLE)
    return context, page


async def wait_idle(page, timeout: float = 120_000) -> None:
    await page.wait_for_selector(IDLE, timeout=timeout)


async def training_batches(page) -> int | None:
    """Batches done since the start, read from the Train page's progress bar (None while there is none)."""
    text = await page.locator("[data-testid='stProgress']").first.inner_text() \
        if await page.locator("[data-testid='stProgress']").count() else ""
    m = PROGRESS.search(text)
    if not m:
        return None
    epoch, _, batch, steps = (int(v) for v in m.groups())
    return (epoch - 1) * steps + batch


async def goto_page(page, title: str) -> None:
    """Open a page through the sidebar navigation, as a visitor does (a deep link makes Streamlit's client probe
    ``/<page>/_stcore/...`` first, which logs two 404s in the console)."""
    await page.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
    await page.get_by_role("heading", name=title).first.wait_for()
    await wait_idle(page)


async def start_training(browser, url: str, epochs: int, errors: list):
    context, page = await new_page(browser, url, "", "train", errors)
    await goto_page(page, "Train")
    await page.get_by_role("button", name="Classroom demo settings").click()
    await wait_idle(page)
    box = page.get_by_label("Epochs", exact=True)
    await box.fill(str(epochs))
    await box.press("Enter")
    await wait_idle(page)
    await page.get_by_role("button", name="Start training").click()
    await page.wait_for_selector(f"{STATE}[data-status='running']", state="attached", timeout=120_000)
    await page.get_by_text(PROGRESS).first.wait_for(timeout=180_000)  # data loaded, fit running
    return context, page


async def stop_training(page, errors: list, artifacts: str | None) -> str:
    """Press Stop on the Train page and wait for the stopped status; a failure is an error of the run."""
    status = await page.locator(STATE).first.get_attribute("data-status")
    if status == "running":
        await page.get_by_role("button", name="Stop").click()
        try:
            try:
                await page.wait_for_selector(f"{STATE}[data-status='stopped']", state="attached", timeout=60_000)
            except Exception:  # a click while the page's fragment was being redrawn can miss: once more
                if await page.locator(STATE).first.get_attribute("data-status") == "running":
                    errors.append("train: the first Stop click did not take (pressed again)")
                    await page.get_by_role("button", name="Stop").click()
                await page.wait_for_selector(f"{STATE}[data-status='stopped']", state="attached", timeout=60_000)
        except Exception:
            now = await page.locator(STATE).first.get_attribute("data-status")
            errors.append(f"train: not stopped 120 s after Stop (status {now})")
            if artifacts:
                await page.screenshot(path=str(Path(artifacts) / "load-stop-timeout.png"), full_page=True)
    return status


async def round_trip(page, box, name: str, rng: random.Random, args, errors: list, samples: list, shots: int,
                     warm_up: bool = False) -> int:
    """Draw a stroke, wait for its prediction, clear the canvas; returns the number of screenshots taken so far."""
    digit, stroke = stroke_for(rng)
    await draw(page, box, stroke, args.input)
    if await page.locator(UNDO).first.is_disabled():  # the canvas did not take the stroke: nothing will be sent
        errors.append(f"{name}: stroke lost (the canvas' undo stayed disabled after mouse-up)")
        samples.append({"session": name, "ok": False, "warm_up": warm_up})
        return shots
    try:
        await page.evaluate(WAIT_FOR, ["prediction", args.timeout * 1000])
    except Exception:
        state = await page.evaluate("() => [document.querySelector(\"[data-testid='stApp']\")"
                                    ".getAttribute('data-test-script-state'), window.__lat]")
        errors.append(f"{name}: no new prediction {args.timeout:.0f} s after mouse-up (script state, probe: {state})")
        samples.append({"session": name, "ok": False, "warm_up": warm_up})
        if shots < 2 and args.artifacts:
            shots += 1
            await page.screenshot(path=str(Path(args.artifacts) / f"load-timeout-{name}-{shots}.png"), full_page=True)
        await page.reload()  # start the next round from a known page
        await page.wait_for_selector(IDLE)
        await page.locator(UPPER_CANVAS).first.wait_for()
        await page.evaluate(PROBE)
        return shots
    lat = await page.evaluate("() => window.__lat")
    samples.append({"session": name, "ok": True, "warm_up": warm_up, "t": time.monotonic(), "digit": digit,
                    "latency": lat["prediction"] - lat["up"],
                    "to_running": (lat["running"] - lat["up"]) if lat["running"] is not None else None})
    await page.evaluate(WAIT_FOR, ["idle", 120_000])
    exceptions = await page.locator("[data-testid='stException']").count()
    if exceptions:
        text = (await page.locator("[data-testid='stException']").first.inner_text())[:300]
        errors.append(f"{name}: {exceptions} Streamlit exception box(es): {text}")
    await page.locator(CLEAR_BUTTON).first.click()
    await page.evaluate(WAIT_FOR, ["empty", args.timeout * 1000])
    return shots


class Gate:
    """Every session reports ready (or failed); the load window opens when all have and the main task says so."""

    def __init__(self, n: int):
        self.n, self.count = n, 0
        self.all_ready, self.go = asyncio.Event(), asyncio.Event()

    def arrived(self) -> None:
        self.count += 1
        if self.count >= self.n:
            self.all_ready.set()


async def session(i: int, browser, url: str, args, gate: Gate, window: dict, errors: list, samples: list,
                  contexts: list) -> None:
    name = f"s{i:02d}"
    rng = random.Random(1000 + i)
    arrived = False
    shots = 0
    try:
        context, page = await new_page(browser, url, "", name, errors)
        contexts.append(context)  # closed by the main task after the CPU figures are read
        canvas = page.locator(UPPER_CANVAS).first
        await canvas.wait_for()
        box = await canvas.bounding_box()
        await page.evaluate(PROBE)
        # one warm-up round, not measured: the first prediction of the server loads the model
        await round_trip(page, box, name, rng, args, errors, samples, shots, warm_up=True)
        arrived = True
        gate.arrived()
        await gate.go.wait()
        while time.monotonic() < window["end"]:
            shots = await round_trip(page, box, name, rng, args, errors, samples, shots)
            if args.think:  # the workload's pace (a pupil reading the answer), not a synchronisation sleep
                await asyncio.sleep(min(rng.uniform(0.5, 1.5) * args.think, max(0.0, window["end"] - time.monotonic())))
    except Exception as exc:  # a session that breaks is an error of the run, not the end of the bench
        errors.append(f"{name}: session aborted: {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        if not arrived:
            gate.arrived()


async def run_load(args, url: str, server_pid: int) -> dict:
    from playwright.async_api import async_playwright

    errors: list[str] = []
    samples: list[dict] = []
    out = {"errors": errors, "samples": samples}
    async with async_playwright() as pw:
        browser = await launch(pw)
        t0 = time.monotonic()
        train_context = train_page = None
        out["training_start_s"] = out["batches_per_s_before"] = None
        if not args.no_training:
            train_context, train_page = await start_training(browser, url, args.train_epochs, errors)
            out["training_start_s"] = time.monotonic() - t0
            # training speed with no other session, over --train-probe seconds
            b0, s0 = await training_batches(train_page), time.monotonic()
            await asyncio.sleep(args.train_probe)  # a measurement window, not a synchronisation sleep
            b1, s1 = await training_batches(train_page), time.monotonic()
            out["batches_per_s_before"] = (b1 - b0) / (s1 - s0) if b0 is not None and b1 is not None else None
        gate = Gate(args.sessions)
        window = {"end": float("inf")}
        tasks, contexts = [], []
        for i in range(args.sessions):
            tasks.append(asyncio.create_task(session(i, browser, url, args, gate, window, errors, samples, contexts)))
            await asyncio.sleep(0.2)  # stagger the first page loads a little (not a synchronisation sleep)
        try:
            await asyncio.wait_for(gate.all_ready.wait(), timeout=300)
        except TimeoutError:
            errors.append("not all sessions were ready within 300 s")
            window["end"] = 0
        b1 = await training_batches(train_page) if train_page else None
        out["setup_s"] = time.monotonic() - t0
        out["load_before"] = load_average()
        start = out["window_start"] = time.monotonic()
        window["end"] = start + args.seconds
        browser_procs = browser_pids(server_pid)
        server_procs = process_tree(server_pid) if server_pid else []
        cpu0 = (cpu_seconds(server_procs), cpu_seconds(browser_procs), machine_busy_seconds())
        gate.go.set()
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.seconds + 3 * args.timeout + 60)
        except TimeoutError:
            errors.append("the sessions did not end in time")
        out["window_end"] = time.monotonic()
        elapsed = out["window_end"] - start
        cpu1 = (cpu_seconds(server_procs), cpu_seconds(browser_procs), machine_busy_seconds())
        b2 = await training_batches(train_page) if train_page else None
        out["batches_per_s_during"] = (b2 - b1) / elapsed if b1 is not None and b2 is not None else None
        out["load_after"] = load_average()
        out["window_s"] = elapsed
        out["cpu_server"] = (cpu1[0] - cpu0[0]) / elapsed
        out["cpu_browser"] = (cpu1[1] - cpu0[1]) / elapsed
        out["cpu_machine"] = (cpu1[2][0] - cpu0[2][0]) / elapsed
        out["cores"] = (cpu1[2][1] - cpu0[2][1]) / elapsed
        out["training_status_at_end"] = await stop_training(train_page, errors, args.artifacts) if train_page else None
        for context in contexts + ([train_context] if train_context else []):
            await context.close()
        await browser.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--think", type=float, default=0,
                        help="seconds (+-50%%) each session pauses after an answer before the next stroke; 0: back to back")
    parser.add_argument("--train-epochs", type=int, default=30, help="epochs of the classroom-demo training (stopped at the end)")
    parser.add_argument("--timeout", type=float, default=30, help="seconds a prediction may take before it counts as an error")
    parser.add_argument("--input", choices=["dom", "mouse"], default="dom",
                        help="dom: each stroke's mouse events dispatched in the page in one call (default); mouse: "
                             "Playwright's mouse, one round trip per move")
    parser.add_argument("--plain-server", action="store_true",
                        help="plain `streamlit run` (no server-side timings; by default the server runs with a probe)")
    parser.add_argument("--no-training", action="store_true", help="no training during the load (to compare)")
    parser.add_argument("--client-nice", type=int, default=10,
                        help="niceness of this script, Playwright and Chromium (the server keeps 0): the simulated "
                             "clients share the server's cores here, in a classroom they run on the pupils' devices")
    parser.add_argument("--url", help="drive an app already served there (e.g. on another machine, so that the "
                                       "browsers do not share its cores) instead of starting one; no server-side figures")
    parser.add_argument("--train-probe", type=float, default=5, help="seconds the training speed is measured alone")
    parser.add_argument("--artifacts", default=str(ROOT / "test-artifacts"), help="folder for screenshots of timeouts")
    args = parser.parse_args()
    if missing := chromium_missing():
        sys.exit(missing)
    workdir = Path(tempfile.mkdtemp(prefix="convscope-load-"))
    (workdir / "models").mkdir()
    env = app_env(workdir / "models", data=DATA_DEFAULT)
    if not env.get("CONVSCOPE_DATA"):
        sys.exit("set CONVSCOPE_DATA to a folder with the MNIST files (the training needs them)")
    log_path = workdir / "streamlit.log"
    Path(args.artifacts).mkdir(exist_ok=True)
    print(f"load average at start: {load_average()}; {os.cpu_count()} CPU cores; server log {log_path}", flush=True)
    events = None if args.plain_server or args.url else workdir / "events.jsonl"
    if args.url:
        proc, url = None, args.url.rstrip("/")
    elif events:
        proc, url = launch_app({**env, "CONVSCOPE_BENCH_EVENTS": str(events)}, log_path, launcher=PROBED_LAUNCHER)
    else:
        proc, url = launch_app(env, log_path)
    try:
        if args.client_nice:
            os.nice(args.client_nice)  # after the server started: it keeps niceness 0, the browser inherits this
        if proc is not None:
            wait_healthy(url, proc)
        out = asyncio.run(run_load(args, url, proc.pid if proc else None))
        out["rss_end"] = rss_bytes(proc.pid) if proc else 0
    finally:
        if proc is not None:
            stop_app(proc)
    errors, samples = out["errors"], out["samples"]
    server_errors, server_warnings = log_lines(log_path) if proc else ([], [])
    ok = [s for s in samples if s["ok"] and not s["warm_up"]]
    latencies = [s["latency"] for s in ok]
    to_running = [s["to_running"] for s in ok if s["to_running"] is not None]
    per_session = [sum(1 for s in ok if s["session"] == f"s{i:02d}") for i in range(args.sessions)]

    training = "no training" if args.no_training else (
        f"one training (classroom demo, {args.train_epochs} epochs, started in {out['training_start_s']:.0f} s)")
    print(f"\nLoad: {args.sessions} browser sessions on the Draw page for {out['window_s']:.0f} s (--seconds {args.seconds:g}; "
          f"the last rounds finish after it; think {args.think:g} s between answers), {training}; "
          f"set-up {out['setup_s']:.0f} s; clients at nice {args.client_nice}")
    print(f"load average before the window {out['load_before']}, after {out['load_after']}")
    rows = [
        ("predictions (mouse-up -> new fingerprint)", f"{len(ok)}"),
        ("predictions per session (min / median / max)",
         f"{min(per_session)} / {statistics.median(per_session):.0f} / {max(per_session)}"),
        ("predictions per second (all sessions)", f"{len(ok) / out['window_s']:.1f}"),
        ("latency p50 (ms)", f"{percentile(latencies, 0.5):.0f}"),
        ("latency p95 (ms)", f"{percentile(latencies, 0.95):.0f}"),
        ("latency max (ms)", f"{max(latencies) if latencies else float('nan'):.0f}"),
        ("  of which mouse-up -> run starts, p50 / p95 (ms)",
         f"{percentile(to_running, 0.5):.0f} / {percentile(to_running, 0.95):.0f}"),
        ("strokes lost or timed out (no prediction)", f"{sum(1 for s in samples if not s['ok'])}"),
        ("errors in pages (JS, console, stException, timeouts)", f"{len(errors)}"),
        ("errors in the server log", f"{len(server_errors)}"),
        ("warnings in the server log (not counted)", f"{len(server_warnings)}"),
        ("latency p50 by quarter of the window (ms)", " / ".join(f"{percentile(q, 0.5):.0f}" for q in quarters(ok))),
        ("CPU during the window: server / browser / machine (cores)",
         f"{out['cpu_server']:.2f} / {out['cpu_browser']:.2f} / {out['cpu_machine']:.2f} of {out['cores']:.1f}"),
        ("server CPU per prediction (s, training included)",
         f"{out['cpu_server'] * out['window_s'] / len(ok) if ok else float('nan'):.2f}"),
        ("server RSS at the end (MiB)", f"{out['rss_end'] / 2**20:.0f}"),
    ]
    if proc is None:  # another machine's server: its CPU, memory and log are not seen from here
        rows = [r for r in rows if not r[0].startswith(("server", "errors in the server", "warnings in the server"))]
    if events is not None:
        server = server_side(events, out["window_start"], out["window_end"])
        rows[7:7] = [
            ("server: rerun request -> prediction sent, p50 / p95 (ms)",
             f"{percentile(server['to_prediction'], 0.5):.0f} / {percentile(server['to_prediction'], 0.95):.0f}"),
            ("server: rerun request -> script starts, p50 / p95 (ms)",
             f"{percentile(server['to_start'], 0.5):.0f} / {percentile(server['to_start'], 0.95):.0f}"),
            ("server: Draw run (its fragment), start to end, p50 / p95 (ms)",
             f"{percentile(server['runs'], 0.5):.0f} / {percentile(server['runs'], 0.95):.0f}"),
        ]
    if not args.no_training:
        rows[-3:-3] = [
            ("training batches/s alone -> during the load",
             f"{out['batches_per_s_before'] or float('nan'):.1f} -> {out['batches_per_s_during'] or float('nan'):.1f}"),
            ("training still running at the end", f"{out['training_status_at_end'] == 'running'}")]
    width = max(len(r[0]) for r in rows)
    for title, value in rows:
        print(f"{title:{width}}  {value:>14}")
    for line, n in grouped(errors + server_errors)[:15]:
        print(f"  ! {n:4d} x {line}")
    for line, n in grouped(server_warnings)[:5]:
        print(f"  ~ {n:4d} x {line[:300]}")
    p95 = percentile(latencies, 0.95)
    met = not errors and not server_errors and latencies and p95 <= 1000
    print(f"target: zero errors and p95 <= 1000 ms: {'met' if met else 'MISSED'} "
          f"({len(errors) + len(server_errors)} errors, p95 {p95:.0f} ms)")
    return 1 if errors or server_errors or not latencies else 0


if __name__ == "__main__":
    sys.exit(main())
