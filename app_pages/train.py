"""Train a preset in the background and watch it learn: live curves and feature maps, then the test results and Save.

The training runs in a thread of the server (training.jobs); this page only reads its numbers. A
fragment redraws them every second while the training runs, so the rest of the page stays still and
the user can leave and come back.
"""

import datetime as dt
import uuid

import numpy as np
import streamlit as st

from app_pages import charts, i18n, ui
from app_pages.i18n import t
from model_store.refusal import Refusal
from training import presets
from training.datasets import CLASS_NAMES
from training.jobs import Busy, TrainingJob, classroom_demo
from training.ranges import clamp_to_ranges
from training.trainer import OPTIMIZERS, TrainConfig

JOB_KEY = "train_job"
OWNER_KEY = "train_owner"
REFRESH_SECONDS = 1.0
BATCH_SIZES = [16, 32, 64, 128, 200, 256, 512]
LEARNING_RATES = [1e-4, 3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 3e-2, 1e-1]
GALLERY = 24
# widget key -> TrainConfig field
FIELDS = {"tr_preset": "preset", "tr_epochs": "epochs", "tr_batch": "batch_size", "tr_optimizer": "optimizer",
          "tr_lr": "learning_rate", "tr_cosine": "cosine_decay", "tr_val": "validation_split", "tr_patience": "patience",
          "tr_augment": "augment", "tr_seed": "seed"}
# TrainConfig field -> the label of its widget (settings refusals and notes name the setting by it)
LABELS = {"dataset": "train.dataset", "preset": "train.preset", "epochs": "train.epochs", "batch_size": "train.batch",
          "optimizer": "train.optimizer", "learning_rate": "train.lr", "validation_split": "train.val",
          "patience": "train.patience", "subset": "train.subset", "seed": "train.seed"}


# ---- settings ----------------------------------------------------------------------------------------------
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
    preset = presets.PRESETS[st.session_state.tr_preset]
    base = TrainConfig(dataset=st.session_state.get("tr_dataset") or "mnist", preset=preset.name)
    recommended = {k: v for k, v in preset.recommended.items() if hasattr(base, k)}
    apply(TrainConfig(**{**base.to_dict(), **recommended, "seed": st.session_state.get("tr_seed", 0),
                         "subset": st.session_state.get("tr_subset") if st.session_state.get("tr_use_subset") else None}))


def demo_clicked() -> None:
    apply(classroom_demo(st.session_state.get("tr_dataset") or "mnist"))


def setting_text(refusal: Refusal) -> str:
    """A refused or changed setting in the session's language, named by its widget's label."""
    values = dict(refusal.values)
    if values.get("field") in LABELS:
        values["setting"] = t(LABELS[values["field"]])
    return i18n.refusal(Refusal(refusal.code, **values))


def settings() -> TrainConfig:
    """The settings widgets; returns the config they describe. The number fields take any number (Streamlit would
    silently put back an out-of-range one): a value outside the range is brought into it, with a note under it."""
    notes = {}
    if "tr_preset" not in st.session_state:
        apply(TrainConfig())
    c1, c2 = st.columns([1, 1])
    with c1:
        dataset = st.segmented_control(t("train.dataset"), list(ui.DATASETS), format_func=lambda d: t(f"dataset.{d}"),
                                       key="tr_dataset") or "mnist"
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
        if st.session_state.tr_lr not in LEARNING_RATES:
            st.session_state.tr_lr = min(LEARNING_RATES, key=lambda v: abs(v - st.session_state.tr_lr))
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


def owner() -> str:
    if OWNER_KEY not in st.session_state:
        st.session_state[OWNER_KEY] = uuid.uuid4().hex
    return st.session_state[OWNER_KEY]


def start(config: TrainConfig) -> None:
    try:
        job = ui.jobs().start(config, owner=owner())
    except Busy:
        st.warning(t("train.busy_now"))
        return
    except Refusal as exc:  # ConfigError
        st.error(t("train.bad_settings", reason=setting_text(exc)))
        return
    st.session_state[JOB_KEY] = job.id
    st.rerun()


# ---- a job, live and finished --------------------------------------------------------------------------------
def duration(seconds: float | None) -> str:
    if seconds is None:
        return "…"
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def progress(snap) -> None:
    c = snap.config
    st.markdown(t("train.running_what", preset=c.preset, dataset=t(f"dataset.{c.dataset}"), n=snap.train_size or "…",
                  val=snap.val_size))
    if snap.phase == "loading":
        st.progress(0.0, text=t("train.loading"))
    elif snap.phase == "evaluating":
        st.progress(1.0, text=t("train.evaluating"))
    else:
        steps = max(1, snap.steps)
        st.progress(min(1.0, snap.batch / steps), text=t(
            "train.epoch_progress", epoch=max(1, snap.epoch), epochs=snap.epochs, batch=snap.batch, steps=steps,
            left=duration(snap.epoch_eta), total=duration(snap.total_eta)))
        st.progress(min(1.0, snap.epochs_run / max(1, snap.epochs)),
                    text=t("train.overall", done=snap.epochs_run, epochs=snap.epochs, elapsed=duration(snap.elapsed)))


def marker(snap) -> None:
    """Plain facts for browser tests to wait on (invisible)."""
    st.markdown(f"<span data-testid='train-state' data-status='{snap.status}' data-epochs='{snap.epochs_run}' "
                f"data-job='{snap.job_id}'></span>", unsafe_allow_html=True)


def outcome(snap) -> None:
    """How the run ended, in words: never a spinner left behind."""
    values = {"epochs": snap.epochs_run, "best": snap.best_epoch or "-", "time": duration(snap.elapsed)}
    if snap.status == "finished":
        st.success(t("train.end.early" if snap.reason == "early-stopping" else "train.end.finished", **values))
    elif snap.status == "stopped":
        st.warning(t("train.end.stopped" if snap.epochs_run else "train.end.stopped_empty", **values))
    elif snap.reason == "nan":
        refusal = snap.save_refusal
        st.error(t("train.end.nan", reason=i18n.refusal(refusal) if refusal else "NaN"))
    elif snap.reason == "data":
        st.error(t("train.end.data"))
        st.code(snap.message, language=None)
    else:
        st.error(t("train.end.error"))
        st.code(snap.message, language=None)


def live_view(job: TrainingJob, mine: bool) -> None:
    """Progress, curves and probe maps; redrawn every second while the job runs."""
    live = job.snapshot().active

    @st.fragment(run_every=REFRESH_SECONDS if live else None)
    def view():
        snap = job.snapshot()
        if live and not snap.active:
            st.rerun()  # a full run switches the timer off and shows the results
        marker(snap)
        if snap.active:
            progress(snap)
            if mine:
                if snap.stop_requested:
                    st.button(t("train.stopping"), disabled=True, key="tr_stopping")
                else:
                    st.button(t("train.stop"), icon=":material/stop_circle:", on_click=job.request_stop, key="tr_stop",
                              type="primary", help=t("train.stop_help"))
        else:
            outcome(snap)
        if snap.history or snap.batch_points:
            charts.learning_curves(snap.history, snap.batch_points, key=f"tr_curves_{'live' if live else 'end'}")
        elif snap.active:
            st.caption(t("train.first_epoch"))
        st.subheader(t("train.probe.title"))
        charts.probe_maps(snap.probes, snap.probe_image, key=f"tr_probe_{job.id}", live=live)

    view()


def results(job: TrainingJob, mine: bool) -> None:
    snap = job.snapshot()
    ev = snap.evaluation
    if ev is not None:
        st.subheader(t("train.test.title"))
        m = st.columns(4)
        m[0].metric(t("train.test.accuracy"), f"{ev.accuracy:.2%}")
        m[1].metric(t("train.test.loss"), f"{ev.loss:.4f}")
        m[2].metric(t("train.test.epochs"), f"{snap.epochs_run}", help=t("train.test.best", best=snap.best_epoch or "-"))
        m[3].metric(t("train.test.time"), duration(snap.elapsed))
        names = i18n.class_names(CLASS_NAMES[snap.config.dataset])
        confusion(ev, names, job.id)
        mistakes(ev, names)
    if mine:
        save_form(job, snap)


def confusion(ev, names: list[str], job_id: str) -> None:
    st.subheader(t("train.cm.title"))
    st.caption(t("train.cm.caption"))
    left, right = st.columns([3, 2], gap="large")
    with left:
        clicked = charts.confusion_matrix(ev.confusion, names, key=f"tr_cm_{job_id}")
    if clicked is not None and st.session_state.get("tr_cm_clicked") != clicked:
        st.session_state.tr_cm_clicked = clicked
        st.session_state.tr_cm_true, st.session_state.tr_cm_pred = clicked
    if "tr_cm_true" not in st.session_state:  # start on the most frequent mistake
        off = ev.confusion - np.diag(np.diag(ev.confusion))
        st.session_state.tr_cm_true, st.session_state.tr_cm_pred = (int(v) for v in np.unravel_index(off.argmax(), off.shape))
    with right:
        a, b = st.columns(2)
        true = a.selectbox(t("train.cm.true"), range(10), format_func=names.__getitem__, key="tr_cm_true")
        pred = b.selectbox(t("train.cm.pred"), range(10), format_func=names.__getitem__, key="tr_cm_pred")
        cell = ev.cell(true, pred)
        st.markdown(t("train.cm.cell", n=len(cell), true=names[true], pred=names[pred]))
        shown = cell[:GALLERY]
        charts.gallery(ev.images[shown], [f"#{i} · {ev.confidence[i]:.0%}" for i in shown], per_row=5, width=56)


def mistakes(ev, names: list[str]) -> None:
    wrong = ev.misclassified()
    st.subheader(t("train.wrong.title", n=len(wrong), total=len(ev.labels)))
    if not len(wrong):
        st.caption(t("train.wrong.none"))
        return
    st.caption(t("train.wrong.caption"))
    shown = wrong[:GALLERY]
    charts.gallery(ev.images[shown], [t("train.wrong.item", pred=names[ev.predicted[i]], conf=f"{ev.confidence[i]:.0%}",
                                        true=names[ev.labels[i]]) for i in shown], per_row=8)


def default_name(config: TrainConfig) -> str:
    return f"{config.preset}-{config.dataset}-{dt.datetime.now():%m%d-%H%M}"


def save_clicked(job: TrainingJob) -> None:
    """Runs before the page is drawn, so the sidebar picker can follow the new active model at once. A refused save
    keeps the trained model in the job: the user can choose another name and save again."""
    st.session_state.pop("tr_save_error", None)
    name = st.session_state.get("tr_save_name", "")
    store = ui.store()
    try:
        entry = job.save(store, name)
    except Refusal as exc:
        st.session_state.tr_save_error = i18n.refusal(exc)
        return
    except RuntimeError as exc:
        st.session_state.tr_save_error = i18n.as_text(exc)
        return
    job.discard()  # the model lives in the store now; the job keeps only its numbers
    if st.session_state.get("tr_make_active"):
        store.set_active(entry.dataset, entry.name)
        st.session_state[ui.model_key(entry.dataset)] = entry.name


def name_refusal(name: str) -> Refusal | None:
    """Why a new model cannot be saved under ``name`` now (``InvalidName``, ``NameTaken``), or None."""
    try:
        ui.store().check_new_name(name)
    except Refusal as exc:
        return exc
    return None


def save_form(job: TrainingJob, snap) -> None:
    """The name is checked as it is typed (never cut: a long paste stays, with the reason); Save waits for a good one."""
    if snap.saved_as:
        st.success(t("train.saved", name=snap.saved_as))
        st.page_link("app_pages/models.py", label=t("train.to_models"), icon=":material/inventory_2:")
        return
    if snap.save_refusal is not None:  # the training went NaN: said above in the outcome; never saved
        st.subheader(t("train.save.title"))
        st.button(t("train.save.button"), icon=":material/save:", key="tr_save", type="primary", disabled=True)
        st.caption(t("train.save.never"))
        return
    if not snap.can_save:
        return
    st.subheader(t("train.save.title"))
    if "tr_save_name" not in st.session_state:
        st.session_state.tr_save_name = default_name(snap.config)
    bad_name = name_refusal(st.session_state.tr_save_name)
    a, b, c = st.columns([3, 2, 1], vertical_alignment="bottom")
    a.text_input(t("train.save.name"), key="tr_save_name", help=t("train.save.name_help"),
                 on_change=st.session_state.pop, args=("tr_save_error", None))  # a new name, a new answer
    b.checkbox(t("train.save.active", dataset=t(f"dataset.{snap.config.dataset}")), key="tr_make_active")
    c.button(t("train.save.button"), icon=":material/save:", on_click=save_clicked, args=(job,), key="tr_save",
             type="primary", width="stretch", disabled=bad_name is not None)
    if bad_name is not None:
        st.error(t("train.save.bad_name", reason=i18n.refusal(bad_name)))
    elif st.session_state.get("tr_save_error"):
        st.error(t("train.save.refused", reason=st.session_state.tr_save_error))
    if snap.status == "stopped":
        st.caption(t("train.save.stopped_note", best=snap.best_epoch or "-"))


def dismiss(job_id: str) -> None:
    ui.jobs().release(job_id)
    for key in (JOB_KEY, "tr_save_name", "tr_save_error", "tr_cm_true", "tr_cm_pred", "tr_cm_clicked"):
        st.session_state.pop(key, None)


# ---- the page ----------------------------------------------------------------------------------------------
def main():
    ui.keep_widget_state(*FIELDS, "tr_dataset", "tr_use_subset", "tr_subset")  # kept while a run is shown
    st.title(t("train.title"))
    st.caption(t("train.intro"))
    registry = ui.jobs()
    mine = registry.get(st.session_state.get(JOB_KEY))
    if st.session_state.get(JOB_KEY) and mine is None:
        st.session_state.pop(JOB_KEY)  # released elsewhere (e.g. pushed out by newer runs)
        st.info(t("train.gone"))
    if mine is not None:
        live_view(mine, mine=True)
        if mine.snapshot().done:
            results(mine, mine=True)
            st.button(t("train.new"), icon=":material/add:", on_click=dismiss, args=(mine.id,), key="tr_new",
                      help=t("train.new_help"))
        return

    others = registry.running()
    if others:
        snap = others[0].snapshot()
        st.info(t("train.busy", preset=snap.config.preset, dataset=t(f"dataset.{snap.config.dataset}"),
                  epoch=max(1, snap.epoch), epochs=snap.epochs))
        with st.expander(t("train.watch"), expanded=True):
            live_view(others[0], mine=False)
    config = settings()
    busy = registry.busy()
    if st.button(t("train.start"), icon=":material/play_arrow:", type="primary", disabled=busy, key="tr_start",
                 help=t("train.busy_help") if busy else None):
        start(config)


main()
