"""Occlusion maps and filter ablation (model_store/occlusion.py) on hand-built models whose answers are known."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from model_store import occlusion
from tests.unit.unit_data import tiny_conv_model


def stroke_model() -> keras.Model:
    """Filter 0 answers vertical strokes, filter 1 horizontal ones; class 0's logit is a hundredth of filter 0's sum, so
    a stroke makes class 0 likely without saturating its probability."""
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="conv"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax", name="probabilities"),
    ])
    vertical = np.array([[-1, 2, -1]] * 3, np.float32)
    model.get_layer("conv").set_weights([np.stack([vertical, vertical.T], -1)[:, :, None, :], np.zeros(2, np.float32)])
    dense = np.zeros((28 * 28 * 2, 10), np.float32)
    dense[0::2, 0] = 0.01  # flatten order is (row, column, channel): even entries are filter 0
    dense[1::2, 1] = 0.01
    model.get_layer("probabilities").set_weights([dense, np.zeros(10, np.float32)])
    return model


@pytest.fixture(scope="module")
def model():
    return stroke_model()


@pytest.fixture(scope="module")
def stroke():
    image = np.zeros((28, 28), np.float32)
    image[4:24, 18] = 1.0  # a vertical stroke right of centre; the top-left corner stays empty
    return image


def test_patches_cover_every_pixel_and_reach_each_edge():
    assert occlusion.patch_corners(28, 6, 2) == list(range(0, 23, 2))
    assert occlusion.patch_corners(28, 6, 4)[-1] == 22, "the last patch sits flush with the edge"
    copies, corners = occlusion.occluded_copies(np.ones((28, 28), np.float32), patch=6, stride=2)
    assert len(copies) == len(corners) == 144
    for copy, (r, c) in zip(copies[::17], corners[::17]):
        assert np.all(copy[r:r + 6, c:c + 6] == 0) and copy.sum() == 28 * 28 - 36
    with pytest.raises(ValueError):
        occlusion.patch_corners(28, 0, 2)


def test_covering_the_ink_drops_the_probability_and_covering_the_empty_corner_does_not(model, stroke):
    result = occlusion.occlusion_map(model, stroke)
    assert result.class_index == 0 and 0.1 < result.probability < 0.9
    assert result.drop.shape == (28, 28)
    on_stroke, corner = result.drop[14, 18], result.drop[:5, :5]
    assert on_stroke > 0.01
    np.testing.assert_allclose(corner, 0, atol=1e-6)
    assert abs(result.most_needed[1] - 18) <= 3 and 4 <= result.most_needed[0] <= 24


def test_the_map_can_be_asked_for_another_class(model, stroke):
    """Class 1 listens to horizontal strokes only: covering parts of a vertical one changes its probability only through
    the softmax's shared denominator, so the drop is negative (class 1 gains what class 0 loses)."""
    result = occlusion.occlusion_map(model, stroke, class_index=1)
    assert result.class_index == 1 and result.drop[14, 18] < 0


def test_all_covered_copies_go_through_one_model_call(model, stroke, monkeypatch):
    masked = occlusion.ablation(model, None)
    sizes = []
    real = masked.probabilities
    monkeypatch.setattr(masked, "probabilities", lambda images, off=(): sizes.append(len(images)) or real(images, off))
    occlusion.occlusion_map(model, stroke, patch=6, stride=2)
    assert sizes == [145], "the whole image and the 144 covered copies in one batch"


def test_switching_off_a_filter_is_the_model_with_that_filter_zeroed(model, stroke):
    plain = np.asarray(model(stroke[None, :, :, None]))[0]
    none_off = occlusion.switch_off(model, stroke, "conv", [])
    np.testing.assert_allclose(none_off.before, plain, atol=1e-6)
    np.testing.assert_allclose(none_off.after, plain, atol=1e-6)

    result = occlusion.switch_off(model, stroke, "conv", [0])
    zeroed = stroke_model()
    kernel, bias = zeroed.get_layer("conv").get_weights()
    kernel[..., 0] = 0
    zeroed.get_layer("conv").set_weights([kernel, bias])
    np.testing.assert_allclose(result.after, np.asarray(zeroed(stroke[None, :, :, None]))[0], atol=1e-6)
    assert result.changed and int(np.argmax(result.before)) == 0 and result.after[0] < result.before[0]


def test_the_mask_sits_after_a_blocks_relu():
    """tiny_conv_model's second convolution is followed by a ReLU: the mask zeroes what the ReLU gives out."""
    model = tiny_conv_model()
    image = np.random.default_rng(0).random((28, 28), np.float32)
    off = [1, 4]
    h = image[None, :, :, None]
    for layer in model.layers:
        h = layer(h, training=False)
        if layer.name == "c2_relu":
            h = h * np.array([0 if i in off else 1 for i in range(6)], np.float32)
    np.testing.assert_allclose(occlusion.switch_off(model, image, "c2", off).after, np.asarray(h)[0], atol=1e-6)


def test_the_switchable_model_is_built_once_per_model_and_layer(model):
    first = occlusion.ablation(model, "conv")
    assert occlusion.ablation(model, "conv") is first
    assert occlusion.ablation(model, None) is not first
    assert occlusion.ablation(stroke_model(), "conv") is not first


def test_wrong_layers_and_filters_are_refused(model, stroke):
    with pytest.raises(ValueError, match="not a Conv2D layer"):
        occlusion.switch_off(model, stroke, "probabilities", [0])
    with pytest.raises(ValueError, match="numbered 0 to 1"):
        occlusion.switch_off(model, stroke, "conv", [2])


def test_a_functional_model_can_be_switched_too():
    inputs = keras.Input((28, 28, 1))
    maps = keras.layers.Conv2D(3, 3, activation="relu", name="conv")(inputs)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(maps))
    model = keras.Model(inputs, outputs)
    image = np.random.default_rng(1).random((28, 28), np.float32)
    all_off = occlusion.switch_off(model, image, "conv", [0, 1, 2])
    dense_bias = model.layers[-1].get_weights()[1]
    expected = np.exp(dense_bias) / np.exp(dense_bias).sum()  # every map zero: the logits are the biases
    np.testing.assert_allclose(all_off.after, expected, atol=1e-6)
