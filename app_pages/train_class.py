"""The Train page's settings for a class dataset: which one, and whether a stored model learns it (fine-tuning) or a
new network does (from scratch). The training itself is ``training.class_training``; this file only asks."""

from __future__ import annotations

import streamlit as st

from app_pages import class_resources, i18n, resources
from app_pages.i18n import t
from model_store.class_data import MIN_PER_CLASS
from training import presets
from training.class_training import MAX_EPOCHS, ClassTrainConfig, default_epochs

OPTION = "class-data"  # the Train page's dataset choice that brings these settings
WAYS = ("fine-tune", "scratch")
KEPT = ("tr_class_data", "tr_class_way", "tr_class_base", "tr_class_preset", "tr_class_epochs", "tr_class_seed")


def base_models(kind: str) -> list[str]:
    """What can be fine-tuned: digit models for digits (they keep their head); for new classes any model whose
    convolution base fits a drawing (MNIST's and Fashion-MNIST's: a new head goes on it)."""
    store = resources.store()
    datasets = ("mnist",) if kind == "digits" else resources.DATASETS
    return [e.name for dataset in datasets for e in store.for_dataset(dataset)]


def epochs_follow(kinds: dict) -> None:
    """A new dataset or way of learning brings the epochs it is measured with."""
    state = st.session_state
    kind = kinds.get(state.get("tr_class_data"), "custom")
    state.tr_class_epochs = default_epochs(kind, state.get("tr_class_way") == "scratch")


def counts_line(info) -> str:
    return ", ".join(f"{i18n.as_text(name)} {count}" for name, count in zip(info.classes, info.counts))


def settings() -> ClassTrainConfig | None:
    """The widgets; the config they describe, or None (said why) while there is nothing that can be trained."""
    datasets = class_resources.class_datasets()
    infos = {info.name: info for info in datasets.list() if not info.broken}
    if not infos:
        st.info(t("train.class.none"))
        st.page_link("app_pages/class_data.py", label=t("nav.class_data"), icon=":material/groups:")
        return None
    kinds = {name: info.kind for name, info in infos.items()}
    state = st.session_state
    if state.get("tr_class_data") not in infos:
        state.tr_class_data = next(iter(infos))
        state.pop("tr_class_epochs", None)
    state.setdefault("tr_class_way", "fine-tune")
    if "tr_class_epochs" not in state:
        epochs_follow(kinds)
    # Labels made now, in this run's language: Streamlit may call format_func outside the run.
    data_labels = {n: f"{n} · {t(f'classdata.kind.{kind}')}" for n, kind in kinds.items()}
    way_labels = {w: t(f"train.class.way.{w}") for w in WAYS}
    a, b = st.columns([3, 2])
    name = a.selectbox(t("train.class.dataset"), list(infos), key="tr_class_data", on_change=epochs_follow,
                       args=(kinds,), format_func=data_labels.get)
    way = b.segmented_control(t("train.class.way"), WAYS, key="tr_class_way", on_change=epochs_follow, args=(kinds,),
                              format_func=way_labels.get) or "fine-tune"
    info = infos[name]
    st.caption(t("train.class.counts", n=info.total, counts=counts_line(info)))
    st.caption(t(f"train.class.how.{way}.{info.kind}"))
    c, d, e = st.columns([3, 1, 1])
    base, preset = None, "tf-tutorial"
    if way == "fine-tune":
        choices = base_models(info.kind)
        if not choices:
            c.warning(t("train.class.no_base"))
            return None
        if state.get("tr_class_base") not in choices:  # the digit model in use, else the first that fits
            active = resources.store().active("mnist")
            state.tr_class_base = active if active in choices else choices[0]
        base = c.selectbox(t("train.class.base"), choices, key="tr_class_base")
    else:
        state.setdefault("tr_class_preset", preset)
        preset_labels = {n: f"{t(f'preset.{n}.title')} · {n}" for n in presets.PRESETS}
        preset = c.selectbox(t("train.preset"), list(presets.PRESETS), key="tr_class_preset",
                             format_func=preset_labels.get)
    epochs = d.number_input(t("train.epochs"), 1, MAX_EPOCHS, step=1, key="tr_class_epochs")
    seed = e.number_input(t("train.seed"), 0, 2**31 - 1, step=1, key="tr_class_seed")
    short = datasets.too_few(name)
    if short:
        st.warning(t("classdata.too_few", minimum=MIN_PER_CLASS, classes=", ".join(
            f"{i18n.as_text(c)} ({n})" for c, n in short)))
        return None
    return ClassTrainConfig(class_data=name, base_model=base, preset=preset, epochs=int(epochs), seed=int(seed))
