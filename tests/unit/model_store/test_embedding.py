"""The drawing map (model_store/embedding.py): a stratified sample of test images projected to 2D, new drawings placed
on it by the same projection, their nearest mapped images, and the map kept beside the model in the store."""

from __future__ import annotations

import os

import numpy as np
import pytest

from model_store import embedding
from model_store.store import ModelStore
from tests.unit.unit_data import learnable_images, meta_for, real_data_dir, tiny_conv_model


@pytest.fixture(scope="module")
def data():
    return learnable_images(400, seed=3)


@pytest.fixture(scope="module")
def drawing_map(data):
    images, labels = data
    return embedding.DrawingMap(tiny_conv_model(), images, labels, size=200, litert=False)


def test_the_sample_has_an_equal_share_of_every_class_and_is_repeatable():
    labels = np.repeat(np.arange(10), [50, 40, 30, 60, 70, 80, 90, 100, 110, 5])
    picked = embedding.stratified_sample(labels, size=100, seed=1)
    counts = np.bincount(labels[picked], minlength=10)
    assert counts.tolist() == [10] * 9 + [5], "a class with fewer images than its share gives all it has"
    assert np.all(np.diff(picked) > 0)
    np.testing.assert_array_equal(picked, embedding.stratified_sample(labels, size=100, seed=1))
    assert not np.array_equal(picked, embedding.stratified_sample(labels, size=100, seed=2))


def test_the_map_is_the_projection_of_the_features_on_two_principal_axes(drawing_map):
    mapped = drawing_map.map
    assert mapped.points.shape == (200, 2) and len(mapped.labels) == 200
    np.testing.assert_allclose(mapped.project(mapped.features), mapped.points, atol=1e-4)
    np.testing.assert_allclose(mapped.axes.T @ mapped.axes, np.eye(2), atol=1e-5)  # orthonormal
    assert 1 >= mapped.explained[0] >= mapped.explained[1] > 0
    centred = mapped.features - mapped.mean
    variance = centred.var(axis=0).sum()
    kept = mapped.points.var(axis=0)
    np.testing.assert_allclose(kept / variance, mapped.explained, rtol=1e-3)


def test_a_mapped_image_placed_again_lands_on_its_own_point_and_is_its_own_nearest(data, drawing_map):
    images, labels = data
    mapped = drawing_map.map
    for index in (0, 57, 199):
        image = images[mapped.positions[index]].astype(np.float32) / 255
        placed = drawing_map.place(image, k=5)
        np.testing.assert_allclose(placed.point, mapped.points[index], atol=1e-3)
        assert placed.neighbours[0] == index and placed.distances[0] < 1e-2
        assert np.all(np.diff(placed.distances) >= 0), "nearest first"
        assert placed.probabilities.shape == (10,) and abs(placed.probabilities.sum() - 1) < 1e-4


def test_nearest_neighbours_mostly_share_the_class(data, drawing_map):
    """Even an untrained network's features keep the classes of these images apart (a bar per class at its own row)."""
    images, labels = learnable_images(30, seed=9)  # images that are not on the map
    agree = [np.mean(drawing_map.map.labels[drawing_map.place(image.astype(np.float32) / 255, k=5).neighbours] == label)
             for image, label in zip(images, labels)]
    assert np.mean(agree) > 0.8


def test_litert_places_a_drawing_where_tensorflow_does(data, drawing_map):
    images, labels = data
    lite = embedding.DrawingMap(tiny_conv_model(), images, labels, size=200, litert=True)
    if lite.reader.lite is None:
        pytest.skip("LiteRT is switched off here (CONVSCOPE_LITERT=0) or could not convert this model")
    image = images[5].astype(np.float32) / 255
    np.testing.assert_allclose(lite.place(image).point, drawing_map.place(image).point, atol=1e-4)


def saved(tmp_path, seed=0):
    store = ModelStore(user_dir=tmp_path / "models", defaults_dir=tmp_path / "no-defaults")
    entry = store.save(tiny_conv_model(seed), meta_for(), "tiny")
    return store, entry


def test_the_map_is_kept_beside_the_model_and_rebuilt_when_the_model_file_changes(tmp_path, data, monkeypatch):
    images, labels = data
    store, entry = saved(tmp_path)
    model = store.load("tiny")
    first = embedding.DrawingMap.in_store(store, entry.path, model, images, labels, size=200, litert=False)
    assert not first.from_cache
    kept = store.derived_path(entry.path, embedding.cache_tag(images, labels, size=200))
    assert kept.is_file()

    def no_building(*args, **kwargs):
        raise AssertionError("the kept map should have been read, not built again")

    with monkeypatch.context() as patch:
        patch.setattr(embedding, "build_map", no_building)
        second = embedding.DrawingMap.in_store(store, entry.path, model, images, labels, size=200, litert=False)
    assert second.from_cache
    np.testing.assert_array_equal(second.map.points, first.map.points)

    tiny_conv_model(seed=7).save(entry.path)  # the same name, another model file
    changed = store.load("tiny")
    third = embedding.DrawingMap.in_store(store, entry.path, changed, images, labels, size=200, litert=False)
    assert not third.from_cache
    assert not np.allclose(third.map.points, first.map.points)
    assert store.derived_path(entry.path, embedding.cache_tag(images, labels, size=200)) != kept


def test_another_image_set_is_another_map(tmp_path, data):
    images, labels = data
    assert embedding.cache_tag(images, labels) != embedding.cache_tag(images[:300], labels[:300])
    assert embedding.cache_tag(images, labels, size=200) != embedding.cache_tag(images, labels, size=300)


def test_a_damaged_cache_file_is_built_again(tmp_path, data):
    images, labels = data
    cache = tmp_path / "map.npz"
    cache.write_bytes(b"PK\x03\x04 not a whole archive")
    rebuilt = embedding.DrawingMap(tiny_conv_model(), images, labels, cache=cache, size=200, litert=False)
    assert not rebuilt.from_cache and len(rebuilt.map.points) == 200
    assert embedding.DrawingMap(tiny_conv_model(), images, labels, cache=cache, size=200, litert=False).from_cache


@pytest.mark.realdata
@pytest.mark.skipif(not os.environ.get("CONVSCOPE_DATA") or real_data_dir("mnist") is None,
                    reason="set CONVSCOPE_DATA to a folder with the real MNIST files to map real digits")
def test_on_real_digits_the_shipped_model_puts_alike_digits_together(tmp_path):
    from model_store.model_input import to_float
    from training.datasets import load_test

    test = load_test("mnist", real_data_dir("mnist"))
    model = ModelStore(user_dir=tmp_path / "models").load("convscope-digits")
    drawing_map = embedding.DrawingMap(model, test.images, test.labels, size=1000, litert=False)
    held_out = np.setdiff1d(np.arange(len(test.labels)), drawing_map.map.positions)[:100]
    agree = [drawing_map.map.labels[drawing_map.place(to_float(test.images[i]), k=5).neighbours[0]] == test.labels[i]
             for i in held_out]
    assert np.mean(agree) > 0.95
