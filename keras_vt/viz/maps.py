"""Attention probabilities of a model, computed through the explicit attention path."""

import weakref

import keras
import numpy as np

from keras_vt import checks
from keras_vt.layers.patching import check_images

_INSPECTORS = weakref.WeakKeyDictionary()


class _WithAttention(keras.layers.Layer):
    """Calls an attention-bearing layer so that it also returns its probabilities.

    A fresh wrapper per call site keeps each graph node's output structure its own (a shared
    layer reports the output structure of its first call only).
    """

    def __init__(self, layer):
        super().__init__(name=f"{layer.name}_with_attention", dtype=layer.dtype_policy)
        self.inner = layer
        # The wrapped layer takes its `mask` argument itself (an attention mask).
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, *args, **kwargs):
        return self.inner(*args, return_attention_scores=True, **kwargs)


def attention_model(model):
    """A `keras.Model` over `model`'s own layers returning `[outputs, map_1, ..., map_L]`.

    The model's graph is re-run with each attention-bearing layer (one whose class sets
    `returns_attention_scores = True`, e.g. `TransformerBlock`) called with
    `return_attention_scores=True`, which takes the explicit softmax path over the same weights.
    The inspector shares the model's variables (later weight changes are seen) and is cached
    per model, outside the model's own attributes so that saving the model is unaffected.
    """
    cached = _INSPECTORS.get(model)
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
    # Dict outputs (AV Align: logits and action units) are flattened in sorted key order.
    outputs = keras.tree.flatten(clone.output)
    inspector = keras.Model(clone.input, [*outputs, *maps], name=f"{model.name}_attention")
    inspector._keras_vt_num_outputs = len(outputs)
    _INSPECTORS[model] = inspector
    return inspector


def _to_numpy(x):
    if not isinstance(x, np.ndarray):
        x = keras.ops.convert_to_numpy(x)
    return np.asarray(x, dtype="float32")


def attention_maps(model, images, batch_size=None, return_outputs=False):
    """Attention probabilities of every attention layer of `model` for `images`.

    The graph runs compiled (`predict_on_batch`), over the model's own weights, with each
    attention layer on its explicit path: the maps are the probabilities the model used, with
    no fused kernel hiding them. Rows include every token (class and distillation tokens first).

    Args:
        model: a keras_vt transformer (ViT, DeiT, CPVT, CvT, a CLIP image tower).
        images: (batch, height, width, 3) preprocessed images (see `keras_vt.preprocess`), or
            the model's inputs as a dict / tuple of arrays (MMT, AV Align, captioner), each with
            the same batch size.
        batch_size: run in chunks of this many images (bounds memory: a ViT-B/16 at 224 px
            keeps 12 maps of 12 x 197 x 197 floats per image); by default one batch.
        return_outputs: also return the model's own outputs (logits or features) from the same
            forward pass, as `(outputs, maps)`.

    Returns:
        A list with one numpy array per attention layer, in depth order, each of shape
        (batch, heads, queries, keys), float32, rows summing to 1 over keys; or
        `(outputs, maps)` with `return_outputs=True`.

    Example:

    >>> model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True, image_size=48)
    >>> maps = keras_vt.viz.attention_maps(model, np.zeros((2, 48, 48, 3)))
    >>> len(maps), maps[0].shape
    (2, (2, 2, 10, 10))
    """
    structured = isinstance(images, (dict, list, tuple))
    leaves = keras.tree.flatten(images) if structured else [images]
    if not leaves:
        raise ValueError("Expected inputs for the model, got an empty structure.")
    shape = tuple(leaves[0].shape)
    if not structured:
        check_images(shape)
    batches = {tuple(leaf.shape)[:1] for leaf in leaves}
    if len(batches) != 1:
        raise ValueError(
            "Expected every input to have the same batch size, got batch sizes "
            f"{sorted(b[0] for b in batches)}."
        )
    if shape[0] == 0:
        raise ValueError(f"Expected at least one example, got inputs with shape {shape}.")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise checks.invalid("batch_size", batch_size, "a positive int or None")
    if hasattr(model, "attention_inputs"):  # a model that picks its inspected part (MMT)
        model = model.attention_inputs(images)
    inspector = attention_model(model)
    num_outputs = inspector._keras_vt_num_outputs
    step = shape[0] if batch_size is None else batch_size
    chunks = []
    for start in range(0, shape[0], step):
        chunk = keras.tree.map_structure(lambda x: x[start : start + step], images)
        result = inspector.predict_on_batch(chunk)
        chunks.append([_to_numpy(r) for r in result])
    if len(chunks) == 1:
        result = chunks[0]
    else:
        result = [np.concatenate(parts, axis=0) for parts in zip(*chunks)]
    outputs, maps = result[:num_outputs], result[num_outputs:]
    if not return_outputs:
        return maps
    return (outputs[0] if num_outputs == 1 else outputs), maps
