"""Class datasets: the drawings a whole class collects to teach a network, kept in the model store's folder.

Every pupil adds drawings from a session of their own, perhaps in another server process, to one folder, so
adding takes no lock: each drawing is one small file named by a new id of its own, written whole under a hidden
temporary name and renamed into place (``store.atomic_write``). Two writers never touch the same file, and a writer
killed half way leaves no half drawing, only a hidden temporary file that a later sweep removes. What a dataset's
drawings share, ``meta.json`` (kind, class names), changes only under an flock on ``class-data/.lock``, so two
processes creating, renaming or deleting at once do not lose each other's change. On disk::

    <store folder>/class-data/
        .lock
        <name>/meta.json               {"format", "name", "kind", "classes", "created", "source"}
        <name>/<class index>/<id>.npz  image: 28x28 uint8 (the model input); info: JSON; picture: PNG bytes (optional)

Class folders are numbered, so a class name is never a path and renaming a class moves no file. Counts are read
from the folders, never kept in ``meta.json``: an add writes nothing shared. A dataset appears and disappears by
one rename of its folder (built in a hidden temporary folder; renamed away before it is removed), and ``images``
reads the drawings into memory, skipping any that vanish while it reads, so deleting never breaks a training.

This module never imports Streamlit or ``training/``: pages, CLIs and the trainer all stand on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import logging
import math
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
import unicodedata
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from model_store import class_files, preprocess
from model_store.model_input import SIDE
from model_store.names import InvalidName, clean_name, same_name
from model_store.refusal import Refusal
from model_store.store import DEFAULT_USER_DIR, USER_DIR_ENV, atomic_write

FOLDER = "class-data"  # inside the model store's user folder
META = "meta.json"
FORMAT = 1
KINDS = ("digits", "custom")  # digits: classes 0-9, can be mixed with MNIST; custom: classes the class invents
DIGIT_CLASSES = tuple(str(d) for d in range(10))
DIGITS_NAME = "digits"  # the digits class dataset the Draw page's corrections go to
SOURCE_DRAWN = "drawn here"
MIN_CLASSES, MAX_CLASSES = 2, 20
MAX_CLASS_NAME = 32  # characters: a class name labels a bar of the probability chart
MAX_DRAWINGS = 20_000  # per dataset: with pictures a few KB each, ~100 MB at most
MAX_DATASETS = 50  # per store folder, so that a class cannot fill the disk
MIN_PER_CLASS = 10  # fewer drawings of a class than this teach a network nothing about it
MAX_PICTURE_INPUT = 4096  # pixels a side of a picture given to ``add``
MAX_PICTURE_SIDE = 400  # a picture is kept at most this long a side (the model input is 28x28 anyway)
MAX_TEXT = 64  # characters kept of the free texts of a drawing (model name, pupil id)
STALE_SECONDS = 3600  # a hidden temporary file this old in a class folder belongs to a writer that died
FORBIDDEN_CHARS = '/ \\ : * ? " < > |'  # what clean_name refuses, as a class-name refusal shows it
_ID = re.compile(r"\d{19}-[0-9a-f]{8}")  # nanoseconds since 1970 (rising within a process), then 32 random bits
_BUILDING = ".tmp-build-"  # a dataset being created or imported; its ``.owner`` file is flocked while it is
_DELETED = ".deleted-"  # a dataset renamed away, being removed
log = logging.getLogger(__name__)


class ClassDataError(Refusal):
    """Something about class datasets was refused; the code says why."""


class TooFast(Refusal):
    """A pupil adds drawings faster than a person draws; ``seconds`` says how long to wait."""

    @property
    def seconds(self) -> float:
        return self.values["seconds"]


@dataclass(frozen=True)
class ClassDataset:
    """One class dataset as it is now: what ``meta.json`` says and how many drawings each class has."""

    name: str
    kind: str
    classes: tuple[str, ...]
    counts: tuple[int, ...]
    created: str
    source: str
    broken: str | None = None  # why it cannot be used (its meta.json cannot be read); it can still be deleted

    @property
    def total(self) -> int:
        return sum(self.counts)

    def as_record(self) -> dict:
        record = {"name": self.name, "kind": self.kind, "classes": list(self.classes), "counts": list(self.counts),
                  "total": self.total, "created": self.created, "source": self.source}
        return {**record, "broken": self.broken} if self.broken else record


@dataclass(frozen=True)
class Drawing:
    """One drawing of a class dataset; ``image`` is the model input, (28, 28) uint8, ink bright."""

    id: str
    label: int
    class_name: str
    added_at: str
    image: np.ndarray
    misread_by: str | None = None  # the model that read it wrongly (a Draw-page correction) ...
    read_as: int | str | None = None  # ... and what it read
    pupil: str | None = None  # the session that added it
    has_picture: bool = False  # the picture it was made from is kept (``ClassDatasets.picture``)

    def as_record(self) -> dict:
        return {"id": self.id, "label": self.label, "class": self.class_name, "added_at": self.added_at,
                "misread_by": self.misread_by, "read_as": self.read_as, "pupil": self.pupil,
                "has_picture": self.has_picture}


# ---- rules -------------------------------------------------------------------------------------------------
def checked_classes(classes: Sequence[str] | None, kind: str | None = None) -> tuple[str, list[str]]:
    """The kind and the cleaned class names of a new class dataset, or ``Refusal``. Without a kind, classes 0-9 (or
    none) make a digits dataset and anything else a custom one. Class names are never paths or markup: they are
    cleaned like model names (``clean_name``), stored as given, and unique exactly (``A`` and ``a`` are two)."""
    if kind is None:
        kind = "digits" if classes is None or [str(c) for c in classes] == list(DIGIT_CLASSES) else "custom"
    if kind not in KINDS:
        raise ClassDataError("class_data_kind", kind=str(kind)[:MAX_TEXT])
    if kind == "digits":
        if classes is not None and [str(c) for c in classes] != list(DIGIT_CLASSES):
            raise ClassDataError("class_data_digit_classes")
        return kind, list(DIGIT_CLASSES)
    given = [] if classes is None else [classes] if isinstance(classes, str) else list(classes)
    if not MIN_CLASSES <= len(given) <= MAX_CLASSES:
        raise ClassDataError("class_data_class_count", low=MIN_CLASSES, high=MAX_CLASSES, count=len(given))
    cleaned: list[str] = []
    for number, raw in enumerate(given, 1):
        try:
            name = clean_name(raw)
        except InvalidName:
            name = None
        if name is None or len(name) > MAX_CLASS_NAME:
            raise ClassDataError("class_data_class_name", number=number, name=str(raw)[:MAX_TEXT],
                                 limit=MAX_CLASS_NAME, chars=FORBIDDEN_CHARS)
        if name in cleaned:
            raise ClassDataError("class_data_class_twice", name=name)
        cleaned.append(name)
    return kind, cleaned


def label_index(classes: Sequence[str], label, dataset: str) -> int:
    """The class index a label means: an index (int) or a class name (str); ``Refusal`` for anything else."""
    if isinstance(label, int | np.integer) and not isinstance(label, bool | np.bool_):
        if 0 <= label < len(classes):
            return int(label)
    elif isinstance(label, str):
        text = unicodedata.normalize("NFC", label).strip()
        if text in classes:
            return list(classes).index(text)
    raise ClassDataError("class_data_label", label=str(label)[:MAX_TEXT], name=dataset, classes=", ".join(classes))


def model_input(image=None, picture=None, polarity: str = "auto") -> np.ndarray:
    """The (28, 28) uint8 model input of a drawing: ``image`` as given (uint8, or floats in [0, 1] as
    ``preprocess`` makes them), else ``picture`` prepared as the Draw page prepares it (``mnist_style``). A blank
    input, or a picture of a dot or a filled area, is refused with that reason."""
    if image is not None:
        a = np.asarray(image)
        if a.shape == (SIDE, SIDE, 1):
            a = a[..., 0]
        numeric = np.issubdtype(a.dtype, np.number) and not np.issubdtype(a.dtype, np.complexfloating)
        if a.shape != (SIDE, SIDE) or not numeric:
            raise ClassDataError("class_data_image", shape=tuple(a.shape), dtype=str(a.dtype))
        if a.dtype != np.uint8:
            values = a.astype(np.float64)
            top = 255.0 if np.issubdtype(a.dtype, np.integer) else 1.0  # whole numbers are grey levels 0-255
            if not np.isfinite(values).all() or values.min() < 0.0 or values.max() > top:
                raise ClassDataError("class_data_image", shape=tuple(a.shape), dtype=str(a.dtype))
            a = values.astype(np.uint8) if top == 255.0 else preprocess.to_uint8(values)
        if not a.any():
            raise Refusal("image_empty")
        return np.ascontiguousarray(a, np.uint8)
    if picture is None:
        raise TypeError("a drawing needs its model input (image) or the picture it was drawn on")
    try:
        prepared = preprocess.mnist_style(picture_pixels(picture), polarity)
    except preprocess.PreprocessError as exc:  # a polarity that is not one of preprocess.POLARITIES
        raise ValueError(str(exc)) from exc
    if prepared.image is None:
        raise Refusal(preprocess.REFUSAL[prepared.status])
    return preprocess.to_uint8(prepared.image)


def picture_pixels(picture) -> np.ndarray:
    """``picture`` as uint8 (H, W), (H, W, 3) or (H, W, 4), each side 1 to ``MAX_PICTURE_INPUT``; ``Refusal`` if not."""
    a = np.asarray(picture)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    shape_ok = (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))) and 1 <= min(a.shape[:2])
    numeric = a.dtype == bool or (np.issubdtype(a.dtype, np.number) and not np.issubdtype(a.dtype, np.complexfloating))
    if not shape_ok or not numeric or max(a.shape[:2]) > MAX_PICTURE_INPUT:
        raise ClassDataError("class_data_picture", limit=MAX_PICTURE_INPUT, shape=tuple(a.shape))
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        values = a.astype(np.float64)
        if not np.isfinite(values).all():
            raise ClassDataError("class_data_picture", limit=MAX_PICTURE_INPUT, shape=tuple(a.shape))
        a = preprocess.to_uint8(values) if values.max(initial=0.0) <= 1.0 else np.clip(values + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def picture_png(picture) -> bytes:
    """The picture as it is kept: grey (with its alpha, a canvas' strokes), long side at most ``MAX_PICTURE_SIDE``."""
    img = Image.fromarray(picture_pixels(picture))
    img = img.convert("LA" if img.mode == "RGBA" else "L")
    img.thumbnail((MAX_PICTURE_SIDE, MAX_PICTURE_SIDE), Image.Resampling.BOX)
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


# ---- rate ------------------------------------------------------------------------------------------------------
class RateLimiter:
    """How fast one pupil may add drawings: at most one per ``min_interval`` seconds and ``per_minute`` in any minute.
    A person drawing is slower than that; a script or a held-down button is not. Keep one per server process (a
    pupil's session lives in one process) and call ``admit`` before ``ClassDatasets.add``. Thread-safe; ``clock``
    (seconds, never going back) is injectable for tests."""

    WINDOW = 60.0
    SLACK = 1e-6  # sums of float times: 0.7 s after the last is 0.7 s after it
    PRUNE_AT = 1024  # pupils remembered before the idle ones are forgotten

    def __init__(self, min_interval: float = 0.7, per_minute: int = 60, clock: Callable[[], float] = time.monotonic):
        self.min_interval = min_interval
        self.per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._times: dict[str, deque[float]] = {}

    def _wait(self, times: deque[float], now: float) -> float:
        while times and times[0] <= now - self.WINDOW:
            times.popleft()
        wait = times[-1] + self.min_interval - now if times else 0.0
        if len(times) >= self.per_minute:
            wait = max(wait, times[-self.per_minute] + self.WINDOW - now)
        return wait if wait > self.SLACK else 0.0

    def __len__(self) -> int:
        """How many pupils are remembered (idle ones are forgotten once there are more than ``PRUNE_AT``)."""
        with self._lock:
            return len(self._times)

    def wait_seconds(self, pupil: str) -> float:
        """How long ``pupil`` must wait before the next drawing is admitted (0: now); records nothing."""
        with self._lock:
            return self._wait(self._times.get(pupil, deque()), self._clock())

    def admit(self, pupil: str) -> None:
        """Count one drawing of ``pupil`` now, or raise ``TooFast`` (counting nothing)."""
        with self._lock:
            now = self._clock()
            times = self._times.setdefault(pupil, deque(maxlen=self.per_minute))
            wait = self._wait(times, now)
            if wait:
                raise TooFast("class_data_too_fast", seconds=math.ceil(round(wait * 10, 6)) / 10)  # tenths, up
            times.append(now)
            if len(self._times) > self.PRUNE_AT:
                self._times = {p: t for p, t in self._times.items() if t and t[-1] > now - self.WINDOW}


# ---- files -----------------------------------------------------------------------------------------------------
def _now(timespec: str = "seconds") -> str:
    return datetime.now(UTC).isoformat(timespec=timespec)


_last_stamp = [0]
_stamp_lock = threading.Lock()


def _new_id() -> str:
    """Sorts as the drawings were added (within a process: strictly rising; across processes: by the clock)."""
    with _stamp_lock:
        _last_stamp[0] = stamp = max(time.time_ns(), _last_stamp[0] + 1)
    return f"{stamp:019d}-{secrets.token_hex(4)}"


def _text(value) -> str | None:
    return None if value is None else str(value)[:MAX_TEXT]


def _dump(data: dict) -> bytes:
    return json.dumps(data, indent=1, ensure_ascii=False).encode()


def _drawing_bytes(image: np.ndarray, info: dict, png: bytes | None = None) -> bytes:
    arrays = {"image": image, "info": np.array(json.dumps(info, ensure_ascii=False))}
    if png is not None:
        arrays["picture"] = np.frombuffer(png, np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _read_drawing(path: Path) -> tuple[np.ndarray, dict, bool]:
    """Image, info and whether a picture is kept; ``OSError`` (``FileNotFoundError``: deleted) or ``ValueError``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            image, info, has_picture = data["image"], json.loads(data["info"].item()), "picture" in data.files
    except (KeyError, EOFError, zipfile.BadZipFile, RecursionError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path.name}: {type(exc).__name__}") from exc  # TypeError: not an .npz, or no JSON inside
    if image.shape != (SIDE, SIDE) or image.dtype != np.uint8 or not isinstance(info, dict):
        raise ValueError(f"{path.name}: not a drawing")
    return image, info, has_picture


def _meta_problem(meta) -> str | None:
    if not isinstance(meta, dict):
        return "meta.json is not an object"
    if meta.get("kind") not in KINDS:
        return "its kind is neither digits nor custom"
    classes = meta.get("classes")
    if not isinstance(classes, list) or not all(isinstance(c, str) and c for c in classes) or \
            not MIN_CLASSES <= len(classes) <= MAX_CLASSES or len(set(classes)) != len(classes):
        return "its class names are not 2 to 20 different names"
    if meta["kind"] == "digits" and classes != list(DIGIT_CLASSES):
        return "a digits dataset whose classes are not 0 to 9"
    if not isinstance(meta.get("created", ""), str) or not isinstance(meta.get("source", ""), str):
        return "its creation time or source is not text"
    return None


class ClassDatasets:
    """The class datasets of one model store folder (``CONVSCOPE_MODELS`` or ``user_models/`` by default)."""

    def __init__(self, store_dir: str | Path | None = None):
        self.store_dir = Path(store_dir or os.environ.get(USER_DIR_ENV) or DEFAULT_USER_DIR)
        self.root = self.store_dir / FOLDER

    # ---- reading ------------------------------------------------------------------------------------------
    def _folder(self, name: str) -> Path:
        return self.root / clean_name(name)

    def _meta(self, folder: Path) -> dict:
        try:
            meta = json.loads((folder / META).read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ClassDataError("class_data_not_found", name=folder.name) from exc
        except (OSError, ValueError, RecursionError) as exc:
            raise ClassDataError("class_data_broken", name=folder.name,
                                 problem=f"meta.json unreadable ({type(exc).__name__})") from exc
        problem = _meta_problem(meta)
        if problem:
            raise ClassDataError("class_data_broken", name=folder.name, problem=problem)
        return meta

    @staticmethod
    def _ids(folder: Path, index: int) -> list[str]:
        """The ids of the drawings of one class, oldest first (hidden temporary files left out)."""
        try:
            with os.scandir(folder / str(index)) as entries:
                return sorted(e.name[:-4] for e in entries if e.name.endswith(".npz") and _ID.fullmatch(e.name[:-4]))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _summary(self, folder: Path, meta: dict) -> ClassDataset:
        counts = tuple(len(self._ids(folder, i)) for i in range(len(meta["classes"])))
        return ClassDataset(folder.name, meta["kind"], tuple(meta["classes"]), counts, meta.get("created", ""),
                            meta.get("source", ""))

    def list(self) -> list[ClassDataset]:
        """Every class dataset, newest first; one whose ``meta.json`` cannot be read is listed with ``broken`` set."""
        try:
            folders = sorted(p for p in self.root.iterdir() if not p.name.startswith(".") and p.is_dir())
        except OSError:
            return []
        found = []
        for folder in folders:
            try:
                found.append(self._summary(folder, self._meta(folder)))
            except ClassDataError as exc:
                if exc.code == "class_data_broken":
                    found.append(ClassDataset(folder.name, "", (), (), "", "", broken=exc.values["problem"]))
        return sorted(found, key=lambda d: d.created, reverse=True)

    def get(self, name: str) -> ClassDataset:
        """One class dataset with its counts per class; ``Refusal`` when there is none of that name."""
        folder = self._folder(name)
        return self._summary(folder, self._meta(folder))

    def too_few(self, name: str, minimum: int = MIN_PER_CLASS) -> list[tuple[str, int]]:
        """The classes with fewer than ``minimum`` drawings, with their counts: what the Train page says first."""
        info = self.get(name)
        return [(c, n) for c, n in zip(info.classes, info.counts) if n < minimum]

    def require_ready(self, name: str, minimum: int = MIN_PER_CLASS) -> ClassDataset:
        """The dataset when every class has ``minimum`` drawings, else ``Refusal`` naming the classes short of it."""
        short = self.too_few(name, minimum)
        if short:
            raise ClassDataError("class_data_too_few", name=clean_name(name), minimum=minimum,
                                 classes=", ".join(f"{c} ({n})" for c, n in short))
        return self.get(name)

    def _listing(self, folder: Path, indices: Iterable[int]) -> list[tuple[int, str]]:
        """(class index, id) of every drawing of those classes now; ``images`` reads them after."""
        return [(index, drawing_id) for index in indices for drawing_id in self._ids(folder, index)]

    def drawings(self, name: str, label=None) -> list[Drawing]:
        """The drawings (of one class: ``label``, an index or a class name), class by class, oldest first. A drawing
        deleted while this reads is left out; a damaged file is left out and logged."""
        folder = self._folder(name)
        classes = self._meta(folder)["classes"]
        indices = range(len(classes)) if label is None else [label_index(classes, label, folder.name)]
        found = []
        for index, drawing_id in self._listing(folder, indices):
            path = folder / str(index) / f"{drawing_id}.npz"
            try:
                image, info, has_picture = _read_drawing(path)
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                log.warning("class data %s: skipped %s (%s)", folder.name, path.name, exc)
                continue
            read_as = info.get("read_as")
            found.append(Drawing(drawing_id, index, classes[index], str(info.get("added_at", "")), image,
                                 _text(info.get("misread_by")), read_as if isinstance(read_as, int) else _text(read_as),
                                 _text(info.get("pupil")), has_picture))
        return found

    def images(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """What a training reads: ``x`` (n, 28, 28) uint8 and ``y`` (n,) uint8 class indices, every drawing there is
        now, in memory; drawings deleted meanwhile are skipped, so deleting never breaks a training."""
        found = self.drawings(name)
        x = np.stack([d.image for d in found]) if found else np.zeros((0, SIDE, SIDE), np.uint8)
        return x, np.array([d.label for d in found], np.uint8)

    def _drawing_path(self, name: str, drawing_id: str) -> Path:
        folder = self._folder(name)
        classes = self._meta(folder)["classes"]
        if isinstance(drawing_id, str) and _ID.fullmatch(drawing_id):
            for index in range(len(classes)):
                path = folder / str(index) / f"{drawing_id}.npz"
                if path.is_file():
                    return path
        raise ClassDataError("class_data_drawing_not_found", name=folder.name, id=str(drawing_id)[:MAX_TEXT])

    def picture(self, name: str, drawing_id: str) -> bytes | None:
        """The PNG of the picture a drawing was made from, or None when only its model input was kept."""
        path = self._drawing_path(name, drawing_id)
        try:
            with np.load(path, allow_pickle=False) as data:
                return data["picture"].tobytes() if "picture" in data.files else None
        except FileNotFoundError as exc:
            raise ClassDataError("class_data_drawing_not_found", name=path.parent.parent.name, id=drawing_id) from exc

    # ---- adding and deleting drawings (no lock: one file each) ----------------------------------------------
    def add(self, name: str, label, image=None, *, picture=None, polarity: str = "auto", misread_by: str | None = None,
            read_as: int | str | None = None, pupil: str | None = None) -> Drawing:
        """Add one drawing: its model input ``image`` (28x28), or ``picture`` (what was drawn; prepared as the Draw
        page prepares it when ``image`` is None, and kept). ``misread_by``/``read_as``: the model that read it
        wrongly and what it read (a correction). Refused: an unknown label, a blank drawing, a dot or a filled area,
        a full dataset. Rate limits are the caller's (``RateLimiter``)."""
        folder = self._folder(name)
        meta = self._meta(folder)
        index = label_index(meta["classes"], label, folder.name)
        pixels = model_input(image, picture, polarity)
        png = None if picture is None else picture_png(picture)
        total = sum(len(self._ids(folder, i)) for i in range(len(meta["classes"])))
        if total >= MAX_DRAWINGS:  # writers at the same instant may each pass: the limit holds within a few
            raise ClassDataError("class_data_full", name=folder.name, count=total, limit=MAX_DRAWINGS)
        drawing_id, added_at = _new_id(), _now("milliseconds")
        read_as = int(read_as) if isinstance(read_as, int | np.integer) else _text(read_as)
        info = {"label": index, "added_at": added_at, "misread_by": _text(misread_by), "read_as": read_as,
                "pupil": _text(pupil)}
        path = folder / str(index) / f"{drawing_id}.npz"
        try:
            atomic_write(path, _drawing_bytes(pixels, info, png))
        except (FileNotFoundError, NotADirectoryError) as exc:  # the dataset was deleted meanwhile
            raise ClassDataError("class_data_not_found", name=folder.name) from exc
        except OSError as exc:
            raise ClassDataError("class_data_cannot_write", path=str(path.parent), detail=exc.strerror or str(exc)) from exc
        return Drawing(drawing_id, index, meta["classes"][index], added_at, pixels, info["misread_by"], read_as,
                       info["pupil"], png is not None)

    def delete_drawing(self, name: str, drawing_id: str) -> None:
        """Remove one drawing; a training reading the dataset meanwhile goes on without it."""
        path = self._drawing_path(name, drawing_id)
        try:
            path.unlink()
        except FileNotFoundError as exc:  # deleted by someone else meanwhile
            raise ClassDataError("class_data_drawing_not_found", name=path.parent.parent.name, id=drawing_id) from exc
        except OSError as exc:
            raise ClassDataError("class_data_cannot_write", path=str(path.parent), detail=exc.strerror or str(exc)) from exc

    # ---- what the whole dataset shares (under the lock) ------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self):
        """The class-data lock, across threads and processes (an flock per open file; the kernel frees it when its
        process dies)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle = open(self.root / ".lock", "a+")
        except OSError as exc:
            raise ClassDataError("class_data_cannot_write", path=str(self.root), detail=exc.strerror or str(exc)) from exc
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _check_free(self, name: str) -> None:
        try:
            names = [p.name for p in self.root.iterdir() if not p.name.startswith(".")]
        except OSError:
            names = []
        for existing in names:
            if same_name(existing, name):
                raise ClassDataError("class_data_name_taken", name=existing)
        if len(names) >= MAX_DATASETS:
            raise ClassDataError("class_data_too_many", count=len(names), limit=MAX_DATASETS)

    @contextlib.contextmanager
    def _building(self):
        """A hidden folder to build a dataset in, owned (its ``.owner`` flocked) until it is published or dropped:
        a sweep removes only folders whose owner is gone."""
        with self._locked():
            folder = Path(tempfile.mkdtemp(prefix=_BUILDING, dir=self.root))
            owner = open(folder / ".owner", "w")
            fcntl.flock(owner, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            owner.close()
            shutil.rmtree(folder, ignore_errors=True)  # nothing left after a publish

    def _publish(self, name: str, meta: dict, drawings: Iterable[tuple[int, np.ndarray]] = ()) -> ClassDataset:
        """Build the dataset in a hidden folder, then rename it into place under the lock: it appears whole."""
        self._check_free(name)  # early, so that a long import is refused before it starts; again under the lock
        with self._building() as building:
            try:
                for index in range(len(meta["classes"])):
                    (building / str(index)).mkdir()
                stamp, added_at = time.time_ns(), meta["created"]
                for count, (index, image) in enumerate(drawings):  # a fresh folder: no one else writes in it
                    info = {"label": index, "added_at": added_at, "misread_by": None, "read_as": None, "pupil": None}
                    (building / str(index) / f"{stamp:019d}-{count:08x}.npz").write_bytes(_drawing_bytes(image, info))
                atomic_write(building / META, _dump(meta))
            except OSError as exc:
                raise ClassDataError("class_data_cannot_write", path=str(self.root), detail=exc.strerror or str(exc)) from exc
            with self._locked():
                self._sweep()
                self._check_free(name)
                (building / ".owner").unlink()
                os.rename(building, self.root / name)
        return self.get(name)

    def create(self, name: str, classes: Sequence[str] | None = None, kind: str | None = None) -> ClassDataset:
        """A new, empty class dataset: ``kind`` "digits" (classes 0-9) or "custom" (2-20 named classes)."""
        name = clean_name(name)
        kind, classes = checked_classes(classes, kind)
        return self._publish(name, {"format": FORMAT, "name": name, "kind": kind, "classes": classes,
                                    "created": _now(), "source": SOURCE_DRAWN})

    def ensure_digits(self, name: str = DIGITS_NAME) -> ClassDataset:
        """The digits class dataset corrections go to, created the first time it is needed."""
        try:
            info = self.get(name)
        except ClassDataError as exc:
            if exc.code != "class_data_not_found":
                raise
            try:
                info = self.create(name, kind="digits")
            except ClassDataError as race:
                if race.code != "class_data_name_taken":
                    raise
                info = self.get(name)
        if info.kind != "digits":
            raise ClassDataError("class_data_not_digits", name=info.name)
        return info

    def rename_classes(self, name: str, classes: Sequence[str]) -> ClassDataset:
        """New names for the classes of a custom dataset, as many as it has; the drawings stay where they are."""
        with self._locked():
            folder = self._folder(name)
            meta = self._meta(folder)
            if meta["kind"] == "digits":
                raise ClassDataError("class_data_digit_classes")
            _, classes = checked_classes(classes, "custom")
            if len(classes) != len(meta["classes"]):
                raise ClassDataError("class_data_class_count_fixed", name=folder.name, count=len(meta["classes"]))
            atomic_write(folder / META, _dump({**meta, "classes": classes}))
        return self.get(name)

    def delete(self, name: str) -> None:
        """Remove a class dataset: renamed away at once (no longer listed), then removed. A training reading it
        keeps what it has read."""
        with self._locked():
            folder = self._folder(name)
            if folder.is_symlink() or not folder.is_dir():
                raise ClassDataError("class_data_not_found", name=folder.name)
            gone = self.root / f"{_DELETED}{secrets.token_hex(6)}"
            os.rename(folder, gone)
        shutil.rmtree(gone, ignore_errors=True)

    def _sweep(self) -> None:
        """Remove what killed writers left (called under the lock): build folders whose owner is gone, deletes not
        finished, and hidden temporary files older than ``STALE_SECONDS`` in class folders."""
        def entries(folder) -> list[os.DirEntry]:
            try:
                with os.scandir(folder) as found:
                    return list(found)
            except OSError:
                return []

        now = time.time()
        for entry in entries(self.root):
            if entry.name.startswith(_DELETED) or (entry.name.startswith(_BUILDING) and self._abandoned(Path(entry.path))):
                shutil.rmtree(entry.path, ignore_errors=True)
            elif not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                for class_dir in entries(entry.path):
                    if class_dir.name.isdecimal() and class_dir.is_dir(follow_symlinks=False):
                        for item in entries(class_dir.path):
                            if item.name.startswith("."):
                                with contextlib.suppress(OSError):
                                    if now - item.stat(follow_symlinks=False).st_mtime > STALE_SECONDS:
                                        os.unlink(item.path)

    @staticmethod
    def _abandoned(folder: Path) -> bool:
        try:
            with open(folder / ".owner") as owner:
                fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
        except BlockingIOError:
            return False
        except OSError:
            return True  # no owner file: made and owned under the lock we hold, so its maker died

    # ---- files: MNIST's IDX format and .npz (model_store.class_files) -------------------------------------
    def export(self, name: str, folder: str | Path) -> list[Path]:
        """Write the dataset into ``folder`` as ``class_files.export_files`` says (IDX images and labels, class
        names, ``.npz``); the paths written."""
        info = self.get(name)
        x, y = self.images(name)
        out = Path(folder)
        files = class_files.export_files(info.name, info.kind, list(info.classes), x, y)
        try:
            out.mkdir(parents=True, exist_ok=True)
            for file_name, data in files.items():
                atomic_write(out / file_name, data)
        except OSError as exc:
            raise ClassDataError("class_data_cannot_write", path=str(out), detail=exc.strerror or str(exc)) from exc
        return [out / file_name for file_name in files]

    def import_file(self, path: str | Path, name: str | None = None) -> ClassDataset:
        """A new class dataset from a file ``export`` wrote (the ``.npz``, or either IDX file with the other beside
        it), or MNIST's own IDX files (digits; labels above 9 without class names: classes named by number). Named
        ``name``, else after the file. Everything is checked before anything is written; the dataset appears whole
        or not at all."""
        path = Path(path)
        found = class_files.read_class_file(path, MAX_DRAWINGS)
        name = clean_name(name if name is not None else found.name)
        lowest, highest = (int(found.labels.min()), int(found.labels.max())) if len(found.labels) else (0, 0)
        named = found.classes
        if named is None and highest > 9:
            named = [str(i) for i in range(highest + 1)]
        kind, classes = checked_classes(named, found.kind)
        if lowest < 0 or highest >= len(classes):
            raise ClassDataError("class_data_import_label_range", file=path.name, label=lowest if lowest < 0 else highest,
                                 count=len(classes), last=len(classes) - 1)
        meta = {"format": FORMAT, "name": name, "kind": kind, "classes": classes, "created": _now(),
                "source": f"imported from {path.name}"}
        return self._publish(name, meta, zip(found.labels.tolist(), found.images))
