"""The result panel's payload (model_store/panel.py): what one stroke sends to the Draw page's browser.

Its content (the answer, the bars, the input's bytes, the open layer's maps as one greyscale PNG with its colour
scale), the wire format, and its size per stroke with the shipped digit model on drawn digits.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from model_store import panel
from model_store.inference import FeatureMaps, Prediction
from model_store.store import DEFAULTS_DIR

EN = json.loads((Path(__file__).resolve().parents[3] / "app_pages" / "locales" / "en.json").read_text("utf-8"))
NAMES = [str(i) for i in range(10)]
STROKE_BUDGET = 10 * 1024  # the payload's share of the 20 KiB a stroke may send (the rest: the page's other elements)


def t(key: str, **values) -> str:
    return EN[key].format(**values) if values else EN[key]


def tn(key: str, count: int, **values) -> str:
    return t(f"{key}.one" if count == 1 and f"{key}.one" in EN else key, **values)


WORDS = SimpleNamespace(t=t, tn=tn)  # the app passes app_pages.i18n


def prediction(probabilities, maps=()) -> Prediction:
    return Prediction(np.asarray(probabilities, np.float32),
                      [FeatureMaps(f"conv{i + 1}", m, ["ReLU"]) for i, m in enumerate(maps)])


def confident(label: int, p: float = 0.91) -> np.ndarray:
    out = np.full(10, (1 - p) / 9, np.float32)
    out[label] = p
    return out


def relu_maps(rng, shape) -> np.ndarray:
    return np.maximum(0, rng.normal(0, 1, shape)).astype(np.float32)


@pytest.fixture
def image() -> np.ndarray:
    img = np.zeros((28, 28), np.float32)
    img[6:22, 12:16] = 1.0
    img[6, 10:18] = 0.5
    return img


def payload(image, pred, **options) -> dict:
    return panel.reading_payload(pred, image, NAMES, WORDS, **options)


def test_the_answer_and_every_class_in_order(image):
    p = payload(image, prediction(confident(3, 0.73)))
    assert (p["label"], p["predicted"], p["true"], p["verdict"]) == ("3", 3, None, None)
    assert p["input"] == panel.input_id(image)
    assert p["confidence"] == "confidence 73.0%" and p["unsure"] == ""
    bars = p["bars"]
    assert bars["names"] == NAMES and bars["key"] == "draw_probs" and bars["label"] == EN["panel.probabilities"]
    np.testing.assert_allclose(bars["p"], confident(3, 0.73), atol=1e-6)
    assert bars["text"][3] == "73%" and bars["text"][0] == "3%"


def test_a_low_confidence_is_marked(image):
    assert payload(image, prediction(confident(8, 0.41)))["unsure"] == EN["pred.unsure"]
    assert payload(image, prediction(confident(8, 0.97)))["unsure"] == ""


@pytest.mark.parametrize("truth, wrong, verdict", [(3, None, EN["common.correct"]), (5, None, EN["common.wrong"]),
                                                  (5, "wrong ✗, it is a 5", "wrong ✗, it is a 5")])
def test_the_verdict_when_the_true_class_is_known(image, truth, wrong, verdict):
    p = payload(image, prediction(confident(3)), true_label=truth, wrong=wrong)
    assert p["true"] == truth and p["verdict"] == verdict


def test_percentages_never_round_to_a_lie(image):
    probs = np.zeros(10, np.float32)
    probs[1], probs[2] = 0.9996, 0.0004
    p = payload(image, prediction(probs))
    assert p["confidence"] == "confidence >99.9%"
    assert p["bars"]["text"][1] == ">99%" and p["bars"]["text"][2] == "<1%" and p["bars"]["text"][0] == "0%"


def test_the_input_travels_as_its_784_bytes(image):
    view = payload(image, prediction(confident(1)))["sees"]["views"][0]
    assert view["id"] == "mnist_style" and view["caption"] == EN["draw.caption_mnist"]
    np.testing.assert_array_equal(np.frombuffer(view["pixels"], np.uint8).reshape(28, 28),
                                  (image * 255).round().astype(np.uint8))


def test_the_naive_resize_comes_with_its_own_reading(image):
    naive = np.zeros((28, 28), np.float32)
    p = payload(image, prediction(confident(1)), naive=(naive, prediction(confident(7, 0.456))))
    mnist_style, view = p["sees"]["views"]
    assert mnist_style["id"] == "mnist_style" and view["id"] == panel.NAIVE
    assert view["pixels"] == bytes(784) and view["caption"] == EN["draw.caption_naive"]
    assert view["reads"] == "Naive resize reads: **7** (46%)"


def decode(png: bytes) -> np.ndarray:
    picture = Image.open(io.BytesIO(png))
    assert picture.format == "PNG" and picture.mode == "L"
    return np.asarray(picture)


def test_the_open_layer_is_one_greyscale_png_of_every_channel_on_one_scale(image):
    rng = np.random.default_rng(0)
    maps = [relu_maps(rng, (28, 28, 32)), relu_maps(rng, (14, 14, 20))]
    p = payload(image, prediction(confident(1), maps), open_layer=1)
    m = p["maps"]
    assert m["layers"] == ["conv1 · 28×28×32", "conv2 · 14×14×20"] and m["open"] == 1
    layer = m["layer"]
    assert (layer["name"], layer["h"], layer["w"], layer["c"], layer["rows"], layer["cols"]) == ("conv2", 14, 14, 20, 3, 7)
    values = maps[1]
    assert layer["low"] == pytest.approx(values.min()) and layer["high"] == pytest.approx(values.max())
    grid = decode(layer["png"])
    assert grid.shape == (3 * 14, 7 * 14)
    for k in (0, 6, 7, 19):
        r, c = divmod(k, 7)
        tile = grid[r * 14:(r + 1) * 14, c * 14:(c + 1) * 14].astype(float)
        expected = (values[:, :, k] - layer["low"]) / (layer["high"] - layer["low"]) * 255
        assert np.abs(tile - expected).max() <= 0.5 + 1e-6, k
    assert not grid[2 * 14:, 6 * 14:].any()  # the grid's one empty cell
    np.testing.assert_allclose(layer["lows"], values.min(axis=(0, 1)), atol=5e-4)
    np.testing.assert_allclose(layer["highs"], values.max(axis=(0, 1)), atol=5e-4)
    assert layer["text"] == "**conv2** (after ReLU): output 14×14, 20 channels"
    assert layer["all"] == "conv2: all 20 channels"
    assert layer["scale"] == f"colour scale: {layer['low']:.2f} (dark) → {layer['high']:.2f} (bright)"
    assert layer["channel"] == "conv2, channel {channel} · values {low} to {high}"  # the browser fills them in


def test_only_the_open_layer_is_sent_and_its_number_is_kept_in_range(image):
    rng = np.random.default_rng(1)
    pred = prediction(confident(1), [relu_maps(rng, (28, 28, 4)), relu_maps(rng, (14, 14, 8))])
    for asked, opened in ((0, 0), (1, 1), (7, 1), (-3, 0)):
        m = payload(image, pred, open_layer=asked)["maps"]
        assert m["open"] == opened and m["layer"]["name"] == f"conv{opened + 1}"
    packed = panel.pack(payload(image, pred))
    assert packed.count(b"\x89PNG") == 1


def test_a_model_without_conv_layers_says_so(image):
    m = payload(image, prediction(confident(2)))["maps"]
    assert m["layers"] == [] and m["open"] is None and "layer" not in m and m["none"] == EN["maps.none"]


def test_a_flat_layer_still_has_a_scale(image):
    pred = prediction(confident(2), [np.zeros((28, 28, 3), np.float32)])
    layer = payload(image, pred)["maps"]["layer"]
    assert layer["high"] > layer["low"] and not decode(layer["png"]).any()


def test_class_names_travel_as_text(image):
    names = NAMES[:9] + ["<img src=x onerror=alert(1)>"]
    p = panel.reading_payload(prediction(confident(9)), image, names, WORDS)
    assert p["label"] == names[9] and p["bars"]["names"][9] == names[9]  # the browser sets it as text, never markup


def test_the_wrong_number_of_names_is_refused(image):
    with pytest.raises(ValueError, match="10 probabilities for 9 class names"):
        panel.reading_payload(prediction(confident(2)), image, NAMES[:9], WORDS)


def test_pack_and_unpack_are_inverse(image):
    rng = np.random.default_rng(2)
    p = payload(image, prediction(confident(4), [relu_maps(rng, (28, 28, 8))]), true_label=4,
                naive=(image, prediction(confident(4))), large=True)
    packed = panel.pack(p)
    assert panel.unpack(packed) == p
    length = int.from_bytes(packed[:4], "little")
    text = json.loads(packed[4:4 + length])
    assert text["sees"]["views"][0]["pixels"] == {"$bytes": [0, 784]}  # bytes travel after the JSON, not in it
    assert len(packed) < 4 + length + 2 * 784 + len(p["maps"]["layer"]["png"]) + 1


@pytest.mark.skipif(not (DEFAULTS_DIR / "convscope-digits.keras").exists(), reason="the shipped digit model is missing")
def test_a_stroke_sends_a_few_kilobytes_with_the_shipped_model(tmp_path):
    from model_store import preprocess
    from model_store.inference import Predictor
    from model_store.store import ModelStore
    from tests.pages.fakes import FOUR, ONE_SMALL_CORNER, SEVEN, drawing

    predictor = Predictor(ModelStore(user_dir=tmp_path).load("convscope-digits"))
    sizes = []
    for strokes in (SEVEN, FOUR, ONE_SMALL_CORNER, FOUR[:1]):
        canvas = drawing(strokes)
        image = preprocess.mnist_style(canvas, polarity="light-on-dark").image
        pred = predictor(image)
        for layer in range(len(pred.feature_maps)):
            sizes.append(len(panel.pack(payload(image, pred, open_layer=layer))))
        naive = preprocess.naive_resize(canvas, polarity="light-on-dark").image
        sizes.append(len(panel.pack(payload(image, pred, naive=(naive, predictor(naive))))))
    assert max(sizes) <= STROKE_BUDGET, sizes
