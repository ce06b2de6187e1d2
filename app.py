"""ConvScope: the router and frame. Builds the navigation, the sidebar (language, model pickers), then runs the page."""

from pathlib import Path

import streamlit as st

from app_pages import i18n, resources, sidebar
from app_pages.i18n import t
from app_pages.workarounds import keep_keras_state

# A local favicon: a material icon would be fetched from Google on every page (offline classrooms).
st.set_page_config(page_title="ConvScope", page_icon=str(Path(__file__).parent / "app_pages" / "favicon.png"), layout="wide")
keep_keras_state()

i18n.lang()
page = st.navigation([
    st.Page("app_pages/draw.py", title=t("nav.draw"), icon=":material/draw:", default=True),
    st.Page("app_pages/fashion.py", title=t("nav.fashion"), icon=":material/checkroom:", url_path="fashion"),
    st.Page("app_pages/convolution.py", title=t("nav.convolution"), icon=":material/grid_on:", url_path="convolution"),
    st.Page("app_pages/dataset.py", title=t("nav.dataset"), icon=":material/photo_library:", url_path="datasets"),
    st.Page("app_pages/train.py", title=t("nav.train"), icon=":material/model_training:", url_path="train"),
    st.Page("app_pages/models.py", title=t("nav.models"), icon=":material/inventory_2:", url_path="models"),
    st.Page("app_pages/class_data.py", title=t("nav.class_data"), icon=":material/groups:", url_path="class-data"),
])
with st.sidebar:
    st.title("ConvScope")
    st.caption(t("app.tagline"))
i18n.language_picker()
sidebar.presentation_toggle()
for dataset in resources.DATASETS:
    sidebar.model_picker(dataset)
sidebar.class_model_picker()
resources.warm_up_once(sidebar.current_model(dataset) for dataset in resources.DATASETS)
page.run()
