"""Class data: the drawings a whole class collects to teach the network, on every pupil's device at once.

Pupils draw what the page asks for; everyone sees the counts; the teacher creates tasks (2-20 named classes),
browses and deletes drawings, exports and imports. The logic is ``model_store/class_data.py``; this page and its
sections (``class_collect``, ``class_browse``, ``class_manage``) are layout and widgets.
"""

import streamlit as st

from app_pages import class_browse, class_collect, class_manage, class_resources
from app_pages.i18n import t

SECTIONS = ("collect", "browse", "manage")


def main():
    st.title(t("classdata.title"))
    st.caption(t("classdata.intro"))
    datasets = class_resources.class_datasets()
    usable = [d for d in datasets.list() if not d.broken]
    if not usable:
        usable = [datasets.ensure_digits()]  # corrections from the Draw page go here; a first task can be made
    names = [d.name for d in usable]
    if "class_pick_next" in st.session_state:  # a dataset just made, imported or deleted (class_manage)
        st.session_state.class_pick = st.session_state.pop("class_pick_next")
    if st.session_state.get("class_pick") not in names:
        st.session_state.class_pick = names[0]
    name = st.selectbox(t("classdata.dataset"), names, key="class_pick")  # counts: in the section, live
    labels = {s: t(f"classdata.section.{s}") for s in SECTIONS}
    section = st.segmented_control(t("classdata.section"), SECTIONS, format_func=labels.get, default="collect",
                                   key="class_section") or "collect"
    if section == "collect":
        class_collect.collect(name)
    elif section == "browse":
        class_browse.browse(name)
    else:
        class_manage.manage(name)


main()
