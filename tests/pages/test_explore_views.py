"""The draft views of issue 18 under AppTest, each run by a tiny script on a store of its own with a small model: the
drawing map, occlusion with filter ablation, and the filters' preferred inputs computed in the background."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app_pages.i18n import strings
from tests.pages.tiny_data import write_data

MODEL = "tiny"


@pytest.fixture
def tiny_store(monkeypatch, tmp_path):
    """A model store holding one small digit model, tiny test data, and empty caches."""
    import keras
    import streamlit as st

    from model_store.store import ModelStore

    monkeypatch.setenv("CONVSCOPE_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("CONVSCOPE_DATA", str(write_data(tmp_path / "data", n_test=80)))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1), name="image"),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(2, name="pool"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(10, activation="softmax", name="probabilities"),
    ])
    ModelStore(user_dir=tmp_path / "models").save(model, {"dataset": "mnist", "created_at": "2026-01-01T00:00:00+00:00"},
                                                  MODEL)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield tmp_path / "models"
    st.cache_resource.clear()
    st.cache_data.clear()


def embedding_script(name: str, lang: str):
    import numpy as np
    import streamlit as st

    from app_pages import embedding_view

    st.session_state["lang"] = lang
    image = np.zeros((28, 28), np.float32)
    image[6:8, 4:24] = 1.0  # a bar where class 2 of the tiny data has its bar
    embedding_view.show(name, image, [str(i) for i in range(10)])


def occlusion_script(name: str):
    import numpy as np

    from app_pages import occlusion_view

    image = np.zeros((28, 28), np.float32)
    image[6:8, 4:24] = 1.0
    occlusion_view.show(name, image, None, [str(i) for i in range(10)])


def filter_viz_script(name: str):
    from app_pages import filter_viz_view

    filter_viz_view.show(name)


def run(script, **kwargs) -> AppTest:
    at = AppTest.from_function(script, kwargs=kwargs, default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_map_shows_the_drawing_among_the_test_images_and_its_nearest_ones(tiny_store, lang):
    at = run(embedding_script, name=MODEL, lang=lang)
    assert captions(at)[0] == strings(lang)["embedding.about"]
    traces = {trace["name"]: trace for trace in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]}
    assert {str(i) for i in range(10)} <= set(traces), "one colour per class"
    assert strings(lang)["embedding.you"] in traces and strings(lang)["embedding.neighbours"] in traces
    assert len(at.get("image")) == 8, "a gallery of the eight nearest test images"
    assert list((tiny_store / ".cache").glob("*-embedding-*.npz")), "the map is kept beside the model"


def test_occlusion_shows_the_map_beside_the_input_and_filters_can_be_switched_off(tiny_store):
    at = run(occlusion_script, name=MODEL)
    en = strings("en")
    assert captions(at)[0] == en["occlusion.about"]
    assert len(at.get("image")) == 2, "the input and its occlusion map"
    assert at.selectbox(key="occlusion_layer").value == "conv1"
    assert "With 0 switched off" in at.markdown[0].value
    at.multiselect(key="occlusion_off_conv1").set_value([0, 1, 2, 3]).run()
    assert not at.exception, at.exception
    shown = at.markdown[0].value
    assert "With 4 switched off" in shown
    # Every filter of the only Conv2D layer off: the logits are the Dense biases, so the answer is the largest bias.
    from app_pages.resources import store

    biases = store().load(MODEL).get_layer("probabilities").get_weights()[1]
    assert f"With 4 switched off: **{int(np.argmax(biases))}**" in shown


def test_the_filters_pictures_are_computed_in_the_background_with_a_note_meanwhile(tiny_store, monkeypatch):
    from model_store import filter_viz

    release = threading.Event()
    real = filter_viz.cached_preferred_inputs

    def held_back(*args, **kwargs):
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(filter_viz, "cached_preferred_inputs", held_back)
    at = run(filter_viz_script, name=MODEL)
    assert captions(at)[:2] == [strings("en")["filterviz.about"], strings("en")["filterviz.note"]]
    assert not at.get("image") and at.get("progress"), "a progress note while the pictures are made"
    release.set()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(at.get("image")) < 2:
        time.sleep(0.5)
        at.run()
        assert not at.exception, at.exception
    assert len(at.get("image")) == 2, "the layer's filters and the classes"
    assert list(tiny_store.joinpath(".cache").glob("*-filterviz-*.npz")), "kept beside the model"


def test_a_click_on_a_dot_of_the_map_finds_its_test_image():
    from app_pages.embedding_view import clicked_image
    from model_store.embedding import EmbeddingMap

    labels = np.array([3, 1, 3, 1, 7])  # traces: class 1, class 3, class 7, each its dots in the map's order
    mapped = EmbeddingMap(points=np.zeros((5, 2)), labels=labels, positions=np.array([40, 41, 42, 43, 44]),
                          features=np.zeros((5, 4)), mean=np.zeros(4), axes=np.zeros((4, 2)), explained=np.ones(2))
    assert clicked_image({"selection": {"points": [{"curve_number": 1, "point_index": 1}]}}, mapped) == (42, 3)
    assert clicked_image({"selection": {"points": [{"curve_number": 0, "point_index": 0}]}}, mapped) == (41, 1)
    assert clicked_image({"selection": {"points": [{"curve_number": 3, "point_index": 0}]}}, mapped) is None  # the star
    assert clicked_image({"selection": {"points": []}}, mapped) is None and clicked_image(None, mapped) is None
