"""Data augmentation as tf.data transforms (kept outside the model, so saved models stay plain).

Digits get what differs between MNIST and digits people draw in a browser: stroke thickness,
slant (rotation), size (zoom) and position, and some digits redrawn as outlines (bubble letters, which MNIST lacks:
blurred or scanned, their outlines run together into soft strokes no preprocessing can fill in). Fashion gets mirror
images and small shifts.
"""

from __future__ import annotations


def stroke_thickness(images, seed: int):
    """Blend each image towards a 2x2 dilation (thicker) or erosion (thinner) by a random amount."""
    import tensorflow as tf

    thick = tf.nn.max_pool2d(images, 2, 1, "SAME")
    thin = -tf.nn.max_pool2d(-images, 2, 1, "SAME")
    amount = tf.random.uniform((tf.shape(images)[0], 1, 1, 1), -0.6, 1.0, seed=seed)
    target = tf.where(amount >= 0, thick, thin)
    return images + tf.abs(amount) * (target - images)


OUTLINE_SHARE = 0.15  # share of a batch's digits redrawn as outlines


def outlined(images, seed: int, share: float = OUTLINE_SHARE):
    """Redraw a random ``share`` of the digits as the outline of their strokes widened by a pixel each way: two thin
    lines with a gap between them, as a hollow font draws a stroke."""
    import tensorflow as tf

    widened = tf.nn.max_pool2d(images, 3, 1, "SAME")
    inside = -tf.nn.max_pool2d(-widened, 3, 1, "SAME")
    outline = tf.clip_by_value(widened - inside, 0.0, 1.0)
    pick = tf.random.uniform((tf.shape(images)[0], 1, 1, 1), seed=seed + 7) < share
    return tf.where(pick, outline, images)


def digit_augmenter(seed: int = 0, outlines: float = OUTLINE_SHARE):
    """Return ``f(images) -> images`` for float batches (b, SIDE, SIDE, 1) in [0, 1]; ``outlines``: the share of
    digits redrawn as outlines (0: none)."""
    import keras

    L = keras.layers
    geometric = keras.Sequential([
        L.RandomRotation(12 / 360, fill_mode="constant", seed=seed),
        L.RandomZoom((-0.15, 0.15), fill_mode="constant", seed=seed + 1),
        L.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed + 2),
    ], name="digit_augmentation")

    def apply(images):
        if outlines:
            images = outlined(images, seed, outlines)
        return geometric(stroke_thickness(images, seed), training=True)

    return apply


def fashion_augmenter(seed: int = 0):
    import keras

    L = keras.layers
    layers = keras.Sequential([
        L.RandomFlip("horizontal", seed=seed),
        L.RandomTranslation(0.07, 0.07, fill_mode="constant", seed=seed + 1),
    ], name="fashion_augmentation")
    return lambda images: layers(images, training=True)


AUGMENTERS = {"mnist": digit_augmenter, "fashion-mnist": fashion_augmenter}
