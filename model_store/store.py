"""The model store: ``NAME.keras`` + ``NAME.json`` per model, shipped defaults read-only beside user models.

Writes go to hidden temp files and are renamed into place, ``.keras`` first and ``.json`` last, so
the metadata file is the commit marker: a model without it (a save killed half way) is never listed,
and the next store to open the folder removes it. A rename writes its intent first, so a rename that
was killed is finished the next time. A store-wide lock serialises saves, renames and deletes across
threads and processes. Metadata is checked field by field when read (``model_store.metadata``): a bad
file makes its model "broken", never the listing. A folder that cannot be written is used read-only.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from model_store.layer_names import with_safe_names
from model_store.metadata import BadMetadata, validate
from model_store.names import InvalidName, clean_name, same_name
from model_store.refusal import Refusal

DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"
USER_DIR_ENV = "CONVSCOPE_MODELS"
DEFAULT_USER_DIR = Path(__file__).resolve().parent.parent / "user_models"
ACTIVE_FILE = ".active.json"  # a dot-file: no model name can start with a dot
CACHE_DIR = ".cache"  # files derived from models (their LiteRT conversions), named by the model file's content
SAVE_JOURNAL = ".saving.json"  # the model being saved: undone by the next store if the saver was killed
RENAME_JOURNAL = ".rename.json"  # the rename in progress: finished by the next store if the renamer was killed
WORK_PREFIX = ".tmp-work-"  # a folder where an upload is checked; its ``.owner`` file is locked while in use
_TMP_PREFIX = ".tmp-"
_thread_lock = threading.Lock()
log = logging.getLogger(__name__)


class StoreError(Refusal):
    """A store operation was refused; the code says why."""


class NameTaken(StoreError):
    pass


class ReadOnlyModel(StoreError):
    pass


class ModelNotFound(StoreError):
    pass


class ReadOnlyStore(StoreError):
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


def _dump(meta: dict) -> bytes:
    return json.dumps(meta, indent=1, ensure_ascii=False).encode()


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
        self.read_only = False  # set when the folder cannot be written: listing and loading still work
        # Parsed metadata by file, with the stat that read it: a listing per stroke reads the folder, not every file.
        self._parsed: dict[Path, tuple[tuple[int, int, int], dict]] = {}
        try:
            self.user_dir.mkdir(parents=True, exist_ok=True)
            if not os.access(self.user_dir, os.W_OK):
                raise PermissionError(f"no write permission on {self.user_dir}")
            self._recover()
        except (OSError, ReadOnlyStore) as exc:
            self.read_only = True
            log.warning("model store %s is read-only (%s): models can be used, not saved", self.user_dir, exc)

    # ---- reading -------------------------------------------------------------------------
    def _read_dir(self, folder: Path, shipped: bool) -> list[Entry]:
        entries = []
        if not folder.is_dir():
            return entries
        for meta_path in sorted(folder.glob("*.json")):
            if meta_path.name.startswith(".") or meta_path.name == ACTIVE_FILE:
                continue
            entry = Entry(name=meta_path.stem, path=meta_path.with_suffix(".keras"), shipped=shipped)
            entry.broken = self._problem(meta_path, entry)
            entries.append(entry)
        return entries

    def _metadata(self, meta_path: Path) -> dict:
        """The validated metadata of one file, parsed again only when the file changed: every save is a new file
        (``atomic_write``), so another process' change shows in its stat. A copy of the top level; the values
        inside (history, layers) are shared with the next listing: read them, never change them."""
        stat = meta_path.stat()
        version = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        known = self._parsed.get(meta_path)
        if known is None or known[0] != version:
            known = version, validate(json.loads(meta_path.read_text(encoding="utf-8")))
            self._parsed[meta_path] = known
        return dict(known[1])

    def _problem(self, meta_path: Path, entry: Entry) -> str | None:
        """Why the entry cannot be used (and its ``meta`` is left empty), or None with ``meta`` filled."""
        if not meta_path.is_file() or (entry.path.exists() and not entry.path.is_file()):
            return "not a model file (a folder or a special file)"
        try:
            meta = self._metadata(meta_path)
        except BadMetadata as exc:
            return f"metadata: {exc}"
        except (ValueError, OSError, RecursionError) as exc:
            return f"metadata unreadable ({exc.__class__.__name__})"
        if not entry.path.is_file():
            return "model file missing"
        entry.meta = meta
        return None

    def list(self) -> list[Entry]:
        """Shipped defaults first, then user models, newest first."""
        user = self._read_dir(self.user_dir, shipped=False)
        user.sort(key=lambda e: e.meta.get("created_at", ""), reverse=True)
        return self._read_dir(self.defaults_dir, shipped=True) + user

    def get(self, name: str) -> Entry:
        for entry in self.list():
            if entry.name == name:
                return entry
        raise ModelNotFound("model_not_found", name=name)

    def for_dataset(self, dataset: str) -> list[Entry]:
        return [e for e in self.list() if e.dataset == dataset and not e.broken]

    def for_class_data(self) -> list[Entry]:
        """Models of classes a class invented: each learned a class dataset (its ``dataset`` is that one's name)."""
        return [e for e in self.list() if not e.broken and e.meta.get("class_data")
                and e.dataset == e.meta["class_data"]]

    def load(self, name: str):
        """Load a model in Keras safe mode (no Lambda code or custom objects is ever run)."""
        import keras

        entry = self.get(name)
        if entry.broken:
            raise StoreError("model_broken", name=name, problem=entry.broken)
        try:
            model = keras.models.load_model(entry.path, safe_mode=True, compile=False)
        except Exception as exc:  # a file damaged on disk: Keras raises many kinds
            raise StoreError("model_broken", name=name, problem=f"Keras could not load it ({type(exc).__name__})") from exc
        return with_safe_names(model)[0]

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
            raise StoreError("model_wrong_dataset", name=name, dataset=entry.dataset, wanted=dataset)
        with self._locked():
            mapping = self._active_map()
            mapping[dataset] = name
            atomic_write(self.user_dir / ACTIVE_FILE, json.dumps(mapping, ensure_ascii=False).encode())

    # ---- writing -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self):
        if self.read_only:
            raise ReadOnlyStore("store_read_only", folder=str(self.user_dir))
        with _thread_lock:
            try:
                handle = open(self.user_dir / ".lock", "a+")
            except OSError as exc:
                raise ReadOnlyStore("store_read_only", folder=str(self.user_dir)) from exc
            with handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def _check_free(self, name: str, ignore: str | None = None) -> None:
        for entry in self.list():
            if entry.name != ignore and same_name(entry.name, name):
                raise NameTaken("name_taken_shipped" if entry.shipped else "name_taken", name=entry.name)

    def check_new_name(self, name: str) -> str:
        """The cleaned name if a new model could be saved under it now (``InvalidName`` or ``NameTaken`` if not):
        lets a long job refuse a bad name before it starts instead of after."""
        name = clean_name(name)
        if self.read_only:
            raise ReadOnlyStore("store_read_only", folder=str(self.user_dir))
        self._check_free(name)
        return name

    def _user_entry(self, name: str) -> Entry:
        entry = self.get(name)
        if entry.shipped:
            raise ReadOnlyModel("model_read_only", name=name)
        return entry

    def save(self, model, meta: dict, name: str) -> Entry:
        """Save ``model`` under a new validated name; refuses to overwrite."""
        def write(target: Path) -> None:
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=".keras", dir=self.user_dir)
            os.close(fd)
            try:
                _without_optimizer(model).save(tmp)
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise

        return self._commit(name, meta, write)

    def add_file(self, keras_file: str | Path, meta: dict, name: str) -> Entry:
        """Move a ``.keras`` file that passed every check (an upload, opened in the sandbox) into the store under
        a new name. The file must lie in the store's folder (a work folder), so the move is one rename."""
        return self._commit(name, meta, lambda target: os.replace(keras_file, target))

    def _commit(self, name: str, meta: dict, put_model_file) -> Entry:
        """Model file, then metadata, under the lock; the journal names the model being saved, so that a save
        killed between the two is undone by the next store (a model file copied in by hand is left alone)."""
        name = clean_name(name)
        meta = validate({**meta, "name": name})
        with self._locked():
            self._check_free(name)
            journal = self.user_dir / SAVE_JOURNAL
            atomic_write(journal, json.dumps({"name": name}, ensure_ascii=False).encode())
            try:
                put_model_file(self.user_dir / f"{name}.keras")
                atomic_write(self.user_dir / f"{name}.json", _dump(meta))
            except BaseException:
                self._undo_save(name)
                raise
            journal.unlink()
        return self.get(name)

    def _undo_save(self, name: str) -> None:
        if not (self.user_dir / f"{name}.json").exists():
            with contextlib.suppress(FileNotFoundError):
                (self.user_dir / f"{name}.keras").unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.user_dir / SAVE_JOURNAL).unlink()

    @contextlib.contextmanager
    def work_dir(self):
        """A private folder inside the store for checking an upload; removed after, or by the next store if this
        process dies (its ``.owner`` file stays locked while the folder is in use)."""
        if self.read_only:
            raise ReadOnlyStore("store_read_only", folder=str(self.user_dir))
        try:
            folder = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=self.user_dir))
            owner = open(folder / ".owner", "w")
        except OSError as exc:
            raise ReadOnlyStore("store_read_only", folder=str(self.user_dir)) from exc
        try:
            fcntl.flock(owner, fcntl.LOCK_EX)
            yield folder
        finally:
            owner.close()
            shutil.rmtree(folder, ignore_errors=True)

    def rename(self, old: str, new: str) -> Entry:
        new = clean_name(new)
        with self._locked():
            entry = self._user_entry(old)
            if entry.broken:  # its metadata is all that is left of what it was: never write over it
                raise StoreError("model_broken", name=old, problem=entry.broken)
            self._check_free(new, ignore=old)
            journal = self.user_dir / RENAME_JOURNAL
            atomic_write(journal, json.dumps({"old": old, "new": new}, ensure_ascii=False).encode())
            self._finish_rename(old, new)
            journal.unlink()
        return self.get(new)

    def _finish_rename(self, old: str, new: str) -> None:
        """Each step can be repeated, so a rename killed at any point is finished by running this again."""
        old_meta, new_meta = self.user_dir / f"{old}.json", self.user_dir / f"{new}.json"
        if old_meta.is_file():
            meta = json.loads(old_meta.read_text(encoding="utf-8"))
            atomic_write(new_meta, _dump({**meta, "name": new}))
        old_file, new_file = self.user_dir / f"{old}.keras", self.user_dir / f"{new}.keras"
        if old != new and old_file.is_file():
            os.replace(old_file, new_file)
        if old != new:
            with contextlib.suppress(FileNotFoundError):
                old_meta.unlink()
        mapping = self._active_map()
        if old in mapping.values():
            mapping = {k: (new if v == old else v) for k, v in mapping.items()}
            atomic_write(self.user_dir / ACTIVE_FILE, json.dumps(mapping, ensure_ascii=False).encode())

    def delete(self, name: str) -> None:
        with self._locked():
            entry = self._user_entry(name)
            if not (self.user_dir / f"{entry.name}.json").is_file() or entry.path.is_dir():
                raise StoreError("store_not_a_model", name=entry.name)
            # Metadata first: from that moment the model is no longer listed, whatever happens next.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.user_dir / f"{entry.name}.json")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
            self._prune_derived()

    def _recover(self) -> None:
        """Finish or remove what a killed writer left: a rename half done, temp files, a model file whose metadata
        was never written, an upload's work folder. Every writer holds the store lock (a work folder, its own
        lock), so once we hold them, what is left belongs to a dead process."""
        with self._locked():
            journal = self.user_dir / RENAME_JOURNAL
            if journal.is_file():
                try:
                    step = json.loads(journal.read_text(encoding="utf-8"))
                    self._finish_rename(clean_name(step["old"]), clean_name(step["new"]))
                    log.warning("model store: finished the interrupted rename of %r to %r", step["old"], step["new"])
                except (ValueError, KeyError, TypeError, OSError) as exc:
                    log.warning("model store: could not finish an interrupted rename (%s); left as it is", exc)
                journal.unlink()
            for path in self.user_dir.glob(f"{_TMP_PREFIX}*"):
                if path.is_dir() and path.name.startswith(WORK_PREFIX):
                    if self._work_dir_abandoned(path):
                        shutil.rmtree(path, ignore_errors=True)
                        log.warning("model store: removed %s, left by an upload check that was killed", path.name)
                elif path.is_file():
                    with contextlib.suppress(OSError):
                        path.unlink()
                        log.warning("model store: removed %s, left by a save that was killed", path.name)
            saving = self.user_dir / SAVE_JOURNAL
            if saving.is_file():
                try:
                    name = clean_name(json.loads(saving.read_text(encoding="utf-8"))["name"])
                except (ValueError, KeyError, TypeError, OSError):
                    saving.unlink()
                else:
                    self._undo_save(name)
                    log.warning("model store: removed %s.keras, a save that was killed before its metadata was "
                                "written", name)

    @staticmethod
    def _work_dir_abandoned(folder: Path) -> bool:
        try:
            with open(folder / ".owner", "a") as owner:
                fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
        except BlockingIOError:
            return False
        except OSError:
            return True  # no owner file: its creator died before writing it


__all__ = ["ModelStore", "Entry", "StoreError", "NameTaken", "ReadOnlyModel", "ReadOnlyStore", "ModelNotFound",
           "InvalidName"]
