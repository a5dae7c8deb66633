"""Shared argument and feature-map checks of the CNN attention layers (channels last)."""

import keras
from keras import ops

from keras_vt.layers.attention import attend


def _check_feature_map(layer, shape, static_spatial=False, why=""):
    shape = tuple(shape)
    if len(shape) != 4:
        raise ValueError(
            f"Invalid input shape for {type(layer).__name__}: input_shape={shape}. Expected rank 4, "
            "(batch, height, width, channels), channels last."
        )
    if shape[-1] is None:
        raise ValueError(
            f"Invalid input shape for {type(layer).__name__}: input_shape={shape}. The channel "
            "dimension must be known."
        )
    if static_spatial and (shape[1] is None or shape[2] is None):
        raise ValueError(
            f"Invalid input shape for {type(layer).__name__}: input_shape={shape}. Expected a "
            f"static height and width{why}."
        )
    return shape


def _dense(units, name, layer, use_bias=True, kernel_initializer="glorot_uniform"):
    return keras.layers.Dense(
        units,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        name=name,
        dtype=layer.dtype_policy,
    )


def _attend_logits(logits, value):
    """Attention with given logits through `attend`: `softmax(logits) @ value`.

    `logits` (batch, heads, queries, keys) enter `attend` as its additive `bias` over zero
    queries and keys of depth 1 (a zero content term), so the softmax is the one in `attend`;
    `value` is (batch, keys, heads, depth). Returns `(outputs, probs)`, outputs
    (batch, queries, heads, depth) and probs (batch, heads, queries, keys), float32.
    """
    batch, heads, queries, keys = (ops.shape(logits)[i] for i in range(4))
    query = ops.zeros((batch, queries, heads, 1), dtype=value.dtype)
    key = ops.zeros((batch, keys, heads, 1), dtype=value.dtype)
    return attend(query, key, value, 1.0, bias=logits, fused=False)
