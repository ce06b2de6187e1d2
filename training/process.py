"""A training process, from the server's side: start ``python -m training.worker``, read what it sends, ask it to stop.

A process of its own gives everything a training allocates back to the system when it ends, and its CPU use yields
to the pages (it runs at a lower priority, ``CONVSCOPE_TRAINING_NICE``, default 10).

The pipe carries, in this order: ``(RECORD, change record)`` for every change, then ``(RESULT, (TrainResult
without its model, the model's .keras file or None))``, then the record that ends the run. A byte on the control
pipe asks for a stop; the control pipe's end (the server is gone, even killed) ends the process at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection

from training.trainer import TrainConfig

NICE_ENV = "CONVSCOPE_TRAINING_NICE"
RECORD, RESULT = "record", "result"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def nice_level() -> int:
    try:
        return int(os.environ.get(NICE_ENV, "10"))
    except ValueError:
        return 10


class TrainingProcess:
    """One training process, started at once; it trains as ``config`` says, its model goes to ``model_path``."""

    def __init__(self, config: TrainConfig, probe_index: int, model_path: str):
        spec = {"config": config.to_dict(), "probe_index": probe_index, "nice": nice_level(), "model_path": model_path}
        data_r, data_w = os.pipe()
        control_r, control_w = os.pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
        self._receiver = Connection(data_r, writable=False)
        self._control: int | None = control_w
        self._lock = threading.Lock()
        try:
            self._popen = subprocess.Popen(
                [sys.executable, "-m", "training.worker", str(data_w), str(control_r), json.dumps(spec)],
                pass_fds=(data_w, control_r), stdin=subprocess.DEVNULL, env=env)
        except BaseException:
            self.close()
            raise
        finally:
            os.close(data_w)  # the process has its own copies; ours would hide its end from recv()
            os.close(control_r)

    def messages(self) -> Iterator[tuple[str, object]]:
        """What the process sends, ``(RECORD, record)`` or ``(RESULT, (result, model file))``, until it ends."""
        while True:
            try:
                yield self._receiver.recv()
            except EOFError:
                return

    def stop(self) -> None:
        """Ask the process to stop after the batch in progress (a byte on its control pipe)."""
        with self._lock:
            if self._control is not None:
                try:
                    os.write(self._control, b"s")
                except OSError:
                    pass  # the process has ended already

    def wait(self) -> int:
        return self._popen.wait()

    def kill(self) -> None:
        if self._popen.poll() is None:
            self._popen.kill()

    def close(self) -> None:
        """Let go of the pipes; a process still running sees its control pipe end and exits."""
        self._receiver.close()
        with self._lock:
            control, self._control = self._control, None
        if control is not None:
            os.close(control)
