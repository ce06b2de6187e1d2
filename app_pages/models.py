"""The model store: every model in a table; choose the active ones, rename, delete, download, upload, compare."""

import streamlit as st

from app_pages import models_compare, models_manage, models_table, models_upload, resources
from app_pages.i18n import t

SECTIONS = ("manage", "upload", "compare")


def main():
    st.title(t("models.title"))
    st.caption(t("models.intro"))
    store = resources.store()
    for key, show in (("models_notice", st.success), ("models_error", st.error)):
        if st.session_state.get(key):
            show(st.session_state.pop(key))
    models_table.table(store)
    models_table.active_pickers(store)
    labels = {s: t(f"models.section.{s}") for s in SECTIONS}
    section = st.segmented_control(t("models.section"), list(SECTIONS), format_func=labels.get, default="manage",
                                   key="models_section") or "manage"
    if section == "manage":
        models_manage.manage(store)
    elif section == "upload":
        models_upload.upload()
    else:
        models_compare.compare(store)


main()
