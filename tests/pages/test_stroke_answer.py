"""The Draw page's stroke route (app_pages/stroke_answer.py): a stroke's answer outside a Streamlit run.

Its promise is that the panel shows the same thing as the page's own run: the route's payload for a canvas is
compared byte for byte with the one the Draw page (under AppTest, the canvas replaced) hands its result panel.
"""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from app_pages import class_resources, live_drawing, stroke_answer
from app_pages.i18n import strings
from app_pages.panel import COMPONENT
from model_store.class_data import ClassDatasets, RateLimiter
from model_store.panel import unpack
from model_store.refusal import REASONS
from model_store.store import DEFAULTS_DIR
from tests.pages.fakes import FOUR, SEVEN, FakeCanvas, drawing, install_fake_canvas

MODEL = "convscope-digits"
pytestmark = pytest.mark.skipif(not (DEFAULTS_DIR / f"{MODEL}.keras").exists(),
                                reason=f"the shipped digit model model_store/defaults/{MODEL}.keras is missing")


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def store(monkeypatch, tmp_path):
    """An empty user model folder (the shipped models only) and empty caches, as a fresh server has."""
    import streamlit as st

    monkeypatch.setenv("CONVSCOPE_MODELS", str(tmp_path / "models"))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


def panel_bytes(at) -> bytes:
    (proto,) = [e.proto for e in at.get("bidi_component") if e.proto.component_name == COMPONENT]
    return proto.bytes


@pytest.mark.parametrize("compare", [False, True])
def test_the_route_answers_what_the_page_run_shows(monkeypatch, open_app, compare):
    install_fake_canvas(monkeypatch)
    at = open_app()
    if compare:
        at.toggle(key="compare_naive").set_value(True).run()
    canvas = drawing(FOUR)
    FakeCanvas.image = canvas
    at.run()
    assert not at.exception, at.exception
    status, body = stroke_answer.answer(png(canvas), MODEL, "en", compare=compare)
    assert status == 200
    assert body == panel_bytes(at)
    shown = unpack(body)
    assert shown["label"] == "4"
    assert [view["id"] for view in shown["sees"]["views"]] == (["mnist_style", "naive"] if compare else ["mnist_style"])


def test_the_answer_is_in_the_language_asked_with_the_layer_asked(store):
    canvas = png(drawing(SEVEN))
    english, korean = (unpack(stroke_answer.answer(canvas, MODEL, lang)[1]) for lang in ("en", "ko"))
    assert english["label"] == korean["label"] == "7"
    assert english["sees"]["title"] == strings("en")["draw.sees"]
    assert korean["sees"]["title"] == strings("ko")["draw.sees"] != english["sees"]["title"]
    last = len(english["maps"]["layers"]) - 1
    assert last >= 1
    opened = unpack(stroke_answer.answer(canvas, MODEL, "en", layer=last)[1])["maps"]
    assert opened["open"] == last and opened["layer"]["name"] != english["maps"]["layer"]["name"]


def message(body: bytes) -> tuple[str, str]:
    shown = unpack(body)
    assert shown["input"] == "" and "bars" not in shown
    return shown["kind"], shown["message"]


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_what_is_not_a_digit_gets_the_page_message_in_the_language_asked(store, lang):
    words = strings(lang)
    status, body = stroke_answer.answer(png(drawing([])), MODEL, lang)
    assert status == 200 and message(body) == ("info", words["draw.hint"])
    dot, square = drawing([]).copy(), drawing([]).copy()
    dot[100:104, 100:104, :3] = 255
    square[50:150, 60:140, :3] = 255
    for mark, code in ((dot, "image_dot"), (square, "image_filled")):
        status, body = stroke_answer.answer(png(mark), MODEL, lang)
        kind, text = message(body)
        assert status == 200 and kind == "warning"
        assert text.startswith(words["draw.not_a_digit"].split("{reason}")[0])
        assert (words.get(f"refusal.{code}") or REASONS[code]) in text  # says which


def test_bad_requests_are_refused_without_reading_pixels(store):
    canvas = png(drawing(SEVEN))
    assert stroke_answer.answer(canvas, "no-such-model", "en")[0] == 404
    assert stroke_answer.answer(b"not a png", MODEL, "en") == (422, b"image_unreadable")
    assert stroke_answer.answer(canvas[: len(canvas) // 2], MODEL, "en")[0] == 422  # truncated
    wide = png(np.zeros((1, stroke_answer.MAX_SIDE + 1, 4), np.uint8))
    assert stroke_answer.answer(wide, MODEL, "en") == (422, b"image_too_large")


class FakeRequest:
    """What the endpoint reads of a Starlette request: the body, in chunks, and the query."""

    def __init__(self, body: bytes, **query):
        self.body, self.query_params = body, query

    async def stream(self):
        for start in range(0, len(self.body), 65536):
            yield self.body[start:start + 65536]


def call(endpoint, request):
    """``endpoint(request)`` to its response, in a thread of its own (a browser test may hold this one's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, endpoint(request)).result()


def test_the_endpoint_answers_and_refuses_a_body_too_large(store):
    response = call(stroke_answer.endpoint, FakeRequest(png(drawing(SEVEN)), model=MODEL, lang="en", layer="x"))
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    assert unpack(response.body)["label"] == "7"
    too_large = call(stroke_answer.endpoint, FakeRequest(bytes(stroke_answer.MAX_BYTES + 1), model=MODEL))
    assert too_large.status_code == 413


def test_the_page_offers_the_route_only_where_it_is_served(monkeypatch):
    monkeypatch.setattr(stroke_answer, "_served", False)
    assert live_drawing.live_settings(MODEL, "ko", True, False) is None
    stroke_answer.routes()
    settings = live_drawing.live_settings(MODEL, "ko", True, False, sync=True)
    token = settings.pop("token")
    assert settings == {"route": stroke_answer.ROUTE, "model": MODEL, "lang": "ko", "compare": True, "large": False,
                        "sync": True}
    assert stroke_answer.TOKEN.fullmatch(token)  # the session's key for its pictures: hard to guess
    assert live_drawing.live_settings(MODEL, "en", False, False)["token"] == token  # one per session


def test_strokes_the_route_alone_answered_reach_the_page_and_a_correction(monkeypatch, open_app, tmp_path):
    """With the route served, a stroke may reach the route only (a quiet stroke): the page's next run, for whatever
    reason it runs, reads that newer drawing, and so does a correction; a Clear (the canvas' own send) wins over it."""
    monkeypatch.setattr(stroke_answer, "_served", True)
    limiter = RateLimiter(min_interval=0, per_minute=10_000)
    monkeypatch.setattr(class_resources, "drawing_rate", lambda: limiter)
    install_fake_canvas(monkeypatch)
    at = open_app()
    FakeCanvas.image = drawing([[(0.5, 0.2), (0.5, 0.8)]])  # a 1, sent to the page
    at.run()
    assert unpack(panel_bytes(at))["label"] == "1"
    token = at.session_state[live_drawing.TOKEN_KEY]
    four, seven = png(drawing(FOUR)), png(drawing(SEVEN))
    assert stroke_answer.answer(four, MODEL, "en", token=token)[0] == 200  # a quiet stroke: the route only
    at.segmented_control(key="teach_label").set_value("9").run()  # any run of the page
    assert unpack(panel_bytes(at))["label"] == "4"
    assert stroke_answer.answer(seven, MODEL, "en", token=token)[0] == 200
    at.button(key="teach_add").click().run()  # the correction takes the 7, though no run has seen it yet
    assert not at.exception and at.success
    (added,) = ClassDatasets(tmp_path / "models").drawings("digits")
    assert added.label == 9 and added.read_as == 7
    FakeCanvas.image = drawing([])  # Clear: the canvas sends its empty self
    at.run()
    assert stroke_answer.LATEST.get(token) is None
    assert message(panel_bytes(at)) == ("info", strings("en")["draw.hint"])  # in the panel, as the route says it
    assert not at.info
