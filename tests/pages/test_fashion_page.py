"""The Fashion page under AppTest with the shipped Fashion model and the test images on this machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model_store.store import DEFAULTS_DIR
from training.datasets import CLASS_NAMES
from training.samples import test_images as load_test_images

APP = str(Path(__file__).resolve().parents[2] / "app.py")
NAMES = CLASS_NAMES["fashion-mnist"]

pytestmark = pytest.mark.skipif(not (DEFAULTS_DIR / "convscope-fashion.keras").exists(),
                                reason="the shipped Fashion model model_store/defaults/convscope-fashion.keras is missing")


@pytest.fixture
def app(monkeypatch, tmp_path):
    import streamlit as st

    monkeypatch.setenv("CONVSCOPE_MODELS", str(tmp_path / "models"))
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/fashion.py").run()
    assert not at.exception
    return at


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
        if "data-testid='prediction'" in md.value:
            label = md.value.split("line-height:1.1'>")[1].split("</div>")[0]
            verdict = md.value.split("data-testid='verdict'>")[1].split("</div>")[0]
            return label, verdict
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
