"""Train a preset in the background and watch it learn: live curves and feature maps, then the test results and Save.

The training runs in a process of its own (training.jobs; in a thread of the server with
``CONVSCOPE_TRAINING_PROCESS=0``); this page only reads its numbers. A fragment redraws them every second while the
training runs, so the rest of the page stays still and the user can leave and come back.
"""

import uuid

import streamlit as st

from app_pages import i18n, resources, train_live, train_results, train_save, train_settings
from app_pages.i18n import t
from app_pages.workarounds import keep_widget_state
from model_store.refusal import Refusal
from training.class_training import ClassTrainConfig
from training.trainer import ConfigError, TrainConfig

JOB_KEY = "train_job"
OWNER_KEY = "train_owner"


def owner() -> str:
    """This session's id, so that only the session that started a training can stop and save it."""
    if OWNER_KEY not in st.session_state:
        st.session_state[OWNER_KEY] = uuid.uuid4().hex
    return st.session_state[OWNER_KEY]


def start(config: TrainConfig | ClassTrainConfig) -> None:
    try:
        job = resources.jobs().start(config, owner=owner())
    except ConfigError as exc:
        st.error(t("train.bad_settings", reason=train_settings.setting_text(exc)))
        return
    except Refusal as exc:  # Busy: another training started a moment ago
        st.warning(i18n.refusal(exc))
        return
    st.session_state[JOB_KEY] = job.id
    st.rerun()


def dismiss(job_id: str) -> None:
    resources.jobs().release(job_id)
    for key in (JOB_KEY, *train_save.FORM_KEYS, *train_results.CELL_KEYS):
        st.session_state.pop(key, None)


def my_run(job) -> None:
    """This session's training: live while it runs; when it has ended, its results, Save, and a way to a new one."""
    train_live.live_view(job, mine=True)
    snap = job.snapshot()
    if not snap.done:
        return
    train_results.figures(snap)
    train_save.save_form(job, snap)
    st.button(t("train.new"), icon=":material/add:", on_click=dismiss, args=(job.id,), key="tr_new",
              help=t("train.new_help"))


def main():
    keep_widget_state(*train_settings.KEPT)
    st.title(t("train.title"))
    st.caption(t("train.intro"))
    registry = resources.jobs()
    mine = registry.get(st.session_state.get(JOB_KEY))
    if st.session_state.get(JOB_KEY) and mine is None:
        st.session_state.pop(JOB_KEY)  # released elsewhere (e.g. pushed out by newer runs)
        st.info(t("train.gone"))
    if mine is not None:
        my_run(mine)
        return

    others = registry.running()
    if others:
        snap = others[0].snapshot()
        what, data = train_live.model_and_data(snap.config)
        st.info(t("train.busy", preset=what, dataset=data, epoch=max(1, snap.epoch), epochs=snap.epochs))
        with st.expander(t("train.watch"), expanded=True):
            train_live.live_view(others[0], mine=False)
    config = train_settings.settings()
    busy = registry.busy()
    if st.button(t("train.start"), icon=":material/play_arrow:", type="primary", disabled=busy or config is None,
                 key="tr_start", help=t("train.busy_help") if busy else None):
        start(config)


main()
