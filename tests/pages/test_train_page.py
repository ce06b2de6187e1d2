"""The Train page under AppTest, on tiny IDX files the test writes (CONVSCOPE_DATA points at them).

A real one-epoch training runs in a background thread (tests/pages/conftest.py); the test waits on the job itself
(the registry is the app's ``st.cache_resource``) and then reruns the page to read what it shows.
"""

from __future__ import annotations

import json
import re
import threading

import pytest
from streamlit.testing.v1 import AppTest

from app_pages import resources
from model_store.scores import most_frequent_mistake
from tests.pages.tiny_data import write_data
from training import data_cache, registry

TRAIN = "app_pages/train.py"


@pytest.fixture
def env(monkeypatch, tmp_path, open_app):
    monkeypatch.setenv("CONVSCOPE_DATA", str(write_data(tmp_path / "data")))
    monkeypatch.delenv(registry.MAX_ENV, raising=False)
    data_cache.clear_data_cache()
    yield tmp_path
    for job in resources.jobs().jobs():  # never leave a thread training behind
        job.request_stop()
        job.wait(60)
    data_cache.clear_data_cache()


@pytest.fixture
def open_train(open_app):
    return lambda: open_app(TRAIN)


def the_job():
    jobs = resources.jobs().jobs()
    assert len(jobs) == 1
    return jobs[0]


def test_settings_show_the_presets_layers_and_the_demo_button(env, open_train):
    at = open_train()
    assert at.title[0].value == "Train a network"
    layers = at.dataframe[0].value
    assert list(layers["Layer"])[:3] == ["conv1", "pool1", "conv2"]  # tf-tutorial, the default preset
    at.selectbox(key="tr_preset").set_value("book-cnn").run()
    assert not at.exception
    assert at.number_input(key="tr_epochs").value == 30 and at.selectbox(key="tr_batch").value == 200  # the book's settings
    assert at.slider(key="tr_val").value == 0.25 and at.number_input(key="tr_patience").value == 10
    at.button(key="tr_demo").click().run()
    assert at.selectbox(key="tr_preset").value == "convscope-speedrun" and at.toggle(key="tr_use_subset").value


def test_one_epoch_on_a_tiny_subset_draws_the_curves_and_saves_a_model(env, open_train):
    at = open_train()
    at.number_input(key="tr_epochs").set_value(1)
    at.selectbox(key="tr_batch").set_value(32)
    at.toggle(key="tr_use_subset").set_value(True).run()
    at.number_input(key="tr_subset").set_value(200)
    at.button(key="tr_start").click().run()
    assert not at.exception, at.exception
    job = the_job()
    assert job.wait(120), job.snapshot()
    at.run()
    assert not at.exception, at.exception
    assert "Training finished: 1 epoch in" in at.success[0].value  # one epoch, not "1 epochs"
    assert len(at.get("plotly_chart")) >= 3  # loss, accuracy, confusion matrix
    assert [m.label for m in at.metric][:2] == ["Test accuracy", "Test loss"]
    assert any("Misclassified test images" in s.value for s in at.subheader)
    captions = " ".join(str(img.proto) for img in at.get("image"))
    assert "Probe image" in captions and "conv1: 26×26, 32 channels, after epoch 1" in captions
    epoch_slider = next(s for s in at.slider if s.label.startswith("Epoch (0 = before training)"))
    assert (epoch_slider.min, epoch_slider.max, epoch_slider.value) == (0, 1, 1)
    epoch_slider.set_value(0).run()
    assert "after epoch 0" in " ".join(str(img.proto) for img in at.get("image"))
    assert at.session_state["tr_cm_true"] in range(10)
    confusion = job.snapshot().evaluation.confusion
    if most_frequent_mistake(confusion):  # the cell opened first: the most frequent mistake
        assert (at.session_state["tr_cm_true"], at.session_state["tr_cm_pred"]) == most_frequent_mistake(confusion)

    at.text_input(key="tr_save_name").set_value("tiny run")
    at.checkbox(key="tr_make_active").check()
    at.button(key="tr_save").click().run()
    assert not at.exception, at.exception
    assert any("tiny run" in s.value for s in at.success)
    meta = json.loads((env / "models" / "tiny run.json").read_text())
    assert meta["epochs_run"] == 1 and meta["preset"] == "tf-tutorial" and meta["hyperparameters"]["subset"] == 200
    assert len(meta["confusion_matrix"]) == 10 and meta["test_accuracy"] is not None
    assert at.session_state["model::mnist"] == "tiny run"  # the sidebar picker follows
    assert job.result is None  # the model was handed to the store and let go

    at.button(key="tr_new").click().run()
    assert not at.exception
    assert the_job_count() == 0 and at.button(key="tr_start")


def the_job_count() -> int:
    return len(resources.jobs().jobs())


def train_tiny(at: AppTest) -> None:
    """Start a one-epoch mlp-baseline run on 100 images from the page and wait until it is done."""
    at.toggle(key="tr_use_subset").set_value(True).run()
    at.number_input(key="tr_subset").set_value(100)
    at.selectbox(key="tr_preset").set_value("mlp-baseline").run()
    at.number_input(key="tr_epochs").set_value(1)
    at.button(key="tr_start").click().run()
    assert not at.exception, at.exception
    assert the_job().wait(120)
    at.run()
    assert not at.exception, at.exception


def shown(elements) -> list[str]:
    """The texts of Markdown elements as a person reads them (the backslash escapes of typed values removed)."""
    return [re.sub(r"\\(.)", r"\1", e.value) for e in elements]


def errors(at: AppTest) -> list[str]:
    return shown(at.error)


def test_a_bad_or_taken_name_is_told_before_the_click_and_the_model_waits_for_a_good_one(env, open_train):
    from model_store.store import ModelStore

    at = open_train()
    train_tiny(at)
    job = the_job()
    assert not at.button(key="tr_save").disabled  # the default name is free
    at.text_input(key="tr_save_name").set_value("convscope-digits").run()  # a shipped default's name
    assert any("a shipped model named 'convscope-digits' already exists" in e for e in errors(at)), errors(at)
    assert at.button(key="tr_save").disabled
    pasted = "x" * 500  # no max_chars: a long paste is kept as typed, with the reason
    at.text_input(key="tr_save_name").set_value(pasted).run()
    assert at.text_input(key="tr_save_name").value == pasted
    assert any("a name can have at most 64 characters (this one has 500)" in e for e in errors(at)), errors(at)
    assert at.button(key="tr_save").disabled

    at.text_input(key="tr_save_name").set_value("mine").run()
    assert errors(at) == [] and not at.button(key="tr_save").disabled
    ModelStore().save(job.result.model, {"dataset": "mnist"}, "mine")  # another session, between check and click
    at.button(key="tr_save").click().run()
    assert not at.exception, at.exception
    assert any("a model named 'mine' already exists" in e for e in errors(at)), errors(at)
    assert job.result is not None and job.snapshot().saved_as is None  # the trained model is still here
    at.text_input(key="tr_save_name").set_value("a good name").run()
    assert errors(at) == [] and not at.button(key="tr_save").disabled
    at.button(key="tr_save").click().run()
    assert not at.exception, at.exception
    assert any("a good name" in s.value for s in at.success)
    assert (env / "models" / "a good name.keras").is_file() and job.snapshot().saved_as == "a good name"


@pytest.mark.parametrize(("lang", "failed", "reason"), [
    ("en", "The training failed: the loss became NaN or infinite (not a number) in epoch 1",
     "a model trained like this answers nothing, so it cannot be saved"),
    ("ko", "훈련 실패: 에포크 1에서 손실이 NaN 또는 무한대(숫자가 아님)가 되었습니다",
     "이렇게 훈련된 모델은 아무것도 답하지 못하므로 저장할 수 없습니다"),
])
def test_a_training_whose_loss_went_nan_cannot_be_saved_and_says_why(env, open_train, monkeypatch, lang, failed, reason):
    import numpy as np

    from training import presets

    real_build = presets.build

    def poisoned(name):  # the output layer's weights are NaN: the first batch's loss is NaN
        model = real_build(name)
        kernel = model.get_layer("probabilities").kernel
        kernel.assign(np.full(kernel.shape, np.nan, np.float32))
        return model

    monkeypatch.setattr(presets, "build", poisoned)
    at = open_train()
    at.selectbox(key="lang").set_value(lang).run()
    train_tiny(at)
    assert any(e.startswith(failed) and reason in e for e in errors(at)), errors(at)
    assert at.button(key="tr_save").disabled and not at.get("text_input")
    assert the_job().snapshot().save_refusal.code == "training_not_finite"


def test_numbers_out_of_range_are_brought_into_it_with_a_note_never_silently(env, open_train):
    from training.data_cache import load_dataset

    at = open_train()
    at.number_input(key="tr_epochs").set_value(100000)
    at.number_input(key="tr_patience").set_value(-4).run()
    assert not at.exception, at.exception
    assert at.number_input(key="tr_epochs").value == 100000  # what was typed stays in the field...
    notes = shown(at.warning)
    assert "Epochs can be at most 200: 200 will be used" in notes, notes  # ...and the note says what is used
    assert any("must be at least 0: 0 will be used" in n for n in notes), notes
    at.selectbox(key="lang").set_value("ko").run()
    assert "에포크은(는) 최대 200입니다: 200(으)로 훈련합니다" in shown(at.warning)

    gate = threading.Event()
    jobs = resources.jobs()
    jobs.data_loader = lambda name: gate.wait(60) and load_dataset(name)
    at.button(key="tr_start").click().run()
    job = the_job()
    assert (job.config.epochs, job.config.patience) == (200, 0)  # the range's end, as the note said
    job.request_stop()
    gate.set()
    assert job.wait(60)


def test_others_see_that_the_server_is_busy_and_cannot_start_a_second(env, open_train):
    from training.datasets import DatasetError
    from training.trainer import TrainConfig

    release = threading.Event()

    def slow_then_missing(name):
        release.wait(60)
        raise DatasetError("data_no_train", name=name, source="a test")

    jobs = resources.jobs()
    jobs.data_loader = slow_then_missing
    job = jobs.start(TrainConfig(), owner="someone else")
    at = open_train()
    assert any("The server is training" in i.value for i in at.info)
    assert at.button(key="tr_start").disabled
    release.set()
    assert job.wait(30)
    at.run()
    assert not at.exception
    assert not at.button(key="tr_start").disabled


def test_a_missing_dataset_ends_as_a_clear_failure_not_a_spinner(env, open_train, monkeypatch, tmp_path):
    from training import datasets

    monkeypatch.setenv("CONVSCOPE_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(datasets, "DEBIAN_DIRS", {})
    monkeypatch.setattr(datasets, "_keras_download", lambda name: (_ for _ in ()).throw(ConnectionError("offline")))
    at = open_train()
    at.button(key="tr_start").click().run()
    assert the_job().wait(30)
    at.run()
    assert not at.exception
    failure = [e.value for e in at.error if "dataset could not be loaded" in e.value]
    assert len(failure) == 1 and "could not load mnist" in failure[0], [e.value for e in at.error]
    assert not at.get("progress")
    at.sidebar.selectbox(key="lang").set_value("ko").run()
    assert any("mnist" in e.value and any("\uac00" <= ch <= "\ud7a3" for ch in e.value) for e in at.error), \
        "the same failure in Korean"


def test_the_run_survives_a_visit_to_another_page_and_stop_leaves_a_clear_status(env, open_train):
    from training.data_cache import load_dataset

    gate = threading.Event()
    jobs = resources.jobs()
    jobs.data_loader = lambda name: gate.wait(60) and load_dataset(name)
    at = open_train()
    at.button(key="tr_start").click().run()
    job = the_job()
    assert job.snapshot().active and job.owner == at.session_state["train_owner"]
    at.switch_page("app_pages/dataset.py").run()
    at.switch_page(TRAIN).run()
    assert not at.exception
    assert "data-status='queued'" in " ".join(md.value for md in at.markdown)  # still there, still going
    at.button(key="tr_stop").click().run()
    assert job.snapshot().stop_requested
    gate.set()
    assert job.wait(30)
    at.run()
    assert any("Stopped before the first epoch finished" in w.value for w in at.warning)
    assert not at.get("progress") and not [b for b in at.button if b.key == "tr_save"]
