"""The Draw page under AppTest, with the canvas' return value supplied by the test.

AppTest cannot drive the canvas component, so the test replaces ``st_canvas`` with a stand-in that
returns the RGBA image the test drew; everything else on the page runs for real with the shipped
digit model. AppTest cannot run the result panel's JavaScript either (``app_pages/panel.py``): the tests
read the payload the page hands it, which is everything the panel shows.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app_pages import resources
from app_pages.panel import COMPONENT, layer_key
from model_store.panel import unpack
from model_store.store import DEFAULTS_DIR
from tests.pages.fakes import ONE_SMALL_CORNER, SEVEN, FakeCanvas, drawing, install_fake_canvas

pytestmark = pytest.mark.skipif(not (DEFAULTS_DIR / "convscope-digits.keras").exists(),
                                reason="the shipped digit model model_store/defaults/convscope-digits.keras is missing")


@pytest.fixture
def app(monkeypatch, open_app):
    install_fake_canvas(monkeypatch)
    return open_app()  # the Draw page is the default page


def panels(at) -> list:
    return [e.proto for e in at.get("bidi_component") if e.proto.component_name == COMPONENT]


def payload(at) -> dict | None:
    """What the result panel shows, or None while it is empty (there is exactly one panel on the page)."""
    (proto,) = panels(at)
    return unpack(proto.bytes) if proto.bytes else None


def predicted(at) -> str | None:
    shown = payload(at)
    return None if shown is None else shown["label"]


def test_empty_canvas_shows_a_hint_and_an_empty_panel(app):
    assert not app.exception
    assert any("Draw a digit" in i.value for i in app.info)
    assert payload(app) is None  # mounted, so that the first stroke only fills it in
    # the controls are there before the first stroke too: a stroke then changes nothing but the panel
    assert [c.key for c in app.main.toggle] == ["compare_naive", "draw_explain", "draw_filters"]
    assert [c.key for c in app.main.checkbox] == ["show_values"]


@pytest.mark.parametrize("strokes, digit", [(SEVEN, "7"), (ONE_SMALL_CORNER, "1")])
def test_a_drawing_is_read_after_the_stroke(app, strokes, digit):
    FakeCanvas.image = drawing(strokes)
    app.run()
    assert not app.exception
    shown = payload(app)
    assert shown["label"] == digit and shown["predicted"] == int(digit)
    assert re.fullmatch(r"confidence [<>]?\d+\.\d%", shown["confidence"])
    assert len(shown["bars"]["p"]) == 10 and max(shown["bars"]["p"]) == shown["bars"]["p"][int(digit)]
    assert [view["id"] for view in shown["sees"]["views"]] == ["mnist_style"]
    layers = json.loads((DEFAULTS_DIR / "convscope-digits.json").read_text())["layers"]
    conv_layers = [row["name"] for row in layers if row["type"] == "Conv2D"]
    assert [label.split(" · ")[0] for label in shown["maps"]["layers"]] == conv_layers
    assert shown["maps"]["open"] == 0 and shown["maps"]["layer"]["name"] == conv_layers[0]
    assert not app.tabs and not app.get("image") and not app.get("html")  # the panel shows them, not elements


def test_a_layer_picked_in_the_panel_is_sent_from_then_on(app):
    FakeCanvas.image = drawing(SEVEN)
    app.run()
    app.session_state[layer_key("draw_panel")] = 2  # what a click on the panel's third tab leads to
    app.run()
    assert not app.exception
    assert payload(app)["maps"]["open"] == 2
    FakeCanvas.image = drawing(ONE_SMALL_CORNER)  # the next stroke keeps it
    app.run()
    assert payload(app)["maps"]["open"] == 2 and payload(app)["label"] == "1"


def test_naive_resize_comparison_shows_both_inputs_and_readings(app):
    FakeCanvas.image = drawing(ONE_SMALL_CORNER)
    app.run()
    app.toggle(key="compare_naive").set_value(True).run()
    assert not app.exception
    mnist_style, naive = payload(app)["sees"]["views"]
    assert mnist_style["caption"].startswith("MNIST-style") and naive["caption"].startswith("Naive resize")
    assert re.fullmatch(r"Naive resize reads: \*\*\d\*\* \([<>]?\d+%\)", naive["reads"])
    assert mnist_style["pixels"] != naive["pixels"]


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
    truth = int(test.labels[3])
    assert any(f"true label **{truth}**" in c.value for c in app.caption)
    shown = payload(app)
    assert shown["true"] == truth
    assert shown["verdict"] == ("correct ✓" if shown["predicted"] == truth else f"wrong ✗, it is a {truth}")


def test_in_korean_the_panel_speaks_korean(monkeypatch, open_app):
    from app_pages.i18n import strings

    install_fake_canvas(monkeypatch)
    at = open_app(lang="ko")
    FakeCanvas.image = drawing(SEVEN)
    at.run()
    ko = strings("ko")
    shown = payload(at)
    assert shown["sees"]["title"] == ko["draw.sees"] and shown["maps"]["title"] == ko["maps.title"]
    assert shown["confidence"].startswith("확신도") and shown["bars"]["label"] == ko["panel.probabilities"]


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
    assert payload(at) is None


def test_a_model_without_conv_layers_says_so_in_the_panel(monkeypatch, tmp_path, open_app):
    store_user_model(tmp_path, "flat", {})
    install_fake_canvas(monkeypatch)
    at = open_app()
    FakeCanvas.image = drawing(SEVEN)
    at.run()
    assert not at.exception
    maps = payload(at)["maps"]
    assert maps["layers"] == [] and "no Conv2D layers" in maps["none"]


def test_where_the_evidence_is_comes_with_each_answer(app):
    FakeCanvas.image = drawing(SEVEN)
    app.run()
    assert [s.value for s in app.subheader] == ["Filters"]
    app.toggle(key="draw_explain").set_value(True).run()
    assert not app.exception
    assert [s.value for s in app.subheader] == ["Why this answer?", "Filters"]
    assert any("Grad-CAM for 7" in str(img.proto) for img in app.get("image"))
    FakeCanvas.image = drawing(ONE_SMALL_CORNER)  # the next drawing is explained too
    app.run()
    assert any("Grad-CAM for 1" in str(img.proto) for img in app.get("image"))


def look_deeper(app, view: str) -> None:
    """Draw a 7, switch "Look deeper" on and choose ``view``."""
    FakeCanvas.image = drawing(SEVEN)
    app.run()
    app.toggle(key="draw_explain").set_value(True).run()
    app.segmented_control(key="draw_deeper").set_value(view).run()
    assert not app.exception, app.exception


def test_where_a_drawing_lands_and_what_covering_it_does_follow_each_drawing(app):
    look_deeper(app, "lands")

    def star() -> tuple[float, float]:
        (chart,) = [c for c in app.get("plotly_chart") if "embedding_map" in str(c.proto.id)]
        you = next(trace for trace in json.loads(chart.proto.spec)["data"] if trace.get("marker", {}).get("symbol") == "star")
        return you["x"][0], you["y"][0]

    seven = star()
    assert "the star is your drawing" in " ".join(c.value for c in app.caption)
    FakeCanvas.image = None  # the canvas cleared: no view is drawn, the choice is kept
    app.run()
    FakeCanvas.image = drawing(ONE_SMALL_CORNER)  # another drawing lands elsewhere
    app.run()
    assert star() != seven
    app.segmented_control(key="draw_deeper").set_value("occlusion").run()
    assert not app.exception, app.exception
    assert any("Drop in the probability of 1" in str(img.proto) for img in app.get("image"))
    app.multiselect(key="occlusion_off_conv1").set_value([0, 1, 2]).run()
    assert not app.exception, app.exception
    assert any("With 3 switched off" in m.value for m in app.markdown), [m.value for m in app.markdown]


def test_a_value_of_the_whole_network_opens_on_the_convolution_page_with_its_trained_kernel(app):
    look_deeper(app, "network")
    assert app.selectbox(key="draw_network_layer").value == "conv1"
    row, col = app.slider(key="draw_network_row_conv1").value, app.slider(key="draw_network_col_conv1").value
    app.button(key="draw_network_to_conv").click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "What a convolution does" and app.selectbox(key="conv_kernel").value == "custom"
    trained = resources.predictor("convscope-digits").model.get_layer("conv1").kernel.numpy()[:, :, 0, 0]
    np.testing.assert_allclose(app.session_state["conv_custom_seed"], trained, rtol=1e-6)
    assert (app.slider(key="conv_row").value, app.slider(key="conv_col").value) == (row - 1, col - 1)  # 'same' padding


def test_the_filters_show_what_each_looks_for(app):
    app.toggle(key="draw_filters").set_value(True).run()
    assert not app.exception, app.exception
    assert "What a filter looks for" in [s.value for s in app.subheader]


def test_presentation_mode_keeps_the_answer_and_the_maps_and_drops_the_controls(app):
    FakeCanvas.image = drawing(SEVEN)
    app.run()
    assert payload(app)["large"] is False
    app.sidebar.toggle(key="present").set_value(True).run()
    assert not app.exception
    assert [s.value for s in app.subheader] == []
    assert not [c for c in app.checkbox if c.key == "show_values"] and not [t for t in app.toggle if t.key == "draw_filters"]
    shown = payload(app)
    assert shown["large"] is True and shown["label"] == "7" and shown["maps"]["layers"]
