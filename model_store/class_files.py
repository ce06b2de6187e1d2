"""The files a class dataset is exported to and imported from: MNIST's own IDX format, and ``.npz``.

``export_files`` makes them; ``read_class_file`` reads them back, or MNIST's own IDX files, and checks everything
before a byte of the data is trusted: magic numbers, sizes against the header, 28x28 images, labels that match the
images. A file to import comes from a user, so it is bounded before it is read: its size on disk, the image count
in an IDX header (read first), the declared size of each ``.npz`` array (from the zip's directory, before it is
inflated), and ``allow_pickle=False``. The IDX checks and their refusals are those of ``training.datasets.read_idx``
(``model_store`` reads nothing from ``training/``).
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_store.model_input import SIDE
from model_store.refusal import Refusal

MAX_FILE_BYTES = 64 * 2**20  # a file to import (an IDX pair together)
NPZ_ARRAYS = ("images", "labels", "classes", "kind")  # what an exported .npz holds
IDX_IMAGES = re.compile(r"^(?P<prefix>.*?)-?images-idx3-ubyte(?P<gz>\.gz)?$")
IDX_LABELS = re.compile(r"^(?P<prefix>.*?)-?labels-idx1-ubyte(?P<gz>\.gz)?$")


@dataclass(frozen=True)
class ClassFile:
    """What a file to import holds; ``classes`` and ``kind`` None when it does not say (plain MNIST IDX files)."""

    name: str  # what to call the dataset when the caller gives no name
    images: np.ndarray  # (n, 28, 28) uint8
    labels: np.ndarray  # (n,) integers, not yet checked against the classes
    classes: list[str] | None
    kind: str | None


def idx_bytes(array: np.ndarray) -> bytes:
    """MNIST's IDX encoding of a uint8 array: two zero bytes, type 0x08, the number of dimensions, big-endian
    uint32 sizes, the bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def export_files(name: str, kind: str, classes: list[str], images: np.ndarray, labels: np.ndarray) -> dict[str, bytes]:
    """File name -> content: ``NAME-images-idx3-ubyte.gz`` and ``NAME-labels-idx1-ubyte.gz`` (MNIST's format, what
    ``training.datasets.read_idx`` reads), ``NAME-classes.json`` (kind and class names, which IDX cannot hold) and
    ``NAME.npz`` (images, labels, classes, kind)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, labels=labels, classes=np.array(classes), kind=np.array(kind))
    description = {"name": name, "kind": kind, "classes": list(classes)}
    return {
        f"{name}-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images), mtime=0),
        f"{name}-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels), mtime=0),
        f"{name}-classes.json": json.dumps(description, indent=1, ensure_ascii=False).encode(),
        f"{name}.npz": buffer.getvalue(),
    }


def zipped(files: dict[str, bytes]) -> bytes:
    """Files (name -> content) in one zip, for one download: the IDX pair and the class names belong together."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # the IDX files are gzipped already
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def read_idx(path: Path, dims: int, max_count: int) -> np.ndarray:
    """One IDX file (gzip or not), with ``training.datasets.read_idx``'s checks and refusals, bounded: the header is
    read first, and more than ``max_count`` entries, or images other than 28x28, are refused before the data."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            head = handle.read(4)
            if len(head) < 4:
                raise Refusal("data_too_short", path=str(path), size=len(head))
            zero, dtype_code, ndim = struct.unpack(">HBB", head)
            if zero != 0 or dtype_code != 0x08:
                raise Refusal("data_wrong_magic", path=str(path), found=head.hex(), dims=dims)
            if ndim != dims:
                raise Refusal("data_wrong_dimensions", path=str(path), ndim=ndim, dims=dims)
            sizes = handle.read(4 * ndim)
            if len(sizes) < 4 * ndim:
                raise Refusal("data_truncated_header", path=str(path))
            shape = struct.unpack(f">{ndim}I", sizes)
            if shape[0] > max_count:
                raise Refusal("class_data_import_too_big", file=path.name, count=shape[0], limit=max_count)
            if dims == 3 and shape[1:] != (SIDE, SIDE):
                raise Refusal("data_image_shape", where=str(path), shape=shape)
            size = math.prod(shape)
            body = handle.read(size)
            extra = 0
            while len(body) == size and extra <= MAX_FILE_BYTES and (chunk := handle.read(2**20)):
                extra += len(chunk)  # counted, not kept, and only so far: a gzip bomb stops here
    except (OSError, EOFError, zlib.error) as exc:
        raise Refusal("data_unreadable", path=str(path), detail=str(exc)) from exc
    if len(body) != size or extra:
        raise Refusal("data_wrong_size", path=str(path), shape=shape, size=size, actual=len(body) + extra)
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def read_class_file(path: str | Path, max_count: int) -> ClassFile:
    """Read and check a file to import: ``.npz`` with images, labels, classes (and kind), or IDX images with the labels
    file beside it (either file may be given: ``NAME-images-idx3-ubyte[.gz]``, ``NAME-labels-idx1-ubyte[.gz]``; class
    names from ``NAME-classes.json`` when it is there). At most ``max_count`` images."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise IsADirectoryError(21, "not a file")
    except OSError as exc:
        raise Refusal("file_unreadable", detail=exc.strerror or str(exc)) from exc
    if size > MAX_FILE_BYTES:
        raise Refusal("upload_too_big", limit_mb=MAX_FILE_BYTES // 2**20)
    if path.suffix == ".npz":
        found = _read_npz(path, max_count)
    elif IDX_IMAGES.match(path.name) or IDX_LABELS.match(path.name):
        found = _read_idx_pair(path, max_count)
    else:
        raise Refusal("class_data_import_format", file=path.name)
    if len(found.labels) != len(found.images):
        raise Refusal("data_label_count", where=path.name, labels=len(found.labels), images=len(found.images))
    return found


def _read_idx_pair(path: Path, max_count: int) -> ClassFile:
    images_match = IDX_IMAGES.match(path.name)
    match = images_match or IDX_LABELS.match(path.name)
    prefix = match["prefix"]
    stem = f"{prefix}-" if prefix else ""

    def partner(kind: str) -> Path:
        for gz in (match["gz"] or "", "" if match["gz"] else ".gz"):  # the same compression first
            candidate = path.with_name(f"{stem}{kind}{gz}")
            if candidate.is_file():
                return candidate
        raise Refusal("class_data_import_partner_missing", file=path.name, missing=f"{stem}{kind}[.gz]")

    images_path = path if images_match else partner("images-idx3-ubyte")
    labels_path = partner("labels-idx1-ubyte") if images_match else path
    if images_path.stat().st_size + labels_path.stat().st_size > MAX_FILE_BYTES:
        raise Refusal("upload_too_big", limit_mb=MAX_FILE_BYTES // 2**20)
    images, labels = read_idx(images_path, 3, max_count), read_idx(labels_path, 1, max_count)
    classes = kind = None
    classes_path = path.with_name(f"{stem}classes.json")
    if classes_path.is_file():
        try:
            described = json.loads(classes_path.read_text(encoding="utf-8")[:2**20])
            classes, kind = described["classes"], described.get("kind")
            if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes) or \
                    not isinstance(kind, str | None):
                raise ValueError("classes must be a list of names, kind a name")
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise Refusal("class_data_import_classes", file=classes_path.name, detail=str(exc)[:200]) from exc
    return ClassFile(prefix or "imported", images, labels, classes, kind)


def _read_npz(path: Path, max_count: int) -> ClassFile:
    def refused(detail: str) -> Refusal:
        return Refusal("class_data_import_npz", file=path.name, detail=detail)

    limits = {"images.npy": max_count * SIDE * SIDE + 4096, "labels.npy": max_count * 8 + 4096}
    try:
        with zipfile.ZipFile(path) as archive:  # the directory only: declared sizes, before anything is inflated
            sizes = {member.filename: member.file_size for member in archive.infolist()}
    except (OSError, zipfile.BadZipFile) as exc:
        raise refused(type(exc).__name__) from exc
    if len(sizes) > len(NPZ_ARRAYS):
        raise refused(f"{len(sizes)} arrays; a class dataset has {', '.join(NPZ_ARRAYS)}")
    for member in ("images.npy", "labels.npy"):
        if member not in sizes:
            raise refused(f"no '{member[:-4]}' array")
    if sizes["images.npy"] > limits["images.npy"]:
        raise Refusal("class_data_import_too_big", file=path.name, count=sizes["images.npy"] // (SIDE * SIDE),
                      limit=max_count)
    if any(size > limits.get(member, 2**16) for member, size in sizes.items()):
        raise refused("an array is larger than a class dataset's")
    try:
        with np.load(path, allow_pickle=False) as data:
            images, labels = data["images"], data["labels"]
            classes = data["classes"] if "classes" in data.files else None
            kind = data["kind"] if "kind" in data.files else None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # ValueError: an object array
        raise refused(str(exc)[:200]) from exc
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise Refusal("data_image_shape", where=path.name, shape=images.shape)
    if images.dtype != np.uint8:
        raise refused(f"images are {images.dtype}, not uint8")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise refused("labels must be one whole number per image")
    if classes is not None and (classes.ndim != 1 or classes.dtype.kind != "U"):
        raise refused("classes must be a list of names")
    if kind is not None and (kind.ndim != 0 or kind.dtype.kind != "U"):
        raise refused("kind must be a name")
    return ClassFile(path.stem, images, labels.astype(np.int64),
                     None if classes is None else [str(c) for c in classes], None if kind is None else str(kind))
