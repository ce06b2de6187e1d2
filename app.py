"""ConvScope: the router and frame. Builds the navigation, the sidebar model pickers, then runs the page."""

import streamlit as st

from app_pages import ui

st.set_page_config(page_title="ConvScope", page_icon=":material/biotech:", layout="wide")

PAGES = [
    st.Page("app_pages/draw.py", title="Draw", icon=":material/draw:", default=True),
    st.Page("app_pages/fashion.py", title="Fashion", icon=":material/checkroom:", url_path="fashion"),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page("app_pages/models.py", title="Models", icon=":material/inventory_2:", url_path="models"),
]

page = st.navigation(PAGES)
with st.sidebar:
    st.title("ConvScope")
    st.caption("See how a convolutional network reads an image.")
for dataset in ui.DATASET_LABELS:
    ui.model_picker(dataset)
page.run()
