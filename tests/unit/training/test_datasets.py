"""training.datasets: IDX reading and validation, the order of sources, and errors that name the file."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from training import datasets
from training.datasets import DatasetError


# ---- read_idx ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("compress", [True, False], ids=["gz", "plain"])
def test_read_idx_round_trip(tmp_path, idx, compress):
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = np.arange(7, dtype=np.uint8)
    image_path = idx.write(tmp_path / "imgs-idx3-ubyte", images, compress)
    label_path = idx.write(tmp_path / "labels-idx1-ubyte", labels, compress)
    assert image_path.name.endswith(".gz") == compress
    read_images = datasets.read_idx(image_path, 3)
    read_labels = datasets.read_idx(label_path, 1)
    assert read_images.dtype == np.uint8 and read_images.shape == (7, 28, 28)
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_labels, labels)


def test_read_idx_accepts_str_path(tmp_path, idx):
    path = idx.write(tmp_path / "x-idx1-ubyte", np.array([1, 2, 3], np.uint8), compress=False)
    np.testing.assert_array_equal(datasets.read_idx(str(path), 1), [1, 2, 3])


def test_truncated_gzip_is_reported_by_name(tmp_path, idx):
    good = idx.write(tmp_path / "good-idx3-ubyte", np.zeros((50, 28, 28), np.uint8))
    raw = good.read_bytes()
    bad = tmp_path / "cut-idx3-ubyte.gz"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError, match="cut-idx3-ubyte.gz: cannot read"):
        datasets.read_idx(bad, 3)


def test_gz_suffix_on_a_file_that_is_not_gzip(tmp_path, idx):
    path = tmp_path / "plain-idx1-ubyte.gz"
    path.write_bytes(idx.bytes(np.zeros(3, np.uint8)))
    with pytest.raises(DatasetError, match="plain-idx1-ubyte.gz: cannot read"):
        datasets.read_idx(path, 1)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="nothing-here: cannot read"):
        datasets.read_idx(tmp_path / "nothing-here", 1)


@pytest.mark.parametrize("kwargs", [{"dtype_code": 0x09}, {"dtype_code": 0x0D}, {"zero": 1}, {"zero": 0x0100}],
                         ids=["int8-type", "float-type", "nonzero-low", "nonzero-high"])
def test_wrong_magic_number(tmp_path, idx, kwargs):
    path = tmp_path / "magic-idx1-ubyte"
    path.write_bytes(idx.bytes(np.zeros(4, np.uint8), **kwargs))
    with pytest.raises(DatasetError, match="magic-idx1-ubyte: wrong magic number"):
        datasets.read_idx(path, 1)


def test_wrong_number_of_dimensions(tmp_path, idx):
    path = idx.write(tmp_path / "labels-idx1-ubyte", np.zeros(4, np.uint8), compress=False)
    with pytest.raises(DatasetError, match="has 1 dimensions, expected 3"):
        datasets.read_idx(path, 3)


@pytest.mark.parametrize("raw", [b"", b"\x00\x00\x08"], ids=["empty", "three-bytes"])
def test_too_short(tmp_path, raw):
    path = tmp_path / "short"
    path.write_bytes(raw)
    with pytest.raises(DatasetError, match="too short"):
        datasets.read_idx(path, 1)


def test_truncated_header(tmp_path, idx):
    path = tmp_path / "header"
    path.write_bytes(idx.bytes(np.zeros((2, 28, 28), np.uint8))[:9])  # 4 magic bytes + 5 of the 12 size bytes
    with pytest.raises(DatasetError, match="truncated header"):
        datasets.read_idx(path, 3)


@pytest.mark.parametrize("change", [-1, +1, -28 * 28], ids=["one-byte-short", "one-byte-extra", "one-image-short"])
def test_data_length_must_match_header(tmp_path, idx, change):
    raw = idx.bytes(np.zeros((3, 28, 28), np.uint8))
    raw = raw[:change] if change < 0 else raw + b"\x00" * change
    path = tmp_path / "len-idx3-ubyte.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(raw)
    with pytest.raises(DatasetError, match=r"len-idx3-ubyte.gz: header says \(3, 28, 28\) \(2352 bytes\)"):
        datasets.read_idx(path, 3)


# ---- check_split ---------------------------------------------------------------------------------------
def test_check_split_accepts_and_converts():
    split = datasets.check_split(np.zeros((2, 28, 28), np.int64), np.array([3, 9]), "here")
    assert split.images.dtype == np.uint8 and split.labels.dtype == np.uint8
    assert split.images.flags.c_contiguous
    np.testing.assert_array_equal(split.labels, [3, 9])


@pytest.mark.parametrize(("images", "labels", "message"), [
    (np.zeros((3, 28, 28)), np.zeros(2), "2 labels for 3 images"),
    (np.zeros((2, 28, 28)), np.zeros(3), "3 labels for 2 images"),
    (np.zeros((2, 28, 28)), np.zeros((2, 1)), "labels for 2 images"),
    (np.zeros((2, 28, 28)), np.array([0, 10]), "label 10 is outside 0..9"),
    (np.zeros((2, 28, 27)), np.zeros(2), r"shape \(2, 28, 27\), expected \(n, 28, 28\)"),
    (np.zeros((2, 784)), np.zeros(2), "expected"),
])
def test_check_split_rejects(images, labels, message):
    with pytest.raises(DatasetError, match=f"where: .*{message}"):
        datasets.check_split(images, labels, "where")


# ---- load_idx_folder -------------------------------------------------------------------------------
@pytest.mark.parametrize("compress", [True, False], ids=["gz", "plain"])
def test_load_idx_folder(tmp_path, idx, compress):
    folder = idx.dataset(tmp_path / "mnist", n_train=30, n_test=12, compress=compress)
    splits = datasets.load_idx_folder(folder)
    assert set(splits) == {"train", "test"}
    assert splits["train"].images.shape == (30, 28, 28) and splits["test"].labels.shape == (12,)
    images, labels = idx.images(12, seed=1)
    np.testing.assert_array_equal(splits["test"].images, images)
    np.testing.assert_array_equal(splits["test"].labels, labels)


def test_load_idx_folder_prefers_the_plain_file_but_takes_a_mix(tmp_path, idx):
    folder = tmp_path / "mixed"
    images, labels = idx.images(5)
    idx.write(folder / "t10k-images-idx3-ubyte", images, compress=True)
    idx.write(folder / "t10k-labels-idx1-ubyte", labels, compress=False)
    split = datasets.load_idx_folder(folder, splits=("test",))["test"]
    np.testing.assert_array_equal(split.labels, labels)


def test_label_count_must_match_image_count(tmp_path, idx):
    folder = tmp_path / "mnist"
    idx.write(folder / "t10k-images-idx3-ubyte", np.zeros((5, 28, 28), np.uint8))
    idx.write(folder / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz: 4 labels for 5 images"):
        datasets.load_idx_folder(folder, splits=("test",))


def test_label_out_of_range(tmp_path, idx):
    folder = tmp_path / "mnist"
    idx.write(folder / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    idx.write(folder / "t10k-labels-idx1-ubyte", np.array([1, 2, 12], np.uint8))
    with pytest.raises(DatasetError, match="label 12 is outside 0..9"):
        datasets.load_idx_folder(folder, splits=("test",))


def test_images_and_labels_swapped(tmp_path, idx):
    folder = tmp_path / "mnist"
    idx.write(folder / "t10k-images-idx3-ubyte", np.zeros(3, np.uint8))
    idx.write(folder / "t10k-labels-idx1-ubyte", np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz: has 1 dimensions, expected 3"):
        datasets.load_idx_folder(folder, splits=("test",))


def test_missing_labels_file(tmp_path, idx):
    folder = tmp_path / "mnist"
    idx.write(folder / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(DatasetError, match="no t10k-images-idx3-ubyte"):
        datasets.load_idx_folder(folder, splits=("test",))


# ---- load_npz --------------------------------------------------------------------------------------------
def _write_npz(path, n_train=6, n_test=4, **override):
    arrays = {
        "x_train": np.full((n_train, 28, 28), 7, np.uint8), "y_train": np.arange(n_train) % 10,
        "x_test": np.full((n_test, 28, 28), 9, np.uint8), "y_test": np.arange(n_test) % 10,
    }
    arrays.update(override)
    np.savez(path, **arrays)
    return path


def test_load_npz(tmp_path):
    splits = datasets.load_npz(_write_npz(tmp_path / "mnist.npz"))
    assert splits["train"].images.shape == (6, 28, 28) and splits["test"].images.shape == (4, 28, 28)
    assert splits["train"].labels.dtype == np.uint8
    assert int(splits["test"].images[0, 0, 0]) == 9


def test_load_npz_missing_key(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(DatasetError, match="not a valid mnist.npz"):
        datasets.load_npz(path)


def test_load_npz_never_unpickles(tmp_path):
    path = _write_npz(tmp_path / "mnist.npz", y_test=np.array([{"evil": 1}] * 4, dtype=object))
    with pytest.raises(DatasetError, match="mnist.npz"):
        datasets.load_npz(path)


def test_load_npz_not_a_zip(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"this is not numpy at all")
    with pytest.raises(DatasetError, match="not a valid mnist.npz"):
        datasets.load_npz(path)


def test_load_npz_truncated(tmp_path):
    path = _write_npz(tmp_path / "mnist.npz")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError, match="mnist.npz"):
        datasets.load_npz(path)


def test_load_npz_negative_label(tmp_path):
    path = _write_npz(tmp_path / "mnist.npz", y_test=np.array([0, -1, 2, 3]))
    with pytest.raises(DatasetError, match="outside 0..9"):
        datasets.load_npz(path)


# ---- load: sources in order ---------------------------------------------------------------------------
def test_load_from_data_dir(data_root, no_data_env):
    data = datasets.load("mnist", data_root, allow_download=False)
    assert data.name == "mnist" and data.source == str(data_root / "mnist")
    assert data.train.images.shape == (240, 28, 28) and data.test.images.shape == (60, 28, 28)


def test_load_plain_fashion(data_root, no_data_env):
    data = datasets.load("fashion-mnist", str(data_root), allow_download=False)
    assert data.source == str(data_root / "fashion-mnist")
    assert len(data.train.labels) == 120 and len(data.test.labels) == 30


def test_load_from_environment_variable(data_root, no_data_env):
    no_data_env.setenv(datasets.DATA_ENV, str(data_root))
    data = datasets.load("mnist", allow_download=False)
    assert data.source == str(data_root / "mnist")


def test_data_dir_argument_comes_before_the_environment(tmp_path, idx, no_data_env):
    idx.dataset(tmp_path / "arg" / "mnist", n_train=11, n_test=5)
    idx.dataset(tmp_path / "env" / "mnist", n_train=13, n_test=7)
    no_data_env.setenv(datasets.DATA_ENV, str(tmp_path / "env"))
    assert len(datasets.load("mnist", tmp_path / "arg", allow_download=False).test.labels) == 5
    assert len(datasets.load("mnist", tmp_path / "missing", allow_download=False).test.labels) == 7
    assert len(datasets.load("mnist", allow_download=False).test.labels) == 7


def test_files_directly_in_the_data_folder(tmp_path, idx, no_data_env):
    idx.dataset(tmp_path, n_train=9, n_test=4)
    data = datasets.load("mnist", tmp_path, allow_download=False)
    assert data.source == str(tmp_path) and len(data.train.labels) == 9


def test_test_only_skips_training_files(tmp_path, idx, no_data_env):
    idx.dataset(tmp_path / "mnist", n_test=8, splits=("t10k",))
    data = datasets.load("mnist", tmp_path, allow_download=False, test_only=True)
    assert data.train is None and len(data.test.labels) == 8
    # without test_only the folder lacks the training files, so it does not count as a source
    with pytest.raises(DatasetError, match="no train-images-idx3-ubyte"):
        datasets.load("mnist", tmp_path, allow_download=False)


def test_test_only_does_not_even_read_a_broken_training_file(tmp_path, idx, no_data_env):
    folder = idx.dataset(tmp_path / "mnist", n_test=8)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"garbage")
    assert len(datasets.load("mnist", tmp_path, allow_download=False, test_only=True).test.labels) == 8
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz: cannot read"):
        datasets.load("mnist", tmp_path, allow_download=False)


def test_a_broken_file_is_reported_not_skipped(tmp_path, idx, no_data_env):
    """A damaged file in the first folder must be named, not hidden by a good copy further down the list."""
    folder = idx.dataset(tmp_path / "first" / "mnist")
    raw = (folder / "t10k-images-idx3-ubyte.gz").read_bytes()
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(raw[: len(raw) // 3])
    idx.dataset(tmp_path / "second" / "mnist")
    no_data_env.setenv(datasets.DATA_ENV, str(tmp_path / "second"))
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz: cannot read"):
        datasets.load("mnist", tmp_path / "first", allow_download=False)


def test_missing_everywhere_lists_what_was_tried(tmp_path, no_data_env):
    no_data_env.setenv(datasets.DATA_ENV, str(tmp_path / "env-root"))
    (tmp_path / "arg-root" / "mnist").mkdir(parents=True)
    with pytest.raises(DatasetError) as info:
        datasets.load("mnist", tmp_path / "arg-root", allow_download=False)
    message = str(info.value)
    assert message.startswith("could not load mnist. Tried:")
    for tried in (f"{tmp_path / 'arg-root' / 'mnist'}: no train-images-idx3-ubyte",
                  f"{tmp_path / 'env-root' / 'mnist'}: no such folder",
                  f"{tmp_path / 'env-root'}: no such folder"):
        assert tried in message
    assert "Keras download" not in message
    assert datasets.DATA_ENV in message and "--data" in message


def test_nothing_to_try_says_so(no_data_env):
    """No folder given, none configured, no download: the message says that, not an empty list."""
    with pytest.raises(DatasetError) as info:
        datasets.load("mnist", allow_download=False)
    message = str(info.value)
    assert "  - \n" not in message and not message.rstrip().endswith("-")
    assert f"no data folder: none was given and {datasets.DATA_ENV} is not set" in message


def test_debian_folder_is_the_last_local_source(tmp_path, idx, no_data_env):
    debian = idx.dataset(tmp_path / "debian", n_train=10, n_test=3)
    no_data_env.setattr(datasets, "DEBIAN_DIRS", {"fashion-mnist": debian})
    data = datasets.load("fashion-mnist", tmp_path / "nothing", allow_download=False)
    assert data.source == str(debian) and len(data.test.labels) == 3
    with pytest.raises(DatasetError, match="no such folder"):
        datasets.load("mnist", tmp_path / "nothing", allow_download=False)  # the Debian folder is Fashion only


def test_candidate_folders_order(tmp_path, no_data_env):
    no_data_env.setenv(datasets.DATA_ENV, "/env")
    folders = datasets.candidate_folders("fashion-mnist", "/arg")
    assert [str(f) for f in folders[:4]] == ["/arg/fashion-mnist", "/arg", "/env/fashion-mnist", "/env"]
    assert folders[4] == datasets.DEBIAN_DIRS["fashion-mnist"]
    assert [str(f) for f in datasets.candidate_folders("mnist", None)] == ["/env/mnist", "/env"]


def test_unknown_dataset(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset 'cifar10'; choose one of mnist, fashion-mnist"):
        datasets.load("cifar10", tmp_path, allow_download=False)


def test_mnist_npz_in_the_folder(tmp_path, no_data_env):
    (tmp_path / "mnist").mkdir()
    _write_npz(tmp_path / "mnist" / "mnist.npz", n_train=6, n_test=4)
    data = datasets.load("mnist", tmp_path, allow_download=False)
    assert data.source == str(tmp_path / "mnist")
    assert len(data.train.labels) == 6 and len(data.test.labels) == 4


def test_idx_files_win_over_mnist_npz(tmp_path, idx, no_data_env):
    folder = idx.dataset(tmp_path / "mnist", n_train=10, n_test=5)
    _write_npz(folder / "mnist.npz", n_train=6, n_test=4)
    assert len(datasets.load("mnist", tmp_path, allow_download=False).test.labels) == 5


def test_download_is_the_last_resort_and_its_failure_is_reported(tmp_path, no_data_env, download_attempts):
    """With downloads allowed and no network, the error lists the local folders and the download's failure."""
    with pytest.raises(DatasetError) as info:
        datasets.load("fashion-mnist", tmp_path / "nowhere")
    assert download_attempts == ["fashion-mnist"]
    message = str(info.value)
    assert message.index(f"{tmp_path / 'nowhere' / 'fashion-mnist'}: no such folder") < message.index("Keras download")
    assert "Keras download: ConnectionRefusedError: [Errno 111] Connection refused" in message


def test_no_download_when_a_folder_has_the_data(data_root, no_data_env, download_attempts):
    datasets.load("mnist", data_root)
    assert download_attempts == []


def test_no_download_when_not_allowed(tmp_path, no_data_env, download_attempts):
    with pytest.raises(DatasetError):
        datasets.load("mnist", tmp_path / "nowhere", allow_download=False)
    assert download_attempts == []


def test_load_test(data_root, tmp_path, no_data_env):
    split = datasets.load_test("mnist", data_root)
    assert split is not None and len(split.labels) == 60
    assert datasets.load_test("mnist", tmp_path / "nowhere") is None
