"""``python -m training``: train and evaluate print JSON; bad data or settings exit 2 with one clear line."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import training.__main__ as cli
from model_store.store import ModelStore
from tests.unit.unit_data import NO_NETWORK_PROXY, meta_for, poisoned_build

ROOT = Path(__file__).resolve().parents[3]
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
    from training.progress import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(stream=stream, width=10)
    bar.set_params({"steps": 20, "epochs": 2, "train_size": 640, "val_size": 64, "monitor": "val_loss"})
    bar.on_train_begin()
    bar.on_epoch_begin(0)
    for batch in range(20):
        bar.on_train_batch_end(batch, {"loss": 0.5, "accuracy": 0.75})
    bar.on_epoch_end(0, {"loss": 0.25, "accuracy": 0.9, "val_loss": 0.3, "val_accuracy": 0.88, "epoch": 1, "seconds": 3.0})
    text = stream.getvalue()
    assert "training on 640 images, validating on 64" in text
    assert "epoch 1/2 [=====     ] 10/20" in text and "20/20" in text
    assert "epoch 1/2 done in 3s: loss 0.2500 acc 0.9000 val_loss 0.3000 val_accuracy 0.8800" in text


def test_bad_setting_exits_2_with_a_message(data_root, capsys):
    assert cli.main(["--data", str(data_root), *TRAIN[:-2], "--batch-size", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: batch size must be at least 1") and "Traceback" not in err


def test_the_speedrun_settings_are_options_and_default_to_the_presets_choice(data_root, tmp_path, monkeypatch, capsys):
    models = tmp_path / "models"
    monkeypatch.setenv("CONVSCOPE_MODELS", str(models))
    store = ModelStore(user_dir=models)
    assert cli.main(["--data", str(data_root), *TRAIN, "--one-cycle", "--label-smoothing", "0.05", "--save", "set"]) == 0
    assert cli.main(["--data", str(data_root), *TRAIN[:-4], "--preset", "convscope-speedrun", "--batch-size", "64",
                     "--save", "recommended"]) == 0
    assert cli.main(["--data", str(data_root), *TRAIN[:-4], "--preset", "convscope-speedrun", "--batch-size", "64",
                     "--no-one-cycle", "--label-smoothing", "0", "--save", "undone"]) == 0
    capsys.readouterr()
    chosen = {name: store.get(name).meta["hyperparameters"] for name in ("set", "recommended", "undone")}
    assert chosen["set"]["one_cycle"] is True and chosen["set"]["label_smoothing"] == 0.05
    assert chosen["set"]["weight_averaging"] == 0.0  # mlp-baseline recommends none
    assert chosen["recommended"]["one_cycle"] is True and chosen["recommended"]["label_smoothing"] == 0.1
    assert chosen["undone"]["one_cycle"] is False and chosen["undone"]["label_smoothing"] == 0.0


def test_a_bad_speedrun_setting_exits_2_with_a_message(data_root, capsys):
    assert cli.main(["--data", str(data_root), *TRAIN, "--label-smoothing", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "label_smoothing" in err.replace(" ", "_") and "Traceback" not in err


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


# ---- python -m training: refusals before the work, and NaN never ships ----------------------------


@pytest.fixture
def no_data_read(monkeypatch):
    """Fails the test if the command reads a dataset (a refusal must come before any of the work)."""
    from training import datasets

    def load(*args, **kwargs):
        pytest.fail("the dataset was read before the refusal")

    monkeypatch.setattr(datasets, "load", load)


@pytest.mark.parametrize(("name", "taken_as"), [("TAKEN", "a model named 'taken'"),
                                                ("convscope-digits", "a shipped model named 'convscope-digits'")])
def test_a_taken_save_name_is_refused_before_any_data_is_read(name, taken_as, tmp_path, monkeypatch, capsys,
                                                             no_data_read, tiny_model):

    models = tmp_path / "models"
    ModelStore(user_dir=models).save(tiny_model, meta_for("mnist"), "taken")
    monkeypatch.setenv("CONVSCOPE_MODELS", str(models))
    assert cli.main([*TRAIN, "--save", name]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {taken_as} already exists; choose another name") and "Traceback" not in err


@pytest.mark.parametrize(("name", "reason"), [
    ("a/b", "a name cannot contain /"),
    ("x" * 500, "a name can have at most 64 characters (this one has 500)"),
    ("  ", "a name cannot be empty"),
    ("..hidden", "a name cannot start with a dot"),
])
def test_an_invalid_save_name_is_refused_before_any_data_is_read(name, reason, tmp_path, monkeypatch, capsys,
                                                                 no_data_read):
    monkeypatch.setenv("CONVSCOPE_MODELS", str(tmp_path / "models"))
    assert cli.main([*TRAIN, "--save", name]) == 2
    assert capsys.readouterr().err == f"error: {reason}\n"


@pytest.mark.parametrize(("option", "value", "reason"), [
    ("--epochs", "-1", "epochs must be at least 1 (got -1)"),
    ("--subset", "0", "training subset must be at least 1 (got 0)"),
    ("--patience", "-2", "patience must be at least 0 (got -2)"),
    ("--seed", "-3", "seed must be at least 0 (got -3)"),
    ("--lr", "1e6", "learning rate must be between 0 and 10 (got 1000000.0)"),
    ("--val-split", "1.5", "validation split must be between 0 and 1 (got 1.5)"),
])
def test_bad_settings_are_refused_before_any_data_is_read(option, value, reason, capsys, no_data_read):
    assert cli.main([*TRAIN, option, value]) == 2
    assert capsys.readouterr().err == f"error: {reason}\n"


@pytest.mark.parametrize("save", [True, False])
def test_a_training_whose_loss_went_nan_is_never_saved(save, data_root, tmp_path, monkeypatch, capsys):
    from training import presets

    models = tmp_path / "models"
    monkeypatch.setenv("CONVSCOPE_MODELS", str(models))
    monkeypatch.setattr(presets, "build", poisoned_build(presets.build))
    assert cli.main(["--data", str(data_root), *TRAIN, *(["--save", "nan-model"] if save else [])]) == 1
    captured = capsys.readouterr()
    summary = last_json_line(captured.out)
    assert summary["stop_reason"] == "nan" and summary["reason"] == "training_not_finite" and "saved" not in summary
    assert captured.err.splitlines()[-1] == (
        "error: the loss became NaN or infinite (not a number) in epoch 1: a model trained like this answers nothing, "
        "so it cannot be saved. Lower the learning rate and train again" + ("; nothing was saved" if save else ""))
    assert "nan-model" not in [e.name for e in ModelStore(user_dir=models).list()]


def test_defaults_keep_the_shipped_model_when_the_training_goes_nan(data_root, tmp_path, monkeypatch, capsys,
                                                                    tiny_model):
    from model_store import store
    from training import presets

    shipped = tmp_path / "defaults"
    ModelStore(user_dir=shipped, defaults_dir=tmp_path / "none").save(tiny_model, meta_for("mnist"), "convscope-digits")
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}
    monkeypatch.setattr(store, "DEFAULTS_DIR", shipped)  # never the repository's own defaults
    monkeypatch.setattr(presets, "build", poisoned_build(presets.build))
    assert cli.main(["--data", str(data_root), "defaults", "--dataset", "mnist"]) == 1
    captured = capsys.readouterr()
    summary = last_json_line(captured.out)
    assert (summary["dataset"], summary["reason"]) == ("mnist", "training_not_finite")
    assert captured.err.splitlines()[-1].startswith("error: mnist: the loss became NaN or infinite (not a number)")
    assert captured.err.splitlines()[-1].endswith("; the shipped model was kept")
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before


# ---- python -m model_store predict ---------------------------------------------------------------------
