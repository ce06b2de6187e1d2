"""Architecture presets: the tutorials' models our users know, and our own defaults.

Each builder returns ``keras.Sequential([keras.Input(...), ...])`` with layer names a student
recognises, so ``model.summary()`` and the feature-map pages read like the diagram.
All models take float images in [0, 1] of shape (28, 28, 1) and end in a 10-way softmax.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from model_store.model_input import SIDE

INPUT_SHAPE = (SIDE, SIDE, 1)


@dataclass(frozen=True)
class Preset:
    """A preset's title and description are the pages' to word (``preset.<name>.title`` in the locale files)."""

    name: str
    build: Callable[[], object]
    recommended: dict  # training settings the preset was designed with


def _keras():
    import keras  # lazy: importing TensorFlow costs seconds; pages that never train skip it

    return keras, keras.layers


def tf_tutorial():
    keras, L = _keras()
    return keras.Sequential([
        keras.Input(INPUT_SHAPE, name="image"),
        L.Conv2D(32, 3, activation="relu", name="conv1"),
        L.MaxPooling2D(2, name="pool1"),
        L.Conv2D(64, 3, activation="relu", name="conv2"),
        L.MaxPooling2D(2, name="pool2"),
        L.Conv2D(64, 3, activation="relu", name="conv3"),
        L.Flatten(name="flatten"),
        L.Dense(64, activation="relu", name="dense"),
        L.Dense(10, activation="softmax", name="probabilities"),
    ], name="tf_tutorial")


def book_cnn():
    keras, L = _keras()
    return keras.Sequential([
        keras.Input(INPUT_SHAPE, name="image"),
        L.Conv2D(32, 3, activation="relu", name="conv1"),
        L.Conv2D(64, 3, activation="relu", name="conv2"),
        L.MaxPooling2D(2, name="pool"),
        L.Dropout(0.25, name="dropout1"),
        L.Flatten(name="flatten"),
        L.Dense(128, activation="relu", name="dense"),
        L.Dropout(0.5, name="dropout2"),
        L.Dense(10, activation="softmax", name="probabilities"),
    ], name="book_cnn")


def mlp_baseline():
    keras, L = _keras()
    return keras.Sequential([
        keras.Input(INPUT_SHAPE, name="image"),
        L.Flatten(name="flatten"),
        L.Dense(512, activation="relu", name="dense"),
        L.Dense(10, activation="softmax", name="probabilities"),
    ], name="mlp_baseline")


def kernel4_sigmoid():
    keras, L = _keras()
    return keras.Sequential([
        keras.Input(INPUT_SHAPE, name="image"),
        L.Conv2D(32, 4, activation="relu", name="conv1"),
        L.MaxPooling2D(2, name="pool1"),
        L.Conv2D(64, 4, activation="relu", name="conv2"),
        L.MaxPooling2D(2, name="pool2"),
        L.Conv2D(64, 4, activation="relu", name="conv3"),
        L.Dropout(0.2, name="dropout"),
        L.Flatten(name="flatten"),
        L.Dense(64, activation="sigmoid", name="dense"),
        L.Dense(10, activation="softmax", name="probabilities"),
    ], name="kernel4_sigmoid")


def fashion_same_pad():
    keras, L = _keras()
    return keras.Sequential([
        keras.Input(INPUT_SHAPE, name="image"),
        L.Conv2D(32, 3, padding="same", activation="relu", name="conv1"),
        L.MaxPooling2D(2, name="pool1"),
        L.Conv2D(64, 3, padding="same", activation="relu", name="conv2"),
        L.MaxPooling2D(2, name="pool2"),
        L.Flatten(name="flatten"),
        L.Dense(100, activation="relu", name="dense"),
        L.Dropout(0.4, name="dropout"),
        L.Dense(10, activation="softmax", name="probabilities"),
    ], name="fashion_same_pad")


def _conv_bn(L, filters, name, padding="same", kernel=3, strides=1, bn_momentum=0.99):
    """Conv (no bias) -> BatchNorm -> ReLU, the block all our own presets are made of."""
    return [
        L.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False, name=name),
        L.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn"),
        L.ReLU(name=f"{name}_relu"),
    ]


def convscope_digits():
    """Small VGG-style net with BatchNorm, our digit default: trained with drawing-like augmentation, so that it reads
    digits people draw, not only MNIST's."""
    keras, L = _keras()
    return keras.Sequential([
        keras.Input(INPUT_SHAPE, name="image"),
        *_conv_bn(L, 32, "conv1"),
        *_conv_bn(L, 32, "conv2"),
        L.MaxPooling2D(2, name="pool1"),
        *_conv_bn(L, 64, "conv3"),
        *_conv_bn(L, 64, "conv4"),
        L.MaxPooling2D(2, name="pool2"),
        L.Dropout(0.25, name="dropout1"),
        L.Flatten(name="flatten"),
        L.Dense(256, use_bias=False, name="dense"),
        L.BatchNormalization(name="dense_bn"),
        L.ReLU(name="dense_relu"),
        L.Dropout(0.4, name="dropout2"),
        L.Dense(10, activation="softmax", name="probabilities"),
    ], name="convscope_digits")


def convscope_fashion():
    """VGG-style net, three blocks (32-64-128) with BatchNorm and light dropout for Fashion-MNIST."""
    keras, L = _keras()
    return keras.Sequential([
        keras.Input(INPUT_SHAPE, name="image"),
        *_conv_bn(L, 32, "conv1"),
        *_conv_bn(L, 32, "conv2"),
        L.MaxPooling2D(2, name="pool1"),
        L.Dropout(0.1, name="dropout1"),
        *_conv_bn(L, 64, "conv3"),
        *_conv_bn(L, 64, "conv4"),
        L.MaxPooling2D(2, name="pool2"),
        L.Dropout(0.2, name="dropout2"),
        *_conv_bn(L, 128, "conv5"),
        L.MaxPooling2D(2, name="pool3"),
        L.Flatten(name="flatten"),
        L.Dense(256, use_bias=False, name="dense"),
        L.BatchNormalization(name="dense_bn"),
        L.ReLU(name="dense_relu"),
        L.Dropout(0.4, name="dropout3"),
        L.Dense(10, activation="softmax", name="probabilities"),
    ], name="convscope_fashion")


def convscope_fast():
    """Cheap on a CPU, quick to learn: two conv blocks (5x5, 3x3) with BatchNorm, pooled early, so that a laptop
    without a GPU trains a good digit model in a few epochs (bench/fast_99.py times it)."""
    keras, L = _keras()
    return keras.Sequential([
        keras.Input(INPUT_SHAPE, name="image"),
        *_conv_bn(L, 24, "conv1", kernel=5),
        L.MaxPooling2D(2, name="pool1"),
        *_conv_bn(L, 48, "conv2"),
        L.MaxPooling2D(2, name="pool2"),
        L.Flatten(name="flatten"),
        L.Dense(128, use_bias=False, name="dense"),
        L.BatchNormalization(name="dense_bn"),
        L.ReLU(name="dense_relu"),
        L.Dropout(0.3, name="dropout"),
        L.Dense(10, activation="softmax", name="probabilities"),
    ], name="convscope_fast")


def convscope_speedrun(width: int = 16, first_width: int | None = None, first_kernel: int = 3, bn_momentum: float = 0.9,
                       pooled: bool = False, name: str = "convscope_speedrun"):
    """Built for time to 99% on a CPU: strided convolutions instead of conv + pooling (a quarter of the work per
    layer), and BatchNorm whose running statistics follow a short training: with Keras' momentum 0.99 a one-epoch run
    still carries a tenth of the initial statistics, and its model read 76% of the test set while training mode read
    98%. The first layer (``first_width`` filters, default ``width``) reads one channel, where a CPU's convolution is
    least efficient per filter: 3x3 there costs 14% less CPU time than 5x5, for 0.05 points of accuracy. ``pooled`` and
    the other arguments are the ablation's variants (bench/speedrun.py measures each choice)."""
    keras, L = _keras()
    return keras.Sequential([
        keras.Input(INPUT_SHAPE, name="image"),
        *_conv_bn(L, first_width or width, "conv1", kernel=first_kernel, strides=1 if pooled else 2,
                  bn_momentum=bn_momentum),
        *([L.MaxPooling2D(2, name="pool1")] if pooled else []),
        *_conv_bn(L, 2 * width, "conv2", strides=1 if pooled else 2, bn_momentum=bn_momentum),
        *([L.MaxPooling2D(2, name="pool2")] if pooled else []),
        *_conv_bn(L, 2 * width, "conv3", padding="valid", bn_momentum=bn_momentum),
        L.Flatten(name="flatten"),
        L.Dense(10, activation="softmax", name="probabilities"),
    ], name=name)


def convscope_speedrun_fashion():
    """The speedrun's network with 64-wide middle layers (16 filters reached 91.3% in 8 epochs, 32 92.4% in 6, in the
    same time) and a 24-filter first layer: 10% cheaper per epoch than 32 5x5 filters, which buys a sixth epoch.
    No augmentation: in 6 epochs flips and shifts cost 40% more time and 2 points of accuracy."""
    return convscope_speedrun(width=32, first_width=24, name="convscope_speedrun_fashion")


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("tf-tutorial", tf_tutorial, {"epochs": 5, "batch_size": 32}),
    Preset("book-cnn", book_cnn, {"epochs": 30, "batch_size": 200, "validation_split": 0.25, "patience": 10}),
    Preset("mlp-baseline", mlp_baseline, {"epochs": 30, "batch_size": 200, "validation_split": 0.25, "patience": 10}),
    Preset("kernel4-sigmoid", kernel4_sigmoid, {"epochs": 50, "batch_size": 32}),
    Preset("fashion-same-pad", fashion_same_pad,
           {"epochs": 30, "batch_size": 32, "validation_split": 0.2, "patience": 2}),
    Preset("convscope-digits", convscope_digits,  # these two are the shipped models' recipes (training/defaults.py)
           {"epochs": 14, "batch_size": 128, "learning_rate": 3e-3, "one_cycle": True, "label_smoothing": 0.1,
            "validation_split": 0.05, "augment": True}),
    Preset("convscope-fashion", convscope_fashion,
           {"epochs": 24, "batch_size": 128, "learning_rate": 2e-3, "cosine_decay": True, "validation_split": 0.05,
            "augment": True}),
    Preset("convscope-fast", convscope_fast,
           {"epochs": 3, "batch_size": 128, "learning_rate": 3e-3, "cosine_decay": True, "validation_split": 0.0}),
    Preset("convscope-speedrun", convscope_speedrun,
           {"epochs": 2, "batch_size": 256, "learning_rate": 3e-2, "cosine_decay": False, "validation_split": 0.0,
            "one_cycle": True, "label_smoothing": 0.1, "weight_averaging": 0.0}),
    Preset("convscope-speedrun-fashion", convscope_speedrun_fashion,
           {"epochs": 6, "batch_size": 256, "learning_rate": 1e-2, "cosine_decay": False, "validation_split": 0.0,
            "augment": False, "one_cycle": True, "label_smoothing": 0.1, "weight_averaging": 0.0}),
]}


def build(name: str):
    """Build a fresh, uncompiled model for preset ``name``."""
    try:
        return PRESETS[name].build()
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
