"""The browserless pupil (``harness/streamlit_session.py``, which ``bench/pupils.py`` runs by the hundred) sends what a
real browser sends for a stroke, and gets the right answer.

A Chromium tab draws one stroke on the Draw page with real mouse events; its websocket frame for that stroke is
recorded (Playwright's ``framesent``). A simulated session opened on the same server builds its own stroke, from an
MNIST test digit; the two ``BackMsg``s must have the same shape: type, page, fragment, the same widgets with the same
kinds of value, and a canvas value with the same structure (a Fabric.js JSON of Path objects and a 280x280 opaque RGBA
PNG). Then the simulated stroke is sent and its prediction must be the drawn digit, for that very drawing.

Synchronisation: the browser's stroke frame is awaited as a websocket event, the prediction by its ``data-input``
fingerprint; the simulated session reads messages until its run's ``script_finished``. Nothing sleeps.
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image
from streamlit.proto.BackMsg_pb2 import BackMsg

from harness.chromium import open_tab, wait_idle
from harness.digits import place
from harness.draw import UPPER_CANVAS, draw_strokes, prediction_input, wait_new_prediction
from harness.streamlit_session import CANVAS_COMPONENT, RUN_OVER, StreamlitSession, prepare_drawings
from model_store.store import DEFAULTS_DIR

MODEL = "convscope-digits"
TIMEOUT_S = 60  # the first stroke after a server start loads TensorFlow and the model

pytestmark = pytest.mark.skipif(
    not (DEFAULTS_DIR / f"{MODEL}.keras").is_file(),
    reason=f"the shipped digit model model_store/defaults/{MODEL}.keras is missing: the answers cannot be checked",
)


def canvas_rerun(payload) -> BackMsg | None:
    """The BackMsg in a websocket frame when it is a rerun carrying a canvas drawing, else None."""
    if not isinstance(payload, bytes):
        return None
    msg = BackMsg()
    msg.ParseFromString(payload)
    if msg.WhichOneof("type") != "rerun_script":
        return None
    if any(w.WhichOneof("value") == "json_value" and '"drawing"' in w.json_value for w in msg.rerun_script.widget_states.widgets):
        return msg
    return None


def shape(msg: BackMsg) -> dict:
    """What must agree between the browser's stroke and the simulated one (not the drawing itself)."""
    state = msg.rerun_script
    widgets = {w.id: w.WhichOneof("value") for w in state.widget_states.widgets}
    (canvas,) = [w.json_value for w in state.widget_states.widgets if w.WhichOneof("value") == "json_value"]
    value = json.loads(canvas)
    raw, data = value["drawing"]["raw"], value["drawing"]["data"]
    prefix, encoded = data.split(",", 1)
    picture = Image.open(io.BytesIO(base64.b64decode(encoded)))
    alpha = np.asarray(picture)[..., 3]
    return {
        "type": msg.WhichOneof("type"),
        "page_script_hash": state.page_script_hash,
        "fragment_id": state.fragment_id,
        "is_auto_rerun": state.is_auto_rerun,
        "widgets": widgets,
        "context_info": sorted(f.name for f, _ in state.context_info.ListFields()),
        "value_keys": (sorted(value), sorted(value["drawing"])),
        "raw_keys": sorted(raw),
        "object_types": sorted({o["type"] for o in raw["objects"]}),
        "object_keys": sorted({k for o in raw["objects"] for k in o}),
        "path_commands": sorted({c[0] for o in raw["objects"] for c in o["path"]}),
        "background": raw["background"],
        "data_url": prefix,
        "picture": (picture.format, picture.mode, picture.size, bool((alpha == 255).all())),
    }


@pytest.fixture(scope="module")
def drawing():
    """One MNIST test digit that the shipped model reads right through the Draw page's preprocessing."""
    return prepare_drawings(count=1, seed=1)[0]


@pytest.fixture(scope="module")
def browser_stroke(browser, app_server):
    """The BackMsg a real Chromium tab sends for one stroke on the Draw page (its first stroke)."""
    sockets = []

    def setup(page):
        page.on("websocket", lambda ws: sockets.append(ws))

    with open_tab(browser, f"{app_server['url']}/", ready=UPPER_CANVAS, setup=setup) as page:
        (stream,) = [ws for ws in sockets if ws.url.endswith("/_stcore/stream")]
        # a stroke goes to the page's run (not only to the stroke route) while it shows the pixel values
        page.locator("[data-testid='stCheckbox']").filter(has_text="Show pixel values").click()
        wait_idle(page)
        before = prediction_input(page)
        with stream.expect_event("framesent", predicate=lambda p: canvas_rerun(p) is not None,
                                 timeout=TIMEOUT_S * 1000) as sent:
            draw_strokes(page, place("1", 0.5, 0.5, 0.7))
        wait_new_prediction(page, before, timeout=TIMEOUT_S * 1000)  # the browser's stroke was answered
        return canvas_rerun(sent.value), len(sent.value)


def test_simulated_stroke_has_the_browser_shape(browser_stroke, app_server, drawing):
    recorded, size = browser_stroke
    with StreamlitSession(app_server["url"], timeout=TIMEOUT_S) as session:
        first = session.open("/")
        assert first.status in RUN_OVER and not first.exceptions()
        simulated = session.draw_message(drawing.value)
    want, got = shape(recorded), shape(simulated)
    assert got == want
    assert want["picture"] == ("PNG", "RGBA", (280, 280), True)  # the canvas paints its black background: opaque
    assert want["fragment_id"], "a stroke reruns the Draw page's fragment, not the whole page"
    canvas_id = next(w for w, kind in want["widgets"].items() if kind == "json_value")
    assert canvas_id.endswith("-draw_canvas")
    assert 2_000 < size < 60_000 and 2_000 < len(simulated.SerializeToString()) < 60_000


def test_simulated_stroke_is_answered_with_the_drawn_digit(app_server, drawing):
    with StreamlitSession(app_server["url"], timeout=TIMEOUT_S) as session:
        session.open("/")
        assert session.canvas().element.component_name == CANVAS_COMPONENT
        run = session.draw(drawing.value)
    assert run.status in RUN_OVER
    assert not run.exceptions() and not run.alerts(1)
    answer = run.prediction()
    assert answer is not None, "the run ended without a prediction"
    _, label, fingerprint = answer
    assert label == str(drawing.label)
    assert fingerprint == drawing.fingerprint  # the answer is for this drawing, as the page preprocessed it
