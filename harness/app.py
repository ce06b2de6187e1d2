"""The app under test: ``streamlit run serve.py`` (``app.py`` for a release without it) headless on a free loopback
port, until its health check answers."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from harness import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(models_dir: str | Path, data: Path | None = None) -> dict:
    """The server's environment: this process' own, with the user model folder ``models_dir`` (empty: only the shipped
    default models), TensorFlow's C++ log quieter and unbuffered output. ``data`` becomes ``CONVSCOPE_DATA`` when the
    environment names no dataset folder and ``data`` is one."""
    env = {**os.environ, "CONVSCOPE_MODELS": str(models_dir), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    if data is not None and not env.get("CONVSCOPE_DATA") and Path(data).is_dir():
        env["CONVSCOPE_DATA"] = str(data)
    return env


def entry_point(root: Path = ROOT) -> Path:
    """What ``streamlit run`` starts in checkout ``root``: ``serve.py`` (the app with its own routes), or ``app.py``
    in a release from before it (the benches' ``--ref``)."""
    return root / "serve.py" if (root / "serve.py").exists() else root / "app.py"


def start_app(port: int, env: dict, log_path: Path, root: Path = ROOT, launcher: str | None = None) -> subprocess.Popen:
    """``streamlit run`` of ``entry_point(root)`` on loopback ``port``, headless, logging to ``log_path``; run from ``root`` so
    that its ``.streamlit/config.toml`` applies. ``launcher``: Python code that ``python -c`` runs instead of
    ``python -m streamlit`` (the benches' probes), ending in Streamlit's own CLI."""
    head = [sys.executable, "-c", launcher] if launcher else [sys.executable, "-m", "streamlit"]
    cmd = head + ["run", str(entry_point(root)), "--server.port", str(port), "--server.address", "127.0.0.1",
                  "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with open(log_path, "w") as log:  # the server writes to its own copy of the file descriptor
        return subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)


def launch_app(env: dict, log_path: Path, root: Path = ROOT, launcher: str | None = None) -> tuple[subprocess.Popen, str]:
    """``start_app`` on a free port; returns the process and the app's URL (no trailing slash)."""
    port = free_port()
    return start_app(port, env, log_path, root=root, launcher=launcher), f"http://127.0.0.1:{port}"


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.2)  # polling interval while the server starts, not a synchronisation sleep
    raise RuntimeError("streamlit did not become healthy in time")


def stop_app(proc: subprocess.Popen, timeout: float = 15) -> None:
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def running_app(env: dict, log_path: Path, root: Path = ROOT, launcher: str | None = None
                ) -> Iterator[tuple[subprocess.Popen, str]]:
    """The app launched and healthy, as (process, URL); stopped on leaving the block."""
    proc, url = launch_app(env, log_path, root=root, launcher=launcher)
    try:
        wait_healthy(url, proc)
        yield proc, url
    finally:
        stop_app(proc)
