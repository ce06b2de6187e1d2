"""The Fashion page under AppTest with the shipped Fashion model and the test images on this machine."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from model_store.store import DEFAULTS_DIR
from training.datasets import CLASS_NAMES
from training.samples import test_images as load_test_images

FASHION = "app_pages/fashion.py"
NAMES = CLASS_NAMES["fashion-mnist"]

pytestmark = pytest.mark.skipif(not (DEFAULTS_DIR / "convscope-fashion.keras").exists(),
                                reason="the shipped Fashion model model_store/defaults/convscope-fashion.keras is missing")


@pytest.fixture
def app(open_app):
    return open_app(FASHION)


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    """What the shipped model predicts for each test image, computed here in one batch."""
    from model_store.inference import Predictor
    from model_store.store import ModelStore

    test = load_test_images("fashion-mnist")
    predictor = Predictor(ModelStore(user_dir=tmp_path_factory.mktemp("models")).load("convscope-fashion"))
    return test, predictor


def shown(at) -> tuple[str, str]:
    """(predicted class, verdict) as the page shows them."""
    for md in at.markdown:
        label = re.search(r"data-testid='prediction'[^>]*>(.*?)</div>", md.value)
        if label:
            return label.group(1), re.search(r"data-testid='verdict'>(.*?)</div>", md.value).group(1)
    raise AssertionError("no prediction on the page")


def check_position(at, expected, pos: int):
    test, predictor = expected
    probs = predictor.probabilities(test.images[pos][None].astype(np.float32) / 255.0)[0]
    label, verdict = shown(at)
    assert label == NAMES[int(np.argmax(probs))]
    assert any(f"True class: **{NAMES[int(test.labels[pos])]}**" in md.value for md in at.markdown)
    assert verdict.startswith("correct") == (int(np.argmax(probs)) == int(test.labels[pos]))


def test_pick_by_index(app, expected):
    full = expected[0].full
    picker = app.number_input(key="fashion_pick") if full else app.selectbox(key="fashion_pick")
    picker.set_value(17).run()
    assert not app.exception
    check_position(app, expected, 17)


def test_pick_from_the_class_gallery(app, expected):
    test, _ = expected
    app.selectbox(key="fashion_class").set_value(7).run()  # Sneaker
    first_sneaker = int(test.by_class(7)[0])
    app.button(key=f"thumb_{first_sneaker}").click().run()
    assert not app.exception
    assert app.session_state.fashion_pick == first_sneaker
    check_position(app, expected, first_sneaker)


def test_random_pick_and_feature_maps(app, expected):
    app.button(key="fashion_random").click().run()
    assert not app.exception
    check_position(app, expected, app.session_state.fashion_pick)
    assert len(app.tabs) == sum(1 for row in expected[1].model.layers if type(row).__name__ == "Conv2D")


def test_the_class_picker_and_the_image_shown_agree(app, expected):
    test, _ = expected
    first = int(test.labels[0])  # image #0 is an ankle boot, not the first class (T-shirt/top)
    assert app.selectbox(key="fashion_class").value == first
    assert any(f"True class: **{NAMES[first]}**" in md.value for md in app.markdown)

    app.selectbox(key="fashion_class").set_value(3).run()  # Dress: its first image is shown at once
    assert not app.exception
    assert int(test.labels[app.session_state.fashion_pick]) == 3
    check_position(app, expected, int(test.by_class(3)[0]))

    pos = int(test.by_class(8)[0])  # a bag picked by its number: the class picker follows
    picker = app.number_input(key="fashion_pick") if test.full else app.selectbox(key="fashion_pick")
    picker.set_value(pos).run()
    assert app.selectbox(key="fashion_class").value == 8
    check_position(app, expected, pos)


def test_presentation_mode_keeps_the_answer_and_the_maps_and_drops_the_filters(open_app):
    at = open_app(FASHION)
    assert [s.value for s in at.subheader] == ["Feature maps", "Why this answer?", "Filters"]
    at.sidebar.toggle(key="present").set_value(True).run()
    assert not at.exception
    assert [s.value for s in at.subheader] == ["Feature maps", "Why this answer?"]
    assert not [t for t in at.toggle if t.key == "fashion_filters"]
    assert shown(at)[0] in NAMES and at.tabs


def test_in_korean_the_answer_and_the_sections_are_korean(open_app):
    ko = json.loads((Path(__file__).resolve().parents[2] / "app_pages" / "locales" / "ko.json").read_text("utf-8"))
    at = open_app(FASHION, lang="ko")
    label, verdict = shown(at)
    assert label in [ko[f"class.{name}"] for name in NAMES] and verdict in (ko["common.correct"], ko["common.wrong"])
    assert [s.value for s in at.subheader] == [ko["maps.title"], ko["explain.title"], ko["filters.title"]]
