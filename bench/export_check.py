"""Do the exports the Models page offers (LiteRT .tflite, ONNX) give Keras' answers, and what do they cost?

    CONVSCOPE_DATA=/work/shared/datasets python bench/export_check.py [--models convscope-digits ...] [--calls 300]

For each shipped model: converts it with ``model_store/export.py`` (timed, no cache), runs the whole test set
through Keras and through each export (TensorFlow's bundled LiteRT interpreter; onnxruntime), and prints per
format top-1 agreement with Keras, the largest |probability difference|, conversion seconds, file size and the
median latency for one image next to Keras' (``model.predict_on_batch`` and a ``tf.function``, the app's path).
The target is top-1 agreement >= 99.9% on the 10,000 test images. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from model_store import export  # noqa: E402
from model_store.store import ModelStore  # noqa: E402
from training import datasets  # noqa: E402

SHIPPED = ("convscope-digits", "convscope-fashion")


def median_ms(fn, inputs: np.ndarray, calls: int) -> float:
    """Median milliseconds of ``fn`` on one image (a batch of one), cycling through ``inputs``."""
    for x in inputs[:20]:
        fn(x[None])  # warm-up
    times = []
    for i in range(calls):
        x = inputs[i % len(inputs)][None]
        start = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def keras_latencies(model, x: np.ndarray, calls: int) -> dict[str, float]:
    import tensorflow as tf

    forward = tf.function(lambda batch: model(batch, training=False),
                          input_signature=[tf.TensorSpec((None, *x.shape[1:]), tf.float32)])
    return {"predict_on_batch": median_ms(model.predict_on_batch, x, calls),
            "tf.function": median_ms(lambda batch: forward(batch).numpy(), x, calls)}


def bench_model(store: ModelStore, name: str, calls: int) -> dict:
    entry = store.get(name)
    model = store.load(name)
    test = datasets.load(entry.dataset, test_only=True).test
    x = export.model_input(model, test.images)
    reference = export.keras_probabilities(model, test.images)
    result = {"dataset": entry.dataset, "count": len(test.images),
              "keras_accuracy": float((reference.argmax(1) == test.labels).mean()),
              "keras_ms": keras_latencies(model, x, calls), "formats": {}}
    for fmt in export.FORMATS:
        start = time.perf_counter()
        try:
            data = export.CONVERTERS[fmt](model)
        except export.ExportUnavailable as exc:
            result["formats"][fmt] = {"available": False, "problem": str(exc)}
            continue
        seconds = time.perf_counter() - start
        agreement = export.check(fmt, data, model, test.images, reference)
        run = export.RUNNERS[fmt](data)
        probabilities = np.concatenate([run(x[i:i + export.BATCH]) for i in range(0, len(x), export.BATCH)])
        result["formats"][fmt] = {
            "available": True, "top1_agreement": agreement.top1, "max_prob_diff": agreement.max_prob_diff,
            "count": agreement.count, "accuracy": float((probabilities.argmax(1) == test.labels).mean()),
            "convert_seconds": round(seconds, 2), "size_bytes": len(data),
            "ms_per_image": median_ms(export.RUNNERS[fmt](data, threads=1), x, calls),
            "offered": agreement.top1 >= export.MIN_AGREEMENT}
    return result


def report(name: str, result: dict) -> None:
    keras_ms = result["keras_ms"]
    print(f"\n{name} ({result['dataset']}, {result['count']} test images; Keras accuracy "
          f"{result['keras_accuracy']:.2%}; Keras one image: predict_on_batch {keras_ms['predict_on_batch']:.3f} ms, "
          f"tf.function {keras_ms['tf.function']:.3f} ms)")
    print(f"  {'format':<18}{'top-1 agree':>12}{'max |dp|':>11}{'accuracy':>10}{'convert':>9}{'size':>9}"
          f"{'ms/image':>10}{'vs tf.function':>16}")
    for fmt, r in result["formats"].items():
        label = export.FORMAT_NAMES[fmt]
        if not r["available"]:
            print(f"  {label:<18}not available: {r['problem']}")
            continue
        print(f"  {label:<18}{r['top1_agreement']:>12.4%}{r['max_prob_diff']:>11.1e}{r['accuracy']:>10.2%}"
              f"{r['convert_seconds']:>8.1f}s{r['size_bytes'] / 1e6:>7.2f}MB{r['ms_per_image']:>10.3f}"
              f"{keras_ms['tf.function'] / r['ms_per_image']:>15.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(SHIPPED))
    parser.add_argument("--calls", type=int, default=300, help="single-image calls per latency median")
    args = parser.parse_args()
    store = ModelStore()
    print(f"{os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.2f}; target: top-1 agreement >= "
          f"{export.MIN_AGREEMENT:.1%}; latency: median of {args.calls} single-image calls (exports run with one thread)")
    results = {}
    for name in args.models:
        results[name] = bench_model(store, name, args.calls)
        report(name, results[name])
    met = all(r.get("top1_agreement", 0) >= export.MIN_AGREEMENT
              for result in results.values() for r in result["formats"].values())
    print(f"\ntarget {'met' if met else 'MISSED'}: every export agrees with Keras on >= {export.MIN_AGREEMENT:.1%}")
    print(json.dumps({"target_top1": export.MIN_AGREEMENT, "met": met, "models": results}))


if __name__ == "__main__":
    main()
