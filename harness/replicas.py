"""The app served by several replicas behind nginx (``python -m deploy.replicas``, what ``./run_app.sh --replicas N``
runs) on a free loopback port, with a run folder of its own; which replica answered a request or served a tab's
websocket; a browser pinned to one replica.

Which replica served what is read from what nginx itself says: the ``X-ConvScope-Replica`` header of each answer and
its access log (``replica=`` the address it proxied to, ``ua=`` the browser's user agent, which a test makes unique
per tab). A websocket's line is written when it closes.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy.nginx_config import COOKIE
from deploy.replicas import STATE_FILE, nginx_binary
from harness import ROOT
from harness.app import free_port

REPLICA_HEADER = "X-ConvScope-Replica"
# A websocket's line in nginx's access log (deploy/nginx.conf.template's log_format): the replica, the user agent.
_STREAM_LINE = re.compile(r'"GET /_stcore/stream[^"]*" replica=(.*?) cookie=\S* ua="(.*)"$')
# A user agent a tab can be told apart by in nginx's access log (the app does not look at it).
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36"


def nginx_missing() -> str | None:
    """Why several replicas cannot be served here, or None when nginx is installed."""
    if nginx_binary():
        return None
    return "nginx not found: install Debian's nginx (apt-get install nginx; run_tests.sh does)"


def last_port(addresses: str) -> int | None:
    """The port of the last address in nginx's ``$upstream_addr`` ("127.0.0.1:8602, 127.0.0.1:8601": the one that
    answered, after the ones it tried first), or None when there is none."""
    found = re.findall(r":(\d+)", addresses or "")
    return int(found[-1]) if found else None


@dataclass
class Deployment:
    url: str  # nginx, no trailing slash
    run_dir: Path
    proc: subprocess.Popen  # the launcher
    log: Path  # the launcher's output: its own lines, nginx's and every replica's, each marked

    def state(self) -> dict:
        """The launcher's ``replicas.json``: nginx's pid, each replica's port, pid, whether it runs, its restarts."""
        return json.loads((self.run_dir / STATE_FILE).read_text(encoding="utf-8"))

    def ports(self) -> list[int]:
        return [r["port"] for r in self.state()["replicas"]]

    def replica(self, port: int) -> dict:
        return next(r for r in self.state()["replicas"] if r["port"] == port)

    def cookie(self, port: int) -> dict:
        """The cookie that pins a browser to the replica on ``port`` (for ``context.add_cookies``), as nginx sets it."""
        return {"name": COOKIE, "value": str(port), "url": self.url}

    def answered_by(self, path: str = "/_stcore/health", port: int | None = None) -> int | None:
        """The replica that answers ``path`` now for a browser pinned to ``port`` (None: a new browser)."""
        request = urllib.request.Request(self.url + path)
        if port is not None:
            request.add_header("Cookie", f"{COOKIE}={port}")
        with urllib.request.urlopen(request, timeout=10) as answer:
            return last_port(answer.headers.get(REPLICA_HEADER, ""))

    def websockets(self, user_agent: str) -> list[int]:
        """The replicas that served the closed websockets (``/_stcore/stream``) of browsers whose user agent ends
        with ``user_agent``, from nginx's access log."""
        path = self.run_dir / "access.log"
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
        found = [_STREAM_LINE.search(line) for line in lines]
        return [last_port(m.group(1)) for m in found if m and m.group(2).endswith(user_agent)]

    def wait_websockets(self, user_agent: str, timeout: float = 15) -> list[int]:
        """``websockets(user_agent)`` once nginx has logged at least one (it logs a websocket when it closes)."""
        deadline = time.monotonic() + timeout
        while not (found := self.websockets(user_agent)) and time.monotonic() < deadline:
            time.sleep(0.1)  # polling nginx's log file, which gives no event to wait on
        return found

    def wait_running(self, port: int, not_pid: int | None = None, timeout: float = 90) -> dict:
        """The state of the replica on ``port`` once it runs (as a process other than ``not_pid``) and is healthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the launcher ended with {self.proc.returncode}; see {self.log}")
            replica = self.replica(port)
            if replica["running"] and replica["pid"] != not_pid and _healthy(f"http://127.0.0.1:{port}"):
                return replica
            time.sleep(0.2)  # polling while a server starts, not a synchronisation sleep
        raise RuntimeError(f"the replica on port {port} did not run again within {timeout} s; see {self.log}")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


def start_replicas(count: int, env: dict, log_path: Path, run_dir: Path, *streamlit_args: str) -> Deployment:
    """``python -m deploy.replicas --replicas count`` on a free loopback port, keeping its run folder ``run_dir``."""
    port = free_port()
    cmd = [sys.executable, "-m", "deploy.replicas", "--replicas", str(count), "--run-dir", str(run_dir),
           "--server.port", str(port), "--server.address", "127.0.0.1", *streamlit_args]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Deployment(f"http://127.0.0.1:{port}", Path(run_dir), proc, Path(log_path))


def wait_ready(deployment: Deployment, timeout: float = 180) -> None:
    """Until nginx answers the health check with every replica up (the launcher starts nginx after them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if deployment.proc.poll() is not None:
            raise RuntimeError(f"the launcher ended with {deployment.proc.returncode}; see {deployment.log}")
        if (deployment.run_dir / STATE_FILE).exists() and deployment.state()["nginx_pid"] and _healthy(deployment.url):
            return
        time.sleep(0.2)  # polling while the servers start, not a synchronisation sleep
    raise RuntimeError(f"nginx and the replicas were not up in {timeout} s; see {deployment.log}")


def stop_replicas(deployment: Deployment, timeout: float = 30) -> int:
    """SIGTERM to the launcher, as Ctrl+C or a service manager would; returns its exit code."""
    deployment.proc.send_signal(signal.SIGTERM)
    try:
        return deployment.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        deployment.proc.kill()
        return deployment.proc.wait(5)


@contextlib.contextmanager
def running_replicas(count: int, env: dict, log_path: Path, run_dir: Path, *streamlit_args: str
                     ) -> Iterator[Deployment]:
    """``count`` replicas behind nginx, up; stopped on leaving the block."""
    deployment = start_replicas(count, env, log_path, run_dir, *streamlit_args)
    try:
        wait_ready(deployment)
        yield deployment
    finally:
        stop_replicas(deployment)


def served_by(page) -> int | None:
    """The replica that answers the tab's browser now (its cookie decides), read in the page from nginx's header."""
    header = page.evaluate(f"""async () => (await fetch('/_stcore/health', {{cache: 'no-store'}}))
        .headers.get('{REPLICA_HEADER}')""")
    return last_port(header)
