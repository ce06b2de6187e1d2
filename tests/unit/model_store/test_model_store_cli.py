"""``python -m model_store predict``: one JSON line per file, in order, whatever is wrong with any one of them."""

from __future__ import annotations

import json

import model_store.__main__ as store_cli
from model_store.store import ModelStore
from tests.unit.image_files import black_png, encode, seven, square
from tests.unit.unit_data import meta_for


def test_predict_answers_every_file_in_order_and_goes_on_after_a_refused_one(tmp_path, monkeypatch, capsys, tiny_model):
    """A huge PNG (Pillow's decompression bomb), garbage, a blank canvas and a blob among good drawings."""
    models = tmp_path / "models"
    monkeypatch.setenv("CONVSCOPE_MODELS", str(models))
    ModelStore(user_dir=models).save(tiny_model, meta_for("mnist"), "cli-digits")
    files = {
        "good.png": encode(seven(280, 280)),
        "huge.png": black_png(14_000, 14_000),
        "garbage.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        "blank.png": encode(seven(280, 280, ink="white")),
        "blob.png": encode(square(280, 280)),
        "photo.jpg": encode(seven(4000, 3000), "JPEG"),
    }
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))

    assert store_cli.main(["predict", "--model", "cli-digits", *paths]) == 1
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["file"] for line in lines] == paths
    assert all(line["model"] == "cli-digits" for line in lines)
    reasons = [line.get("reason") for line in lines]
    assert reasons == [None, "image_too_large", "image_unreadable", "image_empty", "image_blob", None]
    for line in (lines[0], lines[-1]):
        assert "error" not in line and 0 <= line["label"] <= 9 and len(line["probabilities"]) == 10
    assert lines[1]["error"].startswith("the image has 196 megapixels; at most 16 megapixels can be read")
    assert lines[3]["error"].startswith("the image is blank") and lines[4]["error"].startswith("the image shows a dot")
    assert "Traceback" not in err


def test_predict_exits_0_when_every_file_is_read(tmp_path, monkeypatch, capsys, tiny_model):
    models = tmp_path / "models"
    monkeypatch.setenv("CONVSCOPE_MODELS", str(models))
    ModelStore(user_dir=models).save(tiny_model, meta_for("mnist"), "cli-digits")
    (tmp_path / "seven.png").write_bytes(encode(seven(300, 200)))
    assert store_cli.main(["predict", "--model", "cli-digits", str(tmp_path / "seven.png"), str(tmp_path / "none.png")]) == 1
    good, missing = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "label" in good and missing["reason"] == "image_cannot_open"
    assert store_cli.main(["predict", "--model", "cli-digits", str(tmp_path / "seven.png")]) == 0
