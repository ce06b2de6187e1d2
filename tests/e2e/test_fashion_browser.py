"""The Fashion page in a real browser: pick test images three ways and check what the page says.

The picks go through the page's own controls: a class gallery thumbnail, the index number input and
the Random button. For every image shown, the test computes in-process what the shipped Fashion model
predicts for that test image (``Predictor`` on the image from ``training.samples.test_images``) and
checks the page against it: the model-input fingerprint, the predicted class, its confidence, the
true class, the caption's test-set index and the verdict. The feature-map tabs must list every
Conv2D layer of the model.

Only the shipped default model is used; the module skips when ``model_store/defaults/convscope-fashion``
is missing. With CONVSCOPE_DATA pointing at the real Fashion-MNIST files both the app and the test use
the full test set, otherwise both use the shipped sample.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from playwright.sync_api import expect

from harness import ROOT
from harness.chromium import ARTIFACTS, IDLE, count_runs, open_tab, wait_idle
from harness.draw import PREDICTION, wait_new_prediction
from model_store.model_input import to_float
from model_store.store import DEFAULTS_DIR, ModelStore
from training import samples
from training.datasets import CLASS_NAMES

MODEL = "convscope-fashion"
DATASET = "fashion-mnist"
LOCALE = ROOT / "app_pages" / "locales" / "en.json"

pytestmark = pytest.mark.skipif(
    not ((DEFAULTS_DIR / f"{MODEL}.keras").is_file() and (DEFAULTS_DIR / f"{MODEL}.json").is_file()),
    reason=f"the shipped Fashion model model_store/defaults/{MODEL}.keras/.json is missing (train it first); "
           "these tests assert what the shipped model predicts",
)


def input_id(image: np.ndarray) -> str:
    from app_pages.views import input_id as fingerprint  # the page's own fingerprint of a model input

    return fingerprint(image)


class Expected:
    """The shipped model, its class names as the English page shows them, and the test images."""

    def __init__(self, user_dir):
        from model_store.inference import Predictor

        store = ModelStore(user_dir=user_dir)
        entry = store.get(MODEL)
        table = json.loads(LOCALE.read_text(encoding="utf-8"))
        self.names = [table.get(f"class.{n}", n) for n in (entry.meta.get("class_names") or CLASS_NAMES[DATASET])]
        self.conv_layers = [layer["name"] for layer in entry.meta["layers"] if layer["type"] == "Conv2D"]
        self.test = samples.test_images(DATASET)
        self.predictor = Predictor(store.load(MODEL))

    def position_of(self, index: int) -> int:
        """Position in ``test`` of the official test-set index shown on the page."""
        return int(np.flatnonzero(self.test.indices == index)[0])

    def check(self, page, pos: int) -> None:
        """The page shows test image ``pos`` and what the model says about it."""
        image = to_float(self.test.images[pos])
        truth = int(self.test.labels[pos])
        prediction = self.predictor(image)
        main = page.locator("[data-testid='stMain']")
        shown = page.locator(PREDICTION)
        assert shown.get_attribute("data-input") == input_id(image)
        assert shown.inner_text().strip() == self.names[prediction.label]
        confidence = page.locator("[data-testid='confidence']").inner_text()
        value = float(re.match(r"confidence [<>]?(\d+(?:\.\d+)?)%", confidence).group(1)) / 100
        assert abs(value - prediction.confidence) < 0.0015, (confidence, prediction.confidence)
        verdict = page.locator("[data-testid='verdict']").inner_text().strip()
        assert verdict == ("correct ✓" if prediction.label == truth else "wrong ✗")
        text = main.inner_text()
        assert f"True class: {self.names[truth]}" in text
        number = int(self.test.indices[pos])
        caption = page.locator("[data-testid='stImageCaption']").filter(has_text=re.compile(rf"^\s*Test image #{number}\s*$"))
        expect(caption).to_be_visible()  # the image (and its caption) may arrive a moment after the prediction
        if self.test.full:  # the full test set is picked by number; the shipped sample from a list of its indices
            assert page.get_by_role("spinbutton", name="Test image").input_value() == str(pos)
        tabs = [label.strip().split(" · ")[0] for label in page.get_by_role("tab").all_inner_texts()]
        for layer in self.conv_layers:
            assert layer in tabs, f"no feature-map tab for Conv2D layer {layer}; tabs: {tabs}"


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    return Expected(tmp_path_factory.mktemp("store"))


@pytest.fixture
def fashion(browser, app_server):
    with open_tab(browser, f"{app_server['url']}/fashion", ready=PREDICTION) as page:
        yield page


def current_input(page) -> str:
    return page.locator(PREDICTION).get_attribute("data-input")


def wait_runs(page) -> None:
    page.wait_for_function("([idle]) => window.__runs > 0 && document.querySelector(idle) !== null", arg=[IDLE])


def test_first_image_is_shown(fashion, expected):
    expected.check(fashion, 0)


def test_pick_by_class_gallery(fashion, expected):
    label = 5 if len(expected.names) > 5 else 0
    members = expected.test.by_class(label)
    # choose the class in the select box; its gallery of thumbnails follows
    fashion.get_by_role("combobox", name="Class").click()
    fashion.get_by_role("option", name=expected.names[label], exact=True).click()
    fashion.wait_for_selector(f".st-key-thumb_{members[0]}")
    wait_idle(fashion)
    # the third thumbnail's button is labelled with its test-set index
    pos = int(members[2])
    button = fashion.locator(f".st-key-thumb_{pos} button")
    assert button.inner_text().strip() == f"#{int(expected.test.indices[pos])}"
    before = current_input(fashion)
    button.click()
    wait_new_prediction(fashion, before)
    expected.check(fashion, pos)
    assert int(expected.test.labels[pos]) == label
    fashion.screenshot(path=str(ARTIFACTS / "fashion-gallery.png"))


def test_pick_by_index(fashion, expected):
    if not expected.test.full:
        pytest.skip("the number field is there with the full Fashion-MNIST test set only (set CONVSCOPE_DATA)")
    pos = 1234 % len(expected.test.labels)
    field = fashion.get_by_role("spinbutton", name="Test image")
    before = current_input(fashion)
    field.fill(str(pos))
    field.press("Enter")
    wait_new_prediction(fashion, before)
    expected.check(fashion, pos)
    fashion.screenshot(path=str(ARTIFACTS / "fashion-index.png"))


def test_pick_at_random(fashion, expected):
    for _ in range(2):  # twice: the second draw starts from an image that is not the first one
        count_runs(fashion)
        fashion.get_by_role("button", name="Random").click()
        wait_runs(fashion)
        caption = next(c for c in fashion.locator("[data-testid='stImageCaption']").all_inner_texts()
                       if c.startswith("Test image #"))
        pos = expected.position_of(int(caption.removeprefix("Test image #")))
        expected.check(fashion, pos)
    fashion.screenshot(path=str(ARTIFACTS / "fashion-random.png"))
