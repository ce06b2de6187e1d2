"""Check a model file a user uploads (``.keras``, or legacy ``.h5`` as the tutorials save from Colab) before it enters the store.

The file is loaded in Keras safe mode, so a Lambda layer or a custom object (Python code) is refused
rather than run. The model must read one 28x28 grayscale image ((28, 28, 1), (28, 28) or 784 values)
and give 10 outputs. A model whose last layer gives logits (no softmax, as in TensorFlow's quickstart)
gets a Softmax layer appended, so the app's probabilities are probabilities. Every refusal is an
``UploadError`` whose message says why in words the uploader can act on.
"""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_store.describe import base_metadata

ACCEPTED_INPUTS = ((28, 28, 1), (28, 28), (784,))
MAX_BYTES = 200 * 1024 * 1024  # Streamlit's default upload limit
EXTENSIONS = (".keras", ".h5", ".hdf5")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_KNOWN_FORMATS = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
                  b"%PDF": "a PDF document", b"\x80": "a Python pickle"}


class UploadError(ValueError):
    """The uploaded file cannot be used; the message says why."""


@dataclass
class Upload:
    model: object  # a keras.Model that passed every check
    meta: dict  # store metadata (base_metadata + where it came from)
    notes: list[str]  # what was changed or should be known (e.g. a softmax appended)


def _what_is(data: bytes) -> str | None:
    for magic, name in _KNOWN_FORMATS.items():
        if data.startswith(magic):
            return name
    return None


def _check_container(data: bytes, suffix: str) -> None:
    """Refuse what is plainly not a Keras file before Keras sees it (its own messages there are misleading)."""
    other = _what_is(data)
    if suffix == ".keras":
        if data.startswith(_HDF5_MAGIC):
            raise UploadError("this .keras file is really an HDF5 (.h5) file: rename it to .h5 and upload it again")
        if not zipfile.is_zipfile(io.BytesIO(data)):
            if other:
                raise UploadError(f"this is not a Keras model file: it looks like {other}")
            raise UploadError("this .keras file is damaged or truncated (it is not a complete zip archive); "
                              "save the model again with model.save('name.keras') and upload the new file")
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "config.json" not in names:
                raise UploadError("this zip archive is not a Keras model (it has no config.json); "
                                  "save the model with model.save('name.keras')")
            bad = archive.testzip()
            if bad is not None:
                raise UploadError(f"this .keras file is damaged ({bad} fails its checksum)")
    else:
        if not data.startswith(_HDF5_MAGIC):
            if data.startswith(b"PK"):
                raise UploadError("this .h5 file is really a .keras (zip) file: rename it to .keras and upload it again")
            raise UploadError(f"this is not an HDF5 (.h5) model file{': it looks like ' + other if other else ''}")


def _reason(exc: Exception) -> str:
    """Keras' loading error, said for the uploader."""
    text = str(exc)
    if "Lambda" in text or "lambda" in text:
        return ("the model contains a Lambda layer (Python code inside the file). Safe mode refuses to run code from "
                "uploaded files: rebuild the model with standard Keras layers (e.g. Rescaling instead of Lambda)")
    custom = re.search(r"Unknown (?:layer|object|function|activation|class)[^']*'([^']+)'", text) or \
        re.search(r"Could not locate (?:class|function) '([^']+)'", text)
    if custom or "could not be deserialized" in text or "custom_object" in text:
        name = f" ({custom.group(1)})" if custom else ""
        return (f"the model uses a custom layer or object{name} that ConvScope does not have; only standard Keras "
                "layers can be uploaded")
    if "No model config found" in text or "no model config" in text.lower():
        return "the file holds only weights, not a model: save the whole model with model.save('name.h5')"
    if "truncated" in text.lower() or "unable to open" in text.lower() or "Unable to synchronously" in text:
        return "the file is damaged or truncated; save the model again and upload the new file"
    first_line = text.strip().splitlines()[0][:200] if text.strip() else ""
    return f"Keras could not load it ({type(exc).__name__}: {first_line})"


def _load(data: bytes, suffix: str):
    import keras

    with tempfile.TemporaryDirectory(prefix="convscope-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            model = keras.models.load_model(path, safe_mode=True, compile=False)
        except Exception as exc:  # Keras raises ValueError, TypeError, OSError, KeyError... for bad files
            raise UploadError(_reason(exc)) from exc
    if not isinstance(model, keras.Model):
        raise UploadError(f"the file holds a {type(model).__name__}, not a Keras model")
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
        raise UploadError("the model has no defined input (build it with keras.Input((28, 28, 1)) first)") from exc
    if len(inputs) != 1:
        raise UploadError(f"the model takes {len(inputs)} inputs; ConvScope gives it one image")
    if len(outputs) != 1:
        raise UploadError(f"the model has {len(outputs)} outputs; ConvScope needs one output of 10 classes")
    shape = _shape(inputs[0])
    if shape not in ACCEPTED_INPUTS:
        raise UploadError(
            f"the model expects input of shape {shape}, but ConvScope's images are 28x28 grayscale: the model must take "
            "(28, 28, 1), (28, 28) or 784 values")
    out = _shape(outputs[0])
    if out != (10,):
        classes = out[0] if len(out) == 1 else out
        raise UploadError(f"the model has {classes} outputs; MNIST and Fashion-MNIST have 10 classes")


def _with_softmax(model):
    """Append a Softmax to a model whose last layer gives logits."""
    import keras

    names = {layer.name for layer in model.layers}
    name = "probabilities" if "probabilities" not in names else "softmax_probabilities"
    return keras.Model(model.inputs[0], keras.layers.Softmax(name=name)(model.outputs[0]), name=model.name)


def validate_upload(data: bytes, filename: str, dataset: str, class_names: list[str] | None = None) -> Upload:
    """Load and check an uploaded model file. Returns the model and its store metadata, or raises ``UploadError``."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in EXTENSIONS:
        raise UploadError(f"only .keras or .h5 model files can be uploaded (this is {suffix or 'a file without extension'})")
    if not data:
        raise UploadError("the file is empty")
    if len(data) > MAX_BYTES:
        raise UploadError(f"the file is larger than {MAX_BYTES // 2**20} MB")
    suffix = ".h5" if suffix == ".hdf5" else suffix
    _check_container(data, suffix)
    model = _load(data, suffix)
    check_model(model)
    notes = []
    if not _ends_in_softmax(model):
        model = _with_softmax(model)
        notes.append("its last layer gave raw scores (logits), so a Softmax layer was added to turn them into probabilities")
    try:  # one forward pass: a model that loads but cannot run (mismatched weights, odd layers) stops here
        x = np.zeros((1, *_shape(model.inputs[0])), np.float32)
        probs = np.asarray(model(x, training=False))
    except Exception as exc:
        raise UploadError(f"the model loads but cannot run on a 28x28 image ({type(exc).__name__}: {exc})") from exc
    if probs.shape != (1, 10) or not np.all(np.isfinite(probs)):
        raise UploadError("the model's output on a blank image is not 10 finite numbers")
    names = list(class_names) if class_names else [str(i) for i in range(10)]
    meta = {
        **base_metadata(model, dataset, names),
        "preset": "uploaded",
        "source": "upload",
        "original_filename": Path(filename).name,
        "file_format": "h5" if suffix == ".h5" else "keras",
        "input_shape": list(_shape(model.inputs[0])),
        "notes": notes,
    }
    return Upload(model=model, meta=meta, notes=notes)
