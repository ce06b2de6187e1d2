"""Exports for phones and browsers (model_store/export.py): a LiteRT or ONNX file gives Keras' answers, a wrong
file is caught by the check, an unavailable converter is said, and the store's cache answers a second request
without converting or loading anything, until the model file changes. Models and images are made here; the shipped
models are checked on real MNIST only where it is on this machine."""

from __future__ import annotations

import numpy as np
import pytest

from model_store import export
from model_store.store import DEFAULTS_DIR, ModelStore
from tests.unit.unit_data import SHARED_DATA, learnable_images, meta_for, real_data_dir, tiny_conv_model

ONNX_MISSING = export.onnx_problem()
needs_onnx = pytest.mark.skipif(ONNX_MISSING is not None, reason=f"ONNX export not possible here: {ONNX_MISSING}")


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Learnable digits plus noise, so that an untrained model's answers differ from image to image."""
    digits = learnable_images(24, seed=3)[0]
    noise = np.random.default_rng(0).integers(0, 256, (24, 28, 28), dtype=np.uint8)
    return np.concatenate([digits, noise])


@pytest.fixture(scope="module")
def conv():
    return tiny_conv_model(seed=0)


@pytest.mark.parametrize("fmt", [pytest.param("tflite"), pytest.param("onnx", marks=needs_onnx)])
def test_an_export_gives_the_keras_answers(fmt, conv, images):
    data = export.CONVERTERS[fmt](conv)
    agreement = export.check(fmt, data, conv, images)
    assert agreement.count == len(images)
    assert agreement.top1 == 1.0
    assert agreement.max_prob_diff < 1e-5


def test_a_flat_input_model_is_fed_the_way_the_store_feeds_it(images):
    import keras

    keras.utils.set_random_seed(1)
    flat = keras.Sequential([keras.Input((784,), name="image"), keras.layers.Dense(10, activation="softmax")])
    assert export.model_input(flat, images).shape == (len(images), 784)
    agreement = export.check("tflite", export.to_tflite(flat), flat, images)
    assert agreement.top1 == 1.0 and agreement.max_prob_diff < 1e-5


def test_the_check_catches_an_export_of_another_model(conv, images):
    other = export.to_tflite(tiny_conv_model(seed=1))
    agreement = export.check("tflite", other, conv, images)
    assert agreement.top1 < export.MIN_AGREEMENT
    assert agreement.max_prob_diff > 1e-3
    assert not export.Export("tflite", other, agreement).offered


def test_a_file_that_does_not_run_agrees_on_nothing(conv, images):
    agreement = export.check("tflite", b"not a flatbuffer", conv, images)
    assert agreement.top1 == 0.0 and agreement.count == len(images)


def test_onnx_without_its_packages_says_so(monkeypatch, conv):
    real_find_spec = export.util.find_spec
    monkeypatch.setattr(export.util, "find_spec", lambda name: None if name == "tf2onnx" else real_find_spec(name))
    assert "tf2onnx not installed" in export.onnx_problem()
    with pytest.raises(export.ExportUnavailable, match="tf2onnx not installed"):
        export.to_onnx(conv)


@pytest.fixture
def stored(store, conv):
    store.save(conv, meta_for(), "little")
    return store


@pytest.fixture
def counted(monkeypatch):
    """Count conversions per format, and the models the store loads."""
    calls = {"tflite": 0, "onnx": 0, "load": 0}
    for fmt, convert in list(export.CONVERTERS.items()):
        def counting(model, fmt=fmt, convert=convert):
            calls[fmt] += 1
            return convert(model)
        monkeypatch.setitem(export.CONVERTERS, fmt, counting)
    real_load = ModelStore.load

    def load(self, name):
        calls["load"] += 1
        return real_load(self, name)

    monkeypatch.setattr(ModelStore, "load", load)
    return calls


def test_a_second_request_comes_from_the_cache_until_the_model_changes(stored, counted, images):
    formats = ("tflite",) if ONNX_MISSING else export.FORMATS
    first = export.prepare_exports(stored, "little", images, formats)
    assert [e.fmt for e in first] == list(formats) and all(e.offered for e in first)
    assert all(e.agreement.count == len(images) and e.convert_seconds > 0 for e in first)
    assert counted == {"tflite": 1, "onnx": len(formats) - 1, "load": 1}

    second = export.prepare_exports(stored, "little", images, formats)
    assert counted == {"tflite": 1, "onnx": len(formats) - 1, "load": 1}, "converted or loaded again"
    assert [(e.data, e.agreement) for e in second] == [(e.data, e.agreement) for e in first]

    export.prepare_exports(stored, "little", images[:10], formats)  # other images: checked again, not converted
    assert counted == {"tflite": 1, "onnx": len(formats) - 1, "load": 2}

    tiny_conv_model(seed=5).save(stored.get("little").path)  # the model file changes under the same name
    changed = export.prepare_exports(stored, "little", images, formats)
    assert counted["tflite"] == 2 and counted["load"] == 3
    assert changed[0].data != first[0].data and changed[0].offered


def test_an_unavailable_converter_is_reported_and_nothing_is_kept(stored, monkeypatch, images):
    def broken(model):
        raise export.ExportUnavailable("conversion failed (KeyError: 'keras_tensor_7')")

    monkeypatch.setitem(export.CONVERTERS, "onnx", broken)
    tflite, onnx = export.prepare_exports(stored, "little", images[:8])
    assert tflite.offered
    assert onnx.problem == "conversion failed (KeyError: 'keras_tensor_7')" and onnx.data is None and not onnx.offered
    assert not list((stored.user_dir / ".cache").glob("*.onnx"))


@pytest.mark.realdata
@pytest.mark.parametrize("fmt", [pytest.param("tflite"), pytest.param("onnx", marks=needs_onnx)])
def test_the_shipped_digits_model_exports_agree_on_real_mnist(fmt, tmp_path):
    from training import datasets

    folder = real_data_dir("mnist")
    if folder is None:
        pytest.skip(f"real MNIST not found: set CONVSCOPE_DATA to a folder with mnist/t10k-images-idx3-ubyte.gz "
                    f"(looked in $CONVSCOPE_DATA and {SHARED_DATA})")
    if not (DEFAULTS_DIR / "convscope-digits.keras").is_file():
        pytest.skip("the shipped model convscope-digits is not in model_store/defaults/")
    test = datasets.load("mnist", folder, allow_download=False, test_only=True).test
    model = ModelStore(user_dir=tmp_path).load("convscope-digits")
    images = test.images[:2000]
    agreement = export.check(fmt, export.CONVERTERS[fmt](model), model, images)
    assert agreement.count == 2000 and agreement.top1 >= export.MIN_AGREEMENT, agreement
