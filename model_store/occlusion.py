"""What the answer depends on, found by covering parts of the input or switching filters off.

Occlusion: a black patch (the background of MNIST-style inputs, so it erases ink rather than adding any) slides
over the image; every covered copy goes into one batched model call, and each pixel gets the mean drop
in the class's probability over the patches that covered it. Unlike Grad-CAM and saliency it needs no gradients:
it shows what happens when evidence is removed.

Ablation: the prediction with chosen filters (channels) of one Conv2D layer switched off. The mask multiplies the
layer's block output (after its BatchNormalization and ReLU, as ``conv_taps`` finds it), where zero means "this
filter saw nothing"; zeroing before the BatchNormalization would turn into its shift instead. The model with the mask
is built once per (model, layer) and kept, so a toggle is one compiled call (a few milliseconds).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from model_store.inference import conv_taps
from model_store.model_input import SIDE, shaped

PATCH = 6
STRIDE = 2
FILL = 0.0  # the background of the model's inputs
KEPT_MODELS = 8  # masked models kept (each a few KB beside the model it shares weights with)


# ---- a model with switchable filters -------------------------------------------------------------------------------
class Ablation:
    """The model's probabilities with chosen filters of one Conv2D layer (or none: ``layer=None``) switched off."""

    def __init__(self, model, layer: str | None = None):
        import keras
        import tensorflow as tf

        self.layer = layer
        self.input_shape = tuple(model.inputs[0].shape[1:])
        self.filters = 0
        target = None
        if layer is not None:
            taps = {conv.name: (conv, tap) for conv, tap, _ in conv_taps(model)}
            if layer not in taps:
                raise ValueError(f"{layer!r} is not a Conv2D layer of this model")
            conv, target = taps[layer]
            self.filters = int(conv.filters)
        self._mask = tf.Variable(tf.ones((max(self.filters, 1),)), trainable=False, name="filter_mask")
        mask = self._mask

        def call(op, *args, **kwargs):  # the model's own layers, with the mask after the target block
            out = op(*args, **kwargs)
            return out * mask if op is target else out

        functional = keras.Model(model.inputs, model.outputs)  # clone_model inserts calls in functional graphs only
        masked = keras.models.clone_model(functional, clone_function=lambda op: op, call_function=call)

        @tf.function(input_signature=[tf.TensorSpec((None, *self.input_shape), tf.float32)], reduce_retracing=True)
        def forward(x):
            return masked([x], training=False)

        self._forward = forward
        self._lock = threading.Lock()  # the mask is shared state: one call at a time
        self.probabilities(np.zeros((1, SIDE, SIDE), np.float32))  # trace now, not on the first toggle

    def probabilities(self, images: np.ndarray, off: Sequence[int] = ()) -> np.ndarray:
        """(n, 28, 28) floats in [0, 1] -> (n, classes), with the filters ``off`` switched off."""
        mask = np.ones(self._mask.shape, np.float32)
        off = [int(i) for i in off]
        if off and self.layer is None:
            raise ValueError("no layer chosen, so there are no filters to switch off")
        if any(not 0 <= i < self.filters for i in off):
            raise ValueError(f"filters are numbered 0 to {self.filters - 1}")
        mask[off] = 0.0
        x = shaped(images, self.input_shape)
        with self._lock:
            self._mask.assign(mask)
            return np.asarray(self._forward(x))


_KEPT: OrderedDict[tuple[int, str | None], tuple[object, Ablation]] = OrderedDict()
_KEPT_LOCK = threading.Lock()


def ablation(model, layer: str | None) -> Ablation:
    """The ``Ablation`` of ``model`` at ``layer``, built on first use and kept for the most recent few (model, layer)
    pairs: the entry holds the model too, so its id cannot be reused by another model while it is kept."""
    key = (id(model), layer)
    with _KEPT_LOCK:
        if key in _KEPT:
            _KEPT.move_to_end(key)
            return _KEPT[key][1]
    built = Ablation(model, layer)
    with _KEPT_LOCK:
        _KEPT[key] = (model, built)
        _KEPT.move_to_end(key)
        while len(_KEPT) > KEPT_MODELS:
            _KEPT.popitem(last=False)
    return built


@dataclass(frozen=True)
class AblationResult:
    before: np.ndarray  # (classes,) all filters on
    after: np.ndarray  # (classes,) with the chosen filters off
    off: tuple[int, ...]

    @property
    def changed(self) -> bool:
        return int(np.argmax(self.before)) != int(np.argmax(self.after))


def switch_off(model, image: np.ndarray, layer: str, off: Sequence[int]) -> AblationResult:
    """The prediction for one (28, 28) image before and after switching off filters ``off`` of ``layer``."""
    masked = ablation(model, layer)
    before = masked.probabilities(np.asarray(image)[None])[0]
    after = masked.probabilities(np.asarray(image)[None], off)[0] if len(off) else before
    return AblationResult(before, after, tuple(int(i) for i in off))


# ---- occlusion -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OcclusionMap:
    drop: np.ndarray  # (28, 28): mean drop in the class's probability when a patch covered that pixel
    class_index: int
    probability: float  # the class's probability on the whole image
    patch: int
    stride: int

    @property
    def most_needed(self) -> tuple[int, int]:
        """(row, column) of the pixel whose covering hurt the answer most."""
        return tuple(int(i) for i in np.unravel_index(int(np.argmax(self.drop)), self.drop.shape))


def patch_corners(side: int = SIDE, patch: int = PATCH, stride: int = STRIDE) -> list[int]:
    """Where patches start along one side: every ``stride`` pixels, the last one flush with the edge."""
    if not 0 < patch <= side or stride < 1:
        raise ValueError(f"a patch must be 1 to {side} pixels and move at least 1 pixel")
    starts = list(range(0, side - patch + 1, stride))
    if starts[-1] != side - patch:
        starts.append(side - patch)
    return starts


def occluded_copies(image: np.ndarray, patch: int = PATCH, stride: int = STRIDE,
                    fill: float = FILL) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Copies of ``image`` with one square covered each, and each cover's (row, column) corner."""
    image = np.asarray(image, np.float32).reshape(SIDE, SIDE)
    corners = [(r, c) for r in patch_corners(SIDE, patch, stride) for c in patch_corners(SIDE, patch, stride)]
    copies = np.repeat(image[None], len(corners), axis=0)
    for copy, (r, c) in zip(copies, corners):
        copy[r:r + patch, c:c + patch] = fill
    return copies, corners


def occlusion_map(model, image: np.ndarray, class_index: int | None = None, patch: int = PATCH,
                  stride: int = STRIDE, fill: float = FILL) -> OcclusionMap:
    """The occlusion map of ``class_index`` (default: the predicted class) for one (28, 28) image: the whole image and
    every covered copy in one model call."""
    copies, corners = occluded_copies(image, patch, stride, fill)
    batch = np.concatenate([np.asarray(image, np.float32).reshape(1, SIDE, SIDE), copies])
    probabilities = ablation(model, None).probabilities(batch)
    if class_index is None:
        class_index = int(np.argmax(probabilities[0]))
    base = float(probabilities[0, class_index])
    drops = base - probabilities[1:, class_index]
    total = np.zeros((SIDE, SIDE), np.float64)
    covered = np.zeros((SIDE, SIDE), np.int64)
    for drop, (r, c) in zip(drops, corners):
        total[r:r + patch, c:c + patch] += drop
        covered[r:r + patch, c:c + patch] += 1
    return OcclusionMap((total / np.maximum(covered, 1)).astype(np.float32), int(class_index), base, patch, stride)
