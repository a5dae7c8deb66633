"""Attention pooling: a feature map summarised by one query token, as in CLIP's ModifiedResNet."""

import keras
from keras import ops

from keras_vt import checks
from keras_vt.layers.attention import attend
from keras_vt.layers.base import Layer
from keras_vt.layers.position import _as_grid


@keras.saving.register_keras_serializable(package="keras_vt")
class AttentionPool2D(Layer):
    """Multi-head attention pooling of a (batch, height, width, channels) feature map.

    The spatial mean is prepended to the flattened map as a query token, a learned position table
    (grid + 1 entries) is added, and the mean token alone attends over [mean, grid] with separate
    q/k/v projections; an output projection maps to `output_dim`. This is CLIP's
    `AttentionPool2d`, which replaces global average pooling in its ModifiedResNet.

    Like the transformer layers it has a fused path and an explicit path that returns the
    probabilities (batch, heads, 1, 1 + height * width) with `return_attention_scores=True`.

    Args:
        grid_size: (height, width) of the feature map, or an int for a square map.
        num_heads: attention heads; the channel count must be divisible by it.
        output_dim: width of the output (default: the channel count).
        fused: use `keras.ops.dot_product_attention` when no probabilities are asked for.

    Example:

    >>> pool = keras_vt.layers.AttentionPool2D(grid_size=7, num_heads=4, output_dim=32)
    >>> tuple(pool(np.zeros((2, 7, 7, 64))).shape)
    (2, 32)
    """

    returns_attention_scores = True

    config_keys = ("grid_size", "num_heads", "output_dim", "fused")

    def __init__(self, grid_size, num_heads, output_dim=None, fused=True, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = _as_grid(grid_size, "grid_size")
        if int(num_heads) < 1:
            raise checks.invalid("num_heads", num_heads, "num_heads >= 1")
        self.num_heads = int(num_heads)
        self.output_dim = None if output_dim is None else int(output_dim)
        self.fused = bool(fused)

    def build(self, input_shape):
        if len(input_shape) != 4 or tuple(input_shape[1:3]) != self.grid_size:
            raise ValueError(
                f"Expected a feature map of shape (batch, {self.grid_size[0]}, "
                f"{self.grid_size[1]}, channels), got input shape {tuple(input_shape)}."
            )
        dim = input_shape[-1]
        if dim % self.num_heads:
            raise ValueError(f"Channels {dim} are not divisible by num_heads={self.num_heads}.")
        self.head_dim = dim // self.num_heads
        length = self.grid_size[0] * self.grid_size[1] + 1
        self.positions = self.add_weight(
            shape=(length, dim),
            initializer=keras.initializers.RandomNormal(stddev=dim**-0.5),
            name="positions",
        )
        policy = self.dtype_policy
        self.q_proj = keras.layers.Dense(dim, dtype=policy, name="q_proj")
        self.k_proj = keras.layers.Dense(dim, dtype=policy, name="k_proj")
        self.v_proj = keras.layers.Dense(dim, dtype=policy, name="v_proj")
        self.c_proj = keras.layers.Dense(self.output_dim or dim, dtype=policy, name="c_proj")
        for layer in (self.q_proj, self.k_proj, self.v_proj, self.c_proj):
            layer.build((None, dim))

    def call(self, x, return_attention_scores=False):
        batch, dim = ops.shape(x)[0], ops.shape(x)[-1]
        x = ops.reshape(x, (batch, -1, dim))
        x = ops.concatenate([ops.mean(x, axis=1, keepdims=True), x], axis=1)
        x = x + ops.cast(self.positions, x.dtype)[None]
        heads = (self.num_heads, self.head_dim)
        query = ops.reshape(self.q_proj(x[:, :1]), (batch, 1) + heads)
        key = ops.reshape(self.k_proj(x), (batch, -1) + heads)
        value = ops.reshape(self.v_proj(x), (batch, -1) + heads)
        out, probs = attend(
            query,
            key,
            value,
            self.head_dim**-0.5,
            fused=self.fused and not return_attention_scores,
        )
        out = self.c_proj(ops.reshape(out, (batch, self.num_heads * self.head_dim)))
        return (out, probs) if return_attention_scores else out

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim or input_shape[-1])
