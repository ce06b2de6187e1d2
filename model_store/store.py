"""The model store: ``NAME.keras`` + ``NAME.json`` per model, shipped defaults read-only beside user models.

Writes go to hidden temp files and are renamed into place, ``.keras`` first and ``.json`` last, so
the metadata file is the commit marker: a model without it (a save killed half way) is never listed.
A store-wide lock serialises saves, renames and deletes across threads and processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from model_store.names import InvalidName, clean_name, same_name

DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"
USER_DIR_ENV = "CONVSCOPE_MODELS"
DEFAULT_USER_DIR = Path(__file__).resolve().parent.parent / "user_models"
ACTIVE_FILE = ".active.json"  # a dot-file: no model name can start with a dot
CACHE_DIR = ".cache"  # files derived from models (their LiteRT conversions), named by the model file's content
_TMP_PREFIX = ".tmp-"
_thread_lock = threading.Lock()


class StoreError(Exception):
    """A store operation was refused; the message says why."""


class NameTaken(StoreError):
    pass


class ReadOnlyModel(StoreError):
    pass


class ModelNotFound(StoreError):
    pass


@dataclass
class Entry:
    name: str
    path: Path  # the .keras file
    meta: dict = field(default_factory=dict)
    shipped: bool = False
    broken: str | None = None  # why the model cannot be used, when it cannot

    @property
    def dataset(self) -> str | None:
        return self.meta.get("dataset")

    @property
    def test_accuracy(self) -> float | None:
        return self.meta.get("test_accuracy")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a temp file beside it, synced, then renamed (readers never see half)."""
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _digest(model_file: Path) -> str:
    """The start of a file's SHA-256: what names the files derived from it."""
    return hashlib.sha256(Path(model_file).read_bytes()).hexdigest()[:24]


def _without_optimizer(model):
    """An uncompiled copy with the same weights: no optimizer state (a third of the file) and nothing the
    app needs lost. Rebuilt from the config, because ``clone_model`` keeps the compile state in Keras 3."""
    if getattr(model, "optimizer", None) is None:
        return model
    copy = model.__class__.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


class ModelStore:
    def __init__(self, user_dir: str | Path | None = None, defaults_dir: str | Path = DEFAULTS_DIR):
        self.user_dir = Path(user_dir or os.environ.get(USER_DIR_ENV) or DEFAULT_USER_DIR)
        self.defaults_dir = Path(defaults_dir)
        self.user_dir.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temp_files()

    # ---- reading -------------------------------------------------------------------------
    def _read_dir(self, folder: Path, shipped: bool) -> list[Entry]:
        entries = []
        if not folder.is_dir():
            return entries
        for meta_path in sorted(folder.glob("*.json")):
            if meta_path.name.startswith(".") or meta_path.name == ACTIVE_FILE:
                continue
            name = meta_path.stem
            entry = Entry(name=name, path=meta_path.with_suffix(".keras"), shipped=shipped)
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
                if not isinstance(meta, dict):
                    raise ValueError("not a JSON object")
                entry.meta = meta
            except (ValueError, OSError) as exc:
                entry.broken = f"metadata unreadable ({exc.__class__.__name__})"
            if not entry.path.is_file():
                entry.broken = "model file missing"
            entries.append(entry)
        return entries

    def list(self) -> list[Entry]:
        """Shipped defaults first, then user models, newest first."""
        user = self._read_dir(self.user_dir, shipped=False)
        user.sort(key=lambda e: e.meta.get("created_at", ""), reverse=True)
        return self._read_dir(self.defaults_dir, shipped=True) + user

    def get(self, name: str) -> Entry:
        for entry in self.list():
            if entry.name == name:
                return entry
        raise ModelNotFound(f"no model named {name!r}")

    def for_dataset(self, dataset: str) -> list[Entry]:
        return [e for e in self.list() if e.dataset == dataset and not e.broken]

    def load(self, name: str):
        """Load a model in Keras safe mode (no Lambda code or custom objects is ever run)."""
        import keras

        entry = self.get(name)
        if entry.broken:
            raise StoreError(f"model {name!r} is broken: {entry.broken}")
        return keras.models.load_model(entry.path, safe_mode=True, compile=False)

    def derived_path(self, model_file: Path, tag: str) -> Path:
        """Where to keep something derived from a model's file (``tag`` says what, e.g. its LiteRT conversion).
        Named by the file's content, so a changed or replaced model never meets an old one. OSError if the
        file cannot be read."""
        return self.user_dir / CACHE_DIR / f"{_digest(model_file)}-{tag}"

    def _prune_derived(self) -> None:
        """Remove derived files whose model file is gone (a LiteRT conversion is 1-2 MB); those of a model that
        still exists under any name, and files being written (temp names), stay."""
        folder = self.user_dir / CACHE_DIR
        if not folder.is_dir():
            return
        live = set()
        for entry in self.list():
            with contextlib.suppress(OSError):
                live.add(_digest(entry.path))
        for path in folder.iterdir():
            if not path.name.startswith(_TMP_PREFIX) and path.name.split("-", 1)[0] not in live:
                with contextlib.suppress(OSError):
                    path.unlink()

    # ---- active model per dataset ----------------------------------------------------------
    def _active_map(self) -> dict:
        try:
            data = json.loads((self.user_dir / ACTIVE_FILE).read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def active(self, dataset: str) -> str | None:
        """The chosen model for ``dataset``; falls back to the shipped default, then to any model."""
        candidates = self.for_dataset(dataset)
        chosen = self._active_map().get(dataset)
        for entry in candidates:
            if entry.name == chosen:
                return entry.name
        shipped = [e for e in candidates if e.shipped]
        return (shipped or candidates or [None])[0] and (shipped or candidates)[0].name

    def set_active(self, dataset: str, name: str) -> None:
        entry = self.get(name)
        if entry.dataset != dataset:
            raise StoreError(f"model {name!r} is for {entry.dataset}, not {dataset}")
        with self._locked():
            mapping = self._active_map()
            mapping[dataset] = name
            atomic_write(self.user_dir / ACTIVE_FILE, json.dumps(mapping, ensure_ascii=False).encode())

    # ---- writing -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self):
        with _thread_lock, open(self.user_dir / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _check_free(self, name: str, ignore: str | None = None) -> None:
        for entry in self.list():
            if entry.name != ignore and same_name(entry.name, name):
                kind = "a shipped model" if entry.shipped else "a model"
                raise NameTaken(f"{kind} named {entry.name!r} already exists; choose another name")

    def _user_entry(self, name: str) -> Entry:
        entry = self.get(name)
        if entry.shipped:
            raise ReadOnlyModel(f"{name!r} is a shipped default and cannot be changed")
        return entry

    def save(self, model, meta: dict, name: str) -> Entry:
        """Save ``model`` under a new validated name; refuses to overwrite."""
        name = clean_name(name)
        meta = {**meta, "name": name}
        keras_path = self.user_dir / f"{name}.keras"
        with self._locked():
            self._check_free(name)
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=".keras", dir=self.user_dir)
            os.close(fd)
            try:
                _without_optimizer(model).save(tmp)
                os.replace(tmp, keras_path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            atomic_write(self.user_dir / f"{name}.json", json.dumps(meta, indent=1, ensure_ascii=False).encode())
        return self.get(name)

    def save_file(self, keras_file: str | Path, meta: dict, name: str) -> Entry:
        """Store an already-saved ``.keras`` file (an upload that passed validation)."""
        name = clean_name(name)
        with self._locked():
            self._check_free(name)
            atomic_write(self.user_dir / f"{name}.keras", Path(keras_file).read_bytes())
            atomic_write(self.user_dir / f"{name}.json",
                          json.dumps({**meta, "name": name}, indent=1, ensure_ascii=False).encode())
        return self.get(name)

    def rename(self, old: str, new: str) -> Entry:
        new = clean_name(new)
        with self._locked():
            entry = self._user_entry(old)
            self._check_free(new, ignore=old)
            meta = {**entry.meta, "name": new}
            os.replace(entry.path, self.user_dir / f"{new}.keras")
            atomic_write(self.user_dir / f"{new}.json", json.dumps(meta, indent=1, ensure_ascii=False).encode())
            with contextlib.suppress(FileNotFoundError):
                if old != new:
                    os.unlink(self.user_dir / f"{old}.json")
            mapping = self._active_map()
            if old in mapping.values():
                mapping = {k: (new if v == old else v) for k, v in mapping.items()}
                atomic_write(self.user_dir / ACTIVE_FILE, json.dumps(mapping, ensure_ascii=False).encode())
        return self.get(new)

    def delete(self, name: str) -> None:
        with self._locked():
            entry = self._user_entry(name)
            # Metadata first: from that moment the model is no longer listed, whatever happens next.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.user_dir / f"{entry.name}.json")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
            self._prune_derived()

    def _remove_stale_temp_files(self) -> None:
        """Temp files left by a save that was killed. Every save holds the store lock while its temp
        file exists, so once we hold the lock, any temp file belongs to a dead writer."""
        with self._locked():
            for tmp in self.user_dir.glob(f"{_TMP_PREFIX}*"):
                with contextlib.suppress(OSError):
                    tmp.unlink()


__all__ = ["ModelStore", "Entry", "StoreError", "NameTaken", "ReadOnlyModel", "ModelNotFound", "InvalidName"]
