"""The LiteRT path gives the Keras answers for one drawing, or is not used at all."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from model_store import litert
from model_store.inference import Predictor
from training import presets


def images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 28, 28), dtype=np.float32)


@pytest.fixture(scope="module")
def bn_model():
    """A conv block with BatchNorm and ReLU folded in, like our defaults, with non-trivial BN statistics."""
    import keras

    keras.utils.set_random_seed(3)
    model = presets.build("convscope-fast")
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(np.random.default_rng(1).normal(0, 0.1, layer.moving_mean.shape))
            layer.moving_variance.assign(np.random.default_rng(2).uniform(0.5, 2, layer.moving_variance.shape))
    return model


def test_one_drawing_through_litert_matches_keras(bn_model):
    keras_path, lite_path = Predictor(bn_model), Predictor(bn_model, litert=True)
    assert keras_path.lite is None and lite_path.lite is not None
    for image in images(5, seed=1):
        expected, got = keras_path(image), lite_path(image)
        np.testing.assert_allclose(got.probabilities, expected.probabilities, atol=1e-5)
        assert [fm.layer for fm in got.feature_maps] == [fm.layer for fm in expected.feature_maps] == ["conv1", "conv2"]
        for g, e in zip(got.feature_maps, expected.feature_maps):
            assert g.shape == e.shape
            np.testing.assert_allclose(g.maps, e.maps, atol=1e-4)


def test_batches_keep_the_tf_function_path(bn_model):
    predictor = Predictor(bn_model, litert=True)
    x = images(4, seed=2)
    probs, maps = predictor.predict_batch(x)
    assert probs.shape == (4, 10) and maps[0].shape == (4, 28, 28, 24)
    np.testing.assert_allclose(probs, np.asarray(bn_model(x[..., None], training=False)), atol=1e-5)


def test_a_flat_784_model_works_through_litert():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    predictor = Predictor(model, litert=True)
    assert predictor.lite is not None
    image = images(1, seed=3)[0]
    np.testing.assert_allclose(predictor(image).probabilities, np.asarray(model(image.reshape(1, 784)))[0], atol=1e-5)
    assert predictor(image).feature_maps == []


def test_switched_off_by_the_environment(monkeypatch, bn_model):
    monkeypatch.setenv(litert.DISABLE_ENV, "0")
    assert Predictor(bn_model, litert=True).lite is None


def test_a_failed_conversion_falls_back_to_keras(monkeypatch, bn_model):
    import tensorflow as tf

    def broken(*args, **kwargs):
        raise RuntimeError("converter exploded")

    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_keras_model", broken)
    predictor = Predictor(bn_model, litert=True)
    assert predictor.lite is None
    assert predictor(images(1, seed=4)[0]).probabilities.shape == (10,)


def test_different_answers_mean_no_litert(bn_model):
    wrong = lambda x: [np.zeros_like(o) for o in Predictor(bn_model)._outputs(Predictor(bn_model)._forward(x))]
    assert litert.build(Predictor(bn_model).probe, (28, 28, 1), wrong) is None


def test_concurrent_sessions_get_their_own_answers(bn_model):
    """Streamlit serves sessions from threads; the interpreter is shared, so calls must not interleave."""
    predictor = Predictor(bn_model, litert=True)
    x = images(8, seed=5)
    expected = [predictor(image).probabilities for image in x]
    results, errors = {}, []

    def worker(i):
        try:
            for _ in range(25):
                results.setdefault(i, []).append(predictor(x[i]).probabilities)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for i, runs in results.items():
        for probs in runs:
            np.testing.assert_allclose(probs, expected[i], atol=1e-6)


def test_background_conversion_answers_before_it_is_done(bn_model, monkeypatch):
    """The app converts in a thread: drawings made meanwhile are answered through tf.function, then LiteRT."""
    release, started = threading.Event(), threading.Event()
    real_build = litert.build

    def slow_build(*args, **kwargs):
        started.set()
        assert release.wait(60), "the test never released the conversion"
        return real_build(*args, **kwargs)

    monkeypatch.setattr(litert, "build", slow_build)
    predictor = Predictor(bn_model, litert=True, convert_in_background=True)
    assert started.wait(60)
    x = images(1, seed=6)[0]
    before = predictor(x).probabilities  # the conversion is still held back: tf.function answers
    assert predictor.lite is None
    release.set()
    assert predictor.wait_for_litert(120)
    np.testing.assert_allclose(predictor(x).probabilities, before, atol=litert.TOLERANCE)


def test_a_cached_conversion_is_used_instead_of_converting_again(bn_model, tmp_path, monkeypatch):
    import tensorflow as tf

    cache = tmp_path / "cache" / "model.tflite"
    first = Predictor(bn_model, litert=True, litert_cache=cache)
    assert first.lite is not None and cache.is_file()

    def no_converter(model):
        raise AssertionError("converted again although the cache holds the conversion")

    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_keras_model", no_converter)
    second = Predictor(bn_model, litert=True, litert_cache=cache)
    assert second.lite is not None
    x = images(1, seed=7)[0]
    np.testing.assert_allclose(second(x).probabilities, Predictor(bn_model)(x).probabilities, atol=1e-5)


def test_a_bad_or_foreign_cache_file_is_replaced(bn_model, tmp_path):
    cache = tmp_path / "model.tflite"
    cache.write_bytes(b"not a flatbuffer")
    assert Predictor(bn_model, litert=True, litert_cache=cache).lite is not None
    assert cache.read_bytes() != b"not a flatbuffer"
    import keras  # another model's conversion: it gives other answers, so it is not used

    keras.utils.set_random_seed(9)
    other = presets.build("convscope-fast")
    Predictor(other, litert=True, litert_cache=tmp_path / "other.tflite")
    cache.write_bytes((tmp_path / "other.tflite").read_bytes())
    predictor = Predictor(bn_model, litert=True, litert_cache=cache)
    x = images(1, seed=8)[0]
    np.testing.assert_allclose(predictor(x).probabilities, Predictor(bn_model)(x).probabilities, atol=1e-5)
    assert cache.read_bytes() != (tmp_path / "other.tflite").read_bytes()


def test_an_unwritable_cache_is_skipped(bn_model, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    assert Predictor(bn_model, litert=True, litert_cache=blocker / "model.tflite").lite is not None


def test_a_conversion_prints_nothing_on_stdout_and_leaves_keras_logging_as_it_was(bn_model, capfd):
    import keras

    assert keras.config.is_interactive_logging_enabled()
    assert Predictor(bn_model, litert=True).lite is not None
    out = capfd.readouterr().out
    assert "TensorSpec" not in out and "Saved artifact" not in out, out[:500]
    assert keras.config.is_interactive_logging_enabled(), "the CLI's progress bars still print"
