"""What a model is fed: 28x28 grey images as float32 in [0, 1], in the shape its input layer takes.

Every path to a model (a drawing, a dataset image, a batch for training or scoring) goes through these two
functions, so that scaling and shape are decided once. Uploaded tutorial models take (28, 28, 1), (28, 28)
or a flat 784; our presets take (28, 28, 1).
"""

from __future__ import annotations

import numpy as np

SIDE = 28  # MNIST's images are SIDE x SIDE pixels
PIXELS = SIDE * SIDE  # what a flat (Dense-first) model takes
ACCEPTED_SHAPES = ((SIDE, SIDE, 1), (SIDE, SIDE), (PIXELS,))


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 images (any leading shape) -> float32 in [0, 1], ink bright as in MNIST."""
    return np.asarray(images, np.float32) / 255.0


def shaped(images: np.ndarray, input_shape: tuple) -> np.ndarray:
    """A batch of (SIDE, SIDE) float images (or one image) -> (n, *input_shape), as the model's input layer takes."""
    x = np.asarray(images, np.float32)
    return x.reshape(-1, *tuple(input_shape))
