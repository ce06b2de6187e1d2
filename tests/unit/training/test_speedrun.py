"""The speedrun recipes' settings (one-cycle schedule, label smoothing, weight averaging), the presets that use them,
and the in-memory batch pipeline. Tiny data; every run takes seconds."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from model_store.model_input import shaped, to_float
from tests.unit.unit_data import learnable_images
from training import presets
from training.datasets import Split
from training.settings import preset_settings
from training.trainer import RECIPE_EXTRAS, ConfigError, TrainConfig, Trainer, learning_rate_schedule


def tiny(n: int = 256, seed: int = 0) -> Split:
    return Split(*learnable_images(n, seed))


def lr_at(schedule, step: int) -> float:
    return float(schedule(step)) if callable(schedule) else float(schedule)


def test_one_cycle_warms_up_to_the_peak_then_falls_to_zero_at_the_last_step():
    schedule = learning_rate_schedule(TrainConfig(learning_rate=0.01, one_cycle=True), total_steps=100)
    assert lr_at(schedule, 0) == pytest.approx(0.001)  # a tenth of the peak
    assert lr_at(schedule, 10) == pytest.approx(0.0055, rel=1e-3)  # half way up, linearly
    assert lr_at(schedule, 20) == pytest.approx(0.01)  # the peak at 20% of the steps
    assert lr_at(schedule, 60) == pytest.approx(0.005, rel=1e-3)  # half way down the cosine
    assert lr_at(schedule, 100) == pytest.approx(0.0, abs=1e-9)
    assert all(lr_at(schedule, s) >= lr_at(schedule, s + 10) for s in range(20, 100, 10))


def test_without_one_cycle_the_schedules_are_as_before():
    assert learning_rate_schedule(TrainConfig(learning_rate=0.002), 100) == 0.002
    cosine = learning_rate_schedule(TrainConfig(learning_rate=0.002, cosine_decay=True), 100)
    assert lr_at(cosine, 0) == pytest.approx(0.002) and lr_at(cosine, 100) == pytest.approx(0.002 * 0.01)
    # one-cycle wins over cosine decay when both are asked for (the page's cosine box stays as the preset set it)
    both = learning_rate_schedule(TrainConfig(learning_rate=0.002, cosine_decay=True, one_cycle=True), 100)
    assert lr_at(both, 0) == pytest.approx(0.0002)


@pytest.mark.parametrize("field, value", [
    ("label_smoothing", 1.0), ("label_smoothing", -0.1), ("label_smoothing", True), ("label_smoothing", "0.1"),
    ("weight_averaging", 1.0), ("weight_averaging", float("nan")), ("one_cycle", 1), ("one_cycle", "yes"),
])
def test_recipe_settings_out_of_range_are_refused(field, value):
    with pytest.raises(ConfigError) as caught:
        TrainConfig(**{field: value}).validate()
    assert caught.value.values["field"] == field


def test_unset_recipe_settings_come_from_the_preset_and_are_off_for_the_older_presets():
    speedrun = TrainConfig(preset="convscope-speedrun").with_recipe_extras()
    assert speedrun.one_cycle is True
    assert TrainConfig(preset="convscope-speedrun", one_cycle=False).with_recipe_extras().one_cycle is False
    for name, preset in presets.PRESETS.items():  # older presets: off; the shipped defaults' own: as recommended
        resolved = TrainConfig(preset=name).with_recipe_extras()
        expected = {key: preset.recommended.get(key, off) for key, off in RECIPE_EXTRAS.items()}
        assert {key: getattr(resolved, key) for key in RECIPE_EXTRAS} == expected
    assert TrainConfig(preset="tf-tutorial").with_recipe_extras().one_cycle is False


def test_the_page_settings_of_a_speedrun_preset_carry_its_whole_recipe():
    config = preset_settings("convscope-speedrun", seed=3)
    recommended = presets.PRESETS["convscope-speedrun"].recommended
    assert all(getattr(config, key) == value for key, value in recommended.items())
    assert config.seed == 3


@pytest.mark.parametrize("name, low, high", [("convscope-speedrun", 15_000, 30_000),
                                             ("convscope-speedrun-fashion", 50_000, 100_000)])
def test_speedrun_presets_build_small_strided_models(name, low, high):
    model = presets.build(name)
    assert tuple(model.outputs[0].shape) == (None, 10)
    assert low <= model.count_params() <= high
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(layer.momentum == pytest.approx(0.9) for layer in norms)


def test_the_training_pipeline_gathers_batches_in_the_order_of_a_per_image_shuffle():
    images, labels = learnable_images(300, seed=2)
    trainer = Trainer(TrainConfig(batch_size=64, seed=7), Split(images, labels))
    x = shaped(to_float(images), presets.INPUT_SHAPE)
    per_image = tf.data.Dataset.from_tensor_slices((x, labels.astype(np.int32))).shuffle(
        300, seed=7, reshuffle_each_iteration=True).batch(64)
    ours = trainer._pipeline(images, labels, training=True)
    for _ in range(2):  # the second pass is reshuffled the same way too
        pairs = list(zip(ours, per_image, strict=True))
        assert len(pairs) == 5
        for (a_x, a_y), (b_x, b_y) in pairs:
            np.testing.assert_array_equal(a_x.numpy(), b_x.numpy())
            np.testing.assert_array_equal(a_y.numpy(), b_y.numpy())


def test_label_smoothing_trains_with_one_hot_labels_and_reports_accuracy():
    config = TrainConfig(preset="convscope-speedrun", epochs=1, batch_size=32, validation_split=0.25,
                         label_smoothing=0.1, seed=0)
    result = Trainer(config, tiny(), tiny(64, seed=1)).run()
    loss = result.model.loss  # calibrated on the validation split, then recompiled: the test loss is plain NLL
    assert isinstance(loss, keras.losses.CategoricalCrossentropy) and loss.label_smoothing == 0
    assert result.calibration is not None and result.config.label_smoothing == pytest.approx(0.1)
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(result.history[0])
    assert 0.0 <= result.test_accuracy <= 1.0


class LastWeights(keras.callbacks.Callback):
    """The raw weights when the last epoch ends (before Keras swaps in the averaged ones)."""

    def on_epoch_end(self, epoch, logs=None):
        self.raw = [np.array(w) for w in self.model.trainable_weights]


@pytest.mark.parametrize("averaging", [0.0, 0.9])
def test_weight_averaging_makes_the_average_the_result(averaging):
    config = TrainConfig(preset="convscope-speedrun", epochs=2, batch_size=32, validation_split=0.0,
                         weight_averaging=averaging, seed=0)
    last = LastWeights()
    result = Trainer(config, tiny(), callbacks=[last]).run()
    final = [np.array(w) for w in result.model.trainable_weights]
    differs = any(not np.allclose(a, b) for a, b in zip(final, last.raw))
    assert differs == bool(averaging)  # averaged: not the last step's weights; plain: exactly those
    assert result.model.optimizer.use_ema == bool(averaging)


def test_one_cycle_reaches_zero_by_the_end_of_training():
    config = TrainConfig(preset="convscope-speedrun", epochs=2, batch_size=64, validation_split=0.0, seed=0)
    result = Trainer(config, tiny()).run()  # one_cycle from the preset
    optimizer = result.model.optimizer
    assert int(optimizer.iterations) == 8
    assert float(optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
