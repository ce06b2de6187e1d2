"""Teach a stored model from a class's own drawings (fine-tuning), without Streamlit.

Two kinds, as the class datasets have them (``model_store.class_data``):

- **digits**: the whole stored digit model goes on learning, at a low learning rate and for a few epochs, from the
  class's drawings (each several times an epoch, augmented copies) mixed with a slice of MNIST's training images, so
  that it learns the class's style without forgetting MNIST;
- **custom**: classes the class invented. The stored model's convolution base (every layer up to and including its
  Flatten or global pooling) is kept with its weights, and a new softmax layer with one output per class is put on
  it; ``head_epochs`` train the new layer alone first (base frozen), then ``epochs`` train everything.

A share of the drawings is held out (stratified per class, by the seed), never trained on, and read before and after,
so a class sees what it taught. The stored model is never changed: the result is a copy, savable to the model store
with its class names (``fine_tune_metadata``, ``trainer.save_result``). Progress goes to Keras callbacks and a stop
event ends the run within a batch, as in ``training.trainer`` (the same ``Reporter``).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from model_store.model_input import SIDE, shaped, to_float
from model_store.refusal import Refusal
from model_store.scores import predict_probabilities
from training.trainer import MAX_SEED

KINDS = ("digits", "custom")
BASE_ENDS = ("Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D")  # the last layer a new head keeps
DIGIT_CLASSES = [str(d) for d in range(10)]
AUGMENTED_SHAPE = (SIDE, SIDE, 1)  # what the digit augmenter takes


@dataclass
class FineTuneConfig:
    kind: str = "digits"  # digits | custom
    epochs: int = 2  # epochs with every layer training (0: custom, the new head alone)
    head_epochs: int = 0  # custom: epochs training the new head alone first, the base frozen
    batch_size: int = 64
    learning_rate: float = 3e-4
    head_learning_rate: float = 3e-3
    cosine_decay: bool = True
    oversample: int = 8  # copies of each training drawing in an epoch: the drawing, then augmented ones
    mnist_images: int = 8000  # digits: MNIST training images mixed into every epoch, so MNIST stays read
    augment: bool = True  # the copies after the first are augmented (stroke thickness, slant, size, position)
    freeze_batchnorm: bool = True  # BatchNorm layers keep the stored model's statistics (digits: MNIST stays read)
    head_dropout: float = 0.0  # custom: dropout in front of the new head
    fresh: bool = False  # the model given is a new network with one output per class: no new head, no "before"
    holdout_share: float = 0.2  # drawings of each class held out and read before and after, never trained on
    seconds_budget: float | None = None  # end after the epoch that leaves too little time for one more
    seed: int = 0

    def validate(self) -> None:
        """Raise a ``Refusal`` (the trainer's ``setting_*`` codes) for the first setting that cannot be used."""
        def refuse(code, name, **values):
            raise Refusal(code, setting=name.replace("_", " "), field=name, **values)

        if self.kind not in KINDS:
            refuse("setting_not_one_of", "kind", choices=", ".join(KINDS), value=self.kind)
        for name, low in (("epochs", 0), ("head_epochs", 0), ("batch_size", 1), ("oversample", 1), ("mnist_images", 0),
                          ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                refuse("setting_not_whole", name, value=value)
            if value < low:
                refuse("setting_too_small", name, low=low, value=value)
        if self.seed > MAX_SEED:
            refuse("setting_out_of_range", "seed", low=0, high=MAX_SEED, value=self.seed)
        if self.epochs + self.head_epochs < 1:
            refuse("setting_too_small", "epochs", low=1, value=self.epochs + self.head_epochs)
        if self.kind == "digits" and self.head_epochs:
            refuse("setting_out_of_range", "head_epochs", low=0, high=0, value=self.head_epochs)  # no new head
        for name in ("learning_rate", "head_learning_rate"):
            value = getattr(self, name)
            if not (0 < value < 10) or not math.isfinite(value):
                refuse("setting_out_of_range", name, low=0, high=10, value=value)
        for name in ("holdout_share", "head_dropout"):
            if not 0 <= getattr(self, name) < 1:
                refuse("setting_out_of_range", name, low=0, high=1, value=getattr(self, name))
        if self.seconds_budget is not None and not (self.seconds_budget > 0 and math.isfinite(self.seconds_budget)):
            refuse("setting_out_of_range", "seconds_budget", low=0, high="inf", value=self.seconds_budget)

    def to_dict(self) -> dict:
        return asdict(self)


# What each kind is taught with unless told otherwise (bench/class_teaches.py measures them).
RECIPES = {
    "digits": FineTuneConfig(kind="digits"),
    "custom": FineTuneConfig(kind="custom", epochs=2, head_epochs=1, learning_rate=1e-3, oversample=10,
                             freeze_batchnorm=False),
}


@dataclass(frozen=True)
class Misread:
    """A held-out drawing the fine-tuned model still reads wrongly."""

    heldout: int  # its position among the held-out drawings
    index: int | None  # its position in the class data given (None when the held-out drawings were given apart)
    true: int
    read: int
    confidence: float  # the probability of what it read


@dataclass
class FineTuneResult:
    config: FineTuneConfig
    model: object
    class_names: list[str]
    heldout_index: np.ndarray | None = None  # positions in x of the held-out drawings (None: they were given apart)
    heldout_size: int = 0
    heldout_before: float | None = None  # the stored model's accuracy on them (digits; a new head has no before)
    heldout_after: float | None = None
    mnist_after: float | None = None  # digits: accuracy on the MNIST test images given
    misread: list[Misread] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)  # one dict per whole epoch, as the trainer's
    seconds: float = 0.0  # from the call to the result, evaluation included
    stop_reason: str = "finished"  # finished | budget | stopped | nan
    best_epoch: int | None = None
    train_size: int = 0  # images per epoch (drawings oversampled, plus MNIST's)
    drawings: int = 0  # class drawings trained on
    non_finite_epoch: int | None = None

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    def as_record(self) -> dict:
        """The figures as JSON-ready values (the CLI's line); misread drawings with their class names."""
        names = self.class_names
        return {
            "kind": self.config.kind, "heldout_size": self.heldout_size, "heldout_before": self.heldout_before,
            "heldout_after": self.heldout_after, "mnist_after": self.mnist_after, "drawings": self.drawings,
            "epochs_run": self.epochs_run, "stop_reason": self.stop_reason, "seconds": round(self.seconds, 1),
            "misread": [{"index": m.index, "heldout": m.heldout, "true": names[m.true], "read": names[m.read],
                         "confidence": round(m.confidence, 3)} for m in self.misread],
        }


def holdout_indices(labels, share: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, held out) positions, each sorted: in every class ``share`` of its drawings (rounded, at least one of a
    class with two or more, never all of them), picked by ``seed``; the same labels and seed pick the same ones."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        where = np.flatnonzero(labels == label)
        count = min(int(math.floor(share * len(where) + 0.5)), len(where) - 1)  # never all of a class
        if share > 0 and len(where) >= 2:
            count = max(count, 1)
        held.append(rng.permutation(where)[:count])
    held_out = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    return np.setdiff1d(np.arange(len(labels)), held_out), held_out


def base_end(model) -> int:
    """Position in ``model.layers`` of the last layer a new head keeps: the last Flatten or global pooling."""
    ends = [i for i, layer in enumerate(model.layers) if type(layer).__name__ in BASE_ENDS]
    if not ends:
        raise ValueError(f"the model {model.name!r} has no Flatten or global pooling layer to keep as a base")
    return ends[-1]


def copy_model(model):
    """An uncompiled copy with the same weights, so that the stored model (perhaps a server's) never changes."""
    copy = model.__class__.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def with_new_head(base_model, classes: int, dropout: float = 0.0, seed: int = 0):
    """A copy of ``base_model`` up to its base's end (``base_end``), then a new softmax layer with ``classes`` outputs
    (and dropout before it, if asked). A Sequential model stays Sequential, so the pages read it like the diagram."""
    import keras

    copy = copy_model(base_model)
    end = base_end(copy)
    kept = copy.layers[: end + 1]
    taken = {layer.name for layer in kept}
    head_name = "probabilities" if "probabilities" not in taken else "new_probabilities"
    head = [keras.layers.Dropout(dropout, seed=seed, name="head_dropout")] if dropout else []
    head.append(keras.layers.Dense(classes, activation="softmax", name=head_name,
                                   kernel_initializer=keras.initializers.GlorotUniform(seed)))
    if isinstance(base_model, keras.Sequential):  # new layers with the base's weights: a layer of two graphs would
        fresh = [type(layer).from_config(layer.get_config()) for layer in kept]  # break sub-models of its outputs
        model = keras.Sequential([keras.Input(tuple(copy.inputs[0].shape[1:]), name="image"), *fresh, *head],
                                 name=f"{copy.name}_new_head")
        for new, old in zip(fresh, kept):
            new.set_weights(old.get_weights())
        return model
    x = kept[-1].output
    for layer in head:
        x = layer(x)
    return keras.Model(copy.inputs, x, name=f"{copy.name}_new_head")


def _checked(model, x, y, class_names, kind: str):
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 3 or x.shape[1:] != (SIDE, SIDE) or x.dtype != np.uint8:
        raise ValueError(f"class drawings must be (n, {SIDE}, {SIDE}) uint8, not {x.shape} {x.dtype}")
    if len(y) != len(x) or not len(x):
        raise ValueError(f"{len(x)} drawings and {len(y)} labels: need as many labels as drawings, and some drawings")
    if y.min() < 0 or y.max() >= len(class_names):
        raise ValueError(f"labels must be class indices 0 to {len(class_names) - 1}")
    if kind == "digits":
        outputs = model.outputs[0].shape[-1]
        if list(class_names) != DIGIT_CLASSES or outputs != len(DIGIT_CLASSES):
            raise ValueError(f"fine-tuning on digits needs the classes 0-9 and a 10-output model (it has {outputs})")
    return x, y.astype(np.int64)


def _copies(x, config: FineTuneConfig) -> np.ndarray:
    """``oversample`` copies of each drawing, as float model input (n * oversample, 28, 28, 1): the first as drawn,
    the others each augmented differently (the digit augmenter: stroke thickness, slant, size, position), made once."""
    copies = np.repeat(shaped(to_float(x), AUGMENTED_SHAPE), config.oversample, axis=0)
    if config.augment and config.oversample > 1:
        from training.augment import digit_augmenter

        changed = np.arange(len(copies)) % config.oversample != 0
        copies[changed] = np.asarray(digit_augmenter(config.seed, outlines=0.0)(copies[changed]))
    return copies


def _mixed(x, y, config: FineTuneConfig, mnist_train):
    """The images of one epoch as float model input: the drawings' copies (``_copies``), plus (digits) a slice of
    MNIST picked by the seed, as it is: MNIST anchors what the model already reads, augmenting it moved that."""
    images, labels = _copies(x, config), np.repeat(y, config.oversample)
    if config.kind == "digits" and mnist_train is not None and config.mnist_images:
        pick = np.random.default_rng(config.seed).permutation(len(mnist_train.labels))[: config.mnist_images]
        images = np.concatenate([images, shaped(to_float(mnist_train.images[pick]), AUGMENTED_SHAPE)])
        labels = np.concatenate([labels, mnist_train.labels[pick].astype(np.int64)])
    return images, labels


def _pipeline(images, labels, input_shape, config: FineTuneConfig):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images.reshape(-1, *input_shape), labels.astype(np.int32)))
    ds = ds.shuffle(len(labels), seed=config.seed, reshuffle_each_iteration=True).batch(config.batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)


class _Phase:
    """The listeners as one phase of several sees them: train begin only in the first, train end only in the last."""

    def __init__(self, listeners, first: bool, last: bool):
        self.listeners, self.first, self.last = listeners, first, last

    def on_train_begin(self, logs=None):
        if self.first:
            self.listeners.on_train_begin(logs)

    def on_train_end(self, logs=None):
        if self.last:
            self.listeners.on_train_end(logs)

    def __getattr__(self, name):
        return getattr(self.listeners, name)


def _set_trainable(model, base_layers, base: bool, batchnorm: bool) -> None:
    """The base's layers train when ``base``; BatchNorm layers only when ``batchnorm`` (frozen, they normalise with
    the stored model's statistics); the rest always."""
    in_base = {id(layer) for layer in base_layers}
    for layer in model.layers:
        layer.trainable = (base or id(layer) not in in_base) and (
            batchnorm or type(layer).__name__ != "BatchNormalization")


def _train(model, data, result: FineTuneResult, listeners, stop, base_layers, started: float) -> None:
    """Run the phases (head alone, then everything) as Keras fits that continue each other's epoch count."""
    import keras

    from training.callbacks import Reporter

    c = result.config
    steps = math.ceil(result.train_size / c.batch_size)
    phases = [(n, lr, base) for n, lr, base in ((c.head_epochs, c.head_learning_rate, False),
                                                 (c.epochs, c.learning_rate, True)) if n]
    done = 0
    try:
        for number, (epochs, lr, base_trains) in enumerate(phases):
            if stop.is_set():
                result.stop_reason = "stopped"
            if result.stop_reason != "finished":
                if number:  # a phase ran: its listeners hear the end it did not pass on
                    listeners.on_train_end()
                return
            _set_trainable(model, base_layers, base_trains, not c.freeze_batchnorm)
            if c.cosine_decay:
                lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, steps * epochs), alpha=0.01)
            model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            callbacks = [Reporter(stop, result, "loss", _Phase(listeners, number == 0, number == len(phases) - 1))]
            if c.seconds_budget is not None:
                callbacks.append(keras.callbacks.LambdaCallback(
                    on_epoch_end=lambda epoch, logs: _budget(model, result, started, epoch)))
            model.fit(data, epochs=done + epochs, initial_epoch=done, callbacks=callbacks, verbose=0,
                      shuffle=False)  # the tf.data pipeline shuffles
            done += epochs
    finally:
        _set_trainable(model, base_layers, True, True)  # saved as a plain model: nothing frozen


def _budget(model, result: FineTuneResult, started: float, epoch: int) -> None:
    """End after this epoch when one more would run past the budget (the time per epoch so far predicts it)."""
    elapsed = time.perf_counter() - started
    if result.stop_reason == "finished" and elapsed * (epoch + 2) / (epoch + 1) > result.config.seconds_budget:
        result.stop_reason = "budget"
        model.stop_training = True


def fine_tune(base_model, x, y, class_names, config: FineTuneConfig | None = None, *, mnist=None, heldout=None,
              callbacks=(), stop: threading.Event | None = None, **settings) -> FineTuneResult:
    """Teach a copy of ``base_model`` the class drawings ``x`` ((n, 28, 28) uint8, ink bright) with labels ``y``
    (indices into ``class_names``). ``config`` (``RECIPES[kind]`` by default) with ``settings`` (its fields) changed.
    ``mnist``: a ``training.datasets.Dataset`` (or anything with ``train`` and ``test`` splits, either None) for
    digits: its training images are mixed in, its test images give ``mnist_after``. ``heldout``: ``(x, y)`` to read
    before and after instead of holding out ``holdout_share`` of the drawings. ``stop``: an event of the caller's; set
    from any thread, it ends the run within a batch (the held-out drawings are still read, MNIST's test is skipped)."""
    import keras

    started = time.perf_counter()
    kind = settings.get("kind", config.kind if config else "digits")
    config = replace(config or RECIPES.get(kind, FineTuneConfig()), **settings)
    config.validate()
    x, y = _checked(base_model, x, y, class_names, config.kind)
    stop = stop if stop is not None else threading.Event()
    if heldout is None:
        train_at, held_at = holdout_indices(y, config.holdout_share, config.seed)
        x_held, y_held, x, y = x[held_at], y[held_at], x[train_at], y[train_at]
    else:
        held_at = None
        x_held, y_held = _checked(base_model, heldout[0], heldout[1], class_names, config.kind) if len(heldout[1]) \
            else (np.zeros((0, SIDE, SIDE), np.uint8), np.zeros(0, np.int64))
    keras.utils.set_random_seed(config.seed)
    if config.kind == "digits" or config.fresh:
        model, base_layers = copy_model(base_model), []
    else:
        model = with_new_head(base_model, len(class_names), config.head_dropout, config.seed)
        base_layers = model.layers[: base_end(model) + 1]
    images, labels = _mixed(x, y, config, getattr(mnist, "train", None))
    result = FineTuneResult(config=config, model=model, class_names=list(class_names), heldout_index=held_at,
                            heldout_size=len(y_held), train_size=len(labels), drawings=len(y))
    if config.kind == "digits" and not config.fresh and len(y_held):
        result.heldout_before = float((predict_probabilities(base_model, x_held).argmax(1) == y_held).mean())
    steps = math.ceil(len(labels) / config.batch_size)
    listeners = keras.callbacks.CallbackList(list(callbacks), model=model, verbose=0,
                                             epochs=config.head_epochs + config.epochs, steps=steps,
                                             train_size=len(labels), val_size=0, monitor="loss")
    data = _pipeline(images, labels, tuple(model.inputs[0].shape[1:]), config)
    _train(model, data, result, listeners, stop, base_layers, started)
    if result.stop_reason != "nan":
        if len(y_held):
            probs = predict_probabilities(model, x_held)
            read = probs.argmax(1)
            result.heldout_after = float((read == y_held).mean())
            result.misread = [Misread(int(i), None if held_at is None else int(held_at[i]), int(y_held[i]),
                                      int(read[i]), float(probs[i, read[i]])) for i in np.flatnonzero(read != y_held)]
        test = getattr(mnist, "test", None)
        if config.kind == "digits" and test is not None and result.stop_reason != "stopped":
            result.mnist_after = float((predict_probabilities(model, test.images).argmax(1) == test.labels).mean())
    result.seconds = time.perf_counter() - started
    return result


def fine_tune_metadata(result: FineTuneResult, *, base_name: str | None = None, class_data: str | None = None) -> dict:
    """Everything the model store keeps about a fine-tuned model. Digits count as an MNIST model (the Draw page lists
    it); a custom model's dataset is the class dataset it learned (``class_data``, else "custom")."""
    from model_store.describe import base_metadata

    c = result.config
    dataset = "mnist" if c.kind == "digits" else (class_data or "custom")
    return {
        **base_metadata(result.model, dataset, result.class_names),
        "source": "convscope-fine-tune",
        "base_model": base_name,
        "class_data": class_data,
        "hyperparameters": c.to_dict(),
        "history": result.history,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stop_reason": result.stop_reason,
        "train_size": result.train_size,
        "drawings": result.drawings,
        "heldout_size": result.heldout_size,
        "heldout_accuracy_before": result.heldout_before,
        "heldout_accuracy": result.heldout_after,
        "test_accuracy": result.mnist_after if c.kind == "digits" else result.heldout_after,
        "test_loss": None,
        "training_seconds": round(result.seconds, 1),
    }


def train_on_class_data(name: str, base: str, *, save: str | None = None, store=None, class_datasets=None,
                        data_dir=None, callbacks=(), stop: threading.Event | None = None, **settings):
    """What ``python -m training class-data train NAME --from MODEL [--save NAME]`` does: read the class dataset
    ``name`` (refused while a class has too few drawings), fine-tune the stored model ``base`` on it (digits: with
    MNIST from ``data_dir`` or ``CONVSCOPE_DATA``), and save the result as ``save`` if given (the name is checked
    before anything is trained). Returns ``(FineTuneResult, store entry or None)``."""
    from model_store.class_data import ClassDatasets
    from model_store.store import ModelStore
    from training import datasets
    from training.trainer import save_result

    store = store if store is not None else ModelStore()
    class_datasets = class_datasets if class_datasets is not None else ClassDatasets(store.user_dir)
    info = class_datasets.require_ready(name)
    if save is not None:
        save = store.check_new_name(save)
    x, y = class_datasets.images(info.name)
    base_model = store.load(base)
    mnist = datasets.load("mnist", data_dir) if info.kind == "digits" else None
    result = fine_tune(base_model, x, y, list(info.classes), kind=info.kind, mnist=mnist, callbacks=callbacks,
                       stop=stop, **settings)
    entry = None
    if save is not None:
        entry = save_result(result, store, save, fine_tune_metadata(result, base_name=base, class_data=info.name))
    return result, entry
