"""Model names double as file names, so they are validated before they touch the disk."""

from __future__ import annotations

import unicodedata

from model_store.refusal import Refusal

MAX_LENGTH = 64
MAX_BYTES = 200  # file systems allow 255 bytes; leave room for the suffix and a temp prefix
_FORBIDDEN = set('/\\:*?"<>|')


class InvalidName(Refusal):
    """The name cannot be used; the code says why."""


def clean_name(raw: str) -> str:
    """Return the normalised name or raise ``InvalidName``. Korean and other scripts are welcome."""
    if not isinstance(raw, str):
        raise InvalidName("name_not_text")
    name = unicodedata.normalize("NFC", raw).strip()
    if not name:
        raise InvalidName("name_empty")
    if len(name) > MAX_LENGTH:
        raise InvalidName("name_too_long", limit=MAX_LENGTH, length=len(name))
    if len(name.encode("utf-8")) > MAX_BYTES:
        raise InvalidName("name_too_many_bytes", limit=MAX_BYTES)
    if name.startswith("."):
        raise InvalidName("name_leading_dot")
    bad = sorted({ch for ch in name if ch in _FORBIDDEN})
    if bad:
        raise InvalidName("name_forbidden_chars", chars=" ".join(bad))
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InvalidName("name_control_chars")
    if ".." in name:
        raise InvalidName("name_dots")
    return name


def same_name(a: str, b: str) -> bool:
    """Names that differ only in case count as the same (stores may sit on case-insensitive disks)."""
    return unicodedata.normalize("NFC", a).casefold() == unicodedata.normalize("NFC", b).casefold()
