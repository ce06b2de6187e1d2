"""Browser fixtures: the app served by ``streamlit run`` on a free port (``app_server``) and Debian's Chromium driven
by Playwright (``browser``). What they build on, and what the tests use to open tabs and draw, is in ``harness/``,
which the benches share."""

from __future__ import annotations

import pytest

from harness.app import app_env, running_app
from harness.chromium import ARTIFACTS, chromium_missing, launch


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    if missing := chromium_missing():
        pytest.skip(missing)
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "streamlit-server.log"
    models = tmp_path_factory.mktemp("models")
    with running_app(app_env(models), log_path) as (proc, url):
        yield {"url": url, "log": log_path, "proc": proc, "models": models}


@pytest.fixture(scope="session")
def browser():
    if missing := chromium_missing():
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch(pw)
        yield b
        b.close()
