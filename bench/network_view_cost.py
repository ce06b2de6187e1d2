"""What does the whole-network view cost the server per drawing? Every layer's output, the strip, one value explained.

    CONVSCOPE_DATA=/work/shared/datasets nice -n 10 python bench/network_view_cost.py [--model convscope-digits]

On the shipped digit model and 50 real MNIST test images (any digit costs the same), in one process: building the
sub-model once (its XLA compilation included), then medians of 50 calls: every layer's output for one drawing
(``model_store.network_view.read_network``), the same through a plain ``tf.function`` (no XLA) and the app's
predictor (only the Conv2D blocks' maps and the probabilities, tf.function path) for comparison, the strip's HTML
(one PNG per layer: what a drawing costs the first time it is shown), and one Conv2D value explained at a random
layer, channel and position. The last line is all of it as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
logging.getLogger("streamlit").setLevel(logging.ERROR)  # the strip's labels read the session's language: bare mode

import numpy as np  # noqa: E402

from model_store import network_view as nv  # noqa: E402
from model_store.model_input import to_float  # noqa: E402
from model_store.store import ModelStore  # noqa: E402
from training import datasets  # noqa: E402

CALLS = 50


def median_ms(fn, inputs) -> float:
    fn(inputs[0])  # warm-up
    times = []
    for i in range(CALLS):
        start = time.perf_counter()
        fn(inputs[i % len(inputs)])
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def main() -> None:
    import tensorflow as tf

    from model_store.inference import Predictor

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="convscope-digits")
    args = parser.parse_args()
    store = ModelStore()
    entry = store.get(args.model)
    model = store.load(args.model)
    test = datasets.load(entry.dataset, test_only=True, allow_download=False).test
    drawings = list(to_float(test.images[-CALLS:]))
    names = [str(n) for n in entry.meta.get("class_names") or range(10)]
    figures = {"model": args.model, "cpus": os.cpu_count(), "calls": CALLS}

    start = time.perf_counter()
    network = nv.network(model)
    figures["build_s"] = round(time.perf_counter() - start, 2)
    figures["xla"] = network.xla
    figures["layers"] = len(nv.read_network(model, drawings[0]).layers)
    figures["all_layers_ms"] = median_ms(lambda x: nv.read_network(model, x), drawings)

    plain = tf.function(lambda x: network.probe(x, training=False), reduce_retracing=True,
                        input_signature=[tf.TensorSpec((None, *network.input_shape), tf.float32)])
    figures["all_layers_plain_tf_function_ms"] = median_ms(
        lambda x: [np.asarray(o) for o in plain(x.reshape(1, *network.input_shape))], drawings)
    predictor = Predictor(model)  # tf.function path: LiteRT off, as in the pages' tests
    figures["predictor_conv_blocks_ms"] = median_ms(predictor, drawings)

    from app_pages.network_view import strip_html  # Streamlit only for t(): the view's own HTML, PNGs included

    readings = [nv.read_network(model, x) for x in drawings]
    figures["strip_html_ms"] = median_ms(lambda i: strip_html(readings[i], drawings[i], names), list(range(CALLS)))
    figures["strip_html_kb"] = round(len(strip_html(readings[0], drawings[0], names)) / 1024, 1)

    rng = np.random.default_rng(0)
    convs = [layer.name for layer in readings[0].layers if layer.kind == "conv"]
    picks = []
    for i in range(CALLS):
        layer = convs[i % len(convs)]
        h, w, c = readings[i].layer(layer).shape
        picks.append((readings[i], layer, int(rng.integers(c)), int(rng.integers(h)), int(rng.integers(w))))
    explained = [nv.explain_value(model, *pick) for pick in picks]
    figures["explained_all_match"] = all(e.matches and all(s.matches for s in e.then) for e in explained)
    figures["one_value_ms"] = median_ms(lambda pick: nv.explain_value(model, *pick), picks)
    figures["ratio_plain_over_xla"] = round(figures["all_layers_plain_tf_function_ms"] / figures["all_layers_ms"], 2)
    figures["ratio_all_layers_over_predictor"] = round(figures["all_layers_ms"] / figures["predictor_conv_blocks_ms"], 2)

    for key, value in figures.items():
        print(f"{key:34} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
