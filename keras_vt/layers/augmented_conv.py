"""Attention-augmented convolution (Bello et al., 2019): a convolution beside self-attention."""

import keras
from keras import ops

from keras_vt import checks
from keras_vt.layers.attention import attend
from keras_vt.layers.base import Layer
from keras_vt.layers.conv_common import _check_feature_map, _dense
from keras_vt.layers.padding import zero_pad
from keras_vt.layers.relative_position import _relative_table


@keras.saving.register_keras_serializable(package="keras_vt")
class AttentionAugmentedConv2D(Layer):
    """Attention-augmented convolution (Bello et al., 2019).

    `output = concat(conv(x), MHA(x))`: a `filters - value_dim` channel convolution next to
    `value_dim` channels of multi-head self-attention over all positions. Queries, keys and values
    come from one 1x1 convolution (`2 * key_dim + value_dim` channels); queries are scaled by
    `1/sqrt(key_dim / num_heads)`; the heads are merged by a 1x1 convolution. With `relative=True`
    the logit between query `(i, j)` and key `(k, l)` gains `q · r^H[k - i] + q · r^W[l - j]`,
    from separate height and width tables of `2 * size - 1` offsets (shared by the heads), which
    makes the attention translation-equivariant. With `strides=2` the convolution is strided and
    the attention runs on a 2x2 average-pooled input, as in the paper.

    Args:
        filters: output channels (conv + attention).
        kernel_size: convolution kernel size (odd).
        key_dim: total query/key depth `d_k` over all heads (divisible by `num_heads`).
        value_dim: total attention output depth `d_v` (divisible by `num_heads`, <= `filters`).
        num_heads: number of heads.
        relative: add the 2-D relative position logits (needs a static height and width).
        strides: 1 or 2.
        use_bias: biases in the convolution and the attention projections.
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: `(batch, height, width, channels)`.
        return_attention_scores: also return `(batch, num_heads, positions, positions)`.

    Example:

    >>> layer = AttentionAugmentedConv2D(filters=32, kernel_size=3, key_dim=16, value_dim=8,
    ...                                  num_heads=4)
    >>> tuple(layer(np.random.rand(2, 8, 8, 16).astype("float32")).shape)
    (2, 8, 8, 32)
    """

    returns_attention_scores = True
    config_keys = (
        "filters",
        "kernel_size",
        "key_dim",
        "value_dim",
        "num_heads",
        "relative",
        "strides",
        "use_bias",
    )

    def __init__(
        self,
        filters,
        kernel_size=3,
        key_dim=None,
        value_dim=None,
        num_heads=8,
        relative=True,
        strides=1,
        use_bias=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        checks.check_int("filters", filters)
        checks.check_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise checks.invalid("kernel_size", kernel_size, "an odd int")
        checks.check_int("num_heads", num_heads)
        key_dim = key_dim if key_dim is not None else num_heads * max(filters // (5 * num_heads), 1)
        value_dim = (
            value_dim if value_dim is not None else num_heads * max(filters // (10 * num_heads), 1)
        )
        checks.check_int("key_dim", key_dim)
        checks.check_int("value_dim", value_dim)
        for arg, value in (("key_dim", key_dim), ("value_dim", value_dim)):
            if value % num_heads:
                raise checks.invalid(arg, value, f"a multiple of num_heads={num_heads}")
        if value_dim > filters:
            raise checks.invalid(
                "value_dim",
                value_dim,
                f"at most filters={filters} (the attention channels are part of the output channels)",
            )
        if strides not in (1, 2):
            raise checks.invalid("strides", strides, "1 or 2")
        self.filters = filters
        self.kernel_size = kernel_size
        self.key_dim = key_dim
        self.value_dim = value_dim
        self.num_heads = num_heads
        self.relative = bool(relative)
        self.strides = strides
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        shape = _check_feature_map(
            self, input_shape, static_spatial=self.relative, why=" for the relative position tables"
        )
        channels = shape[-1]
        conv_filters = self.filters - self.value_dim
        self.conv = None
        if conv_filters > 0:
            self.conv = keras.layers.Conv2D(
                conv_filters,
                self.kernel_size,
                strides=self.strides,
                padding="valid" if self.strides > 1 else "same",
                use_bias=self.use_bias,
                name="conv",
                dtype=self.dtype_policy,
            )
            pad = self.kernel_size // 2 if self.strides > 1 else 0
            padded = tuple(None if d is None else d + 2 * pad for d in shape[1:3])
            self.conv.build((shape[0],) + padded + (channels,))
        height, width = shape[1], shape[2]
        if self.strides > 1:
            height = None if height is None else -(-height // self.strides)
            width = None if width is None else -(-width // self.strides)
        self._attn_size = (height, width)
        self.qkv = _dense(2 * self.key_dim + self.value_dim, "qkv", self, use_bias=self.use_bias)
        self.qkv.build((shape[0], height, width, channels))
        self.attn_out = _dense(self.value_dim, "attn_out", self, use_bias=self.use_bias)
        self.attn_out.build((shape[0], height, width, self.value_dim))
        if self.relative:
            depth = self.key_dim // self.num_heads
            init = keras.initializers.RandomNormal(stddev=depth**-0.5)
            self.key_rel_h = self.add_weight(
                name="key_rel_h", shape=(2 * height - 1, depth), initializer=init
            )
            self.key_rel_w = self.add_weight(
                name="key_rel_w", shape=(2 * width - 1, depth), initializer=init
            )

    def _attention(self, x, return_attention_scores=False):
        batch = ops.shape(x)[0]
        height, width = ops.shape(x)[1], ops.shape(x)[2]
        heads, dkh = self.num_heads, self.key_dim // self.num_heads
        dvh = self.value_dim // heads
        qkv = self.qkv(x)
        q = qkv[..., : self.key_dim]
        k = qkv[..., self.key_dim : 2 * self.key_dim]
        v = qkv[..., 2 * self.key_dim :]
        q = ops.reshape(q, (batch, height, width, heads, dkh)) * ops.cast(dkh**-0.5, q.dtype)
        k = ops.reshape(k, (batch, height, width, heads, dkh))
        v = ops.reshape(v, (batch, -1, heads, dvh))
        bias = None
        if self.relative:
            h, w = self._attn_size
            rel_h = _relative_table(ops.cast(self.key_rel_h, q.dtype), h)  # [i, k] -> r[k - i]
            rel_w = _relative_table(ops.cast(self.key_rel_w, q.dtype), w)  # [j, l] -> r[l - j]
            logits_h = ops.einsum("bijnd,ikd->bnijk", q, rel_h)
            logits_w = ops.einsum("bijnd,jld->bnijl", q, rel_w)
            bias = logits_h[..., :, None] + logits_w[..., None, :]
            bias = ops.reshape(bias, (batch, heads, height * width, height * width))
        # Queries are already scaled by 1/sqrt(d_k / heads), so the core's scale is 1.
        out, scores = attend(
            ops.reshape(q, (batch, -1, heads, dkh)),
            ops.reshape(k, (batch, -1, heads, dkh)),
            v,
            1.0,
            bias=bias,
            # The fused kernel needs equal query and value depths per head (JAX).
            fused=not return_attention_scores and dkh == dvh,
        )
        out = self.attn_out(ops.reshape(out, (batch, height, width, self.value_dim)))
        return out, scores

    def call(self, inputs, return_attention_scores=False):
        x = inputs
        if self.strides > 1:
            # The paper's strided variant: attend over a 2x2 average-pooled input.
            x = ops.average_pool(inputs, self.strides, strides=self.strides, padding="same")
        attention, scores = self._attention(x, return_attention_scores)
        outputs = attention
        if self.conv is not None:
            conv_in = inputs
            if self.strides > 1:
                pad = self.kernel_size // 2
                conv_in = zero_pad(inputs, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
            outputs = ops.concatenate([self.conv(conv_in), attention], axis=-1)
        return (outputs, scores) if return_attention_scores else outputs

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        if self.strides > 1:
            height = None if height is None else -(-height // self.strides)
            width = None if width is None else -(-width // self.strides)
        return (batch, height, width, self.filters)
