"""What our training machinery costs: the same preset on the same images, trained three ways in one process.

    CONVSCOPE_DATA=/work/shared/datasets python bench/training_overhead.py [--images 10000] [--epochs 2] [--repeats 3]

- plain:   the tutorial script: ``model.compile(...)``; ``model.fit(x, y, batch_size, epochs, validation_split)``
- trainer: ``training.trainer.Trainer.run()`` (tf.data pipeline, the Reporter callback, best-weights copy)
- job:     ``training.jobs.TrainingJob`` (the Trainer in a background thread, with the per-batch snapshot updates
           and the probe feature maps recorded after every epoch)
- process: the same job in a training process of its own, as the Train page runs it (``isolated=True``; every
           update also crosses a pipe; the fit time is measured inside that process, as for the others)

The figure compared is the wall time of ``fit`` itself (model building and the final test evaluation are left
out of all three); the runs are interleaved, and the medians and the fastest runs are printed with their ratios
to plain, and each variant's spread (slowest / fastest - 1) to show the machine's noise.
Target: trainer, job and process / plain <= 1.05.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_store.model_input import shaped, to_float  # noqa: E402
from training import datasets  # noqa: E402
from training.datasets import Dataset, Split  # noqa: E402
from training.trainer import TrainConfig, Trainer, split_train  # noqa: E402


def plain(config: TrainConfig, train: Split) -> float:
    import keras

    from training import presets

    keras.utils.set_random_seed(config.seed)
    (x, y), (xv, yv) = split_train(train, config)
    model = presets.build(config.preset)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x, xv = shaped(to_float(x), presets.INPUT_SHAPE), shaped(to_float(xv), presets.INPUT_SHAPE)
    start = time.perf_counter()
    model.fit(x, y, batch_size=config.batch_size, epochs=config.epochs, validation_data=(xv, yv), verbose=0)
    return time.perf_counter() - start


def trainer(config: TrainConfig, train: Split) -> float:
    return Trainer(config, train).run().seconds


def job(config: TrainConfig, train: Split, probe: Split) -> float:
    from training.jobs import TrainingJob

    data = Dataset("mnist", train, probe, "memory")
    run = TrainingJob(config, data_loader=lambda name: data).start()
    run.wait()
    snap = run.snapshot()
    assert snap.status == "finished" and len(snap.probes) == config.epochs + 1, snap.message
    return run.result.seconds


def process(config: TrainConfig, images: int) -> float:
    from dataclasses import replace

    from training.jobs import TrainingJob

    # The training process reads the data itself: the same number of images, drawn by the seed.
    run = TrainingJob(replace(config, subset=images), isolated=True).start()
    run.wait()
    snap = run.snapshot()
    assert snap.status == "finished" and len(snap.probes) == config.epochs + 1, snap.message
    return run.result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tf-tutorial")
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    data = datasets.load("mnist", allow_download=False)
    train = Split(data.train.images[: args.images], data.train.labels[: args.images])
    probe = Split(data.test.images[:200], data.test.labels[:200])  # the job evaluates on it after fit: kept small
    config = TrainConfig(preset=args.preset, epochs=args.epochs, batch_size=args.batch_size, validation_split=0.1, seed=0)
    print(f"{args.preset}, {args.images} MNIST images (10% validation), {args.epochs} epochs, batch {args.batch_size}, "
          f"{os.cpu_count()} CPU cores; fit wall time, {args.repeats} interleaved repeats")
    plain(TrainConfig(preset=args.preset, epochs=1, batch_size=args.batch_size), Split(train.images[:512], train.labels[:512]))
    times: dict[str, list[float]] = {"plain": [], "trainer": [], "job": [], "process": []}
    for repeat in range(args.repeats):
        for name, fn in (("plain", lambda: plain(config, train)), ("trainer", lambda: trainer(config, train)),
                         ("job", lambda: job(config, train, probe)), ("process", lambda: process(config, args.images))):
            seconds = fn()
            times[name].append(seconds)
            print(f"  run {repeat + 1} {name:8s} {seconds:7.2f} s", flush=True)
    # Medians, and the fastest run of each: on a shared 2-core machine a run is sometimes slowed by seconds from
    # outside (plain runs alone spread by 20%), and the fastest run is the one least disturbed.
    base, fastest = statistics.median(times["plain"]), min(times["plain"])
    print(f"{'variant':10s} {'median s':>9s} {'ratio':>7s} {'fastest s':>10s} {'ratio':>7s} {'spread':>7s}")
    for name, values in times.items():
        spread = (max(values) - min(values)) / min(values)
        print(f"{name:10s} {statistics.median(values):9.2f} {statistics.median(values) / base:7.3f} "
              f"{min(values):10.2f} {min(values) / fastest:7.3f} {spread:7.0%}")


if __name__ == "__main__":
    main()
