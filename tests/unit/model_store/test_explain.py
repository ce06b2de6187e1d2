"""Grad-CAM and saliency on a hand-built model where the answer is known in advance."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from model_store import explain


def two_detector_model() -> keras.Model:
    """conv channel 0 detects vertical strokes, channel 1 horizontal ones; class 0 listens to channel 0 only."""
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="conv"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax", name="probabilities"),
    ])
    vertical = np.array([[-1, 2, -1]] * 3, np.float32)
    kernels = np.stack([vertical, vertical.T], axis=-1)[:, :, None, :]  # (3, 3, 1, 2)
    dense = np.zeros((28 * 28 * 2, 10), np.float32)
    dense[0::2, 0] = 1.0  # flatten order is (row, col, channel): even entries are channel 0
    model.get_layer("conv").set_weights([kernels, np.zeros(2, np.float32)])
    model.get_layer("probabilities").set_weights([dense, np.zeros(10, np.float32)])
    return model


@pytest.fixture(scope="module")
def case():
    image = np.zeros((28, 28), np.float32)
    image[4:24, 6] = 1.0  # a vertical stroke on the left
    image[14, 16:26] = 1.0  # a horizontal stroke on the right
    return two_detector_model(), image


def test_grad_cam_points_at_the_vertical_stroke(case):
    model, image = case
    result = explain.grad_cam(model, image, class_index=0)
    heat = result.heatmap
    assert result.layer == "conv" and heat.shape == (28, 28)
    assert heat.max() == pytest.approx(1.0)
    left, right = heat[:, :12].sum(), heat[:, 12:].sum()
    assert left > 0.9 * (left + right), (left, right)


def quadrant_model() -> keras.Model:
    """An identity convolution, then a class 0 that reads only the top-left 14x14 quadrant."""
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(1, 3, padding="same", name="conv"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax", name="probabilities"),
    ])
    identity = np.zeros((3, 3, 1, 1), np.float32)
    identity[1, 1] = 1.0
    dense = np.zeros((28, 28, 10), np.float32)
    dense[:14, :14, 0] = np.random.default_rng(0).uniform(0.5, 1.5, (14, 14))
    model.get_layer("conv").set_weights([identity, np.zeros(1, np.float32)])
    model.get_layer("probabilities").set_weights([dense.reshape(784, 10), np.zeros(10, np.float32)])
    return model


def test_saliency_is_zero_where_the_class_cannot_look():
    image = np.random.default_rng(1).uniform(0.2, 1.0, (28, 28)).astype(np.float32)
    sal = explain.saliency(quadrant_model(), image, class_index=0).heatmap
    assert sal[14:, :].max() == 0.0 and sal[:, 14:].max() == 0.0
    assert sal[:14, :14].min() > 0.0 and sal.max() == pytest.approx(1.0)


def test_default_class_is_the_prediction(case):
    model, image = case
    probs = np.asarray(model(image[None, ..., None]))[0]
    assert explain.grad_cam(model, image).class_index == int(probs.argmax())
    assert explain.saliency(model, image).class_index == int(probs.argmax())


def test_model_without_conv_is_refused_clearly():
    mlp = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(ValueError, match="no Conv2D"):
        explain.grad_cam(mlp, np.zeros((28, 28), np.float32))
    assert explain.saliency(mlp, np.ones((28, 28), np.float32) / 2).heatmap.shape == (28, 28)


def test_overlay_is_an_rgb_image(case):
    _, image = case
    out = explain.overlay(image, np.linspace(0, 1, 784).reshape(28, 28))
    assert out.shape == (28, 28, 3) and out.dtype == np.uint8
