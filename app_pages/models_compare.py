"""Comparing two to four models on the Models page: figures side by side, curves overlaid, and both answers to the
same test image."""

from __future__ import annotations

import html

import numpy as np
import streamlit as st

from app_pages import bars, charts, gallery, i18n, resources, views
from app_pages.i18n import t
from app_pages.models_table import columns, trained_for, when
from model_store import render
from model_store.model_input import to_float
from training.datasets import CLASS_NAMES, DATASETS


def compare(store) -> None:
    dataset = st.segmented_control(t("models.compare.dataset"), list(DATASETS), format_func=lambda d: t(f"dataset.{d}"),
                                   default="mnist", key="models_cmp_dataset") or "mnist"
    names = [e.name for e in store.for_dataset(dataset)]
    chosen = st.multiselect(t("models.compare.pick"), names, key=f"models_cmp_{dataset}", max_selections=4)
    if len(chosen) < 2:
        st.info(t("models.compare.need_two"))
        return
    entries = [store.get(n) for n in chosen]
    st.subheader(t("models.compare.metrics"))
    st.dataframe([{
        t("models.col.name"): e.name, t("models.col.preset"): e.meta.get("preset", ""),
        t("models.col.params"): e.meta.get("params"),
        t("models.col.accuracy"): None if e.test_accuracy is None else round(100 * e.test_accuracy, 2),
        t("models.col.loss"): None if e.meta.get("test_loss") is None else round(e.meta["test_loss"], 4),
        t("models.col.trained"): trained_for(e.meta), t("models.col.date"): when(e.meta.get("created_at")),
    } for e in entries], hide_index=True, key="models_cmp_table", width="stretch", column_config=columns())
    runs = [(e.name, e.meta["history"]) for e in entries if e.meta.get("history")]
    if runs:
        st.subheader(t("models.compare.curves"))
        charts.compare_curves(runs, key="models_cmp_curves")
    missing = [e.name for e in entries if not e.meta.get("history")]
    if missing:
        st.caption(t("models.compare.no_history", names=", ".join(missing)))
    same_input(dataset, entries)


def same_input(dataset: str, entries) -> None:
    """One test image, and beside it each model's answer, probabilities and first-layer feature maps."""
    st.subheader(t("models.compare.same_input"))
    test = resources.test_set(dataset)
    key = f"models_cmp_image_{dataset}"
    a, b = st.columns([3, 1], vertical_alignment="bottom")
    b.button(t("common.random"), icon=":material/casino:", key="models_cmp_random",
             on_click=lambda: st.session_state.update({key: int(np.random.default_rng().integers(len(test.labels)))}))
    with a:
        pos = views.pick_test_image(test, key, t("common.test_image"))
    image = to_float(test.images[pos])
    truth = int(test.labels[pos])
    class_names = i18n.class_names(CLASS_NAMES[dataset])
    cols = st.columns(len(entries) + 1)
    with cols[0]:
        st.image(gallery.thumbnail(test.images[pos], scale=5), width=140)
        st.markdown(t("common.true_class", name=i18n.as_text(class_names[truth])))
    for col, e in zip(cols[1:], entries):
        with col:
            st.markdown(f"**{i18n.as_text(e.name)}**")
            prediction = resources.prediction(e.name, image, class_names)
            if prediction is None:
                continue
            verdict = t("common.correct") if prediction.label == truth else t("common.wrong")
            st.markdown(f"<div data-testid='compare-prediction' data-model='{html.escape(e.name)}' "
                        f"style='font-size:2rem;font-weight:700'>{html.escape(class_names[prediction.label])}</div>"
                        f"{bars.percent(prediction.confidence, 1)} · {verdict}",
                        unsafe_allow_html=True)
            views.probability_bars(prediction.probabilities, class_names, key=f"models_cmp_probs_{e.name}", true_label=truth)
            if prediction.feature_maps:
                fm = prediction.feature_maps[0]
                st.image(render.tile_channels(fm.maps, scale=2), caption=t("models.compare.maps", layer=fm.layer))
            else:
                st.caption(t("maps.none"))
