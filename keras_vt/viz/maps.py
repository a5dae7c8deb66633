"""Attention probabilities of a model, computed through the explicit attention path."""

import keras
import numpy as np


class _WithAttention(keras.layers.Layer):
    """Calls an attention-bearing layer so that it also returns its probabilities.

    A fresh wrapper per call site keeps each graph node's output structure its own (a shared
    layer reports the output structure of its first call only).
    """

    def __init__(self, layer):
        super().__init__(name=f"{layer.name}_with_attention", dtype=layer.dtype_policy)
        self.inner = layer

    def call(self, *args, **kwargs):
        return self.inner(*args, return_attention_scores=True, **kwargs)


def attention_model(model):
    """A `keras.Model` over `model`'s own layers that returns every attention map.

    The model's graph is re-run with each attention-bearing layer (one whose class sets
    `returns_attention_scores = True`, e.g. `TransformerBlock`) called with
    `return_attention_scores=True`, which takes the explicit softmax path over the same weights.
    The result is cached on the model.
    """
    cached = getattr(model, "_keras_vt_attention_model", None)
    if cached is not None:
        return cached
    maps = []

    def call_function(layer, *args, **kwargs):
        if getattr(layer, "returns_attention_scores", False):
            outputs, probs = _WithAttention(layer)(*args, **kwargs)
            maps.extend(probs if isinstance(probs, (list, tuple)) else [probs])
            return outputs
        return layer(*args, **kwargs)

    try:
        clone = keras.models.clone_model(
            model, clone_function=lambda layer: layer, call_function=call_function
        )
    except ValueError as error:
        raise ValueError(
            f"attention_maps needs a functional keras_vt model; {type(model).__name__} "
            f"could not be re-run layer by layer ({error})."
        ) from error
    if not maps:
        raise ValueError(
            f"Model {model.name!r} ({type(model).__name__}) has no attention layers: "
            "expected a transformer model from keras_vt."
        )
    inspector = keras.Model(clone.input, maps, name=f"{model.name}_attention")
    model._keras_vt_attention_model = inspector
    return inspector


def attention_maps(model, images, batch_size=None):
    """Attention probabilities of every attention layer of `model` for `images`.

    Args:
        model: a keras_vt transformer (ViT, DeiT, CPVT, CvT, a CLIP image tower).
        images: (batch, height, width, 3) preprocessed images.
        batch_size: optional batch size for `predict`; by default one call.

    Returns:
        A list with one numpy array per attention layer, in depth order, each of shape
        (batch, heads, queries, keys), float32, rows summing to 1 over keys.

    Example:

    >>> model = keras_vt.create_model("vit_tiny_patch16_224", image_size=48)
    >>> maps = keras_vt.viz.attention_maps(model, np.zeros((2, 48, 48, 3)))
    >>> len(maps), maps[0].shape
    (12, (2, 3, 10, 10))
    """
    inspector = attention_model(model)
    if batch_size is None:
        outputs = inspector(images, training=False)
    else:
        outputs = inspector.predict(images, batch_size=batch_size, verbose=0)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [np.asarray(keras.ops.convert_to_numpy(o), dtype="float32") for o in outputs]
