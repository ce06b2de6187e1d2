"""What a model's ``NAME.json`` may hold, checked field by field when it is read.

The metadata is a file on disk that anyone with access to the folder can edit, and a page reads it on
every run: one wrong type (``"test_accuracy": "high"``) must make that one model "broken, because ...",
never a traceback on every page. Fields not listed here are kept and ignored.
"""

from __future__ import annotations

import datetime as dt
import math
from numbers import Real


class BadMetadata(ValueError):
    """The metadata breaks the schema; the message names the field and what is wrong with it."""


def _number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _iso_time(value) -> bool:
    if not isinstance(value, str):
        return False
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _history(value) -> bool:
    """[{"loss": .., "accuracy": .., ...}, ...]: one row of numbers per epoch (NaN too: it is only plotted)."""
    return isinstance(value, list) and all(
        isinstance(row, dict) and all(isinstance(k, str) and (x is None or (isinstance(x, Real) and not isinstance(x, bool)))
                                      for k, x in row.items()) for row in value)


def _layers(value) -> bool:
    return isinstance(value, list) and all(
        isinstance(row, dict) and isinstance(row.get("name"), str) and isinstance(row.get("type"), str)
        and _whole(row.get("params", 0)) for row in value)


def _matrix(value) -> bool:
    return isinstance(value, list) and all(isinstance(row, list) and all(_whole(x) for x in row) for row in value)


def _accuracy_table(value) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and _number(v) and 0 <= v <= 1 for k, v in value.items())


# field: (test, what it must be, in words)
SCHEMA = {
    "name": (lambda v: isinstance(v, str), "text"),
    "dataset": (lambda v: isinstance(v, str) and bool(v), "a dataset name"),
    "class_names": (lambda v: _text_list(v) and 2 <= len(v) <= 1000, "a list of 2 or more names"),
    "input_range": (lambda v: isinstance(v, list) and len(v) == 2 and all(_number(x) for x in v) and v[0] < v[1],
                    "two numbers, low and high"),
    "input_shape": (lambda v: isinstance(v, list) and all(_whole(x) and x > 0 for x in v), "a list of sizes"),
    "layers": (_layers, "a table of layers"),
    "params": (lambda v: _whole(v) and v >= 0, "a whole number"),
    "test_accuracy": (lambda v: v is None or (_number(v) and 0 <= v <= 1), "a number between 0 and 1"),
    "test_loss": (lambda v: v is None or (_number(v) and v >= 0), "a number of 0 or more"),
    "created_at": (_iso_time, "a date and time (ISO 8601)"),
    "training_seconds": (lambda v: v is None or (_number(v) and v >= 0), "a number of seconds"),
    "epochs_run": (lambda v: v is None or (_whole(v) and v >= 0), "a whole number"),
    "history": (_history, "one row of numbers per epoch"),
    "best_epoch": (lambda v: v is None or (_whole(v) and v >= 0), "a whole number"),
    "hyperparameters": (lambda v: isinstance(v, dict), "a table of settings"),
    "preset": (lambda v: isinstance(v, str), "text"),
    "notes": (_text_list, "a list of texts"),
    "per_class_accuracy": (_accuracy_table, "numbers between 0 and 1 per class"),
    "confusion_matrix": (_matrix, "a table of whole numbers"),
    "calibration": (lambda v: v is None or (isinstance(v, dict) and _number(v.get("temperature")) and v["temperature"] > 0),
                    "a table with a temperature above 0"),
}
REQUIRED = ("dataset",)


def validate(meta) -> dict:
    """``meta`` if it fits the schema, else ``BadMetadata`` naming the first field that does not."""
    if not isinstance(meta, dict):
        raise BadMetadata("not a JSON object")
    for field in REQUIRED:
        if field not in meta:
            raise BadMetadata(f"{field} is missing")
    for field, (fits, wanted) in SCHEMA.items():
        if field in meta and not fits(meta[field]):
            shown = repr(meta[field])
            raise BadMetadata(f"{field} must be {wanted} (it is {shown[:40] + '…' if len(shown) > 40 else shown})")
    outputs = output_count(meta)
    names = meta.get("class_names")
    if outputs is not None and names is not None and len(names) != outputs:
        raise BadMetadata(f"class_names has {len(names)} names for a model with {outputs} outputs")
    return meta


def output_count(meta: dict) -> int | None:
    """The number of outputs the layer table says the model has (its last layer's last size), if it says."""
    layers = meta.get("layers")
    if not layers:
        return None
    shape = str(layers[-1].get("output_shape", "")).strip("()").split(",")
    last = shape[-1].strip() if shape else ""
    return int(last) if last.isdigit() else None
