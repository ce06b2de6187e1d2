"""model_store.inference.Predictor: probabilities equal the model's, and every Conv2D's feature maps come out too."""

from __future__ import annotations

import numpy as np
import pytest

from model_store.inference import FeatureMaps, Prediction, Predictor
from training import presets


def images(n: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 28, 28)).astype(np.float32)


def layer_output(model, name: str, x: np.ndarray) -> np.ndarray:
    import keras

    return np.asarray(keras.Model(model.inputs, model.get_layer(name).output)(x, training=False))


@pytest.fixture(scope="module")
def conv_predictor(conv_model):
    return Predictor(conv_model)


@pytest.fixture(scope="module")
def digits_model():
    return presets.build("convscope-digits")


def test_probabilities_match_the_model(conv_model, conv_predictor):
    x = images(1)[0]
    prediction = conv_predictor(x)
    assert isinstance(prediction, Prediction)
    assert prediction.probabilities.shape == (10,)
    assert prediction.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    expected = np.asarray(conv_model(x[None, :, :, None], training=False))[0]
    np.testing.assert_allclose(prediction.probabilities, expected, atol=1e-5)
    assert prediction.label == int(np.argmax(expected))
    assert prediction.confidence == pytest.approx(float(expected.max()), abs=1e-6)


def test_batch_probabilities_match_the_model(conv_model, conv_predictor):
    x = images(5, seed=1)
    probs, maps = conv_predictor.predict_batch(x)
    assert probs.shape == (5, 10)
    np.testing.assert_allclose(probs.sum(axis=1), np.ones(5), atol=1e-5)
    np.testing.assert_allclose(probs, np.asarray(conv_model(x[..., None], training=False)), atol=1e-5)
    np.testing.assert_allclose(conv_predictor.probabilities(x), probs, atol=0)
    assert [m.shape for m in maps] == [(5, 26, 26, 4), (5, 13, 13, 6)]
    # one image at a time gives the same as the batch
    np.testing.assert_allclose(conv_predictor(x[3]).probabilities, probs[3], atol=1e-5)


def test_accepts_an_image_with_a_channel_axis(conv_predictor):
    x = images(1, seed=2)[0]
    np.testing.assert_allclose(conv_predictor(x[..., None]).probabilities, conv_predictor(x).probabilities, atol=1e-6)


def test_feature_maps_of_every_conv_layer(conv_model, conv_predictor):
    x = images(1, seed=3)
    prediction = conv_predictor(x[0])
    assert conv_predictor.has_conv
    assert conv_predictor.conv_layers == [("c1", []), ("c2", ["ReLU"])]
    assert [fm.layer for fm in prediction.feature_maps] == ["c1", "c2"]
    assert all(isinstance(fm, FeatureMaps) for fm in prediction.feature_maps)
    c1, c2 = prediction.feature_maps
    assert c1.shape == (26, 26, 4) and c1.after == []
    assert c2.shape == (13, 13, 6) and c2.after == ["ReLU"]
    np.testing.assert_allclose(c1.maps, layer_output(conv_model, "c1", x[..., None])[0], atol=1e-5)
    # c2's maps are read after its ReLU: the convolution's own output has negatives, the maps have none
    np.testing.assert_allclose(c2.maps, layer_output(conv_model, "c2_relu", x[..., None])[0], atol=1e-5)
    assert layer_output(conv_model, "c2", x[..., None]).min() < 0 <= c2.maps.min()
    assert c1.maps.min() < 0  # no tail after c1: nothing folded, negatives stay


def test_batch_norm_and_relu_are_folded_into_the_conv_block(digits_model):
    predictor = Predictor(digits_model)
    assert predictor.conv_layers == [(f"conv{i}", ["BatchNormalization", "ReLU"]) for i in range(1, 5)]
    x = images(1, seed=4)
    prediction = predictor(x[0])
    assert [fm.shape for fm in prediction.feature_maps] == [(28, 28, 32), (28, 28, 32), (14, 14, 64), (14, 14, 64)]
    for fm in prediction.feature_maps:
        assert fm.after == ["BatchNormalization", "ReLU"]
        assert fm.maps.min() >= 0.0
        np.testing.assert_allclose(fm.maps, layer_output(digits_model, f"{fm.layer}_relu", x[..., None])[0], atol=1e-4)
    np.testing.assert_allclose(prediction.probabilities, np.asarray(digits_model(x[..., None], training=False))[0],
                               atol=1e-5)


def test_dropout_between_blocks_is_not_folded():
    predictor = Predictor(presets.build("book-cnn"))
    assert predictor.conv_layers == [("conv1", []), ("conv2", [])]  # activation inside the Conv2D, no tail layer


def test_functional_model_maps_come_straight_from_the_conv():
    import keras

    inputs = keras.Input((28, 28, 1))
    conv = keras.layers.Conv2D(3, 5, name="fconv")(inputs)
    relu = keras.layers.ReLU(name="frelu")(conv)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(relu))
    model = keras.Model(inputs, outputs)
    predictor = Predictor(model)
    assert predictor.conv_layers == [("fconv", [])]
    x = images(1, seed=5)
    fm = predictor(x[0]).feature_maps[0]
    assert fm.shape == (24, 24, 3)
    np.testing.assert_allclose(fm.maps, layer_output(model, "fconv", x[..., None])[0], atol=1e-5)


def flat_mlp():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((784,)), keras.layers.Dense(32, activation="relu"),
                             keras.layers.Dense(10, activation="softmax")])


def test_flat_784_mlp_has_no_feature_maps():
    predictor = Predictor(flat_mlp())
    assert predictor.flat and not predictor.has_conv and predictor.conv_layers == []
    assert predictor(images(1, seed=6)[0]).feature_maps == []


def test_model_without_conv_has_no_feature_maps(tiny_model):
    predictor = Predictor(tiny_model)
    assert not predictor.has_conv and not predictor.flat and predictor.conv_layers == []
    assert predictor(images(1, seed=7)[0]).feature_maps == []


def test_flat_784_mlp_probabilities():
    model = flat_mlp()
    predictor = Predictor(model)
    x = images(3, seed=6)
    prediction = predictor(x[0])
    assert prediction.probabilities.shape == (10,)
    np.testing.assert_allclose(prediction.probabilities, np.asarray(model(x[:1].reshape(1, 784)))[0], atol=1e-5)
    probs, maps = predictor.predict_batch(x)
    assert maps == [] and probs.shape == (3, 10)
    np.testing.assert_allclose(probs, np.asarray(model(x.reshape(3, 784))), atol=1e-5)


def test_mlp_baseline_preset_probabilities():
    model = presets.build("mlp-baseline")
    predictor = Predictor(model)
    x = images(4, seed=7)
    probs, maps = predictor.predict_batch(x)
    assert maps == [] and probs.shape == (4, 10)
    np.testing.assert_allclose(probs, np.asarray(model(x[..., None])), atol=1e-5)
    assert predictor(x[0]).probabilities.shape == (10,)


def test_model_taking_28x28_without_channel_axis():
    import keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Reshape((28, 28, 1)),
                              keras.layers.Conv2D(2, 3, name="rc"), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    predictor = Predictor(model)
    assert not predictor.flat and predictor.input_shape == (28, 28)
    x = images(2, seed=8)
    np.testing.assert_allclose(predictor.probabilities(x), np.asarray(model(x)), atol=1e-5)
    assert predictor(x[0]).feature_maps[0].shape == (26, 26, 2)


def test_predictor_of_a_stored_model(store, conv_model):
    from tests.unit.unit_data import meta_for

    store.save(conv_model, meta_for(), "stored")
    predictor = Predictor(store.load("stored"))
    x = images(1, seed=9)[0]
    np.testing.assert_allclose(predictor(x).probabilities, Predictor(conv_model)(x).probabilities, atol=1e-5)
    assert [name for name, _ in predictor.conv_layers] == ["c1", "c2"]
