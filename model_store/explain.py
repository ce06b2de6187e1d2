"""Why did the model say that? Grad-CAM and gradient saliency for one input.

Grad-CAM weights a convolution layer's maps by how much the class score grows with each channel,
then keeps the positive part: where in the image the evidence for that class sits. Saliency is the
size of the score's gradient with respect to each input pixel. Both use the log-probability of the
class's logit when the last layer is a softmax Dense (ours and the tutorials' are): the
probability of a confident answer saturates at 1 and its gradient vanishes, the logit's does not.
Other models fall back to the log-probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model_store.inference import conv_taps
from model_store.model_input import SIDE, shaped


@dataclass
class Explanation:
    heatmap: np.ndarray  # (28, 28) in [0, 1]
    class_index: int
    layer: str | None = None  # the Conv2D layer Grad-CAM looked at


def conv_layer_names(model) -> list[str]:
    return [conv.name for conv, _, _ in conv_taps(model)]


def _as_input(model, image: np.ndarray):
    return shaped(image, model.inputs[0].shape[1:])


def _softmax_dense(model):
    """The last layer when it is a Dense with softmax, whose pre-activation (the logits) we can compute."""
    import keras

    last = model.layers[-1] if model.layers else None
    if isinstance(last, keras.layers.Dense) and getattr(last.activation, "__name__", "") == "softmax":
        return last
    return None


def _forward_scores(model, x, watch_after=None, tape=None):
    """Run a Sequential model layer by layer; returns (tensor watched after ``watch_after``, logits or log-probs).

    Running the layers by hand lets the tape see the very tensor the rest of the model consumes.
    """
    import tensorflow as tf

    head = _softmax_dense(model)
    h, watched = x, None
    for layer in model.layers:
        if layer is head:
            h = tf.matmul(h, layer.kernel) + layer.bias  # logits
        else:
            h = layer(h, training=False)
        if layer is watch_after:
            tape.watch(h)
            watched = h
    return watched, (h if head is not None else tf.math.log(h + 1e-12))


def _normalise(a: np.ndarray) -> np.ndarray:
    a = np.maximum(a, 0.0)
    top = float(a.max())
    return a / top if top > 0 else a


def _upsample(cam: np.ndarray) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(cam.astype(np.float32), mode="F").resize((28, 28), Image.Resampling.BILINEAR))


def grad_cam(model, image: np.ndarray, class_index: int | None = None, layer: str | None = None) -> Explanation:
    """Grad-CAM heatmap for ``class_index`` (default: the predicted class) at ``layer`` (default: the last Conv2D)."""
    import keras
    import tensorflow as tf

    taps = {conv.name: tap for conv, tap, _ in conv_taps(model)}
    if not taps:
        raise ValueError("this model has no Conv2D layer, so Grad-CAM has nothing to look at")
    layer = layer or list(taps)[-1]
    if layer not in taps:
        raise ValueError(f"{layer!r} is not a Conv2D layer of this model")
    x = tf.constant(_as_input(model, image))
    tap = taps[layer]
    with tf.GradientTape() as tape:
        if isinstance(model, keras.Sequential):
            maps, scores = _forward_scores(model, x, watch_after=tap, tape=tape)
        else:
            maps, probs = keras.Model(model.inputs, [tap.output, model.outputs[0]])(x, training=False)
            scores = tf.math.log(probs + 1e-12)
        if class_index is None:
            class_index = int(tf.argmax(scores[0]))
        score = scores[0, class_index]
    grads = tape.gradient(score, maps)[0].numpy()  # (h, w, c)
    weights = grads.mean(axis=(0, 1))
    cam = (maps[0].numpy() * weights).sum(axis=-1)
    return Explanation(_normalise(_upsample(_normalise(cam))), int(class_index), layer)


def saliency(model, image: np.ndarray, class_index: int | None = None) -> Explanation:
    """|d score(class) / d pixel|, normalised to [0, 1]."""
    import keras
    import tensorflow as tf

    x = tf.Variable(_as_input(model, image))
    with tf.GradientTape() as tape:
        if isinstance(model, keras.Sequential):
            _, scores = _forward_scores(model, x)
        else:
            scores = tf.math.log(model(x, training=False) + 1e-12)
        if class_index is None:
            class_index = int(tf.argmax(scores[0]))
        score = scores[0, class_index]
    grad = np.abs(tape.gradient(score, x).numpy()).reshape(SIDE, SIDE)
    return Explanation(_normalise(grad), int(class_index))


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.55, cmap: str = "inferno") -> np.ndarray:
    """The input in grey with the heatmap coloured on top, as an RGB uint8 (28, 28, 3) array."""
    from model_store.render import colorize

    grey = np.repeat((np.clip(image, 0, 1) * 255)[..., None], 3, axis=2)
    heat = colorize(heatmap, 0.0, 1.0, cmap).astype(np.float32)
    weight = alpha * heatmap[..., None]
    return (grey * (1 - weight) + heat * weight).clip(0, 255).astype(np.uint8)
