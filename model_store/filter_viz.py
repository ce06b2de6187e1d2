"""What a filter looks for: the input that excites it most, found by gradient ascent (activation maximisation).

From faint noise, each step moves the input along the gradient of the filter's response (or of a class's logit),
then keeps it image-like: a random shift of a pixel or two before each step (jitter) and a light blur every few steps
stop it from turning into high-frequency noise that only this exact pixel grid would excite, and a small decay pulls
pixels that do not help back towards the black background. All filters of a layer (or all classes) are one batch:
image k is scored by filter k only, so one compiled step serves them all.

A filter is scored by its response at the centre of its map, before its ReLU (after its BatchNormalization when it
has one). Its mean over the whole map would be a linear function of the pixels for a first layer, maximised by a flat
white or black image; one position shows the pattern within what that position sees (3x3 pixels for a first layer,
more for deeper ones, which are the only ones shifted and blurred). Before the ReLU, because a ReLU that is off for the
starting noise gives no gradient at all. Results are kept in the store's cache folder beside the model;
``BackgroundCache`` runs the computation off the page's thread, which polls it.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_store.cached_arrays import load_or_compute_arrays
from model_store.embedding import feature_model, last_dense
from model_store.inference import BACKGROUND_NICE, conv_taps
from model_store.model_input import SIDE

CLASSES = None  # the target meaning "every class" instead of a layer's filters
STEPS = 128
STEP_SIZE = 0.1  # the pixel that matters most moves this much per step (the gradient is scaled image by image)
JITTER = 2  # pixels
BLUR_EVERY = 4  # steps
SMALLEST_BLURRED_FIELD = 8  # pixels: a filter that sees less is neither shifted nor blurred
DECAY = 0.01  # share of each pixel pulled towards black per step
START_NOISE = 0.05
POLISH = 0.15  # share of the steps, at the end, without jitter and blur
SEED = 0
FORMAT = 1  # bump when the cached arrays change meaning


@dataclass(frozen=True)
class PreferredInputs:
    images: np.ndarray  # (n, 28, 28) in [0, 1]: filter k's (or class k's) preferred input
    start: np.ndarray  # (n,) the score of the starting noise (a filter's centre response or a class's logit)
    score: np.ndarray  # (n,) the score of the preferred input
    target: str | None  # the Conv2D layer, or None for the classes
    field: tuple[int, int, int, int] = (0, SIDE, 0, SIDE)  # rows and columns (start, stop) the scores depend on

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {"images": self.images, "start": self.start, "score": self.score, "field": np.array(self.field),
                "format": np.array(FORMAT)}

    def cropped(self) -> np.ndarray:
        """The images cut to the field the scores depend on (a first layer's filter sees 3x3 pixels)."""
        top, bottom, left, right = self.field
        return self.images[:, top:bottom, left:right]


def _scores_function(model, target: str | None):
    """A function (n, 28, 28, 1) images -> (n,) scores: image k scored by filter k of ``target`` (its response at the
    centre of the map, before the ReLU) or, for ``CLASSES``, by class k's logit (log-probability when the model has no
    softmax Dense)."""
    import keras
    import tensorflow as tf

    input_shape = tuple(model.inputs[0].shape[1:])
    if target is CLASSES:
        reader = feature_model(model)
        dense = last_dense(model)
        softmax = dense is model.layers[-1] and getattr(dense.activation, "__name__", "") == "softmax"

        def class_scores(x):
            features, probabilities = reader(tf.reshape(x, (-1, *input_shape)), training=False)
            scores = tf.matmul(features, dense.kernel) + dense.bias if softmax else tf.math.log(probabilities + 1e-12)
            return tf.gather(scores, tf.range(tf.shape(x)[0]), axis=1, batch_dims=1)  # image k: class k

        count = int(model.outputs[0].shape[-1])
        return class_scores, count
    convs = {conv.name: conv for conv, _, _ in conv_taps(model)}
    if target not in convs:
        raise ValueError(f"{target!r} is not a Conv2D layer of this model")
    conv = convs[target]
    layers = list(model.layers)
    following = layers[layers.index(conv) + 1:]
    norms = []
    for layer in following if isinstance(model, keras.Sequential) else ():
        if not isinstance(layer, keras.layers.BatchNormalization):
            break
        norms.append(layer)
    first = conv.input is model.inputs[0]
    head = None if first else keras.Model(model.inputs, conv.input)

    def filter_scores(x):
        h = tf.reshape(x, (-1, *input_shape))
        if head is not None:
            h = head(h, training=False)
        response = conv.convolution_op(h, conv.kernel)
        if conv.use_bias:
            response = response + conv.bias
        for norm in norms:
            response = norm(response, training=False)
        centre = response[:, response.shape[1] // 2, response.shape[2] // 2, :]  # (n, filters)
        return tf.gather(centre, tf.range(tf.shape(x)[0]), axis=1, batch_dims=1)  # image k: filter k

    return filter_scores, int(conv.filters)


def _blur(x):
    import tensorflow as tf

    kernel = tf.constant(np.outer([1, 2, 1], [1, 2, 1])[:, :, None, None] / 16.0, tf.float32)
    return tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC"), kernel, 1, "VALID")


def preferred_inputs(model, target: str | None, steps: int = STEPS, seed: int = SEED,
                     progress: Callable[[float], None] | None = None) -> PreferredInputs:
    """Each filter's of Conv2D layer ``target`` (or, for ``CLASSES``, each class's) preferred input, all in one batch.
    ``progress`` is told the share done after every step."""
    import tensorflow as tf

    scores, count = _scores_function(model, target)
    rng = np.random.default_rng(seed)
    x = tf.Variable(rng.random((count, SIDE, SIDE, 1), np.float32) * START_NOISE)
    shift_rng = tf.random.Generator.from_seed(seed)

    @tf.function(reduce_retracing=True)
    def step(blur: tf.Tensor, jitter: tf.Tensor):
        shift = shift_rng.uniform((2,), -jitter, jitter + 1, dtype=tf.int32)
        with tf.GradientTape() as tape:
            moved = tf.roll(x, shift, axis=(1, 2))
            total = tf.reduce_sum(scores(moved))
        grad = tf.roll(tape.gradient(total, moved), -shift, axis=(1, 2))
        grad /= tf.reduce_max(tf.abs(grad), axis=(1, 2, 3), keepdims=True) + 1e-8  # image by image
        updated = (x + STEP_SIZE * grad) * (1.0 - DECAY)
        updated = tf.cond(blur, lambda: _blur(updated), lambda: updated)
        x.assign(tf.clip_by_value(updated, 0.0, 1.0))

    with tf.GradientTape() as tape:
        start = scores(x)
    field = _field(np.asarray(tape.gradient(start, x)))
    seen = min(field[1] - field[0], field[3] - field[2])
    jitter = min(JITTER, seen // 6)  # shifting or blurring a first layer's 3x3 field would only smear it
    blur_every = BLUR_EVERY if seen >= SMALLEST_BLURRED_FIELD else steps + 1
    start = np.asarray(start)
    polish = int(steps * (1 - POLISH))  # the last steps climb straight up: shifts and blur only shape the start
    for i in range(steps):
        shaping = i < polish
        step(tf.constant(shaping and (i + 1) % blur_every == 0), tf.constant(jitter if shaping else 0))
        if progress is not None:
            progress((i + 1) / steps)
    with tf.GradientTape() as tape:
        score = scores(x)
    end_field = _field(np.asarray(tape.gradient(score, x)))  # ReLUs off for the noise may be on now: it sees more
    field = (min(field[0], end_field[0]), max(field[1], end_field[1]), min(field[2], end_field[2]),
             max(field[3], end_field[3]))
    return PreferredInputs(np.asarray(x)[..., 0], start, np.asarray(score), target, field)


def _field(gradient: np.ndarray) -> tuple[int, int, int, int]:
    """The rows and columns (start, stop) where any score's gradient is not zero: what the scores can see."""
    seen = np.abs(gradient).reshape(len(gradient), SIDE, SIDE).sum(axis=0) > 0
    if not seen.any():
        return 0, SIDE, 0, SIDE
    rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def cache_tag(target: str | None, steps: int = STEPS) -> str:
    """The cache file's name for one target: a layer's name made safe for a file name, with a short digest so two
    names that clean to the same text stay apart."""
    name = "classes" if target is CLASSES else "layer-" + re.sub(r"[^A-Za-z0-9_.]", "_", target)[:40]
    digest = hashlib.sha256(f"{FORMAT}-{steps}-{target}".encode()).hexdigest()[:8]
    return f"filterviz-{name}-{digest}.npz"


def cached_preferred_inputs(model, target: str | None, cache: Path | None = None, steps: int = STEPS,
                            progress: Callable[[float], None] | None = None) -> PreferredInputs:
    """``preferred_inputs``, kept in ``cache`` (the store's ``derived_path(model file, cache_tag(target))``)."""
    arrays, _ = load_or_compute_arrays(
        cache, lambda: preferred_inputs(model, target, steps, progress=progress).as_arrays(),
        valid=lambda arrays: int(arrays["format"]) == FORMAT and arrays["images"].shape[1:] == (SIDE, SIDE)
        and arrays["field"].shape == (4,))
    if progress is not None:
        progress(1.0)
    return PreferredInputs(arrays["images"], arrays["start"], arrays["score"], target,
                           tuple(int(v) for v in arrays["field"]))


def targets(model) -> list[str]:
    """The Conv2D layers whose filters can be shown."""
    return [conv.name for conv, _, _ in conv_taps(model)]


# ---- off the page's thread -------------------------------------------------------------------------------------------
class Job:
    """One computation in the background: poll ``done``, ``progress`` (0 to 1), then ``result`` or ``error``."""

    def __init__(self):
        self.progress = 0.0
        self.result = None
        self.error: BaseException | None = None
        self._finished = threading.Event()

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    def finish(self, result=None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        if error is None:
            self.progress = 1.0
        self._finished.set()


class BackgroundCache:
    """Results computed in a background thread, once per key, one computation at a time and at a lower priority than
    the server's other threads (a page's reruns come first). A page asks for ``job(key, compute)`` on every rerun: the
    first ask starts ``compute(progress)``, later ones get the same job. A failed job stays failed until ``forget``."""

    def __init__(self):
        self._jobs: dict[object, Job] = {}
        self._lock = threading.Lock()
        self._one_at_a_time = threading.Lock()

    def job(self, key, compute: Callable[[Callable[[float], None]], object]) -> Job:
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                return job
            job = self._jobs[key] = Job()
        # Not a daemon: a TensorFlow call cut off at interpreter exit aborts the process.
        threading.Thread(target=self._run, args=(job, compute), name=f"background {key!r}"[:60]).start()
        return job

    def forget(self, key) -> None:
        with self._lock:
            self._jobs.pop(key, None)

    def _run(self, job: Job, compute) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)  # this thread only (Linux)
        except (AttributeError, OSError):
            pass
        with self._one_at_a_time:
            try:
                result = compute(lambda share: setattr(job, "progress", float(share)))
            except BaseException as exc:  # reported to the page that polls, never lost in the thread
                job.finish(error=exc)
            else:
                job.finish(result)
