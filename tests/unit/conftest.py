"""Shared fixtures for the unit tests of ``training`` and ``model_store`` (helpers in ``unit_data.py``).

Everything here is made by the tests themselves: tiny IDX files, tiny learnable images, tiny Keras
models, temporary stores. Nothing reaches the network. The real MNIST / Fashion-MNIST files are only
used by tests marked ``realdata``, which skip with the reason when the files are not on this machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.unit.unit_data import (  # noqa: E402 - the log level must be set before TensorFlow is imported
    NO_NETWORK_PROXY,
    idx_bytes,
    learnable_images,
    meta_for,
    tiny_conv_model,
    tiny_dense_model,
    write_dataset,
    write_idx,
)


@pytest.fixture
def idx():
    """The IDX helpers, for tests that write their own odd files."""
    class Helpers:
        bytes = staticmethod(idx_bytes)
        write = staticmethod(write_idx)
        dataset = staticmethod(write_dataset)
        images = staticmethod(learnable_images)

    return Helpers


@pytest.fixture
def data_root(tmp_path) -> Path:
    """A data folder with tiny ``mnist/`` (gzip) and ``fashion-mnist/`` (plain) datasets."""
    root = tmp_path / "data"
    write_dataset(root / "mnist", compress=True)
    write_dataset(root / "fashion-mnist", n_train=120, n_test=30, compress=False)
    return root


@pytest.fixture
def download_attempts() -> list[str]:
    """The datasets a test's code tried to download (filled by ``no_data_env``)."""
    return []


@pytest.fixture
def no_data_env(monkeypatch, tmp_path, download_attempts):
    """No CONVSCOPE_DATA, no Debian folder, and no network: Keras' download fails at once, as offline.

    The download is replaced in this process because Keras reads KERAS_HOME once at import, so a cached
    ``~/.keras/datasets/mnist.npz`` would otherwise be found; the proxies and KERAS_HOME cover child processes.
    """
    from training import datasets

    def refused_download(name):
        download_attempts.append(name)
        raise ConnectionRefusedError(f"[Errno 111] Connection refused (no network in the tests) for {name}")

    monkeypatch.delenv(datasets.DATA_ENV, raising=False)
    monkeypatch.setattr(datasets, "DEBIAN_DIRS", {"fashion-mnist": tmp_path / "no-debian-dir"})
    monkeypatch.setattr(datasets, "_keras_download", refused_download)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(var, NO_NETWORK_PROXY)
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


# ---- splits and models --------------------------------------------------------------------------
@pytest.fixture(scope="session")
def train_split():
    from training.datasets import Split

    return Split(*learnable_images(240, seed=0))


@pytest.fixture(scope="session")
def test_split():
    from training.datasets import Split

    return Split(*learnable_images(60, seed=1))


@pytest.fixture(scope="session")
def tiny_model():
    return tiny_dense_model()


@pytest.fixture(scope="session")
def conv_model():
    return tiny_conv_model()


# ---- model stores -------------------------------------------------------------------------------
@pytest.fixture
def store_dirs(tmp_path):
    user, defaults = tmp_path / "user", tmp_path / "defaults"
    defaults.mkdir()
    return user, defaults


@pytest.fixture
def store(store_dirs):
    from model_store.store import ModelStore

    user, defaults = store_dirs
    return ModelStore(user_dir=user, defaults_dir=defaults)


@pytest.fixture
def shipped(store_dirs, tiny_model):
    """Put a shipped mnist default ``ship-digits`` into the defaults folder (written the way train_default does)."""
    from model_store.store import ModelStore

    _, defaults = store_dirs
    ModelStore(user_dir=defaults, defaults_dir=defaults / "none").save(
        tiny_model, meta_for("mnist", test_accuracy=0.5), "ship-digits")
    return "ship-digits"
