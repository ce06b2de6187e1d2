"""Cheap guards (not timings): the interactive path never calls model.predict, and models load once per server."""

from __future__ import annotations

import re
from pathlib import Path

import keras
import pytest

from model_store.store import DEFAULTS_DIR, ModelStore
from tests.pages.fakes import FOUR, SEVEN, FakeCanvas, drawing, install_fake_canvas

ROOT = Path(__file__).resolve().parents[2]
INTERACTIVE = [ROOT / "app.py", *sorted((ROOT / "app_pages").glob("*.py")),
               *(ROOT / "model_store" / name for name in ("inference.py", "litert.py", "explain.py"))]


@pytest.mark.parametrize("path", INTERACTIVE, ids=lambda p: p.name)
def test_no_model_predict_in_the_interactive_code(path):
    calls = re.findall(r"\.predict\(", path.read_text(encoding="utf-8"))
    assert calls == [], f"{path.name} calls .predict(): use model_store.inference.Predictor"


@pytest.mark.skipif(not (DEFAULTS_DIR / "convscope-digits.keras").exists(), reason="shipped digit model missing")
def test_draw_reruns_load_once_and_never_predict(monkeypatch, open_app):
    from model_store import litert

    monkeypatch.setenv(litert.DISABLE_ENV, "1")  # the app as shipped (tests/pages/conftest.py turns it off)
    install_fake_canvas(monkeypatch)

    def forbidden(*args, **kwargs):
        raise AssertionError("model.predict was called on the interactive path")

    monkeypatch.setattr(keras.Model, "predict", forbidden)
    loads = []
    real_load = ModelStore.load
    monkeypatch.setattr(ModelStore, "load", lambda self, name: loads.append(name) or real_load(self, name))
    FakeCanvas.image = drawing(SEVEN)
    at = open_app()
    for strokes in (FOUR, SEVEN, FOUR):
        FakeCanvas.image = drawing(strokes)
        at.run()
        assert not at.exception
    at.toggle(key="draw_explain").set_value(True).run()
    assert not at.exception
    assert loads.count("convscope-digits") == 1, loads
    from app_pages import resources

    assert resources.predictor("convscope-digits").wait_for_litert(120), \
        "the app's digit model should answer drawings through LiteRT"
