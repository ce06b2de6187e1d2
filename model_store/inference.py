"""One input in, probabilities and every Conv2D layer's feature maps out, from one compiled call.

``model.predict`` costs ~70 ms per call on our machines because it builds a data pipeline each time;
a ``tf.function`` with a fixed input signature costs ~1 ms. Build a ``Predictor`` once per model
(the app caches it per server) and call it for every drawing.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import numpy as np

from model_store.model_input import SIDE, shaped
from model_store.refusal import Refusal

# Layers that finish a convolution block: the map a student wants to see is after them.
_BLOCK_TAIL = ("BatchNormalization", "ReLU", "Activation", "LeakyReLU", "ELU", "PReLU")


@dataclass
class FeatureMaps:
    layer: str  # the Conv2D layer's name
    maps: np.ndarray  # (height, width, channels)
    after: list[str] = field(default_factory=list)  # layers folded in after the convolution (BN, ReLU)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.maps.shape)


@dataclass
class Prediction:
    probabilities: np.ndarray  # (10,)
    feature_maps: list[FeatureMaps]

    @property
    def label(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def confidence(self) -> float:
        return float(np.max(self.probabilities))


def conv_taps(model):
    """(conv layer, tensor to read, names of layers folded in) for every Conv2D, in order."""
    import keras

    layers = list(model.layers)
    taps = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        tap, after = layer, []
        sequential = isinstance(model, keras.Sequential)
        j = i + 1
        while sequential and j < len(layers) and type(layers[j]).__name__ in _BLOCK_TAIL:
            tap = layers[j]
            after.append(type(layers[j]).__name__)
            j += 1
        taps.append((layer, tap, after))
    return taps


BACKGROUND_NICE = 10
_CONVERSIONS = threading.Lock()


class Predictor:
    """Wraps a loaded Keras model for fast single-input inference."""

    def __init__(self, model, litert: bool = False, convert_in_background: bool = False, litert_cache=None):
        """``litert``: answer single images through LiteRT once it is converted and checked (model_store/litert.py).
        ``convert_in_background``: do that conversion (~2 s) in a thread and answer through ``tf.function`` until
        it is ready, so that the app's first drawing does not wait for it. ``litert_cache``: a file that keeps
        the converted model between server starts (see ``litert.build``)."""
        import keras
        import tensorflow as tf

        self.model = model
        input_shape = tuple(model.inputs[0].shape[1:])
        self.flat = len(input_shape) == 1
        self.input_shape = input_shape
        taps = conv_taps(model)
        self.conv_layers = [(conv.name, after) for conv, _, after in taps]
        outputs = [tap.output for _, tap, _ in taps] + [model.outputs[0]]
        probe = keras.Model(model.inputs, outputs)
        self.probe = probe  # the model behind one call: every block's maps, then the probabilities
        signature = [tf.TensorSpec((None, *input_shape), tf.float32)]

        @tf.function(input_signature=signature, reduce_retracing=True)
        def forward(x):
            return probe(x, training=False)

        self._forward = forward
        self.lite = None
        self._litert_cache = litert_cache
        self._converting = None
        self.predict_batch(np.zeros((1, SIDE, SIDE), np.float32))  # trace now, not on the first drawing
        if litert and convert_in_background:
            # Not a daemon: a TensorFlow call cut off at interpreter exit aborts the process.
            self._converting = threading.Thread(target=self._convert_in_background, name="LiteRT conversion")
            self._converting.start()
        elif litert:
            self._convert()

    def _convert(self) -> None:
        from model_store import litert as lite

        self.lite = lite.build(self.probe, self.input_shape, lambda x: self._outputs(self._forward(x)),
                               cache=self._litert_cache)

    def _convert_in_background(self) -> None:
        """One conversion at a time, at a lower priority than the server's other threads: at start-up the
        models' loading and the first pages come first, the conversions (~2 s of CPU each) after them."""
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)  # this thread only (Linux)
        except (AttributeError, OSError):
            pass
        with _CONVERSIONS:
            self._convert()

    def wait_for_litert(self, timeout: float | None = None) -> bool:
        """Wait for a background conversion; True when single images now go through LiteRT."""
        if self._converting is not None:
            self._converting.join(timeout)
        return self.lite is not None

    @staticmethod
    def _outputs(outputs) -> list[np.ndarray]:
        if not isinstance(outputs, list | tuple):  # a model without Conv2D layers: Keras returns the lone output bare
            outputs = [outputs]
        return [np.asarray(o) for o in outputs]

    @property
    def has_conv(self) -> bool:
        return bool(self.conv_layers)

    def predict_batch(self, images: np.ndarray):
        """(n, 28, 28) floats in [0, 1] -> (probabilities (n, 10), [maps (n, h, w, c) per conv layer])."""
        x = shaped(images, self.input_shape)
        if self.lite is not None and len(x) == 1:
            outputs = self.lite(x[0])
        else:
            outputs = self._outputs(self._forward(x))
        return outputs[-1], outputs[:-1]

    def __call__(self, image: np.ndarray) -> Prediction:
        """One (28, 28) float image in [0, 1] -> probabilities and all feature maps."""
        probs, maps = self.predict_batch(np.asarray(image, np.float32)[None])
        return Prediction(
            probabilities=probs[0],
            feature_maps=[FeatureMaps(name, m[0], after) for (name, after), m in zip(self.conv_layers, maps)],
        )

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return self.predict_batch(images)[0]


def check_reading(prediction: Prediction, class_count: int) -> Prediction:
    """``prediction`` if it can be shown as one probability per class, else a ``Refusal``: NaN or infinite
    outputs (a model whose training diverged) would show as "nan%" with every bar full."""
    if not np.all(np.isfinite(prediction.probabilities)):
        raise Refusal("prediction_not_finite")
    if len(prediction.probabilities) != class_count:
        raise Refusal("class_names_mismatch", outputs=len(prediction.probabilities), names=class_count)
    return prediction

