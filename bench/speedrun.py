"""Training speedrun: time to >= 99.0% MNIST test accuracy (92% Fashion-MNIST), as a mean over several seeds.

    CONVSCOPE_DATA=/work/shared/datasets python bench/speedrun.py [--dataset mnist|fashion-mnist] [--runs 5]
        [--no-reference] [--ablation [--only TEXT]] [--overhead] [--tta] [--set key=value ...]

The recipe is the ``convscope-speedrun`` preset (``convscope-speedrun-fashion``) with its recommended settings, trained
through our ``Trainer`` for its fixed number of epochs, once per seed (0, 1, ...). The figure is the mean training
time of those runs (``Trainer``'s own clock: ``model.fit``, model building and data loading left out) and the mean
test accuracy at the end, which must be >= the target: a single lucky seed is not evidence. The test set is read
after training, off the clock; ``--tta`` adds test-time augmentation (the mean of the predictions for the image and
for it shifted by one pixel each way), reported beside the plain accuracy, never in its place.

The reference, in the same process and with the same clock: the TensorFlow tutorial's CNN as its own script does it
(``tf-tutorial`` preset, ``model.fit`` batch 32, Adam 1e-3), epoch by epoch until its test accuracy reaches the
target; the ratio is its time / ours. ``--ablation`` trains the recipe with one change undone at a time (each over
``--runs`` seeds, interleaved) and prints one row per change; ``--overhead`` times the recipe through our ``Trainer``
with the Train page's ``Recorder`` against a bare ``model.fit`` of it. The last line printed is one JSON object.
Targets (issue 19): MNIST mean >= 99.0% in <= 15 s and >= 3x the reference; Fashion-MNIST mean >= 92% in <= 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from model_store.model_input import shaped, to_float  # noqa: E402
from training import datasets, presets  # noqa: E402
from training.settings import preset_settings  # noqa: E402
from training.trainer import TrainConfig, Trainer  # noqa: E402

RECIPES = {"mnist": ("convscope-speedrun", 0.99), "fashion-mnist": ("convscope-speedrun-fashion", 0.92)}


def as_input(images):
    return shaped(to_float(images), presets.INPUT_SHAPE)


def accuracy(model, images, labels, tta: bool = False) -> float:
    """Test accuracy; with ``tta`` the mean prediction over the image and its four one-pixel shifts."""
    x = as_input(images)
    probs = model.predict(x, batch_size=2000, verbose=0)
    if tta:
        for axis, step in ((1, 1), (1, -1), (2, 1), (2, -1)):
            probs = probs + model.predict(np.roll(x, step, axis=axis), batch_size=2000, verbose=0)
    return float((probs.argmax(1) == labels).mean())


def train_once(config: TrainConfig, data, tta: bool) -> dict:
    """One training; ``cpu_seconds`` (all of this process' threads, building the model included: the reference's
    counts its fits only) says what the run cost whatever else the machine did: its wall-clock time varies with the
    host's load, its CPU time less."""
    cpu = time.process_time()
    result = Trainer(config, data.train).run()
    cpu = time.process_time() - cpu
    return {"seed": config.seed, "seconds": result.seconds, "cpu_seconds": cpu,
            "accuracy": accuracy(result.model, *test_arrays(data)),
            "tta_accuracy": accuracy(result.model, *test_arrays(data), tta=True) if tta else None}


def warm_up(recipe: TrainConfig, data) -> None:
    """One short training, untimed, before any timed one: the first training in a process also pays TensorFlow's
    one-time start (its kernels and thread pools set up, ~4 s of CPU here), which the seeds after it, and the
    reference run after them, do not."""
    few = datasets.Split(data.train.images[:2048], data.train.labels[:2048])
    Trainer(replace(recipe, epochs=1, seed=0), few).run()


def test_arrays(data):
    return data.test.images, data.test.labels


def summarize(rows: list[dict]) -> dict:
    accs = [r["accuracy"] for r in rows]
    tta = [r["tta_accuracy"] for r in rows if r["tta_accuracy"] is not None]
    return {"seconds": statistics.mean(r["seconds"] for r in rows), "median_seconds": statistics.median(
                r["seconds"] for r in rows), "cpu_seconds": statistics.mean(r["cpu_seconds"] for r in rows),
            "mean_accuracy": statistics.mean(accs),
            "min_accuracy": min(accs), "max_accuracy": max(accs), "runs": len(rows),
            "mean_tta_accuracy": statistics.mean(tta) if tta else None}


def reference(data, target: float, max_epochs: int = 10) -> tuple[float | None, float, float, int]:
    """The tutorial's own ``model.fit`` (batch 32, Adam 1e-3), epoch by epoch until it reaches ``target``."""
    import keras

    keras.utils.set_random_seed(0)
    model = presets.build("tf-tutorial")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = as_input(data.train.images), data.train.labels
    trained, cpu, acc = 0.0, 0.0, 0.0
    for epoch in range(1, max_epochs + 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        trained += time.perf_counter() - start
        cpu += time.process_time() - cpu_start
        acc = accuracy(model, *test_arrays(data))
        print(f"  reference epoch {epoch}: {trained:6.1f} s trained ({cpu:5.1f} s CPU), test accuracy {acc:.2%} "
              f"(load {os.getloadavg()[0]:.2f})", flush=True)
        if acc >= target:
            return trained, cpu, acc, epoch
    return None, cpu, acc, max_epochs


# One change of the recipe undone per row (the recipe's own value -> the one it replaced).
ABLATIONS = {
    "mnist": [
        ("recipe (convscope-speedrun)", {}),
        ("one-cycle -> constant learning rate", {"one_cycle": False}),
        ("one-cycle -> cosine decay, no warm-up", {"one_cycle": False, "cosine_decay": True}),
        ("BatchNorm momentum 0.9 -> Keras' 0.99", {"preset": "speedrun-bn-0.99"}),
        ("width 16-32-32 -> 32-64-64", {"preset": "speedrun-width-32"}),
        ("batch 256 -> 128", {"batch_size": 128}),
        ("batch 256 -> 384, learning rate 3.5e-2", {"batch_size": 384, "learning_rate": 3.5e-2}),
        ("batch 256 -> 512, learning rate 4e-2", {"batch_size": 512, "learning_rate": 4e-2}),
        ("learning rate 3e-2 -> 1e-2", {"learning_rate": 1e-2}),
        ("learning rate 3e-2 -> 3e-3 (convscope-fast's)", {"learning_rate": 3e-3}),
        ("strided convolutions -> 2x2 max pooling", {"preset": "speedrun-pooled"}),
        ("2 epochs -> 1", {"epochs": 1}),
        ("label smoothing 0.1 -> none", {"label_smoothing": 0.0}),
        ("+ weight averaging (EMA 0.99)", {"weight_averaging": 0.99}),
        ("first layer 3x3 -> 5x5 (the previous recipe's)", {"preset": "speedrun-first-5x5"}),
    ],
    "fashion-mnist": [
        ("recipe (convscope-speedrun-fashion)", {}),
        ("first layer 24 3x3 -> 32 5x5 (the previous recipe's)", {"preset": "speedrun-fashion-first-32-5x5"}),
        ("first layer 24 -> 16 filters", {"preset": "speedrun-fashion-first-16"}),
        ("label smoothing 0.1 -> none", {"label_smoothing": 0.0}),
        ("one-cycle -> cosine decay, no warm-up", {"one_cycle": False, "cosine_decay": True}),
        ("6 epochs -> 5", {"epochs": 5}),
    ],
}


def register_variants() -> None:
    """Architecture variants for the ablation, as presets of this process only, each recommending what the speedrun
    preset it varies recommends."""
    variants = {"speedrun-bn-0.99": ("convscope-speedrun", dict(bn_momentum=0.99)),
                "speedrun-width-32": ("convscope-speedrun", dict(width=32)),
                "speedrun-pooled": ("convscope-speedrun", dict(pooled=True)),
                "speedrun-first-5x5": ("convscope-speedrun", dict(first_kernel=5)),
                "speedrun-fashion-first-32-5x5": ("convscope-speedrun-fashion", dict(width=32, first_kernel=5)),
                "speedrun-fashion-first-16": ("convscope-speedrun-fashion", dict(width=32, first_width=16))}
    for name, (base, kwargs) in variants.items():
        presets.PRESETS[name] = presets.Preset(
            name, lambda kw=kwargs: presets.convscope_speedrun(**kw), presets.PRESETS[base].recommended)


def bare_fit(config: TrainConfig, data) -> float:
    """The recipe as a plain script: the same model, loss and schedule, ``model.fit`` on arrays, no callbacks."""
    import keras

    from training.trainer import learning_rate_schedule

    keras.utils.set_random_seed(config.seed)
    model = presets.build(config.preset)
    steps = -(-len(data.train.labels) // config.batch_size)
    loss = (keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing) if config.label_smoothing
            else "sparse_categorical_crossentropy")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule(config, steps * config.epochs)), loss=loss,
                  metrics=["accuracy"])
    x, y = as_input(data.train.images), data.train.labels.astype(np.int32)
    if config.label_smoothing:
        y = np.eye(10, dtype=np.float32)[y]
    start = time.perf_counter()
    model.fit(x, y, batch_size=config.batch_size, epochs=config.epochs, verbose=0)
    return time.perf_counter() - start


def with_recorder(config: TrainConfig, data) -> float:
    """The recipe as the Train page trains it: our Trainer with the Recorder (per-batch curve, epochs, probe maps)."""
    from training.recorder import Recorder

    records = []
    recorder = Recorder(records.append, probe_image=data.test.images[0])
    result = Trainer(config, data.train, callbacks=[recorder]).run()
    assert any("probes" in r for r in records)
    return result.seconds


def overhead(recipe: TrainConfig, data, runs: int) -> dict:
    """Trainer + Recorder vs a bare ``model.fit``, interleaved, ``runs`` each; medians and fastest runs."""
    times = {"bare model.fit": [], "Trainer + Recorder": []}
    for seed in range(runs):
        for name, fn in (("bare model.fit", bare_fit), ("Trainer + Recorder", with_recorder)):
            times[name].append(fn(replace(recipe, seed=seed), data))
            print(f"  seed {seed} {name:20s} {times[name][-1]:6.1f} s (load {os.getloadavg()[0]:.2f})", flush=True)
    bare, ours = times["bare model.fit"], times["Trainer + Recorder"]
    return {"overhead_median": round(statistics.median(ours) / statistics.median(bare), 3),
            "overhead_fastest": round(min(ours) / min(bare), 3), "bare_median_seconds": round(statistics.median(bare), 2),
            "trainer_median_seconds": round(statistics.median(ours), 2)}


def parse_overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        out[key] = json.loads(value) if value not in ("True", "False") else value == "True"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist", choices=sorted(RECIPES))
    parser.add_argument("--runs", type=int, default=5, help="seeds 0..runs-1")
    parser.add_argument("--no-reference", action="store_true", help="skip the tutorial's run (quick checks)")
    parser.add_argument("--ablation", action="store_true", help="one row per change of the recipe")
    parser.add_argument("--overhead", action="store_true",
                        help="instead: Trainer + Recorder vs a bare model.fit of the recipe (target <= 1.05)")
    parser.add_argument("--tta", action="store_true", help="also report accuracy with test-time augmentation")
    parser.add_argument("--only", metavar="TEXT", help="with --ablation: the recipe and the rows whose change names TEXT")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override a recipe setting")
    args = parser.parse_args()

    preset, target = RECIPES[args.dataset]
    register_variants()
    data = datasets.load(args.dataset)
    recipe = replace(preset_settings(preset, args.dataset), **parse_overrides(args.set))
    print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f}; recipe: {recipe}", flush=True)
    if args.overhead:
        print(json.dumps({"dataset": args.dataset, "preset": preset, **overhead(recipe, data, args.runs),
                          "runs": args.runs, "load_average": round(os.getloadavg()[0], 2)}))
        return
    rows = ABLATIONS.get(args.dataset, [])[: None if args.ablation else 1] or [("recipe", {})]
    if args.only:
        rows = rows[:1] + [row for row in rows[1:] if args.only in row[0]]
    warm_up(recipe, data)
    results: dict[str, list[dict]] = {name: [] for name, _ in rows}
    for seed in range(args.runs):  # interleaved: the machine's noise falls on every row alike
        for name, change in rows:
            run = train_once(replace(recipe, **change, seed=seed), data, args.tta)
            results[name].append(run)
            tta = f", with TTA {run['tta_accuracy']:.2%}" if run["tta_accuracy"] is not None else ""
            print(f"  seed {seed} {name:46s} {run['seconds']:6.1f} s ({run['cpu_seconds']:5.1f} s CPU)  test "
                  f"{run['accuracy']:.2%}{tta} "
                  f"(load {os.getloadavg()[0]:.2f})", flush=True)
    if args.ablation:
        print(f"\n| change | training s (mean of {args.runs}) | CPU s (mean) | mean test accuracy | min-max | with TTA | "
              f"reaches {target:.0%} mean |\n| --- | --- | --- | --- | --- | --- | --- |")
        for name, _ in rows:
            s = summarize(results[name])
            tta = f"{s['mean_tta_accuracy']:.2%}" if s["mean_tta_accuracy"] is not None else "-"
            print(f"| {name} | {s['seconds']:.1f} | {s['cpu_seconds']:.1f} | {s['mean_accuracy']:.2%} | {s['min_accuracy']:.2%}-"
                  f"{s['max_accuracy']:.2%} | {tta} | {'yes' if s['mean_accuracy'] >= target else 'no'} |")
    summary = summarize(results[rows[0][0]])
    out = {"dataset": args.dataset, "preset": preset, "seconds": round(summary["seconds"], 2),
           "median_seconds": round(summary["median_seconds"], 2), "cpu_seconds": round(summary["cpu_seconds"], 2),
           "mean_accuracy": round(summary["mean_accuracy"], 4), "min_accuracy": round(summary["min_accuracy"], 4),
           "runs": summary["runs"], "target": target, "reached": summary["mean_accuracy"] >= target}
    if summary["mean_tta_accuracy"] is not None:
        out["mean_tta_accuracy"] = round(summary["mean_tta_accuracy"], 4)
    if not args.no_reference:
        seconds, cpu, acc, epochs = reference(data, target)
        out.update(reference_seconds=round(seconds, 2) if seconds else None, reference_accuracy=round(acc, 4),
                   reference_epochs=epochs, ratio=round(seconds / summary["seconds"], 2) if seconds else None,
                   reference_cpu_seconds=round(cpu, 2), cpu_ratio=round(cpu / summary["cpu_seconds"], 2) if seconds
                   else None)
    out["load_average"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
