"""DeiT's data augmentation from Keras core preprocessing layers, as a `tf.data` pipeline.

DeiT (`main.py`, timm `create_transform` and `Mixup`): random flip, RandAugment (2 ops,
magnitude 9, std 0.5), random erasing (probability 0.25, per-pixel noise), then per batch either
Mixup (alpha 0.8) or CutMix (alpha 1.0), chosen with probability 0.5 each, on targets smoothed by
0.1; and repeated augmentation (each image drawn 3 times per epoch, augmented differently).

Keras preprocessing layers run inside `tf.data` whatever the Keras backend, so the datasets
built here feed `fit` on TensorFlow, JAX and PyTorch. Differences from timm, all because of the
Keras layers: RandAugment draws each op's strength uniformly up to `magnitude / 10` (timm: a
normal around the magnitude); Keras' Mixup and CutMix draw one mixing weight per image (timm's
default: one per batch); DeiT's random-resized crop is left out (the built-in images are small
and centred; add `keras.layers.RandomZoom` for photographs).
"""

import numpy as np

from keras_vt import checks
from keras_vt.preprocessing import normalization_constants


def image_augmenter(magnitude=9, num_ops=2, erasing=0.25, flip=True, seed=None):
    """Per-image augmentation: flip, RandAugment and random erasing, on [0, 1] images.

    Args:
        magnitude: RandAugment magnitude out of 10 (DeiT: 9); 0 disables RandAugment.
        num_ops: RandAugment operations per image (DeiT: 2).
        erasing: probability of random erasing (DeiT: 0.25); 0 disables it.
        flip: random horizontal flip.
        seed: seed of the layers.

    Returns:
        A function `augment(images)` applying the Keras preprocessing layers in turn (layers, not
        a `keras.Sequential`, so that each switches to TensorFlow inside `tf.data` on every
        backend); the layers are in `augment.layers`.

    Example:

    >>> augment = keras_vt.training.augment.image_augmenter()
    >>> tuple(augment(np.random.uniform(size=(4, 32, 32, 3))).shape)
    (4, 32, 32, 3)
    """
    import keras

    if not 0 <= magnitude <= 10:
        raise checks.invalid("magnitude", magnitude, "magnitude in [0, 10]")
    if not 0 <= erasing <= 1:
        raise checks.invalid("erasing", erasing, "erasing in [0, 1]")
    steps = []
    if flip:
        steps.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if magnitude:
        steps.append(
            keras.layers.RandAugment(
                value_range=(0, 1), num_ops=num_ops, factor=magnitude / 10, seed=seed
            )
        )
    if erasing:
        steps.append(
            keras.layers.RandomErasing(factor=(erasing, erasing), value_range=(0, 1), seed=seed)
        )

    def augment(images):
        for layer in steps:
            images = layer(images, training=True)
        return images

    augment.layers = steps
    return augment


def smooth_labels(labels, num_classes, label_smoothing=0.1):
    """One-hot targets with label smoothing: 1 - s + s/C on the label, s/C elsewhere (timm)."""
    import tensorflow as tf

    one_hot = tf.one_hot(tf.cast(labels, "int32"), num_classes)
    return one_hot * (1.0 - label_smoothing) + label_smoothing / num_classes


def batch_mixer(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5, seed=None):
    """A function mixing a batch `(images, soft_targets)`: Mixup or CutMix, per batch.

    With both alphas > 0, CutMix is chosen with probability `switch_prob`, else Mixup; with one
    alpha 0, only the other is used; with both 0 the batch is returned unchanged. For `tf.data`.
    """
    import keras
    import tensorflow as tf

    mixup = keras.layers.MixUp(alpha=mixup_alpha, seed=seed) if mixup_alpha > 0 else None
    cutmix = keras.layers.CutMix(factor=cutmix_alpha, seed=seed) if cutmix_alpha > 0 else None

    def apply(layer, images, targets):
        out = layer({"images": images, "labels": targets}, training=True)
        return tf.cast(out["images"], images.dtype), tf.cast(out["labels"], targets.dtype)

    def mix(images, targets):
        if mixup is None and cutmix is None:
            return images, targets
        if mixup is None:
            return apply(cutmix, images, targets)
        if cutmix is None:
            return apply(mixup, images, targets)
        return tf.cond(
            tf.random.uniform([]) < switch_prob,
            lambda: apply(cutmix, images, targets),
            lambda: apply(mixup, images, targets),
        )

    return mix


def deit_dataset(
    images,
    labels,
    num_classes,
    batch_size=64,
    model=None,
    magnitude=9,
    erasing=0.25,
    mixup_alpha=0.8,
    cutmix_alpha=1.0,
    switch_prob=0.5,
    label_smoothing=0.1,
    repeated_augmentation=1,
    shuffle=True,
    seed=0,
):
    """A training `tf.data.Dataset` with DeiT's augmentation: `(images, soft_targets)` batches.

    Args:
        images: (n, h, w, 3) uint8 images (0-255) or float images in [0, 1].
        labels: (n,) integer class labels.
        num_classes: number of classes (targets are (batch, num_classes) soft one-hot).
        batch_size: images per batch (the last, smaller batch is dropped so Mixup pairs exist).
        model: optional keras_vt model: images are normalised with its constants
            (`model.normalization`); without it they stay in [0, 1].
        magnitude, erasing: see `image_augmenter`.
        mixup_alpha, cutmix_alpha, switch_prob: see `batch_mixer`.
        label_smoothing: smoothing of the one-hot targets before mixing (DeiT: 0.1).
        repeated_augmentation: each image appears this many times per pass, each time augmented
            differently (DeiT: 3). As in DeiT's `RASampler`, an epoch keeps `n` samples, so it
            holds about n / repeats distinct images.
        shuffle: reshuffle every epoch.
        seed: seed of the shuffling and the augmentation layers.

    Returns:
        A `tf.data.Dataset`; train with a categorical cross-entropy from logits (the default of
        `keras_vt.training.Distiller`).

    Example:

    >>> x, y = keras_vt.data.make_shapes(16, image_size=32)
    >>> ds = keras_vt.training.augment.deit_dataset(x, y, num_classes=10, batch_size=8)
    >>> images, targets = next(iter(ds))
    >>> tuple(images.shape), tuple(targets.shape)
    ((8, 32, 32, 3), (8, 10))
    """
    import tensorflow as tf

    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise checks.invalid_shape("images", images.shape, "images of shape (n, h, w, 3)")
    if labels.shape != (len(images),):
        raise checks.invalid_shape(
            "labels", labels.shape, f"labels of shape ({len(images)},) to match the images"
        )
    if not isinstance(repeated_augmentation, int) or repeated_augmentation < 1:
        raise checks.invalid(
            "repeated_augmentation", repeated_augmentation, "repeated_augmentation >= 1"
        )
    if not 0 <= label_smoothing < 1:
        raise checks.invalid("label_smoothing", label_smoothing, "label_smoothing in [0, 1)")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    augment = image_augmenter(magnitude, erasing=erasing, seed=seed)
    mix = batch_mixer(mixup_alpha, cutmix_alpha, switch_prob, seed=seed)
    mean, std = normalization_constants(model) if model is not None else ((0.0,) * 3, (1.0,) * 3)
    mean, std = tf.constant(mean, "float32"), tf.constant(std, "float32")

    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype("int32")))
    if repeated_augmentation > 1:
        ds = ds.flat_map(
            lambda x, y: tf.data.Dataset.from_tensors((x, y)).repeat(repeated_augmentation)
        )
    if shuffle:
        ds = ds.shuffle(
            len(labels) * repeated_augmentation, seed=seed, reshuffle_each_iteration=True
        )
    if repeated_augmentation > 1:
        ds = ds.take(len(labels))

    def per_image(x, y):
        x = tf.cast(x, "float32") / scale
        return augment(x), smooth_labels(y, num_classes, label_smoothing)

    def per_batch(x, y):
        x, y = mix(x, y)
        return (tf.clip_by_value(x, 0.0, 1.0) - mean) / std, y

    ds = ds.map(per_image, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=True).map(
        per_batch, num_parallel_calls=tf.data.AUTOTUNE
    )
    return ds.prefetch(tf.data.AUTOTUNE)
