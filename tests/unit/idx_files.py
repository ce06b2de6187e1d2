"""Tiny datasets in the canonical IDX layout, written by the tests themselves."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    if compress:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)
    return path


def tiny_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images a model can learn: class k is a bright bar at row 2 + 2k."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 + 2 * k: 4 + 2 * k, 4:24] = 255
    return images, labels


def write_tiny_dataset(root: Path, name: str = "mnist", n_train: int = 300, n_test: int = 100) -> Path:
    """Write ``root/name/`` with the four canonical files; returns ``root`` (the data folder)."""
    for split, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = tiny_images(n, seed)
        write_idx(root / name / f"{split}-images-idx3-ubyte", images)
        write_idx(root / name / f"{split}-labels-idx1-ubyte", labels)
    return root
