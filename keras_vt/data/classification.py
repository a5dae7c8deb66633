"""The labelled shapes classification set: `make_shapes` and its `tf.data` wrapper `shapes_dataset`.

One shape per image on a cluttered background, labelled by class: a small,
learnable-but-not-trivial classification set (rendered by `keras_vt.data.render`).
"""

import numpy as np

from keras_vt import checks
from keras_vt.data.render import (
    CLASS_NAMES,
    _balanced,
    _chunks,
    _composite,
    _coverage,
    _gradient_background,
    _grid,
    _smooth_noise,
    _to_uint8,
)

# --------------------------------------------------------------------------------------------
# Classification set
# --------------------------------------------------------------------------------------------


def make_shapes(num_images, image_size=32, seed=0, num_classes=10, clutter=True):
    """Generates a labelled data set of shape images.

    Each image shows one shape of class `labels[i]` (see `CLASS_NAMES`; the first
    `num_classes` classes are used) at a random position, scale, rotation and colour, with
    anti-aliased edges. With `clutter=True` the background is a random colour gradient with
    low-contrast smooth and per-pixel noise, and a few faint blobs and line segments that are
    not class shapes; with `clutter=False` it is a flat random colour. Classes are exactly
    balanced (up to `num_images % num_classes`) and shuffled. The same arguments always give
    the same arrays.

    Args:
        num_images: number of images, >= 1.
        image_size: height and width in pixels, >= 8.
        seed: non-negative integer seed.
        num_classes: number of classes, between 2 and `len(CLASS_NAMES)`.
        clutter: whether to draw the cluttered background.

    Returns:
        `(images, labels)`: uint8 array `(num_images, image_size, image_size, 3)` and int32
        array `(num_images,)` of class indices into `CLASS_NAMES`.

    Example:

    >>> images, labels = make_shapes(100, image_size=32, seed=0)
    >>> images.shape, images.dtype, labels.dtype
    ((100, 32, 32, 3), dtype('uint8'), dtype('int32'))
    >>> CLASS_NAMES[labels[0]] in CLASS_NAMES
    True
    """
    n = checks.check_int("num_images", num_images)
    size = checks.check_int("image_size", image_size, 8)
    seed = checks.check_int("seed", seed, 0)
    num_classes = checks.check_int("num_classes", num_classes, 2, len(CLASS_NAMES))
    rng = np.random.default_rng(seed)
    f32 = np.float32

    labels = _balanced(rng, n, num_classes)
    scale = rng.uniform(0.35, 0.75, n).astype(f32)
    cx = (rng.uniform(-1.0, 1.0, n) * (1.0 - scale)).astype(f32)
    cy = (rng.uniform(-1.0, 1.0, n) * (1.0 - scale)).astype(f32)
    angle = rng.uniform(0.0, 2 * np.pi, n).astype(f32)
    c0 = rng.uniform(0.0, 1.0, (n, 3)).astype(f32)
    if clutter:
        c1 = np.clip(c0 + rng.normal(0.0, 0.2, (n, 3)), 0.0, 1.0).astype(f32)
    else:
        c1 = c0
    direction = rng.uniform(0.0, 2 * np.pi, n).astype(f32)
    colour = _contrasting_colours(rng, (c0 + c1) / 2)
    if clutter:
        noise_std = rng.uniform(0.01, 0.05, n).astype(f32)
        texture_std = rng.uniform(0.0, 0.06, n).astype(f32)
        blobs = _distractor_params(rng, n, slots=3, radius=(0.04, 0.1))
        lines = _distractor_params(rng, n, slots=2, radius=(0.015, 0.035))

    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for sl in _chunks(n, size):
        m = sl.stop - sl.start
        image = _gradient_background(c0[sl], c1[sl], direction[sl], size)
        if clutter:
            image += texture_std[sl, None, None, None] * _smooth_noise(rng, m, size)
            _draw_blobs(image, blobs, sl, size)
            _draw_lines(image, lines, sl, size)
        alpha = _coverage(labels[sl], cx[sl], cy[sl], scale[sl], angle[sl], size)
        _composite(image, alpha, colour[sl])
        if clutter:
            noise = rng.standard_normal(image.shape, dtype=f32)
            noise *= noise_std[sl, None, None, None]
            image += noise
        images[sl] = _to_uint8(image)
    return images, labels


def _contrasting_colours(rng, background, min_distance=0.5, tries=20):
    """Random colours at least `min_distance` (RGB Euclidean) from each background colour."""
    colour = rng.uniform(0.0, 1.0, background.shape).astype(np.float32)
    for _ in range(tries):
        close = np.linalg.norm(colour - background, axis=1) < min_distance
        if not close.any():
            return colour
        colour[close] = rng.uniform(0.0, 1.0, (int(close.sum()), 3))
    close = np.linalg.norm(colour - background, axis=1) < min_distance
    colour[close] = np.round(1.0 - background[close])
    return colour


def _distractor_params(rng, n, slots, radius):
    """Per image and slot: presence, centre, angle, length, radius, colour and opacity."""
    f32 = np.float32
    return {
        "present": rng.random((slots, n)) < 0.5,
        "x": rng.uniform(-0.9, 0.9, (slots, n)).astype(f32),
        "y": rng.uniform(-0.9, 0.9, (slots, n)).astype(f32),
        "angle": rng.uniform(0.0, np.pi, (slots, n)).astype(f32),
        "length": rng.uniform(0.3, 0.9, (slots, n)).astype(f32),
        "radius": rng.uniform(*radius, (slots, n)).astype(f32),
        "colour": rng.uniform(0.0, 1.0, (slots, n, 3)).astype(f32),
        "opacity": rng.uniform(0.3, 0.7, (slots, n)).astype(f32),
    }


def _draw_blobs(image, params, sl, image_size):
    x, y = _grid(image_size)
    for k in range(params["present"].shape[0]):
        weight = (params["present"][k, sl] * params["opacity"][k, sl])[:, None, None]
        dx = x - params["x"][k, sl, None, None]
        dy = y - params["y"][k, sl, None, None]
        d = np.sqrt(dx * dx + dy * dy) - params["radius"][k, sl, None, None]
        alpha = np.clip(0.5 - d * (image_size / 2.0), 0.0, 1.0) * weight
        _composite(image, alpha, params["colour"][k, sl])


def _draw_lines(image, params, sl, image_size):
    x, y = _grid(image_size)
    for k in range(params["present"].shape[0]):
        weight = (params["present"][k, sl] * params["opacity"][k, sl])[:, None, None]
        ex = (np.cos(params["angle"][k, sl]) * params["length"][k, sl])[:, None, None]
        ey = (np.sin(params["angle"][k, sl]) * params["length"][k, sl])[:, None, None]
        # Segment from (x0, y0) to (x0 + ex, y0 + ey), centred on the slot's centre.
        wx = x - (params["x"][k, sl, None, None] - ex / 2)
        wy = y - (params["y"][k, sl, None, None] - ey / 2)
        t = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        d = np.sqrt((wx - t * ex) ** 2 + (wy - t * ey) ** 2) - params["radius"][k, sl, None, None]
        alpha = np.clip(0.5 - d * (image_size / 2.0), 0.0, 1.0) * weight
        _composite(image, alpha, params["colour"][k, sl])


def shapes_dataset(
    num_images,
    image_size=32,
    seed=0,
    batch_size=32,
    shuffle=True,
    num_classes=10,
    clutter=True,
    drop_remainder=False,
):
    """A batched `tf.data.Dataset` over `make_shapes`.

    Yields `(images, labels)`: images float32 in `[0, 1]`, shape
    `(batch, image_size, image_size, 3)` (model-specific normalisation is the model's
    preprocessing, not the data set's), labels int32 `(batch,)`. The images are generated once,
    in memory. The data set feeds `model.fit` under every Keras backend (tf.data is only the
    input pipeline).

    Args:
        num_images: number of images, >= 1.
        image_size: height and width in pixels, >= 8.
        seed: seed of the images and of the shuffling order.
        batch_size: images per batch, >= 1.
        shuffle: whether to reshuffle the images every epoch.
        num_classes: number of classes, between 2 and `len(CLASS_NAMES)`.
        clutter: whether to draw the cluttered background.
        drop_remainder: whether to drop the last, smaller batch.

    Returns:
        A `tf.data.Dataset`.

    Example:

    >>> ds = shapes_dataset(1000, image_size=32, batch_size=64)
    >>> images, labels = next(iter(ds))
    >>> images.shape, labels.shape
    (TensorShape([64, 32, 32, 3]), TensorShape([64]))
    """
    batch_size = checks.check_int("batch_size", batch_size)
    images, labels = make_shapes(num_images, image_size, seed, num_classes, clutter)
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(_uint8_to_unit, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _uint8_to_unit(images, labels):
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 255.0, labels
