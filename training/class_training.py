"""A training on a class dataset, as the Train page runs it: the same job, snapshot and live view as a preset's.

``ClassTrainConfig`` says which class dataset, and whether a stored model is fine-tuned on it or a new network (a
preset with one output per class) learns it from scratch; ``record_class_training`` runs ``fine_tune`` and tells it
as change records, like ``recorder.record_training``: the curves and probe maps while it learns, then the held-out
drawings as the run's evaluation (its confusion matrix and the drawings still misread) with the accuracy on them
before and after. ``record_run`` picks the right one for a config, in a server thread or in a training process.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from model_store.names import InvalidName, clean_name
from model_store.refusal import Refusal
from training import presets
from training.trainer import MAX_SEED, ConfigError, TrainConfig, check_finite

log = logging.getLogger(__name__)

MAX_EPOCHS = 50
SCRATCH_RECIPES = {  # a new network learns more than a fine-tuned one: more epochs, a higher learning rate
    "digits": dict(epochs=4, learning_rate=2e-3, mnist_images=12000, freeze_batchnorm=False),
    "custom": dict(epochs=10, learning_rate=2e-3, oversample=10, freeze_batchnorm=False),
}


@dataclass
class ClassTrainConfig:
    class_data: str  # the class dataset's name
    base_model: str | None = None  # the stored model to fine-tune; None: a new network from ``preset``
    preset: str = "tf-tutorial"  # the new network's architecture (from scratch only)
    epochs: int = 3  # all the epochs (fine-tuning new classes: the first trains the new head alone)
    seed: int = 0

    @property
    def from_scratch(self) -> bool:
        return self.base_model is None

    def validate(self) -> None:
        """Raise ``ConfigError`` (the trainer's codes) for the first setting that cannot be used."""
        try:
            clean_name(self.class_data)
        except InvalidName as exc:
            raise ConfigError("setting_not_one_of", "class_data", choices="-", value=self.class_data) from exc
        if self.from_scratch and self.preset not in presets.PRESETS:
            raise ConfigError("setting_not_one_of", "preset", choices=", ".join(presets.PRESETS), value=self.preset)
        for name, low, high in (("epochs", 1, MAX_EPOCHS), ("seed", 0, MAX_SEED)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError("setting_not_whole", name, value=value)
            if not low <= value <= high:
                raise ConfigError("setting_out_of_range", name, low=low, high=high, value=value)

    def to_dict(self) -> dict:
        return asdict(self)


def default_epochs(kind: str, from_scratch: bool) -> int:
    """The epochs each way of learning is measured with (bench/class_teaches.py): the recipes' own."""
    from training.fine_tune import RECIPES

    if from_scratch:
        return SCRATCH_RECIPES[kind]["epochs"]
    return RECIPES[kind].epochs + RECIPES[kind].head_epochs


def fine_tune_settings(config: ClassTrainConfig, kind: str) -> dict:
    """``fine_tune``'s settings for ``config`` on a class dataset of ``kind``: the recipe, with its epochs."""
    if config.from_scratch:
        return {**SCRATCH_RECIPES[kind], "kind": kind, "fresh": True, "head_epochs": 0, "epochs": config.epochs,
                "seed": config.seed}
    if kind == "custom":  # the first epoch trains the new head alone, on the stored base
        head = 1 if config.epochs > 1 else 0
        return {"kind": kind, "head_epochs": head, "epochs": config.epochs - head, "seed": config.seed}
    return {"kind": kind, "epochs": config.epochs, "seed": config.seed}


def fresh_model(preset: str, classes: int, seed: int = 0):
    """A new, untrained network of ``preset`` with one output per class (its last layer replaced when not ten)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = presets.build(preset)
    if classes == model.outputs[0].shape[-1]:
        return model
    body = model.layers[:-1]
    head = keras.layers.Dense(classes, activation="softmax", name=model.layers[-1].name)
    return keras.Sequential([keras.Input(tuple(model.inputs[0].shape[1:]), name="image"), *body, head],
                            name=model.name)


def record_class_training(config: ClassTrainConfig, send: Callable[[dict], None], stop: threading.Event,
                          load=None, probe_index: int = 0, store=None):
    """Fine-tune (or train from scratch) on the class dataset as ``config`` says, sending change records; returns
    ``(FineTuneResult or None, the ending record)`` as ``recorder.record_training`` does, every failure (too few
    drawings, a deleted dataset or model, a bug) ending as that record with a message."""
    from model_store.class_data import ClassDatasets
    from model_store.store import ModelStore
    from training.data_cache import load_dataset
    from training.fine_tune import fine_tune
    from training.recorder import Recorder
    from training.snapshot import ending

    load = load or load_dataset
    result = None
    try:
        store = store if store is not None else ModelStore()
        class_datasets = ClassDatasets(store.user_dir)
        info = class_datasets.require_ready(config.class_data)
        x, y = class_datasets.images(info.name)  # in memory now: deleting drawings cannot break this run
        classes = list(info.classes)
        model = fresh_model(config.preset, len(classes), config.seed) if config.from_scratch \
            else store.load(config.base_model)
        mnist = load("mnist") if info.kind == "digits" else None
        probe = x[min(probe_index, len(x) - 1)]
        send({"status": "running", "probe_image": probe, "class_names": classes})
        if stop.is_set():
            return None, ending("stopped", "stopped", "stopped before the training began")
        result = fine_tune(model, x, y, classes, mnist=mnist, callbacks=[Recorder(send, probe)], stop=stop,
                           **fine_tune_settings(config, info.kind))
        try:
            check_finite(result)
        except Refusal as refusal:  # NaN never ships: the run fails, and says why it cannot be saved
            return result, ending("failed", "nan", str(refusal), not_savable=(refusal.code, dict(refusal.values)))
        if result.heldout_size:
            send({"phase": "evaluating", "epoch_eta": None, "total_eta": None})
            send({"evaluation": heldout_evaluation(result, x, y, classes), "class_result": class_figures(result)})
        status = "stopped" if result.stop_reason == "stopped" else "finished"
        return result, ending(status, result.stop_reason if status == "stopped" else "finished", "",
                              result.best_epoch)
    except Refusal as exc:
        return result, ending("failed", "data", str(exc), failure=(exc.code, dict(exc.values)))
    except Exception as exc:
        log.exception("training on class data %s failed", config.class_data)
        return result, ending("failed", "error", f"{type(exc).__name__}: {exc}")
    finally:
        gc.collect()


def class_figures(result) -> dict:
    """What the results say above the confusion matrix: held-out accuracy before and after, MNIST's after."""
    return {"heldout_size": result.heldout_size, "heldout_before": result.heldout_before,
            "heldout_after": result.heldout_after, "mnist_after": result.mnist_after, "drawings": result.drawings,
            "kind": result.config.kind, "fresh": result.config.fresh}


def heldout_evaluation(result, x, y, classes):
    """The held-out drawings read by the trained model, as an ``Evaluation`` (the Train page's results read it)."""
    from model_store.scores import predict_probabilities, summarize
    from training.snapshot import Evaluation

    images, labels = x[result.heldout_index], np.asarray(y)[result.heldout_index].astype(np.int64)
    probs = predict_probabilities(result.model, images)
    report = summarize(probs, labels, classes)
    return Evaluation(accuracy=report["accuracy"], loss=report["loss"], confusion=np.asarray(report["confusion_matrix"]),
                      per_class_accuracy=report["per_class_accuracy"], predicted=report["predicted"],
                      confidence=probs.max(axis=1), images=images, labels=labels)


def record_run(config, send, stop, load=None, probe_index: int = 0):
    """The recording for either kind of config: a preset on a built-in dataset, or a class dataset."""
    from training.recorder import record_training

    if isinstance(config, ClassTrainConfig):
        return record_class_training(config, send, stop, load, probe_index)
    return record_training(config, send, stop, *([load] if load else []), probe_index=probe_index)


def config_from_dict(values: dict):
    """A config back from its ``to_dict`` (the training process gets it as JSON)."""
    return ClassTrainConfig(**values) if "class_data" in values else TrainConfig(**values)
