"""Changing a model's input resolution: rebuild it and resample its learned position tables."""

import keras
import numpy as np

from keras_vt.layers import PositionEmbedding, checks, resample_positions


def _full_paths(model):
    """{full path: (variable, owning layer)} of every weight of `model`.

    Keras' `variable.path` is `layer/name` without the sub-model it sits in, so the two towers of
    CLIP share many paths (`block0/attention/query/kernel`, ...); the full path prefixes every
    enclosing layer's name (`image_encoder/block0/...`), which is unique.
    """
    found, seen = {}, set()

    def walk(layer, prefix):
        own = list(layer._trainable_variables) + list(layer._non_trainable_variables)
        for variable in own:
            if id(variable) not in seen:  # a shared weight belongs to its first owner
                seen.add(id(variable))
                found[prefix + variable.name] = (variable, layer)
        for child in layer._flatten_layers(include_self=False, recursive=False):
            walk(child, f"{prefix}{child.name}/")

    walk(model, "")
    return found


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
    >>> tuple(keras_vt.models.resize(model, 64).get_layer("pos_embed").embeddings.shape)
    (1, 18, 32)
    """
    if not isinstance(model, keras.Model):
        raise checks.invalid(
            "model", model, "a keras.Model", problem=f"model of type {type(model).__name__}"
        )
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

    old_weights = _full_paths(model)
    for path, (weight, new_layer) in _full_paths(resized).items():
        if path not in old_weights:
            raise ValueError(
                f"Cannot resize model {model.name!r}: the rebuilt model has a weight "
                f"{path!r} that the original lacks."
            )
        source, old_layer = old_weights[path]
        if isinstance(new_layer, PositionEmbedding) and weight is new_layer.embeddings:
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
                f"Cannot resize model {model.name!r}: weight {path!r} has shape "
                f"{tuple(np.shape(value))} but the model at image_size={image_size!r} expects "
                f"{tuple(weight.shape)}."
            )
        weight.assign(value)
    return resized
