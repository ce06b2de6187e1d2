"""Tiny data and models made by the page tests themselves: IDX files in a data folder, small Keras model files."""

from __future__ import annotations

from pathlib import Path

from tests.unit.unit_data import idx_bytes
from tests.unit.unit_data import learnable_images as learnable


def write_data(root: Path, name: str = "mnist", n_train: int = 320, n_test: int = 80) -> Path:
    """``root/name/`` with the four canonical IDX files; returns ``root`` (what CONVSCOPE_DATA points at)."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = learnable(n, seed)
        (folder / f"{split}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (folder / f"{split}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    return root


def model_file(path: Path, input_shape=(28, 28, 1), classes: int = 10, conv: bool = True, lambda_layer: bool = False,
               seed: int = 0) -> bytes:
    """Save a small Keras model at ``path`` (.keras or .h5 by its suffix) and return the file's bytes."""
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    layers = [keras.Input(input_shape, name="image")]
    if lambda_layer:
        layers.append(L.Lambda(lambda x: x * 2.0, name="double"))
    if conv and len(input_shape) == 3:
        layers += [L.Conv2D(4, 3, activation="relu", name="conv1"), L.MaxPooling2D(2, name="pool")]
    layers += [L.Flatten(name="flatten"), L.Dense(classes, activation="softmax", name="probabilities")]
    keras.Sequential(layers, name="tiny").save(path)
    return Path(path).read_bytes()
