"""training.jobs and training.registry: a training in a background thread reports numbers, stops within a batch,
fails with a status, and the registry lets only so many run at once. Every run is tiny (a few hundred 28x28
images)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.pages.tiny_data import learnable
from training import data_cache
from training.datasets import Dataset, DatasetError, Split
from training.defaults import classroom_demo
from training.jobs import TrainingJob
from training.registry import MAX_ENV, Busy, JobRegistry
from training.trainer import ConfigError, TrainConfig


@pytest.fixture(scope="module")
def data() -> Dataset:
    return Dataset("mnist", Split(*learnable(300, 0)), Split(*learnable(60, 1)), source="memory")


def config(**changes) -> TrainConfig:
    settings = {"preset": "tf-tutorial", "epochs": 2, "batch_size": 32, "validation_split": 0.2, "seed": 0}
    return TrainConfig(**{**settings, **changes})


def run(data, **changes) -> TrainingJob:
    job = TrainingJob(config(**changes), data_loader=lambda name: data).start()
    assert job.wait(120), job.snapshot()
    return job


def blocking_loader(data, gate: threading.Event):
    def load(name):
        gate.wait(60)
        return data
    return load


def test_a_finished_job_has_curves_probe_maps_test_figures_and_saves(data, tmp_path):
    job = run(data)
    s = job.snapshot()
    assert (s.status, s.reason, s.phase) == ("finished", "finished", "done")
    assert [h["epoch"] for h in s.history] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(s.history[0])
    assert s.train_size == 240 and s.val_size == 60 and s.steps == 8 and s.batches_total == 16
    assert s.batch_points and s.batch_points[-1][0] == pytest.approx(2.0)
    assert s.epoch_eta is None and s.total_eta is None and s.elapsed > 0
    # the probe image's first two Conv2D layers before training (epoch 0) and after each epoch
    assert [p.epoch for p in s.probes] == [0, 1, 2]
    assert [(name, maps.shape) for name, maps in s.probes[-1].layers] == [("conv1", (26, 26, 32)), ("conv2", (11, 11, 64))]
    assert not np.array_equal(s.probes[0].layers[0][1], s.probes[2].layers[0][1])
    assert s.probe_image.shape == (28, 28)
    ev = s.evaluation
    assert ev.confusion.sum() == 60 and ev.confusion.shape == (10, 10)
    assert ev.accuracy == pytest.approx(np.trace(ev.confusion) / 60)
    wrong = ev.misclassified()
    assert all(ev.predicted[i] != ev.labels[i] for i in wrong)
    assert list(ev.confidence[wrong]) == sorted(ev.confidence[wrong], reverse=True)
    assert len(ev.cell(3, 3)) == ev.confusion[3, 3]

    from model_store.store import ModelStore

    store = ModelStore(user_dir=tmp_path / "models", defaults_dir=tmp_path / "none")
    entry = job.save(store, "from a job")
    assert entry.meta["epochs_run"] == 2 and entry.meta["test_accuracy"] == pytest.approx(ev.accuracy)
    assert entry.meta["confusion_matrix"] == ev.confusion.tolist()
    assert job.snapshot().saved_as == "from a job" and not job.snapshot().can_save
    with pytest.raises(RuntimeError, match="already saved"):
        job.save(store, "again")


def test_snapshots_are_copies(data):
    job = run(data, epochs=1, preset="mlp-baseline")
    a = job.snapshot()
    a.history.append({"epoch": 99})
    assert len(job.snapshot().history) == 1


def test_stop_ends_within_one_batch_and_keeps_the_best_whole_epoch(data):
    job = TrainingJob(config(preset="mlp-baseline", epochs=200, batch_size=8), data_loader=lambda name: data).start()
    assert job.wait_until(lambda s: s.epochs_run >= 2 and s.batch >= 3, 120)
    assert job.snapshot().total_eta is not None
    job.request_stop()
    at_stop = job.snapshot().batches_total
    assert job.wait(60)
    s = job.snapshot()
    assert s.batches_total - at_stop <= 1  # the batch in flight, no more
    assert (s.status, s.reason) == ("stopped", "stopped") and s.stop_requested
    assert 2 <= s.epochs_run < 200 and s.best_epoch in [h["epoch"] for h in s.history]
    assert s.evaluation is not None and s.can_save
    assert job.metadata()["stop_reason"] == "stopped"


def test_a_stop_while_the_data_loads_never_trains(data):
    gate = threading.Event()
    job = TrainingJob(config(), data_loader=blocking_loader(data, gate)).start()
    assert job.snapshot().status == "queued" and job.snapshot().active
    job.request_stop()
    gate.set()
    assert job.wait(30)
    s = job.snapshot()
    assert (s.status, s.reason, s.epochs_run, s.can_save) == ("stopped", "stopped", 0, False)


def test_nan_loss_is_a_failed_status_with_nothing_to_save(data, monkeypatch, tmp_path):
    from model_store.refusal import Refusal
    from model_store.store import ModelStore
    from training import presets

    real_build = presets.build

    def poisoned(name):  # the output layer's weights are NaN: the first batch's loss is NaN
        model = real_build(name)
        kernel = model.layers[-1].kernel
        kernel.assign(np.full(kernel.shape, np.nan, np.float32))
        return model

    monkeypatch.setattr(presets, "build", poisoned)
    job = run(data, preset="mlp-baseline", epochs=3)
    s = job.snapshot()
    assert (s.status, s.reason) == ("failed", "nan") and "NaN" in s.message
    assert not s.can_save and s.evaluation is None
    assert (s.save_refusal.code, s.save_refusal.values) == ("training_not_finite", {"epoch": 1})
    assert s.message == str(s.save_refusal)
    store = ModelStore(user_dir=tmp_path / "models", defaults_dir=tmp_path / "none")
    with pytest.raises(Refusal) as info:
        job.save(store, "nan model")
    assert info.value.code == "training_not_finite" and store.list() == []


def test_nan_weights_with_a_finite_loss_fail_too_and_are_never_evaluated(data, monkeypatch):
    """A NaN pixel in every training image: where ReLU keeps the loss finite (TensorFlow's fused CPU kernels on some
    processors), the first layer's weights still go NaN; elsewhere the loss goes NaN too. Failed either way."""
    images = data.train.images.astype(np.float32)
    images[:, 0, 0] = np.nan
    poisoned = Dataset("mnist", Split(images, data.train.labels), data.test, source="memory")
    job = run(poisoned, preset="mlp-baseline", epochs=1)
    s = job.snapshot()
    assert (s.status, s.reason) == ("failed", "nan") and s.evaluation is None and not s.can_save
    if s.save_refusal.code == "training_weights_not_finite":  # the loss stayed finite: only the weights tell
        assert s.epochs_run == 1 and s.save_refusal.values == {"layer": "dense"}
    else:
        assert s.save_refusal.code == "training_not_finite"


def test_a_refused_name_keeps_the_model_for_another_name(data, tmp_path):
    from model_store.names import InvalidName
    from model_store.store import ModelStore, NameTaken

    store = ModelStore(user_dir=tmp_path / "models", defaults_dir=tmp_path / "none")
    job = run(data, preset="mlp-baseline", epochs=1)
    store.save(job.result.model, job.metadata(), "taken")
    with pytest.raises(NameTaken):
        job.save(store, "Taken")
    with pytest.raises(InvalidName, match="at most 64 characters"):
        job.save(store, "x" * 500)
    assert job.result is not None and job.snapshot().can_save and job.snapshot().saved_as is None
    assert job.save(store, "another name").name == "another name"
    assert {e.name for e in store.list()} == {"another name", "taken"}


@pytest.mark.parametrize(("error", "reason", "text"), [
    (DatasetError("data_not_found", name="mnist", tried="nothing"), "data", "could not load mnist"),
    (MemoryError("out of memory"), "error", "MemoryError: out of memory"),
])
def test_errors_in_the_thread_become_a_failed_status(error, reason, text):
    def broken(name):
        raise error

    job = TrainingJob(config(), data_loader=broken).start()
    assert job.wait(30)
    s = job.snapshot()
    assert (s.status, s.reason) == ("failed", reason) and text in s.message and s.phase == "done"


def test_the_registry_runs_one_at_a_time_and_says_who_is_busy(data):
    gate = threading.Event()
    registry = JobRegistry(max_running=1, data_loader=blocking_loader(data, gate))
    first = registry.start(config(epochs=1, preset="mlp-baseline"), owner="a")
    assert registry.busy()
    with pytest.raises(Busy, match="already training .*mlp-baseline on mnist") as busy:
        registry.start(config(), owner="b")
    assert busy.value.running == [first]
    gate.set()
    assert first.wait(60) and not registry.busy()
    second = registry.start(config(epochs=1, preset="mlp-baseline"), owner="b")
    assert second.wait(60)
    assert registry.jobs() == [second, first]  # newest first; finished jobs stay visible
    registry.release(first.id)
    assert registry.jobs() == [second] and first.result is None and registry.get(first.id) is None


def test_bad_settings_are_refused_before_any_thread_starts(data):
    registry = JobRegistry(data_loader=lambda name: data)
    with pytest.raises(ConfigError, match="epochs"):
        registry.start(config(epochs=0))
    assert registry.jobs() == []


def test_max_trainings_comes_from_the_environment(monkeypatch, data):
    monkeypatch.setenv(MAX_ENV, "2")
    gate = threading.Event()
    registry = JobRegistry(data_loader=blocking_loader(data, gate))
    assert registry.max_running == 2
    started = [registry.start(config(epochs=1, preset="mlp-baseline")) for _ in range(2)]
    with pytest.raises(Busy):
        registry.start(config())
    gate.set()
    assert all(job.wait(60) for job in started)
    monkeypatch.setenv(MAX_ENV, "lots")
    assert JobRegistry().max_running == 1


def test_finished_jobs_beyond_keep_finished_are_released(data):
    registry = JobRegistry(keep_finished=1, data_loader=lambda name: data)
    first = registry.start(config(epochs=1, preset="mlp-baseline"))
    assert first.wait(60)
    second = registry.start(config(epochs=1, preset="mlp-baseline"))
    assert second.wait(60)
    registry.start(config(epochs=1, preset="mlp-baseline")).wait(60)
    assert first not in registry.jobs() and first.result is None


def test_datasets_are_loaded_once_per_process(monkeypatch, data, tmp_path):
    from training import datasets

    calls = []
    monkeypatch.setattr(datasets, "load", lambda name, *a, **k: calls.append(name) or data)
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path))
    data_cache.clear_data_cache()
    try:
        assert data_cache.load_dataset("mnist") is data_cache.load_dataset("mnist")
        assert calls == ["mnist"]
    finally:
        data_cache.clear_data_cache()


def test_the_classroom_demo_settings_are_valid():
    demo = classroom_demo("mnist")
    demo.validate()
    assert demo.subset and demo.epochs <= 5


def test_a_data_failure_keeps_its_refusal_for_the_page_to_translate():
    def missing(name):
        raise DatasetError("data_not_found", name=name, tried="nothing")

    job = TrainingJob(config(), data_loader=missing).start()
    assert job.wait(30)
    refusal = job.snapshot().failure_refusal
    assert (refusal.code, refusal.values) == ("data_not_found", {"name": "mnist", "tried": "nothing"})
