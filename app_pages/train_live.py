"""A training as the Train page shows it while it runs and once it has ended: progress, curves, the probe image's
feature maps, and how it ended. Everything is read from the job's snapshot; nothing here trains."""

from __future__ import annotations

import streamlit as st

from app_pages import charts, gallery, i18n
from app_pages.i18n import t, tn
from training.class_training import ClassTrainConfig
from training.jobs import TrainingJob

REFRESH_SECONDS = 1.0


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "…"
    seconds = int(round(seconds))
    if seconds < 60:
        return t("train.duration.seconds", s=seconds)
    return t("train.duration.minutes", m=seconds // 60, s=f"{seconds % 60:02d}")


def model_and_data(config) -> tuple[str, str]:
    """What learns and from what, as the page names them (Markdown-safe)."""
    if isinstance(config, ClassTrainConfig):
        what = i18n.as_text(config.base_model) if config.base_model else t("train.class.new_network",
                                                                           preset=config.preset)
        return what, t("train.class.data_name", name=i18n.as_text(config.class_data))
    return config.preset, t(f"dataset.{config.dataset}")


def progress(snap) -> None:
    what, data = model_and_data(snap.config)
    st.markdown(t("train.running_what", preset=what, dataset=data, n=snap.train_size or "…", val=snap.val_size))
    if snap.phase == "loading":
        st.progress(0.0, text=t("train.loading"))
    elif snap.phase == "evaluating":
        st.progress(1.0, text=t("train.evaluating"))
    else:
        steps = max(1, snap.steps)
        st.progress(min(1.0, snap.batch / steps), text=t(
            "train.epoch_progress", epoch=max(1, snap.epoch), epochs=snap.epochs, batch=snap.batch, steps=steps,
            left=duration(snap.epoch_eta), total=duration(snap.total_eta)))
        st.progress(min(1.0, snap.epochs_run / max(1, snap.epochs)), text=tn(
            "train.overall", snap.epochs, done=snap.epochs_run, epochs=snap.epochs, elapsed=duration(snap.elapsed)))


def marker(snap) -> None:
    """Plain facts for browser tests to wait on (invisible)."""
    st.markdown(f"<span data-testid='train-state' data-status='{snap.status}' data-epochs='{snap.epochs_run}' "
                f"data-job='{snap.job_id}'></span>", unsafe_allow_html=True)


def outcome(snap) -> None:
    """How the run ended, in words: never a spinner left behind."""
    values = {"epochs": snap.epochs_run, "best": snap.best_epoch or "-", "time": duration(snap.elapsed)}
    if snap.status == "finished":
        st.success(tn("train.end.early" if snap.reason == "early-stopping" else "train.end.finished", snap.epochs_run,
                      **values))
    elif snap.status == "stopped":
        if snap.epochs_run:
            st.warning(tn("train.end.stopped", snap.epochs_run, **values))
        else:
            st.warning(t("train.end.stopped_empty"))
    elif snap.reason == "nan":
        refusal = snap.save_refusal
        st.error(t("train.end.nan", reason=i18n.refusal(refusal) if refusal else "NaN"))
    elif snap.reason == "data" and snap.failure_refusal is not None:
        st.error(f'{t("train.end.data")} {i18n.refusal(snap.failure_refusal)}')
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
        gallery.probe_maps(snap.probes, snap.probe_image, key=f"tr_probe_{job.id}", live=live)

    view()
