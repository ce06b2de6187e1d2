"""The training limit holds for every process that shares a slot folder (the replicas of one server): while another
process trains, a start is refused with ``Busy`` saying what it trains and ``busy()`` is true; when that process is
killed, its slot is free at once. Without a slot folder the limit is per process, as before."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.pages.tiny_data import learnable
from training.datasets import Dataset, Split
from training.registry import Busy, JobRegistry
from training.trainer import TrainConfig

ROOT = Path(__file__).resolve().parents[3]

# Another server process: its training waits in its data loader (queued, so active) until the test ends it.
OTHER_PROCESS = """
import sys, threading
from training.registry import JobRegistry
from training.trainer import TrainConfig
gate = threading.Event()
registry = JobRegistry(slot_folder=sys.argv[1], data_loader=lambda name: gate.wait(120))
registry.start(TrainConfig(preset="mlp-baseline", epochs=3))
print("training", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def other_process(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", OTHER_PROCESS, str(tmp_path)], cwd=ROOT, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert child.stdout.readline().strip() == "training"
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(30)
        child.stdout.close()
        child.stdin.close()


def tiny_data() -> Dataset:
    return Dataset("mnist", Split(*learnable(64, 0)), Split(*learnable(16, 1)), source="memory")


def test_a_training_in_another_process_refuses_a_start_here_until_that_process_dies(tmp_path, other_process):
    gate = threading.Event()
    registry = JobRegistry(slot_folder=tmp_path, data_loader=lambda name: gate.wait(60) and tiny_data())
    assert registry.busy() and registry.running() == []
    assert registry.elsewhere() == ["mlp-baseline on mnist, epoch 1/3 (queued)"]
    with pytest.raises(Busy, match=r"already training \(mlp-baseline on mnist, epoch 1/3 \(queued\)\)") as busy:
        registry.start(TrainConfig(preset="tf-tutorial", epochs=1))
    assert busy.value.code == "training_busy" and busy.value.running == [] and registry.jobs() == []

    other_process.kill()  # SIGKILL: the kernel frees its slot
    other_process.wait(30)
    assert not registry.busy()
    job = registry.start(TrainConfig(preset="mlp-baseline", epochs=1, batch_size=16, validation_split=0.25))
    assert registry.busy() and registry.elsewhere() == []  # its own training is not "elsewhere"
    gate.set()
    assert job.wait(120) and job.snapshot().status == "finished"
    assert _eventually(lambda: not registry.busy())


def test_two_slots_let_two_processes_train(tmp_path, other_process):
    gate = threading.Event()
    registry = JobRegistry(max_running=2, slot_folder=tmp_path, data_loader=lambda name: gate.wait(60) and tiny_data())
    assert not registry.busy()
    job = registry.start(TrainConfig(preset="mlp-baseline", epochs=1))
    assert registry.busy()
    with pytest.raises(Busy):
        registry.start(TrainConfig(preset="mlp-baseline", epochs=1))
    job.request_stop()
    gate.set()
    assert job.wait(60)
    assert _eventually(lambda: not registry.busy())


def test_without_a_slot_folder_the_limit_is_this_process_only(tmp_path, other_process):
    gate = threading.Event()
    registry = JobRegistry(data_loader=lambda name: gate.wait(60) and tiny_data())
    assert not registry.busy() and registry.elsewhere() == []
    job = registry.start(TrainConfig(preset="mlp-baseline", epochs=1))
    job.request_stop()
    gate.set()
    assert job.wait(60)


def _eventually(check, seconds: float = 10) -> bool:
    """``check()`` becomes true within ``seconds`` (a slot is given back by the thread that follows the job)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
