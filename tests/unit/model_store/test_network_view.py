"""model_store.network_view: every layer's output from one call (in model order, with kinds and shapes), one Conv2D
value computed by hand equal to the layer's output (fused ReLU; BatchNorm + ReLU after it; 'same' padding with
stride 2), and the sub-model built once per model."""

from __future__ import annotations

import numpy as np
import pytest

from model_store import network_view as nv


def image(seed: int = 0) -> np.ndarray:
    """A bright stroke on a dark background with some noise: values that make every sign of product appear."""
    rng = np.random.default_rng(seed)
    x = rng.random((28, 28)).astype(np.float32) * 0.2
    x[6:22, 12:16] = 0.9
    return x


def randomise(model, seed: int = 1) -> None:
    """Biases and BatchNorm statistics away from their initial 0 and 1, so that a term left out shows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if type(layer).__name__ == "BatchNormalization":  # gamma, beta, moving mean, moving variance
            layer.set_weights([rng.uniform(0.5, 2, w.shape).astype(np.float32) if i in (0, 3)
                               else rng.normal(0, 0.5, w.shape).astype(np.float32) for i, w in enumerate(weights)])
        elif len(weights) == 2:  # kernel, bias
            layer.set_weights([weights[0], rng.normal(0, 0.3, weights[1].shape).astype(np.float32)])


@pytest.fixture(scope="module")
def fused():
    """Conv2D(activation='relu') blocks and a Dense head, as the tutorials' models."""
    import keras

    L = keras.layers
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(4, 3, activation="relu", name="conv1"),
        L.MaxPooling2D(2, name="pool"),
        L.Conv2D(3, 3, activation="relu", name="conv2"),
        L.Flatten(name="flatten"),
        L.Dense(8, activation="relu", name="dense"),
        L.Dropout(0.5, name="dropout"),
        L.Dense(10, activation="softmax", name="probabilities"),
    ])
    randomise(model)
    return model


@pytest.fixture(scope="module")
def batchnorm():
    """Conv2D (no bias) -> BatchNormalization -> ReLU, as our presets; then a strided 'same' conv + Activation."""
    import keras

    L = keras.layers
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(4, 3, padding="same", use_bias=False, name="conv1"),
        L.BatchNormalization(name="conv1_bn"),
        L.ReLU(name="conv1_relu"),
        L.Conv2D(5, 5, strides=2, padding="same", name="conv2"),
        L.Activation("relu", name="conv2_relu"),
        L.GlobalAveragePooling2D(name="gap"),
        L.Dense(10, activation="softmax", name="probabilities"),
    ])
    randomise(model)
    return model


def test_every_layer_in_model_order_with_its_kind_and_shape(fused):
    reading = nv.read_network(fused, image())
    assert [(layer.name, layer.kind, layer.shape) for layer in reading.layers] == [
        ("input", "input", (28, 28, 1)),
        ("conv1", "conv", (26, 26, 4)),
        ("pool", "pool", (13, 13, 4)),
        ("conv2", "conv", (11, 11, 3)),
        ("flatten", "flatten", (363,)),
        ("dense", "dense", (8,)),
        ("dropout", "dropout", (8,)),
        ("probabilities", "softmax", (10,)),
    ]
    assert [layer.activation for layer in reading.layers[1:]] == ["relu", None, "relu", None, "relu", None, "softmax"]
    x = image()[None, :, :, None]
    np.testing.assert_allclose(reading.layer("probabilities").values, np.asarray(fused(x, training=False))[0], atol=1e-5)
    np.testing.assert_allclose(reading.conv_inputs["conv2"], reading.layer("pool").values)  # conv2 reads the pooled maps
    np.testing.assert_allclose(reading.conv_inputs["conv1"], x[0])
    assert reading.layer("dropout").values.tolist() == reading.layer("dense").values.tolist()  # inference: a no-op


def test_a_value_of_a_fused_relu_conv_is_its_patch_times_kernel(fused):
    reading = nv.read_network(fused, image())
    for layer, c_in in (("conv1", 1), ("conv2", 4)):
        out = reading.layer(layer).values
        for channel in range(out.shape[2]):
            for row, col in ((0, 0), (5, 7), (out.shape[0] - 1, out.shape[1] - 1)):
                e = nv.explain_value(fused, reading, layer, channel, row, col)
                assert e.patch.shape == e.kernel.shape == (3, 3, c_in) and e.inside.all()
                np.testing.assert_allclose(e.patch, reading.conv_inputs[layer][row:row + 3, col:col + 3])
                assert e.pre_activation == pytest.approx(float((e.patch * e.kernel).sum()) + e.bias, abs=1e-9)
                assert e.bias != 0 and e.activation == "relu" and e.then == []
                assert e.value == pytest.approx(max(e.pre_activation, 0.0), abs=1e-9)
                assert e.actual == pytest.approx(float(out[row, col, channel]), abs=0)
                assert e.matches, (layer, channel, row, col, e.value, e.actual)
    # the ReLU at work somewhere: a negative sum that the layer's output shows as 0
    values = [nv.explain_value(fused, reading, "conv2", k, r, c) for k in range(3) for r in range(11) for c in range(11)]
    negative = [e for e in values if e.pre_activation < 0]
    assert negative and all(e.value == 0 and e.actual == 0 for e in negative)


def test_batchnorm_and_relu_after_the_conv_are_followed_and_checked(batchnorm):
    reading = nv.read_network(batchnorm, image(2))
    out = reading.layer("conv1").values
    for row, col, channel in ((0, 0, 0), (14, 13, 1), (27, 27, 3), (10, 20, 2)):
        e = nv.explain_value(batchnorm, reading, "conv1", channel, row, col)
        assert e.bias == 0 and e.activation == "linear" and e.value == pytest.approx(e.pre_activation)
        assert e.matches and e.actual == pytest.approx(float(out[row, col, channel]), abs=0)
        bn, relu = e.then
        assert (bn.name, bn.kind, relu.name, relu.kind) == ("conv1_bn", "batchnorm", "conv1_relu", "activation")
        terms = bn.terms
        expected = (e.value - terms["mean"]) / np.sqrt(terms["variance"] + terms["epsilon"]) * terms["gamma"] + terms["beta"]
        assert bn.value == pytest.approx(expected) and bn.matches
        assert bn.actual == pytest.approx(float(reading.layer("conv1_bn").values[row, col, channel]), abs=0)
        assert relu.value == max(bn.value, 0.0) and relu.matches
    corner = nv.explain_value(batchnorm, reading, "conv1", 0, 0, 0)  # 'same': the corner's patch is half padding
    assert corner.top == corner.left == -1
    assert corner.inside.tolist() == [[False, False, False], [False, True, True], [False, True, True]]
    assert not corner.patch[~corner.inside].any()


def test_same_padding_with_stride_2_everywhere(batchnorm):
    reading = nv.read_network(batchnorm, image(3))
    out = reading.layer("conv2").values
    assert out.shape == (14, 14, 5) and reading.conv_inputs["conv2"].shape == (28, 28, 4)
    np.testing.assert_allclose(reading.conv_inputs["conv2"], reading.layer("conv1_relu").values)
    for channel in (0, 4):
        for row in range(14):
            for col in range(14):
                e = nv.explain_value(batchnorm, reading, "conv2", channel, row, col)
                # TensorFlow pads 'same' (28 -> 14, 5x5, stride 2) with 1 before and 2 after
                assert (e.top, e.left) == (2 * row - 1, 2 * col - 1)
                assert e.matches, (channel, row, col, e.value, e.actual)
                assert [s.name for s in e.then] == ["conv2_relu"] and e.then[0].matches
    last = nv.explain_value(batchnorm, reading, "conv2", 1, 13, 13)
    assert last.inside[:3, :3].all() and not last.inside[3:].any() and not last.inside[:, 3:].any()
    assert len(last.channel_sums) == 4
    assert last.pre_activation == pytest.approx(float(last.channel_sums.sum()) + last.bias)


def test_a_wrong_kernel_is_caught():
    """The check compares with what the model computed: a kernel changed after the reading no longer matches."""
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(2, 3, name="conv")])
    reading = nv.read_network(model, image())
    assert nv.explain_value(model, reading, "conv", 1, 12, 13).matches
    kernel, bias = model.get_layer("conv").get_weights()
    kernel[1, 1, 0, 1] += 0.5
    model.get_layer("conv").set_weights([kernel, bias])
    e = nv.explain_value(model, reading, "conv", 1, 12, 13)
    assert not e.matches and e.value - e.actual == pytest.approx(0.5 * image()[13, 14], rel=1e-4)


def test_only_conv_positions_inside_the_output_are_explained(fused):
    reading = nv.read_network(fused, image())
    with pytest.raises(ValueError, match="outside"):
        nv.explain_value(fused, reading, "conv1", 0, 26, 0)
    with pytest.raises(ValueError, match="outside"):
        nv.explain_value(fused, reading, "conv1", 4, 0, 0)
    with pytest.raises(ValueError, match="not a Conv2D"):
        nv.explain_value(fused, reading, "dense", 0, 0, 0)


def test_the_sub_model_is_built_once_per_model(fused, batchnorm):
    first = nv.network(fused)
    built = nv.built
    calls = first.calls
    for seed in range(3):
        nv.read_network(fused, image(seed))
    assert nv.network(fused) is first and nv.built == built  # no new sub-model for the same model
    assert first.calls == calls + 3  # and every reading went through it
    assert nv.network(batchnorm) is not first
    assert nv.network(batchnorm) is nv.network(batchnorm)
