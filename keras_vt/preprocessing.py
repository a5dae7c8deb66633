"""Resizing and normalisation, with each model family's own constants."""

import math

import keras
import numpy as np
from keras import ops

from keras_vt import checks
from keras_vt.layers.patching import check_images

NORMALIZATIONS = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "inception": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
}


def normalization_constants(model):
    """(mean, std) of `model`'s expected inputs, in [0, 1] pixel units."""
    name = getattr(model, "normalization", "imagenet")
    if name not in NORMALIZATIONS:
        raise checks.unknown("normalization", name, sorted(NORMALIZATIONS))
    return NORMALIZATIONS[name]


def _check_value_range(images, value_range):
    """Raises when the pixels held in `images` clearly do not use `value_range`: float images
    already in [0, 1] given with the default (0, 255) (they would become a constant image), or
    pixels above `high`."""
    values = checks._values(images)
    if values is None or values.size == 0:
        return
    low, high = value_range
    peak = float(values.max())
    if high > 1 and np.issubdtype(values.dtype, np.floating) and 0 < peak <= 1:
        raise checks.invalid(
            "value_range",
            tuple(value_range),
            "value_range=(0, 1) for images already in [0, 1]",
            f"value_range={tuple(value_range)} but the images hold values in "
            f"[{float(values.min()):g}, {peak:g}]",
        )
    if peak > high + 1e-3 * (high - low):
        raise checks.invalid(
            "value_range",
            tuple(value_range),
            f"value_range=(0, 255) or the images scaled to [{low}, {high}]",
            f"value_range={tuple(value_range)} but the images hold values up to {peak:g}",
        )


def preprocess(images, model, value_range=(0, 255), interpolation="bicubic"):
    """Resizes `images` to `model.image_size` and normalises them as the model expects.

    Args:
        images: (batch, height, width, 3) array, channels last, with values in `value_range`.
        model: a keras_vt model (its `image_size` and `normalization` are used).
        value_range: the range of the input pixels, (0, 255) for uint8 images or (0, 1).
        interpolation: resize interpolation (CLIP and DeiT use bicubic).

    Example:

    >>> model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True, image_size=224)
    >>> x = keras_vt.preprocess(np.zeros((2, 300, 200, 3), "uint8"), model)
    >>> tuple(x.shape)
    (2, 224, 224, 3)
    """
    if not isinstance(model, keras.Model):
        raise checks.invalid(
            "model",
            model,
            "a keras_vt model (its image_size and normalization are used; build one with "
            "keras_vt.create_model(name))",
        )
    check_images(tuple(images.shape))
    low, high = value_range
    if high <= low:
        raise checks.invalid("value_range", value_range, "(low, high) with high > low")
    _check_value_range(images, value_range)
    x = (ops.cast(images, "float32") - low) / (high - low)
    size = getattr(model, "image_size", None)
    if size is not None:
        size = (size, size) if isinstance(size, int) else tuple(size)
        if tuple(x.shape[1:3]) != size:
            x = ops.image.resize(x, size, interpolation=interpolation, antialias=True)
    mean, std = normalization_constants(model)
    return (x - ops.convert_to_tensor(mean)) / ops.convert_to_tensor(std)


def count_params(model):
    """Trainable parameters, as PyTorch counts them (BatchNorm moving statistics excluded)."""
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))
