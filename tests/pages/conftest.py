"""AppTest pages run on the tf.function path: every test starts with empty caches, and converting both default
models to LiteRT again in each test's background warm-up would cost seconds of CPU per test. The LiteRT path
has its own equivalence tests (tests/unit/model_store/test_litert.py), the browser tests run the app as shipped, and
test_performance_guards.py turns it back on to check the app uses it.

Trainings run in a thread of the test process here (``CONVSCOPE_TRAINING_PROCESS=0``), so that tests can hand
the registry their own data loader and monkeypatch what a training sees; the training process has its own tests
(tests/unit/training/test_training_process.py) and the browser tests run the app as shipped, with it."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from model_store import litert
from training import jobs

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(autouse=True)
def tf_function_path(monkeypatch):
    monkeypatch.setenv(litert.DISABLE_ENV, "0")


@pytest.fixture(autouse=True)
def trainings_in_a_thread(monkeypatch):
    monkeypatch.setenv(jobs.PROCESS_ENV, "0")


@pytest.fixture
def open_app(monkeypatch, tmp_path):
    """``open_app(page=None, lang=None)``: the whole app (router, sidebar and page) under AppTest after its first run,
    on a model store of its own (``tmp_path / "models"``) and empty caches; on ``page`` when given, in ``lang`` when
    given. A test sets what else the app should find (data, models, a fake canvas) before it calls it."""
    import streamlit as st

    monkeypatch.setenv("CONVSCOPE_MODELS", str(tmp_path / "models"))
    st.cache_resource.clear()
    st.cache_data.clear()

    def open_app(page: str | None = None, lang: str | None = None) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=180)
        if lang:
            at.session_state["lang"] = lang
        at.run()
        if page:
            at.switch_page(page).run()
        assert not at.exception, at.exception
        return at

    yield open_app
    st.cache_resource.clear()  # the next test's store, predictors and jobs are its own
    st.cache_data.clear()
