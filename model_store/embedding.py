"""Where a drawing lands: the model's own view of a few thousand test images, flattened to a 2D map.

The features are what the last Dense layer reads (for our presets: the 256 numbers before the softmax): images the
model finds alike sit close there. A principal-component projection (PCA) puts them on a plane with two fixed axes,
so a new drawing is placed by the same matrix product as the mapped images, exactly and in microseconds, and its
nearest neighbours are searched in the full feature space (the plane hides distances). UMAP (umap-learn 0.5.12) draws
tidier clusters, but on 3,000 digits on our 2 cores it took 22-28 s to fit (after a 28 s import) and 110 ms to place
one drawing (3.4 s the first time), against ~5 s and under 1 ms here, and it would add numba and scikit-learn to the
install.

A map is built once per model file and kept in the store's cache folder (``ModelStore.derived_path``): named by the
model file's content and the images mapped, so a changed model or another test set builds a new one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from model_store.cached_arrays import load_or_compute_arrays
from model_store.model_input import SIDE, shaped, to_float

MAP_SIZE = 3000  # images on the map: enough for every class to show its shape, few enough to draw and to search
NEIGHBOURS = 8
SEED = 0
BATCH = 500  # images per compiled call while building
FORMAT = 1  # bump when the cached arrays change meaning


# ---- features --------------------------------------------------------------------------------------------------------
def last_dense(model):
    """The model's last Dense layer (the classifier), or None."""
    import keras

    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    return dense[-1] if dense else None


def feature_model(model):
    """A model from the input to (what the last Dense layer reads, the probabilities)."""
    import keras

    head = last_dense(model) or model.layers[-1]
    return keras.Model(model.inputs, [head.input, model.outputs[0]])


def as_float_images(images: np.ndarray) -> np.ndarray:
    """uint8 images (as the datasets keep them) or floats in [0, 1] -> float32 in [0, 1]."""
    images = np.asarray(images)
    return to_float(images) if images.dtype == np.uint8 else images.astype(np.float32)


class FeatureReader:
    """A batch of (28, 28) images -> (features, probabilities), in one compiled call: ~2 ms for one drawing of our
    digit model where ``model.predict`` costs ~70 ms; under 1 ms once ``use_litert`` has converted it."""

    def __init__(self, model):
        import tensorflow as tf

        self.input_shape = tuple(model.inputs[0].shape[1:])
        self.probe = feature_model(model)
        probe = self.probe

        @tf.function(input_signature=[tf.TensorSpec((None, *self.input_shape), tf.float32)], reduce_retracing=True)
        def forward(x):
            return probe(x, training=False)

        self._forward = forward
        self.lite = None
        self(np.zeros((1, SIDE, SIDE), np.float32))  # trace now, not on the first drawing

    def use_litert(self, cache: Path | None = None) -> bool:
        """Answer single images through LiteRT from now on, when it converts and matches (model_store/litert.py);
        ``cache`` keeps the conversion for the next start. True when it does."""
        from model_store import litert

        self.lite = litert.build(self.probe, self.input_shape, lambda x: [np.asarray(o) for o in self._forward(x)],
                                 cache=cache)
        return self.lite is not None

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = shaped(as_float_images(images), self.input_shape)
        features, probabilities = self.lite(x[0]) if self.lite is not None and len(x) == 1 else self._forward(x)
        n = len(features)
        return np.asarray(features).reshape(n, -1), np.asarray(probabilities)

    def batched(self, images: np.ndarray, batch: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
        parts = [self(images[start:start + batch]) for start in range(0, len(images), batch)]
        return np.concatenate([f for f, _ in parts]), np.concatenate([p for _, p in parts])


# ---- the map ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EmbeddingMap:
    points: np.ndarray  # (n, 2): each mapped image's place
    labels: np.ndarray  # (n,) its true class
    positions: np.ndarray  # (n,) its position in the images the map was built from
    features: np.ndarray  # (n, d) its features, for the nearest-neighbour search
    mean: np.ndarray  # (d,) the features' mean, subtracted before projecting
    axes: np.ndarray  # (d, 2) the two principal directions
    explained: np.ndarray  # (2,) the share of the features' variance each axis keeps

    def project(self, features: np.ndarray) -> np.ndarray:
        return ((np.asarray(features, np.float32) - self.mean) @ self.axes).astype(np.float32)

    def nearest(self, feature: np.ndarray, k: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` mapped images closest to ``feature`` in feature space: (indices into the map, distances)."""
        feature = np.asarray(feature, np.float32).reshape(-1)
        # einsum, not @: a BLAS call this small wakes its thread pool, which costs ~8 ms on a busy 2-core machine
        squared = self._squared_norms - 2 * np.einsum("ij,j->i", self.features, feature) + feature @ feature
        k = min(k, len(squared))
        nearest = np.argpartition(squared, k - 1)[:k]
        nearest = nearest[np.argsort(squared[nearest], kind="stable")]
        return nearest, np.sqrt(np.maximum(squared[nearest], 0.0))

    @cached_property
    def _squared_norms(self) -> np.ndarray:
        return np.einsum("ij,ij->i", self.features, self.features)

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__} | {"format": np.array(FORMAT)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> EmbeddingMap:
        return cls(**{name: arrays[name] for name in cls.__dataclass_fields__})


def stratified_sample(labels: np.ndarray, size: int = MAP_SIZE, seed: int = SEED) -> np.ndarray:
    """Sorted positions of about ``size`` images, as many of each class as it has up to an equal share."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(labels) <= size:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    share = size // len(classes)
    picks = [rng.choice(members, min(share, len(members)), replace=False)
             for members in (np.flatnonzero(labels == c) for c in classes)]
    return np.sort(np.concatenate(picks))


def principal_axes(features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, the two leading principal directions (d, 2), their shares of the variance). Each axis's sign is fixed
    (its largest loading positive), so a rebuilt map is not mirrored."""
    mean = features.mean(axis=0)
    centred = features - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2].T.copy()
    if axes.shape[1] < 2:  # a single feature: the second axis is flat
        axes = np.pad(axes, ((0, 0), (0, 2 - axes.shape[1])))
        singular = np.pad(singular, (0, 2))
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), [0, 1]])
    axes *= np.where(signs == 0, 1.0, signs)
    variance = singular ** 2
    explained = variance[:2] / variance.sum() if variance.sum() > 0 else np.zeros(2)
    return mean.astype(np.float32), axes.astype(np.float32), explained.astype(np.float32)


def build_map(reader: FeatureReader, images: np.ndarray, labels: np.ndarray, size: int = MAP_SIZE,
              seed: int = SEED) -> EmbeddingMap:
    """Map a stratified sample of ``images`` with the model behind ``reader``."""
    positions = stratified_sample(labels, size, seed)
    features, _ = reader.batched(np.asarray(images)[positions])
    features = features.astype(np.float32)
    mean, axes, explained = principal_axes(features)
    return EmbeddingMap(points=((features - mean) @ axes).astype(np.float32),
                        labels=np.asarray(labels)[positions].astype(np.int64), positions=positions.astype(np.int64),
                        features=features, mean=mean, axes=axes, explained=explained)


def cache_tag(images: np.ndarray, labels: np.ndarray, size: int = MAP_SIZE, seed: int = SEED) -> str:
    """The cache file's name for a map of these images: another test set (the full one instead of the shipped
    sample) or another sample size is another file."""
    digest = hashlib.sha256(f"{FORMAT}-{size}-{seed}".encode())
    digest.update(np.ascontiguousarray(labels).tobytes())
    digest.update(np.ascontiguousarray(images).tobytes())
    return f"embedding-{digest.hexdigest()[:16]}.npz"


# ---- placing a drawing -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Placement:
    point: np.ndarray  # (2,) on the map
    neighbours: np.ndarray  # (k,) indices into the map's points, nearest first
    distances: np.ndarray  # (k,) in feature space
    probabilities: np.ndarray  # (classes,) the model's answer for the drawing


class DrawingMap:
    """One model's map of the test images and the compiled reader that places new drawings on it. Build one per model
    (seconds on first use, then read from ``cache``) and keep it: placing a drawing is one compiled call.
    ``litert``: place single drawings through LiteRT (``litert_cache`` keeps its conversion)."""

    def __init__(self, model, images: np.ndarray, labels: np.ndarray, cache: Path | None = None,
                 size: int = MAP_SIZE, seed: int = SEED, litert: bool = True, litert_cache: Path | None = None):
        self.reader = FeatureReader(model)
        arrays, self.from_cache = load_or_compute_arrays(
            cache, lambda: build_map(self.reader, images, labels, size, seed).as_arrays(),
            valid=lambda arrays: int(arrays["format"]) == FORMAT and arrays["positions"].max() < len(labels))
        self.map = EmbeddingMap.from_arrays(arrays)
        if litert:
            self.reader.use_litert(litert_cache)

    @classmethod
    def in_store(cls, store, model_file: Path, model, images: np.ndarray, labels: np.ndarray, **options) -> DrawingMap:
        """The map of ``model`` (kept in ``store``'s folder as ``model_file``'s derived files)."""
        from model_store import litert

        try:
            cache = store.derived_path(model_file, cache_tag(images, labels, options.get("size", MAP_SIZE),
                                                             options.get("seed", SEED)))
            lite_cache = store.derived_path(model_file, "features-" + litert.cache_tag())
        except OSError:  # the model file went away meanwhile: build without caches
            cache = lite_cache = None
        return cls(model, images, labels, cache=cache, litert_cache=lite_cache, **options)

    def place(self, image: np.ndarray, k: int = NEIGHBOURS) -> Placement:
        features, probabilities = self.reader(np.asarray(image)[None])
        neighbours, distances = self.map.nearest(features[0], k)
        return Placement(self.map.project(features)[0], neighbours, distances, probabilities[0])
