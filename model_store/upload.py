"""Check a model file a user uploads (``.keras``, or legacy ``.h5`` as the tutorials save from Colab) before it enters the store.

Two stages. ``check_container`` is cheap and safe in the server: it reads only the zip's directory (sizes,
member count, compression ratio), never inflating anything. ``validate_upload`` does the rest and is run
in a separate, bounded process (``model_store.sandbox``): it inflates, loads in Keras safe mode (a Lambda
layer or a custom object, i.e. Python code, is refused rather than run) and runs the model. The model must
read one 28x28 grayscale image ((28, 28, 1), (28, 28) or 784 values) and give 10 outputs. A model whose last
layer gives logits (no softmax, as in TensorFlow's quickstart) gets a Softmax layer appended, so the app's
probabilities are probabilities. Every refusal is an ``UploadError`` with a code (``model_store.refusal``).
"""

from __future__ import annotations

import io
import json
import re
import struct
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_store.describe import base_metadata
from model_store.layer_names import with_safe_names
from model_store.model_input import ACCEPTED_SHAPES
from model_store.refusal import Notice, Refusal

MAX_BYTES = 25 * 1024 * 1024  # as .streamlit/config.toml's server.maxUploadSize, for the CLI too
EXTENSIONS = (".keras", ".h5", ".hdf5")
# A .keras file is config.json, metadata.json and model.weights.h5; weights barely compress.
MAX_MEMBERS = 16
MAX_UNPACKED_BYTES = 128 * 1024 * 1024
MAX_RATIO = 50  # a member bigger than 1 MB unpacked and compressed more than this is a bomb
MAX_CONFIG_BYTES = 2 * 1024 * 1024  # our largest preset's config is ~20 KB
MAX_LAYERS = 256
MAX_MS_PER_DRAWING = 500  # one forward pass, once warm: slower would stall every pupil's drawing
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_KNOWN_FORMATS = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
                  b"%PDF": "a PDF document", b"\x80": "a Python pickle"}


class UploadError(Refusal):
    """The uploaded file cannot be used; the code says why."""


@dataclass
class Upload:
    model: object  # a keras.Model that passed every check
    meta: dict  # store metadata (base_metadata + where it came from)
    notes: list[Notice]  # what was changed or should be known (e.g. a softmax appended)


def _what_is(data: bytes) -> str | None:
    for magic, name in _KNOWN_FORMATS.items():
        if data.startswith(magic):
            return name
    return None


def _zip_entry_count(data: bytes) -> int | None:
    """The member count from the zip's end record, read before ``zipfile`` builds an object per member."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if end < 0 or end + 22 > len(data):
        return None
    return struct.unpack("<H", data[end + 10:end + 12])[0]


def check_container(data: bytes, filename: str) -> str:
    """The file's suffix (``.keras`` or ``.h5``) if its container is plausible, else ``UploadError``. Reads only
    headers and the zip's directory: safe to run in the server on any file of at most ``MAX_BYTES``."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in EXTENSIONS:
        raise UploadError("upload_extension", suffix=suffix or "a file without extension")
    if not data:
        raise UploadError("upload_empty")
    if len(data) > MAX_BYTES:
        raise UploadError("upload_too_big", limit_mb=MAX_BYTES // 2**20)
    suffix = ".h5" if suffix == ".hdf5" else suffix
    other = _what_is(data)
    if suffix == ".h5":
        if data.startswith(b"PK"):
            raise UploadError("upload_keras_named_h5")
        if not data.startswith(_HDF5_MAGIC):
            raise UploadError("upload_other_format", kind=other) if other else UploadError("upload_not_hdf5")
        return suffix
    if data.startswith(_HDF5_MAGIC):
        raise UploadError("upload_h5_named_keras")
    count = _zip_entry_count(data)
    if count is None or not zipfile.is_zipfile(io.BytesIO(data)):
        raise UploadError("upload_other_format", kind=other) if other else UploadError("upload_truncated_zip")
    if count > MAX_MEMBERS or count == 0xFFFF:
        raise UploadError("upload_zip_members", count=count, limit=MAX_MEMBERS)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UploadError("upload_truncated_zip") from exc
    if len(members) > MAX_MEMBERS:
        raise UploadError("upload_zip_members", count=len(members), limit=MAX_MEMBERS)
    if "config.json" not in {m.filename for m in members}:
        raise UploadError("upload_no_config")
    for member in members:
        if member.file_size > 2**20 and member.file_size > MAX_RATIO * max(member.compress_size, 1):
            raise UploadError("upload_zip_ratio", ratio=member.file_size // max(member.compress_size, 1))
        if member.filename == "config.json" and member.file_size > MAX_CONFIG_BYTES:
            raise UploadError("upload_config_too_big", size_kb=member.file_size // 1024, limit_kb=MAX_CONFIG_BYTES // 1024)
    unpacked = sum(m.file_size for m in members)
    if unpacked > MAX_UNPACKED_BYTES:
        raise UploadError("upload_zip_unpacked", unpacked_mb=unpacked // 2**20, limit_mb=MAX_UNPACKED_BYTES // 2**20)
    return suffix


def count_layers(config) -> int:
    """Layers in a Keras config, nested models included (every object with a class name and a config)."""
    stack, count = [config], 0
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "class_name" in node and isinstance(node.get("config"), dict) and "layers" not in node["config"] \
                    and node.get("module", "keras.layers").startswith("keras.layers"):
                count += 1
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def _config_text(data: bytes, suffix: str) -> bytes | None:
    """The model's config as stored (JSON), read with its size bounded; None for an .h5 without one."""
    if suffix == ".keras":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            bad = archive.testzip()  # inflates every member: sizes were bounded by check_container
            if bad is not None:
                raise UploadError("upload_bad_checksum", member=bad)
            with archive.open("config.json") as handle:
                text = handle.read(MAX_CONFIG_BYTES + 1)
    else:
        import h5py

        with h5py.File(io.BytesIO(data), "r") as handle:
            text = handle.attrs.get("model_config")
        if text is None:
            return None
        text = text.encode() if isinstance(text, str) else bytes(text)
    if len(text) > MAX_CONFIG_BYTES:
        raise UploadError("upload_config_too_big", size_kb=len(text) // 1024, limit_kb=MAX_CONFIG_BYTES // 1024)
    return text


def check_config(data: bytes, suffix: str) -> None:
    """Refuse a config too big or with too many layers before Keras builds it (20,000 layers take minutes)."""
    try:
        text = _config_text(data, suffix)
    except UploadError:
        raise
    except Exception as exc:  # zipfile and h5py raise many kinds on damaged files
        raise UploadError("upload_damaged") from exc
    if text is None:
        return
    try:
        config = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UploadError("upload_damaged") from exc
    layers = count_layers(config)
    if layers > MAX_LAYERS:
        raise UploadError("upload_too_many_layers", count=layers, limit=MAX_LAYERS)


def _reason(exc: Exception) -> UploadError:
    """Keras' loading error, said for the uploader."""
    text = str(exc)
    if isinstance(exc, MemoryError) or "OOM when allocating" in text or type(exc).__name__ == "ResourceExhaustedError":
        raise MemoryError(text[:200]) from exc  # the sandbox reports it with its limit
    if "Lambda" in text or "lambda" in text:
        return UploadError("upload_lambda")
    custom = re.search(r"Unknown (?:layer|object|function|activation|class)[^']*'([^']+)'", text) or \
        re.search(r"Could not locate (?:class|function) '([^']+)'", text)
    if custom or "could not be deserialized" in text or "custom_object" in text:
        return UploadError("upload_custom_object", name=f" ({custom.group(1)})" if custom else "")
    if "No model config found" in text or "no model config" in text.lower():
        return UploadError("upload_weights_only")
    if "truncated" in text.lower() or "unable to open" in text.lower() or "Unable to synchronously" in text:
        return UploadError("upload_damaged")
    first_line = text.strip().splitlines()[0][:200] if text.strip() else ""
    return UploadError("upload_keras_failed", detail=f"{type(exc).__name__}: {first_line}")


def _load(data: bytes, suffix: str):
    import keras

    with tempfile.TemporaryDirectory(prefix="convscope-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            model = keras.models.load_model(path, safe_mode=True, compile=False)
        except Exception as exc:  # Keras raises ValueError, TypeError, OSError, KeyError... for bad files
            raise _reason(exc) from exc
    if not isinstance(model, keras.Model):
        raise UploadError("upload_not_a_model", kind=type(model).__name__)
    return model


def _shape(tensor) -> tuple:
    return tuple(None if d is None else int(d) for d in tensor.shape[1:])


def _ends_in_softmax(model) -> bool:
    last = model.layers[-1] if model.layers else None
    if last is None:
        return False
    if type(last).__name__ == "Softmax":
        return True
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "") == "softmax"


def check_model(model) -> None:
    """Refuse a model the app cannot use (``UploadError`` says why)."""
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError) as exc:
        raise UploadError("upload_no_input") from exc
    if len(inputs) != 1:
        raise UploadError("upload_inputs", count=len(inputs))
    if len(outputs) != 1:
        raise UploadError("upload_outputs", count=len(outputs))
    shape = _shape(inputs[0])
    if shape not in ACCEPTED_SHAPES:
        raise UploadError("upload_input_shape", shape=str(shape))
    out = _shape(outputs[0])
    if out != (10,):
        raise UploadError("upload_classes", count=str(out[0] if len(out) == 1 else out))


def _with_softmax(model):
    """Append a Softmax to a model whose last layer gives logits."""
    import keras

    names = {layer.name for layer in model.layers}
    name = "probabilities" if "probabilities" not in names else "softmax_probabilities"
    return keras.Model(model.inputs[0], keras.layers.Softmax(name=name)(model.outputs[0]), name=model.name)


def _ms_per_drawing(model, x: np.ndarray) -> float:
    """Median time of one forward pass once warm: what each drawing would cost the server."""
    times = []
    for _ in range(4):
        start = time.perf_counter()
        model(x, training=False)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times[1:]))


def validate_upload(data: bytes, filename: str, dataset: str, class_names: list[str] | None = None) -> Upload:
    """Load and check an uploaded model file. Returns the model and its store metadata, or raises ``UploadError``.
    Inflates and runs the file: call it in the sandbox's process (``model_store.sandbox``), not in the server."""
    suffix = check_container(data, filename)
    check_config(data, suffix)
    model = _load(data, suffix)
    check_model(model)
    notes = []
    if not _ends_in_softmax(model):
        model = _with_softmax(model)
        notes.append(Notice("note_softmax_added"))
    model, renamed = with_safe_names(model)
    if renamed:
        notes.append(Notice("note_layers_renamed", names=", ".join(f"'{old}' → '{new}'" for old, new in renamed.items())))
    try:  # one forward pass: a model that loads but cannot run (mismatched weights, odd layers) stops here
        x = np.zeros((1, *_shape(model.inputs[0])), np.float32)
        probs = np.asarray(model(x, training=False))
        ms = _ms_per_drawing(model, x)
    except MemoryError:
        raise
    except Exception as exc:
        raise UploadError("upload_cannot_run", detail=f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    if probs.shape != (1, 10) or not np.all(np.isfinite(probs)):
        raise UploadError("upload_not_finite")
    if ms > MAX_MS_PER_DRAWING:
        raise UploadError("upload_too_slow", ms=round(ms), limit_ms=MAX_MS_PER_DRAWING)
    names = list(class_names) if class_names else [str(i) for i in range(10)]
    meta = {
        **base_metadata(model, dataset, names),
        "preset": "uploaded",
        "source": "upload",
        "original_filename": Path(filename).name,
        "file_format": "h5" if suffix == ".h5" else "keras",
        "input_shape": list(_shape(model.inputs[0])),
        "notes": [str(note) for note in notes],
    }
    return Upload(model=model, meta=meta, notes=notes)
