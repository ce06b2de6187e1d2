"""Server memory (RSS): after start, with both default models loaded, and its growth over reruns and trainings.

    CONVSCOPE_DATA=/work/shared/datasets .venv/bin/python bench/memory.py [--reruns 200] [--warm-up 20] [--trainings 5]

The app is started with ``streamlit run app.py`` on a free loopback port with an empty user model folder (the
shipped default models are used) and driven by one headless Chromium session. RSS is VmRSS from
/proc/<pid>/status of the server and all its children, read once the figure has settled (two reads 1 s apart
within 1%, at most ``--settle`` seconds).

(a) after start: the server answers /_stcore/health, no page opened yet.
(b) both default models loaded: the Draw page with a drawing predicted (digit model), then the Fashion page
    (Fashion model, test images, its prediction). Target <= 1.2 GB.
(c) Draw page reruns, ``--reruns`` in all: a stroke (a new, never seen drawing: it adds to the one on the canvas)
    three times, then Clear, and again; each rerun waits for its end (new prediction fingerprint, or the empty
    canvas, and no running indicator). RSS after the first ``--warm-up`` reruns against after all of them.
    Target < 5% growth. ``--kind toggle`` instead flips the "Compare with a naive resize" toggle on an unchanged
    drawing (the same input every time: no new cache entries), to tell a leak from caches filling up.
(d) ``--trainings`` short trainings from the Train page, one after the other, as a teacher starts them: 1 epoch
    on a 100-image MNIST subset, wait until it has finished (test set evaluated), "New training". RSS after the
    first against after the last. Target < 5% growth.

Page errors, console errors, Streamlit exception boxes and Traceback / ERROR lines of the server log are
counted; the script exits 1 on errors.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import (  # noqa: E402
    DATA_DEFAULT,
    DOM_STROKE,
    grouped,
    load_average,
    log_lines,
    rss_bytes,
    stroke_for,
    watch_errors,
)
from harness.app import app_env, running_app  # noqa: E402
from harness.chromium import (  # noqa: E402
    IDLE,
    chromium_missing,
    exceptions_shown,
    launch,
    new_tab,
    open_from_sidebar,
    type_number,
    wait_idle,
)
from harness.draw import PREDICTION, UPPER_CANVAS, clear, prediction_input, wait_new_prediction  # noqa: E402

STATE = "[data-testid='train-state']"
MIB = 2**20
# experiment (--gc-first): `streamlit run` where SIGUSR1 makes the server run a full garbage collection
GC_LAUNCHER = ("import gc, signal, sys; signal.signal(signal.SIGUSR1, lambda *a: gc.collect()); "
               "from streamlit.web.cli import main; sys.argv[0] = 'streamlit'; sys.exit(main())")


def settled_rss(pid: int, settle: float) -> int:
    """RSS once two reads 1 s apart agree within 1% (or after ``settle`` seconds)."""
    deadline = time.monotonic() + settle
    last = rss_bytes(pid)
    while time.monotonic() < deadline:
        time.sleep(1)  # sampling interval of the memory figure, not a synchronisation with the page
        now = rss_bytes(pid)
        if abs(now - last) <= 0.01 * last:
            return now
        last = now
    return last


def stroke(page, rng: random.Random) -> None:
    """One new stroke on the Draw page; returns when its prediction is shown and the run has ended."""
    before = prediction_input(page)
    _, points = stroke_for(rng)
    if not page.evaluate(DOM_STROKE, [points]):
        raise RuntimeError("no canvas on the Draw page")
    wait_new_prediction(page, before)


def toggle(page, label: str) -> None:
    """Flip a toggle and wait until the run it causes has ended."""
    box = page.get_by_label(label, exact=True).first
    was = box.is_checked()
    page.get_by_text(label, exact=True).click()
    page.wait_for_function("([el, was, idle]) => el.checked !== was && document.querySelector(idle) !== null",
                           arg=[box.element_handle(), was, IDLE])


def check(page, where: str, errors: list) -> None:
    if shown := exceptions_shown(page):
        errors.append(f"{where}: {shown}")


def one_training(page) -> dict:
    """Epochs 1, a 100-image subset, Start; wait until it finished; New training. Returns what the form showed."""
    shown = {"epochs": page.get_by_label("Epochs", exact=True).input_value(),
             "subset": page.get_by_label("Train on a subset", exact=True).first.is_checked()}
    type_number(page, "Epochs", 1)
    if not page.get_by_label("Train on a subset", exact=True).first.is_checked():
        page.get_by_text("Train on a subset", exact=True).click()
        page.get_by_label("Training images", exact=True).wait_for()
        wait_idle(page)
    type_number(page, "Training images", 100)
    page.get_by_role("button", name="Start training").click()
    page.wait_for_selector(f"{STATE}[data-status='finished']", state="attached", timeout=300_000)
    wait_idle(page)
    # A teacher looks at the results first: clicking on while the gallery's images are still loading makes the
    # browser ask for files the next run has already dropped (a 404 per image in the console).
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stMain] img')].every(i => i.complete)")
    page.get_by_role("button", name="New training").click()
    page.get_by_role("button", name="Start training").wait_for()
    wait_idle(page)
    return shown


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reruns", type=int, default=200, help="Draw reruns of (c); 0 leaves (c) out")
    parser.add_argument("--warm-up", type=int, default=20, help="reruns before the first reading of (c)")
    parser.add_argument("--kind", choices=["draw", "toggle"], default="draw", help="what makes a rerun in (c)")
    parser.add_argument("--trainings", type=int, default=5)
    parser.add_argument("--malloc-arena-max", type=int, default=None,
                        help="experiment: start the server with MALLOC_ARENA_MAX set (glibc's per-thread malloc arenas)")
    parser.add_argument("--gc-first", action="store_true",
                        help="experiment: the server runs a full gc.collect() (SIGUSR1) before each reading")
    parser.add_argument("--settle", type=float, default=10, help="at most this many seconds for RSS to settle")
    args = parser.parse_args()
    if missing := chromium_missing():
        sys.exit(missing)
    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="convscope-memory-"))
    (workdir / "models").mkdir()
    env = app_env(workdir / "models", data=DATA_DEFAULT)
    if args.malloc_arena_max:
        env["MALLOC_ARENA_MAX"] = str(args.malloc_arena_max)
    if args.trainings and not env.get("CONVSCOPE_DATA"):
        sys.exit("set CONVSCOPE_DATA to a folder with the MNIST files (the trainings need them), or --trainings 0")
    log_path = workdir / "streamlit.log"
    print(f"load average at start: {load_average()}; server log {log_path}", flush=True)
    errors: list[str] = []
    rss: dict[str, tuple[int, str]] = {}
    rerun_s = training_s = None
    forms: list[dict] = []
    rng = random.Random(7)

    def note(key: str) -> None:
        if args.gc_first:
            os.kill(proc.pid, signal.SIGUSR1)
        rss[key] = (settled_rss(proc.pid, args.settle), load_average())
        print(f"  {key}: {rss[key][0] / MIB:.0f} MiB (load average {rss[key][1]})", flush=True)

    with running_app(env, log_path, launcher=GC_LAUNCHER if args.gc_first else None) as (proc, url):
        note("a after start")
        with sync_playwright() as pw:
            browser = launch(pw)
            page = new_tab(browser, f"{url}/", timeout=120_000, ready=UPPER_CANVAS,
                           setup=lambda page: watch_errors(page, "page", errors))
            stroke(page, rng)
            check(page, "draw", errors)
            note("a2 Draw page with a prediction (digit model)")
            open_from_sidebar(page, "Fashion", "Fashion-MNIST")
            page.locator(PREDICTION).first.wait_for()
            check(page, "fashion", errors)
            note("b both default models loaded")

            if args.reruns:
                open_from_sidebar(page, "Draw", "Draw a digit")
                page.locator(UPPER_CANVAS).first.wait_for()
            if args.reruns and args.kind == "toggle":
                stroke(page, rng)
            start = time.monotonic()
            for i in range(args.reruns):
                if args.kind == "toggle":
                    toggle(page, "Compare with a naive resize")
                elif i % 4 == 3:
                    clear(page)
                else:
                    stroke(page, rng)
                if (i + 1) % 20 == 0:
                    check(page, f"rerun {i + 1}", errors)
                if i + 1 == args.warm_up:
                    note(f"c1 after {args.warm_up} Draw reruns")
            rerun_s = time.monotonic() - start
            if args.reruns:
                note(f"c2 after {args.reruns} Draw reruns")

            if args.trainings:
                open_from_sidebar(page, "Train", "Train a network")
                start = time.monotonic()
                for i in range(args.trainings):
                    forms.append(one_training(page))
                    check(page, f"training {i + 1}", errors)
                    if i == 0:
                        note("d1 after the 1st training")
                training_s = time.monotonic() - start
                note(f"d2 after training {args.trainings}")
            browser.close()
    server_errors, _ = log_lines(log_path)

    def growth(a: str, b: str) -> float:
        return 100 * (rss[b][0] - rss[a][0]) / rss[a][0]

    arenas = f", MALLOC_ARENA_MAX={args.malloc_arena_max}" if args.malloc_arena_max else ""
    arenas += ", a full gc.collect() in the server before each reading" if args.gc_first else ""
    print(f"\nServer RSS (VmRSS of the server and its children), {os.cpu_count()} CPU cores{arenas}")
    print(f"{'reading':52} {'MiB':>7}  load average")
    for key, (value, load) in rss.items():
        print(f"{key:52} {value / MIB:7.0f}  {load}")
    b = rss["b both default models loaded"][0]
    print(f"\n(b) both models loaded: {b / MIB:.0f} MiB = {b / 1e9:.2f} GB; target <= 1.2 GB: "
          f"{'met' if b <= 1.2e9 else 'MISSED'}")
    if args.reruns > args.warm_up:
        c = growth(f"c1 after {args.warm_up} Draw reruns", f"c2 after {args.reruns} Draw reruns")
        print(f"(c) {args.kind} reruns {args.warm_up} -> {args.reruns}: {c:+.1f}% ({rerun_s:.0f} s, "
              f"{1000 * rerun_s / max(1, args.reruns):.0f} ms per rerun); target < 5%: {'met' if c < 5 else 'MISSED'}")
    if args.trainings:
        d = growth("d1 after the 1st training", f"d2 after training {args.trainings}")
        print(f"(d) trainings 1 -> {args.trainings}: {d:+.1f}% ({training_s:.0f} s); target < 5%: {'met' if d < 5 else 'MISSED'}")
        lost = len(forms) > 1 and forms[1]["epochs"] != "1"
        print("    the form before each training was set up (epochs, subset on): "
              + ", ".join(f"({f['epochs']}, {f['subset']})" for f in forms)
              + ("  <- the previous training's settings were not kept" if lost else ""))
    for line, n in grouped(errors + server_errors)[:15]:
        print(f"  ! {n:4d} x {line}")
    print(f"errors: {len(errors)} in the page, {len(server_errors)} in the server log")
    return 1 if errors or server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
