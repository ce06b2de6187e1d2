"""The Class data page and the Draw page's correction under AppTest: pupils add drawings, the teacher makes tasks.

The canvas is the fake canvas of ``fakes.py``; the class datasets live in the test's own model store folder.
"""

from __future__ import annotations

import numpy as np
import pytest

from app_pages import class_resources
from app_pages.i18n import strings
from model_store.class_data import ClassDatasets, RateLimiter
from model_store.class_files import export_files
from model_store.refusal import REASONS
from model_store.store import DEFAULTS_DIR
from tests.pages.fakes import FOUR, SEVEN, FakeCanvas, drawing, install_fake_canvas

EN = strings("en")


def dot() -> np.ndarray:
    """A round dot as a press of an 18 px pen leaves it: RGBA, white on black."""
    yy, xx = np.mgrid[:280, :280]
    image = np.zeros((280, 280, 4), np.uint8)
    image[..., 3] = 255
    image[(yy - 140) ** 2 + (xx - 140) ** 2 <= 81, :3] = 255
    return image


@pytest.fixture
def lenient(monkeypatch):
    """A rate limit a test's clicks never hit (the limit itself has its own test below)."""
    limiter = RateLimiter(min_interval=0, per_minute=10_000)
    monkeypatch.setattr(class_resources, "drawing_rate", lambda: limiter)


@pytest.fixture
def class_page(monkeypatch, open_app, tmp_path):
    install_fake_canvas(monkeypatch)
    monkeypatch.delenv("CONVSCOPE_TEACHER_CODE", raising=False)
    at = open_app("app_pages/class_data.py")
    return at


def datasets(tmp_path) -> ClassDatasets:
    return ClassDatasets(tmp_path / "models")


def prompt(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("### "))


def test_pupils_add_what_the_page_asks_for_and_it_asks_for_the_rarest_class(class_page, tmp_path, lenient):
    at = class_page
    assert not at.exception
    assert at.selectbox(key="class_pick").value == "digits"  # the digits dataset, made for the first visit
    assert prompt(at) == "### " + EN["classdata.prompt"].format(name="0")
    assert at.button(key="class_add").disabled  # nothing drawn yet
    FakeCanvas.image = drawing(SEVEN)
    at.run()
    at.button(key="class_add").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [EN["classdata.added"].format(name="0")]
    assert datasets(tmp_path).get("digits").counts[0] == 1
    assert prompt(at) == "### " + EN["classdata.prompt"].format(name="1")  # 0 has one now: 1 is the rarest


def test_what_a_canvas_asks_for_stays_while_other_pupils_add(class_page, tmp_path, lenient):
    at = class_page
    assert prompt(at) == "### " + EN["classdata.prompt"].format(name="0")
    datasets(tmp_path).add("digits", "0", picture=drawing(SEVEN))  # another pupil adds a 0 meanwhile
    FakeCanvas.image = drawing(SEVEN)
    at.run()  # this pupil's stroke: 1 is the rarest class now, but this canvas was asked for a 0
    assert prompt(at) == "### " + EN["classdata.prompt"].format(name="0")
    at.button(key="class_add").click().run()
    assert datasets(tmp_path).get("digits").counts[:2] == (2, 0)  # added as the 0 it was drawn as
    assert prompt(at) == "### " + EN["classdata.prompt"].format(name="1")  # a new canvas: the rarest again


def test_a_dot_is_refused_with_its_reason_and_nothing_is_added(class_page, tmp_path, lenient):
    at = class_page
    FakeCanvas.image = dot()
    at.run()
    at.button(key="class_add").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [REASONS["image_dot"]]
    assert datasets(tmp_path).get("digits").total == 0


def test_adding_faster_than_a_person_draws_is_slowed(class_page, tmp_path):
    at = class_page
    FakeCanvas.image = drawing(SEVEN)
    at.run()
    at.button(key="class_add").click().run()
    FakeCanvas.image = drawing(FOUR)
    at.run()
    at.button(key="class_add").click().run()  # at once: well under the limit's 0.7 s
    assert not at.exception
    assert at.error and "wait" in at.error[0].value
    assert datasets(tmp_path).get("digits").total == 1


def test_the_teacher_code_guards_tasks_and_a_task_shows_its_names_as_text(monkeypatch, open_app, tmp_path, lenient):
    install_fake_canvas(monkeypatch)
    monkeypatch.setenv("CONVSCOPE_TEACHER_CODE", "owl-42")
    at = open_app("app_pages/class_data.py")
    at.segmented_control(key="class_section").set_value("manage").run()
    assert [i.value for i in at.info] == [EN["classdata.teacher_only"]]
    at.text_input(key="teacher_code").set_value("guess").run()
    assert [e.value for e in at.error] == [EN["classdata.teacher_wrong"]]
    at.text_input(key="teacher_code").set_value("owl-42").run()
    assert not at.error and at.text_input(key="class_new_name")
    create = next(b for b in at.button if b.label == EN["classdata.create"])
    at.text_input(key="class_new_name").set_value("Shapes")
    at.text_area(key="class_new_classes").set_value("<b>star</b>\ncircle")  # markup is no class name
    create.click().run()
    assert not at.exception and at.error and "<b>star</b>" not in at.error[0].value  # refused, the name escaped
    assert [d.name for d in datasets(tmp_path).list()] == ["digits"]
    at.text_area(key="class_new_classes").set_value("_star_\ncircle, [moon](x)")
    next(b for b in at.button if b.label == EN["classdata.create"]).click().run()
    assert not at.exception
    made = datasets(tmp_path).get("Shapes")
    assert made.classes == ("_star_", "circle", "[moon](x)") and made.kind == "custom"
    at.segmented_control(key="class_section").set_value("collect").run()
    assert at.selectbox(key="class_pick").value == "Shapes"
    assert prompt(at) == "### Draw a **\\_star\\_**"  # Markdown in a class name is shown as typed


def test_an_exported_dataset_is_imported_again(monkeypatch, class_page, tmp_path):
    at = class_page
    rng = np.random.default_rng(0)
    images = (rng.random((12, 28, 28)) * 255).astype(np.uint8)
    labels = np.array([0, 1, 2] * 4, np.uint8)
    npz = export_files("traced", "custom", ["a", "b", "c"], images, labels)["traced.npz"]
    at.segmented_control(key="class_section").set_value("manage").run()
    at.file_uploader(key="class_import").set_value(("traced.npz", npz, "application/octet-stream")).run()
    at.button(key="class_import_go").click().run()
    assert not at.exception
    imported = datasets(tmp_path).get("traced")
    assert imported.classes == ("a", "b", "c") and imported.counts == (4, 4, 4)
    x, y = datasets(tmp_path).images("traced")
    assert sorted(map(bytes, x)) == sorted(map(bytes, images))
    garbage = b"not a dataset"
    at.file_uploader(key="class_import").set_value(("junk.npz", garbage, "application/octet-stream")).run()
    at.button(key="class_import_go").click().run()
    assert not at.exception and at.error  # refused with a reason, nothing made
    assert {d.name for d in datasets(tmp_path).list()} == {"digits", "traced"}


def test_the_page_speaks_korean(monkeypatch, open_app):
    install_fake_canvas(monkeypatch)
    at = open_app("app_pages/class_data.py", lang="ko")
    assert not at.exception
    assert at.title[0].value == strings("ko")["classdata.title"]


@pytest.mark.skipif(not (DEFAULTS_DIR / "convscope-digits.keras").exists(), reason="the shipped digit model is missing")
def test_a_correction_on_the_draw_page_joins_the_class_digits(monkeypatch, open_app, tmp_path, lenient):
    install_fake_canvas(monkeypatch)
    at = open_app()
    FakeCanvas.image = drawing(SEVEN)
    at.run()
    read = at.session_state["last_reading"]
    at.segmented_control(key="teach_label").set_value("1").run()
    at.button(key="teach_add").click().run()
    assert not at.exception
    assert at.success and "1" in at.success[0].value
    (added,) = datasets(tmp_path).drawings("digits")
    assert added.label == 1 and added.misread_by == "convscope-digits" and added.read_as == read
    assert added.has_picture  # the canvas it was drawn on is kept too


def test_the_teacher_browses_a_class_and_deletes_a_bad_drawing(class_page, tmp_path, lenient):
    at = class_page
    for strokes in (SEVEN, FOUR):
        FakeCanvas.image = drawing(strokes)
        at.run()
        at.button(key="class_add").click().run()  # a 0, then a 1 (the page asks for the rarest class)
    at.segmented_control(key="class_section").set_value("browse").run()
    assert not at.exception
    assert at.selectbox(key="class_browse_digits").value == 0
    assert len(at.get("image")) == 1  # class 0's one drawing
    (drawing_0,) = datasets(tmp_path).drawings("digits", 0)
    at.checkbox(key=f"class_del_{drawing_0.id}").check().run()
    at.button(key="class_delete_chosen").click().run()
    assert not at.exception
    assert datasets(tmp_path).get("digits").counts[:2] == (0, 1)
