"""``python -m training class-data``: one JSON line per result; a refusal is a JSON line with "error" and "reason" and
exit status 1, whatever part of the command it comes from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import training.__main__ as cli
from model_store.class_data import ClassDatasets
from tests.unit.image_files import encode, seven, square

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    """An empty model store folder of its own, where the commands look (CONVSCOPE_MODELS)."""
    folder = tmp_path / "models"
    monkeypatch.setenv("CONVSCOPE_MODELS", str(folder))
    return folder


def run(capsys, *argv) -> tuple[int, list[dict]]:
    status = cli.main(["class-data", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, [json.loads(line) for line in out.splitlines()]


def picture(path: Path, img: Image.Image) -> str:
    path.write_bytes(encode(img))
    return str(path)


def test_create_list_show_and_delete(store, capsys):
    status, (created,) = run(capsys, "create", "shapes", "--classes", "circle", "line", "세모")
    assert status == 0 and created["classes"] == ["circle", "line", "세모"] and created["kind"] == "custom"
    status, (digits,) = run(capsys, "create", "corrections")
    assert status == 0 and digits["kind"] == "digits" and digits["classes"] == [str(d) for d in range(10)]
    status, lines = run(capsys, "list")
    assert status == 0 and sorted(line["name"] for line in lines) == ["corrections", "shapes"]
    assert all(line["total"] == 0 for line in lines)
    status, (shown,) = run(capsys, "show", "shapes", "--minimum", "1")
    assert status == 0 and shown["too_few"] == {"circle": 0, "line": 0, "세모": 0} and shown["minimum"] == 1
    status, (deleted,) = run(capsys, "delete", "shapes")
    assert status == 0 and deleted == {"deleted": "shapes"}
    assert [d.name for d in ClassDatasets(store).list()] == ["corrections"]


@pytest.mark.parametrize("argv, reason", [
    (["create", "one", "--classes", "only"], "class_data_class_count"),
    (["create", "bad", "--classes", "a", "a"], "class_data_class_twice"),
    (["create", ".hidden", "--classes", "a", "b"], "name_leading_dot"),
    (["create", "d", "--kind", "digits", "--classes", "a", "b"], "class_data_digit_classes"),
    (["show", "nothing"], "class_data_not_found"),
    (["delete", "nothing"], "class_data_not_found"),
    (["export", "nothing", "--out", "x"], "class_data_not_found"),
])
def test_refusals_are_json_with_exit_status_1(store, capsys, argv, reason):
    status, (line,) = run(capsys, *argv)
    assert status == 1 and line["reason"] == reason and line["error"]


def test_add_prepares_each_picture_and_answers_every_file_in_order(store, tmp_path, capsys):
    run(capsys, "create", "shapes", "--classes", "seven", "other")
    files = [picture(tmp_path / "good.png", seven(280, 280)),
             picture(tmp_path / "blank.png", Image.new("L", (280, 280), "white")),
             picture(tmp_path / "filled.png", square()),
             str(tmp_path / "missing.png"),
             picture(tmp_path / "photo.jpg", seven(600, 400))]
    status, lines = run(capsys, "add", "shapes", "--label", "seven", "--pupil", "bench", *files)
    assert status == 1
    assert [line["file"] for line in lines] == files
    assert [line.get("reason") for line in lines] == [None, "image_empty", "image_filled", "image_cannot_open", None]
    assert all(line["dataset"] == "shapes" for line in lines)
    added = [line for line in lines if "id" in line]
    assert [(line["label"], line["class"]) for line in added] == [(0, "seven"), (0, "seven")]
    drawings = ClassDatasets(store).drawings("shapes")
    assert sorted(d.id for d in drawings) == sorted(line["id"] for line in added)
    assert all(d.pupil == "bench" and d.has_picture and d.image.any() for d in drawings)
    status, _ = run(capsys, "add", "shapes", "--label", "other", files[0])
    assert status == 0


def test_add_refuses_an_unknown_label_once(store, tmp_path, capsys):
    run(capsys, "create", "shapes", "--classes", "seven", "other")
    files = [picture(tmp_path / f"{i}.png", seven()) for i in range(3)]
    status, lines = run(capsys, "add", "shapes", "--label", "eight", *files)
    assert status == 1 and len(lines) == 1 and lines[0]["reason"] == "class_data_label"
    assert ClassDatasets(store).get("shapes").total == 0


def test_export_then_import_round_trip(store, tmp_path, capsys):
    datasets = ClassDatasets(store)
    datasets.create("letters", ["A", "B"])
    for k in range(5):
        image = np.zeros((28, 28), np.uint8)
        image[4:24, 4 + k] = 255
        datasets.add("letters", k % 2, image)
    status, (exported,) = run(capsys, "export", "letters", "--out", str(tmp_path / "out"))
    assert status == 0 and exported["name"] == "letters"
    assert sorted(Path(f).name for f in exported["files"]) == [
        "letters-classes.json", "letters-images-idx3-ubyte.gz", "letters-labels-idx1-ubyte.gz", "letters.npz"]
    status, (imported,) = run(capsys, "import", str(tmp_path / "out" / "letters.npz"), "--name", "letters 2")
    assert status == 0 and imported["name"] == "letters 2" and imported["counts"] == [3, 2]
    assert imported["source"] == "imported from letters.npz"
    status, (again,) = run(capsys, "import", str(tmp_path / "out" / "letters-images-idx3-ubyte.gz"))
    assert status == 1 and again["reason"] == "class_data_name_taken"
    (tmp_path / "junk.npz").write_bytes(b"junk")
    status, (junk,) = run(capsys, "import", str(tmp_path / "junk.npz"))
    assert status == 1 and junk["reason"] == "class_data_import_npz"
    for a, b in zip(datasets.images("letters"), datasets.images("letters 2")):
        np.testing.assert_array_equal(a, b)


def test_python_m_training_class_data_in_a_process_of_its_own(store, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONVSCOPE_MODELS": str(store)}

    def training(*argv):
        return subprocess.run([sys.executable, "-m", "training", "class-data", *argv], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    done = training("create", "shapes", "--classes", "a", "b")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == "shapes"
    refused = training("create", "shapes", "--classes", "a", "b")
    assert refused.returncode == 1 and json.loads(refused.stdout)["reason"] == "class_data_name_taken"
    assert "Traceback" not in refused.stderr


def test_train_refuses_before_training_a_dataset_with_too_few_drawings_and_a_taken_name(store, capsys, tmp_path):
    run(capsys, "create", "shapes", "--classes", "circle", "line")
    status, (refused,) = run(capsys, "train", "shapes", "--from", "convscope-digits")
    assert status == 1 and refused["reason"] == "class_data_too_few" and "circle" in refused["error"]
    datasets = ClassDatasets(store)
    rng = np.random.default_rng(0)
    for label in (0, 1):
        for _ in range(10):
            image = np.zeros((28, 28), np.uint8)
            image[6:22, 8 + 8 * label:12 + 8 * label] = 255 - rng.integers(0, 40)
            datasets.add("shapes", label, image)
    status, (refused,) = run(capsys, "train", "shapes", "--from", "convscope-digits", "--save", "convscope-digits")
    assert status == 1 and refused["reason"] == "name_taken_shipped"  # the name is checked before any training
