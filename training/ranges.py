"""The ranges and choices the Train page offers for its settings, and the functions that bring values into them.

A value out of range is never replaced silently: ``clamp_to_ranges`` returns the config it will train with and one
note (a ``Refusal``: code, values) per value it changed, which the page shows under the field.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from model_store.refusal import Refusal

if TYPE_CHECKING:
    from training.trainer import TrainConfig

# TrainConfig field -> how the English sentences name it (the pages put their own label in its place)
SETTING_NAMES = {
    "dataset": "dataset", "preset": "preset", "epochs": "epochs", "batch_size": "batch size", "optimizer": "optimizer",
    "learning_rate": "learning rate", "validation_split": "validation split", "patience": "patience",
    "subset": "training subset", "seed": "seed", "class_data": "class dataset",
    "one_cycle": "one-cycle schedule", "label_smoothing": "label smoothing", "weight_averaging": "weight averaging",
}

# TrainConfig field -> (lowest, highest) the Train page offers
PAGE_RANGES = {"epochs": (1, 200), "patience": (0, 50), "subset": (100, 60000), "seed": (0, 2**31 - 1)}

# the choices the Train page offers for the settings picked from a list
BATCH_SIZES = (16, 32, 64, 128, 200, 256, 512)
LEARNING_RATES = (1e-4, 3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 3e-2, 1e-1)


def nearest_choice(value: float, choices) -> float:
    """The choice closest to ``value``: a config from elsewhere (a preset, a saved model) may hold a value the page's
    list does not offer, and a list widget can only show one it has."""
    return min(choices, key=lambda choice: abs(choice - value))


def clamp_to_ranges(config: TrainConfig, ranges: dict = PAGE_RANGES) -> tuple[TrainConfig, list[Refusal]]:
    """``config`` with every field of ``ranges`` brought into its range, and one note per field that was changed:
    ``Refusal("setting_lowered" | "setting_raised", setting=..., field=..., limit=..., value=<as typed>)``.
    A field that is None (e.g. no subset) is left alone."""
    changes, notes = {}, []
    for field, (low, high) in ranges.items():
        value = getattr(config, field)
        if value is None:
            continue
        if value > high:
            code, limit = "setting_lowered", high
        elif value < low:
            code, limit = "setting_raised", low
        else:
            continue
        changes[field] = limit
        notes.append(Refusal(code, setting=SETTING_NAMES[field], field=field, limit=limit, value=value))
    return replace(config, **changes), notes
