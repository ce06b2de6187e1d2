"""The LiteRT (TensorFlow Lite) path for one drawing: the same probe model, about ten times cheaper per call.

A ``tf.function`` call still pays TensorFlow's executor overhead (~1-2 ms here); LiteRT's XNNPACK kernels
answer the same single image in well under a millisecond (bench/litert.py prints both, side by side, and
top-1 agreement on the full test set). The runner is built from the probe model at load time, checked
against the Keras answers on a few inputs, and dropped (``None``) if conversion or the check fails, so the
app never depends on it. Only batches of one go through it; TensorFlow's bundled interpreter is used because
the stand-alone ``ai-edge-litert`` package broke ``import keras`` in our environment.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path

import numpy as np

from model_store import slots
from model_store.model_input import shaped

DISABLE_ENV = "CONVSCOPE_LITERT"  # set to 0 to use the tf.function path only
TOLERANCE = 1e-4
LOCK_SUFFIX = ".lock"  # beside a cache file: held by the process converting that model
CONVERSION_WAIT_SECONDS = 120  # how long a process waits for another one's conversion of the same model


class LiteRunner:
    """One image in, the probe model's outputs (in the probe's order) out. Thread-safe (one call at a time)."""

    def __init__(self, flatbuffer: bytes, input_shape: tuple, threads: int | None = None):
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the deprecation notice that points to ai-edge-litert
            self._interpreter = tf.lite.Interpreter(model_content=flatbuffer, num_threads=threads or os.cpu_count())
        self._interpreter.resize_tensor_input(self._interpreter.get_input_details()[0]["index"], [1, *input_shape])
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = self._interpreter._get_full_signature_list()["serving_default"]["outputs"]
        self._outputs = [outputs[f"output_{i}"] for i in range(len(outputs))]
        self._input_shape = input_shape
        self._lock = threading.Lock()
        self.size = len(flatbuffer)

    def __call__(self, image: np.ndarray) -> list[np.ndarray]:
        x = shaped(image, self._input_shape)
        with self._lock:
            self._interpreter.set_tensor(self._input, x)
            self._interpreter.invoke()
            return [self._interpreter.get_tensor(i).copy() for i in self._outputs]


def enabled() -> bool:
    return os.environ.get(DISABLE_ENV, "1") != "0"


def cache_tag() -> str:
    """The name of a conversion in a model's cache: a TensorFlow upgrade converts again."""
    import tensorflow as tf

    return f"litert-tf{tf.__version__}.tflite"


def build(probe, input_shape: tuple, reference, cache: Path | None = None) -> LiteRunner | None:
    """Convert ``probe`` and check it against ``reference`` (a function giving the Keras outputs for a batch).

    ``cache``: a file for the converted model. When it holds one that passes the check it is used instead of
    converting (~2 s of CPU per model at every server start); otherwise the new conversion is written there
    (a cache that cannot be read or written is simply not used). One process converts a given cache file at a
    time (``conversion_slot``): the server's other processes, started with it, wait and then read its conversion
    instead of converting the same model at the same moment.
    Returns ``None`` when LiteRT is switched off, the conversion fails, or any output differs."""
    if not enabled():
        return None
    runner = _from_cache(cache, input_shape, reference)
    if runner is not None:
        return runner
    seen = _version(cache)
    slot = conversion_slot(cache)
    try:
        if slot is not None and _version(cache) != seen:  # another process converted it while we waited
            runner = _from_cache(cache, input_shape, reference)
            if runner is not None:
                return runner
        try:
            flatbuffer = _convert(probe)
        except Exception:  # any failure means: use the tf.function path
            return None
        runner = _checked(flatbuffer, input_shape, reference)
        if runner is not None and cache is not None:
            _write(cache, flatbuffer)
        return runner
    finally:
        if slot is not None:
            slot.release()


def conversion_slot(cache: Path | None, wait_seconds: float = CONVERSION_WAIT_SECONDS):
    """The right to convert the model of ``cache`` (a ``model_store.slots.Slot``, its lock file beside the cache),
    waiting while another process converts it. None without a cache, when the lock file cannot be made (the
    conversion then goes ahead unguarded), or after ``wait_seconds`` (a holder that hangs delays us, never stops us)."""
    if cache is None:
        return None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        return slots.take(cache.with_name(cache.name + LOCK_SUFFIX), wait_seconds)
    except OSError:
        return None


def _version(path: Path | None) -> tuple | None:
    """What tells one write of ``path`` from the next (None when there is no file)."""
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def _from_cache(cache: Path | None, input_shape: tuple, reference) -> LiteRunner | None:
    if cache is None:
        return None
    try:
        flatbuffer = cache.read_bytes()
    except OSError:
        return None
    return _checked(flatbuffer, input_shape, reference)


def _convert(probe) -> bytes:
    """The LiteRT flatbuffer of a Keras model. The converter saves the model first, and Keras then prints the
    saved signature (dozens of ``TensorSpec`` lines) on stdout; Keras' interactive logging is a per-thread
    setting, so switching it off here sends those lines to absl's log for this thread only."""
    import keras
    import tensorflow as tf

    interactive = keras.config.is_interactive_logging_enabled()
    keras.config.disable_interactive_logging()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tf.lite.TFLiteConverter.from_keras_model(probe).convert()
    finally:
        if interactive:
            keras.config.enable_interactive_logging()


def _checked(flatbuffer: bytes, input_shape: tuple, reference) -> LiteRunner | None:
    """A runner for ``flatbuffer`` if it gives the Keras outputs on a blank and a random input, else None."""
    try:
        runner = LiteRunner(flatbuffer, input_shape)
        rng = np.random.default_rng(0)
        for x in (np.zeros((1, *input_shape), np.float32), rng.random((1, *input_shape), np.float32)):
            expected = reference(x)
            got = runner(x[0])
            if len(got) != len(expected) or any(
                    g.shape != e.shape or not np.allclose(g, e, atol=TOLERANCE) for g, e in zip(got, expected)):
                return None
        return runner
    except Exception:  # not a model, or not this one
        return None


def _write(path: Path, data: bytes) -> None:
    """Write the cache the store's way (whole or not at all); a cache that cannot be written is skipped."""
    from model_store.store import atomic_write

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
    except OSError:
        pass
