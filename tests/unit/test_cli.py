"""``python -m training``: train and evaluate print JSON; bad data or settings exit 2 with one clear line."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import training.__main__ as cli  # imported at collection, so ProgressBar's default stream is not a test's capture
from model_store.store import ModelStore
from tests.unit.unit_data import NO_NETWORK_PROXY

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ["train", "--subset", "200", "--epochs", "1", "--dataset", "mnist", "--preset", "mlp-baseline",
         "--batch-size", "64"]


def last_json_line(text: str) -> dict:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "nothing printed"
    return json.loads(lines[-1])


def offline_env(tmp_path) -> dict:
    """The environment of a machine with no data folder and no network (every connection refused)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CONVSCOPE_DATA", "NO_PROXY", "no_proxy")}
    env.update({"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_HOME": str(tmp_path / "keras-home"),
                "CONVSCOPE_MODELS": str(tmp_path / "models")})
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        env[var] = NO_NETWORK_PROXY
    return env


def test_train_save_then_evaluate(data_root, tmp_path, monkeypatch, capsys):
    models = tmp_path / "models"
    monkeypatch.setenv("CONVSCOPE_MODELS", str(models))
    monkeypatch.delenv("CONVSCOPE_DATA", raising=False)
    assert cli.main(["--data", str(data_root), *TRAIN, "--save", "cli-model"]) == 0
    summary = last_json_line(capsys.readouterr().out)
    assert set(summary) == {"test_accuracy", "test_loss", "epochs_run", "stop_reason", "seconds", "saved"}
    assert summary["epochs_run"] == 1 and summary["stop_reason"] == "finished" and summary["saved"] == "cli-model"
    assert 0.0 <= summary["test_accuracy"] <= 1.0

    entry = ModelStore(user_dir=models).get("cli-model")
    assert entry.dataset == "mnist" and entry.meta["hyperparameters"]["subset"] == 200
    assert entry.meta["preset"] == "mlp-baseline" and entry.test_accuracy == summary["test_accuracy"]

    assert cli.main(["--data", str(data_root), "evaluate", "--model", "cli-model"]) == 0
    report = last_json_line(capsys.readouterr().out)
    assert report["model"] == "cli-model" and report["dataset"] == "mnist" and report["count"] == 60
    assert "predicted" not in report
    matrix = report["confusion_matrix"]
    assert sum(map(sum, matrix)) == 60
    assert sum(matrix[i][i] for i in range(10)) / 60 == pytest.approx(report["accuracy"])
    assert report["accuracy"] == pytest.approx(summary["test_accuracy"], abs=1e-6)


def test_progress_bar_output():
    stream = io.StringIO()
    bar = cli.ProgressBar(stream=stream, width=10)
    bar.on_begin({"steps_per_epoch": 20, "epochs": 2, "train_size": 640, "val_size": 64})
    for batch in range(1, 21):
        bar.on_batch(1, batch, {"loss": 0.5, "accuracy": 0.75})
    bar.on_epoch(1, {"loss": 0.25, "accuracy": 0.9, "val_loss": 0.3, "val_accuracy": 0.88, "seconds": 3.0}, None)
    text = stream.getvalue()
    assert "training on 640 images, validating on 64" in text
    assert "epoch 1/2 [=====     ] 10/20" in text and "20/20" in text
    assert "epoch 1/2 done in 3s: loss 0.2500 acc 0.9000 val_loss 0.3000 val_accuracy 0.8800" in text


def test_bad_setting_exits_2_with_a_message(data_root, capsys):
    assert cli.main(["--data", str(data_root), *TRAIN[:-2], "--batch-size", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: batch size must be at least 1") and "Traceback" not in err


def test_unknown_choices_are_refused_by_argparse(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--dataset", "cifar10"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_missing_data_in_process(tmp_path, no_data_env, download_attempts, capsys):
    assert cli.main(["--data", str(tmp_path / "nonexistent"), *TRAIN]) == 2
    assert download_attempts == ["mnist"]
    err = capsys.readouterr().err
    assert err.startswith("error: could not load mnist. Tried:")
    assert f"{tmp_path / 'nonexistent' / 'mnist'}: no such folder" in err and "Keras download" in err


def test_missing_data_exits_2_without_traceback(tmp_path):
    """The real command on an offline machine: exit status 2, the folders tried, a fix, and no traceback."""
    proc = subprocess.run([sys.executable, "-m", "training", "--data", "/nonexistent", *TRAIN],
                          capture_output=True, text=True, env=offline_env(tmp_path), cwd=ROOT, timeout=240)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "error: could not load mnist. Tried:" in proc.stderr
    assert "/nonexistent/mnist: no such folder" in proc.stderr and "CONVSCOPE_DATA" in proc.stderr
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_data_option_after_the_subcommand(data_root, capsys):
    assert cli.main([*TRAIN, "--data", str(data_root)]) == 0
    assert last_json_line(capsys.readouterr().out)["epochs_run"] == 1
