"""Changing a model's input resolution: rebuild it and resample its learned position tables."""

import keras
import numpy as np

from keras_vt.layers import PositionEmbedding, resample_positions


def _position_layers(model):
    return {
        layer.embeddings.path: layer
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, PositionEmbedding)
    }


def resize(model, image_size, interpolation="bicubic", antialias=None):
    """A copy of `model` at the input resolution `image_size`, with the same weights.

    The model is rebuilt from its config with the new `image_size`; every weight is copied, except
    learned position tables (`PositionEmbedding`), whose patch-grid entries are resampled to the
    new grid (prefix entries such as the class and distillation tokens' are kept), as DeiT and
    ViT do before fine-tuning at a higher resolution. Models without a learned table (CPVT, CvT)
    are simply rebuilt. `keras_vt.create_model(name, image_size=..., weights=path)` does the same
    from a saved file.

    Args:
        model: a keras_vt model whose config has `image_size` (ViT, DeiT, ...).
        image_size: the new input side (int, or (height, width)); must suit the model (e.g. be
            divisible by its patch size).
        interpolation: "bicubic" (default; DeiT, timm) or "bilinear" (ViT's JAX code). Also
            stored as the new model's `interpolation` when its config has one.
        antialias: widen the kernel when shrinking; default: each table's own setting.

    Returns:
        A new model of the same class; `model` is unchanged.

    Example:

    >>> model = keras_vt.create_model("deit_base_distilled_patch16_224", tiny=True)
    >>> keras_vt.models.resize(model, 64).get_layer("pos_embed").embeddings.shape
    (1, 18, 32)
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"Expected a keras.Model for model, got {type(model).__name__}.")
    try:
        config = model.get_config()
    except NotImplementedError:
        config = None
    if not isinstance(config, dict) or "image_size" not in config:
        raise ValueError(
            f"Cannot resize model {model.name!r} ({type(model).__name__}): expected a keras_vt "
            "model whose get_config() has an `image_size` entry."
        )
    config = dict(config, image_size=image_size)
    if "interpolation" in config:
        config["interpolation"] = interpolation
    resized = model.__class__.from_config(config)

    old_tables = _position_layers(model)
    new_tables = _position_layers(resized)
    old_weights = {w.path: w for w in model.weights}
    for weight in resized.weights:
        source = old_weights.get(weight.path)
        if source is None:
            raise ValueError(
                f"Cannot resize model {model.name!r}: the rebuilt model has a weight "
                f"{weight.path!r} that the original lacks."
            )
        if weight.path in new_tables:
            old_layer, new_layer = old_tables[weight.path], new_tables[weight.path]
            value = resample_positions(
                keras.ops.convert_to_numpy(source),
                new_layer.grid_size,
                old_layer.num_prefix_tokens,
                old_grid=old_layer.grid_size,
                interpolation=interpolation,
                antialias=old_layer.antialias if antialias is None else antialias,
            )
        else:
            value = keras.ops.convert_to_numpy(source)
        if tuple(np.shape(value)) != tuple(weight.shape):
            raise ValueError(
                f"Cannot resize model {model.name!r}: weight {weight.path!r} has shape "
                f"{tuple(np.shape(value))} but the model at image_size={image_size!r} expects "
                f"{tuple(weight.shape)}."
            )
        weight.assign(value)
    return resized
