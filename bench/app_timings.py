"""Cold start and page switches of the app in a real browser, and when TensorFlow is imported.

    CONVSCOPE_DATA=/work/shared/datasets .venv/bin/python bench/app_timings.py [--starts 3] [--rounds 3]

Cold start, ``--starts`` times, each a fresh server (``streamlit run app.py`` on a free loopback port) and a fresh
browser context (empty cache). All starts share one user model folder, empty at the first start, as a server
restarted on the same machine does: from the second start on, the LiteRT conversions of the default models are
in its cache (``--fresh-store``: an empty folder every time). The browser is launched once, before the first start,
and is not timed. Timed from spawning the server to: ``/_stcore/health`` answering, then the first page in the
browser interactive (``page.goto`` of the root, then the Draw page's canvas visible and the sidebar navigation
present), and the first script run ending (``data-test-script-state=notRunning``). The server runs through a
small launcher that installs an import watcher and then calls Streamlit's own CLI (the same as
``streamlit run``): it notes when ``tensorflow``, ``keras`` and ``plotly`` are first imported, in which thread
and from which line of the app, so the table says whether TensorFlow is imported at server start or only when
a page needs it.

Page switches, on the last server: from the Draw page, through the sidebar navigation
Draw -> Fashion -> Convolution -> Datasets -> Train -> Models -> Draw, ``--rounds`` times. Each switch is timed
from the click to the new page's title shown and the script run ended (no running indicator). The first
round (first visits: test sets and the Fashion model load) is printed apart from the median of the others.

Page errors, console errors, Streamlit exception boxes and Traceback / ERROR lines in the server logs are
counted. Targets: cold start <= 10 s, page switch <= 1 s. Exits 1 on errors.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import (  # noqa: E402
    DATA_DEFAULT,
    PROBED_LAUNCHER,
    grouped,
    load_average,
    log_lines,
    percentile,
    watch_errors,
)
from harness.app import app_env, launch_app, stop_app, wait_healthy  # noqa: E402
from harness.chromium import (  # noqa: E402
    SIDEBAR_NAV,
    chromium_missing,
    exceptions_shown,
    launch,
    new_tab,
    open_from_sidebar,
    wait_idle,
)
from harness.draw import UPPER_CANVAS  # noqa: E402

LOCALE = json.loads((ROOT / "app_pages" / "locales" / "en.json").read_text())
# (sidebar label, page title) in the order the switches go round
PAGES = [(LOCALE[nav], LOCALE[title]) for nav, title in [
    ("nav.draw", "draw.title"), ("nav.fashion", "fashion.title"), ("nav.convolution", "conv.title"),
    ("nav.dataset", "data.title"), ("nav.train", "train.title"), ("nav.models", "models.title")]]
WATCHED = ("tensorflow", "keras", "plotly")

# `streamlit run` with an import watcher: the first import of each WATCHED module is written (monotonic clock,
# thread, innermost line of this repository on the stack) to CONVSCOPE_BENCH_IMPORTS. Nothing is imported early.
# Then bench/load.py's run probe (script starts and stops per session, to CONVSCOPE_BENCH_EVENTS) starts Streamlit.
IMPORT_WATCH = """
import json, os, sys, threading, time, traceback
_imports_out = open(os.environ['CONVSCOPE_BENCH_IMPORTS'], 'a', buffering=1)
_root = os.environ['CONVSCOPE_BENCH_ROOT']
_watched = set(os.environ['CONVSCOPE_BENCH_WATCH'].split(','))
class _Watch:
    def find_spec(self, name, path=None, target=None):
        if name in _watched:
            _watched.discard(name)
            frames = [f for f in traceback.extract_stack()[:-1]
                      if f.filename.startswith(_root) and '/.venv/' not in f.filename]
            where = f'{os.path.relpath(frames[-1].filename, _root)}:{frames[-1].lineno}' if frames else '(streamlit)'
            _imports_out.write(json.dumps([time.monotonic(), name, threading.current_thread().name, where]) + chr(10))
        return None
sys.meta_path.insert(0, _Watch())
"""


def start_watched_app(env: dict, log_path: Path, imports: Path, events: Path) -> tuple[subprocess.Popen, str, float]:
    env = {**env, "CONVSCOPE_BENCH_IMPORTS": str(imports), "CONVSCOPE_BENCH_EVENTS": str(events),
           "CONVSCOPE_BENCH_ROOT": str(ROOT), "CONVSCOPE_BENCH_WATCH": ",".join(WATCHED)}
    t0 = time.monotonic()
    proc, url = launch_app(env, log_path, launcher=IMPORT_WATCH + PROBED_LAUNCHER)
    return proc, url, t0


def read_imports(path: Path, t0: float) -> dict:
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            t, name, thread, where = json.loads(line)
            out[name] = (t - t0, thread, where)
    return out


def check_exceptions(page, where: str, errors: list) -> None:
    if shown := exceptions_shown(page):
        errors.append(f"{where}: {shown}")


def cold_start(browser, env: dict, workdir: Path, i: int, errors: list, keep: bool = False) -> dict:
    log_path, imports, events = workdir / f"streamlit-{i}.log", workdir / f"imports-{i}.jsonl", workdir / f"events-{i}.jsonl"
    proc, url, t0 = start_watched_app(env, log_path, imports, events)
    page = None
    try:
        wait_healthy(url, proc)
        t_health = time.monotonic() - t0
        page = new_tab(browser, f"{url}/", timeout=120_000, ready=None,  # timed below: not the first run's end alone
                       setup=lambda page: watch_errors(page, f"start {i}", errors))
        page.locator(UPPER_CANVAS).first.wait_for(state="visible")
        page.locator(SIDEBAR_NAV).first.wait_for(state="visible")
        t_interactive = time.monotonic() - t0
        wait_idle(page)
        t_idle = time.monotonic() - t0
        check_exceptions(page, f"start {i}", errors)
        # the Draw page warms the digit model up in a thread after its first run: wait for it, for the import table
        deadline = time.monotonic() + 120
        while "tensorflow" not in read_imports(imports, t0) and time.monotonic() < deadline:
            time.sleep(0.2)  # polling a file the server writes, not a synchronisation with the page
        result = {"health": t_health, "interactive": t_interactive, "idle": t_idle, "imports": read_imports(imports, t0),
                  "log": log_path}
        if keep:
            result.update(proc=proc, url=url, page=page, events=events)
        return result
    finally:
        if not keep:
            if page is not None:
                page.context.close()
            stop_app(proc)


def switch(page, nav: str, title: str) -> tuple[float, float]:
    """Click ``nav`` in the sidebar; returns (click, done) on the monotonic clock (the server's clock too)."""
    start = time.monotonic()
    open_from_sidebar(page, nav, title)
    return start, time.monotonic()


def server_run_ms(events: Path, start: float, end: float) -> float | None:
    """First script start to last script stop the server logged between ``start`` and ``end``."""
    starts, stops = [], []
    for line in events.read_text().splitlines():
        t, _, what = json.loads(line)
        if start <= t <= end:
            if what == "SCRIPT_STARTED":
                starts.append(t)
            elif what.startswith("SCRIPT_STOPPED"):
                stops.append(t)
    return (max(stops) - min(starts)) * 1000 if starts and stops else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=3, help="fresh server starts for the cold-start median")
    parser.add_argument("--fresh-store", action="store_true",
                        help="an empty user model folder (no cached LiteRT conversions) at every start")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of page switches (the first is shown apart)")
    args = parser.parse_args()
    if missing := chromium_missing():
        sys.exit(missing)
    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="convscope-timings-"))
    errors: list[str] = []
    starts: list[dict] = []
    switches: dict[tuple[str, str], list[tuple[float, float]]] = {}
    print(f"load average at start: {load_average()}; {os.cpu_count()} CPU cores; logs in {workdir}", flush=True)
    with sync_playwright() as pw:
        browser = launch(pw)
        last = None
        try:
            for i in range(args.starts):
                models = workdir / (f"models-{i}" if args.fresh_store else "models")
                models.mkdir(exist_ok=True)
                keep = i == args.starts - 1
                result = cold_start(browser, app_env(models, data=DATA_DEFAULT), workdir, i, errors, keep=keep)
                result["load"] = load_average()
                starts.append(result)
                print(f"start {i + 1}: interactive after {result['interactive']:.1f} s (load average {result['load']})",
                      flush=True)
                if keep:
                    last = result
            page = last["page"]
            switch_load = [load_average()]
            for r in range(args.rounds):
                for (_, before), (nav, title) in zip(PAGES, PAGES[1:] + PAGES[:1]):
                    span = switch(page, nav, title)
                    check_exceptions(page, f"switch to {nav}", errors)
                    switches.setdefault((before, title), []).append(span)
                print(f"round {r + 1} of page switches done", flush=True)
            switch_load.append(load_average())
        finally:
            if last is not None:
                last["page"].context.close()
                stop_app(last["proc"])
            browser.close()

    server_errors = []
    for s in starts:
        errs, _ = log_lines(s["log"])
        server_errors += errs

    print(f"\nCold start: `streamlit run app.py` spawned -> first page interactive in Chromium, {args.starts} fresh servers")
    rows = [("health endpoint answers (s)", "health"), ("Draw canvas and sidebar visible (s)", "interactive"),
            ("first script run ended (s)", "idle")]
    print(f"{'':40} {'median':>8} " + " ".join(f"{'#' + str(i + 1):>8}" for i in range(len(starts))))
    for title, key in rows:
        values = [s[key] for s in starts]
        print(f"{title:40} {statistics.median(values):8.1f} " + " ".join(f"{v:8.1f}" for v in values))
    print("load average at each start: " + "; ".join(s["load"] for s in starts))
    print("\nFirst import after the spawn (s), thread and the app line that imported it:")
    for name in WATCHED:
        seen = [s["imports"].get(name) for s in starts]
        if not any(seen):
            print(f"  {name:11} not imported")
            continue
        t, thread, where = next(x for x in seen if x)
        times = ", ".join(f"{x[0]:.1f}" if x else "-" for x in seen)
        health = statistics.median(s["health"] for s in starts)
        when = "at server start" if t <= health else "after the server was up (first page)"
        print(f"  {name:11} +{times} s, {when}; thread '{thread}', from {where}")

    print(f"\nPage switch: sidebar click -> new page's title shown and the run ended (ms), {args.rounds} rounds; "
          f"'server': the page's script run on the server (first start to last end)")
    print(f"{'from -> to':50} {'first':>8} {'server':>8} {'median':>8} {'max':>8} {'server':>8}")
    later_all, medians = [], {}
    for (before, title), spans in switches.items():
        values = [(end - start) * 1000 for start, end in spans]
        later = values[1:] or values
        later_all += later
        medians[(before, title)] = statistics.median(later)
        runs = [server_run_ms(last["events"], start, end) for start, end in (spans[1:] or spans)]
        runs = [r for r in runs if r is not None]
        first = server_run_ms(last["events"], *spans[0])
        print(f"{before + ' -> ' + title:50} {values[0]:8.0f} {first if first is not None else float('nan'):8.0f} "
              f"{medians[(before, title)]:8.0f} {max(later):8.0f} {statistics.median(runs) if runs else float('nan'):8.0f}")
    print(f"load average during the switches: {switch_load[0]} -> {switch_load[1]}")

    cold = statistics.median(s["interactive"] for s in starts)
    worst = max(medians.values())
    print(f"\ntarget cold start <= 10 s: {'met' if cold <= 10 else 'MISSED'} (median {cold:.1f} s)")
    print(f"target page switch <= 1 s: {'met' if worst <= 1000 else 'MISSED'} (slowest pair median {worst:.0f} ms, "
          f"p95 of all after the first round {percentile(later_all, 0.95):.0f} ms)")
    slow_first = [f"{a} -> {b} {(spans[0][1] - spans[0][0]):.1f} s" for (a, b), spans in switches.items()
                  if spans[0][1] - spans[0][0] > 1]
    if slow_first:
        print("first visits over 1 s (not in the medians): " + "; ".join(slow_first))
    for line, n in grouped(errors + server_errors)[:15]:
        print(f"  ! {n:4d} x {line}")
    print(f"errors: {len(errors)} in pages, {len(server_errors)} in the server logs")
    return 1 if errors or server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
