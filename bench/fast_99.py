"""Time to >= 99.0% MNIST test accuracy: our fastest settings vs the TensorFlow tutorial CNN as a plain script.

    CONVSCOPE_DATA=/work/shared/datasets python bench/fast_99.py [--reference] [--epochs 3]

Ours: the ``convscope-fast`` preset through our ``Trainer`` with its recommended settings. The test set is
evaluated after every epoch by a listener, outside the clock: the figure is training time until the first
epoch whose test accuracy reaches 99.0%. ``--reference`` also runs the tutorial's own way (``tf-tutorial``
preset, ``model.fit`` batch 32, Adam 1e-3) in the same process, with the same clock, epoch by epoch until it
reaches 99.0% or 10 epochs. Target: ours <= 100 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_store.model_input import shaped, to_float  # noqa: E402
from training import datasets, presets  # noqa: E402
from training.trainer import TrainConfig, Trainer  # noqa: E402

TARGET = 0.99


def as_input(images):
    return shaped(to_float(images), presets.INPUT_SHAPE)


def test_clock(test):
    """A Keras callback: test accuracy after each epoch, with the evaluation time taken off the clock."""
    import keras

    class TestClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.x, self.y = as_input(test.images), test.labels
            self.start = time.perf_counter()
            self.paused = 0.0
            self.rows = []

        def on_epoch_end(self, epoch, logs=None):
            pause = time.perf_counter()
            trained = pause - self.start - self.paused
            accuracy = float((self.model.predict(self.x, batch_size=1000, verbose=0).argmax(1) == self.y).mean())
            self.paused += time.perf_counter() - pause
            self.rows.append((epoch + 1, trained, accuracy))

    return TestClock()


def ours(data, epochs: int):
    recommended = presets.PRESETS["convscope-fast"].recommended
    config = TrainConfig(dataset="mnist", preset="convscope-fast", seed=0, **{**recommended, "epochs": epochs})
    clock = test_clock(data.test)
    Trainer(config, data.train, None, callbacks=[clock]).run()
    return config, clock.rows


def reference(data, max_epochs: int = 10):
    import keras

    keras.utils.set_random_seed(0)
    model = presets.build("tf-tutorial")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = as_input(data.train.images), data.train.labels
    xt, yt = as_input(data.test.images), data.test.labels
    rows, trained = [], 0.0
    for epoch in range(1, max_epochs + 1):
        start = time.perf_counter()
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        trained += time.perf_counter() - start
        accuracy = float((model.predict(xt, verbose=0).argmax(1) == yt).mean())
        rows.append((epoch, trained, accuracy))
        if accuracy >= TARGET:
            break
    return rows


def first_hit(rows):
    return next(((e, s, a) for e, s, a in rows if a >= TARGET), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=presets.PRESETS["convscope-fast"].recommended["epochs"])
    parser.add_argument("--reference", action="store_true", help="also time the tutorial CNN as a plain script")
    args = parser.parse_args()
    data = datasets.load("mnist")
    print(f"{os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.2f}")
    config, rows = ours(data, args.epochs)
    print(f"ours: convscope-fast, batch {config.batch_size}, {config.optimizer} {config.learning_rate} "
          f"cosine={config.cosine_decay}, validation {config.validation_split}")
    for epoch, seconds, accuracy in rows:
        print(f"  epoch {epoch}: {seconds:6.1f} s trained, test accuracy {accuracy:.2%}")
    hit = first_hit(rows)
    summary = [("ours (convscope-fast, Trainer)", hit)]
    if args.reference:
        rows = reference(data)
        print("reference: tf-tutorial, model.fit batch 32, Adam 1e-3")
        for epoch, seconds, accuracy in rows:
            print(f"  epoch {epoch}: {seconds:6.1f} s trained, test accuracy {accuracy:.2%}")
        summary.append(("reference (tf-tutorial, model.fit)", first_hit(rows)))
    print(f"\ntime to >= {TARGET:.0%} MNIST test accuracy (load average now {os.getloadavg()[0]:.2f}):")
    for name, found in summary:
        text = f"{found[1]:.1f} s (epoch {found[0]}, {found[2]:.2%})" if found else "not reached"
        print(f"  {name:38} {text}")
    if summary[0][1] and len(summary) > 1 and summary[1][1]:
        print(f"  ratio reference / ours: {summary[1][1][1] / summary[0][1][1]:.2f}x")
    sys.exit(0 if hit and hit[1] <= 100 else 1)


if __name__ == "__main__":
    main()
