"""What one convolution does, by hand: the arithmetic the tutorials show with a 3x3 filter.

``convolve`` is what Keras' Conv2D computes (a cross-correlation, 'valid' padding, stride 1):
28x28 in, 26x26 out. ``step`` opens one output position: the patch, the products and their sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KERNELS: dict[str, list[list[float]]] = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "edge": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "vertical edge": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "horizontal edge": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "blur": [[1 / 9] * 3] * 3,
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
    "tutorial: diagonal": [[0, 0, -1], [0, 1, 0], [0, 0, 0]],
    "tutorial: stripes": [[1, 1, 1], [-1, -1, -1], [1, 1, 1]],
}


@dataclass(frozen=True)
class Step:
    row: int  # output position
    col: int
    patch: np.ndarray  # (k, k) input values under the kernel
    products: np.ndarray  # patch * kernel
    total: float  # what lands in the output at (row, col)


def as_kernel(values) -> np.ndarray:
    """A square kernel from nested lists or nine numbers; refuses anything else with a clear message."""
    k = np.asarray(values, dtype=np.float64)
    if k.ndim == 1 and k.size in (4, 9, 16, 25):
        k = k.reshape(int(round(k.size ** 0.5)), -1)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or not np.isfinite(k).all():
        raise ValueError(f"a kernel must be a square grid of finite numbers, got shape {k.shape}")
    return k


def convolve(image: np.ndarray, kernel) -> np.ndarray:
    """'valid' cross-correlation, as Conv2D computes it: (h, w) -> (h - k + 1, w - k + 1)."""
    k = as_kernel(kernel)
    windows = np.lib.stride_tricks.sliding_window_view(np.asarray(image, np.float64), k.shape)
    return np.einsum("ijkl,kl->ij", windows, k)


def step(image: np.ndarray, kernel, row: int, col: int) -> Step:
    k = as_kernel(kernel)
    size = k.shape[0]
    out_h, out_w = image.shape[0] - size + 1, image.shape[1] - size + 1
    if not (0 <= row < out_h and 0 <= col < out_w):
        raise ValueError(f"position ({row}, {col}) is outside the {out_h}x{out_w} output")
    patch = np.asarray(image, np.float64)[row:row + size, col:col + size]
    products = patch * k
    return Step(row, col, patch, products, float(products.sum()))


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def max_pool(x: np.ndarray, size: int = 2) -> np.ndarray:
    """2x2 max pooling with stride 2; an odd last row/column is dropped, as Keras does ('valid')."""
    h, w = (x.shape[0] // size) * size, (x.shape[1] // size) * size
    return x[:h, :w].reshape(h // size, size, w // size, size).max(axis=(1, 3))


def first_layer_kernels(model) -> tuple[str, np.ndarray] | None:
    """The first Conv2D layer's name and kernels as (n, k, k) for a one-channel input, or None."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            weights = np.asarray(layer.get_weights()[0])  # (k, k, in, out)
            return layer.name, np.moveaxis(weights[:, :, 0, :], -1, 0)
    return None


def most_similar(kernels: np.ndarray, kernel) -> tuple[int, float]:
    """Index of the kernel most like ``kernel`` (cosine similarity of the centred weights) and that similarity."""
    target = as_kernel(kernel)
    if kernels.shape[1:] != target.shape:
        raise ValueError(f"the model's kernels are {kernels.shape[1]}x{kernels.shape[2]}, the chosen one is "
                         f"{target.shape[0]}x{target.shape[1]}")
    flat = kernels.reshape(len(kernels), -1)
    t = target.ravel()
    if np.ptp(t) > 1e-9:  # a flat kernel (blur) has no shape once centred: compare it uncentred
        flat, t = flat - flat.mean(axis=1, keepdims=True), t - t.mean()
    norms = np.linalg.norm(flat, axis=1) * max(np.linalg.norm(t), 1e-12)
    sims = flat @ t / np.maximum(norms, 1e-12)
    best = int(np.argmax(sims))
    return best, float(sims[best])
