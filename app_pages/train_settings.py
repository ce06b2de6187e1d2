"""The Train page's settings: dataset, preset (with its layer table), the hyperparameters, and the classroom demo.

The widgets hold the settings in session state (keys in ``FIELDS``), so a preset or the demo button can fill them from
a ``TrainConfig`` in a callback, before they are drawn.
"""

from __future__ import annotations

import streamlit as st

from app_pages import charts, i18n, train_class
from app_pages.i18n import t
from model_store.refusal import Refusal
from training import presets
from training.datasets import DATASETS
from training.defaults import classroom_demo
from training.ranges import BATCH_SIZES, LEARNING_RATES, clamp_to_ranges, nearest_choice
from training.settings import preset_settings
from training.trainer import OPTIMIZERS, TrainConfig

# widget key -> TrainConfig field
FIELDS = {"tr_preset": "preset", "tr_epochs": "epochs", "tr_batch": "batch_size", "tr_optimizer": "optimizer",
          "tr_lr": "learning_rate", "tr_cosine": "cosine_decay", "tr_val": "validation_split", "tr_patience": "patience",
          "tr_augment": "augment", "tr_seed": "seed"}
# kept while a run is shown instead of the settings
KEPT = (*FIELDS, "tr_dataset", "tr_use_subset", "tr_subset", *train_class.KEPT)
# TrainConfig field -> the label of its widget (settings refusals and notes name the setting by it)
LABELS = {"dataset": "train.dataset", "preset": "train.preset", "epochs": "train.epochs", "batch_size": "train.batch",
          "optimizer": "train.optimizer", "learning_rate": "train.lr", "validation_split": "train.val",
          "patience": "train.patience", "subset": "train.subset", "seed": "train.seed"}


def apply(config: TrainConfig) -> None:
    """Put ``config`` into the settings widgets (called from callbacks, before the widgets are drawn)."""
    for key, name in FIELDS.items():
        st.session_state[key] = getattr(config, name)
    st.session_state.tr_dataset = config.dataset
    st.session_state.tr_use_subset = config.subset is not None
    if config.subset:
        st.session_state.tr_subset = config.subset


def preset_changed() -> None:
    """A new preset brings the settings it was designed with (the tutorials' epochs, batch size, split...)."""
    state = st.session_state
    apply(preset_settings(state.tr_preset, state.get("tr_dataset") or "mnist", seed=state.get("tr_seed", 0),
                          subset=state.get("tr_subset") if state.get("tr_use_subset") else None))


def demo_clicked() -> None:
    dataset = st.session_state.get("tr_dataset")
    apply(classroom_demo(dataset if dataset in DATASETS else "mnist"))


def setting_text(refusal: Refusal) -> str:
    """A refused or changed setting in the session's language, named by its widget's label."""
    values = dict(refusal.values)
    if values.get("field") in LABELS:
        values["setting"] = t(LABELS[values["field"]])
    return i18n.refusal(Refusal(refusal.code, **values))


def settings() -> TrainConfig | train_class.ClassTrainConfig | None:
    """The settings widgets; returns the config they describe (None: nothing can be trained yet, said why). The
    number fields take any number (Streamlit would silently put back an out-of-range one): a value outside the range
    is brought into it, with a note under it. A class dataset has settings of its own (``train_class``)."""
    notes = {}
    if "tr_preset" not in st.session_state:
        apply(TrainConfig())
    c1, c2 = st.columns([1, 1])
    with c1:
        dataset = st.segmented_control(t("train.dataset"), [*DATASETS, train_class.OPTION],
                                       format_func=lambda d: t(f"dataset.{d}"), key="tr_dataset") or "mnist"
    if dataset == train_class.OPTION:
        return train_class.settings()
    with c2:
        st.button(t("train.demo"), icon=":material/school:", on_click=demo_clicked, key="tr_demo", help=t("train.demo_help"))
    names = list(presets.PRESETS)
    titles = {n: f"{t(f'preset.{n}.title')} · {n}" for n in names}
    preset = st.selectbox(t("train.preset"), names, key="tr_preset", on_change=preset_changed, format_func=titles.get)
    st.caption(t(f"preset.{preset}.description"))
    with st.expander(t("train.layers"), expanded=False):
        charts.layer_table(charts.preset_layers(preset), key="tr_layers")

    st.subheader(t("train.hyper"))
    a, b, c = st.columns(3)
    with a:
        epochs = st.number_input(t("train.epochs"), step=1, key="tr_epochs")
        notes["epochs"] = st.empty()
        batch = st.selectbox(t("train.batch"), BATCH_SIZES, key="tr_batch")
        optimizer = st.selectbox(t("train.optimizer"), list(OPTIMIZERS), key="tr_optimizer")
    with b:
        st.session_state.tr_lr = nearest_choice(st.session_state.tr_lr, LEARNING_RATES)
        lr = st.select_slider(t("train.lr"), LEARNING_RATES, key="tr_lr", format_func=lambda v: f"{v:g}")
        cosine = st.checkbox(t("train.cosine"), key="tr_cosine", help=t("train.cosine_help"))
        val = st.slider(t("train.val"), 0.0, 0.5, step=0.05, key="tr_val", help=t("train.val_help"))
        patience = st.number_input(t("train.patience"), step=1, key="tr_patience", help=t("train.patience_help"))
        notes["patience"] = st.empty()
    with c:
        augment = st.toggle(t("train.augment"), key="tr_augment", help=t("train.augment_help"))
        use_subset = st.toggle(t("train.use_subset"), key="tr_use_subset", help=t("train.subset_help"))
        subset = None
        if use_subset:
            st.session_state.setdefault("tr_subset", 6000)
            subset = int(st.number_input(t("train.subset"), step=500, key="tr_subset"))
            notes["subset"] = st.empty()
        seed = st.number_input(t("train.seed"), step=1, key="tr_seed")
        notes["seed"] = st.empty()
    typed = TrainConfig(dataset=dataset, preset=preset, epochs=int(epochs), batch_size=int(batch), optimizer=optimizer,
                        learning_rate=float(lr), cosine_decay=bool(cosine), validation_split=round(float(val), 2),
                        patience=int(patience), augment=bool(augment), subset=subset, seed=int(seed))
    config, changed = clamp_to_ranges(typed)
    for note in changed:
        notes[note.values["field"]].warning(setting_text(note), icon=":material/info:")
    return config
