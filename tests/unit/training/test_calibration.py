"""training.calibration: the fitted temperature is the one that made the labels, baking it into the last layer gives
softmax(logits / T) and keeps every answer, and a trainer with label smoothing calibrates on its validation split."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from model_store.model_input import shaped, to_float
from tests.unit.unit_data import learnable_images
from training import presets
from training.calibration import calibrate, fit_temperature, logits, negative_log_likelihood, scale_output
from training.datasets import Split
from training.trainer import TrainConfig, Trainer, result_metadata


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("true_temperature", [0.4, 1.0, 3.0])
def test_fit_temperature_finds_the_temperature_that_drew_the_labels(true_temperature):
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (20000, 10))
    p = softmax(z / true_temperature)
    labels = (p.cumsum(axis=1) > rng.random((len(z), 1))).argmax(axis=1)
    fitted = fit_temperature(z, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.08)
    assert negative_log_likelihood(z, labels, fitted) <= negative_log_likelihood(z, labels, 1.0)


def small_model(activation="softmax"):
    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(16, activation="relu"), keras.layers.Dense(10, activation=activation)])


def model_input(images):
    return shaped(to_float(images), presets.INPUT_SHAPE)


def test_scale_output_divides_the_logits_and_keeps_every_answer():
    model = small_model()
    x = model_input(learnable_images(50)[0])
    before_logits, before = logits(model, x), model.predict(x, verbose=0)
    scale_output(model, 0.25)
    after = model.predict(x, verbose=0)
    np.testing.assert_allclose(after, softmax(before_logits / 0.25), atol=1e-5)
    np.testing.assert_array_equal(after.argmax(1), before.argmax(1))
    assert after.max(1).mean() > before.max(1).mean()  # a temperature under 1 sharpens


def test_calibrate_leaves_a_model_without_a_softmax_output_and_empty_data_alone():
    x = model_input(learnable_images(20)[0])
    linear = small_model(activation=None)
    weights = [w.copy() for w in linear.get_weights()]
    assert calibrate(linear, x, np.zeros(20, int)) is None
    assert all(np.array_equal(a, b) for a, b in zip(weights, linear.get_weights()))
    assert calibrate(small_model(), x[:0], np.zeros(0, int)) is None


def test_label_smoothing_training_is_calibrated_on_its_validation_split():
    images, labels = learnable_images(600)
    config = TrainConfig(preset="mlp-baseline", epochs=3, batch_size=32, validation_split=0.25, label_smoothing=0.2,
                         seed=0)
    result = Trainer(config, Split(images, labels)).run()
    found = result.calibration
    assert found is not None and found["fitted_on"] == 150
    assert found["validation_nll_after"] <= found["validation_nll_before"]
    assert result_metadata(result)["calibration"] == found
    # a learnable task smoothed by 0.2 is under-confident: the temperature sharpens it
    assert found["temperature"] < 1
    probs = result.model.predict(model_input(images[:150]), verbose=0)
    assert np.median(probs.max(1)) > 0.9


@pytest.mark.parametrize("changes", [{"label_smoothing": 0.0}, {"label_smoothing": 0.1, "validation_split": 0.0}])
def test_no_smoothing_or_no_held_out_images_means_no_calibration(changes):
    images, labels = learnable_images(200)
    config = TrainConfig(**{"preset": "mlp-baseline", "epochs": 1, "batch_size": 32, "validation_split": 0.25,
                            "seed": 0, **changes})
    assert Trainer(config, Split(images, labels)).run().calibration is None
