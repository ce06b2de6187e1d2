"""A model's LiteRT conversion is done by one process at a time: a process that finds another one converting the
same model (its conversion slot held) waits, then reads that conversion from the cache instead of converting."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from model_store import litert
from model_store.inference import Predictor


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, activation="relu", name="conv1"),
                             keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])


def test_a_conversion_under_way_elsewhere_is_waited_for_and_read_not_done_again(model, tmp_path, monkeypatch):
    converted = tmp_path / "converted.tflite"
    assert Predictor(model, litert=True, litert_cache=converted).lite is not None  # what "the other process" makes
    cache = tmp_path / ".cache" / "model.tflite"
    other = litert.conversion_slot(cache, wait_seconds=0)  # another process starts converting this model
    assert other is not None and litert.conversion_slot(cache, wait_seconds=0) is None

    def never(probe):
        raise AssertionError("converted again while another process was converting the same model")

    monkeypatch.setattr(litert, "_convert", never)
    built = {}
    waiter = threading.Thread(target=lambda: built.update(p=Predictor(model, litert=True, litert_cache=cache)))
    waiter.start()
    waiter.join(1.0)
    assert waiter.is_alive()  # it waits for the other conversion
    cache.write_bytes(converted.read_bytes())  # the other process writes its conversion and lets go
    other.release()
    waiter.join(60)
    predictor = built["p"]
    assert predictor.lite is not None
    image = np.random.default_rng(0).random((28, 28), dtype=np.float32)
    np.testing.assert_allclose(predictor(image).probabilities, np.asarray(model(image[None, ..., None]))[0], atol=1e-5)


def test_a_holder_that_ends_without_a_conversion_lets_the_waiter_convert(model, tmp_path):
    cache = tmp_path / "model.tflite"
    other = litert.conversion_slot(cache, wait_seconds=0)
    threading.Timer(0.3, other.release).start()  # it failed, or was killed: nothing written
    assert Predictor(model, litert=True, litert_cache=cache).lite is not None
    assert cache.is_file() and (tmp_path / f"model.tflite{litert.LOCK_SUFFIX}").is_file()
