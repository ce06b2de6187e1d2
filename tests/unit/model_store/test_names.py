"""model_store.names: names that become file names are checked first; Korean and other scripts are welcome."""

from __future__ import annotations

import unicodedata

import pytest

from model_store.names import MAX_LENGTH, InvalidName, clean_name, same_name


@pytest.mark.parametrize(("raw", "clean"), [
    ("내 모델", "내 모델"),
    ("  내 모델  ", "내 모델"),
    ("my-model_v2 (final)", "my-model_v2 (final)"),
    ("Ünïcødé model", "Ünïcødé model"),
    ("数字モデル", "数字モデル"),
    ("model.v1", "model.v1"),
    ("x" * MAX_LENGTH, "x" * MAX_LENGTH),
    ("\tname\n", "name"),  # surrounding whitespace is stripped, not refused
])
def test_accepted(raw, clean):
    assert clean_name(raw) == clean


def test_korean_is_normalised_to_nfc():
    decomposed = unicodedata.normalize("NFD", "내 모델")
    assert decomposed != "내 모델"  # the test means something only if NFD differs
    assert clean_name(decomposed) == "내 모델"


@pytest.mark.parametrize(("raw", "why"), [
    ("", "empty"),
    ("   ", "empty"),
    ("\t\n", "empty"),
    ("x" * 500, "at most 64 characters"),
    ("x" * (MAX_LENGTH + 1), "at most 64"),
    ("a/b", "cannot contain /"),
    ("/etc/passwd", "cannot contain /"),
    ("a\\b", "cannot contain \\\\"),
    ("..", "cannot start with a dot"),
    ("a..b", "'..'"),
    ("../escape", "cannot start with a dot"),
    ("up/../down", "cannot contain /"),
    (".hidden", "cannot start with a dot"),
    ("  .hidden", "cannot start with a dot"),
    ("a:b", "cannot contain :"),
    ('what?"', "cannot contain"),
    ("a<b>c|d*", "cannot contain"),
    ("bell\x07", "control characters"),
    ("nul\x00byte", "control characters"),
    ("two\nlines", "control characters"),
    ("del\x7f", "control characters"),
    ("zero\u200bwidth", "control characters"),
])
def test_refused(raw, why):
    with pytest.raises(InvalidName, match=why):
        clean_name(raw)


@pytest.mark.parametrize("raw", [None, 42, b"bytes", ["list"]])
def test_not_text(raw):
    with pytest.raises(InvalidName, match="must be text"):
        clean_name(raw)


def test_invalid_name_is_a_value_error():
    assert issubclass(InvalidName, ValueError)


@pytest.mark.parametrize(("a", "b", "same"), [
    ("Model", "model", True),
    ("MY-MODEL", "my-model", True),
    ("내 모델", unicodedata.normalize("NFD", "내 모델"), True),
    ("Straße", "STRASSE", True),
    ("model", "model2", False),
    ("내 모델", "네 모델", False),
])
def test_same_name(a, b, same):
    assert same_name(a, b) is same
    assert same_name(b, a) is same
