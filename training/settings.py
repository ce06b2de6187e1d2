"""The settings a training starts from when a preset is chosen: the settings the preset was designed with (the
tutorials' epochs, batch size, validation split...), on top of ``TrainConfig``'s defaults, keeping what belongs to the
user rather than to the preset (the dataset, the seed, the subset)."""

from __future__ import annotations

from training import presets
from training.trainer import TrainConfig


def preset_settings(preset: str, dataset: str = "mnist", seed: int = 0, subset: int | None = None) -> TrainConfig:
    """The config for training ``preset`` on ``dataset``: its recommended settings, the defaults for the rest, and
    the user's ``seed`` and ``subset``. A recommended key that is not a ``TrainConfig`` field is ignored."""
    base = TrainConfig(dataset=dataset, preset=preset).to_dict()
    recommended = {key: value for key, value in presets.PRESETS[preset].recommended.items() if key in base}
    return TrainConfig(**{**base, **recommended, "seed": seed, "subset": subset})
