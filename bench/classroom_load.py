"""Classroom capacity: how many pupils drawing at once the server answers within the target, with no browsers.

    .venv/bin/python bench/classroom_load.py [--pupils 10 20 40 80] [--seconds 60] [--training both|on|off]
    .venv/bin/python bench/classroom_load.py --url http://127.0.0.1:8080 --replicas 3   # a server already running
    .venv/bin/python bench/classroom_load.py --url ... --replicas 2 --server-pids P1 P2 --kill-replica-after 20

1. Starts the app on a free loopback port (``harness/app.py``) with an empty user model folder, so the shipped
   default models answer (``--url``: measure a server, or a proxy in front of several, that is already running;
   ``--replicas`` is only written into the result; ``--server-pids`` names local server processes to measure).
2. Makes the pupils' drawings once (``python -m harness.streamlit_session drawings``: MNIST test digits the shipped
   model reads correctly, ~10 s) and warms the server up with one session's strokes until a stroke is answered
   fast (the first one loads TensorFlow and the model, the LiteRT conversion follows in the background).
3. For each training setting (``--training``: without, then with) and each number of pupils: Locust
   (``bench/pupils.py``, in a subprocess at ``--client-nice``) opens that many Draw page sessions at ``--spawn-rate``
   per second; each pupil draws a stroke every ``--interval`` s (+- ``--jitter``). The window of ``--seconds``
   starts one interval after the last session opened; the strokes started in it are counted, and the server's CPU
   time (``/proc/PID/stat`` utime+stime of the server process, its threads included, not the training process)
   is read at its ends.
   The training is started as a teacher does, in a session of its own on the Train page, through the same
   protocol: "Classroom demo settings", Epochs = ``--train-epochs`` (so that it outlasts the sweep), "Start
   training"; that session then keeps its page live as the open tab does (the progress fragment's auto-rerun every
   second), which is also how its batches per second are read. It is stopped (the page's Stop) at the end.
4. Prints one row per step: strokes answered, p50/p95/max stroke -> prediction (ms: the rerun sent -> the prediction
   element received; a browser adds its own drawing and rendering), errors (no answer, exception or error box,
   timeout, closed connection, failed session opens), wrong answers (a prediction other than the drawn digit, or not
   for this drawing), the server's CPU per answered stroke, the cores used by the server and by the load generator,
   training batches per second, and the load average when the step started.

With ``--kill-replica-after S`` the first server pid is killed (SIGKILL) S seconds into each step's window: the
table then says how many strokes failed, how many pupils that hit, when the last failure ended, and the answers
after the kill (a pupil whose stroke failed opens a new session, as a browser tab reconnects).

The LAST line is one JSON object: the largest load that met the target (p95 <= ``--target-ms``, 0 errors, 0 wrong;
at equal pupils a step with training counts first), e.g. ``{"pupils": 40, "replicas": 1, "training": true, ...}``;
``"pupils": 0`` when none did. Exit status 0 when some step met the target, 1 otherwise.

Load goes to the URL only (loopback unless ``--url`` says otherwise), for a bounded time and number of pupils.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import load_average, percentile, process_tree, rss_bytes  # noqa: E402
from harness.app import app_env, launch_app, stop_app, wait_healthy  # noqa: E402
from harness.streamlit_session import StreamlitSession, load_drawings  # noqa: E402

DATA_DEFAULT = Path("/work/shared/datasets")  # the benches' CONVSCOPE_DATA when the environment names none
LOCUSTFILE = ROOT / "bench" / "pupils.py"
TRAIN_STATE = re.compile(r"data-testid='train-state' data-status='(\w+)'")
PROGRESS = re.compile(r"Epoch (\d+)/(\d+) · batch (\d+)/(\d+)")


def cpu_of(pids) -> float:
    """utime + stime of ``pids`` (all their threads), in seconds; children are not included (the training process is
    a child of the server: its CPU is not the pages')."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


class CpuSampler:
    """CPU seconds of some processes, sampled every 0.2 s in a thread, to be read at any instant in between."""

    def __init__(self, pids_of):
        self.pids_of = pids_of  # () -> pids, asked at each sample (a Locust process tree grows)
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while True:
            self.samples.append((time.time(), cpu_of(self.pids_of())))
            if self._stop.wait(0.2):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def at(self, t: float) -> float:
        """CPU seconds at wall-clock ``t`` (linear between the samples around it)."""
        before = [s for s in self.samples if s[0] <= t] or self.samples[:1]
        after = [s for s in self.samples if s[0] >= t] or self.samples[-1:]
        (t0, c0), (t1, c1) = before[-1], after[0]
        return c0 if t1 <= t0 else c0 + (c1 - c0) * (t - t0) / (t1 - t0)


# ---- the teacher's training ---------------------------------------------------------------------------------------
class Training:
    """One training started from the Train page through the websocket protocol, its page kept live (the progress
    fragment's auto-rerun), stopped with the page's Stop button. Its session is used by its own thread only."""

    def __init__(self, url: str, epochs: int, timeout: float = 180):
        self.url, self.epochs, self.timeout = url, epochs, timeout
        self.status: str | None = None
        self.progress: tuple[float, int] | None = None  # (wall time, batches done since the start)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.session: StreamlitSession | None = None

    def _read(self, run) -> None:
        for body in run.markdown():
            if m := TRAIN_STATE.search(body):
                self.status = m[1]
        for text in run.progress_texts():
            if m := PROGRESS.search(text):
                epoch, _, batch, steps = (int(v) for v in m.groups())
                self.progress = (time.time(), (epoch - 1) * steps + batch)
        self.errors += [f"train page: {e}" for e in run.exceptions()]

    def start(self) -> None:
        """Classroom demo settings, the epochs, Start training; returns once the fit runs (batches are counted)."""
        s = self.session = StreamlitSession(self.url, timeout=self.timeout)
        s.open("/")
        s.open_page("Train")
        s.click("Classroom demo settings")
        s.set(s.widget(label="Epochs", kind="number_input"), "int_value", self.epochs)
        run = s.click("Start training")
        self._read(run)
        if not any(w.kind == "button" and w.label == "Stop" for w in s.widgets.values()) or not s.auto_reruns:
            boxes = run.alerts()
            raise RuntimeError(f"the Train page shows no training of this session after Start: {boxes or self.errors} "
                               "(another training already running on this server?)")
        deadline = time.monotonic() + self.timeout
        while self.progress is None:  # the training process starts and loads its data first
            if time.monotonic() > deadline or self.status not in (None, "queued", "running"):
                raise RuntimeError(f"the training did not start fitting (status {self.status}, errors {self.errors})")
            self._tick()
        self._thread = threading.Thread(target=self._keep_live, name="train page", daemon=True)
        self._thread.start()

    def _tick(self) -> None:
        """One auto-rerun of each live fragment, at its interval, as the open tab sends them."""
        for fragment, interval in list(self.session.auto_reruns.items()):
            if self._stop.wait(interval):
                return
            self._read(self.session.rerun(fragment_id=fragment, auto=True))

    def _keep_live(self) -> None:
        try:
            while not self._stop.is_set() and self.status == "running":
                self._tick()
        except Exception as exc:
            self.errors.append(f"train page: {type(exc).__name__}: {exc}")

    def running(self) -> bool:
        return self.status == "running" and self._thread is not None and self._thread.is_alive()

    def stop(self) -> str | None:
        """Press Stop and wait (up to the timeout) until the page says the training stopped; returns its status."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout)
        try:
            if self.status == "running":
                self._read(self.session.click("Stop"))
                self._stop.clear()
                deadline = time.monotonic() + self.timeout
                while self.status == "running" and time.monotonic() < deadline:
                    self._tick()
        except Exception as exc:
            self.errors.append(f"train page, Stop: {type(exc).__name__}: {exc}")
        finally:
            self.session.close()
        return self.status


# ---- one step of the sweep ----------------------------------------------------------------------------------------
def warm_up(url: str, drawings_file: Path, budget_s: float = 90) -> list[float]:
    """Strokes from one session until one is answered within 150 ms twice in a row (the model is loaded and its
    LiteRT conversion done), or ``budget_s``; returns their stroke -> prediction times (ms)."""
    drawings = load_drawings(drawings_file)
    times: list[float] = []
    deadline = time.monotonic() + budget_s
    with StreamlitSession(url, timeout=budget_s) as s:
        s.open("/")
        for d in drawings[-40:]:  # the last ones: the pupils start from random places anyway
            run = s.draw(d.value)
            answer = run.prediction()
            times.append((answer[0] - run.sent_at) * 1000 if answer else float("nan"))
            if len(times) >= 3 and all(t < 150 for t in times[-2:]) or time.monotonic() > deadline:
                break
    return times


def settle(pids, budget_s: float = 60, quiet: float = 0.05) -> float:
    """Wait (up to ``budget_s``) until the server uses under ``quiet`` of a core over a second: the background
    work of its start (the other model's loading and LiteRT conversion) is over. Returns the seconds waited."""
    t0 = time.monotonic()
    before = cpu_of(pids)
    while pids and time.monotonic() - t0 < budget_s:
        time.sleep(1)  # a measuring interval, not a synchronisation
        now = cpu_of(pids)
        if now - before < quiet:
            break
        before = now
    return time.monotonic() - t0


def run_step(args, url: str, pupils: int, drawings_file: Path, workdir: Path, server_pids, training: Training | None,
             tag: str) -> dict:
    record = workdir / f"strokes-{tag}.jsonl"
    ramp = pupils / args.spawn_rate
    run_time = math.ceil(ramp + 2 * args.interval + args.seconds + 5)
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(pupils),
           "-r", str(args.spawn_rate), "-t", f"{run_time}s", "--host", url, "--only-summary",
           "--stop-timeout", str(int(args.timeout) + 5), "--loglevel", "WARNING",
           "--stroke-interval", str(args.interval), "--stroke-jitter", str(args.jitter),
           "--stroke-timeout", str(args.timeout)]
    if args.processes:
        cmd += ["--processes", str(args.processes)]
    env = {**os.environ, "CONVSCOPE_PUPIL_DRAWINGS": str(drawings_file), "CONVSCOPE_PUPILS_RECORD": str(record)}
    load_before = load_average()
    with open(workdir / f"locust-{tag}.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=(lambda: os.nice(args.client_nice)) if args.client_nice else None)
        killer = kill_later(server_pids[0], ramp + 2 * args.interval + args.kill_replica_after) \
            if args.kill_replica_after is not None and server_pids else None
        with CpuSampler(lambda: server_pids) as server_cpu, CpuSampler(lambda: process_tree(proc.pid)) as client_cpu:
            batches0 = training.progress if training else None
            try:
                proc.wait(run_time + args.timeout + 60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            batches1 = training.progress if training else None
    lines = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    opens = [r for r in lines if r["kind"] == "open"]
    strokes = [r for r in lines if r["kind"] == "stroke"]
    # the window starts once every pupil has opened the page: the first ``pupils`` opens (later ones are pupils
    # opening a new session after a failed stroke, e.g. when a replica was killed)
    opened = sorted(r["t"] + r["run_ms"] / 1000 for r in opens if not r["error"])[:pupils]
    start = (max(opened) if opened else time.time()) + args.interval
    end = start + args.seconds
    window = [r for r in strokes if start <= r["t"] < end]
    answered = [r for r in window if not r["error"]]
    ms = [r["ms"] for r in answered]
    wrong = [r for r in window if r["error"] == "WrongAnswer"]
    errors = [r for r in window if r["error"] and r["error"] != "WrongAnswer"] + [r for r in opens if r["error"]]
    span = min(end, max((r["t"] for r in strokes), default=end)) - start
    cpu = server_cpu.at(end) - server_cpu.at(start) if server_pids else None
    row = {
        "pupils": pupils, "training": training is not None, "strokes": len(window), "answered": len(answered),
        "per_s": len(answered) / span if span > 0 else 0.0,
        "p50_ms": percentile(ms, 0.5) if ms else None, "p95_ms": percentile(ms, 0.95) if ms else None,
        "max_ms": max(ms) if ms else None, "errors": len(errors), "wrong": len(wrong),
        "cpu_ms_per_stroke": cpu * 1000 / len(answered) if cpu is not None and answered else None,
        "server_cores": cpu / span if cpu is not None and span > 0 else None,
        "client_cores": (client_cpu.at(end) - client_cpu.at(start)) / span if span > 0 else None,
        "batches_per_s": (batches1[1] - batches0[1]) / (batches1[0] - batches0[0])
        if batches0 and batches1 and batches1[0] > batches0[0] else None,
        "load_before": load_before, "rss_mib": rss_bytes(server_pids[0]) / 2**20 if server_pids else None,
        "run_ms_p95": percentile([r["run_ms"] for r in answered], 0.95) if answered else None,
        "first_errors": sorted({f"{r['error']}: {r['message']}" for r in (errors + wrong)})[:5],
        "locust_exit": proc.returncode,
    }
    row["met"] = bool(ms) and row["p95_ms"] <= args.target_ms and not errors and not wrong
    if killer is not None:
        killer.cancel()
        row["kill"] = after_kill(killer.killed_at, strokes, server_pids[0]) if killer.killed_at else None
    return row


class kill_later(threading.Timer):
    """SIGKILL one replica ``delay`` seconds from now (a server that dies as a power cut or the OOM killer kills it);
    ``killed_at``: the wall-clock time it was sent, or None."""

    def __init__(self, pid: int, delay: float):
        super().__init__(delay, self._kill)
        self.pid, self.killed_at = pid, None
        self.daemon = True
        self.start()

    def _kill(self) -> None:
        self.killed_at = time.time()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


def after_kill(killed_at: float, strokes: list[dict], pid: int) -> dict:
    """What the pupils saw after a replica was killed: the strokes that failed, how many pupils they hit, when the
    last failure ended (seconds after the kill), and the strokes answered after it, with their p95."""
    after = [r for r in strokes if r["t"] + (r["run_ms"] or 0) / 1000 >= killed_at]
    failed = [r for r in after if r["error"]]
    answered = [r["ms"] for r in after if not r["error"] and r["ms"] is not None]
    return {"pid": pid, "failed": len(failed), "pupils_hit": len({r["pupil"] for r in failed}),
            "last_failure_s": max((r["t"] + (r["run_ms"] or 0) / 1000 - killed_at for r in failed), default=None),
            "answered_after": len(answered), "p95_after_ms": percentile(answered, 0.95) if answered else None,
            "errors": sorted({r["error"] for r in failed})}


def fmt(value, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(rows: list[dict]) -> None:
    head = ("pupils", "training", "strokes", "answered", "per s", "p50 ms", "p95 ms", "max ms", "errors", "wrong",
            "CPU ms/stroke", "server cores", "client cores", "train batch/s", "load avg at start", "target")
    table = [head] + [(
        str(r["pupils"]), "yes" if r["training"] else "no", str(r["strokes"]), str(r["answered"]), fmt(r["per_s"], 1),
        fmt(r["p50_ms"]), fmt(r["p95_ms"]), fmt(r["max_ms"]), str(r["errors"]), str(r["wrong"]),
        fmt(r["cpu_ms_per_stroke"], 1), fmt(r["server_cores"], 2), fmt(r["client_cores"], 2),
        fmt(r["batches_per_s"], 1), r["load_before"], "met" if r["met"] else "MISSED") for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(head))]
    for line in table:
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths)), flush=True)
    for r in rows:
        if r.get("kill"):
            k = r["kill"]
            print(f"  x {r['pupils']} pupils: replica {k['pid']} killed (SIGKILL); {k['failed']} strokes failed, "
                  f"{k['pupils_hit']} pupils hit, the last failure ended {fmt(k['last_failure_s'], 1)} s after the kill; "
                  f"{k['answered_after']} strokes answered after it, p95 {fmt(k['p95_after_ms'])} ms; {k['errors']}")
        for problem in r["first_errors"]:
            print(f"  ! {r['pupils']} pupils{' + training' if r['training'] else ''}: {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pupils", type=int, nargs="+", default=[10, 20, 40, 80])
    parser.add_argument("--seconds", type=float, default=60, help="measured window per step")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between a pupil's strokes")
    parser.add_argument("--jitter", type=float, default=1.0, help="+- seconds on each interval")
    parser.add_argument("--training", choices=["both", "on", "off"], default="both",
                        help="steps without a training, with one, or both (without first)")
    parser.add_argument("--train-epochs", type=int, default=200, help="epochs of the classroom demo (stopped at the end)")
    parser.add_argument("--target-ms", type=float, default=300, help="p95 stroke -> prediction target")
    parser.add_argument("--timeout", type=float, default=30, help="seconds a stroke may take before it is an error")
    parser.add_argument("--spawn-rate", type=float, default=10, help="pupils opening the page per second")
    parser.add_argument("--processes", type=int, default=0,
                        help="Locust worker processes (its --processes; 0: one process, enough for ~100 pupils)")
    parser.add_argument("--client-nice", type=int, default=10,
                        help="niceness of the load generator: here it shares the server's cores, in class it would not")
    parser.add_argument("--drawings", type=int, default=600, help="distinct drawings (the server caches 32 answers)")
    parser.add_argument("--url", help="an app (or a proxy in front of replicas) already running, instead of starting one")
    parser.add_argument("--replicas", type=int, default=1, help="how many replicas serve --url (recorded only)")
    parser.add_argument("--server-pids", type=int, nargs="*", default=[],
                        help="with --url: local server processes whose CPU to measure")
    parser.add_argument("--kill-replica-after", type=float, default=None, metavar="S",
                        help="SIGKILL the first of --server-pids S seconds into each step's window (a replica dying)")
    args = parser.parse_args()
    if args.kill_replica_after is not None and not (args.url and args.server_pids):
        parser.error("--kill-replica-after needs --url and --server-pids (a replica of a running deployment)")

    workdir = Path(tempfile.mkdtemp(prefix="convscope-classroom-"))
    (workdir / "models").mkdir()
    env = app_env(workdir / "models", data=DATA_DEFAULT)
    print(f"load average at start: {load_average()}; {os.cpu_count()} CPU cores; work folder {workdir}", flush=True)
    proc = None
    if args.url:
        url, server_pids = args.url.rstrip("/"), list(args.server_pids)
    else:
        proc, url = launch_app(env, workdir / "streamlit.log")
        server_pids = [proc.pid]
    rows: list[dict] = []
    try:
        if proc is not None:
            wait_healthy(url, proc)
        drawings_file = workdir / "drawings.json"
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-m", "harness.streamlit_session", "drawings", "--out", str(drawings_file),
                        "--count", str(args.drawings)], cwd=ROOT, env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=True)
        print(f"drawings ready in {time.monotonic() - t0:.0f} s", flush=True)
        warm = warm_up(url, drawings_file)
        print("warm-up strokes (ms): " + ", ".join(f"{t:.0f}" for t in warm)
              + f"; server quiet {settle(server_pids):.0f} s later", flush=True)
        modes = {"off": [False], "on": [True], "both": [False, True]}[args.training]
        for with_training in modes:
            training = None
            for pupils in sorted(args.pupils):
                if with_training and (training is None or not training.running()):
                    if training is not None:
                        training.stop()
                    training = Training(url, args.train_epochs)
                    t0 = time.monotonic()
                    training.start()
                    print(f"training running (fit started {time.monotonic() - t0:.0f} s after Start)", flush=True)
                tag = f"{pupils}{'-training' if with_training else ''}"
                print(f"step: {pupils} pupils{', training' if with_training else ''} ...", flush=True)
                rows.append(run_step(args, url, pupils, drawings_file, workdir, server_pids, training, tag))
                r = rows[-1]
                print(f"  {r['answered']} answered, p50 {fmt(r['p50_ms'])} ms, p95 {fmt(r['p95_ms'])} ms, "
                      f"{r['errors']} errors, {r['wrong']} wrong", flush=True)
            if training is not None:
                status = training.stop()
                print(f"training stopped (status {status}){'; ' + '; '.join(training.errors) if training.errors else ''}",
                      flush=True)
    finally:
        if proc is not None:
            stop_app(proc)
    print(f"\nClassroom load: each pupil a Draw page session drawing an MNIST test digit every {args.interval:g} s "
          f"(+-{args.jitter:g}), measured for {args.seconds:g} s per step; target p95 <= {args.target_ms:g} ms, "
          f"0 errors, 0 wrong; server {url} ({args.replicas} replica{'s' if args.replicas != 1 else ''}); "
          f"load average at the end {load_average()}")
    print_table(rows)
    met = [r for r in rows if r["met"]]
    best = max(met, key=lambda r: (r["pupils"], r["training"])) if met else None
    summary = {"pupils": best["pupils"] if best else 0, "replicas": args.replicas,
               "training": best["training"] if best else None,
               "p50_ms": round(best["p50_ms"], 1) if best else None, "p95_ms": round(best["p95_ms"], 1) if best else None,
               "errors": best["errors"] if best else None, "wrong": best["wrong"] if best else None,
               "strokes": best["answered"] if best else 0,
               "cpu_ms_per_stroke": round(best["cpu_ms_per_stroke"], 1) if best and best["cpu_ms_per_stroke"] else None,
               "seconds": args.seconds}
    if best is None:
        summary["note"] = "no step met the target"
    print(json.dumps(summary))
    return 0 if best else 1


if __name__ == "__main__":
    sys.exit(main())
