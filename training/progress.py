"""The command line's progress bar: a Keras callback given to the ``Trainer`` (training/trainer.py says what it hears).

Imported only when a training starts, so that ``python -m training --help`` stays free of TensorFlow.
"""

from __future__ import annotations

import sys
import time

import keras


class ProgressBar(keras.callbacks.Callback):
    """Terminal progress per epoch: batches done, loss, accuracy and time left (on stderr unless ``stream``)."""

    EVERY = 10  # batches between two redraws: a line per batch would flood a log file

    def __init__(self, stream=None, width: int = 30):
        super().__init__()
        self.stream, self.width = stream or sys.stderr, width
        self.epoch, self.start = 1, time.perf_counter()

    def on_train_begin(self, logs=None):
        print(f"training on {self.params['train_size']} images, validating on {self.params['val_size']}",
              file=self.stream)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.start = epoch + 1, time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        logs, done, steps, epochs = logs or {}, batch + 1, self.params["steps"], self.params["epochs"]
        if done % self.EVERY and done != steps:
            return
        bar = int(self.width * done / steps)
        left = (time.perf_counter() - self.start) / done * (steps - done)
        self.stream.write(f"\repoch {self.epoch}/{epochs} [{'=' * bar}{' ' * (self.width - bar)}] {done}/{steps} "
                          f"loss {logs.get('loss', 0):.4f} acc {logs.get('accuracy', 0):.4f} ETA {left:4.0f}s ")
        self.stream.flush()

    def on_epoch_end(self, epoch, logs=None):
        extra = "".join(f" {k} {logs[k]:.4f}" for k in ("val_loss", "val_accuracy") if k in logs)
        self.stream.write(f"\repoch {epoch + 1}/{self.params['epochs']} done in {logs['seconds']:.0f}s: "
                          f"loss {logs['loss']:.4f} acc {logs['accuracy']:.4f}{extra}{' ' * 20}\n")
        self.stream.flush()
