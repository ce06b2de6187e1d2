"""The store after a crash: a save or a training killed with SIGKILL leaves no model half-listed and no temp file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from model_store.store import ModelStore

ROOT = Path(__file__).resolve().parents[3]

SAVE_THEN_HANG = textwrap.dedent("""
    import os, sys, time
    import keras
    from model_store import store as store_module
    from model_store.store import ModelStore

    real_replace = os.replace
    def replace_then_hang(src, dst):
        if str(dst).endswith(".keras"):
            print("temp file written", flush=True)
            time.sleep(600)  # killed here: the .keras temp file exists, nothing is renamed yet
        real_replace(src, dst)
    store_module.os.replace = replace_then_hang

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    ModelStore(sys.argv[1], defaults_dir=sys.argv[1] + "/no-defaults").save(model, {"dataset": "mnist"}, "half-saved")
""")


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if text in line:
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"child exited ({proc.returncode}) before printing {text!r}")
    raise AssertionError(f"no {text!r} within {timeout} s")


def visible_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_killed_in_the_middle_of_a_save(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-c", SAVE_THEN_HANG, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        wait_for_line(proc, "temp file written")
        assert any(p.name.startswith(".tmp-") for p in tmp_path.iterdir()), "the child should be mid-save"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    store = ModelStore(tmp_path, defaults_dir=tmp_path / "no-defaults")  # a restart
    assert [e.name for e in store.list()] == []
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir()), "temp files must be cleaned up"
    assert visible_files(tmp_path) == []


def test_killed_in_the_middle_of_training(tmp_path):
    from tests.pages.tiny_data import write_data

    data = write_data(tmp_path / "data", "mnist", n_train=600, n_test=100)
    models = tmp_path / "models"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "CONVSCOPE_MODELS": str(models),
           "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "training", "--data", str(data), "train", "--preset", "mlp-baseline", "--epochs", "50",
           "--batch-size", "16", "--save", "never-finished"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    try:
        wait_for_line(proc, "epoch 2/50 done")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    store = ModelStore(models, defaults_dir=models / "no-defaults")
    assert [e.name for e in store.list()] == []
    assert not any(p.name.startswith(".tmp-") for p in models.iterdir())


def test_a_corrupted_metadata_file_is_listed_as_broken(tmp_path):
    import keras

    store = ModelStore(tmp_path, defaults_dir=tmp_path / "no-defaults")
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    store.save(model, {"dataset": "mnist"}, "good")
    store.save(model, {"dataset": "mnist"}, "bad")
    (tmp_path / "bad.json").write_text("{ this is not json", encoding="utf-8")
    entries = {e.name: e for e in ModelStore(tmp_path, defaults_dir=tmp_path / "no-defaults").list()}
    assert entries["bad"].broken and not entries["good"].broken
    assert [e.name for e in store.for_dataset("mnist")] == ["good"]
    with pytest.raises(Exception, match="broken"):
        store.load("bad")
    assert store.load("good") is not None
