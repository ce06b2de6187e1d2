"""The by-hand convolution agrees with scipy and with Keras' own Conv2D and MaxPooling2D."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from scipy.signal import correlate2d

from model_store import convolution as conv


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).random((28, 28))


@pytest.mark.parametrize("name", list(conv.KERNELS))
def test_matches_scipy_correlation(image, name):
    kernel = np.asarray(conv.KERNELS[name], float)
    out = conv.convolve(image, kernel)
    assert out.shape == (26, 26)
    np.testing.assert_allclose(out, correlate2d(image, kernel, mode="valid"), atol=1e-12)


def test_matches_a_keras_conv2d_layer(image):
    kernel = np.asarray(conv.KERNELS["emboss"], np.float32)
    layer = keras.layers.Conv2D(1, 3, use_bias=False)
    layer.build((1, 28, 28, 1))
    layer.set_weights([kernel[:, :, None, None]])
    keras_out = np.asarray(layer(image[None, :, :, None].astype(np.float32)))[0, :, :, 0]
    np.testing.assert_allclose(conv.convolve(image, kernel), keras_out, atol=1e-5)


def test_step_sum_is_the_output_value(image):
    kernel = conv.KERNELS["tutorial: stripes"]
    out = conv.convolve(image, kernel)
    for row, col in [(0, 0), (12, 7), (25, 25)]:
        s = conv.step(image, kernel, row, col)
        np.testing.assert_allclose(s.patch, image[row:row + 3, col:col + 3])
        np.testing.assert_allclose(s.products, s.patch * np.asarray(kernel))
        assert s.total == pytest.approx(out[row, col])
    with pytest.raises(ValueError, match="outside"):
        conv.step(image, kernel, 26, 0)


def test_relu_and_pooling_shapes_and_values(image):
    out = conv.relu(conv.convolve(image, conv.KERNELS["edge"]))
    assert out.min() >= 0
    pooled = conv.max_pool(out)
    assert pooled.shape == (13, 13)
    keras_pool = np.asarray(keras.layers.MaxPooling2D(2)(out[None, :, :, None].astype(np.float32)))[0, :, :, 0]
    np.testing.assert_allclose(pooled, keras_pool, atol=1e-6)


def test_nine_typed_numbers_and_bad_kernels():
    assert conv.as_kernel([1, 2, 3, 4, 5, 6, 7, 8, 9]).shape == (3, 3)
    for bad in ([1, 2, 3], [[1, 2], [3, 4], [5, 6]], [[np.nan] * 3] * 3):
        with pytest.raises(ValueError, match="square"):
            conv.as_kernel(bad)


def test_most_similar_finds_a_planted_kernel():
    rng = np.random.default_rng(1)
    kernels = rng.normal(size=(16, 3, 3))
    target = np.asarray(conv.KERNELS["vertical edge"], float)
    kernels[11] = 0.3 * target + 0.01 * rng.normal(size=(3, 3))
    index, similarity = conv.most_similar(kernels, target)
    assert index == 11 and similarity > 0.99
    with pytest.raises(ValueError, match="kernels are 3x3"):
        conv.most_similar(kernels, np.ones((5, 5)))
