"""Describe a Keras model for metadata and tables: layers, output shapes, parameter counts."""

from __future__ import annotations

import datetime as _dt


def _shape(layer) -> str:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def layer_table(model) -> list[dict]:
    """One row per layer, like ``model.summary()``: name, type, output shape, parameters."""
    return [
        {"name": layer.name, "type": type(layer).__name__, "output_shape": _shape(layer), "params": int(layer.count_params())}
        for layer in model.layers
    ]


def versions() -> dict:
    import keras
    import tensorflow as tf

    return {"tensorflow": tf.__version__, "keras": keras.__version__}


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def base_metadata(model, dataset: str, class_names: list[str]) -> dict:
    """The fields every stored model has, whatever made it."""
    return {
        "dataset": dataset,
        "class_names": list(class_names),
        "input_range": [0.0, 1.0],
        "layers": layer_table(model),
        "params": int(model.count_params()),
        "created_at": now_iso(),
        **versions(),
    }
