"""model_store.model_input: one scaling and one reshape for every path to a model."""

from __future__ import annotations

import numpy as np
import pytest

from model_store.model_input import ACCEPTED_SHAPES, PIXELS, SIDE, shaped, to_float


def test_to_float_scales_any_batch_shape_to_0_1():
    images = np.array([[[0, 128, 255]]], np.uint8)
    x = to_float(images)
    assert x.dtype == np.float32 and x.shape == images.shape
    np.testing.assert_allclose(x, [[[0.0, 128 / 255, 1.0]]])


@pytest.mark.parametrize("input_shape", ACCEPTED_SHAPES)
def test_shaped_gives_every_accepted_input_shape_keeping_pixel_order(input_shape):
    batch = np.arange(3 * PIXELS, dtype=np.float32).reshape(3, SIDE, SIDE)
    x = shaped(batch, input_shape)
    assert x.shape == (3, *input_shape)
    np.testing.assert_array_equal(x.reshape(3, SIDE, SIDE), batch)
    assert shaped(batch[0], input_shape).shape == (1, *input_shape), "one image is a batch of one"
