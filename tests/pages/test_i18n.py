"""Every user-facing string exists in English and Korean, and every page runs in both languages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from model_store.refusal import REASONS

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "app_pages" / "locales"
PAGES = sorted(p.name for p in (ROOT / "app_pages").glob("*.py") if "st.title(" in p.read_text())


def load(lang: str) -> dict:
    return json.loads((LOCALES / f"{lang}.json").read_text(encoding="utf-8"))


def singular(key: str) -> bool:
    """English's singular forms (``key.one``, see i18n.tn); Korean has no plural, so it has ``key`` only."""
    return key.endswith(".one")


def test_both_languages_have_the_same_keys():
    en, ko = load("en"), load("ko")
    ko = {key: text for key, text in ko.items() if not key.startswith("refusal.")}  # English: model_store.refusal
    assert sorted(set(en) - set(ko) - {key for key in en if singular(key)}) == [], "keys missing in Korean"
    assert sorted(set(ko) - set(en)) == [], "keys missing in English"
    assert [key for key in en if singular(key) and key.removesuffix(".one") not in en] == [], "a singular without a plural"


def test_every_refusal_reason_is_translated_with_the_same_values():
    ko = load("ko")
    fields = re.compile(r"{(\w+)}")
    missing = [code for code in REASONS if f"refusal.{code}" not in ko]
    assert missing == [], "refusal reasons without a Korean sentence"
    unknown = [key for key in ko if key.startswith("refusal.") and key.removeprefix("refusal.") not in REASONS]
    assert unknown == [], "Korean sentences for reasons the core does not have"
    for code, english in REASONS.items():
        assert set(fields.findall(english)) == set(fields.findall(ko[f"refusal.{code}"])), code


def test_placeholders_match_between_languages():
    en, ko = load("en"), load("ko")
    fields = re.compile(r"{(\w+)}")
    for key in en:
        assert set(fields.findall(en[key])) == set(fields.findall(ko[key.removesuffix(".one")])), key


def test_a_count_of_one_is_singular_in_english_and_korean_has_one_form():
    from streamlit.testing.v1 import AppTest

    def page():
        import streamlit as st

        from app_pages.i18n import tn

        st.session_state.setdefault("lang", "en")
        for epochs in (1, 3):
            st.text(tn("models.trained_for", epochs, epochs=epochs, seconds=12))

    at = AppTest.from_function(page).run()
    assert [t.value for t in at.text] == ["1 epoch, 12 s", "3 epochs, 12 s"]
    at.session_state["lang"] = "ko"
    at.run()
    assert [t.value for t in at.text] == [load("ko")["models.trained_for"].format(epochs=n, seconds=12) for n in (1, 3)]


def test_every_key_used_in_the_code_exists():
    en = load("en")
    used = set()
    for path in [ROOT / "app.py", *(p for p in (ROOT / "app_pages").glob("*.py") if p.name != "i18n.py")]:
        used |= set(re.findall(r"""\btn?\(\s*["']([\w.\-/ ]+)["']""", path.read_text(encoding="utf-8")))
    assert used, "no t('...') calls found"
    assert sorted(used - set(en)) == []


def test_korean_strings_are_korean():
    ko = load("ko")
    hangul = re.compile("[\uac00-\ud7a3]")
    untranslated = [k for k, v in ko.items() if not hangul.search(v) and not k.startswith(("dataset.", "explain.gradcam",
                                                                                              "fashion.title"))]
    assert untranslated == []


@pytest.mark.parametrize("lang, title", [("en", "Draw a digit"), ("ko", "숫자 그리기")])
def test_language_switch_translates_the_page(open_app, lang, title):
    at = open_app()
    at.selectbox(key="lang").set_value(lang).run()
    assert not at.exception
    assert title in [t.value for t in at.title]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_every_page_runs_in_both_languages(open_app, page, lang):
    at = open_app(f"app_pages/{page}", lang=lang)
    title = at.title[0].value
    expected = {v for k, v in load(lang).items() if k.endswith(".title")}
    assert title in expected
