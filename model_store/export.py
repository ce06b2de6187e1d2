"""A stored model as a file for phones and browsers: LiteRT (``.tflite``) and ONNX, each checked before it is offered.

A converter can change a model's answers (an op it maps differently, a fused layer), so an export is only offered
after it has been run (TensorFlow's bundled LiteRT interpreter; onnxruntime) on test images next to Keras and
agreed on at least ``MIN_AGREEMENT`` of them. ONNX goes through Keras 3's own ``model.export(format="onnx")``
(tf2onnx inside): ``tf2onnx.convert.from_keras`` fails on Keras 3 models (it looks up tf.keras output names).

Conversions and their check results are kept in the store's cache folder (``ModelStore.derived_path``: named by
the model file's content, so a changed model is converted again), so a second request is answered from disk; one
process converts a given model at a time (``litert.conversion_slot``). Run a 10,000-image check with
``python bench/export_check.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from importlib import metadata, util
from pathlib import Path

import numpy as np

from model_store import litert
from model_store.model_input import shaped, to_float

FORMATS = ("tflite", "onnx")
FORMAT_NAMES = {"tflite": "LiteRT (.tflite)", "onnx": "ONNX (.onnx)"}
MIN_AGREEMENT = 0.999  # top-1 agreement with Keras below which an export is not offered
BATCH = 500  # images per interpreter / session call in a check
ONNX_PACKAGES = ("tf2onnx", "onnx", "onnxruntime")


@dataclass(frozen=True)
class Agreement:
    """How an export's answers compare with Keras' on the same images."""

    top1: float  # share of images whose most probable class is the same
    max_prob_diff: float  # largest |probability difference| over every image and class
    count: int  # images compared


@dataclass(frozen=True)
class Export:
    """One format of one model: its bytes and check, or ``problem`` (why there is no file)."""

    fmt: str
    data: bytes | None = None
    agreement: Agreement | None = None
    convert_seconds: float | None = None
    problem: str | None = None

    @property
    def offered(self) -> bool:
        """True when the file may be downloaded: it exists and agrees with Keras often enough."""
        return self.data is not None and self.agreement is not None and self.agreement.top1 >= MIN_AGREEMENT

    def file_name(self, model_name: str) -> str:
        return f"{model_name}.{self.fmt}"


class ExportUnavailable(RuntimeError):
    """No converter for this format works here; the message says why (shown as "not available: ...")."""


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


def onnx_problem() -> str | None:
    """Why ONNX cannot be exported here (a package missing), or None. Cheap: imports nothing."""
    missing = [p for p in ONNX_PACKAGES if util.find_spec(p) is None]
    return f"{', '.join(missing)} not installed (pip install tf2onnx onnx onnxruntime)" if missing else None


@contextlib.contextmanager
def _quiet_keras():
    """Converters save the model first and Keras prints its signature on stdout; interactive logging is a per-thread
    setting, so switching it off sends those lines to absl's log for this thread only."""
    import keras

    interactive = keras.config.is_interactive_logging_enabled()
    keras.config.disable_interactive_logging()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        if interactive:
            keras.config.enable_interactive_logging()


def to_tflite(model) -> bytes:
    """The LiteRT flatbuffer of a Keras model (the whole model: probabilities only), any batch size."""
    import tensorflow as tf

    with _quiet_keras():
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def to_onnx(model) -> bytes:
    """The ONNX file of a Keras model, through Keras' own exporter. ``ExportUnavailable`` with the reason if not."""
    problem = onnx_problem()
    if problem:
        raise ExportUnavailable(problem)
    try:
        with tempfile.TemporaryDirectory(prefix="convscope-onnx-") as folder, _quiet_keras():
            model(np.zeros((1, *model.inputs[0].shape[1:]), np.float32), training=False)  # Keras exports only
            path = Path(folder) / "model.onnx"  # a model that has been called ("has never called" otherwise)
            model.export(path, format="onnx", verbose=False)
            return path.read_bytes()
    except Exception as exc:  # a converter failure of any kind: said, not raised further
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ExportUnavailable(f"conversion failed ({type(exc).__name__}{': ' + detail if detail else ''})") from exc


CONVERTERS = {"tflite": to_tflite, "onnx": to_onnx}


def model_input(model, images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) test images as the model takes them (the store's scaling and the model's input shape)."""
    return shaped(to_float(images), tuple(model.inputs[0].shape[1:]))


def keras_probabilities(model, images: np.ndarray) -> np.ndarray:
    """Keras' answers on uint8 (n, 28, 28) images: the reference every export is held against."""
    x = model_input(model, images)
    return np.concatenate([np.asarray(model.predict_on_batch(x[i:i + BATCH])) for i in range(0, len(x), BATCH)])


class TfliteRunner:
    """A LiteRT file run by TensorFlow's bundled interpreter (``ai-edge-litert`` broke ``import keras`` here)."""

    def __init__(self, data: bytes, threads: int | None = None):
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the deprecation notice that points to ai-edge-litert
            self._interpreter = tf.lite.Interpreter(model_content=data, num_threads=threads or os.cpu_count())
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._batch = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self._batch != x.shape:  # resizing reallocates: only when the batch shape changes
            self._interpreter.resize_tensor_input(self._input, list(x.shape))
            self._interpreter.allocate_tensors()
            self._batch = x.shape
        self._interpreter.set_tensor(self._input, np.ascontiguousarray(x, np.float32))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output).copy()


class OnnxRunner:
    """An ONNX file run by onnxruntime on the CPU."""

    def __init__(self, data: bytes, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        self._session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: np.ascontiguousarray(x, np.float32)})[0]


RUNNERS = {"tflite": TfliteRunner, "onnx": OnnxRunner}


def check(fmt: str, data: bytes, model, images: np.ndarray, reference: np.ndarray | None = None) -> Agreement:
    """Run export ``data`` on uint8 (n, 28, 28) ``images`` and compare with Keras (``reference``: Keras'
    probabilities on them, when already computed). Any failure to run counts as no agreement at all."""
    if reference is None:
        reference = keras_probabilities(model, images)
    x = model_input(model, images)
    try:
        run = RUNNERS[fmt](data)
        got = np.concatenate([run(x[i:i + BATCH]) for i in range(0, len(x), BATCH)])
    except Exception:  # the file does not load or run: nothing agrees
        return Agreement(top1=0.0, max_prob_diff=float("inf"), count=len(images))
    if got.shape != reference.shape or not np.isfinite(got).all():
        return Agreement(top1=0.0, max_prob_diff=float("inf"), count=len(images))
    return Agreement(top1=float((got.argmax(1) == reference.argmax(1)).mean()),
                     max_prob_diff=float(np.abs(got - reference).max()), count=len(images))


# ---- kept in the store ----------------------------------------------------------------------------------------
def _cache_tag(fmt: str) -> str:
    """A converter upgrade converts again."""
    if fmt == "tflite":
        return f"export-tf{_version('tensorflow')}.tflite"
    return f"export-keras{_version('keras')}-tf2onnx{_version('tf2onnx')}.onnx"


def _check_key(fmt: str, images: np.ndarray) -> str:
    """What a check result holds for: these very images, run by this runtime."""
    runtime = _version("tensorflow") if fmt == "tflite" else _version("onnxruntime")
    digest = hashlib.sha256(np.ascontiguousarray(images, np.uint8).tobytes()).hexdigest()[:24]
    return f"{digest}-{len(images)}-{runtime}"


def _cached(file: Path | None, key: str, fmt: str) -> Export | None:
    """The export kept in the cache with its check on the same images, or None."""
    if file is None:
        return None
    try:
        record = json.loads(file.with_name(file.name + ".check.json").read_text(encoding="utf-8"))
        if record.get("key") != key:
            return None
        return Export(fmt, file.read_bytes(), Agreement(**record["agreement"]), record.get("convert_seconds"))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _keep(file: Path | None, export: Export, key: str) -> None:
    """Write the file, then its check (the check is what says the pair is complete); skipped if it cannot be."""
    from model_store.store import atomic_write

    if file is None or export.data is None:
        return
    record = {"key": key, "agreement": asdict(export.agreement), "convert_seconds": export.convert_seconds}
    with contextlib.suppress(OSError):
        file.parent.mkdir(parents=True, exist_ok=True)
        if not file.is_file() or file.read_bytes() != export.data:
            atomic_write(file, export.data)
        atomic_write(file.with_name(file.name + ".check.json"), json.dumps(record).encode())


def prepare_exports(store, name: str, images: np.ndarray, formats=FORMATS) -> list[Export]:
    """Every format of model ``name``, converted and checked on uint8 (n, 28, 28) ``images`` (or taken from the
    store's cache when that was done before for the same model file and images). The model is loaded only when
    something has to be converted or checked; Keras' answers are computed once for all formats."""
    path = store.get(name).path
    model = reference = None
    exports = []
    for fmt in formats:
        try:
            file = store.derived_path(path, _cache_tag(fmt))
        except OSError:  # the file went away meanwhile: no cache
            file = None
        key = _check_key(fmt, images)
        export = _cached(file, key, fmt)
        if export is None:
            slot = litert.conversion_slot(file)
            try:
                export = _cached(file, key, fmt)  # another process may have done it while we waited
                if export is None:
                    if model is None:
                        model = store.load(name)
                    if reference is None:
                        reference = keras_probabilities(model, images)
                    export = _convert_and_check(fmt, model, images, reference, file)
                    _keep(file, export, key)
            finally:
                if slot is not None:
                    slot.release()
        exports.append(export)
    return exports


def _convert_and_check(fmt: str, model, images, reference, file: Path | None) -> Export:
    """Reuse a conversion kept from a check on other images; else convert (timed)."""
    data, seconds = None, None
    if file is not None:
        with contextlib.suppress(OSError):
            data = file.read_bytes()
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                seconds = json.loads(file.with_name(file.name + ".check.json").read_text())["convert_seconds"]
    if data is None:
        start = time.perf_counter()
        try:
            data = CONVERTERS[fmt](model)
        except ExportUnavailable as exc:
            return Export(fmt, problem=str(exc))
        except Exception as exc:  # the LiteRT converter's failures come in many kinds
            return Export(fmt, problem=f"conversion failed ({type(exc).__name__})")
        seconds = time.perf_counter() - start
    return Export(fmt, data, check(fmt, data, model, images, reference), seconds)
