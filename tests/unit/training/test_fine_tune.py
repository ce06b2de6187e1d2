"""training.fine_tune: digits keep their head and learn a new style without forgetting the old one, custom classes get a
new head on a copied base, a stop ends the run, the held-out split is stratified, the misread list is right, and the
result saves with its class names. Tiny models and images, a few seconds in all."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from model_store.model_input import shaped, to_float
from model_store.refusal import Refusal
from model_store.scores import predict_probabilities
from tests.unit.unit_data import learnable_images, tiny_conv_model, tiny_dense_model
from training.datasets import Dataset, Split
from training.fine_tune import (
    FineTuneConfig,
    fine_tune,
    fine_tune_metadata,
    holdout_indices,
    with_new_head,
)
from training.trainer import save_result

DIGITS = [str(d) for d in range(10)]
QUICK = {"batch_size": 32, "learning_rate": 1e-2, "cosine_decay": False, "augment": False}  # a tiny model, no noise


def vertical_bars(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The toy "class style": class k is a bright column at 2+2k..3+2k, where MNIST-like images (learnable_images) have
    a row. A model that learned the rows reads these at about chance."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), n // 10)
    images = (rng.random((len(labels), 28, 28)) * 40).astype(np.uint8)
    for i, k in enumerate(labels):
        images[i, 4:24, 2 + 2 * k: 4 + 2 * k] = 255
    return images, labels


def blocks(n_per: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three invented classes: a bright block at the top, at the bottom, at the left."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n_per)
    images = (rng.random((len(labels), 28, 28)) * 40).astype(np.uint8)
    places = [(slice(2, 10), slice(6, 22)), (slice(18, 26), slice(6, 22)), (slice(6, 22), slice(2, 10))]
    for i, k in enumerate(labels):
        images[i][places[k]] = 255
    return images, labels


def read(model, images) -> np.ndarray:
    return predict_probabilities(model, images).argmax(1)


def weights_equal(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def mnist_like():
    return Dataset("mnist", Split(*learnable_images(400, seed=0)), Split(*learnable_images(100, seed=1)), "tiny")


@pytest.fixture(scope="module")
def rows_model(mnist_like):
    """A tiny dense model that reads the rows (our MNIST), the stored model to fine-tune."""
    model = tiny_dense_model(seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    x = shaped(to_float(mnist_like.train.images), (28, 28, 1))
    model.fit(x, mnist_like.train.labels, epochs=5, batch_size=32, verbose=0)
    assert (read(model, mnist_like.test.images) == mnist_like.test.labels).mean() > 0.95
    return model


class Listener(keras.callbacks.Callback):
    def __init__(self, stop_at=None, stop=None):
        super().__init__()
        self.begins, self.ends, self.epochs, self.batches = 0, 0, [], 0
        self.stop_at, self.stop = stop_at, stop

    def on_train_begin(self, logs=None):
        self.begins += 1
        self.seen_params = dict(self.params)

    def on_train_end(self, logs=None):
        self.ends += 1

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch + 1)

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if self.batches == self.stop_at:
            self.stop.set()


# ---- the held-out split ---------------------------------------------------------------------------------------
def test_holdout_is_stratified_deterministic_and_never_empties_a_class():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 2 + [3] * 1 + [4] * 23)
    train, held = holdout_indices(labels, 0.2, seed=3)
    assert np.array_equal(np.sort(np.concatenate([train, held])), np.arange(len(labels)))
    assert not set(train) & set(held)
    counts = {k: int((labels[held] == k).sum()) for k in range(5)}
    assert counts == {0: 2, 1: 1, 2: 1, 3: 0, 4: 5}  # 20% rounded; at least one of 2+; a lone drawing trains
    again, other = holdout_indices(labels, 0.2, seed=3)[1], holdout_indices(labels, 0.2, seed=4)[1]
    assert np.array_equal(held, again) and not np.array_equal(held, other)
    assert len(holdout_indices(labels, 0.0)[1]) == 0
    assert np.bincount(labels[holdout_indices(labels, 0.9)[1]], minlength=5).tolist() == [9, 4, 1, 0, 21]  # never all


# ---- digits ---------------------------------------------------------------------------------------------------
def test_digits_learn_the_class_style_and_keep_mnist(rows_model, mnist_like):
    x, y = vertical_bars(100, seed=2)
    original = [w.copy() for w in rows_model.get_weights()]
    listener = Listener()
    result = fine_tune(rows_model, x, y, DIGITS, kind="digits", mnist=mnist_like, epochs=4, oversample=4,
                       mnist_images=200, callbacks=[listener], **QUICK)
    assert result.model.outputs[0].shape[-1] == 10
    assert [layer.name for layer in result.model.layers] == [layer.name for layer in rows_model.layers]
    assert result.heldout_size == 20 and result.drawings == 80 and result.train_size == 80 * 4 + 200
    assert result.heldout_before < 0.5 < 0.9 <= result.heldout_after
    assert result.mnist_after >= 0.9
    assert result.stop_reason == "finished" and result.epochs_run == 4 and listener.epochs == [1, 2, 3, 4]
    assert listener.seen_params["train_size"] == result.train_size
    assert weights_equal(rows_model.get_weights(), original)  # the stored model is never changed
    assert result.seconds > 0 and result.config.kind == "digits"


def test_digits_need_a_ten_class_model_and_digit_labels():
    x, y = blocks(4)
    with pytest.raises(ValueError, match="classes 0-9"):
        fine_tune(tiny_dense_model(), x, y, ["a", "b", "c"], kind="digits")


# ---- custom classes -------------------------------------------------------------------------------------------
def test_a_new_head_on_a_copied_base():
    base = tiny_conv_model(seed=1)
    model = with_new_head(base, 3)
    names = [layer.name for layer in model.layers]
    assert names == ["c1", "pool", "c2", "c2_relu", "flatten", "probabilities"]
    assert model.outputs[0].shape[-1] == 3 and isinstance(model, keras.Sequential)
    for layer in model.layers[:5]:
        assert layer is not base.get_layer(layer.name)  # copied, not shared: training it leaves the base alone
        assert weights_equal(layer.get_weights(), base.get_layer(layer.name).get_weights())
    taps = keras.Model(model.inputs, [model.get_layer("c1").output, model.get_layer("c2").output])  # the probe maps
    assert [tuple(o.shape[1:]) for o in taps(np.zeros((1, 28, 28, 1), np.float32))] == [
        tuple(model.get_layer("c1").output.shape[1:]), tuple(model.get_layer("c2").output.shape[1:])]


def test_a_functional_base_gets_a_new_head_too():
    inputs = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(8, name="dense")(x)
    base = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="probabilities")(x))
    model = with_new_head(base, 4, dropout=0.2)
    assert [layer.name for layer in model.layers][-4:] == ["conv", "gap", "head_dropout", "probabilities"]
    assert model.outputs[0].shape[-1] == 4


def test_a_model_with_no_flatten_has_no_base():
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(ValueError, match="no Flatten"):
        with_new_head(model, 3)


def test_custom_head_first_then_everything(conv_model):
    x, y = blocks(20, seed=5)
    original = [w.copy() for w in conv_model.get_weights()]
    listener = Listener()
    result = fine_tune(conv_model, x, y, ["top", "bottom", "left"], kind="custom", head_epochs=2, epochs=2,
                       oversample=4, callbacks=[listener], **{**QUICK, "learning_rate": 3e-3, "head_learning_rate": 1e-2})
    assert result.model.outputs[0].shape[-1] == 3 and result.heldout_before is None and result.mnist_after is None
    assert result.heldout_size == 12 and result.heldout_after >= 0.9
    assert listener.begins == 1 and listener.ends == 1 and listener.epochs == [1, 2, 3, 4]  # two phases, one run
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    assert not weights_equal(result.model.get_layer("c1").get_weights(), conv_model.get_layer("c1").get_weights())
    assert weights_equal(conv_model.get_weights(), original)
    assert all(layer.trainable for layer in result.model.layers)  # saved unfrozen


def test_custom_head_alone_keeps_the_base_weights(conv_model):
    x, y = blocks(10, seed=6)
    result = fine_tune(conv_model, x, y, ["top", "bottom", "left"], kind="custom", head_epochs=2, epochs=0,
                       **QUICK)
    for name in ("c1", "c2"):
        assert weights_equal(result.model.get_layer(name).get_weights(), conv_model.get_layer(name).get_weights())
    assert result.epochs_run == 2


# ---- stop, budget, misread ------------------------------------------------------------------------------------
def test_a_stop_ends_the_run_within_a_batch(rows_model, mnist_like):
    import threading

    stop = threading.Event()
    listener = Listener(stop_at=3, stop=stop)
    x, y = vertical_bars(100, seed=2)
    result = fine_tune(rows_model, x, y, DIGITS, mnist=mnist_like, epochs=3, oversample=4, mnist_images=200,
                       callbacks=[listener], stop=stop, **QUICK)
    assert result.stop_reason == "stopped" and listener.batches <= 4
    assert result.history == [] and result.mnist_after is None  # no whole epoch; MNIST's test skipped
    assert result.heldout_after is not None  # what it learned so far is still shown


def test_a_stop_before_the_start_trains_nothing(rows_model):
    import threading

    stop = threading.Event()
    stop.set()
    x, y = vertical_bars(50, seed=3)
    listener = Listener()
    result = fine_tune(rows_model, x, y, DIGITS, stop=stop, callbacks=[listener], **QUICK)
    assert result.stop_reason == "stopped" and listener.batches == 0 and listener.begins == 0
    assert weights_equal(result.model.get_weights(), rows_model.get_weights())


def test_a_seconds_budget_ends_after_a_whole_epoch(rows_model):
    x, y = vertical_bars(50, seed=3)
    result = fine_tune(rows_model, x, y, DIGITS, epochs=5, oversample=2, seconds_budget=1e-6, **QUICK)
    assert result.stop_reason == "budget" and result.epochs_run == 1


def test_misread_lists_each_held_out_drawing_read_wrongly(rows_model, mnist_like):
    """No training (stopped before the start): what is misread is what the stored model misreads."""
    import threading

    rows_x, rows_y = mnist_like.test.images[:50], mnist_like.test.labels[:50].astype(np.int64)
    cols_x, cols_y = vertical_bars(50, seed=4)
    x, y = np.concatenate([rows_x, cols_x]), np.concatenate([rows_y, cols_y])
    stop = threading.Event()
    stop.set()
    result = fine_tune(rows_model, x, y, DIGITS, stop=stop, holdout_share=0.3, seed=1, **QUICK)
    held = result.heldout_index
    wrong = np.flatnonzero(read(rows_model, x[held]) != y[held])
    assert [m.heldout for m in result.misread] == wrong.tolist()
    assert [m.index for m in result.misread] == held[wrong].tolist()
    assert all(m.true == y[m.index] and m.read != m.true and 0 < m.confidence <= 1 for m in result.misread)
    assert result.heldout_after == pytest.approx(1 - len(wrong) / len(held))
    assert result.heldout_before == result.heldout_after
    record = result.as_record()
    assert record["misread"][0]["true"] == DIGITS[result.misread[0].true]


def test_held_out_drawings_given_apart(rows_model):
    import threading

    x, y = vertical_bars(50, seed=3)
    hx, hy = vertical_bars(20, seed=4)
    stop = threading.Event()
    stop.set()
    result = fine_tune(rows_model, x, y, DIGITS, heldout=(hx, hy), stop=stop, **QUICK)
    assert result.heldout_index is None and result.heldout_size == 20 and result.drawings == 50
    assert all(m.index is None for m in result.misread)


# ---- settings and saving --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("changes", "message"), [
    ({"kind": "letters"}, "kind must be one of digits, custom"),
    ({"oversample": 0}, "oversample must be at least 1"),
    ({"epochs": 0}, "epochs must be at least 1"),
    ({"head_epochs": 2}, "head epochs"),  # digits keep their head
    ({"learning_rate": 0.0}, "learning rate"),
    ({"holdout_share": 1.0}, "holdout share"),
    ({"batch_size": 2.5}, "batch size must be a whole number"),
])
def test_settings_are_checked(changes, message):
    with pytest.raises(Refusal, match=message):
        FineTuneConfig(**changes).validate()


def test_a_fine_tuned_model_saves_with_its_class_names(conv_model, store):
    x, y = blocks(10, seed=7)
    names = ["top", "bottom", "left"]
    result = fine_tune(conv_model, x, y, names, kind="custom", epochs=1, **QUICK)
    entry = save_result(result, store, "shapes-model", fine_tune_metadata(result, base_name="tiny", class_data="shapes"))
    assert entry.meta["class_names"] == names and entry.dataset == "shapes"
    assert entry.meta["base_model"] == "tiny" and entry.meta["test_accuracy"] == result.heldout_after
    loaded = store.load("shapes-model")
    assert loaded.outputs[0].shape[-1] == 3
    assert np.allclose(predict_probabilities(loaded, x), predict_probabilities(result.model, x), atol=1e-5)


# ---- the command line's hook ----------------------------------------------------------------------------------
class FakeClassData:
    """What train_on_class_data reads of model_store.class_data.ClassDatasets, with drawings made here."""

    def __init__(self, kind, classes, x, y):
        from types import SimpleNamespace

        self.info = SimpleNamespace(name="our-class", kind=kind, classes=tuple(classes))
        self.x, self.y = x, y.astype(np.uint8)

    def require_ready(self, name):
        return self.info

    def images(self, name):
        return self.x, self.y


def test_train_on_class_data_custom_saves_under_the_name(store, shipped):
    from training.fine_tune import train_on_class_data

    data = FakeClassData("custom", ["top", "bottom", "left"], *blocks(10, seed=8))
    result, entry = train_on_class_data("our-class", shipped, save="our-shapes", store=store, class_datasets=data,
                                        epochs=1, **QUICK)
    assert result.config.kind == "custom" and result.heldout_size == 6
    assert entry.name == "our-shapes" and entry.dataset == "our-class" and entry.meta["base_model"] == shipped
    assert entry.meta["class_names"] == ["top", "bottom", "left"]


def test_train_on_class_data_digits_mixes_mnist_and_refuses_a_taken_name_first(store, shipped, data_root):
    from training.fine_tune import train_on_class_data

    data = FakeClassData("digits", DIGITS, *vertical_bars(50, seed=9))
    result, entry = train_on_class_data("our-class", shipped, store=store, class_datasets=data, data_dir=data_root,
                                        epochs=1, oversample=2, mnist_images=100, **QUICK)
    assert entry is None and result.config.kind == "digits" and result.mnist_after is not None
    assert result.train_size == 40 * 2 + 100
    with pytest.raises(Refusal, match="already exists"):
        train_on_class_data("our-class", shipped, save=shipped, store=store, class_datasets=data, data_dir=data_root)
