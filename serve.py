"""ConvScope's server: the app (``app.py``) with its own HTTP routes beside Streamlit's (``st.App``).

``streamlit run serve.py`` (what ``run_app.sh`` does) serves the same pages as ``streamlit run app.py``, plus the
Draw page's stroke route (``app_pages/stroke_answer.py``), which answers a stroke without a Streamlit run. Under a
bare ``streamlit run app.py`` the page works as before, every stroke answered by its run.
"""

from pathlib import Path

import streamlit as st

from app_pages import stroke_answer

app = st.App(Path(__file__).resolve().parent / "app.py", routes=stroke_answer.routes())
