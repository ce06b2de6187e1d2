"""Training in the background: a ``TrainingJob`` runs a ``Trainer`` (in a process of its own, or in a daemon thread),
a ``JobRegistry`` holds the jobs.

The training thread never touches Streamlit. It writes numbers into the job under a lock, and readers
take a ``Snapshot`` (a copy) whenever they like: a page that refreshes every second, a test that waits
for the second epoch. The registry lets at most ``CONVSCOPE_MAX_TRAININGS`` (default 1) jobs run at once
per process, because the CPU cores are shared by everyone using the server; a start beyond that raises
``Busy``. Finished jobs stay until they are saved or dismissed (``release``), or until newer finished
jobs push them out (``keep_finished``), so their model's memory is given back.

Every failure inside the thread (no dataset, NaN loss, out of memory, a bug) ends as a status with a
message, never as an exception that nobody sees.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from model_store.refusal import Refusal
from training import datasets
from training.trainer import TrainConfig, TrainResult

log = logging.getLogger(__name__)

MAX_ENV = "CONVSCOPE_MAX_TRAININGS"
PROCESS_ENV = "CONVSCOPE_TRAINING_PROCESS"  # "0": train in a thread of the server process instead (the tests do)
NICE_ENV = "CONVSCOPE_TRAINING_NICE"  # priority of the training process (default 10: the pages come first)
ACTIVE = ("queued", "running")
DONE = ("finished", "stopped", "failed")
MAX_BATCH_POINTS = 1500  # per-batch loss points kept for the chart; older ones are thinned, not dropped
PROBE_LAYERS = 2  # how many of the first Conv2D layers are recorded for the probe image


class Busy(RuntimeError):
    """The server already runs as many trainings as it may; the message says which."""

    def __init__(self, message: str, running: list[TrainingJob]):
        super().__init__(message)
        self.running = running


# ---- data, loaded once per process ------------------------------------------------------------------------
_data_lock = threading.Lock()
_data_cache: dict[tuple, datasets.Dataset] = {}


def load_dataset(name: str) -> datasets.Dataset:
    """Train and test split of ``name``, read once per process (per data folder) and shared by every job."""
    key = (name, os.environ.get(datasets.DATA_ENV))
    with _data_lock:
        if key not in _data_cache:
            data = datasets.load(name)
            if data.train is None:
                raise datasets.DatasetError(f"{name}: no training images found in {data.source}")
            _data_cache[key] = data
        return _data_cache[key]


def clear_data_cache() -> None:
    with _data_lock:
        _data_cache.clear()


def classroom_demo(dataset: str = "mnist") -> TrainConfig:
    """Settings for a two-minute classroom demo on two CPU cores (bench/classroom_demo.py times them on MNIST)."""
    return TrainConfig(dataset=dataset, preset="tf-tutorial", epochs=4, batch_size=64, optimizer="adam",
                       learning_rate=2e-3, validation_split=0.1, subset=20000, seed=0)


# ---- what a reader sees ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeMaps:
    """The probe image's feature maps after one epoch (epoch 0: the untrained network)."""

    epoch: int
    layers: list[tuple[str, np.ndarray]]  # (Conv2D layer name, maps (h, w, c)) for the first layers


@dataclass(frozen=True)
class Evaluation:
    """The test-set figures of the trained (best) weights."""

    accuracy: float
    loss: float
    confusion: np.ndarray  # (10, 10), rows true, columns predicted
    per_class_accuracy: dict
    predicted: np.ndarray  # (n,) predicted class of every test image
    confidence: np.ndarray  # (n,) probability of the predicted class
    images: np.ndarray  # (n, 28, 28) uint8 test images (shared, not copied)
    labels: np.ndarray  # (n,) true classes

    def misclassified(self) -> np.ndarray:
        """Indices of the wrong predictions, most confident mistakes first."""
        wrong = np.flatnonzero(self.predicted != self.labels)
        return wrong[np.argsort(-self.confidence[wrong], kind="stable")]

    def cell(self, true: int, predicted: int) -> np.ndarray:
        """Indices of the test images of class ``true`` predicted as ``predicted``."""
        return np.flatnonzero((self.labels == true) & (self.predicted == predicted))


@dataclass(frozen=True)
class Snapshot:
    job_id: str
    config: TrainConfig
    owner: str | None
    status: str  # queued | running | finished | stopped | failed
    phase: str  # loading | training | evaluating | done
    reason: str | None  # finished | early-stopping | stopped | nan | error (once done)
    message: str  # details for people (an error's text), may be empty
    started_at: float
    elapsed: float
    epoch: int  # the epoch in progress (or last run), from 1
    epochs: int
    batch: int  # batches done in that epoch
    steps: int  # batches per epoch
    batches_total: int  # batches done since the start, all epochs
    train_size: int
    val_size: int
    epoch_eta: float | None  # seconds left in this epoch
    total_eta: float | None  # seconds left in the whole run (an estimate)
    history: list[dict]  # one dict per finished epoch: loss, accuracy, val_loss, val_accuracy, epoch, seconds
    batch_points: list[tuple[float, float, float]]  # (fractional epoch, running loss, running accuracy)
    probe_image: np.ndarray | None  # (28, 28) uint8
    probes: list[ProbeMaps]
    evaluation: Evaluation | None
    best_epoch: int | None
    stop_requested: bool
    saved_as: str | None
    not_savable: tuple[str, dict] | None = None  # why the model can never be saved: a Refusal's code and values

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def done(self) -> bool:
        return self.status in DONE

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    @property
    def can_save(self) -> bool:
        return (self.done and self.epochs_run > 0 and self.reason != "nan" and self.not_savable is None
                and self.saved_as is None)

    @property
    def save_refusal(self) -> Refusal | None:
        """Why this run's model can never be saved (its training went NaN: ``trainer.check_finite``), or None."""
        return Refusal(self.not_savable[0], **self.not_savable[1]) if self.not_savable else None

    def describe(self) -> str:
        c = self.config
        return f"{c.preset} on {c.dataset}, epoch {max(1, self.epoch)}/{self.epochs} ({self.status})"


# ---- one training ----------------------------------------------------------------------------------------
def isolated_by_default() -> bool:
    return os.environ.get(PROCESS_ENV, "1") != "0"


class TrainingJob:
    """One training run, followed from a daemon thread; a listener of its ``Trainer``. All public methods are
    thread-safe.

    ``isolated``: the training itself runs in a process of its own (training/worker.py) whose state changes
    this job mirrors; that needs the default data loader (the process loads the data itself). Otherwise it
    runs in the thread, in this process."""

    def __init__(self, config: TrainConfig, owner: str | None = None,
                 data_loader: Callable[[str], datasets.Dataset] = load_dataset, probe_index: int = 0,
                 isolated: bool = False):
        config.validate()
        if isolated and data_loader is not load_dataset:
            raise ValueError("a training process loads its data itself: it cannot use another data loader")
        self.isolated = isolated
        self._process_stop = None
        self._model_path: str | None = None  # the training process' model file
        self._model_folder: str | None = None
        self.id = uuid.uuid4().hex[:10]
        self.config = config
        self.owner = owner
        self._load = data_loader
        self._probe_index = probe_index
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._trainer = None
        self._probe_model = None
        self._probe_x = None
        self.result: TrainResult | None = None
        self._state = Snapshot(
            job_id=self.id, config=config, owner=owner, status="queued", phase="loading", reason=None, message="",
            started_at=time.time(), elapsed=0.0, epoch=0, epochs=config.epochs, batch=0, steps=0, batches_total=0,
            train_size=0, val_size=0, epoch_eta=None, total_eta=None, history=[], batch_points=[], probe_image=None,
            probes=[], evaluation=None, best_epoch=None, stop_requested=False, saved_as=None,
        )
        self._t0 = time.perf_counter()
        self._epoch_t0 = self._t0
        self._stride = 1
        self._monitor = "loss"
        self._probe_names: list[str] = []

    # -- reading ----------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        with self._cond:
            s = self._state
            elapsed = (time.perf_counter() - self._t0) if s.active else s.elapsed
            return replace(s, elapsed=elapsed, history=list(s.history), batch_points=list(s.batch_points),
                           probes=list(s.probes))

    def wait_until(self, predicate: Callable[[Snapshot], bool], timeout: float | None = None) -> bool:
        """Block until ``predicate(snapshot)`` holds (checked at every update) or ``timeout`` seconds pass."""
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

    def _update(self, **changes) -> None:
        with self._cond:
            self._state = replace(self._state, **changes)
            if self._state.done:
                self._done.set()
            self._cond.notify_all()

    # -- control ----------------------------------------------------------------------------------------
    def start(self) -> TrainingJob:
        target = self._run_isolated if self.isolated else self._run
        self._thread = threading.Thread(target=target, daemon=True, name=f"training {self.id}")
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """End the training after the batch in progress; the best whole epoch's weights are kept."""
        self._stop.set()
        with self._cond:
            trainer = self._trainer
        if trainer is not None:
            trainer.request_stop()
        self._signal_stop()
        self._update(stop_requested=True)

    # -- the thread -------------------------------------------------------------------------------------
    def _run(self) -> None:
        from training.trainer import Trainer, check_finite

        try:
            data = self._load(self.config.dataset)
            probe = data.test.images[min(self._probe_index, len(data.test.images) - 1)] if len(data.test.images) else None
            self._update(status="running", probe_image=probe)
            if self._stop.is_set():
                self._finish("stopped", "stopped", "stopped before the training began")
                return
            trainer = Trainer(self.config, data.train, None, [self])
            with self._cond:
                self._trainer = trainer
            if self._stop.is_set():
                trainer.request_stop()
            result = trainer.run()
            self.result = result
            try:
                check_finite(result)
            except Refusal as refusal:  # NaN never ships: the run fails, and says why it cannot be saved
                self._update(not_savable=(refusal.code, dict(refusal.values)))
                self._finish("failed", "nan", str(refusal))
                return
            if result.epochs_run and len(data.test.labels):
                self._update(phase="evaluating", epoch_eta=None, total_eta=None)
                self._evaluate(result, data.test)
            status = "stopped" if result.stop_reason == "stopped" else "finished"
            self._finish(status, result.stop_reason, "")
        except datasets.DatasetError as exc:
            self._finish("failed", "data", str(exc))
        except Exception as exc:  # anything else: a status with the error, not a dead thread nobody sees
            log.exception("training job %s failed", self.id)
            self._finish("failed", "error", f"{type(exc).__name__}: {exc}")
        finally:
            self._probe_model = None
            with self._cond:
                self._trainer = None
            gc.collect()  # Keras models hold reference cycles; free this run's tensors now, not at some later gc

    def _run_isolated(self) -> None:
        """Start the training process (``python -m training.worker``) and apply the state changes it sends."""
        import json
        import subprocess
        import sys
        import tempfile
        from multiprocessing.connection import Connection

        from training import worker

        folder = tempfile.mkdtemp(prefix=f"convscope-job-{self.id}-")
        try:
            nice = int(os.environ.get(NICE_ENV, "10"))
        except ValueError:
            nice = 10
        spec = {"config": self.config.to_dict(), "probe_index": self._probe_index, "nice": nice,
                "model_path": os.path.join(folder, "model.keras")}
        data_r, data_w = os.pipe()
        control_r, control_w = os.pipe()
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        receiver = Connection(data_r, writable=False)
        process = None
        with self._cond:
            self._model_folder = folder  # deleted with the run (discard), whatever happens here
        try:
            try:
                process = subprocess.Popen(
                    [sys.executable, "-m", "training.worker", str(data_w), str(control_r), json.dumps(spec)],
                    pass_fds=(data_w, control_r), stdin=subprocess.DEVNULL, env=env)
            finally:
                os.close(data_w)  # the process has its own copies; ours would hide its end from recv()
                os.close(control_r)
            with self._cond:
                self._process_stop = control_w
            if self._stop.is_set():
                self._signal_stop()
            while True:
                try:
                    kind, *args = receiver.recv()
                except EOFError:
                    break
                if kind == "update":
                    with self._cond:
                        changes = worker.apply_message(self._state, args[0])
                        if "elapsed" in changes:
                            changes["elapsed"] = time.perf_counter() - self._t0
                        self._update(**changes)
                elif kind == "model":
                    self._model_path = args[0]
                elif kind == "result":
                    self.result = args[0]
            code = process.wait()
            if not self._state.done:
                self._finish("failed", "error", f"the training process ended unexpectedly (exit code {code})")
        except Exception as exc:
            log.exception("training process of job %s failed", self.id)
            if process is not None and process.poll() is None:
                process.kill()
            self._finish("failed", "error", f"{type(exc).__name__}: {exc}")
        finally:
            receiver.close()
            with self._cond:
                self._process_stop = None
            os.close(control_w)

    def _signal_stop(self) -> None:
        """Ask the training process, if there is one, to stop (a byte on its control pipe)."""
        with self._cond:
            control = self._process_stop
            if control is not None:
                try:
                    os.write(control, b"s")
                except OSError:
                    pass  # the process has ended already

    def _finish(self, status: str, reason: str, message: str) -> None:
        best = self.result.best_epoch if self.result else None
        self._update(status=status, reason=reason, message=message, phase="done", best_epoch=best,
                     elapsed=time.perf_counter() - self._t0, epoch_eta=None, total_eta=None)

    def _evaluate(self, result: TrainResult, test: datasets.Split) -> None:
        from training.evaluate import predict_probabilities, summarize

        probs = predict_probabilities(result.model, test.images)
        report = summarize(probs, test.labels, datasets.CLASS_NAMES[self.config.dataset])
        result.test_accuracy, result.test_loss = report["accuracy"], report["loss"]
        evaluation = Evaluation(
            accuracy=report["accuracy"], loss=report["loss"], confusion=np.asarray(report["confusion_matrix"]),
            per_class_accuracy=report["per_class_accuracy"], predicted=report["predicted"],
            confidence=probs.max(axis=1), images=test.images, labels=test.labels.astype(np.int64),
        )
        self._update(evaluation=evaluation)

    # -- Trainer listener (called in the training thread) -------------------------------------------------
    def on_begin(self, info: dict) -> None:
        steps, epochs = info["steps_per_epoch"], info["epochs"]
        self._stride = 1
        self._monitor = info.get("monitor", "loss")
        self._epoch_t0 = time.perf_counter()
        self._update(phase="training", steps=steps, epochs=epochs, train_size=info["train_size"],
                     val_size=info["val_size"])
        model = self._trainer.model if self._trainer is not None else None
        if model is not None:
            self._record_probe(0, model)

    def on_batch(self, epoch: int, batch: int, logs: dict) -> None:
        now = time.perf_counter()
        s = self._state
        steps = max(1, s.steps)
        per_batch = (now - self._epoch_t0) / batch
        epoch_eta = per_batch * (steps - batch)
        past = [h.get("seconds", 0.0) for h in s.history]
        epoch_seconds = (sum(past) / len(past)) if past else per_batch * steps
        total_eta = epoch_eta + max(0, s.epochs - epoch) * epoch_seconds
        total = s.batches_total + 1
        points = s.batch_points
        if total % self._stride == 0:
            points = points + [((epoch - 1) + batch / steps, logs.get("loss", float("nan")), logs.get("accuracy", float("nan")))]
            if len(points) > MAX_BATCH_POINTS:
                points, self._stride = points[::2], self._stride * 2
        self._update(epoch=epoch, batch=batch, batches_total=total, epoch_eta=epoch_eta, total_eta=total_eta,
                     batch_points=points)

    def on_epoch(self, epoch: int, logs: dict, model) -> None:
        history = self._state.history + [dict(logs)]
        values = [h.get(self._monitor, float("inf")) for h in history]
        best = history[int(np.argmin(values))]["epoch"]  # the epoch whose weights the Trainer keeps
        self._epoch_t0 = time.perf_counter()
        self._update(history=history, best_epoch=best)
        self._record_probe(epoch, model)

    def on_end(self, result: TrainResult) -> None:
        self.result = result

    def _record_probe(self, epoch: int, model) -> None:
        """Feature maps of the probe image in the first Conv2D layers, from one call (no model.predict)."""
        if self._state.probe_image is None:
            return
        try:
            if self._probe_model is None:
                import keras

                from model_store.inference import _conv_taps

                taps = _conv_taps(model)[:PROBE_LAYERS]
                if not taps:
                    return
                self._probe_names = [conv.name for conv, _, _ in taps]
                self._probe_model = keras.Model(model.inputs, [tap.output for _, tap, _ in taps])
                self._probe_x = (self._state.probe_image.astype(np.float32) / 255.0)[None, ..., None]
            outputs = self._probe_model([self._probe_x], training=False)
            outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
            maps = [(name, np.asarray(o)[0].astype(np.float32)) for name, o in zip(self._probe_names, outputs)]
            self._update(probes=self._state.probes + [ProbeMaps(epoch, maps)])
        except Exception:  # the probe is a picture; it must never end a training
            log.exception("probe feature maps failed at epoch %s", epoch)

    # -- results ----------------------------------------------------------------------------------------
    def metadata(self) -> dict:
        """Everything the model store keeps about this job's model."""
        from training.trainer import result_metadata

        if self.result is None:
            raise RuntimeError("the job has no trained model")
        self._trained_model()
        meta = result_metadata(self.result)
        evaluation = self._state.evaluation
        if evaluation is not None:
            meta["confusion_matrix"] = evaluation.confusion.tolist()
            meta["per_class_accuracy"] = evaluation.per_class_accuracy
        return meta

    def save(self, store, name: str):
        """Save the trained (best) model to ``store`` under ``name``; returns the store entry. A run that went NaN
        raises its ``Refusal`` (``Snapshot.save_refusal``); a refused name (``InvalidName``, ``NameTaken``) leaves
        the model here, to be saved under another name."""
        from training.trainer import save_result

        snap = self.snapshot()
        if snap.save_refusal is not None:
            raise snap.save_refusal
        if not snap.can_save:
            raise RuntimeError("this job has no model to save" if snap.saved_as is None else f"already saved as {snap.saved_as}")
        if self.result is None:
            raise RuntimeError("the trained model was released from memory (the run was dismissed or replaced)")
        self._trained_model()
        entry = save_result(self.result, store, name, self.metadata())
        self._update(saved_as=entry.name)
        return entry

    def _trained_model(self):
        """The trained model; from a training process it is read from its file the first time it is needed."""
        if self.result.model is None and self._model_path:
            import keras

            self.result.model = keras.saving.load_model(self._model_path, compile=False, safe_mode=True)
        return self.result.model

    def discard(self) -> None:
        """Let go of the model (memory, and the training process' model file); the snapshot stays readable."""
        import shutil

        self.result = None
        folder, self._model_folder, self._model_path = self._model_folder, None, None
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


@dataclass
class JobRegistry:
    """The server's trainings: at most ``max_running`` at once, finished ones kept until released."""

    max_running: int | None = None
    keep_finished: int = 2
    isolated: bool | None = None  # trainings in processes of their own (default: CONVSCOPE_TRAINING_PROCESS, on)
    data_loader: Callable[[str], datasets.Dataset] = load_dataset
    _jobs: dict[str, TrainingJob] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        if self.isolated is None:
            self.isolated = isolated_by_default()
        if self.max_running is None:
            try:
                self.max_running = max(1, int(os.environ.get(MAX_ENV, "1")))
            except ValueError:
                self.max_running = 1

    def start(self, config: TrainConfig, owner: str | None = None) -> TrainingJob:
        """Start a training, or raise ``Busy`` when ``max_running`` already run (``ConfigError`` for bad settings)."""
        with self._lock:
            running = [j for j in self._jobs.values() if j.snapshot().active]
            if len(running) >= self.max_running:
                what = "; ".join(j.snapshot().describe() for j in running)
                raise Busy(f"the server is already training ({what}); watch it or wait until it ends", running)
            # A test's own data loader can only run in this process.
            isolated = bool(self.isolated) and self.data_loader is load_dataset
            job = TrainingJob(config, owner=owner, data_loader=self.data_loader, isolated=isolated)
            self._jobs[job.id] = job
            self._evict()
            return job.start()

    def _evict(self) -> None:
        finished = [j for j in self._jobs.values() if j.snapshot().done]
        finished.sort(key=lambda j: j.snapshot().started_at)
        for job in finished[: max(0, len(finished) - self.keep_finished)]:
            job.discard()
            del self._jobs[job.id]

    def get(self, job_id: str | None) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def jobs(self) -> list[TrainingJob]:
        """All jobs held, newest first."""
        with self._lock:
            jobs = list(self._jobs.values())
        return sorted(jobs, key=lambda j: j.snapshot().started_at, reverse=True)

    def running(self) -> list[TrainingJob]:
        return [j for j in self.jobs() if j.snapshot().active]

    def busy(self) -> bool:
        return len(self.running()) >= self.max_running

    def release(self, job_id: str) -> None:
        """Forget a finished job and its model (after it was saved or dismissed). A running job is stopped first."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job is None:
            return
        if job.snapshot().active:
            job.request_stop()
        job.discard()
