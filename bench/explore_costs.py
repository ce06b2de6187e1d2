"""What do issue 18's explorations cost on the server? The drawing map, occlusion, ablation, activation maximisation.

    CONVSCOPE_DATA=/work/shared/datasets nice -n 10 python bench/explore_costs.py [--model convscope-digits]

On the shipped digit model and the real MNIST test set, in one process, with no cache (every figure is a first build,
the cost a new model pays once): the map of 3,000 test images (features, PCA, and the LiteRT conversion that places
single drawings), one drawing placed on it (median of 50), an occlusion map (median of 10), one filter toggle of the
second Conv2D layer (median of 50, the masked model already built), and activation maximisation for the filters of
the first Conv2D layer and for every class. The last line is all of it as one JSON object.
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

from model_store import embedding, filter_viz, occlusion  # noqa: E402
from model_store.model_input import to_float  # noqa: E402
from model_store.store import ModelStore  # noqa: E402
from training import datasets  # noqa: E402


def seconds(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median_ms(fn, inputs, calls):
    fn(inputs[0])  # warm-up
    times = []
    for i in range(calls):
        start = time.perf_counter()
        fn(inputs[i % len(inputs)])
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="convscope-digits")
    args = parser.parse_args()
    store = ModelStore()
    entry = store.get(args.model)
    model = store.load(args.model)
    test = datasets.load(entry.dataset, test_only=True, allow_download=False).test
    drawings = to_float(test.images[-50:])  # not on the map's first images; any digit costs the same
    figures = {"model": args.model, "cpus": os.cpu_count()}

    figures["embedding_build_s"], drawing_map = seconds(
        lambda: embedding.DrawingMap(model, test.images, test.labels, cache=None, litert=False))
    figures["litert_conversion_s"], converted = seconds(lambda: drawing_map.reader.use_litert(None))
    figures["map_points"] = len(drawing_map.map.points)
    figures["pca_variance_kept"] = round(float(drawing_map.map.explained.sum()), 3)
    figures["placement_ms"] = median_ms(drawing_map.place, drawings, 50)
    figures["placement_path"] = "litert" if converted else "tf.function"
    print(f"map of {figures['map_points']} test images: {figures['embedding_build_s']:.1f} s to build "
          f"(+{figures['litert_conversion_s']:.1f} s LiteRT conversion), the plane keeps "
          f"{figures['pca_variance_kept']:.0%} of the variance; one drawing placed in {figures['placement_ms']:.2f} ms "
          f"({figures['placement_path']})", flush=True)

    figures["occlusion_ms"] = median_ms(lambda image: occlusion.occlusion_map(model, image), drawings, 10)
    copies = len(occlusion.occluded_copies(drawings[0])[0])
    print(f"occlusion map ({occlusion.PATCH}x{occlusion.PATCH} patch, stride {occlusion.STRIDE}, {copies} copies in "
          f"one call): {figures['occlusion_ms']:.1f} ms", flush=True)

    layers = filter_viz.targets(model)
    toggled = layers[1] if len(layers) > 1 else layers[0]
    figures["ablation_build_s"], masked = seconds(lambda: occlusion.ablation(model, toggled))
    figures["ablation_ms"] = median_ms(lambda image: masked.probabilities(image[None], off=[0, 3, 5]), drawings, 50)
    print(f"ablation of {toggled}: {figures['ablation_build_s']:.2f} s to build once, "
          f"{figures['ablation_ms']:.2f} ms per toggle", flush=True)

    first = layers[0]
    figures["filters_layer"] = first
    figures["filters_count"] = int(model.get_layer(first).filters)
    figures["filters_s"], found = seconds(lambda: filter_viz.preferred_inputs(model, first))
    figures["filters_improved"] = float((found.score > found.start).mean())
    figures["classes_s"], classes = seconds(lambda: filter_viz.preferred_inputs(model, filter_viz.CLASSES))
    figures["classes_read_as_their_class"] = int(
        (occlusion.ablation(model, None).probabilities(classes.images).argmax(axis=1) == range(10)).sum())
    print(f"activation maximisation, {filter_viz.STEPS} steps: {figures['filters_count']} filters of {first} in "
          f"{figures['filters_s']:.1f} s, the 10 classes in {figures['classes_s']:.1f} s "
          f"({figures['classes_read_as_their_class']} of 10 read as their class)", flush=True)
    print(json.dumps({key: round(value, 3) if isinstance(value, float) else value for key, value in figures.items()}))


if __name__ == "__main__":
    main()
