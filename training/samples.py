"""A small shipped sample of each test set, so the pages work on a machine with no dataset.

``python -m training samples`` rebuilds it from the real test sets: the first 20 test images of each
class, with their test-set indices. MNIST is CC BY-SA 3.0 (Y. LeCun, C. Cortes, C. J. C. Burges);
Fashion-MNIST is MIT (Zalando Research).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training import datasets

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_data"
PER_CLASS = 20


@dataclass(frozen=True)
class TestImages:
    """Test images for the pages: the full test set when present, else the shipped sample."""

    images: np.ndarray  # (n, SIDE, SIDE) uint8
    labels: np.ndarray  # (n,) uint8
    indices: np.ndarray  # (n,) index of each image in the official test set
    full: bool

    def by_class(self, label: int) -> np.ndarray:
        """Positions (into ``images``) of the images of one class."""
        return np.flatnonzero(self.labels == label)


def sample_path(name: str) -> Path:
    return SAMPLE_DIR / f"{name}-test-sample.npz"


def build_sample(name: str, data_dir=None) -> Path:
    test = datasets.load(name, data_dir, allow_download=False, test_only=True).test
    picks = np.concatenate([np.flatnonzero(test.labels == c)[:PER_CLASS] for c in range(10)])
    picks.sort()
    SAMPLE_DIR.mkdir(exist_ok=True)
    path = sample_path(name)
    np.savez_compressed(path, images=test.images[picks], labels=test.labels[picks], indices=picks)
    return path


def test_images(name: str, data_dir=None) -> TestImages:
    """The real test set if it is on this machine, otherwise the sample shipped with the code."""
    test = datasets.load_test(name, data_dir)
    if test is not None:
        return TestImages(test.images, test.labels, np.arange(len(test.labels)), full=True)
    with np.load(sample_path(name), allow_pickle=False) as data:
        split = datasets.check_split(data["images"], data["labels"], str(sample_path(name)))
        return TestImages(split.images, split.labels, data["indices"], full=False)
