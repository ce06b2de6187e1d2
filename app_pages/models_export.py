"""One model as a file for phones and browsers (LiteRT, ONNX), offered only once it has been run next to Keras on the
test set and agreed with it (the conversion and the check are model_store/export.py's)."""

from __future__ import annotations

import streamlit as st

from app_pages import i18n, resources
from app_pages.i18n import t
from model_store import export
from model_store.refusal import Refusal

KEPT = "models_exports"  # (model version, test set size, full test set?, exports) of the last model checked here


def _check(name: str, dataset: str, version) -> None:
    test = resources.test_set(dataset)
    try:
        with st.spinner(t("models.export.checking", count=f"{len(test.images):,}")):
            exports = export.prepare_exports(resources.store(), name, test.images)
    except Refusal as exc:  # the model went away or broke since the page was drawn
        st.error(i18n.refusal(exc))
        return
    st.session_state[KEPT] = (version, len(test.images), test.full, exports)


def _show(name: str, item: export.Export) -> None:
    label = export.FORMAT_NAMES[item.fmt]
    if item.problem:
        st.warning(t("models.export.not_available", format=label, reason=i18n.as_text(item.problem)))
        return
    agreement = item.agreement
    st.markdown(t("models.export.agreement", format=label, same=f"{round(agreement.top1 * agreement.count):,}",
                  count=f"{agreement.count:,}", share=f"{agreement.top1:.2%}", diff=f"{agreement.max_prob_diff:.1e}",
                  size=f"{len(item.data) / 1e6:.1f} MB"))
    if item.offered:
        st.download_button(t("models.export.download", suffix=f".{item.fmt}"), data=lambda: item.data,  # on click
                           file_name=item.file_name(name), mime="application/octet-stream",
                           icon=":material/download:", key=f"models_export_{item.fmt}", on_click="ignore")
    else:
        st.warning(t("models.export.not_offered", format=label, share=f"{agreement.top1:.2%}",
                     needed=f"{export.MIN_AGREEMENT:.1%}"))


def export_section(entry_name: str) -> None:
    """The export block of one model: a check button, then per format the agreement and its download."""
    entry = resources.store().get(entry_name)
    st.subheader(t("models.export.title"))
    st.caption(t("models.export.intro"))
    if entry.dataset not in resources.DATASETS:
        st.info(t("models.export.no_test_set", dataset=i18n.as_text(entry.dataset)))
        return
    version = resources.model_version(entry_name)
    if st.button(t("models.export.check"), icon=":material/fact_check:", key="models_export_check"):
        _check(entry_name, entry.dataset, version)  # here, not in a callback: the spinner shows under the button
    kept = st.session_state.get(KEPT)
    if not kept or kept[0] != version:
        return
    _, count, full, exports = kept
    if not full:
        st.caption(t("models.export.sample", count=f"{count:,}"))
    for item in exports:
        _show(entry_name, item)
