"""Train a preset on a dataset without Streamlit: progress goes to Keras callbacks, a stop ends within a batch.

The callbacks given to a ``Trainer`` hear Keras' own events (``keras.callbacks.Callback``), as the trainer's
``Reporter`` (training/callbacks.py) passes them on: ``on_train_begin``, ``on_epoch_begin``, ``on_train_batch_end``
for every batch, ``on_epoch_end`` for every whole epoch only (a stop or a NaN cuts the last one short; its numbers
are not comparable), and ``on_train_end`` once the best epoch's weights are back. Keras counts epochs and batches
from 0; an epoch's logs carry ``epoch`` (from 1) and ``seconds``. ``self.params`` holds Keras' ``epochs`` and
``steps`` (batches per epoch) and the trainer's ``train_size``, ``val_size`` and ``monitor`` (the number that picks
the best epoch).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from model_store.model_input import shaped, to_float
from model_store.refusal import Refusal
from training import presets
from training.calibration import calibrate
from training.datasets import CLASS_NAMES, Split
from training.ranges import SETTING_NAMES

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
MAX_SEED = 2**32 - 1  # what NumPy's and Python's seeding take
ONE_CYCLE_WARMUP = 0.2  # share of the steps over which a one-cycle schedule rises to its peak
# The speedrun recipes' settings: None in a TrainConfig means "as the preset recommends", and off when it says nothing,
# so that the Train page (which sets only the older fields) trains a speedrun preset with its whole recipe.
RECIPE_EXTRAS = {"one_cycle": False, "label_smoothing": 0.0, "weight_averaging": 0.0}


class ConfigError(Refusal):
    """A training setting cannot be used; the code says why, ``values["field"]`` which ``TrainConfig`` field."""

    def __init__(self, code: str, field: str, **values):
        super().__init__(code, setting=SETTING_NAMES[field], field=field, **values)


@dataclass
class TrainConfig:
    dataset: str = "mnist"
    preset: str = "tf-tutorial"
    epochs: int = 5
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    cosine_decay: bool = False
    validation_split: float = 0.1
    patience: int = 0  # early-stopping patience in epochs; 0 turns it off
    augment: bool = False
    subset: int | None = None  # use only this many training images (classroom demos)
    seed: int = 0
    deterministic: bool = False  # bit-for-bit reruns (slower)
    # None: the preset's recommendation, else off (RECIPE_EXTRAS); ``Trainer`` resolves them before it trains.
    one_cycle: bool | None = None  # warm up linearly to the learning rate, then cosine down to zero at the last step
    label_smoothing: float | None = None  # share of each label spread evenly over all classes
    weight_averaging: float | None = None  # momentum of an average of the weights (EMA) that becomes the result; 0 off

    def validate(self) -> None:
        """Raise ``ConfigError`` for the first setting that cannot be used."""
        for name, choices in (("dataset", CLASS_NAMES), ("preset", presets.PRESETS), ("optimizer", OPTIMIZERS)):
            if getattr(self, name) not in choices:
                raise ConfigError("setting_not_one_of", name, choices=", ".join(choices), value=getattr(self, name))
        for name, low in (("epochs", 1), ("batch_size", 1), ("patience", 0), ("subset", 1), ("seed", 0)):
            value = getattr(self, name)
            if value is None and name == "subset":
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError("setting_not_whole", name, value=value)
            if value < low:
                raise ConfigError("setting_too_small", name, low=low, value=value)
        if self.seed > MAX_SEED:
            raise ConfigError("setting_out_of_range", "seed", low=0, high=MAX_SEED, value=self.seed)
        if not (0 < self.learning_rate < 10) or not math.isfinite(self.learning_rate):
            raise ConfigError("setting_out_of_range", "learning_rate", low=0, high=10, value=self.learning_rate)
        if not 0 <= self.validation_split < 1:
            raise ConfigError("setting_out_of_range", "validation_split", low=0, high=1, value=self.validation_split)
        if self.one_cycle is not None and not isinstance(self.one_cycle, bool):
            raise ConfigError("setting_not_one_of", "one_cycle", choices="True, False", value=self.one_cycle)
        for name in ("label_smoothing", "weight_averaging"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or not 0 <= value < 1):
                raise ConfigError("setting_out_of_range", name, low=0, high=1, value=value)

    def with_recipe_extras(self) -> TrainConfig:
        """This config with every recipe setting left at None filled in from the preset's recommendation (or off)."""
        recommended = presets.PRESETS[self.preset].recommended if self.preset in presets.PRESETS else {}
        return replace(self, **{name: recommended.get(name, off) for name, off in RECIPE_EXTRAS.items()
                                if getattr(self, name) is None})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    config: TrainConfig
    model: object
    history: list[dict] = field(default_factory=list)  # one dict of metrics per finished epoch
    test_loss: float | None = None
    test_accuracy: float | None = None
    seconds: float = 0.0
    stop_reason: str = "finished"  # finished | early-stopping | stopped | nan
    best_epoch: int | None = None
    train_size: int = 0
    non_finite_epoch: int | None = None  # the epoch in which the loss became NaN or infinite
    calibration: dict | None = None  # the temperature fitted on the validation split (label smoothing only)

    @property
    def epochs_run(self) -> int:
        return len(self.history)


def learning_rate_schedule(config: TrainConfig, total_steps: int):
    """The learning rate (a number, or a Keras schedule) for ``total_steps`` optimizer steps: one-cycle (linear warm-up
    over ONE_CYCLE_WARMUP of the steps, then a cosine to zero at the last step, so the whole budget is used), cosine
    decay to 1% of it, or constant. Built-in Keras schedules only: a saved model's optimizer must load anywhere."""
    import keras

    total_steps = max(1, total_steps)
    if config.one_cycle:
        warmup = max(1, int(total_steps * ONE_CYCLE_WARMUP))
        return keras.optimizers.schedules.CosineDecay(
            config.learning_rate / 10, decay_steps=max(1, total_steps - warmup), alpha=0.0,
            warmup_target=config.learning_rate, warmup_steps=warmup)
    if config.cosine_decay:
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=total_steps, alpha=0.01)
    return config.learning_rate


def split_train(split: Split, config: TrainConfig):
    """Shuffle with the seed, cut the subset, then hold out the validation share."""
    order = np.random.default_rng(config.seed).permutation(len(split.labels))
    if config.subset:
        order = order[: config.subset]
    n_val = int(len(order) * config.validation_split)
    if n_val and len(order) - n_val < 1:
        n_val = 0
    val_idx, train_idx = order[:n_val], order[n_val:]
    return (split.images[train_idx], split.labels[train_idx]), (split.images[val_idx], split.labels[val_idx])


def distribution_strategy():
    """All GPUs through MirroredStrategy when there are several; otherwise TensorFlow's default (one GPU or the CPU)."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


class Trainer:
    """One training run. ``run()`` blocks; set ``stop`` from any thread to end it within a batch (an event of the
    caller's, so that a stop asked for before the trainer exists counts too)."""

    def __init__(self, config: TrainConfig, train: Split, test: Split | None = None, callbacks=(),
                 stop: threading.Event | None = None):
        config.validate()
        self.config = config.with_recipe_extras()
        self.train_split = train
        self.test_split = test
        self.callbacks = list(callbacks)
        self.stop = stop if stop is not None else threading.Event()

    def _optimizer(self, steps_per_epoch: int):
        import keras

        c = self.config
        lr = learning_rate_schedule(c, steps_per_epoch * c.epochs)
        ema = {"use_ema": True, "ema_momentum": c.weight_averaging} if c.weight_averaging else {}
        return {
            "adam": lambda: keras.optimizers.Adam(lr, **ema),
            "adamw": lambda: keras.optimizers.AdamW(lr, weight_decay=1e-4, **ema),
            "sgd": lambda: keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, **ema),
            "rmsprop": lambda: keras.optimizers.RMSprop(lr, **ema),
        }[c.optimizer]()

    def _loss(self):
        import keras

        if self.config.label_smoothing:  # Keras' sparse loss cannot smooth: the pipeline then gives one-hot labels
            return keras.losses.CategoricalCrossentropy(label_smoothing=self.config.label_smoothing)
        return "sparse_categorical_crossentropy"

    def _pipeline(self, images, labels, training: bool):
        import tensorflow as tf

        from training.augment import AUGMENTERS

        c = self.config
        x, y = shaped(to_float(images), presets.INPUT_SHAPE), labels.astype(np.int32)
        if training:
            # Shuffle indices and gather each batch from the images in memory at once, in the same order as shuffling
            # the images one by one (a shuffle's order depends on its seed only): the pipeline alone then takes
            # 0.4-0.6 s of CPU per MNIST epoch instead of 1.4-1.8 s, CPU the training steps get back.
            x, y = tf.constant(x), tf.constant(y)
            ds = tf.data.Dataset.range(len(labels)).shuffle(len(labels), seed=c.seed, reshuffle_each_iteration=True)
            ds = ds.batch(c.batch_size).map(lambda i: (tf.gather(x, i), tf.gather(y, i)))
        else:
            ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(c.batch_size)
        if c.label_smoothing:
            classes = len(CLASS_NAMES[c.dataset])
            ds = ds.map(lambda x, y: (x, tf.one_hot(y, classes)), num_parallel_calls=tf.data.AUTOTUNE)
        if training and c.augment:
            augment = AUGMENTERS[c.dataset](c.seed)
            ds = ds.map(lambda x, y: (augment(x), y), num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)

    def run(self) -> TrainResult:
        import keras

        c = self.config
        keras.utils.set_random_seed(c.seed)
        if c.deterministic:
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
        (x_train, y_train), (x_val, y_val) = split_train(self.train_split, c)
        steps = math.ceil(len(y_train) / c.batch_size)
        with distribution_strategy().scope():
            model = presets.build(c.preset)
            model.compile(optimizer=self._optimizer(steps), loss=self._loss(), metrics=["accuracy"])
        result = TrainResult(config=c, model=model, train_size=len(y_train))
        has_val = len(y_val) > 0
        monitor = "val_loss" if has_val else "loss"
        from training.callbacks import Reporter

        listeners = keras.callbacks.CallbackList(self.callbacks, model=model, verbose=0, epochs=c.epochs, steps=steps,
                                                 train_size=len(y_train), val_size=len(y_val), monitor=monitor)
        callbacks = [Reporter(self.stop, result, monitor, listeners)]
        if c.patience:
            callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=c.patience))
        start = time.perf_counter()
        model.fit(
            self._pipeline(x_train, y_train, training=True),
            validation_data=self._pipeline(x_val, y_val, training=False) if has_val else None,
            epochs=c.epochs, callbacks=callbacks, verbose=0, shuffle=False,  # the tf.data pipeline shuffles
        )
        result.seconds = time.perf_counter() - start
        if result.stop_reason == "finished" and len(result.history) < c.epochs:
            result.stop_reason = "early-stopping"
        if c.label_smoothing and has_val and result.stop_reason != "nan":
            # smoothing caps the confidence near 1 - smoothing: a temperature fitted on the held-out images undoes it
            result.calibration = calibrate(model, shaped(to_float(x_val), presets.INPUT_SHAPE), y_val)
            if result.calibration:  # the test loss and the saved model's loss: plain cross-entropy, not the smoothed one
                model.compile(optimizer=model.optimizer, loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])
        if self.test_split is not None and result.stop_reason != "nan":
            loss, acc = model.evaluate(self._pipeline(self.test_split.images, self.test_split.labels, False), verbose=0)
            result.test_loss, result.test_accuracy = float(loss), float(acc)
        return result


def result_metadata(result: TrainResult) -> dict:
    """Everything the model store keeps about a trained model."""
    from model_store.describe import base_metadata

    c = result.config
    return {
        **base_metadata(result.model, c.dataset, CLASS_NAMES[c.dataset]),
        "preset": c.preset,
        "source": "convscope-trainer",
        "hyperparameters": c.to_dict(),
        "history": result.history,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stop_reason": result.stop_reason,
        "train_size": result.train_size,
        "test_accuracy": result.test_accuracy,
        "test_loss": result.test_loss,
        "training_seconds": round(result.seconds, 1),
        "calibration": result.calibration,
    }


def check_finite(result: TrainResult) -> None:
    """Refuse a training whose model must never be saved: its loss became NaN or infinite (in a batch, or an
    epoch's training or validation loss: ``Refusal("training_not_finite", epoch=...)``), or its final weights
    hold a NaN or infinite value (``Refusal("training_weights_not_finite", layer=...)``). Returns quietly
    otherwise. A result whose model is not in memory (a training process' file not read yet) is judged by its
    numbers alone."""
    bad_epochs = [h.get("epoch", n + 1) for n, h in enumerate(result.history)
                  if not all(math.isfinite(h[k]) for k in ("loss", "val_loss") if k in h)]
    if result.stop_reason == "nan" or bad_epochs:
        epoch = result.non_finite_epoch or (bad_epochs[0] if bad_epochs else result.epochs_run + 1)
        raise Refusal("training_not_finite", epoch=epoch)
    if result.model is not None:
        for layer in result.model.layers:
            if not all(np.isfinite(np.asarray(weight)).all() for weight in layer.weights):
                raise Refusal("training_weights_not_finite", layer=layer.name)


def save_result(result: TrainResult, store, name: str, meta: dict | None = None):
    """Save a trained model to ``store`` under ``name`` (``meta``: its metadata, ``result_metadata`` by default);
    returns the store entry. Refuses (``check_finite``) a model whose training went NaN: it never ships."""
    check_finite(result)
    return store.save(result.model, meta if meta is not None else result_metadata(result), name)
