"""Should the app run its models through LiteRT (TensorFlow Lite)? Same answers, and is it faster?

    CONVSCOPE_DATA=/work/shared/datasets python bench/litert.py [--model convscope-digits] [--calls 300]

Runs the app's probe model (probabilities + every Conv2D block's feature maps, exactly what the Draw page needs
per stroke) both ways on the same inputs in the same run: ``Predictor(model)`` (one ``tf.function`` call) and
``Predictor(model, litert=True)`` (``model_store/litert.py``: the probe converted with ``tf.lite.TFLiteConverter``,
run by TensorFlow's bundled LiteRT interpreter). Prints the median per-call time for one drawing through
``Predictor.__call__`` and top-1 agreement on the whole test set.

``ai-edge-litert`` (the stand-alone LiteRT package) is the same runtime; installed into the app's environment
it broke ``import keras`` here (a circular import at start-up), which alone rules it out as an app dependency.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from model_store.inference import Predictor  # noqa: E402
from model_store.store import ModelStore  # noqa: E402
from training import datasets  # noqa: E402


def median_ms(fn, images, calls):
    for image in images[:20]:
        fn(image)  # warm-up
    times = []
    for i in range(calls):
        start = time.perf_counter()
        fn(images[i % len(images)])
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="convscope-digits")
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    store = ModelStore()
    entry = store.get(args.model)
    model = store.load(args.model)
    predictor = Predictor(model)  # the tf.function path
    lite_predictor = Predictor(model, litert=True)
    if lite_predictor.lite is None:
        raise SystemExit("LiteRT conversion failed or gave different answers; the app falls back to tf.function")
    run = lite_predictor.lite
    size = run.size
    test = datasets.load(entry.dataset, test_only=True).test
    x = test.images.astype(np.float32) / 255.0

    ours_top1 = np.concatenate([predictor.probabilities(x[i:i + 500]).argmax(1) for i in range(0, len(x), 500)])
    lite_top1 = np.array([run(image)[-1][0].argmax() for image in x])
    probs_ours, maps_ours = predictor.predict_batch(x[:1])
    *maps_lite, probs_lite = run(x[0])
    map_error = max(float(np.abs(a - b).max()) for a, b in zip(maps_ours, maps_lite))

    ours_ms = median_ms(predictor, x, args.calls)
    lite_ms = median_ms(lite_predictor, x, args.calls)
    print(f"model {args.model}; {os.cpu_count()} CPU cores; "
          f"load average {os.getloadavg()[0]:.2f}; LiteRT file {size / 1e6:.1f} MB")
    print(f"top-1 agreement on {len(x)} test images: {(ours_top1 == lite_top1).mean():.4%} "
          f"(accuracy ours {(ours_top1 == test.labels).mean():.2%}, LiteRT {(lite_top1 == test.labels).mean():.2%})")
    print(f"largest probability difference on one image: {np.abs(probs_ours - probs_lite).max():.2e}; "
          f"feature maps: {map_error:.2e}")
    print(f"median per drawing (probabilities + all feature maps), {args.calls} calls:")
    print(f"  ours (tf.function)   {ours_ms:7.3f} ms")
    print(f"  LiteRT interpreter   {lite_ms:7.3f} ms")
    print(f"  ratio ours / LiteRT  {ours_ms / lite_ms:7.2f}x")


if __name__ == "__main__":
    main()
