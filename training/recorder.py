"""One training, told as change records (training/snapshot.py): ``record_training`` runs it and hands every change
to ``send``, whether the snapshot that takes it is in this process (a server thread) or in the server (the records
then cross a pipe from the training process, training/worker.py).

``Recorder`` is the Keras callback that turns the trainer's events into those records: where the run is and how long
it has left, the per-batch curve (thinned, never cut), each whole epoch with the best one so far, and the probe
image's feature maps. Imported only when a training starts: it needs Keras.
"""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
from collections.abc import Callable

import keras
import numpy as np

from model_store.inference import conv_taps
from model_store.model_input import shaped, to_float
from model_store.refusal import Refusal
from model_store.scores import predict_probabilities, summarize
from training.data_cache import load_dataset
from training.datasets import CLASS_NAMES, Dataset, DatasetError, Split
from training.snapshot import Append, Evaluation, ProbeMaps, ending
from training.trainer import TrainConfig, Trainer, TrainResult, check_finite

log = logging.getLogger(__name__)

MAX_BATCH_POINTS = 1500  # per-batch points kept for the chart; beyond that every other one goes, old and new alike
PROBE_LAYERS = 2  # how many of the first Conv2D layers are recorded for the probe image

Send = Callable[[dict], None]


class Recorder(keras.callbacks.Callback):
    """Sends a change record for the trainer's every event; ``probe_image``: (SIDE, SIDE) uint8, or None."""

    def __init__(self, send: Send, probe_image: np.ndarray | None = None):
        super().__init__()
        self.send, self.probe_image = send, probe_image
        self.history: list[dict] = []
        self.points: list[tuple[float, float, float]] = []
        self.stride = 1  # one batch in ``stride`` has a point on the curve
        self.batches_total = 0
        self.epoch, self.epoch_start = 1, time.perf_counter()
        self.probe = None  # (Conv2D layer names, the model that outputs their maps, the probe image as its input)

    def on_train_begin(self, logs=None):
        p = self.params
        self.send({"phase": "training", "steps": p["steps"], "epochs": p["epochs"], "train_size": p["train_size"],
                   "val_size": p["val_size"]})
        self.record_probe(0)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.epoch_start = epoch + 1, time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        logs, batch = logs or {}, batch + 1
        steps, epochs = max(1, self.params["steps"]), self.params["epochs"]
        per_batch = (time.perf_counter() - self.epoch_start) / batch
        epoch_eta = per_batch * (steps - batch)
        past = [h.get("seconds", 0.0) for h in self.history]
        epoch_seconds = (sum(past) / len(past)) if past else per_batch * steps
        self.batches_total += 1
        record = {"epoch": self.epoch, "batch": batch, "batches_total": self.batches_total, "epoch_eta": epoch_eta,
                  "total_eta": epoch_eta + max(0, epochs - self.epoch) * epoch_seconds}
        if self.batches_total % self.stride == 0:
            point = ((self.epoch - 1) + batch / steps, logs.get("loss", math.nan), logs.get("accuracy", math.nan))
            self.points.append(point)
            if len(self.points) > MAX_BATCH_POINTS:
                self.points, self.stride = self.points[::2], self.stride * 2
                record["batch_points"] = list(self.points)
            else:
                record["batch_points"] = Append([point])
        self.send(record)

    def on_epoch_end(self, epoch, logs=None):
        self.history.append(dict(logs))
        values = [h.get(self.params["monitor"], math.inf) for h in self.history]
        best = self.history[int(np.argmin(values))]["epoch"]  # the epoch whose weights the trainer keeps
        self.send({"history": Append([dict(logs)]), "best_epoch": best})
        self.record_probe(epoch + 1)

    def record_probe(self, epoch: int) -> None:
        """Feature maps of the probe image in the first Conv2D layers, from one call (no model.predict)."""
        if self.probe_image is None:
            return
        try:
            if self.probe is None:
                taps = conv_taps(self.model)[:PROBE_LAYERS]
                if not taps:
                    self.probe_image = None  # no convolution: no maps to show
                    return
                x = shaped(to_float(self.probe_image), self.model.inputs[0].shape[1:])
                self.probe = ([conv.name for conv, _, _ in taps],
                              keras.Model(self.model.inputs, [tap.output for _, tap, _ in taps]), x)
            names, model, x = self.probe
            outputs = model([x], training=False)
            outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
            maps = [(name, np.asarray(o)[0].astype(np.float32)) for name, o in zip(names, outputs)]
            self.send({"probes": Append([ProbeMaps(epoch, maps)])})
        except Exception:  # the probe is a picture; it must never end a training
            log.exception("probe feature maps failed at epoch %s", epoch)


def record_training(config: TrainConfig, send: Send, stop: threading.Event,
                    load: Callable[[str], Dataset] = load_dataset, probe_index: int = 0) -> tuple[TrainResult | None, dict]:
    """Train as ``config`` says on the data ``load(config.dataset)`` gives, sending change records as it goes;
    ``stop`` (set from any thread, even before the data is read) ends it within a batch.

    Returns the result (None when no training ran) and the record that ends the run, which the caller sends last,
    once it has kept the result: whoever sees the run done then finds its model. Every failure (no dataset, a NaN
    loss, out of memory, a bug) ends as that record, with a message, never as an exception nobody sees."""
    result = None
    try:
        data = load(config.dataset)
        test = data.test
        probe = test.images[min(probe_index, len(test.images) - 1)] if len(test.images) else None
        send({"status": "running", "probe_image": probe})
        if stop.is_set():
            return None, ending("stopped", "stopped", "stopped before the training began")
        result = Trainer(config, data.train, None, [Recorder(send, probe)], stop=stop).run()
        try:
            check_finite(result)
        except Refusal as refusal:  # NaN never ships: the run fails, and says why it cannot be saved
            return result, ending("failed", "nan", str(refusal), result.best_epoch,
                                  not_savable=(refusal.code, dict(refusal.values)))
        if result.epochs_run and len(test.labels):
            send({"phase": "evaluating", "epoch_eta": None, "total_eta": None})
            send({"evaluation": evaluation_of(result, test)})
        status = "stopped" if result.stop_reason == "stopped" else "finished"
        return result, ending(status, result.stop_reason, "", result.best_epoch)
    except DatasetError as exc:
        return result, ending("failed", "data", str(exc), failure=(exc.code, dict(exc.values)))
    except Exception as exc:
        log.exception("training %s on %s failed", config.preset, config.dataset)
        return result, ending("failed", "error", f"{type(exc).__name__}: {exc}", result.best_epoch if result else None)
    finally:
        gc.collect()  # Keras models hold reference cycles; free this run's tensors now, not at some later gc


def evaluation_of(result: TrainResult, test: Split) -> Evaluation:
    """The trained (best) weights on the test split; the test figures go into ``result`` too."""
    probs = predict_probabilities(result.model, test.images)
    report = summarize(probs, test.labels, CLASS_NAMES[result.config.dataset])
    result.test_accuracy, result.test_loss = report["accuracy"], report["loss"]
    return Evaluation(
        accuracy=report["accuracy"], loss=report["loss"], confusion=np.asarray(report["confusion_matrix"]),
        per_class_accuracy=report["per_class_accuracy"], predicted=report["predicted"],
        confidence=probs.max(axis=1), images=test.images, labels=test.labels.astype(np.int64),
    )
