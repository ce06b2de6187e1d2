"""The Models page under AppTest: the table, the active model (the sidebar follows), rename, delete with
confirmation, upload of good and bad files, and comparing two models. Models and data are tiny and made here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from model_store.store import DEFAULTS_DIR, ModelStore
from tests.pages.tiny_data import model_file, write_data

MODELS = "app_pages/models.py"
SHIPPED = (DEFAULTS_DIR / "convscope-digits.keras").exists()


def history(epochs: int, start: float) -> list[dict]:
    return [{"epoch": e, "loss": start / e, "accuracy": 1 - start / (e + 2), "val_loss": start / e + 0.1,
             "val_accuracy": 1 - start / (e + 1)} for e in range(1, epochs + 1)]


@pytest.fixture
def env(monkeypatch, tmp_path, open_app):
    """A store with two small user models for MNIST and a tiny MNIST test set."""
    import keras

    monkeypatch.setenv("CONVSCOPE_DATA", str(write_data(tmp_path / "data", n_train=20, n_test=40)))
    store = ModelStore()
    for name, seed, start in (("alpha", 0, 1.0), ("beta", 1, 2.0)):
        model_file(tmp_path / f"{name}.keras", seed=seed)
        model = keras.models.load_model(tmp_path / f"{name}.keras", compile=False)
        store.save(model, {"dataset": "mnist", "class_names": [str(i) for i in range(10)], "preset": "tiny",
                           "params": model.count_params(), "test_accuracy": 0.5 + seed / 10, "test_loss": 1.0,
                           "epochs_run": 3, "training_seconds": 12.0, "history": history(3, start),
                           "created_at": f"2026-01-0{seed + 1}T10:00:00+00:00"}, name)
    return tmp_path


def table(at) -> dict[str, dict]:
    frame = at.dataframe[0].value
    return {row["Name"]: row for row in frame.to_dict("records")}


def test_the_table_lists_every_model_and_marks_the_shipped_defaults(env, open_app):
    at = open_app(MODELS)
    rows = table(at)
    assert {"alpha", "beta"} <= set(rows)
    assert rows["beta"]["Test accuracy"] == pytest.approx(60.0) and rows["alpha"]["Trained for"] == "3 epochs, 12 s"
    assert rows["alpha"]["Shipped"] == "" and rows["alpha"]["Architecture"] == "tiny"
    if SHIPPED:
        assert "default" in rows["convscope-digits"]["Shipped"] and rows["convscope-digits"]["Active"] == "✓"
        at.selectbox(key="models_pick").set_value("convscope-digits").run()
        assert any("cannot be renamed or deleted" in i.value for i in at.info)
        assert not [b for b in at.button if b.key in ("models_rename", "models_delete")]


def test_choosing_the_active_model_moves_the_sidebar_picker(env, open_app):
    at = open_app(MODELS)
    at.selectbox(key="active::mnist").set_value("beta").run()
    assert not at.exception
    assert ModelStore().active("mnist") == "beta"
    assert at.session_state["model::mnist"] == "beta"
    assert at.sidebar.selectbox(key="model::mnist").value == "beta"
    assert table(at)["beta"]["Active"] == "✓"


def test_rename_and_a_refused_name(env, open_app):
    at = open_app(MODELS)
    at.selectbox(key="models_pick").set_value("alpha").run()
    at.text_input(key="models_new_name").set_value("gamma")
    at.button(key="models_rename").click().run()
    assert not at.exception
    assert "gamma" in table(at) and "alpha" not in table(at)
    assert any("Renamed alpha to gamma" in s.value for s in at.success)
    at.text_input(key="models_new_name").set_value("beta")
    at.button(key="models_rename").click().run()
    assert any("already exists" in e.value for e in at.error)
    at.text_input(key="models_new_name").set_value("a/b")
    at.button(key="models_rename").click().run()
    assert any("cannot contain /" in e.value for e in at.error)


def test_delete_asks_first(env, open_app):
    at = open_app(MODELS)
    at.selectbox(key="models_pick").set_value("beta").run()
    at.button(key="models_delete").click().run()
    assert any("for good" in w.value for w in at.warning)
    at.button(key="models_cancel").click().run()
    assert "beta" in table(at)
    at.button(key="models_delete").click().run()
    at.button(key="models_delete_yes").click().run()
    assert not at.exception
    assert "beta" not in table(at) and not (env / "models" / "beta.keras").exists()
    assert any("Deleted beta" in s.value for s in at.success)


def shown(markdown: str) -> str:
    """What a person reads: Markdown's backslash escapes removed."""
    return re.sub(r"\\(.)", r"\1", markdown)


def upload(at, filename: str, data: bytes, name: str | None = None) -> AppTest:
    at.segmented_control(key="models_section").set_value("upload").run()
    at.file_uploader(key="models_file").upload(filename, data)
    at.run()
    if name:
        at.text_input(key="models_up_name").set_value(name)
    at.button(key="models_up_go").click().run()
    assert not at.exception, at.exception
    return at


def test_upload_of_a_good_h5_model_evaluates_and_stores_it(env, open_app):
    at = upload(open_app(MODELS), "colab_model.h5", model_file(env / "colab.h5", input_shape=(784,)))
    assert any("Added **colab_model**" in shown(s.value) and "Test accuracy" in s.value for s in at.success), at.success
    meta = json.loads((env / "models" / "colab_model.json").read_text())
    assert meta["source"] == "upload" and meta["original_filename"] == "colab_model.h5" and meta["input_shape"] == [784]
    assert 0 <= meta["test_accuracy"] <= 1 and len(meta["confusion_matrix"]) == 10
    assert "colab_model" in table(at)


@pytest.mark.parametrize(("filename", "make", "reason"), [
    ("picture.keras", lambda p: b"\x89PNG\r\n\x1a\n" + bytes(64), "looks like a PNG image"),
    ("lambda.keras", lambda p: model_file(p / "lambda.keras", lambda_layer=True), "Lambda layer"),
    ("rgb.keras", lambda p: model_file(p / "rgb.keras", input_shape=(32, 32, 3)), "(32, 32, 3)"),
])
def test_upload_of_bad_files_is_refused_with_the_reason(env, open_app, filename, make, reason):
    at = upload(open_app(MODELS), filename, make(env))
    assert any(reason in shown(e.value) for e in at.error), [e.value for e in at.error]
    assert Path(filename).stem not in table(at)


def test_compare_two_models(env, open_app):
    at = open_app(MODELS)
    at.segmented_control(key="models_section").set_value("compare").run()
    assert any("at least two" in i.value for i in at.info)
    at.multiselect(key="models_cmp_mnist").set_value(["alpha", "beta"]).run()
    assert not at.exception, at.exception
    side = at.dataframe[-1].value
    assert list(side["Name"]) == ["alpha", "beta"]
    predictions = [md.value for md in at.markdown if "data-testid='compare-prediction'" in md.value]
    assert len(predictions) == 2
    assert len(at.get("plotly_chart")) == 2  # loss and accuracy, the models overlaid
    assert sum("data-testid='probabilities'" in h.proto.body for h in at.get("html")) == 2  # bars per model
    at.number_input(key="models_cmp_image_mnist").set_value(5).run()
    assert not at.exception


# ---- hostile input ---------------------------------------------------------------------------------------
def zip_bomb(path: Path) -> bytes:
    """A real tiny model whose config.json is padded with 64 MB of spaces (~64 KB zipped)."""
    import io
    import zipfile

    good = model_file(path)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            content = source.read(name)
            target.writestr(name, content[:-1] + b" " * (64 * 2**20) + b"}" if name == "config.json" else content)
    return out.getvalue()


def test_a_zip_bomb_upload_is_refused_with_the_reason(env, open_app):
    at = upload(open_app(MODELS), "bomb.keras", zip_bomb(env / "bomb.keras"))
    assert any("compressed" in e.value and "zip bomb" in e.value for e in at.error), [e.value for e in at.error]
    assert "bomb" not in table(at)


def test_one_model_with_bad_metadata_breaks_no_page_and_can_be_deleted(env, open_app):
    (env / "models" / "alpha.json").write_text(json.dumps({"dataset": "mnist", "test_accuracy": "high",
                                                            "created_at": 1700000000}))
    at = open_app(MODELS)
    rows = table(at)
    assert "test_accuracy must be a number" in rows["alpha"]["Problem"]
    at.selectbox(key="models_pick").set_value("alpha").run()
    at.text_input(key="models_new_name").set_value("gamma")
    at.button(key="models_rename").click().run()
    assert any("broken" in e.value for e in at.error), "renaming would write over what is left of it"
    assert json.loads((env / "models" / "alpha.json").read_text())["test_accuracy"] == "high"
    at.button(key="models_delete").click().run()
    at.button(key="models_delete_yes").click().run()
    assert not at.exception and "alpha" not in table(at)
    for page in ("app_pages/draw.py", "app_pages/fashion.py", "app_pages/train.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)


def test_a_name_with_markdown_is_shown_as_typed(env, open_app):
    at = open_app(MODELS)
    at.selectbox(key="models_pick").set_value("alpha").run()
    at.text_input(key="models_new_name").set_value("_it_ [click](x)")
    at.button(key="models_rename").click().run()
    notice = next(s.value for s in at.success if "Renamed" in s.value)
    assert "\\_it\\_ \\[click\\](x)" in notice and shown(notice) == "Renamed alpha to _it_ [click](x)."


def test_a_class_models_picker_follows_its_rename_and_falls_back_to_digits_on_delete(env, open_app):
    import keras

    from app_pages.sidebar import CLASS_MODEL_KEY

    model = keras.models.load_model(env / "alpha.keras", compile=False)
    ModelStore().save(model, {"dataset": "shapes", "class_data": "shapes", "class_names": [f"s{i}" for i in range(10)],
                              "preset": "tiny", "params": model.count_params()}, "our-shapes")
    at = open_app(MODELS)
    at.selectbox(key=CLASS_MODEL_KEY).set_value("our-shapes").run()
    at.selectbox(key="models_pick").set_value("our-shapes").run()
    at.text_input(key="models_new_name").set_value("class-shapes")
    at.button(key="models_rename").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key=CLASS_MODEL_KEY).value == "class-shapes"  # the Draw page still reads with it
    at.button(key="models_delete").click().run()
    at.button(key="models_delete_yes").click().run()
    assert not at.exception, at.exception
    assert "class-shapes" not in table(at)
    assert CLASS_MODEL_KEY not in [s.key for s in at.sidebar.selectbox]  # no class model left: the Draw page reads digits


@pytest.mark.parametrize(("lang", "words"), [("en", "temperature of 0.62 fitted on 3000"), ("ko", "3000장에서 맞춘 온도 0.62")])
def test_a_calibrated_model_says_so_in_the_users_language(env, open_app, lang, words):
    store = ModelStore()
    entry = store.get("alpha")
    store.save(store.load("alpha"), {**entry.meta, "calibration": {"temperature": 0.62, "fitted_on": 3000}}, "calm")
    at = open_app(MODELS, lang=lang)
    at.selectbox(key="models_pick").set_value("calm").run()
    assert any(words in c.value for c in at.caption)
    at.selectbox(key="models_pick").set_value("alpha").run()
    assert not any("0.62" in c.value for c in at.caption)
