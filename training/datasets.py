"""Load MNIST and Fashion-MNIST as uint8 arrays, offline first.

Order of sources: a data folder (argument or ``CONVSCOPE_DATA``) holding canonical IDX files (``.gz``
or not) in ``mnist/`` and ``fashion-mnist/`` or Keras' ``mnist.npz``; the Debian folder
``/usr/share/datasets/fashion-mnist``; then Keras' own download. Every file is validated, so a
truncated or wrong file is reported by name instead of failing deep inside numpy.
"""

from __future__ import annotations

import gzip
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_store.model_input import SIDE
from model_store.refusal import Refusal

DATA_ENV = "CONVSCOPE_DATA"
DEBIAN_DIRS = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}

CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
}
DATASETS = tuple(CLASS_NAMES)
_SPLIT_FILES = {"train": "train-{kind}-idx{dims}-ubyte", "test": "t10k-{kind}-idx{dims}-ubyte"}


class DatasetError(Refusal):
    """A dataset could not be read; the sentence names the file, or every source that was tried."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (n, SIDE, SIDE) uint8, ink bright
    labels: np.ndarray  # (n,) uint8 in 0..9


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split | None
    test: Split
    source: str


def read_idx(path: str | Path, expected_dims: int) -> np.ndarray:
    """Read one IDX file (optionally gzip) and check its header against its length."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError("data_unreadable", path=str(path), detail=str(exc)) from exc
    if len(raw) < 4:
        raise DatasetError("data_too_short", path=str(path), size=len(raw))
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DatasetError("data_wrong_magic", path=str(path), found=raw[:4].hex(), dims=expected_dims)
    if ndim != expected_dims:
        raise DatasetError("data_wrong_dimensions", path=str(path), ndim=ndim, dims=expected_dims)
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError("data_truncated_header", path=str(path))
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise DatasetError("data_wrong_size", path=str(path), shape=shape, size=size, actual=len(raw) - header)
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def check_split(images: np.ndarray, labels: np.ndarray, where: str) -> Split:
    """Validate shapes, counts and label range of one split."""
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise DatasetError("data_image_shape", where=where, shape=images.shape)
    if labels.ndim != 1 or len(labels) != len(images):
        raise DatasetError("data_label_count", where=where, labels=len(labels), images=len(images))
    if len(labels) and (labels.max() > 9 or labels.min() < 0):
        bad = int(labels.max()) if labels.max() > 9 else int(labels.min())
        raise DatasetError("data_label_range", where=where, label=bad)
    return Split(np.ascontiguousarray(images, dtype=np.uint8), np.ascontiguousarray(labels, dtype=np.uint8))


def load_idx_folder(folder: str | Path, splits=("train", "test")) -> dict[str, Split]:
    """Read the canonical IDX files of one dataset from ``folder``."""
    folder = Path(folder)
    result = {}
    for split in splits:
        stem = _SPLIT_FILES[split]
        image_path = _find(folder, stem.format(kind="images", dims=3))
        label_path = _find(folder, stem.format(kind="labels", dims=1))
        if image_path is None or label_path is None:
            raise DatasetError("data_files_missing", folder=str(folder), stem=stem.format(kind="images", dims=3))
        result[split] = check_split(read_idx(image_path, 3), read_idx(label_path, 1), str(image_path))
    return result


def load_npz(path: str | Path) -> dict[str, Split]:
    """Read Keras' ``mnist.npz`` (x_train, y_train, x_test, y_test); never unpickles."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {
                "train": check_split(data["x_train"], data["y_train"], f"{path} (train)"),
                "test": check_split(data["x_test"], data["y_test"], f"{path} (test)"),
            }
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError("data_bad_npz", path=str(path), detail=str(exc)) from exc


def _keras_download(name: str) -> dict[str, Split]:
    import keras  # imported lazily: TensorFlow is heavy and only needed for this last resort

    module = keras.datasets.mnist if name == "mnist" else keras.datasets.fashion_mnist
    (x_train, y_train), (x_test, y_test) = module.load_data()
    return {"train": check_split(x_train, y_train, "keras train"), "test": check_split(x_test, y_test, "keras test")}


def candidate_folders(name: str, data_dir: str | Path | None = None) -> list[Path]:
    """Folders searched for ``name``, in order."""
    roots = [Path(p) for p in (data_dir, os.environ.get(DATA_ENV)) if p]
    folders = []
    for root in roots:
        folders += [root / name, root]
    if name in DEBIAN_DIRS:
        folders.append(DEBIAN_DIRS[name])
    return folders


def load(name: str, data_dir: str | Path | None = None, allow_download: bool = True,
         test_only: bool = False) -> Dataset:
    """Load dataset ``name`` ("mnist" or "fashion-mnist") from the first source that works.

    ``test_only`` skips the 60,000 training images (the app's pages only need the test set).
    """
    splits_wanted = ("test",) if test_only else ("train", "test")
    if name not in CLASS_NAMES:
        raise DatasetError("data_unknown", name=name, choices=", ".join(DATASETS))
    tried = []
    for folder in candidate_folders(name, data_dir):
        if not folder.is_dir():
            tried.append(f"{folder}: no such folder")
            continue
        npz = folder / "mnist.npz"
        try:
            if name == "mnist" and npz.is_file() and _find(folder, "t10k-images-idx3-ubyte") is None:
                splits = load_npz(npz)
            else:
                splits = load_idx_folder(folder, splits_wanted)
        except DatasetError as exc:
            if exc.code == "data_files_missing":  # not this folder: try the next
                tried.append(str(exc))
                continue
            raise
        return Dataset(name, splits.get("train"), splits["test"], source=str(folder))
    if allow_download:
        try:
            splits = _keras_download(name)
            return Dataset(name, splits["train"], splits["test"], source="keras download")
        except Exception as exc:  # network errors come in many types
            tried.append(f"Keras download: {type(exc).__name__}: {exc}")
    if not tried:  # no folder given, none configured, and no download allowed
        tried.append(f"no data folder: none was given and {DATA_ENV} is not set; downloading was not allowed")
    raise DatasetError("data_not_found", name=name, tried="\n  - ".join(tried))


def load_test(name: str, data_dir: str | Path | None = None) -> Split | None:
    """The test split when it is on this machine (no download), else None."""
    try:
        return load(name, data_dir, allow_download=False, test_only=True).test
    except DatasetError:
        return None
