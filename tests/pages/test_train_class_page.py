"""The Train page on a class dataset under AppTest: what it says before it can train, a real training of a new
network on the class's drawings (in a thread), its held-out results, Save, and the Draw page reading with the model.
"""

from __future__ import annotations

import numpy as np
import pytest

from app_pages import class_resources, resources
from app_pages.i18n import strings
from app_pages.sidebar import CLASS_MODEL_KEY
from model_store import preprocess
from model_store.class_data import ClassDatasets, RateLimiter
from tests.pages.fakes import FakeCanvas, drawing, install_fake_canvas

EN = strings("en")
SHAPES = ["cross", "vee", "hook"]
STROKES = [  # in 0..1 units of the canvas, as fakes.drawing takes them
    [[(0.3, 0.3), (0.7, 0.7)], [(0.7, 0.3), (0.3, 0.7)]],
    [[(0.3, 0.3), (0.5, 0.7), (0.7, 0.3)]],
    [[(0.4, 0.25), (0.4, 0.7), (0.65, 0.7)]],
]


def canvas_of(kind: int, seed: int) -> np.ndarray:
    """One pupil's drawing of a shape, its points moved a little by the seed: RGBA, white on black."""
    rng = np.random.default_rng(seed)
    return drawing([[(x + rng.normal(0, 0.03), y + rng.normal(0, 0.03)) for x, y in stroke] for stroke in STROKES[kind]])


def block(kind: int, seed: int) -> np.ndarray:
    """A shape as the class dataset keeps it: prepared as the Draw page prepares a drawing, (28, 28) uint8."""
    return preprocess.mnist_style(canvas_of(kind, seed), polarity="light-on-dark").image


@pytest.fixture
def class_data(monkeypatch, tmp_path):
    limiter = RateLimiter(min_interval=0, per_minute=10_000)
    monkeypatch.setattr(class_resources, "drawing_rate", lambda: limiter)
    return ClassDatasets(tmp_path / "models")


@pytest.fixture
def stop_trainings():
    yield
    for job in resources.jobs().jobs():  # never leave a thread training behind
        job.request_stop()
        job.wait(60)


def train_page(open_app):
    at = open_app("app_pages/train.py")
    at.segmented_control(key="tr_dataset").set_value("class-data").run()
    assert not at.exception, at.exception
    return at


def test_without_class_data_it_says_where_it_comes_from(open_app):
    at = train_page(open_app)
    assert at.info[0].value == EN["train.class.none"]
    assert at.button(key="tr_start").disabled


def test_classes_with_too_few_drawings_are_named_before_anything_trains(open_app, class_data):
    class_data.create("few", ["a", "b"])
    for seed in range(3):
        class_data.add("few", "a", block(0, seed))
    at = train_page(open_app)
    assert "a (3), b (0)" in at.warning[0].value
    assert at.button(key="tr_start").disabled


def test_a_new_network_learns_the_class_and_the_draw_page_reads_with_it(monkeypatch, open_app, class_data,
                                                                        stop_trainings):
    class_data.create("shapes", SHAPES)
    for kind, name in enumerate(SHAPES):
        for seed in range(12):
            class_data.add("shapes", name, block(kind, 100 * kind + seed))
    at = train_page(open_app)
    assert at.selectbox(key="tr_class_data").value == "shapes"
    assert at.number_input(key="tr_class_epochs").value == 3  # fine-tuning new classes: the head, then all
    at.segmented_control(key="tr_class_way").set_value("scratch").run()
    assert at.number_input(key="tr_class_epochs").value == 10  # a new network: the scratch recipe's epochs
    at.number_input(key="tr_class_epochs").set_value(6).run()
    at.button(key="tr_start").click().run()
    assert not at.exception, at.exception
    (job,) = resources.jobs().jobs()
    assert job.wait(240), job.snapshot()
    at.run()
    assert not at.exception, at.exception
    assert EN["train.class.results"] in [s.value for s in at.subheader]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[EN["train.class.before"]] == "—"  # a new network has no "before"
    assert metrics[EN["train.class.after"]].endswith("%")
    assert at.selectbox(key="tr_cm_true").options == SHAPES  # the confusion matrix speaks the class's names

    at.text_input(key="tr_save_name").set_value("our-shapes")
    at.checkbox(key="tr_make_active").check()
    at.button(key="tr_save").click().run()
    assert not at.exception, at.exception
    entry = resources.store().get("our-shapes")
    assert entry.dataset == "shapes" and entry.meta["class_names"] == SHAPES
    assert at.session_state[CLASS_MODEL_KEY] == "our-shapes"  # the teacher's Draw page reads with it now

    install_fake_canvas(monkeypatch)
    FakeCanvas.image = canvas_of(2, seed=999)
    at.switch_page("app_pages/draw.py").run()
    assert not at.exception, at.exception
    assert any("our-shapes" in c.value and "hook" in c.value for c in at.caption)
    assert at.session_state["last_reading"] in range(3)
    assert at.segmented_control(key="teach_label").options == SHAPES  # a correction names the class's classes
    at.segmented_control(key="teach_label").set_value("hook").run()
    at.button(key="teach_add").click().run()
    assert not at.exception and at.success, at.exception
    assert class_data.get("shapes").counts == (12, 12, 13)

    at.selectbox(key=CLASS_MODEL_KEY).set_value("").run()  # Digits again: the whole Draw page is back
    assert not at.exception
    assert at.segmented_control(key="draw_source").options
