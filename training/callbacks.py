"""The Keras callback behind the trainer: honours stop requests, keeps the best weights, ends a training whose loss
becomes NaN or infinite at once (``stop_reason`` "nan": see ``trainer.check_finite``), and passes Keras' events on to
the trainer's callbacks, whole epochs only (see training/trainer.py).

Imported only when a training starts, so that importing ``training`` stays free of TensorFlow.
"""

from __future__ import annotations

import math
import threading
import time

import keras


class Reporter(keras.callbacks.Callback):
    """``stop``: set from any thread to end the run within a batch. ``listeners``: a ``keras.callbacks.CallbackList``
    of the trainer's callbacks."""

    def __init__(self, stop: threading.Event, result, monitor: str, listeners: keras.callbacks.CallbackList):
        super().__init__()
        self.stop, self.result, self.monitor, self.listeners = stop, result, monitor, listeners
        self.epoch = 0
        self.epoch_start = time.perf_counter()
        self.best_value = math.inf
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.listeners.on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1
        self.epoch_start = time.perf_counter()
        self.listeners.on_epoch_begin(epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        if not math.isfinite(logs.get("loss", 0.0)):
            self.not_finite()
        elif self.stop.is_set():
            self.result.stop_reason = "stopped"
            self.model.stop_training = True
        self.listeners.on_train_batch_end(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        # Keras validates even after a mid-epoch stop; end that pass after one batch too, so a stop (also one
        # pressed while validating) ends the run within a batch. The epoch is then partial and not recorded.
        if self.stop.is_set() or self.result.stop_reason in ("stopped", "nan"):
            if self.result.stop_reason != "nan":
                self.result.stop_reason = "stopped"
            self.model.stop_training = True
            self.model.stop_evaluating = True

    def on_epoch_end(self, epoch, logs=None):
        if self.result.stop_reason in ("stopped", "nan"):
            return  # a partial epoch: its numbers are not comparable with whole ones
        logs = {k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}
        logs["epoch"] = epoch + 1
        logs["seconds"] = time.perf_counter() - self.epoch_start
        self.result.history.append(logs)
        if not all(math.isfinite(logs[k]) for k in ("loss", "val_loss") if k in logs):
            self.not_finite()  # e.g. a validation loss that went NaN after the last batch's update
        value = logs.get(self.monitor, math.inf)
        if value < self.best_value:
            self.best_value, self.result.best_epoch = value, epoch + 1
            self.best_weights = self.model.get_weights()
        self.listeners.on_epoch_end(epoch, dict(logs))

    def on_train_end(self, logs=None):
        # A stop mid-epoch keeps the best whole epoch's weights, not the partial ones. When the last whole epoch is the
        # best and nothing cut the run short, the weights are already its (or their average, which Keras has just put
        # in place when the optimizer keeps one: copying the raw ones back would undo it).
        last_is_best = self.result.best_epoch == len(self.result.history) and self.result.stop_reason == "finished"
        if self.best_weights is not None and not last_is_best:
            self.model.set_weights(self.best_weights)
        self.listeners.on_train_end(logs)

    def not_finite(self):
        """The loss is NaN or infinite: nothing more can be learned (Keras' TerminateOnNaN, and the epoch noted)."""
        self.result.stop_reason = "nan"
        self.result.non_finite_epoch = self.result.non_finite_epoch or self.epoch
        self.model.stop_training = True
