"""training.settings: a chosen preset brings the settings it was designed with, and keeps the user's own."""

from __future__ import annotations

import pytest

from training import presets
from training.settings import preset_settings
from training.trainer import TrainConfig


def test_a_preset_brings_its_recommended_settings_on_the_defaults():
    config = preset_settings("book-cnn")
    assert (config.preset, config.epochs, config.batch_size, config.validation_split, config.patience) == (
        "book-cnn", 30, 200, 0.25, 10)
    assert (config.optimizer, config.learning_rate, config.augment) == ("adam", 1e-3, False)  # not recommended: defaults


def test_the_users_dataset_seed_and_subset_are_kept():
    config = preset_settings("convscope-fast", "fashion-mnist", seed=7, subset=3000)
    assert (config.dataset, config.seed, config.subset) == ("fashion-mnist", 7, 3000)
    assert (config.epochs, config.learning_rate, config.cosine_decay, config.validation_split) == (3, 3e-3, True, 0.0)


def test_what_a_previous_preset_set_does_not_carry_over():
    """Choosing the tutorial after the book's preset drops the book's early stopping and split."""
    config = preset_settings("tf-tutorial")
    assert (config.epochs, config.batch_size) == (5, 32)
    assert (config.patience, config.validation_split) == (TrainConfig.patience, TrainConfig.validation_split)


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_every_preset_gives_settings_that_can_train(name):
    preset_settings(name, seed=1).validate()


def test_a_recommended_key_that_is_no_setting_is_ignored(monkeypatch):
    preset = presets.PRESETS["tf-tutorial"]
    monkeypatch.setitem(presets.PRESETS, "tf-tutorial",
                        presets.Preset(**{**preset.__dict__, "recommended": {"epochs": 2, "dropout": 0.5}}))
    config = preset_settings("tf-tutorial")
    assert config.epochs == 2 and not hasattr(config, "dropout")


def test_a_learning_rate_the_slider_does_not_offer_becomes_the_nearest_it_does():
    from training.ranges import BATCH_SIZES, LEARNING_RATES, nearest_choice

    assert nearest_choice(2.5e-3, LEARNING_RATES) in (2e-3, 3e-3) and nearest_choice(2e-3, LEARNING_RATES) == 2e-3
    assert nearest_choice(1.0, LEARNING_RATES) == LEARNING_RATES[-1]
    for name in presets.PRESETS:  # what a preset brings, the page's lists can show
        config = preset_settings(name)
        assert config.batch_size in BATCH_SIZES and nearest_choice(config.learning_rate, LEARNING_RATES) == config.learning_rate
