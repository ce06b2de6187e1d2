"""Two replicas of the app behind nginx (``python -m deploy.replicas --replicas 2``, what ``./run_app.sh --replicas 2``
runs), in a real browser: a tab drawn on through nginx is read by the replica it is pinned to; a model saved through
one replica is shown by the other; while one replica trains, the other cannot start a training; a replica killed
with SIGKILL sends its browsers to the live one, which draws, and is started again.

Which replica served a tab is proven from nginx, not assumed: each tab is pinned to a replica with nginx's own
cookie, the ``X-ConvScope-Replica`` header of an answer to the tab says which replica its requests reach, and
nginx's access log says which replica held each tab's websocket (the tab's user agent tells its lines apart).

The replicas train on tiny IDX files the test writes (``CONVSCOPE_DATA``), so the training is short and needs no
real dataset; they draw with the shipped digit model. The module skips where nginx, Chromium or that model is
missing. One deployment serves the whole module (its start costs 10-20 s on two cores); the SIGKILL test runs last.
"""

from __future__ import annotations

import os
import signal

import pytest

from harness.app import app_env
from harness.chromium import ARTIFACTS, IDLE, open_tab, screenshot, type_number, wait_idle
from harness.digits import place
from harness.draw import PREDICTION, UPPER_CANVAS, draw_strokes, wait_new_prediction
from harness.replicas import USER_AGENT, nginx_missing, running_replicas, served_by
from model_store.store import DEFAULTS_DIR
from tests.pages.tiny_data import write_data

MODEL = "convscope-digits"
STATE = "[data-testid='train-state']"

pytestmark = [
    pytest.mark.skipif(bool(nginx_missing()), reason=nginx_missing() or ""),
    pytest.mark.skipif(not (DEFAULTS_DIR / f"{MODEL}.keras").is_file(),
                       reason=f"the shipped digit model model_store/defaults/{MODEL}.keras is missing"),
]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, browser):  # the browser first: the module skips before starting servers without it
    root = tmp_path_factory.mktemp("replicas")
    env = {**app_env(root / "models"), "CONVSCOPE_DATA": str(write_data(root / "data"))}
    ARTIFACTS.mkdir(exist_ok=True)
    with running_replicas(2, env, ARTIFACTS / "replicas-launcher.log", root / "run") as deployed:
        yield deployed


def pinned_tab(browser, deployment, port: int, path: str, name: str, ready: str | None = "[data-testid='stApp']"):
    """A tab on ``path`` whose browser carries nginx's cookie for the replica on ``port``, and a user agent of its
    own (``<USER_AGENT> convscope-test/<name>``) that tells its lines apart in nginx's access log."""
    return open_tab(browser, f"{deployment.url}{path}", ready=ready, user_agent=f"{USER_AGENT} convscope-test/{name}",
                    setup=lambda page: page.context.add_cookies([deployment.cookie(port)]))


def draw_one(page) -> str:
    """Draw a 1 in the middle of the canvas; returns the digit the page reads."""
    draw_strokes(page, place("1", 0.5, 0.5, 0.7))
    wait_new_prediction(page, None)
    return page.locator(PREDICTION).first.inner_text().strip()


def test_each_replica_draws_for_the_tabs_pinned_to_it(browser, deployment):
    ports = deployment.ports()
    assert len(ports) == 2
    for port in ports:
        name = f"draw-{port}"
        with pinned_tab(browser, deployment, port, "/", name, ready=UPPER_CANVAS) as page:
            assert served_by(page) == port
            assert draw_one(page) == "1"
            screenshot(page, f"replicas-{name}.png")
        assert set(deployment.wait_websockets(f"convscope-test/{name}")) == {port}, "the websocket went elsewhere"
    # a new browser (no cookie yet) is pinned by its first answer, to a replica of this run
    assert deployment.answered_by() in ports


def test_a_model_saved_through_one_replica_is_shown_by_the_other_which_cannot_train_meanwhile(browser, deployment):
    trainer, other = deployment.ports()
    with pinned_tab(browser, deployment, other, "/models", "models") as watcher, \
            pinned_tab(browser, deployment, trainer, "/train", "train") as page:
        assert (served_by(watcher), served_by(page)) == (other, trainer)
        watcher.locator("[role='gridcell']", has_text=MODEL).first.wait_for(state="attached")  # the table is there
        assert watcher.locator("[role='gridcell']", has_text="from-replica").count() == 0

        type_number(page, "Epochs", 200)
        type_number(page, "Early-stopping patience (0 = off)", 0)
        page.get_by_role("button", name="Start training").click()
        page.wait_for_selector(f"{STATE}[data-status='running']", state="attached", timeout=90_000)

        # the other replica's Train page: its process runs no training, yet Start is refused while this one runs
        watcher.goto(f"{deployment.url}/train")
        watcher.get_by_role("button", name="Start training").wait_for()
        wait_idle(watcher)
        assert served_by(watcher) == other
        assert watcher.get_by_role("button", name="Start training").is_disabled()

        page.wait_for_function(f"() => Number(document.querySelector(\"{STATE}\").dataset.epochs) >= 1",
                               timeout=90_000)
        page.get_by_role("button", name="Stop").click()
        page.wait_for_selector(f"{STATE}[data-status='stopped']", state="attached", timeout=60_000)
        wait_idle(page)
        name = page.get_by_label("Name", exact=True)
        name.fill("from-replica")
        name.press("Enter")
        wait_idle(page)
        page.get_by_role("button", name="Save").click()
        page.get_by_text("Saved to the model store as from-replica.", exact=True).wait_for()

        # the other replica shows the new model at its next run, and lets a training start again
        watcher.goto(f"{deployment.url}/models")
        # the models table is a canvas grid: its cells are in the DOM for assistive technology, not visible
        watcher.locator("[role='gridcell']", has_text="from-replica").first.wait_for(state="attached")
        wait_idle(watcher)
        assert served_by(watcher) == other
        screenshot(watcher, "replicas-model-seen-by-the-other.png")
        watcher.goto(f"{deployment.url}/train")
        wait_idle(watcher)
        watcher.wait_for_function("() => { const b = [...document.querySelectorAll('button')]"
                                  ".find(b => b.innerText.includes('Start training')); return b && !b.disabled; }")
    assert set(deployment.wait_websockets("convscope-test/train")) == {trainer}
    assert set(deployment.wait_websockets("convscope-test/models")) == {other}


def test_a_killed_replica_sends_its_browsers_to_the_live_one(browser, deployment):
    live, victim = deployment.ports()
    old_pid = deployment.replica(victim)["pid"]
    os.kill(old_pid, signal.SIGKILL)
    with pinned_tab(browser, deployment, victim, "/", "after-kill", ready=UPPER_CANVAS) as page:
        # nginx found the replica dead, answered from the live one and moved the browser's cookie there
        assert {c["name"]: c["value"] for c in page.context.cookies()}["convscope_replica"] == str(live)
        assert served_by(page) == live
        assert draw_one(page) == "1"
        assert page.locator(IDLE).count() == 1
    assert set(deployment.wait_websockets("convscope-test/after-kill")) == {live}
    # the launcher starts the killed replica again; browsers that moved stay where they are
    deployment.wait_running(victim, not_pid=old_pid)
    assert deployment.replica(victim)["restarts"] == 1
    assert deployment.answered_by(port=live) == live
