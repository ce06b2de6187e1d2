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
TITLES = {"mnist": "MNIST digits", "fashion-mnist": "Fashion-MNIST"}
_SPLIT_FILES = {"train": "train-{kind}-idx{dims}-ubyte", "test": "t10k-{kind}-idx{dims}-ubyte"}
_EXPECTED_COUNT = {"train": 60000, "test": 10000}


class DatasetError(Exception):
    """A dataset could not be read; the message says which file or which sources failed."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (n, 28, 28) uint8, ink bright
    labels: np.ndarray  # (n,) uint8 in 0..9


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split | None
    test: Split
    source: str

    @property
    def class_names(self) -> list[str]:
        return CLASS_NAMES[self.name]


def read_idx(path: str | Path, expected_dims: int) -> np.ndarray:
    """Read one IDX file (optionally gzip) and check its header against its length."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
    if len(raw) < 4:
        raise DatasetError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DatasetError(f"{path}: wrong magic number {raw[:4].hex()} (expected 0000 08 0{expected_dims})")
    if ndim != expected_dims:
        raise DatasetError(f"{path}: has {ndim} dimensions, expected {expected_dims}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise DatasetError(f"{path}: header says {shape} ({size} bytes) but file holds {len(raw) - header} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def check_split(images: np.ndarray, labels: np.ndarray, where: str) -> Split:
    """Validate shapes, counts and label range of one split."""
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DatasetError(f"{where}: images have shape {images.shape}, expected (n, 28, 28)")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DatasetError(f"{where}: {len(labels)} labels for {len(images)} images")
    if len(labels) and (labels.max() > 9 or labels.min() < 0):
        bad = int(labels.max()) if labels.max() > 9 else int(labels.min())
        raise DatasetError(f"{where}: label {bad} is outside 0..9")
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
            raise DatasetError(f"{folder}: no {stem.format(kind='images', dims=3)}[.gz] / labels file")
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
        raise DatasetError(f"{path}: not a valid mnist.npz ({exc})") from exc


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
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
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
            if "no t10k" in str(exc) or "no train" in str(exc):
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
    raise DatasetError(
        f"could not load {name}. Tried:\n  - " + "\n  - ".join(tried) +
        f"\nFix: put the IDX files (train-images-idx3-ubyte.gz, ...) in <folder>/{name}/ and set "
        f"{DATA_ENV}=<folder> (or pass --data <folder>), or connect to the internet for Keras' download."
    )


def load_test(name: str, data_dir: str | Path | None = None) -> Split | None:
    """The test split when it is on this machine (no download), else None."""
    try:
        return load(name, data_dir, allow_download=False, test_only=True).test
    except DatasetError:
        return None
