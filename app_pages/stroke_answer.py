"""The Draw page's answer to a stroke, outside Streamlit's runs: an HTTP route of the app's server (``serve.py``).

A stroke answered through a Streamlit run costs a pupil's browser three React renders of the whole app, about 100 ms
on a device four times slower than a laptop, whatever the run changes (README, "Quick on slow devices"). So at the
end of a stroke the page's script (``stroke_send.py``) posts the canvas' picture here, and the result panel draws
the answer it gets: the payload the page's own run would send, byte for byte. The page's run follows only where it
has more to show (``live_drawing.py``).

The route answers with models of the store only, reads the picture like any upload (its size before its pixels),
and answers a drawing that is not a digit with the page's own message (the hint, or why it is not read).
"""

from __future__ import annotations

import io
import re

import numpy as np

from app_pages import resources
from app_pages.i18n import Words
from model_store import preprocess
from model_store.inference import check_reading
from model_store.latest_drawings import LatestDrawings
from model_store.panel import message_payload, pack, reading_payload
from model_store.refusal import Refusal
from training import datasets

ROUTE = "/api/draw/read"  # Streamlit mounts an app's own routes at the root, whatever server.baseUrlPath says
MAX_BYTES = 2**19  # a 280x280 drawing is a PNG of a few KB (the page sends it at the canvas' CSS size)
MAX_SIDE = 1024

TOKEN = re.compile(r"[0-9a-f]{32}")  # a session's key (``live_drawing.session_token``)

_served = False


LATEST = LatestDrawings()  # each session's newest picture, by its key


def routes() -> list:
    """The app's own routes for ``st.App`` (``serve.py``); from then on the Draw page offers them to its script."""
    from starlette.routing import Route

    global _served
    _served = True
    return [Route(ROUTE, endpoint, methods=["POST"])]


def served() -> bool:
    """Whether this server answers strokes on ``ROUTE`` (started through ``serve.py``, not AppTest or a bare
    ``streamlit run app.py``)."""
    return _served


def canvas_pixels(png: bytes) -> np.ndarray:
    """The canvas' PNG as the RGBA array the canvas component itself gives the page (``np.asarray`` of the image);
    ``Refusal`` for anything else, judged on the header before a pixel is decoded."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as img:
            if max(img.size) > MAX_SIDE:
                raise Refusal("image_too_large", megapixels=round(img.size[0] * img.size[1] / 1e6, 1),
                              limit=round(MAX_SIDE * MAX_SIDE / 1e6, 1))
            return np.asarray(img)
    except Refusal:
        raise
    except Exception as exc:  # not a PNG, truncated, ...: whatever Pillow says
        raise Refusal("image_unreadable") from exc


def drawing_message(status: str, words) -> dict:
    """The panel's message for a canvas that holds no digit (``preprocess.Prepared.status``): the hint when it is
    empty, else why it is not read (a dot, a filled area), as the page says it."""
    if status == "empty":
        return message_payload(words.t("draw.hint"))
    return message_payload(words.t("draw.not_a_digit", reason=words.refusal(preprocess.REFUSAL[status])), "warning")


def answer(png: bytes, model: str, language: str, layer: int = 0, compare: bool = False,
           large: bool = False, token: str = "") -> tuple[int, bytes]:
    """(HTTP status, body) for one drawing: 200 and the packed panel payload (``model_store.panel``: a reading, or
    the message for a drawing that is not a digit); 404 for a model the store does not have; 422 for a picture
    that cannot be read.
    ``token``: the session's key (``live_drawing.session_token``): the picture is kept as its newest (``LATEST``)."""
    try:
        canvas = canvas_pixels(png)
    except Refusal as exc:
        return 422, exc.code.encode()
    if TOKEN.fullmatch(token):
        LATEST.put(token, png)
    prepared = preprocess.mnist_style(canvas, polarity="light-on-dark")  # as the page reads the canvas
    if prepared.status != "ok":
        return 200, pack(drawing_message(prepared.status, Words(language)))
    try:
        meta = resources.store().get(model).meta
        predictor = resources.predictor(model)
    except Exception:  # ModelNotFound, or a file that cannot load: the page's own run says why
        return 404, b"model"
    words = Words(language)
    names = words.class_names(meta.get("class_names") or datasets.CLASS_NAMES["mnist"])
    try:
        prediction = check_reading(predictor(prepared.image), len(names))
    except Refusal as exc:
        return 422, exc.code.encode()
    naive = None
    if compare:
        naive_image = preprocess.naive_resize(canvas, polarity="light-on-dark").image
        naive = (naive_image, check_reading(predictor(naive_image), len(names)))
    payload = reading_payload(prediction, prepared.image, names, words, open_layer=layer, naive=naive, large=large,
                              key="draw")
    return 200, pack(payload)


async def endpoint(request):
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BYTES:
            return Response(b"too large", status_code=413)
    query = request.query_params
    try:
        layer = int(query.get("layer", "0"))
    except ValueError:
        layer = 0
    status, content = await run_in_threadpool(  # the model's call is CPU work: off the server's event loop
        answer, bytes(body), query.get("model", ""), query.get("lang", "en"), layer,
        query.get("compare") == "1", query.get("large") == "1", query.get("token", ""))
    return Response(content, status_code=status, media_type="application/octet-stream",
                    headers={"Cache-Control": "no-store"})
