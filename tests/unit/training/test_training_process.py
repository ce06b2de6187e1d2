"""training.process and training.worker: the app trains in a process of its own. The server's job mirrors everything the training
reports (curves, probe maps, test figures), a stop reaches it, its failures become a status, its model can be
saved, and the process ends when the server is gone. Every run is tiny; each starts a Python with TensorFlow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from model_store.store import ModelStore
from tests.unit.unit_data import write_dataset
from training.registry import JobRegistry
from training.snapshot import Append, Snapshot, apply_changes
from training.trainer import TrainConfig

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    write_dataset(tmp_path / "data" / "mnist", n_train=240, n_test=60)
    monkeypatch.setenv("CONVSCOPE_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def config(**changes) -> TrainConfig:
    settings = {"preset": "tf-tutorial", "epochs": 2, "batch_size": 32, "validation_split": 0.2, "seed": 0}
    return TrainConfig(**{**settings, **changes})


def test_a_training_process_is_mirrored_and_its_model_saved(tiny_data, tmp_path):
    registry = JobRegistry(isolated=True)
    job = registry.start(config())
    assert job.isolated
    assert job.wait(240), job.snapshot()
    s = job.snapshot()
    assert (s.status, s.reason, s.phase) == ("finished", "finished", "done"), s.message
    assert [h["epoch"] for h in s.history] == [1, 2] and s.train_size == 192 and s.val_size == 48
    assert s.steps == 6 and s.batches_total == 12 and s.batch_points[-1][0] == pytest.approx(2.0)
    assert [p.epoch for p in s.probes] == [0, 1, 2]
    assert [name for name, _ in s.probes[-1].layers] == ["conv1", "conv2"]
    assert not np.array_equal(s.probes[0].layers[0][1], s.probes[2].layers[0][1])
    assert s.evaluation.confusion.sum() == 60 and s.evaluation.images.shape == (60, 28, 28)
    assert job.result is not None and job.result.model is None  # the model stays in its file until needed

    store = ModelStore(user_dir=tmp_path / "models", defaults_dir=tmp_path / "none")
    entry = job.save(store, "from a process")
    assert entry.meta["epochs_run"] == 2 and entry.meta["test_accuracy"] == pytest.approx(s.evaluation.accuracy)
    assert entry.meta["confusion_matrix"] == s.evaluation.confusion.tolist()
    reloaded = store.load("from a process")
    assert reloaded.count_params() == entry.meta["params"]

    folder = Path(job._model_folder)
    assert folder.is_dir()
    registry.release(job.id)
    assert not folder.exists()  # the process' model file goes with the run


def test_a_stop_reaches_the_training_process(tiny_data):
    job = JobRegistry(isolated=True).start(config(preset="mlp-baseline", epochs=300, batch_size=8))
    assert job.wait_until(lambda s: s.epochs_run >= 1 and s.batch >= 2, 240), job.snapshot()
    job.request_stop()
    assert job.wait(120)
    s = job.snapshot()
    assert (s.status, s.reason) == ("stopped", "stopped") and 1 <= s.epochs_run < 300
    assert s.can_save and s.evaluation is not None


def test_a_diverged_training_in_the_process_is_refused_at_save(tiny_data, tmp_path):
    """SGD at a learning rate of 9.9 blows the weights up to NaN or infinity: the process says why the model cannot
    be saved, the server's job mirrors it, and its save refuses."""
    from model_store.refusal import Refusal

    job = JobRegistry(isolated=True).start(config(optimizer="sgd", learning_rate=9.9))
    assert job.wait(240), job.snapshot()
    s = job.snapshot()
    assert (s.status, s.reason, s.phase) == ("failed", "nan", "done"), s.message
    assert s.save_refusal.code in ("training_not_finite", "training_weights_not_finite")
    assert s.message == str(s.save_refusal) and s.evaluation is None and not s.can_save
    store = ModelStore(user_dir=tmp_path / "models", defaults_dir=tmp_path / "none")
    with pytest.raises(Refusal, match="cannot be saved"):
        job.save(store, "diverged")
    assert store.list() == []


def test_a_failure_in_the_process_is_a_status(no_data_env, tmp_path):
    no_data_env.setenv("CONVSCOPE_DATA", str(tmp_path / "empty"))
    job = JobRegistry(isolated=True).start(config())
    assert job.wait(240)
    s = job.snapshot()
    assert (s.status, s.reason, s.phase) == ("failed", "data", "done")
    assert "could not load mnist" in s.message and not s.can_save


def test_a_process_that_cannot_start_is_a_failed_status_not_a_spinner(tiny_data, monkeypatch):
    import subprocess as sp

    def refused(*args, **kwargs):
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(sp, "Popen", refused)
    job = JobRegistry(isolated=True).start(config())
    assert job.wait(30)
    s = job.snapshot()
    assert (s.status, s.reason, s.phase) == ("failed", "error", "done") and "Too many open files" in s.message
    folder = Path(job._model_folder)
    job.discard()
    assert not folder.exists()


def test_changes_travel_as_new_items_only():
    before = Snapshot.queued("job", config(), None, started_at=0.0)
    before = apply_changes(before, {"batch_points": [(0.1, 2.0, 0.1)]})
    record = {"batch_points": Append([(0.2, 1.9, 0.2)]), "probes": Append(["epoch 0"]), "epoch": 1}
    after = apply_changes(before, record)
    assert after.batch_points == [(0.1, 2.0, 0.1), (0.2, 1.9, 0.2)] and after.probes == ["epoch 0"] and after.epoch == 1
    assert before.batch_points == [(0.1, 2.0, 0.1)] and before.probes == []  # a new snapshot; the old one is unchanged
    thinned = apply_changes(after, {"batch_points": [(0.2, 1.9, 0.2)]})
    assert thinned.batch_points == [(0.2, 1.9, 0.2)]



def test_the_recorder_sends_new_batch_points_only_and_the_whole_curve_when_it_thins(monkeypatch):
    from training import recorder

    monkeypatch.setattr(recorder, "MAX_BATCH_POINTS", 4)
    sent = []
    callback = recorder.Recorder(sent.append)
    callback.set_params({"epochs": 1, "steps": 10, "train_size": 300, "val_size": 0, "monitor": "loss"})
    callback.on_epoch_begin(0)
    for batch in range(7):
        callback.on_train_batch_end(batch, {"loss": 1.0, "accuracy": 0.5})
    points = [record.get("batch_points") for record in sent]
    assert all(isinstance(p, Append) and len(p.items) == 1 for p in points[:4])
    assert [x for x, _, _ in points[4]] == pytest.approx([0.1, 0.3, 0.5])  # thinned: sent whole
    assert isinstance(points[5], Append) and points[6] is None  # then one batch in two

KILLED_SERVER = """
import time
from training.registry import JobRegistry
from training.trainer import TrainConfig
job = JobRegistry(isolated=True).start(TrainConfig(preset="mlp-baseline", epochs=1000, batch_size=8))
assert job.wait_until(lambda s: s.batch >= 1, 240), job.snapshot()
print("training", flush=True)
time.sleep(600)
"""


def test_the_training_process_ends_when_the_server_is_killed(tiny_data, tmp_path):
    """SIGKILL leaves no orphan burning the CPU: the process sees its control pipe close and exits."""
    server = subprocess.Popen([sys.executable, "-c", KILLED_SERVER], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        assert server.stdout.readline().strip() == "training"
        children = trainers_of(server.pid)
        assert len(children) == 1, children
        os.kill(server.pid, signal.SIGKILL)
        server.wait(30)
        deadline = time.monotonic() + 60
        while alive(children[0]) and time.monotonic() < deadline:
            time.sleep(0.2)  # polling the process table for the exit, bounded by the deadline
        assert not alive(children[0]), "the training process outlived its killed server"
    finally:
        if server.poll() is None:
            server.kill()


def trainers_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"training.worker" in cmdline:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
