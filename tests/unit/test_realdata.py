"""Checks on the real MNIST / Fashion-MNIST files and the shipped default models.

They need the real data (``CONVSCOPE_DATA`` or /work/shared/datasets) and skip with the reason when it is absent;
the default-model checks also skip while ``model_store/defaults/`` does not hold the model yet.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from model_store import numbers, preprocess
from model_store.model_input import to_float
from model_store.store import DEFAULTS_DIR, ModelStore
from tests.unit.unit_data import SHARED_DATA, real_data_dir
from training import datasets
from training.defaults import DEFAULT_NAMES
from training.evaluate import evaluate

pytestmark = pytest.mark.realdata

MIN_ACCURACY = {"mnist": 0.995, "fashion-mnist": 0.935}


def data_dir_for(dataset: str):
    folder = real_data_dir(dataset)
    if folder is None:
        pytest.skip(f"real {dataset} not found: set CONVSCOPE_DATA to a folder with "
                    f"{dataset}/t10k-images-idx3-ubyte.gz (looked in $CONVSCOPE_DATA and {SHARED_DATA})")
    return folder


@pytest.fixture(scope="module")
def mnist_test():
    return datasets.load("mnist", data_dir_for("mnist"), allow_download=False, test_only=True).test


@pytest.mark.parametrize("dataset", datasets.DATASETS)
def test_real_files_load_with_the_canonical_counts(dataset):
    data = datasets.load(dataset, data_dir_for(dataset), allow_download=False)
    assert len(data.train.labels) == 60000 and len(data.test.labels) == 10000
    assert data.train.images.shape == (60000, 28, 28) and data.test.images.dtype == np.uint8
    for split in (data.train, data.test):
        assert set(np.unique(split.labels)) == set(range(10))
        assert split.images.max() == 255 and np.median(split.images[:, 0, 0]) == 0  # ink bright on black


def test_mnist_digits_pass_through_mnist_style_unchanged(mnist_test):
    """MNIST was made by the same recipe (20 px box, centre of mass at (14, 14)): redoing it changes next to nothing."""
    diffs, statuses = [], {}
    for image in mnist_test.images:
        prepared = preprocess.mnist_style(image)
        statuses[prepared.status] = statuses.get(prepared.status, 0) + 1
        if prepared.status == "ok":
            diffs.append(np.abs(prepared.image - to_float(image)).mean())
    assert statuses == {"ok": 10000}, statuses  # not one refused (the old blob test refused 9 bold ones)
    diffs = np.asarray(diffs)
    assert diffs.mean() <= 0.0004, f"mean abs difference {diffs.mean():.5f}"
    assert np.median(diffs) == 0.0


def test_real_digits_anywhere_on_a_bigger_canvas_give_the_same_input(mnist_test):
    for image in mnist_test.images[:50]:
        reference = preprocess.mnist_style(image).image
        for top, left in [(0, 0), (5, 40), (37, 12)]:
            canvas = np.zeros((65, 70), np.uint8)
            canvas[top:top + 28, left:left + 28] = image
            np.testing.assert_allclose(preprocess.mnist_style(canvas).image, reference, atol=1e-6)
            np.testing.assert_allclose(preprocess.mnist_style(255 - canvas).image, reference, atol=1e-5)


def shipped_model(dataset: str):
    name = DEFAULT_NAMES[dataset]
    keras_file, meta_file = DEFAULTS_DIR / f"{name}.keras", DEFAULTS_DIR / f"{name}.json"
    if not (keras_file.is_file() and meta_file.is_file()):
        pytest.skip(f"shipped default {name} not in {DEFAULTS_DIR} yet (train it with "
                    f"`python -m training defaults --dataset {dataset}`)")
    return name


@pytest.mark.parametrize("dataset", datasets.DATASETS)
def test_shipped_default_model_accuracy(dataset, tmp_path):
    name = shipped_model(dataset)
    folder = data_dir_for(dataset)
    store = ModelStore(user_dir=tmp_path / "user", defaults_dir=DEFAULTS_DIR)
    entry = store.get(name)
    assert entry.shipped and entry.broken is None and entry.dataset == dataset
    meta = json.loads((DEFAULTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    test = datasets.load(dataset, folder, allow_download=False, test_only=True).test
    report = evaluate(store.load(name), test, meta.get("class_names", datasets.CLASS_NAMES[dataset]))
    assert report["count"] == 10000
    assert report["accuracy"] >= MIN_ACCURACY[dataset], f"{name}: {report['accuracy']:.4f}"
    assert meta["test_accuracy"] == pytest.approx(report["accuracy"], abs=0.001), \
        f"metadata says {meta['test_accuracy']}, evaluation gives {report['accuracy']}"
    assert store.active(dataset) == name  # an empty user store falls back to the shipped default


@pytest.fixture(scope="module")
def shipped_digits():
    from model_store.inference import Predictor

    name = shipped_model("mnist")
    return Predictor(ModelStore(defaults_dir=DEFAULTS_DIR).load(name))


def test_shipped_model_reads_mnist_through_the_preprocessing(mnist_test, shipped_digits):
    """The Draw page's and the CLI's path: MNIST's own test digits through mnist_style keep the model's accuracy."""
    images = np.stack([preprocess.mnist_style(image).image for image in mnist_test.images])
    accuracy = (shipped_digits.probabilities(images).argmax(1) == mnist_test.labels).mean()
    assert accuracy >= MIN_ACCURACY["mnist"], f"{accuracy:.4f}"


def test_real_digits_side_by_side_are_read_as_numbers(mnist_test, shipped_digits):
    """4-digit numbers made of MNIST test digits (their 28x28 tiles 0-8 px apart), dark on light: segmented into
    four digits and read whole."""
    rng = np.random.default_rng(0)
    whole = segmented = 0
    for _ in range(200):
        picks = rng.choice(len(mnist_test.labels), 4, replace=False)
        gaps = rng.integers(0, 9, 3)
        canvas = np.zeros((48, 20 + 4 * 28 + int(gaps.sum()) + 20), np.uint8)
        x = 20
        for pick, gap in zip(picks, [*gaps, 0]):
            canvas[10:38, x:x + 28] = np.maximum(canvas[10:38, x:x + 28], mnist_test.images[pick])
            x += 28 + int(gap)
        digits = numbers.segment_digits(255 - canvas)
        if len(digits) != 4 or any(d.status != "ok" for d in digits):
            continue
        segmented += 1
        read = shipped_digits.probabilities(np.stack([d.image for d in digits])).argmax(1)
        whole += bool((read == mnist_test.labels[picks]).all())
    assert segmented >= 194, f"{segmented} of 200 numbers split into their 4 digits"
    assert whole >= 190, f"{whole} of 200 numbers read whole"
