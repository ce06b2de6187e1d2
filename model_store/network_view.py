"""The whole network at once, CNN-Explainer style: every layer's output for one input, and one value opened up.

``read_network(model, image)`` runs the model once (one compiled call of a sub-model built once per model and kept
in ``_NETWORKS``) and returns every layer's output in model order, each described by its name, kind and shape.
``explain_value(model, reading, layer, channel, row, col)`` opens one value of a Conv2D layer's output: the patch of
that layer's input under the kernel (per input channel), the products, their sums, the bias, the activation, and
the separate BatchNormalization / activation layers that follow it, each checked against what the model computed.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from model_store.model_input import shaped

KINDS = ("input", "conv", "batchnorm", "activation", "pool", "dropout", "flatten", "dense", "softmax", "other")
_ACTIVATIONS = ("ReLU", "Activation", "LeakyReLU", "ELU", "PReLU", "Softmax")
_POOLS = ("MaxPooling2D", "AveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling2D")
_CACHED = 8  # sub-models kept (the app keeps at most 8 predictors per server)


@dataclass
class LayerOutput:
    name: str
    kind: str  # one of KINDS
    type: str  # the Keras class name
    values: np.ndarray  # the layer's output for the one input, without the batch axis
    activation: str | None = None  # a fused activation (Conv2D/Dense(activation=...)), None when linear

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)


@dataclass
class Reading:
    layers: list[LayerOutput]  # the input first, then every layer in model order
    conv_inputs: dict[str, np.ndarray]  # each Conv2D layer's input tensor (h, w, c), from the same call

    def layer(self, name: str) -> LayerOutput:
        return next(layer for layer in self.layers[1:] if layer.name == name)  # [0] is the input


@dataclass
class FollowStep:
    """A layer after the convolution that changes the value on its own (BatchNormalization, ReLU, Activation)."""

    name: str
    kind: str
    value: float  # computed here, from the previous step's value
    actual: float  # what the model computed at the same position
    terms: dict = field(default_factory=dict)  # BatchNormalization: mean, variance, epsilon, gamma, beta; else activation

    @property
    def matches(self) -> bool:
        return bool(np.isclose(self.value, self.actual, rtol=1e-3, atol=1e-4))


@dataclass
class ValueExplained:
    layer: str
    channel: int
    row: int
    col: int
    top: int  # where the patch starts in the layer's input (negative or past the edge: padding)
    left: int
    patch: np.ndarray  # (kh, kw, c_in) the input under the kernel, zeros where it lies in the padding
    inside: np.ndarray  # (kh, kw) True where the patch lies in the input, False in the padding
    kernel: np.ndarray  # (kh, kw, c_in) the trained weights of this output channel
    products: np.ndarray  # patch * kernel
    channel_sums: np.ndarray  # (c_in,) the products summed per input channel
    bias: float
    pre_activation: float  # channel_sums.sum() + bias
    activation: str  # the fused activation's name ("linear" when none)
    value: float  # the activation of pre_activation: what this computation says the output is
    actual: float  # the layer's output at (row, col, channel), as the model computed it
    input_channels: list[int]  # which input channels the kernel reads (all of them, unless the conv is grouped)
    then: list[FollowStep] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        scale = 1.0 + float(np.abs(self.products).sum()) + abs(self.bias)
        return abs(self.value - self.actual) <= 1e-5 * scale + 1e-5


def kind_of(layer) -> str:
    name = type(layer).__name__
    activation = getattr(getattr(layer, "activation", None), "__name__", None)
    if name == "Conv2D":
        return "conv"
    if name == "Dense":
        return "softmax" if activation == "softmax" else "dense"
    if name in ("Softmax",) or (name == "Activation" and activation == "softmax"):
        return "softmax"
    if name == "BatchNormalization":
        return "batchnorm"
    if name in _ACTIVATIONS:
        return "activation"
    if name in _POOLS:
        return "pool"
    if name in ("Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout"):
        return "dropout"
    if name in ("Flatten", "Reshape"):
        return "flatten"
    return "other"


def _fused(layer) -> str | None:
    name = getattr(getattr(layer, "activation", None), "__name__", None)
    return None if name in (None, "linear") or type(layer).__name__ == "Activation" else name


class Network:
    """A model's every layer output from one compiled call; built once per model (``network``)."""

    def __init__(self, model):
        import keras
        import tensorflow as tf

        self.input_shape = tuple(model.inputs[0].shape[1:])
        self.layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
        outputs = [layer.output for layer in self.layers]
        known = {id(tensor): i for i, tensor in enumerate(outputs)}
        self.conv_input = {}  # conv layer name -> index in the outputs, or None for the model's input
        for layer in self.layers:
            if isinstance(layer, keras.layers.Conv2D):
                tensor = layer.input
                if tensor is model.inputs[0]:
                    self.conv_input[layer.name] = None
                else:
                    if id(tensor) not in known:  # a functional model's tensor that no listed layer outputs
                        known[id(tensor)] = len(outputs)
                        outputs.append(tensor)
                    self.conv_input[layer.name] = known[id(tensor)]
        probe = keras.Model(model.inputs, outputs)
        self.probe = probe

        signature = [tf.TensorSpec((None, *self.input_shape), tf.float32)]
        self.calls = 0
        # XLA: ~3 ms for every layer of convscope-digits on our CPUs, against ~12 ms for a plain tf.function, whose
        # fused convolution + BatchNorm + ReLU kernels come apart when each layer's output is asked for. Plain
        # tf.function where XLA cannot compile the model (the first call, below, tells).
        for xla in (True, False):
            self._forward = tf.function(lambda x: probe(x, training=False), input_signature=signature,
                                        jit_compile=xla, reduce_retracing=True)
            try:
                self.read(np.zeros(self.input_shape, np.float32))  # compile now, not on the first drawing
                break
            except Exception:
                if not xla:
                    raise
        self.xla = xla

    def read(self, image: np.ndarray) -> Reading:
        self.calls += 1
        x = shaped(image, self.input_shape)[:1]
        outputs = self._forward(x)
        outputs = [np.asarray(o)[0] for o in (outputs if isinstance(outputs, list | tuple) else [outputs])]
        layers = [LayerOutput("input", "input", "Input", x[0])]
        layers += [LayerOutput(layer.name, kind_of(layer), type(layer).__name__, values, _fused(layer))
                   for layer, values in zip(self.layers, outputs)]
        conv_inputs = {name: x[0] if index is None else outputs[index] for name, index in self.conv_input.items()}
        return Reading(layers, conv_inputs)


_NETWORKS: OrderedDict[int, tuple[weakref.ref, Network]] = OrderedDict()
_BUILDING = threading.Lock()
built = 0  # how many sub-models were built in this process (the tests check the cache with it)


def network(model) -> Network:
    """The ``Network`` of ``model``, built on the first call and kept for the next ones (the last few models)."""
    global built
    with _BUILDING:
        entry = _NETWORKS.get(id(model))
        if entry is not None and entry[0]() is model:
            _NETWORKS.move_to_end(id(model))
            return entry[1]
        net = Network(model)
        built += 1
        _NETWORKS[id(model)] = (weakref.ref(model), net)
        while len(_NETWORKS) > _CACHED:
            _NETWORKS.popitem(last=False)
        return net


def read_network(model, image: np.ndarray) -> Reading:
    """Every layer's output for one (28, 28) float image in [0, 1], in model order, from one call."""
    return network(model).read(image)


def _offsets(size: int, out: int, k: int, stride: int, dilation: int, padding: str) -> int:
    """Padding before the first row (or column): 'valid' none, 'same' as TensorFlow pads (the extra one after)."""
    if padding == "valid":
        return 0
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2


def _activate(name: str, fn, x: float) -> float:
    simple = {"linear": lambda v: v, "relu": lambda v: max(v, 0.0), "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
              "tanh": np.tanh}
    if name in simple:
        return float(simple[name](x))
    return float(np.asarray(fn(np.array([[x]], np.float32))).ravel()[0])


def explain_value(model, reading: Reading, layer_name: str, channel: int, row: int, col: int) -> ValueExplained:
    """One value of Conv2D layer ``layer_name``'s output at (``row``, ``col``, ``channel``), computed by hand."""
    layer = model.get_layer(layer_name)
    if kind_of(layer) != "conv":
        raise ValueError(f"{layer_name} is not a Conv2D layer")
    if layer.data_format != "channels_last":
        raise ValueError("only channels_last convolutions can be explained")
    source = np.asarray(reading.conv_inputs[layer_name], np.float64)
    output = reading.layer(layer_name).values
    out_h, out_w, out_c = output.shape
    if not (0 <= channel < out_c and 0 <= row < out_h and 0 <= col < out_w):
        raise ValueError(f"({row}, {col}, channel {channel}) is outside the {out_h}x{out_w}x{out_c} output")
    weights = np.asarray(layer.kernel, np.float64)  # (kh, kw, c_in / groups, out)
    kh, kw, per_group, _ = weights.shape
    group = channel // (out_c // layer.groups)
    input_channels = list(range(group * per_group, (group + 1) * per_group))
    (sh, sw), (dh, dw) = layer.strides, layer.dilation_rate
    top = row * sh - _offsets(source.shape[0], out_h, kh, sh, dh, layer.padding)
    left = col * sw - _offsets(source.shape[1], out_w, kw, sw, dw, layer.padding)
    rows, cols = top + np.arange(kh) * dh, left + np.arange(kw) * dw
    inside = ((rows >= 0) & (rows < source.shape[0]))[:, None] & ((cols >= 0) & (cols < source.shape[1]))[None, :]
    patch = np.zeros((kh, kw, per_group))
    picked = source[np.clip(rows, 0, source.shape[0] - 1)][:, np.clip(cols, 0, source.shape[1] - 1)][..., input_channels]
    patch[inside] = picked[inside]
    kernel = weights[..., channel]
    products = patch * kernel
    sums = products.sum(axis=(0, 1))
    bias = float(np.asarray(layer.bias)[channel]) if layer.use_bias else 0.0
    pre = float(sums.sum()) + bias
    name = getattr(layer.activation, "__name__", "linear")
    explained = ValueExplained(layer_name, channel, row, col, int(top), int(left), patch, inside, kernel, products,
                               sums, bias, pre, name, _activate(name, layer.activation, pre),
                               float(output[row, col, channel]), input_channels)
    explained.then = _following(model, reading, layer, explained.value, (row, col, channel))
    return explained


def _following(model, reading: Reading, conv, value: float, at: tuple[int, int, int]) -> list[FollowStep]:
    """The BatchNormalization and activation layers right after ``conv`` in a Sequential model, applied by hand."""
    import keras

    if not isinstance(model, keras.Sequential):
        return []
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    steps = []
    for layer in layers[layers.index(conv) + 1:]:
        kind, c = kind_of(layer), at[2]
        terms = {}
        if kind == "batchnorm" and layer.axis in (-1, 3):
            mean, var = float(np.asarray(layer.moving_mean)[c]), float(np.asarray(layer.moving_variance)[c])
            gamma = float(np.asarray(layer.gamma)[c]) if layer.scale else 1.0
            beta = float(np.asarray(layer.beta)[c]) if layer.center else 0.0
            terms = {"mean": mean, "variance": var, "epsilon": float(layer.epsilon), "gamma": gamma, "beta": beta}
            value = (value - mean) / np.sqrt(var + layer.epsilon) * gamma + beta
        elif type(layer).__name__ == "ReLU":
            terms = {"activation": "relu"}
            slope, threshold = float(layer.negative_slope), float(layer.threshold)
            value = value if value >= threshold else slope * (value - threshold) + 0.0  # + 0.0: no -0
            if layer.max_value is not None:
                value = min(value, float(layer.max_value))
        elif type(layer).__name__ == "LeakyReLU":
            terms = {"activation": "leaky_relu"}
            value = value if value >= 0 else float(layer.negative_slope) * value + 0.0
        elif type(layer).__name__ == "Activation" and kind == "activation":
            terms = {"activation": layer.activation.__name__}
            value = _activate(layer.activation.__name__, layer.activation, value)
        else:
            break
        steps.append(FollowStep(layer.name, kind, float(value), float(reading.layer(layer.name).values[at]), terms))
    return steps
