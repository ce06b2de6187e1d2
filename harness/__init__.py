"""What the browser tests (``tests/e2e/``) and the benchmarks (``bench/``) both need: the app served on a free port
(``app``), Debian's Chromium driven by Playwright (``chromium``), the Draw page's canvas (``draw``) and digits as a
person draws them (``digits``). No pytest here: the tests wrap these in fixtures, the benches call them directly."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository: app.py and its .streamlit/config.toml
