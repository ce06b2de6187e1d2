"""Arrays computed from a model (a map of its features, pictures grown for its filters) kept beside it in the store's
cache folder as one ``.npz``: computed by one process at a time, read by every other, and never required (a cache
that cannot be read or written is computed again)."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from model_store import slots

BUILD_WAIT_SECONDS = 120  # how long a process waits for another one building the same cache
log = logging.getLogger(__name__)


def load_or_compute_arrays(cache: Path | None, compute: Callable[[], dict[str, np.ndarray]],
                           valid: Callable[[dict], bool] = lambda arrays: True) -> tuple[dict[str, np.ndarray], bool]:
    """The arrays kept in ``cache`` (an ``.npz``) when it holds some that ``valid`` accepts, else ``compute()``'s,
    written there for the next time. Returns (arrays, whether they came from the cache). One process computes a
    given cache at a time (a slot beside the file); a cache that cannot be read or written is simply not used."""
    arrays = _read_arrays(cache, valid)
    if arrays is not None:
        return arrays, True
    slot = None
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            slot = slots.take(cache.with_name(cache.name + ".lock"), BUILD_WAIT_SECONDS)
        except OSError:
            slot = None
    try:
        arrays = _read_arrays(cache, valid)  # another process may have written it while we waited
        if arrays is not None:
            return arrays, True
        arrays = compute()
        _write_arrays(cache, arrays)
        return arrays, False
    finally:
        if slot is not None:
            slot.release()


def _read_arrays(cache: Path | None, valid) -> dict[str, np.ndarray] | None:
    if cache is None:
        return None
    try:
        with np.load(cache, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):  # missing, half a file, or not an npz
        return None
    try:
        return arrays if valid(arrays) else None
    except (KeyError, ValueError, IndexError, TypeError):
        return None


def _write_arrays(cache: Path | None, arrays: dict[str, np.ndarray]) -> None:
    from model_store.store import atomic_write

    if cache is None:
        return
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(cache, buffer.getvalue())
    except OSError as exc:
        log.warning("could not keep %s (%s): it will be computed again next time", cache.name, exc)
