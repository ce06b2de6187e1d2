"""``python -m model_store predict``: one JSON line per file, in order, whatever is wrong with any one of them."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image, ImageDraw

import model_store.__main__ as store_cli
from model_store.store import ModelStore
from tests.unit.image_files import black_png, encode, seven, square
from tests.unit.model_store.test_preprocess import on_paper
from tests.unit.unit_data import meta_for


def dot(width: int, height: int) -> Image.Image:
    """A pen's dot on white paper: not a digit."""
    img = Image.new("L", (width, height), "white")
    ImageDraw.Draw(img).ellipse([width * 0.45, height * 0.45, width * 0.5, height * 0.5], fill="black")
    return img


def store_with_tiny_model(tmp_path, monkeypatch, tiny_model, dataset="mnist", name="cli-digits") -> None:
    models = tmp_path / "models"
    monkeypatch.setenv("CONVSCOPE_MODELS", str(models))
    ModelStore(user_dir=models).save(tiny_model, meta_for(dataset), name)


def run(capsys, *argv) -> tuple[int, list[dict], str]:
    status = store_cli.main(["predict", *argv])
    out, err = capsys.readouterr()
    return status, [json.loads(line) for line in out.splitlines()], err


def number_picture(shapes: str, dark_on_light: bool = True, photo: bool = False) -> Image.Image:
    """Digit-like shapes side by side ('170'), 100 px tall, 40 px apart."""
    img = Image.new("L", (60 + 100 * len(shapes), 220), 0)
    pen = ImageDraw.Draw(img)
    for i, shape in enumerate(shapes):
        x, y = 30 + 100 * i, 60
        if shape == "0":
            pen.ellipse([x, y, x + 60, y + 100], outline=255, width=12)
        elif shape == "1":
            pen.line([(x + 42, y), (x + 18, y + 100)], fill=255, width=12)
        elif shape == "7":
            pen.line([(x, y + 6), (x + 60, y + 6), (x + 15, y + 100)], fill=255, width=12, joint="curve")
        else:  # a filled square
            pen.rectangle([x, y, x + 60, y + 80], fill=255)
    a = np.asarray(img)
    if photo:
        return Image.fromarray(on_paper(a / 255.0))
    return Image.fromarray(255 - a if dark_on_light else a)


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
        "filled.png": encode(square(280, 280)),
        "dot.png": encode(dot(280, 280)),
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
    assert reasons == [None, "image_too_large", "image_unreadable", "image_empty", "image_filled", "image_dot", None]
    for line in (lines[0], lines[-1]):
        assert "error" not in line and 0 <= line["label"] <= 9 and len(line["probabilities"]) == 10
    assert lines[1]["error"].startswith("the image has 196 megapixels; at most 16 megapixels can be read")
    assert lines[3]["error"].startswith("the image is blank")
    assert lines[4]["error"].startswith("the image shows a filled area") and "only a dot" in lines[5]["error"]
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


def test_predict_polarity(tmp_path, monkeypatch, capsys, tiny_model):
    """--polarity says which side the ink is on: the same answer as auto when it agrees, none when it contradicts."""
    store_with_tiny_model(tmp_path, monkeypatch, tiny_model)
    path = tmp_path / "seven.png"
    path.write_bytes(encode(seven(280, 280)))  # black on white
    _, (auto,), _ = run(capsys, "--model", "cli-digits", str(path))
    _, (dark,), _ = run(capsys, "--model", "cli-digits", "--polarity", "dark-on-light", str(path))
    assert auto["probabilities"] == dark["probabilities"]
    status, (light,), _ = run(capsys, "--model", "cli-digits", "--polarity", "light-on-dark", str(path))
    assert status == 1 and light["reason"] in ("image_empty", "image_filled") and "label" not in light
    status, (white,), _ = run(capsys, "--model", "cli-digits", "--polarity", "light-on-dark",
                              str(_write(tmp_path / "white.png", seven(280, 280, ink="black", paper="black"))))
    assert status == 1 and white["reason"] == "image_empty"
    try:
        store_cli.main(["predict", "--polarity", "sideways", str(path)])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("an unknown polarity must be refused by the parser")


def _write(path, img: Image.Image):
    path.write_bytes(encode(img))
    return path


def test_predict_number_reads_the_digits_left_to_right(tmp_path, monkeypatch, capsys, tiny_model):
    store_with_tiny_model(tmp_path, monkeypatch, tiny_model)
    paths = [_write(tmp_path / "170.png", number_picture("170")),
             _write(tmp_path / "photo.jpg", number_picture("7101", photo=True)),
             _write(tmp_path / "light.png", number_picture("07", dark_on_light=False))]
    status, lines, err = run(capsys, "--model", "cli-digits", "--number", *map(str, paths))
    assert status == 0 and "Traceback" not in err
    for line, count in zip(lines, (3, 4, 2)):
        assert "error" not in line and len(line["digits"]) == count
        assert line["number"] == "".join(d["class_name"] for d in line["digits"])
        lefts = [d["box"][1] for d in line["digits"]]
        assert lefts == sorted(lefts) and lefts[-1] - lefts[0] >= 100 * (count - 1) - 20
        for digit in line["digits"]:
            assert 0 <= digit["label"] <= 9 and len(digit["probabilities"]) == 10 and len(digit["box"]) == 4
            assert digit["confidence"] == max(digit["probabilities"])


def test_predict_number_refusals_keep_their_line_and_reason(tmp_path, monkeypatch, capsys, tiny_model):
    store_with_tiny_model(tmp_path, monkeypatch, tiny_model)
    paths = [_write(tmp_path / "blank.png", Image.new("L", (400, 200), "white")),
             _write(tmp_path / "filled.png", number_picture("1s7")),
             _write(tmp_path / "dot.png", dot(400, 200)),
             _write(tmp_path / "good.png", number_picture("17"))]
    status, lines, _ = run(capsys, "--model", "cli-digits", "--number", *map(str, paths))
    assert status == 1
    assert [line.get("reason") for line in lines] == ["image_empty", "image_filled", "image_dot", None]
    assert all("error" in line and "digits" not in line for line in lines[:3])
    assert lines[3]["number"] and len(lines[3]["digits"]) == 2


def test_predict_number_needs_a_digit_model(tmp_path, monkeypatch, capsys, tiny_model):
    store_with_tiny_model(tmp_path, monkeypatch, tiny_model, dataset="fashion-mnist", name="cli-fashion")
    path = _write(tmp_path / "17.png", number_picture("17"))
    assert store_cli.main(["predict", "--model", "cli-fashion", "--number", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--number reads digits" in err
    assert store_cli.main(["predict", "--model", "cli-fashion", str(path)]) == 0  # one picture: the naive resize
