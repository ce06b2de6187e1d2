"""model_store.class_data: class datasets on disk. Created, added to, listed, exported and imported back (IDX and
.npz); every rule refused with its code; many writers in threads and in processes lose no drawing; a drawing or a
whole dataset deleted while a training reads it; the rate limiter on a fake clock."""

from __future__ import annotations

import fcntl
import gzip
import io
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from model_store import class_data, class_files
from model_store.class_data import ClassDatasets, RateLimiter, TooFast
from model_store.refusal import REASONS, Refusal
from tests.unit.image_files import seven, square
from tests.unit.unit_data import idx_bytes, learnable_images

ROOT = Path(__file__).resolve().parents[3]
SHAPES = ["circle", "triangle", "square"]


@pytest.fixture
def datasets(tmp_path) -> ClassDatasets:
    return ClassDatasets(tmp_path / "store")


def bar(k: int) -> np.ndarray:
    """A 28x28 model input, different for every k."""
    image = np.zeros((28, 28), np.uint8)
    image[2 + k % 20: 6 + k % 20, 4:24] = 255
    image[20:24, k % 24] = 128
    return image


def refused(code: str, call, *args, **kwargs) -> Refusal:
    with pytest.raises(Refusal) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    assert code in REASONS
    return caught.value


def dot_picture() -> np.ndarray:
    img = Image.new("L", (280, 280), "white")
    ImageDraw.Draw(img).ellipse([126, 126, 140, 140], fill="black")
    return np.asarray(img)


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*") if p.name not in (".lock",))


# ---- create, add, list, read ---------------------------------------------------------------------------------
def test_create_add_list_and_read_back(datasets):
    info = datasets.create("shapes", SHAPES)
    assert (info.name, info.kind, info.classes, info.counts, info.source) == \
        ("shapes", "custom", tuple(SHAPES), (0, 0, 0), "drawn here")
    first = datasets.add("shapes", "circle", bar(0), pupil="session-a")
    datasets.add("shapes", 0, bar(1), misread_by="convscope-digits", read_as=3, pupil="session-b")
    datasets.add("shapes", "triangle", bar(2) / 255.0)  # floats in [0, 1], as preprocess makes them
    assert first.label == 0 and first.class_name == "circle" and first.id
    info = datasets.get("shapes")
    assert info.counts == (2, 1, 0) and info.total == 3
    assert [d.name for d in datasets.list()] == ["shapes"]

    drawings = datasets.drawings("shapes")
    assert [(d.label, d.class_name) for d in drawings] == [(0, "circle"), (0, "circle"), (1, "triangle")]
    assert drawings[0].id == first.id and drawings[0].pupil == "session-a" and drawings[0].misread_by is None
    assert (drawings[1].misread_by, drawings[1].read_as, drawings[1].pupil) == ("convscope-digits", 3, "session-b")
    assert drawings[0].added_at.endswith("+00:00") and not drawings[0].has_picture
    np.testing.assert_array_equal(drawings[2].image, bar(2))
    assert [d.id for d in datasets.drawings("shapes", label="triangle")] == [drawings[2].id]
    assert datasets.drawings("shapes", label=2) == []

    x, y = datasets.images("shapes")
    assert x.shape == (3, 28, 28) and x.dtype == np.uint8 and y.dtype == np.uint8
    assert y.tolist() == [0, 0, 1]
    np.testing.assert_array_equal(x, np.stack([bar(0), bar(1), bar(2)]))
    record = datasets.get("shapes").as_record()
    assert record["counts"] == [2, 1, 0] and json.loads(json.dumps(record)) == record


def test_on_disk_one_file_per_drawing_in_numbered_class_folders(datasets):
    datasets.create("글자 A", ["가", "나"])
    drawing = datasets.add("글자 A", "나", bar(3))
    folder = datasets.root / "글자 A"
    assert json.loads((folder / "meta.json").read_text(encoding="utf-8"))["classes"] == ["가", "나"]
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == \
        ["0", "1", f"1/{drawing.id}.npz", "meta.json"]
    assert hidden(datasets.root) == []  # no temp file or build folder left behind


def test_a_picture_is_prepared_like_a_drawing_and_kept(datasets):
    datasets.create("digits-here", kind="digits")
    canvas = np.zeros((600, 600, 4), np.uint8)  # strokes on a transparent canvas, as the Draw page sends them
    canvas[100:500, 280:330] = (255, 255, 255, 255)
    drawing = datasets.add("digits-here", "1", picture=canvas)
    assert drawing.has_picture and drawing.image.dtype == np.uint8 and drawing.image.any()
    assert drawing.image[:, :4].max() == 0  # cropped and centred, not squeezed
    png = datasets.picture("digits-here", drawing.id)
    with Image.open(io.BytesIO(png)) as kept:
        assert kept.mode == "LA" and max(kept.size) <= class_data.MAX_PICTURE_SIDE
    photo = datasets.add("digits-here", "7", picture=np.asarray(seven(300, 200)))  # black on white paper
    assert photo.image.any() and datasets.picture("digits-here", photo.id)
    given = datasets.add("digits-here", "7", bar(1), picture=np.asarray(seven()))  # the page's own model input
    np.testing.assert_array_equal(given.image, bar(1))
    assert datasets.picture("digits-here", datasets.add("digits-here", 2, bar(2)).id) is None


def test_html_and_korean_class_names_are_kept_as_text(datasets):
    refused("class_data_class_name", datasets.create, "odd", ["a", "<b>bold</b>"])  # as in model names: no < >
    classes = ["[link](x)", "&amp;", "세모", "A", "a", "  _em_ $x$  "]
    info = datasets.create("odd", classes)
    assert info.classes == ("[link](x)", "&amp;", "세모", "A", "a", "_em_ $x$")  # A and a are two letters
    assert datasets.add("odd", "&amp;", bar(0)).label == 1


# ---- kinds and the digits dataset ---------------------------------------------------------------------------
def test_digits_kind(datasets):
    assert datasets.create("d1", kind="digits").classes == class_data.DIGIT_CLASSES
    assert datasets.create("d2", [str(i) for i in range(10)]).kind == "digits"
    assert datasets.create("d3", [str(i) for i in range(10)], kind="custom").kind == "custom"
    refused("class_data_digit_classes", datasets.create, "d4", ["a", "b"], kind="digits")
    refused("class_data_digit_classes", datasets.rename_classes, "d1", list("abcdefghij"))
    refused("class_data_kind", datasets.create, "d5", ["a", "b"], kind="letters")


def test_ensure_digits_creates_once_and_refuses_a_custom_one(datasets):
    first = datasets.ensure_digits()
    assert first.name == class_data.DIGITS_NAME and first.kind == "digits"
    datasets.add(class_data.DIGITS_NAME, 5, bar(5), misread_by="m", read_as=3)
    assert datasets.ensure_digits().counts[5] == 1 and len(datasets.list()) == 1
    datasets.create("letters", ["a", "b"])
    refused("class_data_not_digits", datasets.ensure_digits, "letters")


# ---- rules --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("classes, code", [
    (["only"], "class_data_class_count"),
    ("ab", "class_data_class_count"),  # one string is one class, not two letters
    ([f"c{i}" for i in range(21)], "class_data_class_count"),
    (["a", ""], "class_data_class_name"),
    (["a", "b/c"], "class_data_class_name"),
    (["a", ".hidden"], "class_data_class_name"),
    (["a", "x" * 33], "class_data_class_name"),
    (["a", "tab\there"], "class_data_class_name"),
    (["a", 7], "class_data_class_name"),
    (["same", "same"], "class_data_class_twice"),
])
def test_class_rules(datasets, classes, code):
    error = refused(code, datasets.create, "bad", classes)
    assert str(error)  # the English sentence formats with its values
    assert datasets.list() == []


def test_dataset_names_are_checked_like_model_names(datasets):
    refused("name_leading_dot", datasets.create, ".hidden", SHAPES)
    refused("name_forbidden_chars", datasets.create, "a/../b", SHAPES)
    refused("name_empty", datasets.create, "  ", SHAPES)
    datasets.create("Shapes", SHAPES)
    refused("class_data_name_taken", datasets.create, "shapes", ["a", "b"])  # case only: the same name
    refused("class_data_not_found", datasets.get, "shapes")
    refused("class_data_not_found", datasets.add, "nothing", 0, bar(0))


def test_drawing_rules(datasets):
    datasets.create("shapes", SHAPES)
    refused("image_empty", datasets.add, "shapes", 0, np.zeros((28, 28), np.uint8))
    refused("image_empty", datasets.add, "shapes", 0, np.zeros((28, 28), np.float32))
    refused("class_data_image", datasets.add, "shapes", 0, np.ones((28, 27), np.uint8))
    refused("class_data_image", datasets.add, "shapes", 0, np.full((28, 28), 2.0))
    refused("class_data_image", datasets.add, "shapes", 0, np.full((28, 28), np.nan))
    refused("class_data_image", datasets.add, "shapes", 0, np.full((28, 28), "x"))
    refused("image_empty", datasets.add, "shapes", 0, picture=np.full((280, 280), 255, np.uint8))
    refused("image_dot", datasets.add, "shapes", 0, picture=dot_picture())
    refused("image_filled", datasets.add, "shapes", 0, picture=np.asarray(square()))
    refused("class_data_picture", datasets.add, "shapes", 0, picture=np.zeros((5000, 10), np.uint8))
    refused("class_data_picture", datasets.add, "shapes", 0, picture=np.zeros((10, 10, 2), np.uint8))
    refused("class_data_label", datasets.add, "shapes", "hexagon", bar(0))
    refused("class_data_label", datasets.add, "shapes", 3, bar(0))
    refused("class_data_label", datasets.add, "shapes", -1, bar(0))
    refused("class_data_label", datasets.add, "shapes", True, bar(0))
    assert datasets.add("shapes", np.int64(2), np.full((28, 28), 200, np.int64)).label == 2  # grey levels as ints
    assert datasets.get("shapes").counts == (0, 0, 1)


def test_a_full_dataset_and_too_many_datasets_are_refused(datasets, monkeypatch):
    monkeypatch.setattr(class_data, "MAX_DRAWINGS", 3)
    monkeypatch.setattr(class_data, "MAX_DATASETS", 2)
    datasets.create("a", SHAPES)
    for k in range(3):
        datasets.add("a", k, bar(k))
    error = refused("class_data_full", datasets.add, "a", 0, bar(9))
    assert error.values["count"] == 3 and error.values["limit"] == 3
    datasets.delete_drawing("a", datasets.drawings("a")[0].id)
    datasets.add("a", 0, bar(9))  # room again
    datasets.create("b", SHAPES)
    refused("class_data_too_many", datasets.create, "c", SHAPES)


def test_too_few_names_the_classes_short_of_the_minimum(datasets):
    datasets.create("shapes", SHAPES)
    for k in range(3):
        datasets.add("shapes", "circle", bar(k))
    datasets.add("shapes", "square", bar(5))
    assert datasets.too_few("shapes", minimum=3) == [("triangle", 0), ("square", 1)]
    assert datasets.too_few("shapes") == [("circle", 3), ("triangle", 0), ("square", 1)]
    error = refused("class_data_too_few", datasets.require_ready, "shapes", 3)
    assert "triangle (0), square (1)" in str(error)
    assert datasets.require_ready("shapes", minimum=0).total == 4


# ---- deleting and renaming -------------------------------------------------------------------------------
def test_delete_a_drawing_and_a_dataset(datasets):
    datasets.create("shapes", SHAPES)
    keep, drop = datasets.add("shapes", 0, bar(0)), datasets.add("shapes", 1, bar(1))
    datasets.delete_drawing("shapes", drop.id)
    assert [d.id for d in datasets.drawings("shapes")] == [keep.id]
    refused("class_data_drawing_not_found", datasets.delete_drawing, "shapes", drop.id)
    refused("class_data_drawing_not_found", datasets.delete_drawing, "shapes", "../meta")
    refused("class_data_drawing_not_found", datasets.delete_drawing, "shapes", keep.id + "\n")
    refused("class_data_drawing_not_found", datasets.picture, "shapes", drop.id)
    datasets.delete("shapes")
    assert datasets.list() == [] and sorted(p.name for p in datasets.root.iterdir()) == [".lock"]
    refused("class_data_not_found", datasets.get, "shapes")
    refused("class_data_not_found", datasets.delete, "shapes")
    datasets.create("shapes", ["new", "classes"])  # the name is free again
    assert datasets.get("shapes").counts == (0, 0)


def test_rename_classes_keeps_the_drawings(datasets):
    datasets.create("shapes", SHAPES)
    datasets.add("shapes", "triangle", bar(1))
    info = datasets.rename_classes("shapes", ["원", "세모", "네모"])
    assert info.classes == ("원", "세모", "네모") and info.counts == (0, 1, 0)
    assert datasets.drawings("shapes")[0].class_name == "세모"
    refused("class_data_class_count_fixed", datasets.rename_classes, "shapes", ["a", "b"])
    refused("class_data_class_twice", datasets.rename_classes, "shapes", ["a", "b", "a"])


def test_a_broken_meta_file_is_listed_as_broken_and_can_be_deleted(datasets):
    datasets.create("shapes", SHAPES)
    datasets.create("fine", ["a", "b"])
    (datasets.root / "shapes" / "meta.json").write_text('{"kind": "custom", "classes": ["only one"]}')
    listed = {d.name: d for d in datasets.list()}
    assert listed["shapes"].broken and listed["fine"].broken is None
    assert "broken" in listed["shapes"].as_record()
    refused("class_data_broken", datasets.get, "shapes")
    (datasets.root / "fine" / "meta.json").write_text("{not json")
    refused("class_data_broken", datasets.add, "fine", 0, bar(0))
    datasets.delete("shapes")
    assert [d.name for d in datasets.list()] == ["fine"]


def test_a_store_folder_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    datasets = ClassDatasets(blocker / "store")
    assert datasets.list() == []
    refused("class_data_cannot_write", datasets.create, "shapes", SHAPES)


def test_what_killed_writers_left_is_swept_and_what_live_ones_hold_is_not(datasets):
    datasets.create("shapes", SHAPES)
    datasets.add("shapes", 0, bar(0))
    abandoned = datasets.root / ".tmp-build-dead"
    (abandoned / "0").mkdir(parents=True)
    (abandoned / ".owner").write_text("")
    no_owner = datasets.root / ".tmp-build-never-owned"
    no_owner.mkdir()
    alive = datasets.root / ".tmp-build-alive"
    alive.mkdir()
    owner = open(alive / ".owner", "w")
    fcntl.flock(owner, fcntl.LOCK_EX)
    half_deleted = datasets.root / ".deleted-old"
    (half_deleted / "0").mkdir(parents=True)
    class_folder = datasets.root / "shapes" / "0"
    old_temp, new_temp = class_folder / ".tmp-old", class_folder / ".tmp-new"
    old_temp.write_bytes(b"half a drawing")
    new_temp.write_bytes(b"being written now")
    an_hour_ago = time.time() - class_data.STALE_SECONDS - 10
    os.utime(old_temp, (an_hour_ago, an_hour_ago))
    try:
        assert datasets.get("shapes").counts == (1, 0, 0)  # temp files are never counted
        datasets.create("next", ["a", "b"])
        assert not abandoned.exists() and not no_owner.exists() and not half_deleted.exists()
        assert alive.is_dir() and new_temp.is_file() and not old_temp.exists()
    finally:
        owner.close()


# ---- readers while others write -----------------------------------------------------------------------------
def test_a_drawing_deleted_while_images_reads_is_skipped(datasets, monkeypatch):
    datasets.create("shapes", SHAPES)
    added = [datasets.add("shapes", k % 3, bar(k)) for k in range(6)]
    listing = datasets._listing

    def listed_then_two_deleted(folder, indices):
        found = listing(folder, indices)
        datasets.delete_drawing("shapes", added[0].id)
        datasets.delete_drawing("shapes", added[4].id)
        return found

    monkeypatch.setattr(datasets, "_listing", listed_then_two_deleted)
    x, y = datasets.images("shapes")
    assert len(x) == len(y) == 4
    kept = [a for i, a in enumerate(added) if i not in (0, 4)]
    assert sorted(y.tolist()) == sorted(a.label for a in kept)
    assert {bytes(image) for image in x} == {bytes(a.image) for a in kept}


def test_a_dataset_deleted_while_images_reads_gives_what_was_read(datasets, monkeypatch):
    datasets.create("shapes", SHAPES)
    for k in range(4):
        datasets.add("shapes", k % 3, bar(k))
    listing = datasets._listing

    def listed_then_deleted(folder, indices):
        found = listing(folder, indices)
        datasets.delete("shapes")
        return found

    monkeypatch.setattr(datasets, "_listing", listed_then_deleted)
    x, y = datasets.images("shapes")
    assert x.shape == (0, 28, 28) and y.shape == (0,)
    assert datasets.list() == []


def test_a_damaged_drawing_file_is_skipped(datasets):
    datasets.create("shapes", SHAPES)
    good = datasets.add("shapes", 0, bar(0))
    (datasets.root / "shapes" / "1" / "0000000000000000001-deadbeef.npz").write_bytes(b"PK\x03\x04 not a zip")
    (datasets.root / "shapes" / "1" / "notes.txt").write_text("not a drawing")
    assert [d.id for d in datasets.drawings("shapes")] == [good.id]
    assert datasets.get("shapes").counts == (1, 1, 0)  # counted by name; skipped when read


def test_threads_adding_at_once_lose_no_drawing(datasets):
    datasets.create("shapes", SHAPES)
    barrier = threading.Barrier(4)
    ids: list[str] = []
    errors: list[Exception] = []

    def pupil(who: int) -> None:
        mine = ClassDatasets(datasets.store_dir)  # one per session, as the pages would
        barrier.wait()
        try:
            for k in range(25):
                ids.append(mine.add("shapes", k % 3, bar(k), pupil=f"p{who}").id)
        except Exception as exc:  # noqa: BLE001 - the test inspects what came out
            errors.append(exc)

    threads = [threading.Thread(target=pupil, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and not any(t.is_alive() for t in threads)
    assert len(set(ids)) == 100
    assert {d.id for d in datasets.drawings("shapes")} == set(ids)
    assert datasets.get("shapes").total == 100


CHILD = """
import json, sys
import numpy as np
from model_store.class_data import ClassDatasets, ClassDataError
store, who, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
datasets = ClassDatasets(store)
print("ready", flush=True)
assert sys.stdin.readline().strip() == "go"
try:
    datasets.create("raced", ["a", "b"])
    created = True
except ClassDataError as exc:
    created = exc.code
datasets.create("own-" + who, ["a", "b"])
ids = []
for k in range(count):
    image = np.zeros((28, 28), np.uint8)
    image[4:24, 4 + k % 20] = 255
    ids.append(datasets.add("shared", k % 3, image, pupil=who).id)
print(json.dumps({"ids": ids, "created": created}), flush=True)
"""


def test_two_processes_adding_and_creating_at_once_lose_nothing(datasets):
    datasets.create("shared", SHAPES)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(datasets.store_dir), who, "30"], cwd=ROOT, env=env,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for who in ("p1", "p2")]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready"
        for child in children:  # both are waiting: let them go together
            child.stdin.write("go\n")
            child.stdin.flush()
        results = []
        for child in children:
            out, _ = child.communicate(timeout=120)
            assert child.returncode == 0
            results.append(json.loads(out))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(10)
    ids = results[0]["ids"] + results[1]["ids"]
    assert len(set(ids)) == 60
    assert {d.id for d in datasets.drawings("shared")} == set(ids)
    assert sorted(str(r["created"]) for r in results) == ["True", "class_data_name_taken"]  # one wins the race
    assert sorted(d.name for d in datasets.list()) == ["own-p1", "own-p2", "raced", "shared"]
    assert hidden(datasets.root) == []


# ---- export and import ----------------------------------------------------------------------------------------
@pytest.fixture
def filled(datasets) -> ClassDatasets:
    datasets.create("shapes", SHAPES)
    for k in range(7):
        datasets.add("shapes", k % 3, bar(k))
    return datasets


def test_export_writes_mnist_idx_that_training_reads_and_an_npz(filled, tmp_path):
    from training.datasets import read_idx

    paths = filled.export("shapes", tmp_path / "out")
    assert sorted(p.name for p in paths) == ["shapes-classes.json", "shapes-images-idx3-ubyte.gz",
                                             "shapes-labels-idx1-ubyte.gz", "shapes.npz"]
    x, y = filled.images("shapes")
    np.testing.assert_array_equal(read_idx(tmp_path / "out" / "shapes-images-idx3-ubyte.gz", 3), x)
    np.testing.assert_array_equal(read_idx(tmp_path / "out" / "shapes-labels-idx1-ubyte.gz", 1), y)
    with np.load(tmp_path / "out" / "shapes.npz", allow_pickle=False) as data:
        assert data["classes"].tolist() == SHAPES and str(data["kind"]) == "custom"
        np.testing.assert_array_equal(data["images"], x)


@pytest.mark.parametrize("file_name", ["shapes.npz", "shapes-images-idx3-ubyte.gz", "shapes-labels-idx1-ubyte.gz"])
def test_import_round_trip(filled, tmp_path, file_name):
    filled.export("shapes", tmp_path / "out")
    refused("class_data_name_taken", filled.import_file, tmp_path / "out" / file_name)  # named after the file
    info = filled.import_file(tmp_path / "out" / file_name, name="copy")
    assert (info.kind, info.classes, info.counts) == ("custom", tuple(SHAPES), (3, 2, 2))
    assert info.source == f"imported from {file_name}"
    for got, want in zip(filled.images("copy"), filled.images("shapes")):
        np.testing.assert_array_equal(got, want)
    assert hidden(filled.root) == []


def test_import_mnist_idx_files_as_digits(datasets, tmp_path):
    images, labels = learnable_images(50, seed=3)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    info = datasets.import_file(tmp_path / "t10k-images-idx3-ubyte")  # the labels compressed, the images not
    assert info.name == "t10k" and info.kind == "digits" and info.total == 50
    assert list(info.counts) == np.bincount(labels, minlength=10).tolist()


def test_import_numbered_classes_without_names(datasets, tmp_path):
    labels = np.array([0, 12, 5, 12], np.uint8)
    (tmp_path / "x-images-idx3-ubyte").write_bytes(idx_bytes(np.stack([bar(k) for k in range(4)])))
    (tmp_path / "x-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    info = datasets.import_file(tmp_path / "x-labels-idx1-ubyte")
    assert info.kind == "custom" and info.classes == tuple(str(i) for i in range(13)) and info.counts[12] == 2


def write_pair(folder: Path, images: bytes, labels: bytes, classes: dict | str | None = None) -> Path:
    (folder / "set-images-idx3-ubyte").write_bytes(images)
    (folder / "set-labels-idx1-ubyte").write_bytes(labels)
    if classes is not None:
        text = classes if isinstance(classes, str) else json.dumps(classes)
        (folder / "set-classes.json").write_text(text)
    return folder / "set-images-idx3-ubyte"


def test_import_refusals_idx(datasets, tmp_path, monkeypatch):
    good_images, good_labels = np.stack([bar(k) for k in range(4)]), np.array([0, 1, 2, 1], np.uint8)
    images, labels = idx_bytes(good_images), idx_bytes(good_labels)
    three = {"classes": SHAPES, "kind": "custom"}
    cases = [
        ("data_wrong_magic", idx_bytes(good_images, dtype_code=0x09), labels, None),
        ("data_wrong_magic", idx_bytes(good_images, zero=1), labels, None),
        ("data_too_short", b"\x00\x00", labels, None),
        ("data_truncated_header", images[:8], labels, None),
        ("data_wrong_size", images[:-1], labels, None),
        ("data_wrong_size", images + b"\x00", labels, None),
        ("data_wrong_dimensions", labels, labels, None),
        ("data_image_shape", idx_bytes(np.zeros((2, 27, 28), np.uint8)), labels, None),
        ("data_label_count", images, idx_bytes(good_labels[:3]), None),
        ("class_data_import_label_range", images, idx_bytes(np.array([0, 1, 3, 1], np.uint8)), three),
        ("class_data_import_classes", images, labels, "{not json"),
        ("class_data_import_classes", images, labels, {"classes": "abc"}),
        ("class_data_class_count", images, labels, {"classes": ["one"]}),
        ("class_data_class_count", images, idx_bytes(np.array([0, 1, 25, 1], np.uint8)), None),
        ("class_data_class_name", images, labels, {"classes": ["a", "b/c", "d"]}),
    ]
    for number, (code, image_bytes, label_bytes, classes) in enumerate(cases):
        folder = tmp_path / str(number)
        folder.mkdir()
        refused(code, datasets.import_file, write_pair(folder, image_bytes, label_bytes, classes))
    gz = tmp_path / "gz"
    gz.mkdir()
    (gz / "set-images-idx3-ubyte.gz").write_bytes(gzip.compress(images)[:-9])  # a truncated download
    (gz / "set-labels-idx1-ubyte").write_bytes(labels)
    refused("data_unreadable", datasets.import_file, gz / "set-images-idx3-ubyte.gz")
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "set-images-idx3-ubyte").write_bytes(images)
    refused("class_data_import_partner_missing", datasets.import_file, alone / "set-images-idx3-ubyte")
    monkeypatch.setattr(class_data, "MAX_DRAWINGS", 3)
    refused("class_data_import_too_big", datasets.import_file, write_pair(tmp_path / "0", images, labels))
    assert datasets.list() == [] and hidden(datasets.root) == []


def test_import_refusals_npz_and_other_files(datasets, tmp_path, monkeypatch):
    x, y = np.stack([bar(k) for k in range(4)]), np.array([0, 1, 2, 1])

    def npz(name: str, **arrays) -> Path:
        np.savez(tmp_path / name, **arrays)
        return tmp_path / name

    refused("class_data_import_npz", datasets.import_file, npz("a.npz", images=x))
    refused("class_data_import_npz", datasets.import_file, npz("b.npz", images=x, labels=np.array([{}] * 4)))
    refused("class_data_import_npz", datasets.import_file, npz("c.npz", images=x.astype(np.float32), labels=y))
    refused("class_data_import_npz", datasets.import_file, npz("d.npz", images=x, labels=y.astype(float)))
    refused("class_data_import_npz", datasets.import_file, npz("e.npz", images=x, labels=y, classes=np.array([1, 2])))
    refused("class_data_import_npz", datasets.import_file,
            npz("f.npz", images=x, labels=y, a=y, b=y, c=y, d=y))
    refused("data_image_shape", datasets.import_file, npz("g.npz", images=x[:, :27], labels=y))
    refused("data_label_count", datasets.import_file, npz("h.npz", images=x, labels=y[:3]))
    refused("class_data_import_label_range", datasets.import_file,
            npz("i.npz", images=x, labels=np.array([0, -1, 2, 1]), classes=np.array(SHAPES)))
    refused("class_data_import_label_range", datasets.import_file,
            npz("j.npz", images=x, labels=y, classes=np.array(["a", "b"])))
    refused("class_data_kind", datasets.import_file,
            npz("k.npz", images=x, labels=y, classes=np.array(SHAPES), kind=np.array("letters")))
    (tmp_path / "l.npz").write_bytes(b"not a zip at all")
    refused("class_data_import_npz", datasets.import_file, tmp_path / "l.npz")
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as bomb:  # 40 MB of zeros, a few KB packed
        bomb.writestr("images.npy", bytes(40 * 2**20))
        bomb.writestr("labels.npy", b"")
    refused("class_data_import_too_big", datasets.import_file, tmp_path / "bomb.npz")
    (tmp_path / "notes.txt").write_text("hello")
    refused("class_data_import_format", datasets.import_file, tmp_path / "notes.txt")
    refused("file_unreadable", datasets.import_file, tmp_path / "missing.npz")
    refused("file_unreadable", datasets.import_file, tmp_path)
    monkeypatch.setattr(class_files, "MAX_FILE_BYTES", 100)
    refused("upload_too_big", datasets.import_file, npz("m.npz", images=x, labels=y))
    assert datasets.list() == []


def test_an_empty_dataset_exports_and_imports(datasets, tmp_path):
    datasets.create("empty", ["a", "b"])
    datasets.export("empty", tmp_path)
    info = datasets.import_file(tmp_path / "empty-images-idx3-ubyte.gz", name="empty again")
    assert info.classes == ("a", "b") and info.counts == (0, 0)


def test_export_into_a_folder_that_cannot_be_written(filled, tmp_path):
    (tmp_path / "file").write_text("")
    refused("class_data_cannot_write", filled.export, "shapes", tmp_path / "file" / "out")


# ---- rate ---------------------------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_one_drawing_per_interval():
    clock = FakeClock()
    limiter = RateLimiter(min_interval=0.7, per_minute=60, clock=clock)
    limiter.admit("a")
    clock.now += 0.3
    with pytest.raises(TooFast) as caught:
        limiter.admit("a")
    assert caught.value.code == "class_data_too_fast" and caught.value.seconds == 0.4
    assert limiter.wait_seconds("a") == pytest.approx(0.4)
    limiter.admit("b")  # another pupil is not slowed by the first
    clock.now += 0.4
    assert limiter.wait_seconds("a") == 0.0
    limiter.admit("a")  # the refused try did not count


def test_rate_limiter_at_most_per_minute():
    clock = FakeClock()
    start = clock.now
    limiter = RateLimiter(min_interval=0.7, per_minute=60, clock=clock)
    for k in range(60):
        clock.now = start + k * 0.7
        limiter.admit("a")
    clock.now = start + 60 * 0.7
    with pytest.raises(TooFast) as caught:
        limiter.admit("a")
    assert caught.value.seconds == pytest.approx(60 - 60 * 0.7)
    clock.now = start + 60.0
    limiter.admit("a")  # the first of the minute has left the window


def test_rate_limiter_admits_one_of_many_threads_at_the_same_instant():
    limiter = RateLimiter(clock=FakeClock())
    barrier = threading.Barrier(8)
    admitted, slowed = [], []

    def press():
        barrier.wait()
        try:
            limiter.admit("a")
            admitted.append(1)
        except TooFast:
            slowed.append(1)

    threads = [threading.Thread(target=press) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(admitted) == 1 and len(slowed) == 7


def test_rate_limiter_forgets_idle_pupils(monkeypatch):
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    monkeypatch.setattr(RateLimiter, "PRUNE_AT", 5)
    for k in range(6):
        limiter.admit(f"p{k}")
    clock.now += 61
    limiter.admit("late")
    assert len(limiter) == 1 and limiter.wait_seconds("p0") == 0.0


# ---- the package's rules ------------------------------------------------------------------------------------------
def test_every_refusal_code_raised_is_in_the_catalogue():
    import re

    used = set()
    for module in (class_data, class_files):
        used |= set(re.findall(r'(?:Refusal|ClassDataError|TooFast)\(\s*"(\w+)"', Path(module.__file__).read_text()))
    assert len(used) > 20 and sorted(used - set(REASONS)) == []


def test_class_data_needs_neither_streamlit_nor_tensorflow():
    code = ("import sys; import model_store.class_data; "
            "print(sorted(m for m in ('streamlit', 'tensorflow', 'keras', 'training') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
