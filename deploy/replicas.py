"""Start N replicas of the app (``streamlit run serve.py`` on loopback ports) and Debian's nginx in front of them on
the usual port, keep them running, and stop them all together.

    python -m deploy.replicas --replicas N [--run-dir DIR] [streamlit options, e.g. --server.port 8501]

``./run_app.sh --replicas N`` runs this (and installs nginx first when it may). A Streamlit server runs every
session's script in threads of one Python process, so it uses about one core for the pages however many the
machine has; N processes share the pupils between them. They share the model store folder, so what one saves the
others show; nginx keeps each browser on the replica that holds its session (deploy/nginx.conf.template says how).

nginx runs as a child of this launcher with a configuration written to a run folder (a temporary one, removed at
the end, unless ``--run-dir`` names one to keep), never the system's. SIGINT (Ctrl+C), SIGTERM and SIGHUP stop
nginx and every replica; if the launcher itself is killed, the kernel stops them (PR_SET_PDEATHSIG). A
replica that ends is started again after a few seconds (nginx meanwhile sends its browsers to the others), unless
it keeps ending right after its start; if nginx ends, everything stops.

The run folder holds ``nginx.conf``, nginx's pid file, ``access.log`` (which replica answered each request) and
``replicas.json``: the address, nginx's pid and each replica's port and pid, rewritten whenever one changes.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deploy.nginx_config import REPLICA_HOST, Site, render

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PORT = 8501
REPLICA_PORT_OFFSET = 100  # replicas from port + 100 up: 8601, 8602, ... behind 8501
STATE_FILE = "replicas.json"
STARTUP_SECONDS = 120  # a replica that is not healthy by then does not start at all
RESTART_DELAY_SECONDS = 3
QUICK_DEATH_SECONDS = 30  # a replica that ends this soon after its start, GIVE_UP times in a row, is left down
GIVE_UP = 3
STOP_SECONDS = 10  # after SIGTERM, then SIGKILL
POLL_SECONDS = 0.2
NGINX_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
NGINX_MISSING = ("nginx is not installed. Install Debian's nginx (sudo apt-get install nginx) and start again; "
                 "./run_app.sh --replicas N installs it itself when it runs as root or may use sudo.")
BANNER = ("You can now view your Streamlit app", "URL: http")  # each replica's own banner names its loopback port


class LaunchError(RuntimeError):
    """The deployment cannot start; the message says why, for the person at the keyboard."""


# ---- the command line -------------------------------------------------------------------------------------------
@dataclass
class Options:
    replicas: int
    port: int = DEFAULT_PORT
    address: str | None = None  # nginx listens there; None: every interface, as `streamlit run` does
    run_dir: Path | None = None
    streamlit_args: list[str] = field(default_factory=list)  # for every replica, as given
    max_upload_mb: int = 200  # Streamlit's server.maxUploadSize


def _option(args: list[str], i: int, name: str) -> tuple[str | None, int]:
    """(value, how many items it took) when ``args[i]`` is ``name VALUE`` or ``name=VALUE``, else (None, 0)."""
    arg = args[i]
    if arg == name:
        if i + 1 >= len(args):
            raise LaunchError(f"{name} needs a value")
        return args[i + 1], 2
    if arg.startswith(name + "="):
        return arg[len(name) + 1:], 1
    return None, 0


def _ours(args: list[str], i: int) -> tuple[str | None, str | None, int]:
    """(option, value, items taken) when ``args[i]`` starts an option this launcher reads, else (None, None, 0)."""
    for name in ("--replicas", "--run-dir", "--server.port", "--server.address", "--server.maxUploadSize"):
        value, used = _option(args, i, name)
        if used:
            return name, value, used
    return None, None, 0


def parse_args(argv: list[str], config_file: Path = ROOT / ".streamlit" / "config.toml") -> Options:
    """``--replicas N``, ``--run-dir DIR`` and Streamlit's own options; ``--server.port`` and ``--server.address``
    are nginx's (the replicas get loopback ports), the other options go to every replica."""
    replicas, run_dir, port, address, max_upload = None, None, DEFAULT_PORT, None, None
    rest: list[str] = []
    i = 0
    while i < len(argv):
        name, value, used = _ours(argv, i)
        if not used:
            rest.append(argv[i])
            i += 1
            continue
        i += used
        if name == "--replicas":
            replicas = _number(name, value, low=1)
        elif name == "--run-dir":
            run_dir = Path(value).resolve()
        elif name == "--server.port":
            port = _number(name, value, low=1, high=65535)
        elif name == "--server.address":
            address = value or None
        else:
            max_upload = _number(name, value, low=1)
            rest += [name, value]
    if replicas is None:
        raise LaunchError("--replicas N is needed (how many Streamlit processes to start)")
    if max_upload is None:
        max_upload = configured_upload_limit(config_file)
    return Options(replicas, port, address, run_dir, rest, max_upload)


def _number(name: str, value: str, low: int, high: int | None = None) -> int:
    try:
        number = int(value)
    except ValueError:
        raise LaunchError(f"{name} wants a whole number, not {value!r}") from None
    if number < low or (high is not None and number > high):
        raise LaunchError(f"{name} {number} is out of range")
    return number


def configured_upload_limit(config_file: Path) -> int:
    """``server.maxUploadSize`` (MB) of the app's ``.streamlit/config.toml``; Streamlit's default, 200, without it."""
    try:
        config = tomllib.loads(config_file.read_text(encoding="utf-8"))
        return int(config.get("server", {}).get("maxUploadSize", 200))
    except (OSError, ValueError, TypeError):
        return 200


# ---- ports --------------------------------------------------------------------------------------------------------
def port_free(port: int, host: str = REPLICA_HOST) -> bool:
    """Whether a server could listen on ``host:port`` now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def replica_ports(first: int, count: int, free: Callable[[int], bool] = port_free,
                  avoid: tuple[int, ...] = ()) -> list[int]:
    """``count`` ports from ``first`` up that ``free`` says are free, skipping those taken and ``avoid``."""
    ports, port = [], first
    while len(ports) < count:
        if port > 65535:
            raise LaunchError(f"no {count} free ports from {first} up")
        if port not in avoid and free(port):
            ports.append(port)
        port += 1
    return ports


def nginx_binary() -> str | None:
    """Debian's nginx (in /usr/sbin, which is not on a normal user's PATH), or None when it is not installed."""
    return shutil.which("nginx") or next((p for p in NGINX_PATHS if os.access(p, os.X_OK)), None)


# ---- children ---------------------------------------------------------------------------------------------------
_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: children then outlive a launcher that is killed
    _prctl = None


def _dies_with(parent: int, signum: int) -> Callable[[], None]:
    """For ``preexec_fn``: the child gets ``signum`` when the launcher dies, even by SIGKILL."""
    def preexec() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, signum)
        if os.getppid() != parent:  # the launcher died before the line above
            os._exit(1)
    return preexec


def _forward(stream, prefix: str) -> None:
    """Copy a child's output to ours, each line marked with whose it is (a replica's banner left out). If our own
    output goes away (a closed terminal, a pipe whose reader ended), keep reading, so that the child never blocks."""
    printing = True
    with contextlib.suppress(ValueError, OSError):
        for line in stream:
            text = line.rstrip()
            if printing and text and not any(b in text for b in BANNER):
                try:
                    print(f"{prefix} {text}", flush=True)
                except (OSError, ValueError):
                    printing = False


def _spawn(cmd: list[str], prefix: str, orphan_signal: int, env: dict | None = None) -> subprocess.Popen:
    """Start ``cmd`` with its output marked by ``prefix``; it gets ``orphan_signal`` if the launcher is killed."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1,
                            preexec_fn=_dies_with(os.getpid(), orphan_signal))
    threading.Thread(target=_forward, args=(proc.stdout, prefix), daemon=True, name=f"output {prefix}").start()
    return proc


def healthy(port: int, host: str = REPLICA_HOST, timeout: float = 2) -> bool:
    """Whether ``http://host:port/_stcore/health`` answers ok now."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/_stcore/health", timeout=timeout) as answer:
            return answer.read().strip() == b"ok"
    except OSError:
        return False


@dataclass
class Replica:
    port: int
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    quick_deaths: int = 0
    restart_at: float | None = None  # when to start it again after it ended
    given_up: bool = False


class Launcher:
    """One run: the replicas and nginx, from start to stop."""

    def __init__(self, options: Options, nginx: str):
        self.options = options
        self.nginx_path = nginx
        self.stopping = False
        self.nginx: subprocess.Popen | None = None
        self.replicas: list[Replica] = []
        self.run_dir = options.run_dir
        self._temporary = options.run_dir is None
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2"),
                    # one secret for all: a browser that moves to another replica keeps its signed cookies valid
                    "STREAMLIT_SERVER_COOKIE_SECRET": os.environ.get("STREAMLIT_SERVER_COOKIE_SECRET")
                    or secrets.token_hex(32)}

    # -- signals --------------------------------------------------------------------------------------------------
    def _stop_requested(self, signum, frame) -> None:
        self.stopping = True  # only a flag: the main loop notices it within POLL_SECONDS

    def run(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._stop_requested)
        try:
            self._start()
            if not self.stopping:
                self._supervise()
            return 1 if self.nginx is not None and self.nginx.poll() is not None and not self.stopping else 0
        except LaunchError as exc:
            print(f"ConvScope: {exc}", file=sys.stderr, flush=True)
            return 1
        finally:
            self._stop_all()
            if self._temporary and self.run_dir is not None:
                shutil.rmtree(self.run_dir, ignore_errors=True)

    # -- start ----------------------------------------------------------------------------------------------------
    def _start(self) -> None:
        o = self.options
        listen_host = o.address or "0.0.0.0"
        if not port_free(o.port, listen_host):
            raise LaunchError(f"port {o.port} is in use on {listen_host} (another server?): "
                              f"choose another with --server.port")
        ports = replica_ports(o.port + REPLICA_PORT_OFFSET, o.replicas, avoid=(o.port,))
        if self.run_dir is None:
            self.run_dir = Path(tempfile.mkdtemp(prefix="convscope-nginx-"))
        (self.run_dir / "tmp").mkdir(parents=True, exist_ok=True)
        self.replicas = [Replica(port) for port in ports]
        for replica in self.replicas:
            self._start_replica(replica)
        self._write_state()
        self._wait_replicas_healthy()
        if self.stopping:
            return
        config = self.run_dir / "nginx.conf"
        site = Site(o.port, tuple(ports), self.run_dir, o.address, max_body_mb=o.max_upload_mb + 1)
        config.write_text(render(site), encoding="utf-8")
        # An orphaned nginx master must stop its workers itself: SIGTERM (SIGKILL would leave them serving).
        self.nginx = _spawn([self.nginx_path, "-c", str(config), "-p", str(self.run_dir), "-e", "stderr",
                             "-g", "daemon off;"], "[nginx]", signal.SIGTERM)
        self._write_state()
        self._wait_nginx_healthy()
        if not self.stopping:
            print(self.banner(), flush=True)

    def _start_replica(self, replica: Replica) -> None:
        cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "serve.py"), "--server.port", str(replica.port),
               "--server.address", REPLICA_HOST, "--server.headless", "true", *self.options.streamlit_args]
        # An orphaned replica gets SIGKILL: with the launcher gone, its output pipe is broken, and Streamlit's SIGTERM
        # handler fails on printing "Stopping..." and leaves it running. Nothing of it needs a clean stop: the store
        # writes are atomic, and its training process ends with it (training/process.py).
        replica.proc = _spawn(cmd, f"[replica :{replica.port}]", signal.SIGKILL, env=self.env)
        replica.started_at = time.monotonic()
        replica.restart_at = None

    def _wait_replicas_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        waiting = list(self.replicas)
        while waiting and not self.stopping:
            for replica in list(waiting):
                if replica.proc.poll() is not None:
                    raise LaunchError(f"the replica on port {replica.port} ended at its start (exit code "
                                      f"{replica.proc.returncode}); its output is above")
                if healthy(replica.port):
                    waiting.remove(replica)
            if waiting and time.monotonic() > deadline:
                raise LaunchError(f"replicas on ports {[r.port for r in waiting]} were not up after {STARTUP_SECONDS} s")
            if waiting:
                time.sleep(POLL_SECONDS)

    def _wait_nginx_healthy(self) -> None:
        host = self.options.address or REPLICA_HOST
        deadline = time.monotonic() + 15
        while not self.stopping:
            if self.nginx.poll() is not None:
                raise LaunchError(f"nginx ended at its start (exit code {self.nginx.returncode}); its message is above")
            if healthy(self.options.port, host="127.0.0.1" if host in ("0.0.0.0", "::") else host):
                return
            if time.monotonic() > deadline:
                raise LaunchError("nginx did not answer within 15 s")
            time.sleep(POLL_SECONDS)

    def banner(self) -> str:
        o = self.options
        where = [f"http://{o.address}:{o.port}"] if o.address not in (None, "0.0.0.0", "::") else [
            f"http://localhost:{o.port}", *(f"http://{a}:{o.port}" for a in lan_addresses())]
        return (f"ConvScope: {o.replicas} server processes behind nginx. Open {where[0]} in your browser"
                + (f"; pupils open {' or '.join(where[1:])}" if len(where) > 1 else "")
                + " (Ctrl+C stops them all)")

    # -- supervise ------------------------------------------------------------------------------------------------
    def _supervise(self) -> None:
        while not self.stopping:
            if self.nginx.poll() is not None:
                print(f"ConvScope: nginx ended (exit code {self.nginx.returncode}); stopping the replicas",
                      file=sys.stderr, flush=True)
                return
            changed = False
            now = time.monotonic()
            for replica in self.replicas:
                changed |= self._look_after(replica, now)
            if changed:
                self._write_state()
            time.sleep(POLL_SECONDS)

    def _look_after(self, replica: Replica, now: float) -> bool:
        """Notice a replica that ended and start it again when due; True when something changed."""
        if replica.given_up or self.stopping:
            return False
        if replica.restart_at is not None:
            if now < replica.restart_at:
                return False
            replica.restarts += 1
            print(f"ConvScope: starting the replica on port {replica.port} again", flush=True)
            self._start_replica(replica)
            return True
        if replica.proc.poll() is None:
            return False
        quick = now - replica.started_at < QUICK_DEATH_SECONDS
        replica.quick_deaths = replica.quick_deaths + 1 if quick else 0
        if replica.quick_deaths >= GIVE_UP:
            replica.given_up = True
            print(f"ConvScope: the replica on port {replica.port} ended {GIVE_UP} times right after starting; "
                  f"it stays down, nginx sends its browsers to the others", file=sys.stderr, flush=True)
        else:
            replica.restart_at = now + RESTART_DELAY_SECONDS
            print(f"ConvScope: the replica on port {replica.port} ended (exit code {replica.proc.returncode}); nginx "
                  f"sends its browsers to the others, and it starts again in {RESTART_DELAY_SECONDS} s",
                  file=sys.stderr, flush=True)
        return True

    def _write_state(self) -> None:
        o = self.options
        state = {"url": f"http://{o.address or '127.0.0.1'}:{o.port}", "port": o.port,
                 "nginx_pid": self.nginx.pid if self.nginx else None, "launcher_pid": os.getpid(),
                 "replicas": [{"port": r.port, "pid": r.proc.pid if r.proc else None,
                               "running": bool(r.proc) and r.proc.poll() is None, "restarts": r.restarts}
                              for r in self.replicas]}
        tmp = self.run_dir / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
        os.replace(tmp, self.run_dir / STATE_FILE)

    # -- stop -----------------------------------------------------------------------------------------------------
    def _stop_all(self) -> None:
        self.stopping = True
        procs = [p for p in [self.nginx, *(r.proc for r in self.replicas)] if p is not None and p.poll() is None]
        if procs:
            print(f"ConvScope: stopping {'nginx and ' if self.nginx in procs else ''}"
                  f"{sum(p is not self.nginx for p in procs)} replicas", flush=True)
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses on its networks (what pupils type), as ``hostname -I`` lists them."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=2).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [a for a in out.split() if a.count(".") == 3 and not a.startswith("127.")]


def main(argv: list[str] | None = None) -> int:
    try:
        options = parse_args(sys.argv[1:] if argv is None else argv)
    except LaunchError as exc:
        print(f"usage: python -m deploy.replicas --replicas N [--run-dir DIR] [streamlit options]\n{exc}",
              file=sys.stderr)
        return 2
    nginx = nginx_binary()
    if nginx is None:
        print(f"ConvScope: {NGINX_MISSING}", file=sys.stderr)
        return 1
    return Launcher(options, nginx).run()


if __name__ == "__main__":
    sys.exit(main())
