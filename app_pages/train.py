"""Placeholder: the Train page is built in issue 4."""

import streamlit as st

st.title("Train")
st.info("Coming soon: this page is being built.")
