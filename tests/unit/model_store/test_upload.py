"""model_store.upload: good .keras and legacy .h5 models are accepted, everything else is refused with the reason.
Every file is made here, in tmp_path."""

from __future__ import annotations

import numpy as np
import pytest

from model_store.upload import UploadError, validate_upload
from tests.pages.tiny_data import model_file

DIGITS = [str(i) for i in range(10)]


def saved(tmp_path, name, **kwargs) -> bytes:
    return model_file(tmp_path / name, **kwargs)


@pytest.mark.parametrize("filename", ["tiny.keras", "tiny.h5"])
def test_a_small_cnn_is_accepted_in_both_formats(tmp_path, filename):
    upload = validate_upload(saved(tmp_path, filename), filename, "mnist", DIGITS)
    meta = upload.meta
    assert meta["dataset"] == "mnist" and meta["source"] == "upload" and meta["preset"] == "uploaded"
    assert meta["original_filename"] == filename and meta["input_shape"] == [28, 28, 1]
    assert meta["class_names"] == DIGITS and meta["params"] == upload.model.count_params()
    assert [row["name"] for row in meta["layers"]] == ["conv1", "pool", "flatten", "probabilities"]
    assert upload.notes == []


def test_a_flat_784_mlp_from_a_tutorial_is_accepted_and_predicts(tmp_path):
    from model_store.inference import Predictor

    upload = validate_upload(saved(tmp_path, "mlp.h5", input_shape=(784,)), "mlp.h5", "mnist")
    assert upload.meta["input_shape"] == [784]
    probs = Predictor(upload.model)(np.zeros((28, 28), np.float32)).probabilities
    assert probs.shape == (10,) and probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_a_28x28_input_without_channel_works_with_predictor_and_evaluate(tmp_path):
    from model_store.inference import Predictor
    from training.datasets import Split
    from training.evaluate import evaluate

    upload = validate_upload(saved(tmp_path, "noch.keras", input_shape=(28, 28)), "noch.keras", "mnist")
    assert upload.meta["input_shape"] == [28, 28]
    assert Predictor(upload.model)(np.zeros((28, 28), np.float32)).probabilities.shape == (10,)
    split = Split(np.zeros((5, 28, 28), np.uint8), np.arange(5, dtype=np.uint8))
    assert evaluate(upload.model, split, DIGITS)["count"] == 5


def test_a_model_that_gives_logits_gets_a_softmax(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.save(tmp_path / "logits.keras")
    upload = validate_upload((tmp_path / "logits.keras").read_bytes(), "logits.keras", "fashion-mnist")
    out = np.asarray(upload.model(np.random.default_rng(0).random((2, 28, 28, 1)).astype(np.float32)))
    assert np.allclose(out.sum(axis=1), 1.0, atol=1e-5) and upload.notes[0].code == "note_softmax_added"


def test_an_accepted_upload_can_be_stored_and_reloaded(tmp_path):
    from model_store.store import ModelStore

    upload = validate_upload(saved(tmp_path, "tiny.h5"), "tiny.h5", "mnist", DIGITS)
    store = ModelStore(user_dir=tmp_path / "store", defaults_dir=tmp_path / "none")
    store.save(upload.model, upload.meta, "from colab")
    assert store.load("from colab").count_params() == upload.model.count_params()
    assert store.get("from colab").meta["source"] == "upload"


def truncated(tmp_path) -> bytes:
    data = saved(tmp_path, "t.keras")
    return data[: len(data) // 2]


def png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (28, 28)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(("make", "filename", "reason"), [
    (lambda p: b"", "empty.keras", "the file is empty"),
    (lambda p: png(), "digit.png", "only .keras or .h5"),
    (lambda p: png(), "digit.keras", "it looks like a PNG image"),
    (lambda p: np.random.default_rng(0).bytes(4096), "random.h5", "not an HDF5 (.h5) model file"),
    (lambda p: np.random.default_rng(1).bytes(4096), "random.keras", "damaged or truncated"),
    (truncated, "truncated.keras", "damaged or truncated"),
    (lambda p: saved(p, "lam.keras", lambda_layer=True), "lam.keras", "Lambda layer"),
    (lambda p: saved(p, "lam.h5", lambda_layer=True), "lam.h5", "Lambda layer"),
    (lambda p: saved(p, "rgb.keras", input_shape=(32, 32, 3)), "rgb.keras", "expects input of shape (32, 32, 3)"),
    (lambda p: saved(p, "five.keras", classes=5), "five.keras", "has 5 outputs"),
    (lambda p: saved(p, "x.h5"), "really.keras", "really an HDF5"),
])
def test_bad_files_are_refused_with_the_reason(tmp_path, make, filename, reason):
    with pytest.raises(UploadError, match=None) as refused:
        validate_upload(make(tmp_path), filename, "mnist")
    assert reason in str(refused.value)


def test_a_custom_layer_is_refused_in_safe_mode(tmp_path):
    import keras

    @keras.saving.register_keras_serializable(package="convscope_test")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    model = keras.Sequential([keras.Input((28, 28, 1)), Doubler(), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.save(tmp_path / "custom.h5")
    keras.saving.get_custom_objects().pop("convscope_test>Doubler")  # the server does not have the uploader's code
    with pytest.raises(UploadError, match="custom layer or object"):
        validate_upload((tmp_path / "custom.h5").read_bytes(), "custom.h5", "mnist")


def test_weights_only_h5_is_refused_with_what_to_do(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.save_weights(tmp_path / "only.weights.h5")
    with pytest.raises(UploadError, match="only weights"):
        validate_upload((tmp_path / "only.weights.h5").read_bytes(), "only.h5", "mnist")
