"""Temperature scaling: make a model's probabilities say how often it is right.

Label smoothing trains a model to put about 0.9 on the right class, so a model trained with it shows 90% for a
perfect 7, which misleads a class reading the bars. Dividing the logits by one temperature, fitted on held-out
images to minimise their negative log-likelihood (Guo et al., 2017), restores honest confidence without changing a
single answer: the order of the logits stays. The temperature is baked into the last layer's weights, so every
page, export and CLI reads the calibrated model with no change of their own.
"""

from __future__ import annotations

import math

import numpy as np

LOWEST, HIGHEST = 0.05, 20.0  # temperatures searched; 1 leaves the model as it was


def output_layer(model):
    """The model's last layer when it is a Dense layer with a softmax (the only output temperature scaling can be
    baked into), else None."""
    import keras

    last = model.layers[-1] if model.layers else None
    if isinstance(last, keras.layers.Dense) and getattr(last.activation, "__name__", "") == "softmax":
        return last
    return None


def logits(model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The pre-softmax outputs of ``model`` (float32 images shaped as its input), computed from the output layer's
    inputs, not from log-probabilities, which saturate at a probability of 1."""
    import keras

    layer = output_layer(model)
    features = keras.Model(model.inputs, layer.input).predict(images, batch_size=batch_size, verbose=0)
    kernel, bias = (np.asarray(w, dtype=np.float64) for w in layer.get_weights())
    return features.astype(np.float64) @ kernel + bias


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean cross-entropy of softmax(logits / temperature) against integer ``labels``."""
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature in [LOWEST, HIGHEST] with the lowest negative log-likelihood: a coarse grid in log space,
    then a golden-section search around its best point (the likelihood is unimodal in log T)."""
    grid = np.geomspace(LOWEST, HIGHEST, 41)
    losses = [negative_log_likelihood(logits, labels, t) for t in grid]
    best = int(np.argmin(losses))
    low, high = math.log(grid[max(0, best - 1)]), math.log(grid[min(len(grid) - 1, best + 1)])
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(40):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if negative_log_likelihood(logits, labels, math.exp(a)) < negative_log_likelihood(logits, labels, math.exp(b)):
            high = b
        else:
            low = a
    return math.exp((low + high) / 2)


def scale_output(model, temperature: float) -> None:
    """Divide the output layer's kernel and bias by ``temperature``: softmax(Wx + b) becomes softmax((Wx + b) / T)."""
    layer = output_layer(model)
    layer.set_weights([np.asarray(w) / temperature for w in layer.get_weights()])


def calibrate(model, images: np.ndarray, labels: np.ndarray) -> dict | None:
    """Fit a temperature on held-out ``images`` (float32, the model's input shape) and bake it into ``model``.
    Returns what was done, for the model's metadata, or None where the model has no softmax Dense output or there
    are no held-out images (the model is left as it was)."""
    if output_layer(model) is None or len(labels) == 0:
        return None
    z = logits(model, images)
    labels = np.asarray(labels, dtype=np.int64)
    temperature = fit_temperature(z, labels)
    before, after = negative_log_likelihood(z, labels), negative_log_likelihood(z, labels, temperature)
    scale_output(model, temperature)
    return {"temperature": round(temperature, 4), "fitted_on": int(len(labels)),
            "validation_nll_before": round(before, 4), "validation_nll_after": round(after, 4)}
