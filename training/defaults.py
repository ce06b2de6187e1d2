"""Recipes: the shipped default models, and the Train page's classroom demo.

``python -m training defaults [--dataset mnist|fashion-mnist]`` trains a default from its recipe below (its preset's
recommended settings) and writes the model and its metadata (settings, per-epoch history, test figures, wall time) into
``model_store/defaults/``.
"""

from __future__ import annotations

import platform

from training.settings import preset_settings
from training.trainer import TrainConfig

DEFAULT_NAMES = {"mnist": "convscope-digits", "fashion-mnist": "convscope-fashion"}

# A default model's recipe is its preset's recommended settings (training/presets.py), so that choosing the preset on
# the Train page trains the shipped model again; seed 1 is the seed the shipped models were trained with.
RECIPES = {dataset: preset_settings(preset, dataset, seed=1).with_recipe_extras()
           for dataset, preset in DEFAULT_NAMES.items()}


def classroom_demo(dataset: str = "mnist") -> TrainConfig:
    """Settings for a demo a class can watch to the end on a CPU, which still learns well
    (bench/classroom_demo.py times them on MNIST). Digits: the speedrun recipe on all 60,000 images (bench/speedrun.py),
    99% in about half a minute from Start; Fashion keeps the tutorial CNN on a subset, which ends sooner than its
    speedrun."""
    if dataset == "mnist":
        return TrainConfig(dataset=dataset, preset="convscope-speedrun", epochs=2, batch_size=256, optimizer="adam",
                           learning_rate=3e-2, validation_split=0.0, subset=60000, seed=0)
    return TrainConfig(dataset=dataset, preset="tf-tutorial", epochs=4, batch_size=64, optimizer="adam",
                       learning_rate=2e-3, validation_split=0.1, subset=20000, seed=0)


def train_default(dataset: str, data_dir=None, callbacks=(), out_dir=None):
    """Train one default model from its recipe and write it into the shipped defaults folder (a training whose loss
    went NaN raises ``check_finite``'s ``Refusal`` and leaves the folder as it was)."""
    import os

    from model_store.store import DEFAULTS_DIR, ModelStore
    from training import datasets
    from training.trainer import Trainer, check_finite, result_metadata, save_result

    data = datasets.load(dataset, data_dir)
    result = Trainer(RECIPES[dataset], data.train, data.test, callbacks).run()
    check_finite(result)  # before the shipped model is deleted: a NaN run keeps the old one
    meta = result_metadata(result)
    meta["source"] = "shipped-default"
    meta["command"] = f"python -m training defaults --dataset {dataset}"
    meta["machine"] = f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_version()}"
    store = ModelStore(user_dir=out_dir or DEFAULTS_DIR, defaults_dir="/nonexistent")
    name = DEFAULT_NAMES[dataset]
    if any(e.name == name for e in store.list()):
        store.delete(name)
    save_result(result, store, name, meta)
    return result
