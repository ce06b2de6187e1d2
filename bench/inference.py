"""Server-side cost of one drawing: preprocess + probabilities + every Conv2D feature map, vs model.predict.

    python bench/inference.py [--model convscope-digits] [--calls 200]

All variants run in the same process on the same input, interleaved, and the medians are printed
with their ratio to ours. Target: ours <= 2 ms, model.predict / ours >= 35.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_store import preprocess  # noqa: E402
from model_store.inference import Predictor  # noqa: E402
from model_store.store import ModelStore  # noqa: E402


def a_drawing() -> np.ndarray:
    """A 280x280 RGBA '4' as the canvas returns it."""
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    pen = ImageDraw.Draw(img)
    for stroke in ([(98, 56), (70, 154), (196, 154)], [(168, 84), (168, 238)]):
        pen.line(stroke, fill=(255, 255, 255, 255), width=18, joint="curve")
    return np.asarray(img)


def timed(fn, calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="convscope-digits")
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()

    model = ModelStore().load(args.model)
    predictor = Predictor(model, litert=True)  # as the app builds it
    keras_path = Predictor(model)  # the tf.function path alone (used for batches, and where LiteRT is off)
    canvas = a_drawing()
    image = preprocess.mnist_style(canvas, polarity="light-on-dark").image
    x = image[None, ..., None]

    def ours():
        predictor(preprocess.mnist_style(canvas, polarity="light-on-dark").image)

    variants = {
        "ours: preprocess + probabilities + all feature maps": ours,
        "  of which preprocess (mnist_style)": lambda: preprocess.mnist_style(canvas, polarity="light-on-dark"),
        "  of which Predictor call (LiteRT)": lambda: predictor(image),
        "Predictor call, tf.function path only": lambda: keras_path(image),
        "model.predict(x) (probabilities only)": lambda: model.predict(x, verbose=0),
        "model(x, training=False) (probabilities only)": lambda: model(x, training=False),
        "model.predict_on_batch(x) (probabilities only)": lambda: model.predict_on_batch(x),
    }
    for fn in variants.values():  # warm up every path (tracing, first allocations)
        for _ in range(3):
            fn()
    samples = {name: [] for name in variants}
    rounds = 5  # interleave the variants so that background load hits them alike
    for _ in range(rounds):
        for name, fn in variants.items():
            calls = max(5, args.calls // rounds // (10 if "predict(x)" in name else 1))
            samples[name] += timed(fn, calls)
    base = statistics.median(samples["ours: preprocess + probabilities + all feature maps"])
    print(f"model {args.model}, {len(predictor.conv_layers)} Conv2D layers, LiteRT {'on' if predictor.lite else 'OFF'}; "
          f"load average {os.getloadavg()[0]:.2f}; medians in ms, same input, same run")
    print(f"{'variant':52} {'median':>8} {'p90':>8} {'x ours':>8}")
    for name, values in samples.items():
        med = statistics.median(values)
        p90 = sorted(values)[int(0.9 * (len(values) - 1))]
        print(f"{name:52} {med:8.2f} {p90:8.2f} {med / base:8.1f}")


if __name__ == "__main__":
    main()
