"""Every string a user reads, in English and Korean. The strings live in locales/<lang>.json.

``t("key", name=...)`` formats the string of the session's language; a missing key falls back to
English, and tests fail when a key exists in one language and not the other. A sentence that counts
something (``tn``) may have a singular form, ``key.one``, in the languages that have one (English).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import streamlit as st

from model_store.refusal import REASONS

LOCALES = Path(__file__).resolve().parent / "locales"
LANGUAGES = {"en": "English", "ko": "한국어"}
KEY = "lang"


@cache
def strings(lang: str) -> dict[str, str]:
    return json.loads((LOCALES / f"{lang}.json").read_text(encoding="utf-8"))


def browser_language() -> str:
    """The browser's language where Streamlit exposes it (st.context.locale), else English."""
    try:
        locale = st.context.locale or ""
    except Exception:  # outside a running app (bare scripts, some test harnesses)
        locale = ""
    return "ko" if locale.lower().startswith("ko") else "en"


def lang() -> str:
    if st.session_state.get(KEY) not in LANGUAGES:
        st.session_state[KEY] = browser_language()
    return st.session_state[KEY]


def t(key: str, **values) -> str:
    return Words(lang()).t(key, **values)


def tn(key: str, count: int, **values) -> str:
    """``t`` for a sentence that counts something: a language with a singular form has it as ``key.one`` (English:
    "1 epoch"), used when ``count`` is 1; a language without plurals (Korean) has ``key`` only."""
    return Words(lang()).tn(key, count, **values)


class Words:
    """``t`` and ``tn`` in one given language, for code that answers outside a session's run (the stroke route)."""

    def __init__(self, language: str):
        self.language = language if language in LANGUAGES else "en"

    def t(self, key: str, **values) -> str:
        text = strings(self.language).get(key)
        if text is None:
            text = strings("en")[key]
        return text.format(**values) if values else text

    def tn(self, key: str, count: int, **values) -> str:
        one = f"{key}.one"
        return self.t(one if count == 1 and one in strings(self.language) else key, **values)

    def refusal(self, code: str) -> str:
        """A core refusal without values (``model_store.refusal``), as plain text."""
        return strings(self.language).get(f"refusal.{code}") or REASONS[code]

    def class_names(self, names: list[str]) -> list[str]:
        table = strings(self.language)
        return [table.get(f"class.{name}", name) for name in names]


def as_text(value) -> str:
    """``value`` escaped for Streamlit's Markdown, so a name a user typed shows as typed, never as markup (emphasis,
    links, HTML, colour and icon directives, LaTeX). Used on values inside a sentence, never at a line's start."""
    return re.sub(r"([\\`*_\[\]<>|~$:#])", r"\\\1", str(value))


def refusal(exc) -> str:
    """A core ``Refusal`` (or ``Notice``) in the session's language, its values escaped for Markdown; the English
    sentence comes from the core's catalogue."""
    template = strings(lang()).get(f"refusal.{exc.code}") or REASONS[exc.code]
    return template.format(**{key: as_text(value) for key, value in exc.values.items()})


def class_names(names: list[str]) -> list[str]:
    """Translate the datasets' class names (e.g. Fashion classes); other names are shown as they are."""
    return Words(lang()).class_names(names)


def language_picker() -> None:
    lang()
    st.sidebar.selectbox("Language / 언어", list(LANGUAGES), format_func=LANGUAGES.get, key=KEY)
