"""The Draw page under AppTest, with the canvas' return value supplied by the test.

AppTest cannot drive the canvas component, so the test replaces ``st_canvas`` with a stand-in that
returns the RGBA image the test drew; everything else on the page runs for real with the shipped
digit model.
"""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from model_store.store import DEFAULTS_DIR
from tests.pages.fakes import ONE_SMALL_CORNER, SEVEN, FakeCanvas, drawing, install_fake_canvas

pytestmark = pytest.mark.skipif(not (DEFAULTS_DIR / "convscope-digits.keras").exists(),
                                reason="the shipped digit model model_store/defaults/convscope-digits.keras is missing")


@pytest.fixture
def app(monkeypatch, open_app):
    install_fake_canvas(monkeypatch)
    return open_app()  # the Draw page is the default page


def marked(at, testid: str) -> str | None:
    """The text of the element marked ``data-testid=testid`` in the page's Markdown, or None."""
    for md in at.markdown:
        found = re.search(rf"data-testid='{testid}'[^>]*>(.*?)</", md.value)
        if found:
            return found.group(1)
    return None


def predicted(at) -> str | None:
    return marked(at, "prediction")


def test_empty_canvas_shows_a_hint_not_a_prediction(app):
    assert not app.exception
    assert any("Draw a digit" in i.value for i in app.info)
    assert predicted(app) is None


@pytest.mark.parametrize("strokes, digit", [(SEVEN, "7"), (ONE_SMALL_CORNER, "1")])
def test_a_drawing_is_read_after_the_stroke(app, strokes, digit):
    FakeCanvas.image = drawing(strokes)
    app.run()
    assert not app.exception
    assert predicted(app) == digit
    probabilities = [h.proto.body for h in app.get("html") if "data-testid='probabilities'" in h.proto.body]
    assert len(probabilities) == 1, "probability bars missing"
    assert f"data-predicted='{digit}'" in probabilities[0]
    layers = json.loads((DEFAULTS_DIR / "convscope-digits.json").read_text())["layers"]
    conv_layers = [row["name"] for row in layers if row["type"] == "Conv2D"]
    labels = [t.label for t in app.tabs]
    assert [label.split(" · ")[0] for label in labels] == conv_layers


def test_naive_resize_comparison_shows_both_predictions(app):
    FakeCanvas.image = drawing(ONE_SMALL_CORNER)
    app.run()
    app.toggle(key="compare_naive").set_value(True).run()
    assert not app.exception
    captions = " ".join(str(img.proto) for img in app.get("image"))
    assert "Naive resize" in captions and "MNIST-style" in captions
    assert any("Naive resize reads" in md.value for md in app.markdown)


def test_pixel_values_grid(app):
    FakeCanvas.image = drawing(SEVEN)
    app.run()
    app.checkbox(key="show_values").check().run()
    frames = app.dataframe
    assert frames, "pixel grid missing"
    values = frames[0].value.to_numpy()
    assert values.shape == (28, 28) and values.max() == 255 and values.min() == 0


def test_mnist_test_digit_shows_true_label_and_verdict(app):
    from training.samples import test_images

    test = test_images("mnist")
    app.segmented_control(key="draw_source").set_value("mnist").run()
    # The full test set is picked by number, the shipped sample from a list of its official indices.
    picker = app.number_input(key="mnist_pick") if test.full else app.selectbox(key="mnist_pick")
    picker.set_value(3).run()
    assert not app.exception
    assert any(f"true label **{int(test.labels[3])}**" in c.value for c in app.caption)
    assert marked(app, "verdict") is not None


def test_low_confidence_is_marked():
    def page():
        from app_pages import views

        views.prediction_headline("3", 0.41)
        views.prediction_headline("8", 0.97)

    at = AppTest.from_function(page).run()
    confidences = [re.search(r"data-testid='confidence'>(.*?)</div>", md.value).group(1) for md in at.markdown]
    assert "low confidence" in confidences[0] and "low confidence" not in confidences[1]


def store_user_model(tmp_path, name: str, meta: dict, nan: bool = False) -> None:
    """A tiny digit model in the test's store, made the active digit model (NaN weights if ``nan``)."""
    import keras
    import numpy as np

    from model_store.store import ModelStore

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    if nan:
        model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    store = ModelStore(user_dir=tmp_path / "models")
    store.save(model, {"dataset": "mnist", "created_at": "2026-01-01T00:00:00+00:00", **meta}, name)
    store.set_active("mnist", name)


@pytest.mark.parametrize(("meta", "nan", "message"), [
    ({}, True, "NaN or infinity"),
    ({"class_names": ["a", "b", "c"]}, False, "its metadata names 3 classes"),
])
def test_a_model_that_cannot_give_sensible_probabilities_shows_why_not_bars(monkeypatch, tmp_path, open_app, meta, nan,
                                                                          message):
    store_user_model(tmp_path, "odd", meta, nan=nan)
    install_fake_canvas(monkeypatch)
    at = open_app()
    FakeCanvas.image = drawing(SEVEN)
    at.run()
    assert not at.exception, at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert predicted(at) is None
    assert not [h for h in at.get("html") if "data-testid='probabilities'" in h.proto.body]


def test_presentation_mode_keeps_the_answer_and_the_maps_and_drops_the_controls(app):
    FakeCanvas.image = drawing(SEVEN)
    app.run()
    assert [s.value for s in app.subheader] == ["What the model sees", "Feature maps", "Why this answer?", "Filters"]
    app.sidebar.toggle(key="present").set_value(True).run()
    assert not app.exception
    assert [s.value for s in app.subheader] == ["What the model sees", "Feature maps", "Why this answer?"]
    assert not [c for c in app.checkbox if c.key == "show_values"] and not [t for t in app.toggle if t.key == "draw_filters"]
    assert predicted(app) == "7" and app.tabs
