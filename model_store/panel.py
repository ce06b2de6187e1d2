"""One reading of one input as the compact payload the Draw page's result panel draws in the browser.

The answer changes with every stroke, on slow school tablets too: one small payload that one component
(``app_pages/panel.py``) draws in place costs a pupil's browser far less than a tree of Streamlit elements rebuilt
per stroke. It holds the answer and every class's probability as text, the 28x28 input as its 784 bytes, and the
open Conv2D layer's feature maps as one greyscale PNG of all its channels side by side (values 0-255 on the layer's
colour scale, which the browser colours). The other layers are named for their tabs; a tab opens its layer with
the next payload, which keeps a stroke's update to a few kilobytes.

Pure: numpy and Pillow. The words arrive translated through ``words`` (anything with the ``t``/``tn`` of
``app_pages/i18n.py``), so the payload is in the reader's language and this module needs no Streamlit.

On the wire (``pack``): a 4-byte little-endian length, the JSON of the payload, then its byte strings, each replaced
in the JSON by ``{"$bytes": [start, end]}`` (offsets after the JSON). ``unpack`` is the inverse.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
from typing import Protocol

import numpy as np
from PIL import Image

from model_store.render import grid_shape, layer_range

LOW_CONFIDENCE = 0.6  # below this the answer is marked as unsure
NAIVE = "naive"
COMPONENT = "convscope.panel"  # the panel's Components v2 name: what a client looks for in a run's elements


class Words(Protocol):
    """What the payload needs from the app's translations (``app_pages.i18n`` has both)."""

    def t(self, key: str, **values) -> str: ...

    def tn(self, key: str, count: int, **values) -> str: ...


def input_id(image: np.ndarray) -> str:
    """A short fingerprint of a model input; browser tests and benches wait for it to change after a stroke."""
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=6).hexdigest()


def percent(p: float, decimals: int = 0) -> str:
    """A percentage, but never a misleading 0% or 100% for a probability that is neither."""
    step = 10.0 ** -decimals  # the smallest step shown, in per cent
    if p <= 0:
        return f"{0:.{decimals}%}"
    if p * 100 < step:
        return f"<{step / 100:.{decimals}%}"
    if p < 1 and round(p * 100, decimals) >= 100:
        return f">{1 - step / 100:.{decimals}%}"
    return f"{p:.{decimals}%}"


def pixels(image: np.ndarray) -> bytes:
    """A (28, 28) image in [0, 1] as its bytes, row by row (0 black, 255 white)."""
    return (np.clip(np.asarray(image, np.float32), 0, 1) * 255).round().astype(np.uint8).tobytes()


def tiled_png(maps: np.ndarray, low: float, high: float) -> tuple[bytes, int, int]:
    """(h, w, c) maps -> (greyscale PNG of every channel in a grid, rows, columns); 0 is ``low``, 255 ``high``.
    Channel k sits in row k // columns, column k % columns, with no gap (the browser draws the gaps)."""
    h, w, c = maps.shape
    rows, cols = grid_shape(c)
    scaled = np.clip((np.nan_to_num(maps) - low) / (high - low) * 255 + 0.5, 0, 255).astype(np.uint8)
    grid = np.zeros((rows * cols, h, w), np.uint8)
    grid[:c] = scaled.transpose(2, 0, 1)
    grid = grid.reshape(rows, cols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, cols * w)
    buffer = io.BytesIO()
    Image.fromarray(grid, mode="L").save(buffer, format="PNG", compress_level=6)  # 9: 3% smaller, 8x the time
    return buffer.getvalue(), rows, cols


def _bars(probabilities: np.ndarray, names: list[str], words: Words, key: str) -> dict:
    if len(probabilities) != len(names):
        raise ValueError(f"{len(probabilities)} probabilities for {len(names)} class names")
    return {"key": key, "label": words.t("panel.probabilities"), "names": [str(n) for n in names],
            "p": [round(float(p), 6) for p in probabilities], "text": [percent(float(p)) for p in probabilities]}


def _layer(fm, words: Words) -> dict:
    """The open layer: its words, geometry, colour scale, tiled PNG and every channel's own range."""
    h, w, c = fm.shape
    low, high = layer_range(np.nan_to_num(fm.maps))
    png, rows, cols = tiled_png(fm.maps, low, high)
    after = words.t("maps.after", layers=" + ".join(fm.after)) if fm.after else ""
    return {
        "name": fm.layer, "h": h, "w": w, "c": c, "rows": rows, "cols": cols, "low": low, "high": high, "png": png,
        "lows": [round(float(v), 3) for v in fm.maps.min(axis=(0, 1))],
        "highs": [round(float(v), 3) for v in fm.maps.max(axis=(0, 1))],
        "text": words.tn("maps.layer", c, layer=fm.layer, after=after, h=h, w=w, c=c),
        "all": words.tn("maps.all_channels", c, layer=fm.layer, c=c),
        "scale": words.t("maps.scale", low=f"{low:.2f}", high=f"{high:.2f}"),
        # filled in by the browser for the channel shown: {channel}, {low}, {high}
        "channel": words.t("maps.channel_title", layer=fm.layer, channel="{channel}") + " · "
                   + words.t("maps.channel_range", low="{low}", high="{high}"),
    }


def _maps(feature_maps, open_layer: int, words: Words) -> dict:
    out = {"title": words.t("maps.title"), "caption": words.t("maps.caption"), "none": words.t("maps.none"),
           "tabs": words.t("panel.layers"), "enlarge": words.t("maps.enlarge"),
           "layers": [f"{fm.layer} · {'×'.join(map(str, fm.shape))}" for fm in feature_maps], "open": None}
    if feature_maps:
        out["open"] = min(max(0, int(open_layer)), len(feature_maps) - 1)
        out["layer"] = _layer(feature_maps[out["open"]], words)
    return out


def reading_payload(prediction, image: np.ndarray, names: list[str], words: Words, *, open_layer: int = 0,
                    true_label: int | None = None, wrong: str | None = None, naive=None, large: bool = False,
                    key: str = "draw") -> dict:
    """Everything the result panel shows for ``prediction`` (a ``model_store.inference.Prediction``) of ``image``.

    ``true_label``: the class when it is known (an MNIST test digit): the verdict says whether the answer is right,
    with ``wrong`` as the sentence for a miss. ``naive``: (image, prediction) of the naive resize, shown beside the
    input. ``open_layer``: the feature-map layer whose maps are sent. ``large``: presentation mode."""
    label = prediction.label
    confidence = prediction.confidence
    verdict = None
    if true_label is not None:
        verdict = words.t("common.correct") if label == true_label else wrong or words.t("common.wrong")
    views = [{"id": "mnist_style", "caption": words.t("draw.caption_mnist"), "pixels": pixels(image)}]
    if naive is not None:
        naive_image, naive_prediction = naive
        view = {"id": NAIVE, "caption": words.t("draw.caption_naive"), "pixels": pixels(naive_image)}
        if naive_prediction is not None:
            view["reads"] = words.t("draw.naive_reads", label=names[naive_prediction.label],
                                    confidence=percent(naive_prediction.confidence, 0))
        views.append(view)
    return {
        "input": input_id(image),
        "large": bool(large),
        "label": str(names[label]),
        "predicted": label,
        "true": None if true_label is None else int(true_label),
        "confidence": words.t("pred.confidence", value=percent(confidence, 1)),
        "unsure": words.t("pred.unsure") if confidence < LOW_CONFIDENCE else "",
        "verdict": verdict,
        "bars": _bars(np.asarray(prediction.probabilities, float).ravel(), names, words, f"{key}_probs"),
        "sees": {"title": words.t("draw.sees"), "views": views},
        "maps": _maps(prediction.feature_maps, open_layer, words),
    }


def message_payload(text: str, kind: str = "info") -> dict:
    """What the panel shows instead of a reading: the hint on an empty canvas (``kind`` "info") or why a drawing is
    not read (``kind`` "warning"). Its ``input`` is empty: no model input goes with it."""
    return {"input": "", "message": text, "kind": kind}


def pack(payload: dict) -> bytes:
    """The payload as one byte string for the component (see the module's docstring)."""
    blobs: list[bytes] = []
    offset = 0

    def refer(value):
        nonlocal offset
        if isinstance(value, bytes):
            blobs.append(value)
            offset += len(value)
            return {"$bytes": [offset - len(value), offset]}
        if isinstance(value, dict):
            return {k: refer(v) for k, v in value.items()}
        if isinstance(value, list):
            return [refer(v) for v in value]
        return value

    text = json.dumps(refer(payload), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return struct.pack("<I", len(text)) + text + b"".join(blobs)


def unpack(data: bytes) -> dict:
    """``pack``'s inverse: the payload with its byte strings back in place."""
    (length,) = struct.unpack_from("<I", data)
    body = memoryview(data)[4 + length:]

    def restore(value):
        if isinstance(value, dict):
            if set(value) == {"$bytes"}:
                start, end = value["$bytes"]
                return bytes(body[start:end])
            return {k: restore(v) for k, v in value.items()}
        if isinstance(value, list):
            return [restore(v) for v in value]
        return value

    return restore(json.loads(bytes(data[4:4 + length]).decode("utf-8")))
