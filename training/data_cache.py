"""The datasets a server trains on: each read once per process (and data folder), then shared by every training."""

from __future__ import annotations

import os
import threading

from training import datasets

_lock = threading.Lock()
_cache: dict[tuple, datasets.Dataset] = {}


def load_dataset(name: str) -> datasets.Dataset:
    """Train and test split of ``name``; raises ``DatasetError`` when there is no training split to train on."""
    key = (name, os.environ.get(datasets.DATA_ENV))
    with _lock:
        if key not in _cache:
            data = datasets.load(name)
            if data.train is None:
                raise datasets.DatasetError("data_no_train", name=name, source=data.source)
            _cache[key] = data
        return _cache[key]


def clear_data_cache() -> None:
    with _lock:
        _cache.clear()
