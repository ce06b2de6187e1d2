"""A Streamlit session without a browser: the app's own websocket protocol, spoken from Python.

What a browser tab does, message for message (``tests/e2e/test_protocol.py`` compares the two):

1. ``GET /_stcore/health``: the server sets the ``_streamlit_xsrf`` cookie (``server.enableXsrfProtection``).
2. A websocket to ``/_stcore/stream`` with the subprotocols ``["streamlit", <that cookie's value>]``, the cookie and
   an ``Origin`` header; permessage-deflate as Chromium offers it.
3. ``BackMsg.rerun_script`` (a ``ClientState``): the first one with no page and no widgets (the server picks the
   page from the URL); later ones with the page's script hash, every widget's current value (as the browser's
   widget manager holds them), the fragment of the widget that changed, the hashes of the big messages it keeps
   (Streamlit then sends a ``ref_hash`` in their place) and the tab's ``ContextInfo``.
4. ``ForwardMsg``s until ``script_finished``: ``new_session``, ``navigation``, one ``delta`` per element, ...

A Draw page stroke is one ``rerun_script`` whose canvas widget (a Components v2 ``bidi_component``) carries
``json_value`` ``{"drawing": {"raw": <Fabric.js JSON>, "data": "data:image/png;base64,..."}}``: the canvas' 280x280
RGBA picture, white ink on an opaque black background. ``canvas_value`` builds it, ``Drawing``/``prepare_drawings``
make such values from MNIST test digits that the shipped model reads correctly through the Draw page's own
preprocessing, so that a wrong answer is the server's.

Synchronous and thread-free apart from websockets' own reader: under Locust (gevent) each simulated pupil is one
greenlet (``bench/pupils.py``). Nothing here imports Streamlit's runtime, only its protobuf messages.

    python -m harness.streamlit_session drawings --out FILE [--count 600] [--seed 0]   # the pupils' drawings
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import re
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from model_store import panel
from model_store.panel import input_id  # the fingerprint the page puts on its answer

HEALTH = "/_stcore/health"
STREAM = "/_stcore/stream"
XSRF_COOKIE = "_streamlit_xsrf"

# ForwardMsg.script_finished
FINISHED, COMPILE_ERROR, EARLY_FOR_RERUN, FRAGMENT_FINISHED = 0, 1, 2, 3
RUN_OVER = (FINISHED, COMPILE_ERROR, FRAGMENT_FINISHED)  # EARLY_FOR_RERUN: another run follows (st.rerun)

CANVAS_COMPONENT = "streamlit-drawable-canvas.streamlit_drawable_canvas"
# The Fashion page's answer (app_pages/views.py prediction_headline): the label and the model input's fingerprint.
PREDICTION = re.compile(r"<div data-testid='prediction'(?: data-input='(?P<input>[0-9a-f]+)')?[^>]*>(?P<label>.*?)</div>",
                        re.S)


class ProtocolError(RuntimeError):
    """The server did something a browser tab would not have expected (closed, timed out, page not found)."""


# ---- what the server sent ---------------------------------------------------------------------------------------
@dataclass
class Widget:
    """A widget as the browser's widget manager holds it: its id, element type, label, fragment, current value
    (``(WidgetState oneof field, value)``, or None while the browser would send nothing for it)."""
    id: str
    kind: str
    label: str
    fragment_id: str
    value: tuple[str, object] | None
    element: object = None


@dataclass
class Run:
    """One script run as the client saw it, from the BackMsg that asked for it to its ``script_finished``."""
    sent_at: float  # time.perf_counter() when the rerun was sent
    status: int | None = None  # script_finished
    finished_at: float | None = None
    messages: int = 0
    bytes: int = 0  # payload bytes received (after permessage-deflate)
    elements: list = field(default_factory=list)  # (arrival time, element type, Element proto)
    refs: int = 0  # messages that came as a ref_hash to the client's cache

    def markdown(self) -> list[str]:
        return [el.markdown.body for _, kind, el in self.elements if kind == "markdown"]

    def exceptions(self) -> list[str]:
        return [f"{el.exception.type}: {el.exception.message}" for _, kind, el in self.elements if kind == "exception"]

    def alerts(self, fmt: int | None = None) -> list[str]:
        """Bodies of st.error/warning/info/success boxes (``fmt``: Alert.Format, 1 error ... 4 success)."""
        return [el.alert.body for _, kind, el in self.elements if kind == "alert" and (fmt is None or el.alert.format == fmt)]

    def prediction(self) -> tuple[float, str, str | None] | None:
        """(arrival time, label, data-input fingerprint) of the prediction: the Draw page's result panel (its
        payload), or the Fashion page's headline; None when the run sent none."""
        for at, kind, el in self.elements:
            if kind == "markdown" and (m := PREDICTION.search(el.markdown.body)):
                return at, html.unescape(m["label"]).strip(), m["input"]
            if kind == "bidi_component" and el.bidi_component.component_name.endswith(panel.COMPONENT):
                data = el.bidi_component.bytes
                if data:
                    payload = panel.unpack(data)
                    return at, payload["label"], payload["input"]
        return None

    def progress_texts(self) -> list[str]:
        return [el.progress.text for _, kind, el in self.elements if kind == "progress"]

    @property
    def seconds(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.sent_at


def widget_value(kind: str, el) -> tuple[str, object] | None:
    """The value a browser registers for a widget element when it mounts it: the server's ``value`` when it set one
    (``set_value``), else the element's default; None for widgets that send nothing until used (buttons, tabs, custom
    components, empty pickers). Only the widget types the app's pages use are known; others send nothing."""
    if kind == "checkbox":
        return "bool_value", bool(el.value if el.set_value else el.default)
    if kind in ("selectbox", "radio"):
        if el.set_value:
            return ("string_value", el.raw_value) if el.HasField("raw_value") else None
        return ("string_value", el.options[el.default]) if el.HasField("default") and el.options else None
    if kind == "button_group":
        if el.set_value:
            return "string_array_value", list(el.raw_values)
        return ("string_array_value", [el.options[i].content for i in el.default]) if el.default else None
    if kind == "multiselect":
        return "string_array_value", list(el.raw_values) if el.set_value else [el.options[i] for i in el.default]
    if kind == "slider":
        if el.options:  # select_slider: the browser sends the option's label (a string array), not an index
            return "string_array_value", list(el.raw_value) if el.set_value else [el.options[int(i)] for i in el.default]
        return "double_array_value", list(el.value if el.set_value else el.default)
    if kind == "number_input":
        if el.set_value:
            number = el.value
        elif el.HasField("default"):
            number = el.default
        else:
            return None
        return ("int_value", int(number)) if el.data_type == 0 else ("double_value", float(number))
    if kind == "text_input":
        return "string_value", el.value if el.set_value else el.default
    return None


# ---- the session ------------------------------------------------------------------------------------------------
class StreamlitSession:
    """One browser tab's session on the app at ``url`` (e.g. ``http://127.0.0.1:8501``), driven from Python.

    ``open(path)`` connects and waits for the first run; ``rerun``/``set``/``click``/``draw`` send what the browser
    sends for a user's action and return that run. ``timeout``: seconds any one run may take."""

    def __init__(self, url: str, timeout: float = 30.0, locale: str = "en-US", timezone: str = "UTC"):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.locale, self.timezone = locale, timezone
        self.ws = None
        self.session_id: str | None = None
        self.page_hash = ""  # the page being shown (ClientState.page_script_hash)
        self.main_hash = ""
        self.pages: dict[str, str] = {}  # page name -> script hash, from the navigation message
        self.page_paths: dict[str, str] = {}  # page name -> url path
        self.widgets: dict[str, Widget] = {}
        self.auto_reruns: dict[str, float] = {}  # fragment id -> seconds (st.fragment(run_every=...))
        self.color_scheme = "light"  # what the tab reports before the theme arrives
        self.path = "/"
        self._cache: dict[str, list] = {}  # hash -> [ForwardMsg, run count when last used]: the browser's message cache
        self._runs_done = 0
        self._max_cache_age = 2

    # -- connection
    def xsrf_cookie(self) -> str:
        """The ``_streamlit_xsrf`` cookie, as the browser gets it from its health-check ping."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url + HEALTH, timeout=self.timeout) as r:
            for header in r.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                if name.strip() == XSRF_COOKIE:
                    return rest.split(";", 1)[0]
        raise ProtocolError(f"{self.url}{HEALTH} set no {XSRF_COOKIE} cookie (is server.enableXsrfProtection off?)")

    def open(self, path: str = "/") -> Run:
        """Connect as a tab opened on ``path`` and wait for the end of its first run."""
        from websockets.sync.client import connect

        self.path = path
        token = self.xsrf_cookie()
        parts = urllib.parse.urlsplit(self.url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        self.ws = connect(f"{scheme}://{parts.netloc}{parts.path}{STREAM}",
                          subprotocols=["streamlit", token], origin=f"{parts.scheme}://{parts.netloc}",
                          additional_headers={"Cookie": f"{XSRF_COOKIE}={token}"}, max_size=None,
                          open_timeout=self.timeout, proxy=None, ping_interval=None)
        return self.send(self._client_state(first=True))

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- what a user does
    def rerun(self, fragment_id: str = "", triggers: dict[str, tuple[str, object]] | None = None,
              page_hash: str | None = None, auto: bool = False) -> Run:
        """Send ``rerun_script`` with every widget's value (plus one-shot ``triggers``: widget id -> value) for
        ``fragment_id`` ("" for the whole page) and wait for the end of the run."""
        return self.send(self._client_state(fragment_id=fragment_id, triggers=triggers, page_hash=page_hash, auto=auto))

    def set(self, widget: Widget, oneof: str, value) -> Run:
        """Change a widget's value, as a user does; the rerun is the widget's fragment's."""
        widget.value = (oneof, value)
        return self.rerun(widget.fragment_id)

    def click(self, label: str) -> Run:
        """Press the button labelled ``label``."""
        button = self.widget(label=label, kind="button")
        return self.rerun(button.fragment_id, triggers={button.id: ("trigger_value", True)})

    def open_page(self, name: str) -> Run:
        """Go to page ``name`` through the sidebar navigation (a full run of that page)."""
        if name not in self.pages:
            raise ProtocolError(f"no page {name!r} in the navigation ({sorted(self.pages)})")
        self.path = "/" + self.page_paths.get(name, "")
        return self.rerun(page_hash=self.pages[name])

    def canvas(self) -> Widget:
        return self.widget(component=CANVAS_COMPONENT)

    def draw_message(self, value: str) -> BackMsg:
        """The BackMsg a stroke on the Draw page sends: the canvas' new value (``canvas_value``) with every other
        widget's, for the canvas' fragment. The canvas keeps the value, as the browser's does."""
        canvas = self.canvas()
        canvas.value = ("json_value", value)
        return self._client_state(fragment_id=canvas.fragment_id)

    def draw(self, value: str) -> Run:
        """A stroke on the Draw page, and the run it causes."""
        return self.send(self.draw_message(value))

    def widget(self, label: str | None = None, kind: str | None = None, component: str | None = None,
               key: str | None = None) -> Widget:
        """The one widget on the page with this label / element type / component name / key."""
        found = [w for w in self.widgets.values()
                 if (label is None or w.label == label) and (kind is None or w.kind == kind)
                 and (key is None or w.id.endswith(f"-{key}"))
                 and (component is None or (w.kind == "bidi_component" and w.element.component_name == component))]
        if len(found) != 1:
            raise ProtocolError(f"{len(found)} widgets match label={label!r} kind={kind!r} component={component!r} "
                                f"key={key!r} on this page")
        return found[0]

    # -- the wire
    def _client_state(self, first: bool = False, fragment_id: str = "", triggers=None, page_hash=None,
                      auto: bool = False) -> BackMsg:
        msg = BackMsg()
        state = msg.rerun_script
        if not first:
            state.page_script_hash = page_hash or self.page_hash
            if fragment_id:
                state.fragment_id = fragment_id
            state.is_auto_rerun = auto
            values = {w.id: w.value for w in self.widgets.values() if w.value is not None}
            values.update(triggers or {})
            for wid, (oneof, value) in values.items():
                w = state.widget_states.widgets.add()
                w.id = wid
                if oneof in ("double_array_value", "int_array_value", "string_array_value"):
                    getattr(w, oneof).data.extend(value)
                else:
                    setattr(w, oneof, value)
            state.cached_message_hashes.extend(self._cache)
        info = state.context_info
        info.timezone, info.timezone_offset, info.locale = self.timezone, 0, self.locale
        info.url, info.is_embedded, info.color_scheme = self.url + self.path, False, self.color_scheme
        return msg

    def send(self, msg: BackMsg) -> Run:
        """Send a BackMsg that asks for a run; returns that run once it is over."""
        if self.ws is None:
            raise ProtocolError("not connected")
        run = Run(sent_at=time.perf_counter())
        self.ws.send(msg.SerializeToString())
        self._read_run(run)
        return run

    def _read_run(self, run: Run) -> None:
        """Read ForwardMsgs until the run is over (a run ended early for a rerun goes on to the next one)."""
        deadline = run.sent_at + self.timeout
        seen: set[str] = set()
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"the run did not end within {self.timeout:g} s")
            try:
                data = self.ws.recv(timeout=left)
            except TimeoutError:
                raise TimeoutError(f"the run did not end within {self.timeout:g} s") from None
            except Exception as exc:  # websockets' ConnectionClosed and friends
                raise ProtocolError(f"websocket closed: {exc}") from exc
            now = time.perf_counter()
            run.messages += 1
            run.bytes += len(data)
            fm = ForwardMsg()
            fm.ParseFromString(data)
            status = self._handle(fm, run, now, seen)
            if status is not None:
                self._runs_done += 1
                self._age_cache()
                if status in RUN_OVER:
                    run.status, run.finished_at = status, now
                    self._forget_unseen(seen, fm.metadata.run.fragment_ids if fm.metadata.HasField("run") else ())
                    return

    def _handle(self, fm: ForwardMsg, run: Run, now: float, seen: set[str]) -> int | None:
        kind = fm.WhichOneof("type")
        if kind == "ref_hash":  # a message the client said it keeps: use its copy
            cached = self._cache.get(fm.ref_hash)
            if cached is None:
                raise ProtocolError(f"ref_hash {fm.ref_hash} is not in the client's cache")
            cached[1] = self._runs_done
            run.refs += 1
            fm, kind = cached[0], cached[0].WhichOneof("type")
        elif fm.metadata.cacheable and fm.hash:
            self._cache[fm.hash] = [fm, self._runs_done]
        if kind == "new_session":
            ns = fm.new_session
            self.session_id = ns.initialize.session_id or self.session_id
            self.page_hash, self.main_hash = ns.page_script_hash, ns.main_script_hash
            if ns.config.max_cached_message_age:
                self._max_cache_age = ns.config.max_cached_message_age
            self.color_scheme = "dark" if ns.custom_theme.base == 1 else "light"
            self._pages(ns.app_pages)
        elif kind == "navigation":
            self._pages(fm.navigation.app_pages)
            self.page_hash = fm.navigation.page_script_hash or self.page_hash
        elif kind == "page_not_found":
            raise ProtocolError(f"page not found: {fm.page_not_found.page_name!r}")
        elif kind == "auto_rerun":
            self.auto_reruns[fm.auto_rerun.fragment_id] = fm.auto_rerun.interval
        elif kind == "stop_auto_rerun":
            for fragment in fm.stop_auto_rerun.fragment_ids:
                self.auto_reruns.pop(fragment, None)
        elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
            el = fm.delta.new_element
            el_kind = el.WhichOneof("type")
            run.elements.append((now, el_kind, el))
            inner = getattr(el, el_kind)
            wid = getattr(inner, "id", "") if el_kind else ""
            if wid:
                seen.add(wid)
                old = self.widgets.get(wid)
                value = widget_value(el_kind, inner)
                if old is not None and old.value is not None and not getattr(inner, "set_value", False):
                    value = old.value  # the user's value stays until the server sets one
                self.widgets[wid] = Widget(wid, el_kind, getattr(inner, "label", ""), fm.delta.fragment_id, value, inner)
        elif kind == "script_finished":
            return fm.script_finished
        return None

    def _pages(self, app_pages) -> None:
        for page in app_pages:
            if page.page_name:
                self.pages[page.page_name] = page.page_script_hash
                self.page_paths[page.page_name] = page.url_pathname

    def _forget_unseen(self, seen: set[str], fragment_ids) -> None:
        """As the browser does at the end of a run: widgets no longer on the page (in the fragments that ran, or
        anywhere after a full run) stop being sent."""
        fragments = set(fragment_ids)
        for wid, w in list(self.widgets.items()):
            if wid not in seen and (not fragments or w.fragment_id in fragments):
                del self.widgets[wid]

    def _age_cache(self) -> None:
        for h, (_, used) in list(self._cache.items()):
            if self._runs_done - used > self._max_cache_age:
                del self._cache[h]


# ---- the canvas' value ------------------------------------------------------------------------------------------
FABRIC_VERSION = "7.4.0"  # what streamlit-drawable-canvas 0.13's Fabric.js writes
CANVAS_SIDE = 280  # the Draw page's canvas (app_pages/draw.py CANVAS)


def _num(x: float):
    """A number as JavaScript's JSON.stringify writes it (integers without ".0")."""
    x = round(float(x), 4)
    return int(x) if x == int(x) else x


def fabric_path(points, stroke_width: int = 18, color: str = "#FFFFFF") -> dict:
    """One freehand stroke through ``points`` (canvas px) as Fabric.js serialises its ``Path``: a move, quadratic
    curves through the midpoints, a final line; the object's box centred on the path (origin "center")."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    path = [["M", _num(xs[0]), _num(ys[0])]]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        path.append(["Q", _num(x0), _num(y0), _num((x0 + x1) / 2), _num((y0 + y1) / 2)])
    path.append(["L", _num(xs[-1]), _num(ys[-1])])
    flags = dict.fromkeys(["lockMovementX", "lockMovementY", "lockRotation", "lockScalingX", "lockScalingY",
                           "lockSkewingX", "lockSkewingY", "lockScalingFlip"], False)
    return {**flags, "type": "Path", "version": FABRIC_VERSION, "originX": "center", "originY": "center",
            "left": _num((min(xs) + max(xs)) / 2), "top": _num((min(ys) + max(ys)) / 2),
            "width": _num(max(xs) - min(xs)), "height": _num(max(ys) - min(ys)), "fill": None, "stroke": color,
            "strokeWidth": stroke_width, "strokeDashArray": None, "strokeLineCap": "round", "strokeDashOffset": 0,
            "strokeLineJoin": "round", "strokeUniform": False, "strokeMiterLimit": 10, "scaleX": 1, "scaleY": 1,
            "angle": 0, "flipX": False, "flipY": False, "opacity": 1, "shadow": None, "visible": True,
            "backgroundColor": "", "fillRule": "nonzero", "paintFirst": "fill",
            "globalCompositeOperation": "source-over", "skewX": 0, "skewY": 0, "path": path}


def png_data_url(rgba) -> str:
    """A (h, w, 4) uint8 picture as the canvas' ``toDataURL()`` gives it."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def canvas_value(rgba, strokes, stroke_width: int = 18, background: str = "#000000") -> str:
    """The canvas widget's ``json_value`` after a stroke, as streamlit-drawable-canvas sends it: the Fabric.js JSON of
    its objects (one Path per stroke, ``strokes``: lists of (x, y) canvas px) and the rendered picture ``rgba``
    (280x280x4 uint8, opaque: the canvas paints its background colour under the ink)."""
    raw = {"version": FABRIC_VERSION, "objects": [fabric_path(s, stroke_width) for s in strokes], "background": background}
    return json.dumps({"drawing": {"raw": raw, "data": png_data_url(rgba)}}, separators=(",", ":"))


def decode_canvas(value: str):
    """The picture inside a canvas value, as the page reads it (``CanvasResult.image_data``)."""
    import numpy as np
    from PIL import Image

    data = json.loads(value)["drawing"]["data"]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data.split(";base64,", 1)[1]))))


# ---- MNIST test digits as pupils' drawings ----------------------------------------------------------------------
@dataclass
class Drawing:
    """A test digit drawn on the canvas: its label, test-set index, the canvas value a stroke sends, and the
    fingerprint of the model input the Draw page makes of it (what its answer must carry)."""
    label: int
    index: int
    value: str
    fingerprint: str


def render_digit(image28, scale: float, left: int, top: int):
    """A 28x28 uint8 digit (white on black) as a stroke on the 280x280 canvas: enlarged smoothly ``scale`` times and
    placed at (left, top), on the canvas' opaque black; and one stroke's points (canvas px) along its ink, in
    pen order (nearest next ink pixel), for the Fabric JSON."""
    import numpy as np
    from PIL import Image

    side = int(round(28 * scale))
    big = np.asarray(Image.fromarray(np.asarray(image28, np.uint8), "L").resize((side, side), Image.BILINEAR))
    gray = np.zeros((CANVAS_SIDE, CANVAS_SIDE), np.uint8)
    gray[top:top + side, left:left + side] = big
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    ys, xs = np.nonzero(np.asarray(image28) > 127)
    ink = np.column_stack([left + (xs + 0.5) * scale, top + (ys + 0.5) * scale])
    if not len(ink):
        return rgba, [(CANVAS_SIDE / 2, CANVAS_SIDE / 2)]
    order, free = [0], np.ones(len(ink), bool)
    free[0] = False
    while free.any():
        d = ((ink - ink[order[-1]]) ** 2).sum(axis=1)
        d[~free] = np.inf
        order.append(int(np.argmin(d)))
        free[order[-1]] = False
    step = max(1, len(order) // 60)  # a browser stroke of this length has some 40-80 points
    return rgba, [(float(x), float(y)) for x, y in ink[order[::step]]]


def prepare_drawings(count: int = 600, seed: int = 0, model: str = "convscope-digits", data_dir=None,
                     min_confidence: float = 0.98) -> list[Drawing]:
    """``count`` canvas drawings of MNIST test digits (the real test set where it is on this machine, else the
    shipped sample), each at its own size and place, kept only when the shipped ``model`` reads it correctly and
    surely (``min_confidence``) after the Draw page's preprocessing: then a wrong answer is the server's fault.
    Loads TensorFlow: call it once and keep the result (``save_drawings``)."""
    import tempfile

    import numpy as np

    from model_store import preprocess
    from model_store.inference import Predictor
    from model_store.store import ModelStore
    from training.samples import test_images

    test = test_images("mnist", data_dir)
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as empty:
        predictor = Predictor(ModelStore(user_dir=empty).load(model))
    drawings: list[Drawing] = []
    for pos in rng.integers(len(test.labels), size=count * 3):  # the shipped sample has 200: a digit may come twice
        scale = float(rng.uniform(6.5, 10.0))
        side = int(round(28 * scale))
        left, top = (int(v) for v in rng.integers(0, CANVAS_SIDE - side + 1, size=2))
        rgba, stroke = render_digit(test.images[pos], scale, left, top)
        value = canvas_value(rgba, [stroke])
        prepared = preprocess.mnist_style(decode_canvas(value), polarity="light-on-dark")
        if prepared.status != "ok":
            continue
        probs = predictor.probabilities(prepared.image[None])[0]
        label = int(test.labels[pos])
        if int(np.argmax(probs)) == label and probs[label] >= min_confidence:
            drawings.append(Drawing(label, int(test.indices[pos]), value, input_id(prepared.image)))
            if len(drawings) == count:
                break
    return drawings


def save_drawings(path: str | Path, drawings: list[Drawing]) -> None:
    Path(path).write_text(json.dumps([d.__dict__ for d in drawings]))


def load_drawings(path: str | Path) -> list[Drawing]:
    return [Drawing(**d) for d in json.loads(Path(path).read_text())]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Canvas drawings of MNIST test digits for simulated pupils.")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("drawings", help="write drawings the shipped model reads correctly to a JSON file")
    cmd.add_argument("--out", required=True)
    cmd.add_argument("--count", type=int, default=600)
    cmd.add_argument("--seed", type=int, default=0)
    cmd.add_argument("--data", help="dataset folder (else CONVSCOPE_DATA, Debian's, or the shipped sample)")
    args = parser.parse_args(argv)
    drawings = prepare_drawings(args.count, args.seed, data_dir=args.data)
    save_drawings(args.out, drawings)
    size = sum(len(d.value) for d in drawings) / max(1, len(drawings))
    print(f"{len(drawings)} drawings, {size / 1024:.1f} KiB canvas value on average -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
