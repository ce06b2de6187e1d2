"""Command line: ``python -m model_store {predict,list,add} ...``.

``predict [--model NAME] [--polarity P] [--number] FILE.png ...`` prints one JSON line per file: label, class name,
probabilities. Drawings, scans and photos of any size and polarity are accepted; digits get MNIST-style
preprocessing. With ``--number`` a file holds digits side by side: ``"digits"`` (each read, with its box on the
picture: top, left, bottom, right), ``"number"``, the digits' labels left to right, and ``"confidence"``, how sure
the model is of the whole number (``numbers.NumberReading.confidence``).
``add FILE.keras|FILE.h5 [--name NAME]`` checks, evaluates and stores a model as the Models page does.
Refusals are JSON lines with ``"error"`` (a sentence) and ``"reason"`` (a code from ``model_store.refusal``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from model_store import numbers, preprocess
from model_store.images import read_image
from model_store.refusal import Refusal
from model_store.store import ModelStore


def _prepare(path: str, dataset: str, polarity: str = "auto") -> np.ndarray:
    """The model input made from one file; ``Refusal`` when it cannot be read or holds nothing to read."""
    pixels = read_image(path)
    if dataset == "mnist":
        prepared = preprocess.mnist_style(pixels, polarity)
    else:
        prepared = preprocess.naive_resize(pixels, polarity)
    if prepared.image is None:
        raise Refusal(preprocess.REFUSAL[prepared.status])
    return prepared.image


def _read_number(path: str, predictor, polarity: str = "auto") -> numbers.NumberReading:
    """The number in one file, read left to right; ``Refusal`` when it holds no digit, a filled area or a lone dot."""
    number = numbers.read_number(read_image(path), predictor, polarity)
    if number.refusal:
        raise Refusal(number.refusal)
    return number


def _reading(result, names: list[str]) -> dict:
    return {"label": result.label, "class_name": names[result.label], "confidence": round(result.confidence, 6),
            "probabilities": [round(float(p), 6) for p in result.probabilities]}


def cmd_predict(args) -> int:
    from model_store.inference import Predictor

    store = ModelStore()
    name = args.model or store.active("mnist")
    if name is None:
        print("error: no model in the store; train one or pass --model", file=sys.stderr)
        return 2
    entry = store.get(name)
    dataset = entry.dataset or "mnist"
    if args.number and dataset != "mnist":
        print(f"error: --number reads digits, and the model '{name}' is for {dataset}", file=sys.stderr)
        return 2
    predictor = Predictor(store.load(name))
    names = entry.meta.get("class_names") or [str(i) for i in range(10)]
    status = 0
    for path in args.files:
        record: dict = {"file": path, "model": name}
        try:
            if args.number:
                number = _read_number(path, predictor, args.polarity)
                read = [{**_reading(d.prediction, names), "box": list(d.bbox)} for d in number.digits]
                record.update(number=number.text(names), confidence=round(number.confidence, 6), digits=read)
            else:
                record.update(_reading(predictor(_prepare(path, dataset, args.polarity)), names))
        except Refusal as exc:
            record.update(exc.as_record())
            status = 1
        except Exception as exc:  # a bug on one file must not stop the files after it
            record["error"] = f"unexpected error: {type(exc).__name__}: {exc}"
            status = 1
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return status


def cmd_list(args) -> int:
    for entry in ModelStore().list():
        print(json.dumps({"name": entry.name, "dataset": entry.dataset, "shipped": entry.shipped,
                          "test_accuracy": entry.test_accuracy, "broken": entry.broken}, ensure_ascii=False))
    return 0


def cmd_add(args) -> int:
    """The Models page's upload from a terminal: the same checks, sandbox process and evaluation. The test set and
    class names come from ``training.datasets``, as on the page (this command is a front end, like a page)."""
    from model_store.intake import add_model
    from training.datasets import CLASS_NAMES, load_test

    path = Path(args.file)
    record: dict = {"file": str(path)}
    try:
        data = path.read_bytes()
    except OSError as exc:
        record.update(Refusal("file_unreadable", detail=exc.strerror or str(exc)).as_record())
        print(json.dumps(record, ensure_ascii=False), flush=True)
        return 1
    test = load_test(args.dataset, args.data)
    try:
        added = add_model(ModelStore(), data, path.name, args.dataset, CLASS_NAMES[args.dataset],
                          args.name or path.stem, test=None if test is None else (test.images, test.labels))
    except Refusal as exc:
        record.update(exc.as_record())
        print(json.dumps(record, ensure_ascii=False), flush=True)
        return 1
    entry = added.entry
    record.update(name=entry.name, dataset=entry.dataset, test_accuracy=entry.test_accuracy,
                  test_loss=entry.meta.get("test_loss"), params=entry.meta.get("params"),
                  notes=[str(note) for note in added.notes])
    print(json.dumps(record, ensure_ascii=False), flush=True)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_store", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    pr = sub.add_parser("predict", help="predict image files (JSON line per file)")
    pr.add_argument("--model", help="model name (default: the active digit model)")
    pr.add_argument("--polarity", choices=preprocess.POLARITIES, default="auto",
                    help="light-on-dark (a canvas, MNIST, chalk) or dark-on-light (ink on paper); auto: decide per file")
    pr.add_argument("--number", action="store_true",
                    help="read each file as a number: its digits left to right (\"digits\") and \"number\"")
    pr.add_argument("files", nargs="+")
    pr.set_defaults(func=cmd_predict)
    ls = sub.add_parser("list", help="list the models in the store (JSON line per model)")
    ls.set_defaults(func=cmd_list)
    add = sub.add_parser("add", help="check, evaluate and store a model file (.keras or .h5), as the Models page's "
                                     "upload does; one JSON line; exit 1 when refused")
    add.add_argument("file")
    add.add_argument("--name", help="name in the store (default: the file's name without its extension)")
    add.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist")
    add.add_argument("--data", help="folder with the real test set (default: $CONVSCOPE_DATA); without it the model "
                                    "is stored unevaluated")
    add.set_defaults(func=cmd_add)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Refusal as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
