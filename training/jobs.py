"""One training, followed from the server: a ``TrainingJob`` runs it in the background and keeps the ``Snapshot``
that pages read (a copy, whenever they like: a page that refreshes every second, a test that waits for the second
epoch). It never touches Streamlit; all its public methods are thread-safe.

Either way the training is ``class_training.record_run`` (a preset on a built-in dataset: ``recorder.record_training``;
a class dataset: ``class_training.record_class_training``), and every change record it sends reaches ``apply``:
directly from a thread of this process, or from the pipe of a training process of its own (``isolated``, the
app's default: training/process.py says why).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from training.class_training import ClassTrainConfig
from training.data_cache import load_dataset
from training.datasets import Dataset
from training.snapshot import Snapshot, apply_changes, ending
from training.trainer import TrainConfig, TrainResult, result_metadata, save_result

log = logging.getLogger(__name__)

PROCESS_ENV = "CONVSCOPE_TRAINING_PROCESS"  # "0": train in a thread of the server process instead (the tests do)


def isolated_by_default() -> bool:
    return os.environ.get(PROCESS_ENV, "1") != "0"


class TrainingJob:
    """One training run. ``isolated``: it runs in a process of its own, which reads its data itself (so only with
    the default ``data_loader``); otherwise in a daemon thread of this process."""

    def __init__(self, config: TrainConfig | ClassTrainConfig, owner: str | None = None,
                 data_loader: Callable[[str], Dataset] = load_dataset, probe_index: int = 0, isolated: bool = False):
        config.validate()
        if isolated and data_loader is not load_dataset:
            raise ValueError("a training process loads its data itself: it cannot use another data loader")
        self.id = uuid.uuid4().hex[:10]
        self.config = config
        self.owner = owner
        self.isolated = isolated
        self.result: TrainResult | None = None
        self._load = data_loader
        self._probe_index = probe_index
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._state = Snapshot.queued(self.id, config, owner, started_at=time.time())
        self._t0 = time.perf_counter()
        self._process = None  # the training process while it runs (isolated)
        self._model_folder: str | None = None  # holds the training process' model file; deleted with the run
        self._model_file: str | None = None

    # -- reading ----------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        with self._cond:
            s = self._state
            elapsed = (time.perf_counter() - self._t0) if s.active else s.elapsed
            return replace(s, elapsed=elapsed, history=list(s.history), batch_points=list(s.batch_points),
                           probes=list(s.probes))

    def wait_until(self, predicate: Callable[[Snapshot], bool], timeout: float | None = None) -> bool:
        """Block until ``predicate(snapshot)`` holds (checked at every change) or ``timeout`` seconds pass."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not predicate(self.snapshot()):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left if left is None else min(left, 1.0))
            return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job is done; True if it is. (Not woken by every batch, unlike ``wait_until``.)"""
        return self._done.wait(timeout)

    # -- changing ---------------------------------------------------------------------------------------
    def apply(self, record: dict) -> None:
        """Apply one change record of the training (``snapshot.apply_changes``); the record that ends the run also
        stops the clock."""
        with self._cond:
            state = apply_changes(self._state, record)
            if state.done and not self._state.done:
                state = replace(state, elapsed=time.perf_counter() - self._t0)
            self._state = state
            if state.done:
                self._done.set()
            self._cond.notify_all()

    def start(self) -> TrainingJob:
        target = self._train_in_process if self.isolated else self._train_here
        threading.Thread(target=target, daemon=True, name=f"training {self.id}").start()
        return self

    def request_stop(self) -> None:
        """End the training after the batch in progress; the best whole epoch's weights are kept."""
        self._stop.set()
        with self._cond:
            process = self._process
        if process is not None:
            process.stop()
        self.apply({"stop_requested": True})

    def _train_here(self) -> None:
        from training.class_training import record_run  # Keras: imported when a training starts, not with the page

        self.result, last = record_run(self.config, self.apply, self._stop, self._load, self._probe_index)
        self.apply(last)

    def _train_in_process(self) -> None:
        from training.process import RESULT, TrainingProcess

        folder = tempfile.mkdtemp(prefix=f"convscope-job-{self.id}-")
        with self._cond:
            self._model_folder = folder  # deleted with the run (discard), whatever happens here
        process = None
        try:
            process = TrainingProcess(self.config, self._probe_index, os.path.join(folder, "model.keras"))
            with self._cond:
                self._process = process
            if self._stop.is_set():
                process.stop()
            for kind, value in process.messages():
                if kind == RESULT:
                    self.result, self._model_file = value
                else:
                    self.apply(value)
            code = process.wait()
            if not self.snapshot().done:
                self.apply(ending("failed", "error", f"the training process ended unexpectedly (exit code {code})"))
        except Exception as exc:
            log.exception("training process of job %s failed", self.id)
            if process is not None:
                process.kill()
            self.apply(ending("failed", "error", f"{type(exc).__name__}: {exc}"))
        finally:
            with self._cond:
                self._process = None
            if process is not None:
                process.close()

    # -- the trained model ------------------------------------------------------------------------------
    def metadata(self) -> dict:
        """Everything the model store keeps about this job's model."""
        if self.result is None:
            raise RuntimeError("the job has no trained model")
        self._load_model()
        if isinstance(self.config, ClassTrainConfig):
            from training.fine_tune import fine_tune_metadata

            meta = fine_tune_metadata(self.result, base_name=self.config.base_model, class_data=self.config.class_data)
        else:
            meta = result_metadata(self.result)
        evaluation = self.snapshot().evaluation
        if evaluation is not None:
            meta["confusion_matrix"] = evaluation.confusion.tolist()
            meta["per_class_accuracy"] = evaluation.per_class_accuracy
        return meta

    def save(self, store, name: str):
        """Save the trained (best) model to ``store`` under ``name``; returns the store entry. A run that went NaN
        raises its ``Refusal`` (``Snapshot.save_refusal``); a refused name (``InvalidName``, ``NameTaken``) leaves
        the model here, to be saved under another name."""
        snap = self.snapshot()
        if snap.save_refusal is not None:
            raise snap.save_refusal
        if not snap.can_save:
            raise RuntimeError("this job has no model to save" if snap.saved_as is None else f"already saved as {snap.saved_as}")
        if self.result is None:
            raise RuntimeError("the trained model was released from memory (the run was dismissed or replaced)")
        entry = save_result(self.result, store, name, self.metadata())
        self.apply({"saved_as": entry.name})
        return entry

    def _load_model(self) -> None:
        """A training process' model stays in its file until it is needed."""
        if self.result.model is None and self._model_file:
            import keras

            self.result.model = keras.saving.load_model(self._model_file, compile=False, safe_mode=True)

    def discard(self) -> None:
        """Let go of the model (memory, and the training process' model file); the snapshot stays readable."""
        self.result = None
        folder, self._model_folder, self._model_file = self._model_folder, None, None
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
