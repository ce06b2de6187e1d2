"""model_store.store: save, list, load, rename, delete; shipped defaults read-only; the active model per dataset."""

from __future__ import annotations

import io
import json
import threading
import zipfile

import numpy as np
import pytest

from model_store.names import InvalidName
from model_store.store import ACTIVE_FILE, ModelNotFound, ModelStore, NameTaken, ReadOnlyModel, StoreError
from tests.unit.unit_data import meta_for, tiny_conv_model, tiny_dense_model


def names(store: ModelStore) -> list[str]:
    return [e.name for e in store.list()]


def visible_files(folder) -> set[str]:
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")}


def probe_input(n: int = 3) -> np.ndarray:
    return np.random.default_rng(7).random((n, 28, 28, 1)).astype(np.float32)


# ---- save / list / get / load ----------------------------------------------------------------------------
def test_save_list_get_load_round_trip(store, store_dirs, conv_model):
    user, _ = store_dirs
    entry = store.save(conv_model, meta_for("mnist", test_accuracy=0.42, note="내 메모"), "내 모델")
    assert entry.name == "내 모델" and not entry.shipped and entry.broken is None
    assert entry.path == user / "내 모델.keras" and entry.path.is_file()
    assert visible_files(user) == {"내 모델.keras", "내 모델.json"}
    assert entry.dataset == "mnist" and entry.test_accuracy == 0.42

    on_disk = json.loads((user / "내 모델.json").read_text(encoding="utf-8"))
    assert on_disk == {"dataset": "mnist", "created_at": "2024-01-01T00:00:00+00:00", "test_accuracy": 0.42,
                       "note": "내 메모", "name": "내 모델"}

    again = ModelStore(user_dir=user, defaults_dir=store.defaults_dir)  # a fresh process sees the same
    assert names(again) == ["내 모델"]
    assert again.get("내 모델").meta == on_disk

    loaded = again.load("내 모델")
    x = probe_input()
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(conv_model(x)), atol=1e-6)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in conv_model.layers]


def test_load_uses_safe_mode(store, monkeypatch, tiny_model):
    import keras

    store.save(tiny_model, meta_for(), "m")
    seen = {}
    real = keras.models.load_model

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(keras.models, "load_model", spy)
    store.load("m")
    assert seen.get("safe_mode") is True


def test_safe_mode_refuses_a_lambda_layer(store, store_dirs):
    """A model with a Lambda layer (arbitrary code) can be saved but never loaded back: safe mode refuses it."""
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Lambda(lambda x: x * 2.0),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    store.save(model, meta_for(), "lambda")
    with pytest.raises(ValueError, match="(?i)lambda|unsafe|safe_mode"):
        store.load("lambda")


def test_metadata_name_is_the_clean_name(store):
    entry = store.save(tiny_dense_model(), meta_for(name="ignored"), "  spaced  ")
    assert entry.name == "spaced" and entry.meta["name"] == "spaced"


def test_user_models_newest_first(store, tiny_model):
    store.save(tiny_model, meta_for(created_at="2024-01-02T00:00:00+00:00"), "middle")
    store.save(tiny_model, meta_for(created_at="2024-01-03T00:00:00+00:00"), "newest")
    store.save(tiny_model, meta_for(created_at="2024-01-01T00:00:00+00:00"), "oldest")
    assert names(store) == ["newest", "middle", "oldest"]


def test_a_listing_parses_only_metadata_that_changed(store, store_dirs, tiny_model, monkeypatch):
    """The Draw page lists the store on every stroke: unchanged files are not parsed again, and a file another
    process rewrote (a new file, as every save is) is read anew."""
    from model_store import store as store_module

    user, _ = store_dirs
    store.save(tiny_model, meta_for("mnist", test_accuracy=0.5), "a")
    store.save(tiny_model, meta_for("mnist", test_accuracy=0.6), "b")
    store.list()
    parsed = []
    real = store_module.validate
    monkeypatch.setattr(store_module, "validate", lambda meta: parsed.append(meta.get("name")) or real(meta))
    assert store.get("a").test_accuracy == 0.5 and parsed == []
    other = ModelStore(user, store.defaults_dir)  # another server process sharing the folder
    on_disk = json.loads((user / "a.json").read_text(encoding="utf-8"))
    store_module.atomic_write(user / "a.json", json.dumps({**on_disk, "test_accuracy": 0.7}).encode())
    assert store.get("a").test_accuracy == 0.7 and parsed == ["a"]
    assert other.get("b").test_accuracy == 0.6
    store.get("a").meta["test_accuracy"] = 0.1  # a caller's change to its entry stays its own
    assert store.get("a").test_accuracy == 0.7


def test_get_missing(store):
    with pytest.raises(ModelNotFound, match="no model named 'ghost'"):
        store.get("ghost")
    with pytest.raises(ModelNotFound):
        store.load("ghost")


def test_derived_files_are_named_by_the_model_files_content(store, tiny_model, conv_model):
    store.save(tiny_model, meta_for(), "a")
    store.save(tiny_model, meta_for(), "b")  # the same model under another name
    store.save(conv_model, meta_for(), "c")
    a, b, c = (store.derived_path(store.get(name).path, "litert.tflite") for name in "abc")
    assert a.parent == store.user_dir / ".cache" and a.name.endswith("-litert.tflite")
    assert store.derived_path(store.get("a").path, "litert.tflite") == a
    assert (a == b) == (store.get("a").path.read_bytes() == store.get("b").path.read_bytes())
    assert c != a
    a.parent.mkdir()
    a.write_bytes(b"derived")
    assert sorted(names(store)) == ["a", "b", "c"]  # the cache folder holds no model


def test_deleting_a_model_removes_only_its_own_derived_files(store, tiny_model, conv_model):
    store.save(tiny_model, meta_for(), "a")
    with store.work_dir() as work:
        copy = work / "copy.keras"
        copy.write_bytes(store.get("a").path.read_bytes())
        store.add_file(copy, meta_for(), "twin")  # the same file content as "a"
    store.save(conv_model, meta_for(), "c")
    a, c = (store.derived_path(store.get(name).path, "litert.tflite") for name in "ac")
    a.parent.mkdir()
    for path in (a, c):
        path.write_bytes(b"derived")
    writing = a.parent / ".tmp-being-written"
    writing.write_bytes(b"half")
    store.delete("c")
    assert not c.exists()
    assert a.exists() and writing.exists()
    store.delete("a")
    assert a.exists(), "the twin still has the same content: its conversion is still good"
    store.delete("twin")
    assert not a.exists() and writing.exists()


def test_for_dataset(store, tiny_model):
    store.save(tiny_model, meta_for("mnist"), "digits")
    store.save(tiny_model, meta_for("fashion-mnist"), "clothes")
    assert [e.name for e in store.for_dataset("mnist")] == ["digits"]
    assert [e.name for e in store.for_dataset("fashion-mnist")] == ["clothes"]
    assert store.for_dataset("cifar10") == []


def test_user_dir_from_environment(monkeypatch, tmp_path, tiny_model):
    monkeypatch.setenv("CONVSCOPE_MODELS", str(tmp_path / "from-env"))
    store = ModelStore(defaults_dir=tmp_path / "no-defaults")
    assert store.user_dir == tmp_path / "from-env" and store.user_dir.is_dir()
    store.save(tiny_model, meta_for(), "env-model")
    assert (tmp_path / "from-env" / "env-model.json").is_file()


def test_add_file_moves_a_checked_file_in_and_its_work_dir_goes(store, conv_model):
    with store.work_dir() as work:
        path = work / "upload.keras"
        conv_model.save(path)
        content = path.read_bytes()
        entry = store.add_file(path, meta_for("fashion-mnist"), "uploaded")
        assert not path.exists(), "moved, not copied"
        conv_model.save(path)
        with pytest.raises(NameTaken):
            store.add_file(path, meta_for(), "UPLOADED")
    assert not work.exists()
    assert entry.name == "uploaded" and entry.dataset == "fashion-mnist" and entry.meta["name"] == "uploaded"
    assert entry.path.read_bytes() == content
    x = probe_input()
    np.testing.assert_allclose(np.asarray(store.load("uploaded")(x)), np.asarray(conv_model(x)), atol=1e-6)


def test_a_compiled_model_is_stored_with_its_weights(store, tiny_model):
    import keras

    model = keras.models.clone_model(tiny_model)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(np.zeros((4, 28, 28, 1), np.float32), np.arange(4), verbose=0)
    store.save(model, meta_for(), "compiled")
    x = probe_input()
    np.testing.assert_allclose(np.asarray(store.load("compiled")(x)), np.asarray(model(x)), atol=1e-6)
    assert model.optimizer is not None  # saving did not take the optimizer away from the caller's model


def test_saved_trained_model_holds_no_optimizer_state(store):
    import h5py

    model = tiny_dense_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(np.zeros((4, 28, 28, 1), np.float32), np.arange(4), verbose=0)
    store.save(model, meta_for(), "trained")
    with zipfile.ZipFile(store.get("trained").path) as archive:
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        optimizer_arrays = []
        if "optimizer" in weights:
            weights["optimizer"].visit(lambda name: optimizer_arrays.append(name))
        config = json.loads(archive.read("config.json"))
    assert not config.get("compile_config")
    assert optimizer_arrays == []


# ---- names --------------------------------------------------------------------------------------------------
def test_name_clash_is_refused(store, store_dirs, tiny_model):
    user, _ = store_dirs
    store.save(tiny_model, meta_for(note="first"), "Digits")
    for clash in ("Digits", "digits", "DIGITS", " Digits "):
        with pytest.raises(NameTaken, match="'Digits' already exists"):
            store.save(tiny_model, meta_for(note="second"), clash)
    assert names(store) == ["Digits"]
    assert store.get("Digits").meta["note"] == "first"  # not overwritten
    assert visible_files(user) == {"Digits.keras", "Digits.json"}


@pytest.mark.parametrize("bad", ["", "   ", "../evil", "a/b", ".hidden", "x" * 500])
def test_invalid_names_write_nothing(store, store_dirs, tiny_model, bad):
    user, _ = store_dirs
    with pytest.raises(InvalidName):
        store.save(tiny_model, meta_for(), bad)
    assert visible_files(user) == set()
    assert not (user.parent / "evil.keras").exists()


def test_a_model_named_active_does_not_clobber_the_active_map(store, store_dirs, tiny_model):
    user, _ = store_dirs
    store.save(tiny_model, meta_for(created_at="2024-01-01"), "older")
    store.save(tiny_model, meta_for(created_at="2024-01-02"), "newer")
    store.set_active("mnist", "older")
    try:
        store.save(tiny_model, meta_for(), "active")
        refused = False
    except (InvalidName, StoreError):
        refused = True
    assert json.loads((user / ACTIVE_FILE).read_text(encoding="utf-8")) == {"mnist": "older"}
    assert store.active("mnist") == "older"
    if refused:
        assert not (user / "active.keras").exists()
    else:
        assert "active" in names(store)


def test_a_name_that_passes_clean_name_can_be_saved(store, tiny_model):
    name = "\U0001f600" * 64
    try:
        store.save(tiny_model, meta_for(), name)
    except InvalidName:
        return  # refusing it up front is fine too
    assert name in names(store)


def test_long_korean_name_fits(store, tiny_model):
    name = "모" * 64  # 192 bytes in UTF-8: must fit in a file name with its suffix
    store.save(tiny_model, meta_for(), name)
    assert names(store) == [name]


# ---- rename / delete ----------------------------------------------------------------------------------------
def test_rename(store, store_dirs, conv_model):
    user, _ = store_dirs
    store.save(conv_model, meta_for(note="keep me"), "old")
    store.set_active("mnist", "old")
    entry = store.rename("old", "새 이름")
    assert entry.name == "새 이름" and entry.meta["name"] == "새 이름" and entry.meta["note"] == "keep me"
    assert names(store) == ["새 이름"]
    assert visible_files(user) == {"새 이름.keras", "새 이름.json"}  # the active map is a dot-file
    assert json.loads((user / ACTIVE_FILE).read_text(encoding="utf-8")) == {"mnist": "새 이름"}
    assert store.active("mnist") == "새 이름"
    x = probe_input()
    np.testing.assert_allclose(np.asarray(store.load("새 이름")(x)), np.asarray(conv_model(x)), atol=1e-6)


def test_rename_leaves_other_active_entries_alone(store, tiny_model):
    store.save(tiny_model, meta_for("mnist"), "digits")
    store.save(tiny_model, meta_for("fashion-mnist"), "clothes")
    store.set_active("mnist", "digits")
    store.set_active("fashion-mnist", "clothes")
    store.rename("clothes", "garments")
    assert store._active_map() == {"mnist": "digits", "fashion-mnist": "garments"}


def test_rename_only_the_case(store, store_dirs, tiny_model):
    user, _ = store_dirs
    store.save(tiny_model, meta_for(), "model")
    store.rename("model", "Model")
    assert names(store) == ["Model"]
    assert visible_files(user) == {"Model.keras", "Model.json"}


def test_rename_refusals(store, shipped, tiny_model):
    store.save(tiny_model, meta_for(), "one")
    store.save(tiny_model, meta_for(), "two")
    with pytest.raises(NameTaken):
        store.rename("one", "TWO")
    with pytest.raises(NameTaken, match="shipped"):
        store.rename("one", shipped.upper())
    with pytest.raises(ModelNotFound):
        store.rename("ghost", "three")
    with pytest.raises(InvalidName):
        store.rename("one", "a/b")
    assert sorted(names(store)) == sorted([shipped, "one", "two"])


def test_delete(store, store_dirs, tiny_model):
    user, _ = store_dirs
    store.save(tiny_model, meta_for(), "doomed")
    store.save(tiny_model, meta_for(), "kept")
    store.delete("doomed")
    assert names(store) == ["kept"]
    assert visible_files(user) == {"kept.keras", "kept.json"}
    with pytest.raises(ModelNotFound):
        store.delete("doomed")
    store.save(tiny_model, meta_for(), "doomed")  # the name is free again
    assert "doomed" in names(store)


# ---- shipped defaults -----------------------------------------------------------------------------------
def test_shipped_defaults_are_listed_first_and_read_only(store, store_dirs, shipped, tiny_model):
    _, defaults = store_dirs
    store.save(tiny_model, meta_for(created_at="2099-01-01"), "mine")
    entries = store.list()
    assert [e.name for e in entries] == [shipped, "mine"]
    assert entries[0].shipped and not entries[1].shipped
    assert entries[0].path == defaults / f"{shipped}.keras"
    before = visible_files(defaults)
    with pytest.raises(ReadOnlyModel):
        store.rename(shipped, "stolen")
    with pytest.raises(ReadOnlyModel):
        store.delete(shipped)
    with pytest.raises(NameTaken, match="a shipped model"):
        store.save(tiny_model, meta_for(), shipped)
    assert visible_files(defaults) == before
    assert store.load(shipped) is not None


def test_active_falls_back_to_the_shipped_default(store, shipped, tiny_model):
    assert store.active("mnist") == shipped
    assert store.active("fashion-mnist") is None
    store.save(tiny_model, meta_for("mnist", created_at="2099-01-01"), "mine")
    assert store.active("mnist") == shipped  # a newer user model is not chosen by itself
    store.set_active("mnist", "mine")
    assert store.active("mnist") == "mine"
    store.delete("mine")
    assert store.active("mnist") == shipped  # the chosen one is gone
    store.set_active("mnist", shipped)
    assert store.active("mnist") == shipped


def test_active_without_shipped_default_takes_any_model(store, tiny_model):
    assert store.active("mnist") is None
    store.save(tiny_model, meta_for("mnist"), "only")
    assert store.active("mnist") == "only"


def test_set_active_checks_model_and_dataset(store, tiny_model):
    store.save(tiny_model, meta_for("fashion-mnist"), "clothes")
    with pytest.raises(StoreError, match="is for fashion-mnist, not mnist"):
        store.set_active("mnist", "clothes")
    with pytest.raises(ModelNotFound):
        store.set_active("mnist", "ghost")
    assert store.active("fashion-mnist") == "clothes"


def test_corrupt_active_file_is_ignored(store, store_dirs, shipped):
    user, _ = store_dirs
    (user / ACTIVE_FILE).write_text("[1, 2", encoding="utf-8")
    assert store.active("mnist") == shipped
    (user / ACTIVE_FILE).write_text("[1, 2]", encoding="utf-8")
    assert store.active("mnist") == shipped
    store.set_active("mnist", shipped)  # and it is repaired by the next choice
    assert json.loads((user / ACTIVE_FILE).read_text(encoding="utf-8")) == {"mnist": shipped}


# ---- damaged stores --------------------------------------------------------------------------------------
@pytest.mark.parametrize("content", ["{ not json", "[1, 2, 3]", "", "\xff\xfe"], ids=["syntax", "list", "empty", "binary"])
def test_corrupt_metadata_is_listed_as_broken(store, store_dirs, tiny_model, content):
    user, _ = store_dirs
    store.save(tiny_model, meta_for(), "good")
    store.save(tiny_model, meta_for(), "bad")
    (user / "bad.json").write_bytes(content.encode("latin-1"))
    entries = {e.name: e for e in store.list()}
    assert set(entries) == {"good", "bad"}
    assert entries["bad"].broken and "metadata" in entries["bad"].broken
    assert entries["good"].broken is None
    assert [e.name for e in store.for_dataset("mnist")] == ["good"]
    with pytest.raises(StoreError, match="broken"):
        store.load("bad")
    assert store.load("good") is not None
    store.set_active("mnist", "good")
    assert store.active("mnist") == "good"
    store.delete("bad")  # a broken model can still be removed
    assert names(store) == ["good"]


def test_metadata_without_model_file_is_broken(store, store_dirs, tiny_model):
    user, _ = store_dirs
    store.save(tiny_model, meta_for(), "lost")
    (user / "lost.keras").unlink()
    entry = store.get("lost")
    assert entry.broken == "model file missing"
    assert store.for_dataset("mnist") == []
    with pytest.raises(StoreError, match="model file missing"):
        store.load("lost")


def test_a_model_file_without_metadata_is_not_listed(store, store_dirs, tiny_model):
    """A save killed between the .keras and the .json leaves a model that does not exist for the app."""
    user, _ = store_dirs
    tiny_model.save(user / "half.keras")
    assert names(store) == []
    with pytest.raises(ModelNotFound):
        store.get("half")
    store.save(tiny_model, meta_for(), "half")  # the name is free: the leftover is replaced
    assert names(store) == ["half"] and store.load("half") is not None


def test_hidden_and_temporary_files_are_not_listed(store, store_dirs, tiny_model):
    user, _ = store_dirs
    store.save(tiny_model, meta_for(), "real")
    (user / ".tmp-abc123.json").write_text(json.dumps(meta_for()), encoding="utf-8")
    (user / ".tmp-abc123.keras").write_bytes(store.get("real").path.read_bytes())
    (user / ".hidden.json").write_text(json.dumps(meta_for()), encoding="utf-8")
    (user / "notes.txt").write_text("not a model", encoding="utf-8")
    assert names(store) == ["real"]


def test_stale_temp_files_are_removed_on_start(store_dirs, tiny_model):
    user, defaults = store_dirs
    ModelStore(user_dir=user, defaults_dir=defaults).save(tiny_model, meta_for(), "kept")
    (user / ".tmp-dead.keras").write_bytes(b"half a model")
    (user / ".tmp-dead2").write_bytes(b"half a json")
    ModelStore(user_dir=user, defaults_dir=defaults)
    assert not any(p.name.startswith(".tmp-") for p in user.iterdir())
    assert visible_files(user) == {"kept.keras", "kept.json"}


def test_missing_defaults_folder_is_fine(tmp_path, tiny_model):
    store = ModelStore(user_dir=tmp_path / "u", defaults_dir=tmp_path / "does-not-exist")
    assert store.list() == []
    store.save(tiny_model, meta_for(), "m")
    assert names(store) == ["m"]


# ---- concurrency --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("second", ["same", "SAME"])
def test_two_threads_saving_the_same_name(store_dirs, second):
    user, defaults = store_dirs
    models = [tiny_dense_model(seed=1), tiny_dense_model(seed=2)]
    barrier = threading.Barrier(2)
    outcomes = [None, None]

    def save(i, name):
        store = ModelStore(user_dir=user, defaults_dir=defaults)  # one store per session, as in the app
        barrier.wait()
        try:
            outcomes[i] = store.save(models[i], meta_for(thread=i), name)
        except Exception as exc:  # noqa: BLE001 - the test inspects what came out
            outcomes[i] = exc

    threads = [threading.Thread(target=save, args=(0, "same")), threading.Thread(target=save, args=(1, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    losers = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert isinstance(losers[0], NameTaken)
    winner_index = outcomes.index(winners[0])

    store = ModelStore(user_dir=user, defaults_dir=defaults)
    assert names(store) == [winners[0].name]
    assert visible_files(user) == {f"{winners[0].name}.keras", f"{winners[0].name}.json"}
    assert store.get(winners[0].name).meta["thread"] == winner_index
    x = probe_input()
    np.testing.assert_allclose(np.asarray(store.load(winners[0].name)(x)), np.asarray(models[winner_index](x)),
                               atol=1e-6)  # the .keras belongs to the same thread as the .json


def test_many_threads_different_names(store_dirs, tiny_model):
    user, defaults = store_dirs
    barrier = threading.Barrier(4)
    errors = []

    def save(i):
        barrier.wait()
        try:
            ModelStore(user_dir=user, defaults_dir=defaults).save(tiny_model, meta_for(i=i), f"model-{i}")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    store = ModelStore(user_dir=user, defaults_dir=defaults)
    assert sorted(names(store)) == [f"model-{i}" for i in range(4)]
    assert all(store.get(f"model-{i}").meta["i"] == i for i in range(4))


def test_other_models_load_while_a_conv_model_is_stored(store, conv_model):
    store.save(tiny_conv_model(seed=3), meta_for(), "a")
    store.save(conv_model, meta_for(), "b")
    a, b = store.load("a"), store.load("b")
    x = probe_input()
    assert not np.allclose(np.asarray(a(x)), np.asarray(b(x)))  # two different models, not one cached twice
