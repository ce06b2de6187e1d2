"""Model names double as file names, so they are validated before they touch the disk."""

from __future__ import annotations

import unicodedata

MAX_LENGTH = 64
MAX_BYTES = 200  # file systems allow 255 bytes; leave room for the suffix and a temp prefix
_FORBIDDEN = set('/\\:*?"<>|')


class InvalidName(ValueError):
    """The name cannot be used; the message says why in words a user understands."""


def clean_name(raw: str) -> str:
    """Return the normalised name or raise ``InvalidName``. Korean and other scripts are welcome."""
    if not isinstance(raw, str):
        raise InvalidName("a name must be text")
    name = unicodedata.normalize("NFC", raw).strip()
    if not name:
        raise InvalidName("a name cannot be empty")
    if len(name) > MAX_LENGTH:
        raise InvalidName(f"a name can have at most {MAX_LENGTH} characters (this one has {len(name)})")
    if len(name.encode("utf-8")) > MAX_BYTES:
        raise InvalidName(f"this name is too long for a file name ({MAX_BYTES} bytes at most in UTF-8)")
    if name.startswith("."):
        raise InvalidName("a name cannot start with a dot")
    bad = sorted({ch for ch in name if ch in _FORBIDDEN})
    if bad:
        raise InvalidName(f"a name cannot contain {' '.join(bad)}")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InvalidName("a name cannot contain control characters")
    if ".." in name:
        raise InvalidName("a name cannot contain '..'")
    return name


def same_name(a: str, b: str) -> bool:
    """Names that differ only in case count as the same (stores may sit on case-insensitive disks)."""
    return unicodedata.normalize("NFC", a).casefold() == unicodedata.normalize("NFC", b).casefold()
