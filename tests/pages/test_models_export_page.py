"""The Models page's exports under AppTest: nothing is offered before the check; after "Check and prepare exports"
each format shows its agreement with Keras and its download; an ONNX converter that is not there is said; without
the test set the shipped sample is used and said. The model and the test set are tiny and made here."""

from __future__ import annotations

import re

import pytest

from model_store import export
from model_store.store import ModelStore
from tests.pages.tiny_data import model_file, write_data

MODELS = "app_pages/models.py"


@pytest.fixture
def little(monkeypatch, tmp_path, open_app):
    """A store with one small MNIST model, ``little``, and a tiny MNIST test set of 40 images."""
    import keras

    monkeypatch.setenv("CONVSCOPE_DATA", str(write_data(tmp_path / "data", n_train=20, n_test=40)))
    model_file(tmp_path / "little.keras", seed=0)
    model = keras.models.load_model(tmp_path / "little.keras", compile=False)
    ModelStore().save(model, {"dataset": "mnist", "class_names": [str(i) for i in range(10)], "preset": "tiny",
                              "created_at": "2026-01-01T10:00:00+00:00"}, "little")
    return tmp_path


def checked(at):
    at.selectbox(key="models_pick").set_value("little").run()
    assert not [b for b in at.download_button if b.key.startswith("models_export_")], "offered before the check"
    at.button(key="models_export_check").click().run()
    assert not at.exception, at.exception
    return at


def exports_offered(at) -> dict[str, str]:
    return {b.key.removeprefix("models_export_"): b.label for b in at.download_button if b.key.startswith("models_export_")}


def test_exports_are_offered_after_the_check_with_their_agreement(little, open_app):
    at = checked(open_app(MODELS))
    lines = [md.value for md in at.markdown if "same answer as Keras" in md.value]
    assert len(lines) == (len(export.FORMATS) if export.onnx_problem() is None else 1)
    assert all(re.search(r"on 40 of 40 test images \(100\.00%\)", line) for line in lines), lines
    assert exports_offered(at) == ({"tflite": "Download .tflite", "onnx": "Download .onnx"}
                                   if export.onnx_problem() is None else {"tflite": "Download .tflite"})
    assert not [c for c in at.caption if "shipped sample" in c.value], "the full (tiny) test set was there"
    assert list((little / "models" / ".cache").glob("*-export-*.tflite")), "the export is kept for the next request"


def test_an_onnx_converter_that_is_missing_is_said(little, open_app, monkeypatch):
    real_find_spec = export.util.find_spec
    monkeypatch.setattr(export.util, "find_spec", lambda name: None if name == "tf2onnx" else real_find_spec(name))
    at = checked(open_app(MODELS))
    assert any("ONNX (.onnx): not available: tf2onnx not installed" in w.value for w in at.warning), at.warning
    assert exports_offered(at) == {"tflite": "Download .tflite"}


def test_without_the_test_set_the_sample_is_used_and_said_in_korean(little, open_app, monkeypatch, tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("CONVSCOPE_DATA", str(empty))
    at = open_app(MODELS, lang="ko")
    at = checked(at)
    assert any("샘플 테스트 이미지 200개" in c.value for c in at.caption), [c.value for c in at.caption]
    assert exports_offered(at)["tflite"] == ".tflite 내려받기"
    assert any("200개 중 200개" in md.value for md in at.markdown)


def test_an_export_that_disagrees_with_keras_is_not_offered(little, open_app, monkeypatch):
    monkeypatch.setattr(export, "check", lambda fmt, data, model, images, reference=None:
                        export.Agreement(top1=0.95, max_prob_diff=0.4, count=len(images)))
    at = checked(open_app(MODELS))
    assert any("LiteRT (.tflite) is not offered" in w.value and "95.00%" in w.value for w in at.warning), at.warning
    assert exports_offered(at) == {}
