"""A class teaches the network its own shapes, in real browsers: two pupils' tabs add drawings to the teacher's task,
the teacher's tab fine-tunes the digit model on them (a new head for the new classes) on the Train page, saves it
and draws with it on the Draw page, where it reads the shape by its class name.

The task and its first drawings (nine of each shape, as earlier lessons left them) are put into the server's model
folder by the test; the pupils' drawings are the tenth of each class, so the dataset is ready only once both
pupils have drawn. Synchronisation on the page's own markers (the training's ``train-state``, the panel's
``prediction``), never on time. Screenshots: test-artifacts/class-teaches-*.png.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from app_pages.i18n import strings
from harness.chromium import ARTIFACTS, MAIN, exceptions_shown, open_from_sidebar, open_tab, wait_idle
from harness.digits import line
from harness.draw import canvas_box, draw_strokes, prediction_input, wait_new_prediction
from model_store.class_data import ClassDatasets
from model_store.store import ModelStore

EN = strings("en")
STATE = "[data-testid='train-state']"
SHAPES = {  # strokes in 0..1 canvas units
    "cross": [line((0.3, 0.3), (0.7, 0.7)), line((0.7, 0.3), (0.3, 0.7))],
    "vee": [line((0.3, 0.3), (0.5, 0.72)) + line((0.5, 0.72), (0.7, 0.3))[1:]],
}


def earlier_drawing(strokes, seed: int) -> np.ndarray:
    """A shape as another pupil drew it in an earlier lesson: its points moved a little; RGBA, white on black."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    pen = ImageDraw.Draw(img)
    for stroke in strokes:
        dx, dy = rng.normal(0, 0.04, 2)
        pen.line([((x + dx) * 280, (y + dy) * 280) for x, y in stroke], fill=(255, 255, 255, 255), width=18,
                 joint="curve")
    return np.asarray(img)


def pupil_draws_what_is_asked(page) -> str:
    """Choose the task, draw the shape the page asks for and add it; returns the shape's name."""
    page.get_by_label(EN["classdata.dataset"], exact=True).click()
    page.locator("[role='option']", has_text="shapes").first.click()
    wait_idle(page)
    main = page.locator(MAIN)
    main.get_by_text("Draw a ").first.wait_for()
    asked = next(name for name in SHAPES if f"Draw a {name}" in main.inner_text())
    draw_strokes(page, SHAPES[asked], canvas_box(page))
    add = page.get_by_role("button", name=EN["classdata.add"])
    add.and_(page.locator(":enabled")).wait_for()
    add.click()
    main.get_by_text("Added, thank you").first.wait_for()
    wait_idle(page)
    return asked


@pytest.fixture
def shapes_task(app_server):
    """The teacher's task with nine earlier drawings of each shape; removed afterwards with the model trained on it,
    so that the server's other browser tests find the store as it was."""
    datasets = ClassDatasets(app_server["models"])
    datasets.create("shapes", list(SHAPES))
    for index, (name, strokes) in enumerate(SHAPES.items()):
        for seed in range(9):
            datasets.add("shapes", name, picture=earlier_drawing(strokes, 10 * index + seed), polarity="light-on-dark")
    yield datasets
    datasets.delete("shapes")
    store = ModelStore(user_dir=app_server["models"])
    if "class-shapes" in [e.name for e in store.list()]:
        store.delete("class-shapes")


def test_two_pupils_teach_a_shape_and_the_teacher_trains_and_draws_with_it(app_server, browser, shapes_task):
    datasets, url = shapes_task, app_server["url"]
    with open_tab(browser, f"{url}/class-data") as first:
        drawn = [pupil_draws_what_is_asked(first)]
        with open_tab(browser, f"{url}/class-data") as second:  # a pupil who comes in later
            drawn.append(pupil_draws_what_is_asked(second))
            assert exceptions_shown(first) is None and exceptions_shown(second) is None
    assert sorted(drawn) == sorted(SHAPES), f"each pupil was asked for the rarest shape: {drawn}"
    assert datasets.get("shapes").counts == (10, 10)

    with open_tab(browser, f"{url}/train") as teacher:
        teacher.locator("[data-testid='stButtonGroup']").get_by_text(EN["dataset.class-data"], exact=True).click()
        wait_idle(teacher)
        teacher.get_by_label(EN["train.class.dataset"], exact=True).click()
        teacher.locator("[role='option']", has_text="shapes").first.click()
        wait_idle(teacher)
        teacher.get_by_text(EN["train.class.how.fine-tune.custom"][:40]).first.wait_for()
        teacher.get_by_role("button", name=EN["train.start"]).click()
        teacher.wait_for_selector(f"{STATE}[data-status='finished']", state="attached", timeout=180_000)
        wait_idle(teacher)
        teacher.get_by_text(EN["train.class.results"], exact=True).wait_for()
        teacher.screenshot(path=str(ARTIFACTS / "class-teaches-trained.png"))

        name = teacher.get_by_label(EN["train.save.name"], exact=True)
        name.fill("class-shapes")
        name.press("Enter")
        wait_idle(teacher)
        teacher.get_by_text(EN["train.save.active_class"], exact=True).click()
        wait_idle(teacher)
        teacher.get_by_role("button", name=EN["train.save.button"]).click()
        wait_idle(teacher)
        teacher.get_by_text("Saved to the model store as class-shapes.", exact=True).wait_for()
        picker = teacher.locator("[data-testid='stSidebar']").get_by_role("combobox", name=EN["picker.class"])
        expect(picker).to_have_value("class-shapes · cross, vee")

        open_from_sidebar(teacher, EN["nav.draw"], EN["draw.title_class"])
        teacher.locator(MAIN).get_by_text("the class model class-shapes reads it").first.wait_for()
        box = canvas_box(teacher)
        for stroke in SHAPES["cross"]:  # each stroke is read: wait for the reading of the whole cross
            before = prediction_input(teacher)
            draw_strokes(teacher, [stroke], box)
            wait_new_prediction(teacher, before)
        assert teacher.locator("[data-testid='prediction']").first.inner_text().strip() == "cross"
        teacher.screenshot(path=str(ARTIFACTS / "class-teaches-draw.png"))
        assert exceptions_shown(teacher) is None
