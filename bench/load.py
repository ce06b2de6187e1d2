"""Load: N browser sessions draw and predict on the Draw page for a minute while one training runs on the server.

    CONVSCOPE_DATA=/work/shared/datasets .venv/bin/python bench/load.py [--sessions 20] [--seconds 60]

1. Starts the app (``streamlit run app.py``) on a free loopback port with an empty user model folder (so the
   shipped default models are used); its log goes to a file whose path is printed.
2. Starts one training the way a teacher does, in its own browser context on the Train page: "Classroom demo
   settings", then ``--train-epochs`` epochs (so it outlasts the load), "Start training", and waits until the
   progress bar shows batches (the data is loaded and the fit runs). That page stays open: its fragment
   redraws the progress every second, as it would in a classroom.
3. Opens ``--sessions`` contexts of one headless Chromium on the Draw page. When all are ready, each one for
   ``--seconds``: draws a one-stroke digit (0, 1 or 7; size, place and every point jittered per session, so no
   two inputs hit the prediction cache), measures mouse-up -> new prediction in the DOM (the
   ``[data-testid=prediction]`` ``data-input`` fingerprint changes) on the browser's clock, waits for the run
   to end, checks for Streamlit exception boxes, clears the canvas with its toolbar and waits for the empty
   page. Mouse-up -> script run start (``data-test-script-state``) is recorded too: it holds the canvas'
   200 ms send delay, the websocket hop and any queueing in the server.
4. Stops the training (Stop on the Train page), closes the browser and the server, and scans the server log.

Errors counted: page errors (uncaught JS), console errors, ``[data-testid=stException]`` elements, predictions
that did not come within ``--timeout`` seconds, and Traceback / ERROR lines in the server log.
Also printed: CPU used during the load window by the server process, by the browser processes and by the
whole machine, and how many training batches ran in the window (against the same length before the load).

Targets (issue): zero errors, p95 mouse-up -> prediction <= 1 s. The script exits 1 when there were errors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, IDLE, free_port, start_app, wait_healthy  # noqa: E402
from tests.e2e.test_draw_browser import CLEAR_BUTTON, place  # noqa: E402

DIGITS = ("0", "1", "7")  # one-stroke shapes: one stroke is one prediction
STATE = "[data-testid='train-state']"
PROGRESS = re.compile(r"Epoch (\d+)/(\d+) · batch (\d+)/(\d+)")
LOG_ERROR = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b|Exception|^E\d{4} ")
LOG_NOISE = re.compile(r"cuInit|cuda_")  # TensorFlow looking for a GPU on a CPU-only machine
LOG_WARNING = re.compile(r"\bWARNING\b|Warning:|^\S+ \S+ .*(was created with|deprecated)")
DATA_DEFAULT = Path("/work/shared/datasets")

# In-page probe on the browser's clock: mouse-up, script run start, new prediction fingerprint.
PROBE = """() => {
  const app = document.querySelector("[data-testid='stApp']");
  const lat = window.__lat = {up: null, before: null, running: null, prediction: null};
  const current = () => {
    const e = document.querySelector("[data-testid='prediction']");
    return e ? e.getAttribute('data-input') : null;
  };
  window.addEventListener('mouseup', () => {
    Object.assign(lat, {up: performance.now(), before: current(), running: null, prediction: null});
  }, true);
  new MutationObserver(() => {
    if (lat.up === null) return;
    if (lat.running === null && app.getAttribute('data-test-script-state') === 'running') lat.running = performance.now();
    if (lat.prediction === null) {
      const input = current();
      if (input !== null && input !== lat.before) lat.prediction = performance.now();
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true,
                             attributeFilter: ['data-input', 'data-test-script-state']});
}"""
EMPTY = "([idle]) => !document.querySelector(\"[data-testid='prediction']\") && document.querySelector(idle) !== null"


# ---- helpers the other bench scripts share ------------------------------------------------------------------
def percentile(values, q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def app_env(models_dir: str) -> dict:
    env = {**os.environ, "CONVSCOPE_MODELS": models_dir, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    if not env.get("CONVSCOPE_DATA") and DATA_DEFAULT.is_dir():
        env["CONVSCOPE_DATA"] = str(DATA_DEFAULT)
    return env


def launch_app(env: dict, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    return start_app(port, env, log_path), f"http://127.0.0.1:{port}"


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


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
    """utime + stime of ``pids`` (threads included), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
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


def browser_pids(server_pid: int) -> list[int]:
    """The Chromium processes started by this script (descendants of it, not of the server)."""
    server = set(process_tree(server_pid))
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
    digit = rng.choice(DIGITS)
    cx, cy, height = rng.uniform(0.38, 0.62), rng.uniform(0.4, 0.6), rng.uniform(0.45, 0.75)
    stroke = place(digit, cx, cy, height)[0]
    return digit, [(min(0.98, max(0.02, x + rng.uniform(-0.01, 0.01))), min(0.98, max(0.02, y + rng.uniform(-0.01, 0.01))))
                   for x, y in stroke]


async def draw(page, box, stroke) -> None:
    x0, y0 = stroke[0]
    await page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
    await page.mouse.down()
    for x, y in stroke[1:]:
        await page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=2)
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
    context = await browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
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


async def stop_training(page) -> str:
    status = await page.locator(STATE).first.get_attribute("data-status")
    if status == "running":
        await page.get_by_role("button", name="Stop").click()
        await page.wait_for_selector(f"{STATE}[data-status='stopped']", state="attached", timeout=120_000)
    return status


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
        canvas = page.locator("[data-testid=stBidiComponentIsolated] canvas.upper-canvas").first
        await canvas.wait_for()
        box = await canvas.bounding_box()
        await page.evaluate(PROBE)
        arrived = True
        gate.arrived()
        await gate.go.wait()
        while time.monotonic() < window["end"]:
            digit, stroke = stroke_for(rng)
            await draw(page, box, stroke)
            try:
                await page.wait_for_function("() => window.__lat.prediction !== null", timeout=args.timeout * 1000)
            except Exception:
                state = await page.evaluate("() => [document.querySelector(\"[data-testid='stApp']\")"
                                            ".getAttribute('data-test-script-state'), window.__lat]")
                errors.append(f"{name}: no new prediction {args.timeout:.0f} s after mouse-up (script state, probe: {state})")
                samples.append({"session": name, "ok": False})
                if shots < 2 and args.artifacts:
                    shots += 1
                    await page.screenshot(path=str(Path(args.artifacts) / f"load-timeout-{name}-{shots}.png"), full_page=True)
                await page.reload()  # start the next round from a known page
                await page.wait_for_selector(IDLE)
                await canvas.wait_for()
                await page.evaluate(PROBE)
                continue
            lat = await page.evaluate("() => window.__lat")
            samples.append({"session": name, "ok": True, "t": time.monotonic(), "digit": digit,
                            "latency": lat["prediction"] - lat["up"],
                            "to_running": (lat["running"] - lat["up"]) if lat["running"] is not None else None})
            await wait_idle(page)
            exceptions = await page.locator("[data-testid='stException']").count()
            if exceptions:
                text = (await page.locator("[data-testid='stException']").first.inner_text())[:300]
                errors.append(f"{name}: {exceptions} Streamlit exception box(es): {text}")
            await page.locator(CLEAR_BUTTON).first.click()
            await page.wait_for_function(EMPTY, arg=[IDLE], timeout=args.timeout * 1000)
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
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        t0 = time.monotonic()
        train_context, train_page = await start_training(browser, url, args.train_epochs, errors)
        out["training_start_s"] = time.monotonic() - t0
        # training speed alone (before any session), over a few seconds
        b0, s0 = await training_batches(train_page), time.monotonic()
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
        b1, s1 = await training_batches(train_page), time.monotonic()
        out["batches_per_s_before"] = (b1 - b0) / (s1 - s0) if b0 is not None and b1 is not None and s1 > s0 else None
        out["setup_s"] = time.monotonic() - t0
        out["load_before"] = load_average()
        start = time.monotonic()
        window["end"] = start + args.seconds
        browser_procs = browser_pids(server_pid)
        cpu0 = (cpu_seconds(process_tree(server_pid)), cpu_seconds(browser_procs), machine_busy_seconds())
        gate.go.set()
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.seconds + 3 * args.timeout + 60)
        except TimeoutError:
            errors.append("the sessions did not end in time")
        elapsed = time.monotonic() - start
        cpu1 = (cpu_seconds(process_tree(server_pid)), cpu_seconds(browser_procs), machine_busy_seconds())
        b2 = await training_batches(train_page)
        out["batches_per_s_during"] = (b2 - b1) / elapsed if b1 is not None and b2 is not None else None
        out["load_after"] = load_average()
        out["window_s"] = elapsed
        out["cpu_server"] = (cpu1[0] - cpu0[0]) / elapsed
        out["cpu_browser"] = (cpu1[1] - cpu0[1]) / elapsed
        out["cpu_machine"] = (cpu1[2][0] - cpu0[2][0]) / elapsed
        out["cores"] = (cpu1[2][1] - cpu0[2][1]) / elapsed
        out["training_status_at_end"] = await stop_training(train_page)
        for context in contexts:
            await context.close()
        await train_context.close()
        await browser.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--train-epochs", type=int, default=30, help="epochs of the classroom-demo training (stopped at the end)")
    parser.add_argument("--timeout", type=float, default=30, help="seconds a prediction may take before it counts as an error")
    parser.add_argument("--artifacts", default=str(ROOT / "test-artifacts"), help="folder for screenshots of timeouts")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} not found: install Debian's chromium")
    workdir = Path(tempfile.mkdtemp(prefix="convscope-load-"))
    (workdir / "models").mkdir()
    env = app_env(str(workdir / "models"))
    if not env.get("CONVSCOPE_DATA"):
        sys.exit("set CONVSCOPE_DATA to a folder with the MNIST files (the training needs them)")
    log_path = workdir / "streamlit.log"
    Path(args.artifacts).mkdir(exist_ok=True)
    print(f"load average at start: {load_average()}; {os.cpu_count()} CPU cores; server log {log_path}", flush=True)
    proc, url = launch_app(env, log_path)
    try:
        wait_healthy(url, proc)
        out = asyncio.run(run_load(args, url, proc.pid))
        out["rss_end"] = rss_bytes(proc.pid)
    finally:
        stop_app(proc)
    errors, samples = out["errors"], out["samples"]
    server_errors, server_warnings = log_lines(log_path)
    ok = [s for s in samples if s["ok"]]
    latencies = [s["latency"] for s in ok]
    to_running = [s["to_running"] for s in ok if s["to_running"] is not None]
    per_session = [sum(1 for s in ok if s["session"] == f"s{i:02d}") for i in range(args.sessions)]

    print(f"\nLoad: {args.sessions} browser sessions on the Draw page for {out['window_s']:.0f} s while one training runs "
          f"(classroom demo, {args.train_epochs} epochs); set-up {out['setup_s']:.0f} s (training started in "
          f"{out['training_start_s']:.0f} s)")
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
        ("timeouts (no prediction)", f"{sum(1 for s in samples if not s['ok'])}"),
        ("errors in pages (JS, console, stException, timeouts)", f"{len(errors)}"),
        ("errors in the server log", f"{len(server_errors)}"),
        ("warnings in the server log (not counted)", f"{len(server_warnings)}"),
        ("training batches/s alone -> during the load",
         f"{out['batches_per_s_before'] or float('nan'):.1f} -> {out['batches_per_s_during'] or float('nan'):.1f}"),
        ("training still running at the end", f"{out['training_status_at_end'] == 'running'}"),
        ("CPU during the window: server / browser / machine (cores)",
         f"{out['cpu_server']:.2f} / {out['cpu_browser']:.2f} / {out['cpu_machine']:.2f} of {out['cores']:.1f}"),
        ("server RSS at the end (MiB)", f"{out['rss_end'] / 2**20:.0f}"),
    ]
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
