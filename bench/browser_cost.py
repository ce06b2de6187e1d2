"""Browser CPU per stroke on the Draw page: what one pupil's browser spends to show a stroke's answer, and a Clear.

    .venv/bin/python bench/browser_cost.py [--strokes 10] [--ref 0b947dd]

Why: with 20 sessions on one machine (``bench/load.py``) the Chromium renderers, not the server, use most of the
CPU, so the latency there follows the browser's cost per stroke. This measures that cost for one session.

1. For the working tree, and with ``--ref`` also for a git revision (checked out in a temporary worktree,
   measured first, side by side in the same run): starts the app on a free loopback port with an empty user
   model folder (the shipped default model), opens the Draw page in Debian's headless Chromium (Playwright),
   draws one warm-up stroke and waits until the server has finished its background work (model conversions).
2. ``--strokes`` rounds: a one-stroke digit (0, 1 or 7 at a random size and place, the strokes of
   ``bench/load.py``, dispatched in the page as a browser does for a mouse); waits for the new prediction and
   the end of the run (on DOM mutations, no polling); then a ``--window`` second measurement window, so that
   decoding and painting after the DOM update count too. The CPU time (user + system) of every Chromium
   process, by type, and of the server is read before the stroke and after the window. Then the same for a
   second stroke on that drawing ("next stroke": the first stroke after the hint goes through a run of the page,
   a next one may not, app_pages/stroke_send.py), and for a Clear with the canvas' toolbar, up to the empty page.
3. Prints the medians per stroke, next stroke and Clear, and, with ``--ref``, the ratio of the ref to the working tree.

The figures include the DOM dispatch of the stroke itself and Playwright's few calls per round (a few ms).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.device_latency import wait_quiet  # noqa: E402
from bench.load import (  # noqa: E402
    DOM_STROKE,
    PROBE,
    WAIT_FOR,
    browser_pids,
    cpu_seconds,
    process_tree,
    stroke_for,
)
from harness.app import app_env, running_app  # noqa: E402
from harness.chromium import launch, new_tab  # noqa: E402
from harness.draw import CLEAR_BUTTON, UPPER_CANVAS  # noqa: E402

KINDS = ("renderer", "gpu-process", "browser", "utility", "server")


def cpu_by_kind(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of this script's Chromium processes, by ``--type``, and of the server's process tree."""
    out = dict.fromkeys(KINDS, 0.0)
    out["server"] = cpu_seconds(process_tree(server_pid))
    for pid in browser_pids(server_pid):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        kind = cmd.split("--type=", 1)[1].split()[0] if "--type=" in cmd else "browser"
        out[kind if kind in out else "utility"] += cpu_seconds([pid])
    return out


def measure(root: Path, label: str, args) -> dict[str, dict[str, float]]:
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="convscope-cost-"))
    rng = random.Random(7)
    strokes, more, clears = [], [], []
    with running_app(app_env(work / "models"), work / "streamlit.log", root=root) as (proc, url), sync_playwright() as pw:
        print(f"{label}: {root} (server log {work / 'streamlit.log'})", flush=True)
        browser = launch(pw)
        page = new_tab(browser, f"{url}/", timeout=120_000, ready=UPPER_CANVAS)
        page.evaluate(PROBE)

        def stroke() -> None:
            if not page.evaluate(DOM_STROKE, [stroke_for(rng)[1]]):
                raise RuntimeError("no canvas on the page")
            page.evaluate(WAIT_FOR, ["prediction", 120_000])
            page.evaluate(WAIT_FOR, ["idle", 120_000])

        def clear() -> None:
            page.locator(CLEAR_BUTTON).first.click()
            page.evaluate(WAIT_FOR, ["empty", 120_000])

        def cost(action) -> dict[str, float]:
            before = cpu_by_kind(proc.pid)
            action()
            page.wait_for_timeout(args.window * 1000)  # the measurement window, not a synchronisation
            after = cpu_by_kind(proc.pid)
            return {k: after[k] - before[k] for k in KINDS}

        stroke()  # warm-up: the server's first prediction loads the model
        clear()
        wait_quiet(proc.pid)  # the server's background model conversions would count against the first strokes
        for _ in range(args.strokes):
            strokes.append(cost(stroke))
            more.append(cost(stroke))
            clears.append(cost(clear))
        browser.close()
    return {"stroke": median_by_kind(strokes), "next stroke": median_by_kind(more), "clear": median_by_kind(clears)}


def median_by_kind(samples: list[dict[str, float]]) -> dict[str, float]:
    out = {k: statistics.median(s[k] for s in samples) * 1000 for k in KINDS}
    out["browser, all"] = statistics.median(sum(s[k] for k in KINDS if k != "server") for s in samples) * 1000
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strokes", type=int, default=10)
    parser.add_argument("--window", type=float, default=1.5, help="seconds measured after each answer or Clear")
    parser.add_argument("--ref", help="a git revision to measure first, side by side (e.g. the last release)")
    args = parser.parse_args()
    results = {}
    if args.ref:
        tree = Path(tempfile.mkdtemp(prefix="convscope-ref-")) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.ref], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            results[args.ref] = measure(tree, args.ref, args)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    results["working tree"] = measure(ROOT, "working tree", args)

    print(f"\nCPU per action, ms (median of {args.strokes}; {args.window} s window after each):")
    columns = list(results)
    print(f"{'':33}" + "".join(f"{c:>16}" for c in columns) + ("        ratio" if args.ref else ""))
    for action in ("stroke", "next stroke", "clear"):
        for kind in ("browser, all", *KINDS):
            values = [results[c][action][kind] for c in columns]
            ratio = f"{values[0] / values[1]:13.2f}" if args.ref and values[1] > 0 else ""
            print(f"{action + ': ' + kind:33}" + "".join(f"{v:16.0f}" for v in values) + ratio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
