"""training.trainer: settings are checked, callbacks hear every batch and whole epoch, a stop ends within a batch,
NaN ends the run, best weights are kept, reruns with the same seed are identical. Every run is tiny."""

from __future__ import annotations

import json
import math

import keras
import numpy as np
import pytest

from model_store.model_input import shaped, to_float
from model_store.refusal import Refusal
from model_store.store import DEFAULTS_DIR
from tests.unit.unit_data import learnable_images, poisoned_build
from training import presets
from training.datasets import CLASS_NAMES, Split
from training.defaults import DEFAULT_NAMES, RECIPES
from training.settings import preset_settings
from training.trainer import (
    RECIPE_EXTRAS,
    ConfigError,
    TrainConfig,
    Trainer,
    TrainResult,
    check_finite,
    result_metadata,
    save_result,
    split_train,
)

BEGIN = ("epochs", "steps", "train_size", "val_size", "monitor")  # what the trainer tells its callbacks at the start


def model_input(images):
    return shaped(to_float(images), presets.INPUT_SHAPE)


class Recorder(keras.callbacks.Callback):
    """A callback that writes down everything it hears (epochs and batches from 1) and can act on a chosen batch."""

    def __init__(self, on_batch_action=None, keep_weights=True):
        super().__init__()
        self.begin, self.batches, self.epochs, self.ends = [], [], [], []
        self.weights = {}  # epoch -> weights when that epoch ended
        self.trainer = None
        self.on_batch_action = on_batch_action
        self.keep_weights = keep_weights
        self.epoch = 0

    def on_train_begin(self, logs=None):
        self.begin.append({key: self.params[key] for key in BEGIN})

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append((self.epoch, batch + 1, dict(logs)))
        if self.on_batch_action:
            self.on_batch_action(self, self.epoch, batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append((epoch + 1, dict(logs)))
        if self.keep_weights:
            self.weights[epoch + 1] = [w.copy() for w in self.model.get_weights()]

    def on_train_end(self, logs=None):
        self.ends.append([w.copy() for w in self.model.get_weights()])


def config(**changes) -> TrainConfig:
    settings = {"preset": "mlp-baseline", "epochs": 1, "batch_size": 32, "subset": 200, "seed": 0}
    settings.update(changes)
    return TrainConfig(**settings)


def run(train_split, test_split=None, callbacks=(), **changes) -> TrainResult:
    return Trainer(config(**changes), train_split, test_split, callbacks).run()


def same_weights(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


# ---- settings ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("changes", "message"), [
    ({"epochs": 0}, r"epochs must be at least 1 \(got 0\)"),
    ({"epochs": -3}, "epochs"),
    ({"epochs": 2.5}, r"epochs must be a whole number \(got 2.5\)"),
    ({"batch_size": 0}, "batch size must be at least 1"),
    ({"batch_size": 16.0}, "batch size"),
    ({"optimizer": "adagrad"}, "optimizer must be one of adam, adamw, sgd, rmsprop"),
    ({"optimizer": "Adam"}, "optimizer"),
    ({"patience": -1}, "patience must be at least 0"),
    ({"patience": 1.5}, "patience must be a whole number"),
    ({"subset": 0}, "training subset must be at least 1"),
    ({"subset": -10}, "subset"),
    ({"learning_rate": 0.0}, "learning rate"),
    ({"learning_rate": -1e-3}, "learning rate"),
    ({"learning_rate": 10.0}, "learning rate must be between 0 and 10"),
    ({"learning_rate": float("nan")}, "learning rate"),
    ({"learning_rate": float("inf")}, "learning rate"),
    ({"validation_split": 1.0}, "validation split"),
    ({"validation_split": -0.1}, "validation split"),
    ({"dataset": "cifar10"}, "dataset must be one of mnist, fashion-mnist"),
    ({"preset": "resnet50"}, "preset must be one of"),
    ({"seed": -1}, "seed must be at least 0"),
    ({"seed": 2**32}, "seed must be between 0 and 4294967295"),
])
def test_validate_refuses(changes, message):
    bad = TrainConfig(**changes)
    with pytest.raises(ConfigError, match=message):
        bad.validate()
    with pytest.raises(ConfigError):  # the trainer checks before it does anything
        Trainer(bad, Split(np.zeros((1, 28, 28), np.uint8), np.zeros(1, np.uint8)))


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_config_error_is_a_refusal_that_names_the_field():
    with pytest.raises(ConfigError) as info:
        TrainConfig(batch_size=0).validate()
    assert isinstance(info.value, Refusal) and info.value.code == "setting_too_small"
    assert info.value.values == {"setting": "batch size", "field": "batch_size", "low": 1, "value": 0}
    assert str(info.value) == "batch size must be at least 1 (got 0)"


@pytest.mark.parametrize("changes", [
    {}, {"epochs": 1, "batch_size": 1, "subset": 1}, {"learning_rate": 9.99, "optimizer": "sgd"},
    {"validation_split": 0.0, "patience": 0}, {"validation_split": 0.99, "patience": 5},
    {"dataset": "fashion-mnist", "preset": "convscope-fashion", "optimizer": "rmsprop"},
])
def test_validate_accepts(changes):
    TrainConfig(**changes).validate()


def test_shipped_recipes_and_preset_recommendations_are_valid():
    for dataset, recipe in RECIPES.items():
        recipe.validate()
        assert recipe.dataset == dataset and recipe.preset == DEFAULT_NAMES[dataset]
    for preset in presets.PRESETS.values():
        TrainConfig(preset=preset.name, **preset.recommended).validate()


@pytest.mark.parametrize("dataset", list(RECIPES))
def test_each_shipped_model_was_trained_by_its_recipe_which_its_preset_on_the_train_page_repeats(dataset):
    recipe = RECIPES[dataset]
    shipped = json.loads((DEFAULTS_DIR / f"{DEFAULT_NAMES[dataset]}.json").read_text())["hyperparameters"]
    # a model older than the recipe extras was trained without them
    assert TrainConfig(**{**RECIPE_EXTRAS, **shipped}) == recipe
    assert preset_settings(recipe.preset, dataset, seed=recipe.seed).with_recipe_extras() == recipe


def test_to_dict_round_trips():
    c = config(optimizer="rmsprop", cosine_decay=True)
    assert TrainConfig(**c.to_dict()) == c
    assert json.loads(json.dumps(c.to_dict())) == c.to_dict()


# ---- the data split ---------------------------------------------------------------------------------------
def test_split_train_subset_and_validation(train_split):
    (x_train, y_train), (x_val, y_val) = split_train(train_split, config(subset=100, validation_split=0.2))
    assert len(y_train) == 80 and len(y_val) == 20
    assert x_train.shape == (80, 28, 28) and x_val.shape == (20, 28, 28)
    # no image is in both, and all come from the split
    seen = {img.tobytes() for img in train_split.images}
    train_set, val_set = {i.tobytes() for i in x_train}, {i.tobytes() for i in x_val}
    assert not train_set & val_set and train_set | val_set <= seen
    # the same seed picks the same images; another seed others
    (again, _), _ = split_train(train_split, config(subset=100, validation_split=0.2))
    (other, _), _ = split_train(train_split, config(subset=100, validation_split=0.2, seed=1))
    assert np.array_equal(again, x_train) and not np.array_equal(other, x_train)


def test_split_train_never_leaves_training_empty(train_split):
    (x_train, _), (x_val, _) = split_train(train_split, config(subset=1, validation_split=0.9))
    assert len(x_train) == 1 and len(x_val) == 0
    (x_train, _), (x_val, _) = split_train(train_split, config(subset=None, validation_split=0.0))
    assert len(x_train) == len(train_split.labels) and len(x_val) == 0


# ---- a normal run --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def normal_run(train_split, test_split):
    recorder = Recorder()
    result = run(train_split, test_split, [recorder], epochs=2, batch_size=32, subset=200, validation_split=0.1)
    return recorder, result


def test_callbacks_hear_begin_batches_epochs_end(normal_run):
    recorder, result = normal_run
    assert recorder.begin == [{"epochs": 2, "steps": 6, "train_size": 180, "val_size": 20, "monitor": "val_loss"}]
    assert [(e, b) for e, b, _ in recorder.batches] == [(e, b) for e in (1, 2) for b in range(1, 7)]
    assert all(math.isfinite(logs["loss"]) and "accuracy" in logs for _, _, logs in recorder.batches)
    assert [e for e, _ in recorder.epochs] == [1, 2]
    for epoch, logs in recorder.epochs:
        assert {"loss", "accuracy", "val_loss", "val_accuracy", "epoch", "seconds"} <= set(logs)
        assert "learning_rate" not in logs and logs["epoch"] == epoch and logs["seconds"] >= 0
    assert len(recorder.ends) == 1 and same_weights(recorder.ends[0], result.model.get_weights())


def test_result_of_a_normal_run(normal_run, test_split):
    recorder, result = normal_run
    assert result.stop_reason == "finished"
    assert result.epochs_run == 2 and result.train_size == 180
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert result.history == [logs for _, logs in recorder.epochs]
    assert result.seconds > 0
    assert 0.0 <= result.test_accuracy <= 1.0 and result.test_loss > 0
    assert result.test_accuracy > 0.5  # the bars are easy: chance is 0.1
    val_losses = [h["val_loss"] for h in result.history]
    assert result.best_epoch == 1 + int(np.argmin(val_losses))


def test_best_epoch_weights_are_kept(normal_run):
    recorder, result = normal_run
    assert same_weights(result.model.get_weights(), recorder.weights[result.best_epoch])


def test_test_figures_match_an_evaluation(normal_run, test_split):
    from training.evaluate import evaluate

    _, result = normal_run
    report = evaluate(result.model, test_split, CLASS_NAMES["mnist"])
    assert report["accuracy"] == pytest.approx(result.test_accuracy, abs=1e-6)
    assert report["loss"] == pytest.approx(result.test_loss, rel=1e-3)


def test_result_metadata(normal_run):
    _, result = normal_run
    meta = result_metadata(result)
    expected = {"dataset", "class_names", "input_range", "layers", "params", "created_at", "tensorflow", "keras",
                "preset", "source", "hyperparameters", "history", "epochs_run", "best_epoch", "stop_reason",
                "train_size", "test_accuracy", "test_loss", "training_seconds"}
    assert expected <= set(meta)
    assert meta["dataset"] == "mnist" and meta["class_names"] == CLASS_NAMES["mnist"]
    assert meta["preset"] == "mlp-baseline" and meta["source"] == "convscope-trainer"
    assert meta["hyperparameters"] == result.config.to_dict()
    assert meta["history"] == result.history and meta["epochs_run"] == 2
    assert meta["stop_reason"] == "finished" and meta["best_epoch"] == result.best_epoch
    assert meta["train_size"] == 180 and meta["test_accuracy"] == result.test_accuracy
    assert meta["params"] == result.model.count_params() == 784 * 512 + 512 + 512 * 10 + 10
    assert [row["name"] for row in meta["layers"]] == ["flatten", "dense", "probabilities"]
    assert meta["layers"][1] == {"name": "dense", "type": "Dense", "output_shape": "(None, 512)",
                                 "params": 784 * 512 + 512}
    assert meta["input_range"] == [0.0, 1.0]
    json.dumps(meta, allow_nan=False)  # the store writes it as JSON


def test_a_trained_model_round_trips_through_the_store(normal_run, store, test_split):
    from training.evaluate import evaluate

    _, result = normal_run
    entry = store.save(result.model, result_metadata(result), "trained")
    assert entry.test_accuracy == result.test_accuracy and entry.meta["history"] == result.history
    loaded = store.load("trained")
    x = model_input(test_split.images[:8])
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(result.model(x)), atol=1e-5)
    assert evaluate(loaded, test_split, CLASS_NAMES["mnist"])["accuracy"] == pytest.approx(result.test_accuracy,
                                                                                          abs=1e-6)


# ---- stopping ----------------------------------------------------------------------------------------------
def test_a_stop_from_a_callback_ends_within_one_batch(train_split, test_split):
    asked_at = []

    def stop_at_epoch_2_batch_3(recorder, epoch, batch):
        if (epoch, batch) == (2, 3):
            asked_at.append(len(recorder.batches))
            recorder.trainer.stop.set()
        if epoch == 2:  # the weights of the unfinished epoch, to see that they are not the ones kept
            recorder.partial = [w.copy() for w in recorder.model.get_weights()]

    recorder = Recorder(stop_at_epoch_2_batch_3)
    trainer = Trainer(config(epochs=4, batch_size=16, validation_split=0.0), train_split, test_split, [recorder])
    recorder.trainer = trainer
    result = trainer.run()
    assert trainer.stop.is_set()
    assert asked_at, "the callback never reached epoch 2, batch 3"
    assert len(recorder.batches) - asked_at[0] <= 1, "more than one batch ran after the stop request"
    assert recorder.batches[-1][:2] in ((2, 3), (2, 4))
    assert result.stop_reason == "stopped"
    assert [e for e, _ in recorder.epochs] == [1]  # the cut epoch is not reported as a whole one
    assert result.epochs_run == 1 and result.best_epoch == 1
    assert same_weights(result.model.get_weights(), recorder.weights[1])
    assert not same_weights(recorder.partial, recorder.weights[1])
    assert len(recorder.ends) == 1 and same_weights(recorder.ends[0], recorder.weights[1])
    assert result.test_accuracy is not None  # a stopped run is still evaluated


def test_stop_requested_before_the_first_batch(train_split):
    recorder = Recorder()
    trainer = Trainer(config(epochs=3, batch_size=16), train_split, None, [recorder])
    trainer.stop.set()
    result = trainer.run()
    assert result.stop_reason == "stopped"
    assert [(e, b) for e, b, _ in recorder.batches] == [(1, 1)]
    assert result.history == [] and result.best_epoch is None
    assert result.test_accuracy is None  # no test split given


def test_nan_loss_stops_the_run(train_split, test_split):
    """Poison the output layer before the first batch: the loss is NaN at once and the run ends with 'nan'."""

    class Poison(Recorder):
        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            layer = self.model.get_layer("probabilities")
            layer.kernel.assign(np.full(layer.kernel.shape, np.nan, np.float32))

    recorder = Poison()
    result = Trainer(config(epochs=3, batch_size=16), train_split, test_split, [recorder]).run()
    assert result.stop_reason == "nan"
    assert [(e, b) for e, b, _ in recorder.batches] == [(1, 1)]
    assert math.isnan(recorder.batches[0][2]["loss"])
    assert result.history == [] and recorder.epochs == [] and result.best_epoch is None
    assert result.test_accuracy is None and result.test_loss is None  # a NaN model is not evaluated
    assert len(recorder.ends) == 1
    assert result_metadata(result)["stop_reason"] == "nan"


# ---- NaN never ships ---------------------------------------------------------------------------------------
def test_a_nan_loss_is_refused_at_save_and_nothing_is_written(train_split, test_split, store, monkeypatch):
    monkeypatch.setattr(presets, "build", poisoned_build(presets.build))
    result = run(train_split, test_split, epochs=3, batch_size=16)
    assert (result.stop_reason, result.non_finite_epoch, result.epochs_run) == ("nan", 1, 0)
    with pytest.raises(Refusal) as info:
        check_finite(result)
    assert info.value.code == "training_not_finite" and info.value.values == {"epoch": 1}
    assert "the loss became NaN or infinite (not a number) in epoch 1" in str(info.value)
    with pytest.raises(Refusal, match="cannot be saved"):
        save_result(result, store, "nan-run")
    assert store.list() == []


def test_nan_in_the_data_leaves_a_finite_loss_but_nan_weights_and_is_refused(train_split, store):
    """One NaN pixel per image: where ReLU swallows the NaN (TensorFlow's fused CPU kernels on some processors) the
    loss stays at chance, finite, for the whole run, while the first layer's weights become NaN: only the weights
    tell. Elsewhere the loss goes NaN and stops the run. Either way such a model must not ship."""
    images = train_split.images.astype(np.float32)
    images[:, 0, 0] = np.nan
    result = run(Split(images, train_split.labels), None, epochs=2, batch_size=16, validation_split=0.0)
    with pytest.raises(Refusal) as info:
        save_result(result, store, "nan-weights")
    if result.stop_reason == "finished":
        assert all(math.isfinite(h["loss"]) for h in result.history)
        assert info.value.code == "training_weights_not_finite" and info.value.values == {"layer": "dense"}
    else:
        assert result.stop_reason == "nan" and info.value.code == "training_not_finite"
    assert store.list() == []


def test_a_validation_loss_that_goes_nan_ends_the_run_after_that_epoch(train_split):
    """The weights go NaN after the last batch of epoch 1 (its training loss was finite): the epoch's val_loss is
    NaN, and the run stops there (not two more epochs), with that epoch named."""
    def poison_after_the_last_batch(recorder, epoch, batch):
        if (epoch, batch) == (1, 6):
            kernel = recorder.model.get_layer("probabilities").kernel
            kernel.assign(np.full(kernel.shape, np.nan, np.float32))

    recorder = Recorder(poison_after_the_last_batch)
    result = Trainer(config(epochs=3, batch_size=32, subset=200, validation_split=0.1), train_split, None, [recorder]).run()
    assert recorder.begin[0]["steps"] == 6
    assert all(math.isfinite(logs["loss"]) for _, _, logs in recorder.batches)
    assert result.stop_reason == "nan" and result.epochs_run == 1 and math.isnan(result.history[0]["val_loss"])
    assert result.non_finite_epoch == 1 and len(recorder.batches) == 6
    with pytest.raises(Refusal, match="in epoch 1"):
        check_finite(result)


def test_weights_that_hold_infinity_are_refused_even_with_a_finite_loss(tiny_model):
    """An output unit with a -inf bias gets probability 0 and the other nine stay finite, but such a model must
    not ship."""
    import keras

    model = keras.models.clone_model(tiny_model)
    model.set_weights(tiny_model.get_weights())
    history = [{"epoch": 1, "loss": 0.5, "accuracy": 0.9}]
    check_finite(TrainResult(config=config(), model=model, history=history))  # all finite: no refusal
    bias = model.get_layer("probabilities").bias
    bias.assign(np.where(np.arange(10) == 3, -np.inf, np.asarray(bias)).astype(np.float32))
    with pytest.raises(Refusal) as info:
        check_finite(TrainResult(config=config(), model=model, history=history))
    assert info.value.code == "training_weights_not_finite" and info.value.values == {"layer": "probabilities"}


@pytest.mark.parametrize("history", [
    [{"epoch": 1, "loss": 0.4}, {"epoch": 2, "loss": float("inf")}],
    [{"epoch": 1, "loss": 0.4, "val_loss": 0.3}, {"epoch": 2, "loss": 0.3, "val_loss": float("nan")}],
])
def test_a_history_with_a_non_finite_loss_is_refused_naming_its_epoch(history):
    """Judged by its numbers alone (no model in memory, as for a training process' result)."""
    with pytest.raises(Refusal) as info:
        check_finite(TrainResult(config=config(), model=None, history=history))
    assert (info.value.code, info.value.values) == ("training_not_finite", {"epoch": 2})


def test_save_result_saves_a_finite_run(normal_run, store):
    _, result = normal_run
    entry = save_result(result, store, "finite")
    assert entry.name == "finite" and entry.meta["history"] == result.history


def test_train_default_refuses_a_nan_run_and_keeps_the_shipped_model(tmp_path, monkeypatch, tiny_model):
    from model_store.store import ModelStore
    from tests.unit.unit_data import meta_for, write_dataset
    from training.defaults import DEFAULT_NAMES, train_default

    write_dataset(tmp_path / "data" / "mnist", n_train=64, n_test=16)
    shipped = tmp_path / "defaults"
    ModelStore(user_dir=shipped, defaults_dir=tmp_path / "none").save(tiny_model, meta_for("mnist"), DEFAULT_NAMES["mnist"])
    before = sorted(p.name for p in shipped.iterdir())
    monkeypatch.setattr(presets, "build", poisoned_build(presets.build))
    with pytest.raises(Refusal, match="cannot be saved"):
        train_default("mnist", str(tmp_path / "data"), out_dir=shipped)
    assert sorted(p.name for p in shipped.iterdir()) == before  # the shipped model was not deleted


def test_early_stopping_is_reported(train_split, monkeypatch):
    """EarlyStopping that fires after the first epoch: fewer epochs than asked, reason 'early-stopping'."""
    import keras

    class StopAfterFirst(keras.callbacks.Callback):
        def __init__(self, *args, **kwargs):
            super().__init__()

        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    monkeypatch.setattr(keras.callbacks, "EarlyStopping", StopAfterFirst)
    result = run(train_split, None, epochs=3, patience=1)
    assert result.stop_reason == "early-stopping" and result.epochs_run == 1


# ---- odd sizes ---------------------------------------------------------------------------------------------
def test_batch_larger_than_the_data(train_split):
    recorder = Recorder()
    result = run(train_split, None, [recorder], subset=50, batch_size=512, validation_split=0.0, epochs=2)
    assert recorder.begin[0]["steps"] == 1 and recorder.begin[0]["train_size"] == 50
    assert [(e, b) for e, b, _ in recorder.batches] == [(1, 1), (2, 1)]
    assert result.stop_reason == "finished" and result.epochs_run == 2


def test_subset_of_one_image(train_split, test_split):
    recorder = Recorder()
    result = run(train_split, test_split, [recorder], subset=1, batch_size=8, validation_split=0.1)
    assert recorder.begin[0] == {"epochs": 1, "steps": 1, "train_size": 1, "val_size": 0, "monitor": "loss"}
    assert result.train_size == 1 and result.epochs_run == 1 and result.best_epoch == 1
    assert "val_loss" not in result.history[0]
    assert result.test_accuracy is not None


def test_conv_preset_with_augmentation_and_cosine_decay(train_split, test_split):
    result = run(train_split, test_split, preset="tf-tutorial", subset=64, batch_size=32, augment=True,
                 cosine_decay=True, optimizer="adamw", validation_split=0.25)
    assert result.stop_reason == "finished" and result.train_size == 48
    assert math.isfinite(result.history[0]["loss"]) and math.isfinite(result.test_loss)


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_other_optimizers_train(train_split, optimizer):
    result = run(train_split, None, optimizer=optimizer, subset=64, validation_split=0.0,
                 learning_rate=0.05 if optimizer == "sgd" else 1e-3)
    assert result.stop_reason == "finished" and math.isfinite(result.history[0]["loss"])


def test_fashion_dataset_with_fashion_augmentation(train_split):
    result = run(train_split, None, dataset="fashion-mnist", augment=True, subset=64, validation_split=0.0)
    assert result.stop_reason == "finished"
    assert result_metadata(result)["class_names"] == CLASS_NAMES["fashion-mnist"]


# ---- reproducibility ---------------------------------------------------------------------------------------
@pytest.fixture
def restore_op_determinism():
    """deterministic=True switches TensorFlow's op determinism on for the whole process; switch it back off."""
    from tensorflow.python.framework import config as tf_config

    was_on = tf_config.is_op_determinism_enabled()
    yield
    if not was_on:
        tf_config.disable_op_determinism()


def without_time(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def test_same_seed_gives_identical_history(train_split, restore_op_determinism):
    settings = {"epochs": 2, "subset": 120, "batch_size": 16, "deterministic": True}
    first = run(train_split, None, **settings)
    second = run(train_split, None, **settings)
    other = run(train_split, None, **{**settings, "seed": 1})
    assert without_time(first.history) == without_time(second.history)
    assert same_weights(first.model.get_weights(), second.model.get_weights())
    assert without_time(other.history) != without_time(first.history)


# ---- augmentation and presets ------------------------------------------------------------------------------
@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_augmenters_keep_shape_and_range(dataset):
    from training.augment import AUGMENTERS

    images = model_input(learnable_images(8, seed=2)[0])
    augmented = np.asarray(AUGMENTERS[dataset](seed=3)(images))
    assert augmented.shape == images.shape and augmented.dtype == np.float32
    assert augmented.min() >= -1e-6 and augmented.max() <= 1.0 + 1e-6
    assert not np.allclose(augmented, images)


def test_stroke_thickness_thickens_and_thins():
    import tensorflow as tf

    from training.augment import stroke_thickness

    image = np.zeros((64, 28, 28, 1), np.float32)
    image[:, 10:18, 13:15] = 1.0  # a two pixel wide stroke
    out = np.asarray(stroke_thickness(tf.constant(image), seed=5))
    ink = (out > 0.5).reshape(64, -1).sum(axis=1)
    original = (image > 0.5).reshape(64, -1).sum(axis=1)
    assert (ink > original).any() and (ink < original).any()
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_outlined_draws_a_stroke_as_two_lines_with_a_gap_and_only_for_its_share():
    import tensorflow as tf

    from training.augment import outlined

    image = np.zeros((400, 28, 28, 1), np.float32)
    image[:, 6:22, 12:15] = 1.0  # a vertical stroke three pixels wide
    out = np.asarray(outlined(tf.constant(image), seed=1, share=0.25))
    changed = ~np.isclose(out, image).reshape(400, -1).all(axis=1)
    assert 0.15 < changed.mean() < 0.35  # about its share of the batch
    hollow = out[changed][0, 14, :, 0]  # a row across the stroke's middle
    assert hollow[11] == 1.0 and hollow[15] == 1.0  # its two outlines, a pixel outside the old stroke's edges
    assert (hollow[12:15] == 0.0).all() and hollow[:11].max() == 0.0 and hollow[16:].max() == 0.0  # paper between
    assert np.array_equal(np.asarray(outlined(tf.constant(image), seed=1, share=0.0)), image)


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_every_preset_builds_a_28x28_to_10_softmax(name):
    model = presets.build(name)
    assert tuple(model.inputs[0].shape) == (None, 28, 28, 1)
    assert tuple(model.outputs[0].shape) == (None, 10)
    probs = np.asarray(model(np.random.default_rng(0).random((2, 28, 28, 1)).astype(np.float32)))
    np.testing.assert_allclose(probs.sum(axis=1), [1.0, 1.0], atol=1e-5)
    assert model.layers[-1].name == "probabilities"


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset 'vgg19'; choose one of tf-tutorial"):
        presets.build("vgg19")
