"""Activation maximisation (model_store/filter_viz.py): each filter's and each class's preferred input, kept beside
the model in the store, and computed off the caller's thread by ``BackgroundCache``."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from model_store import filter_viz
from model_store.store import ModelStore
from tests.unit.unit_data import meta_for, tiny_conv_model


@pytest.fixture(scope="module")
def model():
    return tiny_conv_model()


def centre_response(model, layer: str, images: np.ndarray) -> np.ndarray:
    """Filter k's response at the centre of its map to image k, before any ReLU (tiny_conv_model's convs have none)."""
    import keras

    maps = np.asarray(keras.Model(model.inputs, model.get_layer(layer).output)([images[..., None]]))
    h, w = maps.shape[1:3]
    return maps[np.arange(len(images)), h // 2, w // 2, np.arange(len(images))]


@pytest.mark.parametrize("layer", ["c1", "c2"])
def test_every_filter_responds_more_to_its_preferred_input_than_to_the_starting_noise(model, layer):
    result = filter_viz.preferred_inputs(model, layer, steps=40)
    count = model.get_layer(layer).filters
    assert result.images.shape == (count, 28, 28) and result.images.min() >= 0 and result.images.max() <= 1
    noise = np.random.default_rng(filter_viz.SEED).random((count, 28, 28), np.float32) * filter_viz.START_NOISE
    np.testing.assert_allclose(result.start, centre_response(model, layer, noise), atol=1e-5)
    np.testing.assert_allclose(result.score, centre_response(model, layer, result.images), atol=1e-4)
    assert np.all(result.score > result.start + 0.1)


def test_a_first_layer_filter_sees_three_by_three_pixels_and_a_deeper_one_more(model):
    first = filter_viz.preferred_inputs(model, "c1", steps=2)
    assert first.field == (13, 16, 13, 16) and first.cropped().shape == (4, 3, 3)
    deeper = filter_viz.preferred_inputs(model, "c2", steps=2)
    top, bottom, left, right = deeper.field
    assert bottom - top > 3 and right - left > 3


def test_each_class_gets_a_more_likely_input(model):
    result = filter_viz.preferred_inputs(model, filter_viz.CLASSES, steps=40)
    assert result.images.shape == (10, 28, 28) and result.target is None
    assert np.all(result.score > result.start)
    probabilities = np.asarray(model(result.images[..., None]))
    assert np.mean(probabilities.argmax(axis=1) == np.arange(10)) >= 0.8, "most preferred inputs are read as their class"


def test_progress_is_reported_step_by_step(model):
    seen = []
    filter_viz.preferred_inputs(model, "c1", steps=5, progress=seen.append)
    assert seen == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])


def test_an_unknown_layer_is_refused(model):
    with pytest.raises(ValueError, match="not a Conv2D layer"):
        filter_viz.preferred_inputs(model, "probabilities")


def test_results_are_kept_beside_the_model_and_computed_again_for_a_changed_model_file(tmp_path, monkeypatch):
    store = ModelStore(user_dir=tmp_path / "models", defaults_dir=tmp_path / "no-defaults")
    entry = store.save(tiny_conv_model(), meta_for(), "tiny")
    cache = store.derived_path(entry.path, filter_viz.cache_tag("c1", steps=10))
    first = filter_viz.cached_preferred_inputs(store.load("tiny"), "c1", cache, steps=10)
    assert cache.is_file()

    def no_computing(*args, **kwargs):
        raise AssertionError("the kept result should have been read, not computed again")

    with monkeypatch.context() as patch:
        patch.setattr(filter_viz, "preferred_inputs", no_computing)
        again = filter_viz.cached_preferred_inputs(store.load("tiny"), "c1", cache, steps=10)
    np.testing.assert_array_equal(again.images, first.images)
    assert again.field == first.field

    tiny_conv_model(seed=5).save(entry.path)
    changed_cache = store.derived_path(entry.path, filter_viz.cache_tag("c1", steps=10))
    assert changed_cache != cache and not changed_cache.exists()
    changed = filter_viz.cached_preferred_inputs(store.load("tiny"), "c1", changed_cache, steps=10)
    assert changed_cache.is_file() and not np.allclose(changed.images, first.images)


def test_layer_names_make_distinct_safe_file_names():
    tags = {filter_viz.cache_tag(name) for name in ("conv 1", "conv_1", "conv/1", None)}
    assert len(tags) == 4 and all("/" not in tag and " " not in tag for tag in tags)


def test_the_background_cache_computes_once_per_key_off_the_callers_thread():
    cache = filter_viz.BackgroundCache()
    release = threading.Event()
    calls = []

    def compute(progress):
        calls.append(threading.current_thread().name)
        progress(0.5)
        release.wait(5)
        return "done"

    job = cache.job("a", compute)
    assert cache.job("a", compute) is job
    assert not job.done, "the caller is not kept waiting"
    release.set()
    assert job.wait(5) and job.result == "done" and job.error is None and job.progress == 1.0
    assert calls and calls[0] != threading.current_thread().name
    assert len(calls) == 1


def test_a_failed_job_keeps_its_error_until_forgotten():
    cache = filter_viz.BackgroundCache()

    def broken(progress):
        raise ValueError("no such layer")

    job = cache.job("x", broken)
    assert job.wait(5) and isinstance(job.error, ValueError) and job.result is None
    assert cache.job("x", broken) is job
    cache.forget("x")
    assert cache.job("x", lambda progress: 42).wait(5)
    assert cache.job("x", broken).result == 42
