"""AppTest pages run on the tf.function path: every test starts with empty caches, and converting both default
models to LiteRT again in each test's background warm-up would cost seconds of CPU per test. The LiteRT path
has its own equivalence tests (tests/unit/test_litert.py), the browser tests run the app as shipped, and
test_performance_guards.py turns it back on to check the app uses it.

Trainings run in a thread of the test process here (``CONVSCOPE_TRAINING_PROCESS=0``), so that tests can hand
the registry their own data loader and monkeypatch what a training sees; the training process has its own tests
(tests/unit/test_training_process.py) and the browser tests run the app as shipped, with it."""

import pytest

from model_store import litert
from training import jobs


@pytest.fixture(autouse=True)
def tf_function_path(monkeypatch):
    monkeypatch.setenv(litert.DISABLE_ENV, "0")


@pytest.fixture(autouse=True)
def trainings_in_a_thread(monkeypatch):
    monkeypatch.setenv(jobs.PROCESS_ENV, "0")
