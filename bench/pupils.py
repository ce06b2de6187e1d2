"""Simulated pupils on the Draw page, for Locust: no browser, Streamlit's own websocket protocol.

    .venv/bin/locust -f bench/pupils.py --headless -u 40 -r 10 -t 60s --host http://127.0.0.1:PORT
    .venv/bin/locust -f bench/pupils.py --master ...   /   --worker --master-host HOST   (one machine is not enough)

Each pupil (a Locust ``User``) opens a session on the Draw page (``/``) as a browser tab does and waits for its first
run (reported as ``open``); then, every ``--stroke-interval`` seconds (+- ``--stroke-jitter``, counted from the start of
the previous stroke: a pupil draws again about 3 s after the last stroke, whatever the answer took), draws a stroke:
an MNIST test digit the shipped model reads correctly (``harness/streamlit_session.py``), sent as the canvas sends it
when a stroke ends. A stroke (reported as ``stroke``) lasts from sending the rerun to the prediction element's arrival;
it fails when the run ends without a prediction, the prediction is not the drawn digit or not for this drawing (its
``data-input`` fingerprint), the page shows an exception or an error box, the run does not end within
``--stroke-timeout`` or the connection closes. A pupil whose session failed opens a new one for its next stroke.

Drawings: the JSON file named by ``CONVSCOPE_PUPIL_DRAWINGS``, else made once per Locust process in a subprocess
(``python -m harness.streamlit_session drawings``, ~10 s: it loads TensorFlow, which stays out of this process).
``CONVSCOPE_PUPILS_RECORD``: a file to which every open and stroke is appended as one JSON line (wall-clock start,
milliseconds to the prediction and to the end of the run, failure); ``bench/classroom_load.py`` reads it for exact
percentiles (Locust's own round response times above 100 ms to 10 ms, above 1 s to 100 ms).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from locust import User, events, task

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.streamlit_session import Drawing, StreamlitSession, load_drawings  # noqa: E402

DRAWINGS_ENV = "CONVSCOPE_PUPIL_DRAWINGS"
RECORD_ENV = "CONVSCOPE_PUPILS_RECORD"
DRAWINGS: list[Drawing] = []
_pupil_numbers = itertools.count()


class StrokeFailed(Exception):
    """The server answered a stroke with no prediction, an error, or not within the time."""


class WrongAnswer(StrokeFailed):
    """The server's prediction is not the drawn digit (or not for this drawing)."""


@events.init_command_line_parser.add_listener
def _options(parser):
    parser.add_argument("--stroke-interval", type=float, default=3.0, help="seconds from one stroke to the next")
    parser.add_argument("--stroke-jitter", type=float, default=1.0, help="+- seconds, uniform, on each interval")
    parser.add_argument("--stroke-timeout", type=float, default=30.0, help="seconds a stroke's run may take")


@events.init.add_listener
def _drawings(environment, **_):
    """Every process that runs pupils (a worker, or a standalone run) loads the drawings once."""
    from locust.runners import MasterRunner

    if isinstance(environment.runner, MasterRunner) or DRAWINGS:
        return
    path = os.environ.get(DRAWINGS_ENV)
    if not path:
        path = str(Path(tempfile.gettempdir()) / f"convscope-pupil-drawings-{os.getpid()}.json")
        subprocess.run([sys.executable, "-m", "harness.streamlit_session", "drawings", "--out", path],
                       cwd=ROOT, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    DRAWINGS.extend(load_drawings(path))
    if not DRAWINGS:
        raise RuntimeError(f"no drawings in {path}")


def record(line: dict) -> None:
    """One JSON line appended to CONVSCOPE_PUPILS_RECORD (one write: lines of several processes do not mix)."""
    path = os.environ.get(RECORD_ENV)
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(line) + "\n").encode())
        finally:
            os.close(fd)


def check(run, drawing: Drawing):
    """The stroke's outcome: the prediction's arrival time, or StrokeFailed / WrongAnswer."""
    if problems := run.exceptions():
        raise StrokeFailed(f"exception on the page: {problems[0][:200]}")
    if problems := run.alerts(1):
        raise StrokeFailed(f"error box on the page: {problems[0][:200]}")
    answer = run.prediction()
    if answer is None:
        raise StrokeFailed(f"run ended (status {run.status}) without a prediction")
    at, label, fingerprint = answer
    if label != str(drawing.label):
        raise WrongAnswer(f"drew a {drawing.label}, the server said {label!r}")
    if fingerprint != drawing.fingerprint:
        raise WrongAnswer(f"prediction for input {fingerprint}, the drawing's is {drawing.fingerprint}")
    return at


class Pupil(User):
    """One pupil at one device: a Draw page session, a stroke every few seconds."""

    def __init__(self, environment):
        super().__init__(environment)
        options = environment.parsed_options
        self.interval = getattr(options, "stroke_interval", 3.0)
        self.jitter = getattr(options, "stroke_jitter", 1.0)
        self.timeout = getattr(options, "stroke_timeout", 30.0)
        self.number = next(_pupil_numbers)
        self.rng = random.Random(f"{os.getpid()}-{self.number}")
        self.order = self.rng.sample(range(len(DRAWINGS)), len(DRAWINGS))  # each pupil its own order: few cache hits
        self.done = 0
        self.session: StreamlitSession | None = None
        self.last_start = None

    def wait_time(self) -> float:
        due = self.interval + self.rng.uniform(-self.jitter, self.jitter)
        return max(0.0, due - (time.perf_counter() - self.last_start)) if self.last_start else 0.0

    def report(self, kind: str, started_wall: float, ms: float | None, run_ms: float | None, size: int,
               exc: Exception | None) -> None:
        self.environment.events.request.fire(request_type="WS", name=kind, response_time=ms if ms is not None else run_ms or 0,
                                             response_length=size, exception=exc, context={"pupil": self.number})
        record({"t": started_wall, "kind": kind, "pupil": f"{os.getpid()}-{self.number}", "ms": ms, "run_ms": run_ms,
                "bytes": size, "error": type(exc).__name__ if exc else None, "message": str(exc)[:300] if exc else None})

    def open_session(self) -> bool:
        """A new session on the Draw page, as a tab opened on it; False (reported) when that failed."""
        wall, t0 = time.time(), time.perf_counter()
        self.last_start = t0  # a failed open waits one interval before the next try, as a stroke does
        session = StreamlitSession(self.host, timeout=self.timeout)
        try:
            run = session.open("/")
            session.canvas()  # the Draw page is there
            if problems := run.exceptions():
                raise StrokeFailed(f"exception on the page: {problems[0][:200]}")
        except Exception as exc:
            session.close()
            self.report("open", wall, None, (time.perf_counter() - t0) * 1000, 0, exc)
            return False
        self.session = session
        self.report("open", wall, None, run.seconds * 1000, run.bytes, None)
        return True

    def on_start(self) -> None:
        if self.open_session():
            self.last_start = None  # the first stroke at once

    def on_stop(self) -> None:
        if self.session is not None:
            self.session.close()

    @task
    def stroke(self) -> None:
        if self.session is None and not self.open_session():
            return
        drawing = DRAWINGS[self.order[self.done % len(self.order)]]
        self.done += 1
        wall = time.time()
        self.last_start = time.perf_counter()
        run, ms, exc = None, None, None
        try:
            run = self.session.draw(drawing.value)
            ms = (check(run, drawing) - run.sent_at) * 1000
        except Exception as e:  # every failure is the stroke's; the session is replaced unless only the answer was wrong
            exc = e
            if not isinstance(e, WrongAnswer):
                self.session.close()
                self.session = None
        run_ms = (time.perf_counter() - self.last_start) * 1000 if run is None or run.seconds is None else run.seconds * 1000
        self.report("stroke", wall, ms, run_ms, run.bytes if run else 0, exc)
