"""training.ranges: a value typed outside the Train page's range is brought into it, and every change is a note."""

from __future__ import annotations

from model_store.refusal import REASONS, Refusal
from training.ranges import PAGE_RANGES, SETTING_NAMES, clamp_to_ranges
from training.trainer import TrainConfig


def test_values_in_range_are_kept_without_a_note():
    config = TrainConfig(epochs=200, patience=0, subset=100, seed=2**31 - 1)
    clamped, notes = clamp_to_ranges(config)
    assert clamped == config and notes == []


def test_too_many_epochs_become_the_most_with_a_note():
    clamped, notes = clamp_to_ranges(TrainConfig(epochs=100000))
    assert clamped.epochs == 200 == PAGE_RANGES["epochs"][1]
    assert [(n.code, n.values["field"], n.values["limit"], n.values["value"]) for n in notes] == [
        ("setting_lowered", "epochs", 200, 100000)]
    assert str(notes[0]) == "epochs can be at most 200: 200 will be used"
    assert isinstance(notes[0], Refusal)


def test_every_field_out_of_range_gets_its_own_note_and_the_rest_is_untouched():
    typed = TrainConfig(epochs=-5, patience=51, subset=7, seed=-1, batch_size=64, learning_rate=3e-3)
    clamped, notes = clamp_to_ranges(typed)
    assert (clamped.epochs, clamped.patience, clamped.subset, clamped.seed) == (1, 50, 100, 0)
    assert (clamped.batch_size, clamped.learning_rate) == (64, 3e-3)
    assert {n.values["field"]: n.code for n in notes} == {"epochs": "setting_raised", "patience": "setting_lowered",
                                                         "subset": "setting_raised", "seed": "setting_raised"}
    assert "training subset must be at least 100: 100 will be used" in [str(n) for n in notes]
    clamped.validate()  # what the page then trains with is a valid config
    assert typed.epochs == -5  # the typed config is not changed in place


def test_no_subset_is_not_a_subset_out_of_range():
    clamped, notes = clamp_to_ranges(TrainConfig(subset=None))
    assert clamped.subset is None and notes == []


def test_other_ranges_can_be_given():
    clamped, notes = clamp_to_ranges(TrainConfig(epochs=30), {"epochs": (1, 10)})
    assert clamped.epochs == 10 and [n.values["limit"] for n in notes] == [10]


def test_every_setting_has_a_name_and_the_note_codes_exist():
    assert set(SETTING_NAMES) >= {f for f in TrainConfig().to_dict() if f not in ("cosine_decay", "augment",
                                                                                   "deterministic")}
    assert {"setting_lowered", "setting_raised"} <= set(REASONS)
