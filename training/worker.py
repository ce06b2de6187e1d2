"""The training process: ``python -m training.worker DATA_FD CONTROL_FD SPEC``, started by the server
(training/process.py, which also says what crosses the pipe).

Inside, the training is ``class_training.record_run``, as in a server thread; its change records go out on DATA_FD
(a ``multiprocessing.connection``). The trained model goes back as a ``.keras`` file, in a folder that the server's
job deletes when it lets go of the run.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from multiprocessing.connection import Connection

from training.class_training import config_from_dict, record_run
from training.process import RECORD, RESULT
from training.trainer import TrainResult


def model_file(result: TrainResult, last: dict, path: str) -> str | None:
    """Write the trained model to ``path`` and take it out of ``result`` (the result crosses the pipe without it);
    None when there is no model worth a file (no whole epoch, or a loss that went NaN)."""
    model, result.model = result.model, None
    if model is None or not result.epochs_run or last.get("not_savable"):
        return None
    model.save(path)
    return path


def main(argv: list[str]) -> None:
    """Train as SPEC (JSON) says. A byte on CONTROL_FD asks for a stop; its end (the server is gone, even killed)
    ends this process at once: there is nobody to train for."""
    data_fd, control_fd, spec = int(argv[0]), int(argv[1]), json.loads(argv[2])
    if spec["nice"]:
        try:
            os.nice(spec["nice"])
        except OSError:
            pass  # not allowed here: run at the server's priority
    conn = Connection(data_fd, readable=False)
    stop = threading.Event()

    def watch() -> None:
        while os.read(control_fd, 1):  # a stop; keep watching: the server may still go away before the end
            stop.set()
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="stop watcher").start()
    try:
        result, last = record_run(config_from_dict(spec["config"]), lambda record: conn.send((RECORD, record)), stop,
                                  probe_index=spec["probe_index"])
        if result is not None:
            conn.send((RESULT, (result, model_file(result, last, spec["model_path"]))))
        conn.send((RECORD, last))
    finally:
        conn.close()


if __name__ == "__main__":
    main(sys.argv[1:])
