"""The training process: the server starts one per training, so that everything a training allocates goes back
to the system when it ends, and its CPU use yields to the pages (it runs at a lower priority).

Inside, the training runs exactly as a ``TrainingJob`` in a thread would (``MirroredJob`` is one); every state
change is sent to the server's ``TrainingJob`` through a pipe, which applies it to its own state, so the pages
read the same snapshots either way. Growing lists travel as their new items only. The trained model comes
back as a ``.keras`` file in a temporary folder that the server's job deletes when it lets go of the run.

Measured on 2 cores (``bench/memory.py``): in-process trainings left ~10-30 MiB each behind in the server
(TensorFlow's own allocations, not Python objects); in this process they leave nothing there.
"""

from __future__ import annotations

import os
import threading

from training.jobs import TrainingJob
from training.trainer import TrainConfig

GROWING = ("probes", "batch_points")  # lists that grow by appending: sent as their new items


def changes_message(old_state, changes: dict) -> dict:
    """``changes`` as sent: growing lists as ("append", new items) when they only grew, else whole."""
    message = dict(changes)
    for key in GROWING:
        if key in message:
            old, new = getattr(old_state, key), message[key]
            if len(new) == len(old) + 1:  # one appended (a thinned list is shorter: sent whole)
                message[key] = ("append", new[len(old):])
            else:
                message[key] = ("replace", new)
    return message


def apply_message(state, message: dict) -> dict:
    """The inverse of ``changes_message`` against the receiver's ``state``: whole values to apply."""
    changes = dict(message)
    for key in GROWING:
        if key in changes:
            how, items = changes[key]
            changes[key] = getattr(state, key) + list(items) if how == "append" else list(items)
    return changes


class MirroredJob(TrainingJob):
    """The job inside the training process: runs as usual and sends each state change, then the result."""

    def __init__(self, config: TrainConfig, probe_index: int, conn, model_path: str):
        super().__init__(config, probe_index=probe_index)
        self._conn = conn
        self._save_to = model_path
        self._send_lock = threading.Lock()

    def _send(self, *message) -> None:
        with self._send_lock:
            self._conn.send(message)

    def _update(self, **changes) -> None:
        with self._cond:
            message = changes_message(self._state, changes)
            super()._update(**changes)
            self._send("update", message)

    def _finish(self, status: str, reason: str, message: str) -> None:
        if self.result is not None:
            model, self.result.model = self.result.model, None
            if model is not None and self._state.epochs_run and self._state.not_savable is None:  # NaN: no file
                model.save(self._save_to)
                self._send("model", self._save_to)
            self._send("result", self.result)
        super()._finish(status, reason, message)


def main(argv: list[str]) -> None:
    """``python -m training.worker DATA_FD CONTROL_FD SPEC``: train as SPEC (JSON) says; state changes go out on
    DATA_FD (a ``multiprocessing.connection``); a byte on CONTROL_FD asks for a stop, its end (the server is
    gone, even killed) ends this process at once: there is nobody to train for."""
    import json
    from multiprocessing.connection import Connection

    data_fd, control_fd, spec = int(argv[0]), int(argv[1]), json.loads(argv[2])
    if spec["nice"]:
        try:
            os.nice(spec["nice"])
        except OSError:
            pass  # not allowed here: run at the server's priority
    conn = Connection(data_fd, readable=False)
    job = MirroredJob(TrainConfig(**spec["config"]), spec["probe_index"], conn, spec["model_path"])

    def watch() -> None:
        while os.read(control_fd, 1):  # a stop; keep watching: the server may still go away before the end
            job.request_stop()
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="stop watcher").start()
    try:
        job._run()
    finally:
        conn.close()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
