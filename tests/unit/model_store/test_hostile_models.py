"""Model files made to hurt the server: each is refused with its reason, in bounded memory and time, and the
store survives bad files on disk. Every hostile file is made here, small, with ``zipfile`` and Keras."""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from model_store import sandbox
from model_store.intake import add_model
from model_store.refusal import Refusal
from model_store.store import ModelStore, ReadOnlyStore, StoreError
from model_store.upload import MAX_CONFIG_BYTES, MAX_LAYERS, MAX_MEMBERS, UploadError, check_container, validate_upload
from tests.pages.tiny_data import model_file
from tests.unit.unit_data import meta_for

ROOT = Path(__file__).resolve().parents[3]
DIGITS = [str(i) for i in range(10)]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rezipped(data: bytes, change_config=None, extra: dict | None = None) -> bytes:
    """A .keras file with its config changed and members added, recompressed as a real one is."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            content = source.read(name)
            if name == "config.json" and change_config is not None:
                content = change_config(content)
            target.writestr(name, content)
        for name, content in (extra or {}).items():
            target.writestr(name, content)
    return out.getvalue()


@pytest.fixture
def good(tmp_path) -> bytes:
    return model_file(tmp_path / "good.keras")


@pytest.fixture
def store(tmp_path) -> ModelStore:
    return ModelStore(user_dir=tmp_path / "store", defaults_dir=tmp_path / "no-defaults")


# ---- the zip, read in the server without inflating ------------------------------------------------------
def test_a_padded_config_zip_bomb_is_refused_from_its_directory_alone(good):
    padded = rezipped(good, lambda c: c[:-1] + b" " * (64 * 2**20) + b"}")  # 64 MB of spaces: ~64 KB zipped
    assert len(padded) < 2**20
    before = rss_mb()
    start = time.perf_counter()
    with pytest.raises(UploadError) as refused:
        check_container(padded, "bomb.keras")
    assert refused.value.code in ("upload_zip_ratio", "upload_config_too_big")
    assert time.perf_counter() - start < 1.0
    assert rss_mb() - before < 50, "nothing was inflated"


def test_too_many_members_is_refused_before_zipfile_reads_them(good):
    crowded = rezipped(good, extra={f"junk/{i}": b"" for i in range(MAX_MEMBERS + 1)})
    with pytest.raises(UploadError) as refused:
        check_container(crowded, "crowded.keras")
    assert refused.value.code == "upload_zip_members"


def test_a_big_config_is_refused(good):
    big = rezipped(good, lambda c: json.dumps({**json.loads(c), "pad": "x" * (MAX_CONFIG_BYTES + 1)}).encode())
    with pytest.raises(UploadError) as refused:
        check_container(big, "big.keras")
    assert refused.value.code in ("upload_config_too_big", "upload_zip_ratio")


def test_too_many_layers_is_refused_before_keras_builds_them(good):
    def many(content: bytes) -> bytes:
        config = json.loads(content)
        layers = config["config"]["layers"]
        flatten = next(layer for layer in layers if layer["class_name"] == "Flatten")
        config["config"]["layers"] = layers + [json.loads(json.dumps(flatten)) for _ in range(MAX_LAYERS + 1)]
        return json.dumps(config).encode()

    start = time.perf_counter()
    with pytest.raises(UploadError) as refused:
        validate_upload(rezipped(good, many), "deep.keras", "mnist", DIGITS)
    assert refused.value.code == "upload_too_many_layers"
    assert time.perf_counter() - start < 5


# ---- layer names that Keras accepts and TensorFlow's tracing does not -----------------------------------
def test_a_layer_named_with_a_space_is_accepted_and_every_drawing_works(tmp_path, store):
    import keras

    from model_store.inference import Predictor

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, name="my conv"),
                              keras.layers.Flatten(name="flat"), keras.layers.Dense(10, name="my dense")])
    model.save(tmp_path / "spaces.keras")
    upload = validate_upload((tmp_path / "spaces.keras").read_bytes(), "spaces.keras", "mnist", DIGITS)
    assert [note.code for note in upload.notes] == ["note_softmax_added", "note_layers_renamed"]
    assert "'my conv' → 'my_conv'" in str(upload.notes[1])
    x = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    expected = np.asarray(keras.activations.softmax(model(x[None, ..., None])))[0]
    np.testing.assert_allclose(Predictor(upload.model)(x).probabilities, expected, atol=1e-5)

    # A model stored before this check (as a server without the test set did) is read safely too.
    store.save(model, meta_for(), "old upload")
    np.testing.assert_allclose(Predictor(store.load("old upload"))(x).probabilities, np.asarray(model(x[None, ..., None]))[0],
                               atol=1e-5)


# ---- the separate process -------------------------------------------------------------------------------
def test_a_good_upload_is_checked_scored_and_stored_through_the_sandbox(tmp_path, store, good):
    rng = np.random.default_rng(0)
    test = (rng.integers(0, 255, (50, 28, 28), dtype=np.uint8), rng.integers(0, 10, 50).astype(np.uint8))
    added = add_model(store, good, "good.keras", "mnist", DIGITS, "from colab", test=test)
    entry = store.get("from colab")
    assert added.entry.name == entry.name and entry.meta["source"] == "upload"
    assert 0 <= entry.test_accuracy <= 1 and len(entry.meta["confusion_matrix"]) == 10
    assert sorted(p.name for p in store.user_dir.iterdir() if not p.name.startswith(".")) == \
        ["from colab.json", "from colab.keras"], "the work folder is gone"
    assert store.load("from colab").count_params() > 0


def test_a_tiny_config_that_asks_for_gigabytes_is_refused_by_the_sandbox_not_the_server(tmp_path, store):
    import keras

    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(30, name="wide"),
                      keras.layers.Dense(10, activation="softmax")]).save(tmp_path / "wide.keras")

    def widen(content: bytes) -> bytes:  # 784 x 10^9 weights: 3 TB
        return content.replace(b'"units": 30', b'"units": 1000000000')

    data = rezipped((tmp_path / "wide.keras").read_bytes(), widen)
    before = rss_mb()
    with pytest.raises(UploadError) as refused:
        add_model(store, data, "wide.keras", "mnist", DIGITS, "wide")
    assert refused.value.code == "upload_out_of_memory"
    assert rss_mb() - before < 100, "the server process did not load it"
    assert [p.name for p in store.user_dir.iterdir() if not p.name.startswith(".")] == []


def test_a_check_that_runs_too_long_is_killed_and_refused(store, good):
    start = time.perf_counter()
    with pytest.raises(UploadError) as refused:
        add_model(store, good, "good.keras", "mnist", DIGITS, "slow", limits=sandbox.Limits(seconds=1))
    assert refused.value.code == "upload_timeout"
    assert time.perf_counter() - start < 10
    assert [p.name for p in store.user_dir.iterdir() if p.name.startswith(".tmp")] == []


def test_a_bad_or_taken_name_is_refused_before_the_file_is_opened(store, good, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the sandbox must not start")

    monkeypatch.setattr(sandbox, "open_untrusted", never)
    store.save(_tiny(), meta_for(), "taken")
    for name, code in (("taken", "name_taken"), ("a/b", "name_forbidden_chars"), ("x" * 500, "name_too_long")):
        with pytest.raises(Refusal) as refused:
            add_model(store, good, "good.keras", "mnist", DIGITS, name)
        assert refused.value.code == code


def _tiny():
    from tests.unit.unit_data import tiny_dense_model

    return tiny_dense_model()


def checks_running(work: Path) -> bool:
    """Whether a sandbox process works on ``work`` (its command line names it)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(work).encode() in cmdline.read_bytes():
                return True
        except OSError:
            pass
    return False


def test_sigkill_during_an_upload_leaves_nothing_once_the_store_reopens(tmp_path, good):
    """A server killed while its upload is being checked: the next store removes the work folder."""
    folder = tmp_path / "store"
    (tmp_path / "good.keras").write_bytes(good)
    script = (f"from model_store.store import ModelStore\nfrom model_store.intake import add_model\n"
              f"s = ModelStore(user_dir={str(folder)!r}, defaults_dir={str(tmp_path / 'none')!r})\n"
              f"add_model(s, open({str(tmp_path / 'good.keras')!r}, 'rb').read(), 'good.keras', 'mnist', "
              f"[str(i) for i in range(10)], 'killed')\n")
    server = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 60
    while not any((p / sandbox.REQUEST).exists() for p in folder.glob(".tmp-work-*")):
        assert time.monotonic() < deadline and server.poll() is None, "the upload never reached the sandbox"
        time.sleep(0.05)
    work = next(folder.glob(".tmp-work-*"))
    os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    assert work.exists(), "left behind, as a killed server leaves it"
    deadline = time.monotonic() + 30
    while checks_running(work):  # the sandbox dies with its server (PR_SET_PDEATHSIG): wait for its exit
        assert time.monotonic() < deadline, "the sandbox outlived the server that started it"
        time.sleep(0.05)
    reopened = ModelStore(user_dir=folder, defaults_dir=tmp_path / "none")
    assert list(folder.glob(".tmp-*")) == [] and [e.name for e in reopened.list()] == []


# ---- the store on disk ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("meta", "problem"), [
    ({"dataset": "mnist", "test_accuracy": "high"}, "test_accuracy must be a number between 0 and 1"),
    ({"dataset": "mnist", "created_at": 1700000000}, "created_at must be a date and time"),
    ({"dataset": "mnist", "calibration": {"temperature": -1}}, "calibration must be a table with a temperature above 0"),
    ({"dataset": "mnist", "class_names": ["a", "b", "c"], "layers": [
        {"name": "out", "type": "Dense", "output_shape": "(None, 10)", "params": 10}]}, "3 names for a model with 10"),
    ({"test_accuracy": 0.9}, "dataset is missing"),
    (["not", "an", "object"], "not a JSON object"),
])
def test_bad_metadata_makes_one_model_broken_and_the_listing_survives(store, meta, problem):
    store.save(_tiny(), meta_for(), "fine")
    store.save(_tiny(), meta_for(), "bad")
    (store.user_dir / "bad.json").write_text(json.dumps(meta))
    entries = {e.name: e for e in store.list()}
    assert entries["fine"].broken is None
    assert problem in entries["bad"].broken and entries["bad"].meta == {}
    assert [e.name for e in store.for_dataset("mnist")] == ["fine"]
    with pytest.raises(StoreError) as refused:
        store.rename("bad", "renamed")
    assert refused.value.code == "model_broken"
    assert json.loads((store.user_dir / "bad.json").read_text()) == meta, "what is left of it is not written over"
    store.delete("bad")
    assert [e.name for e in store.list()] == ["fine"]


def test_a_folder_named_like_metadata_is_listed_as_broken_and_delete_says_why(store):
    (store.user_dir / "x.json").mkdir()
    assert store.get("x").broken.startswith("not a model file")
    with pytest.raises(StoreError) as refused:
        store.delete("x")
    assert refused.value.code == "store_not_a_model"


def test_a_read_only_store_lists_and_loads_and_refuses_writes_with_the_reason(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders: the read-only store cannot be made here as root")
    folder = tmp_path / "store"
    ModelStore(user_dir=folder, defaults_dir=tmp_path / "none").save(_tiny(), meta_for(), "kept")
    folder.chmod(0o555)
    (folder / ".lock").chmod(0o444)
    try:
        store = ModelStore(user_dir=folder, defaults_dir=tmp_path / "none")
        assert store.read_only and [e.name for e in store.list()] == ["kept"]
        assert store.load("kept") is not None
        with pytest.raises(ReadOnlyStore):
            store.save(_tiny(), meta_for(), "new")
        with pytest.raises(ReadOnlyStore):
            store.delete("kept")
    finally:
        folder.chmod(0o755)


def test_a_store_that_cannot_open_its_lock_is_read_only(tmp_path, monkeypatch):
    """The same as a read-only folder, for root too: opening the lock file fails."""
    import builtins

    real_open = builtins.open

    def no_lock(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    folder = tmp_path / "store"
    ModelStore(user_dir=folder, defaults_dir=tmp_path / "none").save(_tiny(), meta_for(), "kept")
    monkeypatch.setattr(builtins, "open", no_lock)
    store = ModelStore(user_dir=folder, defaults_dir=tmp_path / "none")
    assert store.read_only and [e.name for e in store.list()] == ["kept"]
    with pytest.raises(ReadOnlyStore) as refused:
        store.rename("kept", "other")
    assert refused.value.code == "store_read_only" and str(folder) in str(refused.value)


def test_a_save_killed_before_its_metadata_is_undone_at_the_next_start(store, tmp_path):
    store.save(_tiny(), meta_for(), "whole")
    (store.user_dir / "half.keras").write_bytes(store.get("whole").path.read_bytes())
    (store.user_dir / ".saving.json").write_text(json.dumps({"name": "half"}))
    (store.user_dir / "copied by hand.keras").write_bytes(b"not ours")
    ModelStore(user_dir=store.user_dir, defaults_dir=store.defaults_dir)
    assert not (store.user_dir / "half.keras").exists() and not (store.user_dir / ".saving.json").exists()
    assert (store.user_dir / "copied by hand.keras").exists(), "a file the store did not write is left alone"
    assert (store.user_dir / "whole.keras").exists()


@pytest.mark.parametrize("killed_after", ["journal", "metadata", "model file"])
def test_a_rename_killed_at_any_step_is_finished_at_the_next_start(store, killed_after):
    store.save(_tiny(), meta_for(), "old")
    store.set_active("mnist", "old")
    user = store.user_dir
    (user / ".rename.json").write_text(json.dumps({"old": "old", "new": "new"}))
    if killed_after in ("metadata", "model file"):
        (user / "new.json").write_text(json.dumps({**json.loads((user / "old.json").read_text()), "name": "new"}))
    if killed_after == "model file":
        (user / "old.keras").rename(user / "new.keras")
    reopened = ModelStore(user_dir=user, defaults_dir=store.defaults_dir)
    assert [e.name for e in reopened.list()] == ["new"] and reopened.get("new").broken is None
    assert reopened.active("mnist") == "new" and not (user / ".rename.json").exists()


# ---- the command line ---------------------------------------------------------------------------------------
def add_cli(tmp_path, *args) -> tuple[int, dict]:
    env = {**os.environ, "CONVSCOPE_MODELS": str(tmp_path / "store"), "CONVSCOPE_DATA": str(tmp_path / "no-data"),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "model_store", "add", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout + done.stderr
    return done.returncode, json.loads(lines[0])


def test_model_store_add_stores_a_colab_model_and_refuses_a_bomb_with_a_json_reason(tmp_path, good):
    (tmp_path / "colab.h5").write_bytes(model_file(tmp_path / "colab.h5", input_shape=(784,)))
    code, record = add_cli(tmp_path, str(tmp_path / "colab.h5"), "--name", "from colab")
    assert code == 0 and record["name"] == "from colab" and record["dataset"] == "mnist", record
    assert record["test_accuracy"] is None, "no test set on this machine: stored unevaluated"
    assert ModelStore(user_dir=tmp_path / "store", defaults_dir=tmp_path / "none").get("from colab").broken is None

    bomb = tmp_path / "bomb.keras"
    bomb.write_bytes(rezipped(good, lambda c: c[:-1] + b" " * (64 * 2**20) + b"}"))
    code, record = add_cli(tmp_path, str(bomb))
    assert code == 1 and record["reason"] in ("upload_zip_ratio", "upload_config_too_big") and "error" in record

    code, record = add_cli(tmp_path, str(tmp_path / "colab.h5"), "--name", "From Colab")
    assert code == 1 and record["reason"] == "name_taken"
    code, record = add_cli(tmp_path, str(tmp_path / "missing.keras"))
    assert code == 1 and record["reason"] == "file_unreadable"


def test_a_refusal_crosses_a_process_pipe_with_its_code_and_values():
    import pickle

    from model_store.store import NameTaken

    again = pickle.loads(pickle.dumps(NameTaken("name_taken", name="x")))
    assert type(again) is NameTaken and again.code == "name_taken" and again.values == {"name": "x"}
    assert str(again) == str(NameTaken("name_taken", name="x"))
