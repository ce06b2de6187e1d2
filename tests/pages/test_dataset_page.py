"""The Datasets page under AppTest, on tiny IDX files the test writes: a class's images, page by page, one image opened
with its pixel values, and what is said when a split is not on this machine."""

from __future__ import annotations

import numpy as np
import pytest

from tests.pages.tiny_data import write_data
from tests.unit.unit_data import learnable_images

DATASETS = "app_pages/dataset.py"
N_TRAIN, N_TEST = 600, 80


@pytest.fixture
def app(monkeypatch, tmp_path, open_app):
    from training import datasets

    monkeypatch.setenv("CONVSCOPE_DATA", str(write_data(tmp_path / "data", n_train=N_TRAIN, n_test=N_TEST)))
    monkeypatch.setattr(datasets, "DEBIAN_DIRS", {})  # no Fashion-MNIST from the system either
    return open_app(DATASETS)


def split(part: str) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels write_data put in the ``part`` split (train: seed 0, test: seed 1)."""
    return learnable_images(N_TRAIN, 0) if part == "train" else learnable_images(N_TEST, 1)


def thumbnails(at) -> list[str]:
    """The labels of the image buttons (each is the image's number in its split), in reading order: the page fills a
    grid row by row, and AppTest lists a grid column by column."""
    return sorted((b.label for b in at.button if b.key and b.key.startswith("data_open_")), key=lambda s: int(s[1:]))


def test_a_class_shows_its_images_with_their_numbers(app):
    images, labels = split("test")
    counts = np.bincount(labels, minlength=10)
    assert app.selectbox(key="data_class").options == [f"{k} ({counts[k]})" for k in range(10)]
    assert thumbnails(app) == [f"#{p}" for p in np.flatnonzero(labels == 0)]
    app.selectbox(key="data_class").set_value(3).run()
    assert not app.exception, app.exception
    members = np.flatnonzero(labels == 3)
    assert thumbnails(app) == [f"#{p}" for p in members]
    first = int(members[0])  # nothing opened yet: the first image of the class
    assert app.subheader[0].value == f"Image #{first}: 3"
    np.testing.assert_array_equal(app.dataframe[0].value.to_numpy(), images[first])


def test_the_page_picker_turns_the_pages_of_a_class_and_a_click_opens_an_image(app):
    images, labels = split("train")
    app.segmented_control(key="data_split").set_value("train").run()
    app.selectbox(key="data_class").set_value(5).run()
    members = np.flatnonzero(labels == 5)
    pages = -(-len(members) // 24)
    assert pages >= 2
    picker = app.number_input(key="data_page_mnist_train_5")
    assert (picker.label, picker.min, picker.max, picker.value) == (f"Page (1-{pages})", 1, pages, 1)
    assert thumbnails(app) == [f"#{p}" for p in members[:24]]
    picker.set_value(2).run()
    assert not app.exception, app.exception
    assert thumbnails(app) == [f"#{p}" for p in members[24:48]]
    pos = int(members[30])
    app.button(key=f"data_open_{pos}").click().run()
    assert app.subheader[0].value == f"Image #{pos}: 5"
    np.testing.assert_array_equal(app.dataframe[0].value.to_numpy(), images[pos])


def test_a_missing_training_set_is_said_and_the_test_sample_is_still_there(app):
    app.segmented_control(key="data_dataset").set_value("fashion-mnist").run()
    assert not app.exception, app.exception
    assert any("shipped sample of 200 images" in c.value for c in app.caption), [c.value for c in app.caption]
    assert thumbnails(app)  # the sample's T-shirts
    app.segmented_control(key="data_split").set_value("train").run()
    assert not app.exception, app.exception
    assert [w.value for w in app.warning] == [
        "The Fashion-MNIST training set is not on this machine; the test sample is still here."]
    assert not thumbnails(app)
