"""Layer names that TensorFlow can trace.

Keras accepts any layer name (``"my dense"``), but a compiled call (``tf.function``, what the app runs
for every drawing) turns each name into a TensorFlow name scope, and a scope name may hold only
``[A-Za-z0-9_.\\/>-]``: a legal Keras model then fails on its first drawing. Such a model is rebuilt
with the offending names spelled safely; its weights and everything else stay as they are.
"""

from __future__ import annotations

import re

_SCOPE_SAFE = re.compile(r"^[A-Za-z0-9_.\\/>-]*$")
_UNSAFE_CHAR = re.compile(r"[^A-Za-z0-9_.\\/>-]")


def unsafe_names(model) -> list[str]:
    """The layer names TensorFlow would refuse as scope names."""
    return [layer.name for layer in model.layers if not _SCOPE_SAFE.match(layer.name)]


def safe_spelling(name: str, taken: set[str]) -> str:
    """``name`` with every character a scope cannot hold replaced by ``_``, made unique among ``taken``."""
    base = _UNSAFE_CHAR.sub("_", name) or "layer"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    return candidate


def _renamed(config, mapping: dict[str, str]):
    """The config with every string that is an unsafe layer name replaced (names, and the references to them)."""
    if isinstance(config, dict):
        return {key: _renamed(value, mapping) for key, value in config.items()}
    if isinstance(config, (list, tuple)):
        return type(config)(_renamed(value, mapping) for value in config)
    if isinstance(config, str):
        return mapping.get(config, config)
    return config


def with_safe_names(model):
    """``(model, {old: new})``: the model itself when every name is safe, else a rebuilt copy with the same weights."""
    unsafe = unsafe_names(model)
    if not unsafe:
        return model, {}
    taken = {layer.name for layer in model.layers}
    mapping = {}
    for name in unsafe:
        mapping[name] = safe_spelling(name, taken)
        taken.add(mapping[name])
    copy = model.__class__.from_config(_renamed(model.get_config(), mapping))
    copy.set_weights(model.get_weights())
    return copy, mapping
