"""The Train page in a real browser: a short training on a small MNIST subset, the curve grows by two epochs,
Stop, then Save, as a teacher would do it in front of a class.

Synchronisation: the page carries an invisible ``[data-testid=train-state]`` with the job's status and the
number of finished epochs; the test waits on it and on the plotly figure's own data (the loss chart's
"train" trace), never on time. Screenshots go to test-artifacts/.

The server reads MNIST from ``CONVSCOPE_DATA`` (the ``app_server`` fixture passes the environment on); the
module skips when the MNIST training images are not there.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from harness.chromium import ARTIFACTS, open_tab, type_number, wait_idle

STATE = "[data-testid='train-state']"


def _mnist_train_files() -> bool:
    root = os.environ.get("CONVSCOPE_DATA")
    if not root:
        return False
    folder = Path(root) / "mnist"
    return any((folder / f"train-images-idx3-ubyte{ext}").is_file() for ext in ("", ".gz"))


pytestmark = pytest.mark.skipif(not _mnist_train_files(),
                                reason="set CONVSCOPE_DATA to a folder with mnist/train-images-idx3-ubyte[.gz] "
                                       "(e.g. /work/shared/datasets): the browser training needs the real MNIST files")

LOSS_TRAIN_POINTS = """() => {
  for (const el of document.querySelectorAll('.js-plotly-plot')) {
    const title = String((el.layout && el.layout.title && (el.layout.title.text || el.layout.title)) || '');
    if (title.replace(/<[^>]*>/g, '').trim() !== 'Loss') continue;  // the theme wraps titles in <b>
    const train = (el.data || []).find(d => d.name === 'train');
    if (train) return train.x.length;
  }
  return 0;
}"""

CELL_CENTRE = """([x, y]) => {
  for (const el of document.querySelectorAll('.js-plotly-plot')) {
    if (!(el.data || []).some(d => d.type === 'heatmap')) continue;
    const xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis, box = el.getBoundingClientRect();
    return [box.left + xa._offset + xa.d2p(x), box.top + ya._offset + ya.d2p(y)];
  }
  return null;
}"""


def epochs_shown(page) -> int:
    return int(page.locator(STATE).first.get_attribute("data-epochs"))


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the select box labelled ``label``, as a person does: open it, click the option."""
    page.get_by_label(label, exact=True).click()
    page.locator("[role='option']", has_text=option).first.click()
    wait_idle(page)


def test_a_short_training_grows_its_curve_stops_and_saves(browser, app_server):
    with open_tab(browser, f"{app_server['url']}/train") as page:
        page.get_by_text("Train a network", exact=True).wait_for()
        type_number(page, "Epochs", 60)
        choose(page, "Batch size", "64")
        page.get_by_text("Train on a subset", exact=True).click()
        wait_idle(page)
        type_number(page, "Training images", 1500)

        page.get_by_role("button", name="Start training").click()
        page.wait_for_selector(f"{STATE}[data-status='running']", state="attached", timeout=60_000)
        # the loss curve has at least two epochs, read from the chart itself, and it keeps growing
        page.wait_for_function(f"() => ({LOSS_TRAIN_POINTS})() >= 2", timeout=120_000)
        first = page.evaluate(LOSS_TRAIN_POINTS)
        page.wait_for_function(f"() => ({LOSS_TRAIN_POINTS})() > {first}", timeout=120_000)
        page.get_by_text(re.compile(r"Epoch \d+/60 · batch \d+/\d+ · about")).first.wait_for()  # the progress bar
        page.screenshot(path=str(ARTIFACTS / "train-running.png"))

        page.get_by_role("button", name="Stop").click()
        page.wait_for_selector(f"{STATE}[data-status='stopped']", state="attached", timeout=60_000)
        wait_idle(page)
        done = epochs_shown(page)
        assert 3 <= done < 60, done
        page.get_by_text(f"Stopped after {done} finished epochs", exact=False).wait_for()
        assert page.evaluate(LOSS_TRAIN_POINTS) == done  # the chart shows every finished epoch, no partial one
        page.get_by_text("Confusion matrix", exact=True).wait_for()
        page.screenshot(path=str(ARTIFACTS / "train-stopped.png"))

        # a click on a confusion-matrix cell (true 2, predicted 8) shows that cell's images
        page.get_by_text("Confusion matrix", exact=True).scroll_into_view_if_needed()
        x, y = page.evaluate(CELL_CENTRE, ["8", "2"])
        page.mouse.click(x, y)
        wait_idle(page)
        page.get_by_text(" test images of 2 were predicted as 8", exact=False).wait_for()
        page.screenshot(path=str(ARTIFACTS / "train-confusion-click.png"))

        name = page.get_by_label("Name", exact=True)
        name.fill("browser-run")
        name.press("Enter")
        wait_idle(page)
        page.get_by_text("Use it as the Digits (MNIST) model", exact=True).click()
        wait_idle(page)
        page.get_by_role("button", name="Save").click()
        wait_idle(page)
        page.get_by_text("Saved to the model store as browser-run.", exact=True).wait_for()
        # the sidebar's digit model picker now shows the saved model
        picker = "[data-testid='stSidebar'] input[aria-label='Digits (MNIST) model']"
        page.wait_for_function("([picker]) => document.querySelector(picker).value.startsWith('browser-run')", arg=[picker])
        page.screenshot(path=str(ARTIFACTS / "train-saved.png"))
        page.get_by_role("button", name="New training").click()
        wait_idle(page)
        page.get_by_role("button", name="Start training").wait_for()
