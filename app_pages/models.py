"""Placeholder: the Models page is built in issue 4."""

import streamlit as st

st.title("Models")
st.info("Coming soon: this page is being built.")
