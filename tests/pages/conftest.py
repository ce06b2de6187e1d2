"""AppTest pages run on the tf.function path: every test starts with empty caches, and converting both default
models to LiteRT again in each test's background warm-up would cost seconds of CPU per test. The LiteRT path
has its own equivalence tests (tests/unit/test_litert.py), the browser tests run the app as shipped, and
test_performance_guards.py turns it back on to check the app uses it."""

import pytest

from model_store import litert


@pytest.fixture(autouse=True)
def tf_function_path(monkeypatch):
    monkeypatch.setenv(litert.DISABLE_ENV, "0")
