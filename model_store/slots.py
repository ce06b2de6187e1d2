"""Slots: at most so many holders at once of something that every process sharing one model store folder competes
for (one upload check at a time, one training per server however many processes serve it, one LiteRT conversion
of a model at a time), each slot an ``flock`` on a file in that folder.

An flock belongs to one open file: the kernel releases it when that file is closed, and it closes every file of a
process that dies, however it dies (SIGKILL, out of memory), so a dead holder never keeps a slot. Two threads of
one process that each take a slot exclude each other as two processes do. The lock files stay in the folder:
removing a file that another process is about to lock would let two holders in at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Sequence
from pathlib import Path

POLL_SECONDS = 0.05  # a lock held by another process gives no event to wait on


class Slot:
    """A slot held, until ``release`` (or the end of a ``with`` block); ``path`` is its lock file."""

    def __init__(self, path: Path, handle):
        self.path = path
        self._handle = handle
        self._described = False

    def describe(self, text: str) -> None:
        """Say who holds the slot and for what (``holders`` reads it); best effort: a file opened read-only stays mute."""
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self._handle.seek(0)
            self._handle.truncate()
            self._handle.write(text)
            self._handle.flush()
            self._described = bool(text)

    def release(self) -> None:
        """Let the next holder in (closing the file releases the lock), its description wiped first; a second call
        does nothing."""
        if self._described:
            self.describe("")
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()

    @property
    def held(self) -> bool:
        return self._handle is not None

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def slot_files(folder: str | Path, name: str, count: int) -> list[Path]:
    """The lock files of ``count`` slots called ``name`` in ``folder`` (hidden: no model name starts with a dot)."""
    return [Path(folder) / f".{name}-{i}.lock" for i in range(max(1, count))]


def _open(path: Path):
    """The lock file, created when missing; read-only when the folder is (an flock needs no write access)."""
    try:
        return open(path, "a+", encoding="utf-8")
    except PermissionError:
        return open(path, encoding="utf-8")


def take(paths: str | Path | Sequence[str | Path], wait_seconds: float = 0.0) -> Slot | None:
    """The first free slot among ``paths`` (one path or several), held; None when every one of them stays held by
    someone else for ``wait_seconds``. Raises ``OSError`` when a lock file can neither be opened nor created."""
    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    deadline = time.monotonic() + wait_seconds
    while True:
        for path in paths:
            handle = _open(path)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            except BaseException:
                handle.close()
                raise
            return Slot(path, handle)
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_SECONDS)


def holders(paths: Sequence[str | Path]) -> list[str]:
    """What the holders of the slots held now among ``paths`` said of themselves (``Slot.describe``; "" when they
    said nothing), without waiting. A slot that is free is taken for an instant to see that it is."""
    said = []
    for path in map(Path, paths):
        try:
            handle = open(path, encoding="utf-8")
        except OSError:  # never created: nobody ever held it
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    said.append(handle.read(4096).strip())
                except (OSError, ValueError):
                    said.append("")
            else:
                fcntl.flock(handle, fcntl.LOCK_UN)
    return said

