"""Command line: ``python -m model_store {predict,list} ...``.

``predict [--model NAME] FILE.png ...`` prints one JSON line per file: label, class name, probabilities.
Drawings of any size and polarity are accepted; digits get MNIST-style preprocessing.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from PIL import Image, UnidentifiedImageError

from model_store import preprocess
from model_store.store import ModelStore, StoreError


def _prepare(path: str, dataset: str) -> np.ndarray | None:
    with Image.open(path) as img:
        pixels = np.asarray(img.convert("RGBA"))
    prepared = preprocess.mnist_style(pixels) if dataset == "mnist" else preprocess.naive_resize(pixels)
    return prepared.image


def cmd_predict(args) -> int:
    from model_store.inference import Predictor

    store = ModelStore()
    name = args.model or store.active("mnist")
    if name is None:
        print("error: no model in the store; train one or pass --model", file=sys.stderr)
        return 2
    entry = store.get(name)
    predictor = Predictor(store.load(name))
    names = entry.meta.get("class_names") or [str(i) for i in range(10)]
    status = 0
    for path in args.files:
        record: dict = {"file": path, "model": name}
        try:
            image = _prepare(path, entry.dataset or "mnist")
        except (OSError, UnidentifiedImageError, preprocess.PreprocessError) as exc:
            record["error"] = f"cannot read image: {exc}"
            status = 1
        else:
            if image is None:
                record["error"] = "the image is empty (no ink found)"
                status = 1
            else:
                result = predictor(image)
                record.update(label=result.label, class_name=names[result.label],
                              confidence=round(result.confidence, 6),
                              probabilities=[round(float(p), 6) for p in result.probabilities])
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return status


def cmd_list(args) -> int:
    for entry in ModelStore().list():
        print(json.dumps({"name": entry.name, "dataset": entry.dataset, "shipped": entry.shipped,
                          "test_accuracy": entry.test_accuracy, "broken": entry.broken}, ensure_ascii=False))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_store", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    pr = sub.add_parser("predict", help="predict image files (JSON line per file)")
    pr.add_argument("--model", help="model name (default: the active digit model)")
    pr.add_argument("files", nargs="+")
    pr.set_defaults(func=cmd_predict)
    ls = sub.add_parser("list", help="list the models in the store (JSON line per model)")
    ls.set_defaults(func=cmd_list)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
