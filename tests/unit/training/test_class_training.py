"""training.class_training: a training on a class dataset runs as a Train page job (in a thread and in a training
process), tells its held-out drawings as the evaluation with their class names, saves with them, and refuses what
cannot be trained on before it trains."""

from __future__ import annotations

import numpy as np
import pytest

from model_store.class_data import ClassDatasets
from tests.unit.unit_data import meta_for, tiny_conv_model
from training.class_training import ClassTrainConfig, config_from_dict, fine_tune_settings, fresh_model
from training.jobs import TrainingJob
from training.trainer import ConfigError, TrainConfig

SHAPES = ["top", "bottom", "left"]


def block(kind: int, seed: int) -> np.ndarray:
    """A bright block at the top, the bottom or the left, a little moved by the seed, on faint noise."""
    rng = np.random.default_rng(seed)
    image = (rng.random((28, 28)) * 30).astype(np.uint8)
    dy, dx = rng.integers(-2, 3, size=2)
    rows, cols = [(slice(3, 10), slice(7, 21)), (slice(18, 25), slice(7, 21)), (slice(7, 21), slice(3, 10))][kind]
    image[rows.start + dy: rows.stop + dy, cols.start + dx: cols.stop + dx] = 255
    return image


@pytest.fixture(autouse=True)
def store_in_env(store, monkeypatch):
    """A training finds its store as the app's does, by CONVSCOPE_MODELS (a training process inherits it)."""
    from model_store.store import USER_DIR_ENV

    monkeypatch.setenv(USER_DIR_ENV, str(store.user_dir))


@pytest.fixture
def shapes(store):
    """A custom class dataset ``shapes`` in the store's folder, 12 drawings of each of three blocks."""
    datasets = ClassDatasets(store.user_dir)
    datasets.create("shapes", SHAPES)
    for kind, name in enumerate(SHAPES):
        for i in range(12):
            datasets.add("shapes", name, block(kind, seed=100 * kind + i))
    return datasets


def finished(job: TrainingJob):
    assert job.wait(240), "the training did not end"
    return job.snapshot()


def test_a_new_network_learns_the_class_data_and_saves_with_its_class_names(store, shapes):
    job = TrainingJob(ClassTrainConfig("shapes", preset="tf-tutorial", epochs=3), owner="teacher")
    snap = finished(job.start())
    assert snap.status == "finished", snap.message
    assert snap.class_names == SHAPES and snap.epochs_run == 3 and snap.probes
    ev = snap.evaluation
    assert ev.confusion.shape == (3, 3) and len(ev.labels) == 6  # 20% of each class held out: 2 x 3
    assert snap.class_result["heldout_before"] is None  # a new network has no "before"
    assert snap.class_result["heldout_after"] == pytest.approx(ev.accuracy)
    entry = job.save(store, "our-shapes")
    assert entry.dataset == "shapes" and entry.meta["class_names"] == SHAPES
    assert entry.meta["class_data"] == "shapes" and entry.meta["base_model"] is None
    probs = np.asarray(store.load("our-shapes")(np.zeros((1, 28, 28, 1), np.float32)))
    assert probs.shape == (1, 3)


def test_a_stored_model_is_fine_tuned_with_a_new_head_and_said_before_and_after(store, shapes):
    store.save(tiny_conv_model(), meta_for("mnist", test_accuracy=0.5), "small-digits")
    job = TrainingJob(ClassTrainConfig("shapes", base_model="small-digits", epochs=2)).start()
    snap = finished(job)
    assert snap.status == "finished", snap.message
    assert snap.history and len(snap.history) == 2  # the head alone, then everything
    assert snap.class_result["kind"] == "custom" and snap.class_result["heldout_size"] == 6
    meta = job.metadata()
    assert meta["base_model"] == "small-digits" and meta["confusion_matrix"] and meta["dataset"] == "shapes"


def test_too_few_drawings_end_the_run_before_training_with_the_classes_named(store):
    datasets = ClassDatasets(store.user_dir)
    datasets.create("few", ["a", "b"])
    for i in range(3):
        datasets.add("few", "a", block(0, i))
    snap = finished(TrainingJob(ClassTrainConfig("few")).start())
    assert snap.status == "failed" and snap.reason == "data" and snap.epochs_run == 0
    refusal = snap.failure_refusal
    assert refusal.code == "class_data_too_few" and "a (3)" in refusal.values["classes"]


def test_a_deleted_dataset_is_a_data_failure_not_a_crash(store):
    snap = finished(TrainingJob(ClassTrainConfig("nothing-here")).start())
    assert snap.status == "failed" and snap.failure_refusal.code == "class_data_not_found"


@pytest.mark.parametrize("changes", [{"epochs": 0}, {"epochs": 51}, {"seed": -1}, {"epochs": 2.5},
                                     {"class_data": "../x"}, {"preset": "no-such"}])
def test_settings_are_refused_before_a_thread_starts(changes):
    with pytest.raises(ConfigError):
        TrainingJob(ClassTrainConfig(**{"class_data": "shapes", **changes}))


def test_fine_tune_settings_follow_the_way_of_learning():
    assert fine_tune_settings(ClassTrainConfig("x", base_model="m", epochs=3), "custom") == {
        "kind": "custom", "head_epochs": 1, "epochs": 2, "seed": 0}
    assert fine_tune_settings(ClassTrainConfig("x", base_model="m", epochs=1), "custom")["head_epochs"] == 0
    assert fine_tune_settings(ClassTrainConfig("x", base_model="m", epochs=2), "digits") == {
        "kind": "digits", "epochs": 2, "seed": 0}
    scratch = fine_tune_settings(ClassTrainConfig("x", epochs=5), "custom")
    assert scratch["fresh"] and scratch["epochs"] == 5 and not scratch["freeze_batchnorm"]


def test_a_fresh_model_has_one_output_per_class_and_the_presets_layers():
    model = fresh_model("tf-tutorial", 4)
    assert model.outputs[0].shape[-1] == 4
    assert [layer.name for layer in model.layers] == [layer.name for layer in fresh_model("tf-tutorial", 10).layers]


def test_configs_cross_the_pipe_as_dicts():
    class_config = ClassTrainConfig("shapes", base_model="m", epochs=4, seed=3)
    assert config_from_dict(class_config.to_dict()) == class_config
    assert config_from_dict(TrainConfig(epochs=2).to_dict()) == TrainConfig(epochs=2)


def test_in_a_training_process_too(store, shapes):
    job = TrainingJob(ClassTrainConfig("shapes", preset="tf-tutorial", epochs=1), isolated=True).start()
    snap = finished(job)
    assert snap.status == "finished", snap.message
    assert snap.class_names == SHAPES and snap.evaluation is not None
    assert job.save(store, "from-a-process").meta["class_names"] == SHAPES


def test_deleting_the_dataset_while_it_trains_breaks_nothing(store, shapes):
    job = TrainingJob(ClassTrainConfig("shapes", preset="tf-tutorial", epochs=2)).start()
    assert job.wait_until(lambda snap: snap.status == "running", 120)  # the drawings are in memory from here on
    shapes.delete("shapes")
    snap = finished(job)
    assert snap.status == "finished", snap.message
    assert job.save(store, "learned-from-a-deleted-dataset").meta["class_names"] == SHAPES
