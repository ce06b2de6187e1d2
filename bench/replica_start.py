"""Cold start of ConvScope with 1 or N server processes: time from the command to the Draw page answering a drawing
in a browser tab pinned to each replica, and the CPU the replicas spend in their first 60 s.

    CONVSCOPE_PROBE_DIR=bench/probe .venv/bin/python bench/replica_start.py [--replicas 1 2] [--plain] [--trials 3] [--root DIR]

Each trial starts from an empty model store folder (so no LiteRT conversion is cached: every model is converted
once at start) and a fresh browser context per tab. ``--plain``: also `streamlit run` alone (no nginx), the
reference. ``--root``: run the app from another checkout (e.g. one without the conversion lock, to compare).
Timed from spawning the launcher: nginx's health check answering; each tab's prediction of a drawn "1" shown
(tabs opened one after the other as soon as nginx answers, drawn on together); per replica, CPU seconds
(user+system) at 60 s after the start, by when both models are loaded and converted. With CONVSCOPE_PROBE_DIR naming
the folder of probe/sitecustomize.py (put on the replicas' PYTHONPATH: it wraps model_store.litert's build and
_convert), also the LiteRT conversions each replica made and when LiteRT was ready in every replica for both models.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.app import app_env, entry_point, free_port  # noqa: E402
from harness.chromium import launch, new_tab  # noqa: E402
from harness.digits import place  # noqa: E402
from harness.draw import UPPER_CANVAS, draw_strokes  # noqa: E402
from harness.replicas import USER_AGENT, Deployment, served_by  # noqa: E402

SETTLE_S = 60
PROBE_DIR = os.environ.get("CONVSCOPE_PROBE_DIR")  # a folder with the measurement's sitecustomize.py


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def healthy(url: str) -> bool:
    import urllib.request
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


def trial(browser, replicas: int | None, root: Path, work: Path) -> dict:
    models, run = work / "models", work / "run"
    env = app_env(models)
    probe = work / "probe.txt"
    if PROBE_DIR:  # a sitecustomize that notes each LiteRT conversion and build, per process
        env.update(CONVSCOPE_PROBE=str(probe), PYTHONPATH=os.pathsep.join([PROBE_DIR, env.get("PYTHONPATH", "")]))
    port = free_port()
    t0 = time.monotonic()
    log = open(work / "server.log", "w")
    if replicas is None:  # plain streamlit run
        cmd = [sys.executable, "-m", "streamlit", "run", str(entry_point(root)), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true"]
    else:
        cmd = [sys.executable, "-m", "deploy.replicas", "--replicas", str(replicas), "--run-dir", str(run),
               "--server.port", str(port), "--server.address", "127.0.0.1"]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        while not healthy(url):
            assert proc.poll() is None, "server ended"
            time.sleep(0.05)
        t_health = time.monotonic() - t0
        if replicas is None:
            ports, pids = [None], [proc.pid]
        else:
            d = Deployment(url, run, proc, work / "server.log")
            ports = d.ports()
            pids = [d.replica(p)["pid"] for p in ports]
        pages = []
        for i, p in enumerate(ports):
            setup = (lambda page, p=p: page.context.add_cookies([{"name": "convscope_replica", "value": str(p), "url": url}])
                     ) if p else None
            page = new_tab(browser, url + "/", timeout=180_000, ready=UPPER_CANVAS, setup=setup,
                           user_agent=f"{USER_AGENT} start-{i}")
            if p:
                assert served_by(page) == p
            pages.append(page)
        for page in pages:
            draw_strokes(page, place("1", 0.5, 0.5, 0.7))
        answered = {}
        while len(answered) < len(pages):
            for i, page in enumerate(pages):
                if i not in answered and page.evaluate(
                        "() => !!document.querySelector(\"[data-testid='prediction']\")"):
                    answered[i] = time.monotonic() - t0
            assert time.monotonic() - t0 < 300, "no answer in 300 s"
            time.sleep(0.05)
        for page in pages:
            page.context.close()
        litert_ready = None
        if PROBE_DIR:  # every replica has both models on LiteRT
            wall0 = time.time() - (time.monotonic() - t0)
            while time.monotonic() - t0 < 150:
                events = [line.split() for line in probe.read_text().splitlines()] if probe.exists() else []
                built = [e for e in events if e[1] == "built"]
                if all(sum(e[0] == str(pid) for e in built) >= 2 for pid in pids):
                    litert_ready = max(float(e[3]) for e in built) - wall0
                    break
                time.sleep(0.2)
        time.sleep(max(0.0, SETTLE_S - (time.monotonic() - t0)))
        cpu = [cpu_seconds(pid) for pid in pids]
        caches = sorted(x.name for x in (models / ".cache").glob("*.tflite")) if (models / ".cache").is_dir() else []
        events = [line.split() for line in probe.read_text().splitlines()] if probe.exists() else []
        conversions = [sum(e[1] == "convert" and e[0] == str(pid) for e in events) for pid in pids]
        return {"health": t_health, "answers": [answered[i] for i in range(len(pages))], "cpu": cpu,
                "caches": len(caches), "litert": litert_ready, "conversions": conversions}
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--plain", action="store_true")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    variants = ([None] if args.plain else []) + args.replicas
    results = {v: [] for v in variants}
    with sync_playwright() as pw:
        browser = launch(pw)
        for t in range(args.trials):
            for v in variants:  # interleaved: the machine's load drifts
                with tempfile.TemporaryDirectory() as work:
                    r = trial(browser, v, args.root.resolve(), Path(work))
                results[v].append(r)
                print(f"trial {t + 1} {'plain' if v is None else f'{v} replicas'}: health {r['health']:.1f} s, "
                      f"answers {[round(a, 1) for a in r['answers']]} s, CPU at {SETTLE_S} s "
                      f"{[round(c, 1) for c in r['cpu']]} s, {r['caches']} LiteRT caches, conversions per replica "
                      f"{r['conversions']}, LiteRT ready everywhere at {r['litert'] and round(r['litert'], 1)} s; "
                      f"load {os.getloadavg()[0]:.1f}",
                      flush=True)
        browser.close()
    print("\nmedians:")
    for v, rs in results.items():
        name = "streamlit run (no nginx)" if v is None else f"--replicas {v}"
        last = statistics.median(max(r["answers"]) for r in rs)
        first = statistics.median(min(r["answers"]) for r in rs)
        health = statistics.median(r["health"] for r in rs)
        cpu = statistics.median(sum(r["cpu"]) for r in rs)
        ready = [r["litert"] for r in rs if r["litert"] is not None]
        print(f"{name}: up {health:.1f} s; first tab answers {first:.1f} s, every replica answers {last:.1f} s; "
              f"LiteRT ready in every replica {statistics.median(ready) if ready else float('nan'):.1f} s; "
              f"conversions {[r['conversions'] for r in rs]}; CPU of all replicas in the first {SETTLE_S} s {cpu:.0f} s")


if __name__ == "__main__":
    main()
