"""Helpers shared by the unit tests (the fixtures built on them live in ``conftest.py``).

Tiny IDX files, tiny learnable images, tiny Keras models and metadata, all made by the tests themselves.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

SHARED_DATA = Path("/work/shared/datasets")
NO_NETWORK_PROXY = "http://127.0.0.1:9"  # the discard port: every download through it is refused at once


# ---- IDX files --------------------------------------------------------------------------------------
def idx_bytes(array: np.ndarray, dtype_code: int = 0x08, zero: int = 0) -> bytes:
    """The IDX encoding of ``array``: big-endian, two zero bytes, type byte, ndim byte, uint32 sizes, uint8 data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", zero, dtype_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """Write ``array`` as IDX at ``path`` (``path + '.gz'`` when compressed); returns the written path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    if compress:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)
    return path


def learnable_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 28, 28) uint8 images a tiny network learns in an epoch: class k is a bright bar at rows 2+2k..3+2k."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 + 2 * k: 4 + 2 * k, 4:24] = 255
    return images, labels


def write_dataset(folder: Path, n_train: int = 240, n_test: int = 60, compress: bool = True,
                  splits=("train", "t10k")) -> Path:
    """The canonical four files (or those of ``splits``) of one dataset in ``folder``; returns ``folder``."""
    sizes = {"train": (n_train, 0), "t10k": (n_test, 1)}
    for split in splits:
        n, seed = sizes[split]
        images, labels = learnable_images(n, seed)
        write_idx(folder / f"{split}-images-idx3-ubyte", images, compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels, compress)
    return folder


# ---- models and metadata ------------------------------------------------------------------------
def tiny_dense_model(seed: int = 0):
    """Flatten -> Dense(10, softmax): the smallest model every part of the app accepts."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((28, 28, 1), name="image"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(10, activation="softmax", name="probabilities"),
    ], name="tiny_dense")


def tiny_conv_model(seed: int = 0):
    """Two small convolutions (the second with a ReLU block tail), pooling, softmax."""
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1), name="image"),
        L.Conv2D(4, 3, name="c1"),
        L.MaxPooling2D(2, name="pool"),
        L.Conv2D(6, 3, padding="same", name="c2"),
        L.ReLU(name="c2_relu"),
        L.Flatten(name="flatten"),
        L.Dense(10, activation="softmax", name="probabilities"),
    ], name="tiny_conv")


def meta_for(dataset: str = "mnist", created_at: str = "2024-01-01T00:00:00+00:00", **extra) -> dict:
    return {"dataset": dataset, "created_at": created_at, **extra}


# ---- real data ----------------------------------------------------------------------------------
def real_data_dir(dataset: str = "mnist") -> Path | None:
    """The data folder holding the real ``dataset`` test images, from CONVSCOPE_DATA or the shared folder."""
    for candidate in (os.environ.get("CONVSCOPE_DATA"), SHARED_DATA):
        if candidate and (Path(candidate) / dataset / "t10k-images-idx3-ubyte.gz").is_file():
            return Path(candidate)
    return None


def poisoned_build(real_build):
    """presets.build whose output layer starts with NaN weights: the first batch's loss is NaN."""
    def build(name):
        model = real_build(name)
        kernel = model.get_layer("probabilities").kernel
        kernel.assign(np.full(kernel.shape, np.nan, np.float32))
        return model
    return build
