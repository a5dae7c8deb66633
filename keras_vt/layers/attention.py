"""Multi-head self-attention with a fused path and an explicit, inspectable path."""

import keras
from keras import ops

from keras_vt import checks
from keras_vt.layers.base import AttentionLayer


def attend(query, key, value, scale, mask=None, bias=None, dropout=None, training=None, fused=True):
    """Scaled dot-product attention over (batch, tokens, heads, head_dim) inputs.

    With `fused=True` it calls `keras.ops.dot_product_attention` (flash or cuDNN kernels where the
    backend has them) and returns `(outputs, None)`. With `fused=False` it computes the softmax
    explicitly, in float32, and returns `(outputs, probabilities)`, the probabilities of shape
    (batch, heads, queries, keys). Both paths give the same outputs; attention dropout, when
    training, always takes the explicit path.

    Args:
        mask: optional boolean mask broadcastable to (batch, heads, queries, keys); True = attend.
            A (batch, keys) key-padding mask is accepted too (see `attention_mask`).
        bias: optional additive logits broadcastable to (batch, heads, queries, keys), added after
            scaling (relative-position terms); the bias path is always explicit.
        dropout: optional `keras.layers.Dropout` applied to the probabilities.

    Example:

    >>> q = np.random.default_rng(0).normal(size=(2, 5, 3, 4)).astype("float32")
    >>> out, probs = keras_vt.layers.attend(q, q, q, scale=0.5, fused=False)
    >>> tuple(out.shape), tuple(probs.shape)
    ((2, 5, 3, 4), (2, 3, 5, 5))
    """
    mask = attention_mask(mask)
    use_dropout = dropout is not None and dropout.rate > 0 and training
    if fused and not use_dropout and bias is None:
        out = ops.dot_product_attention(query, key, value, mask=mask, scale=scale)
        return out, None
    # Heads-first (batch, heads, tokens, head_dim): both products are plain batched matmuls.
    query, key, value = (ops.transpose(t, (0, 2, 1, 3)) for t in (query, key, value))
    logits = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2)))
    logits = ops.cast(logits, "float32") * scale
    if bias is not None:
        logits = logits + ops.cast(bias, "float32")
    if mask is not None:
        logits = ops.where(mask, logits, ops.full_like(logits, -1e9))
    probs = ops.softmax(logits, axis=-1)
    weights = dropout(probs, training=training) if use_dropout else probs
    out = ops.matmul(ops.cast(weights, value.dtype), value)
    return ops.transpose(out, (0, 2, 1, 3)), probs


def attention_mask(mask):
    """A boolean attention mask broadcastable to (batch, heads, queries, keys).

    A (batch, keys) key-padding mask (True = a real token) becomes (batch, 1, 1, keys); a rank-4
    mask is returned as is; None stays None.
    """
    if mask is None:
        return None
    mask = ops.convert_to_tensor(mask)
    if len(mask.shape) == 2:
        mask = mask[:, None, None, :]
    elif len(mask.shape) != 4:
        raise checks.invalid_shape(
            "mask", mask.shape, "mask of shape (batch, keys) or (batch, heads, queries, keys)"
        )
    return ops.cast(mask, "bool")


def causal_mask(length):
    """Boolean (1, 1, length, length) mask: position i attends to positions <= i."""
    return ops.expand_dims(ops.tril(ops.ones((length, length), dtype="bool")), (0, 1))


def _set_head_options(layer, num_heads, key_dim, use_bias, dropout, scale, fused):
    """The options and the probability dropout that both multi-head layers below take."""
    layer.num_heads = checks.check_int("num_heads", num_heads)
    layer.key_dim = None if key_dim is None else checks.check_int("key_dim", key_dim)
    layer.use_bias = use_bias
    layer.dropout = checks.check_rate("dropout", dropout)
    layer.scale = None if scale is None else checks.check_positive("scale", scale)
    layer.fused = bool(fused)
    layer.attention_dropout = keras.layers.Dropout(layer.dropout, dtype=layer.dtype_policy)


@keras.saving.register_keras_serializable(package="keras_vt")
class MultiHeadSelfAttention(AttentionLayer):
    """Multi-head self-attention over a token sequence, one fused q/k/v projection.

    The same weights serve two paths: the fused path (`keras.ops.dot_product_attention`, the
    default) for speed, and an explicit path that also returns the attention probabilities when
    called with `return_attention_scores=True`. The explicit path is exact, not an approximation:
    the tests hold both paths equal.

    Args:
        num_heads: number of attention heads.
        key_dim: width of each head; defaults to `dim // num_heads`.
        use_bias: bias in the q/k/v and output projections.
        dropout: dropout rate on the attention probabilities.
        scale: logit scale; defaults to `key_dim ** -0.5`.
        causal: mask future positions (text towers).
        fused: use the fused kernel when no probabilities are asked for.

    Example:

    >>> layer = keras_vt.layers.MultiHeadSelfAttention(num_heads=3)
    >>> out, probs = layer(np.zeros((2, 197, 192)), return_attention_scores=True)
    >>> tuple(out.shape), tuple(probs.shape)
    ((2, 197, 192), (2, 3, 197, 197))
    """

    returns_attention_scores = True
    config_keys = ("num_heads", "key_dim", "use_bias", "dropout", "scale", "causal", "fused")

    def __init__(
        self,
        num_heads,
        key_dim=None,
        use_bias=True,
        dropout=0.0,
        scale=None,
        causal=False,
        fused=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _set_head_options(self, num_heads, key_dim, use_bias, dropout, scale, fused)
        self.causal = bool(causal)

    def build(self, input_shape):
        dim = input_shape[-1]
        if self.key_dim is None and dim % self.num_heads:
            raise ValueError(
                f"Width {dim} is not divisible by num_heads={self.num_heads}; "
                f"pass key_dim or a width that is a multiple of num_heads."
            )
        self.head_dim = self.key_dim or dim // self.num_heads
        inner = self.num_heads * self.head_dim
        self.qkv = keras.layers.Dense(
            3 * inner, use_bias=self.use_bias, dtype=self.dtype_policy, name="qkv"
        )
        self.qkv.build(input_shape)
        self.proj = keras.layers.Dense(
            dim, use_bias=self.use_bias, dtype=self.dtype_policy, name="proj"
        )
        self.proj.build(tuple(input_shape[:-1]) + (inner,))

    def call(self, x, mask=None, return_attention_scores=False, training=None):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        qkv = ops.reshape(self.qkv(x), (batch, length, 3, self.num_heads, self.head_dim))
        # One transpose to (3, batch, heads, tokens, head_dim), the layout the attention products
        # run in; the (batch, tokens, heads, head_dim) views handed to `attend` cost nothing more
        # (XLA cancels the transposes), and XLA's CPU attention runs ~1.5x faster than from
        # strided slices of the token-major projection.
        qkv = ops.transpose(qkv, (2, 0, 3, 1, 4))
        query, key, value = (ops.transpose(qkv[i], (0, 2, 1, 3)) for i in range(3))
        mask = attention_mask(mask)
        if self.causal:
            causal = causal_mask(length)
            mask = causal if mask is None else ops.logical_and(mask, causal)
        scale = self.scale if self.scale is not None else self.head_dim**-0.5
        out, probs = attend(
            query,
            key,
            value,
            scale,
            mask=mask,
            dropout=self.attention_dropout,
            training=training,
            fused=self.fused and not return_attention_scores,
        )
        out = self.proj(ops.reshape(out, (batch, length, self.num_heads * self.head_dim)))
        return (out, probs) if return_attention_scores else out


@keras.saving.register_keras_serializable(package="keras_vt")
class MultiHeadCrossAttention(AttentionLayer):
    """Multi-head attention whose queries come from one sequence and keys/values from another.

    Queries are projected from `x` (batch, queries, dim), keys and values from `context`
    (batch, keys, context_dim); `mask` is a (batch, keys) padding mask of `context` (True = real
    token) or a full boolean mask. Same two paths as `MultiHeadSelfAttention`: fused by default,
    explicit (returning probabilities (batch, heads, queries, keys)) when asked for them. AV Align's
    audio-to-video step and decoders' encoder attention use it.

    Args:
        num_heads: number of attention heads.
        key_dim: width of each head; defaults to `dim // num_heads` (dim = width of `x`).
        use_bias: bias in the projections.
        dropout: dropout rate on the attention probabilities.
        scale: logit scale; defaults to `key_dim ** -0.5`.
        fused: use the fused kernel when no probabilities are asked for.

    Example:

    >>> layer = keras_vt.layers.MultiHeadCrossAttention(num_heads=2)
    >>> out, probs = layer(np.zeros((2, 7, 8)), context=np.zeros((2, 5, 6)),
    ...                    return_attention_scores=True)
    >>> tuple(out.shape), tuple(probs.shape)
    ((2, 7, 8), (2, 2, 7, 5))
    """

    returns_attention_scores = True
    config_keys = ("num_heads", "key_dim", "use_bias", "dropout", "scale", "fused")

    def __init__(
        self, num_heads, key_dim=None, use_bias=True, dropout=0.0, scale=None, fused=True, **kwargs
    ):
        super().__init__(**kwargs)
        _set_head_options(self, num_heads, key_dim, use_bias, dropout, scale, fused)

    def build(self, x_shape, context_shape=None):
        input_shape = x_shape
        dim = input_shape[-1]
        if self.key_dim is None and dim % self.num_heads:
            raise ValueError(
                f"Width {dim} is not divisible by num_heads={self.num_heads}; "
                f"pass key_dim or a width that is a multiple of num_heads."
            )
        context_shape = input_shape if context_shape is None else context_shape
        self.head_dim = self.key_dim or dim // self.num_heads
        inner = self.num_heads * self.head_dim
        dense = dict(use_bias=self.use_bias, dtype=self.dtype_policy)
        self.query = keras.layers.Dense(inner, name="query", **dense)
        self.query.build(input_shape)
        self.key = keras.layers.Dense(inner, name="key", **dense)
        self.key.build(context_shape)
        self.value = keras.layers.Dense(inner, name="value", **dense)
        self.value.build(context_shape)
        self.proj = keras.layers.Dense(dim, name="proj", **dense)
        self.proj.build(tuple(input_shape[:-1]) + (inner,))

    def _heads(self, x):
        return ops.reshape(x, (ops.shape(x)[0], ops.shape(x)[1], self.num_heads, self.head_dim))

    def call(self, x, context=None, mask=None, return_attention_scores=False, training=None):
        if context is None:
            raise ValueError(
                "MultiHeadCrossAttention needs context=(batch, keys, width), got None."
            )
        if not self.built:
            self.build(x.shape, context.shape)
        scale = self.scale if self.scale is not None else self.head_dim**-0.5
        out, probs = attend(
            self._heads(self.query(x)),
            self._heads(self.key(context)),
            self._heads(self.value(context)),
            scale,
            mask=mask,
            dropout=self.attention_dropout,
            training=training,
            fused=self.fused and not return_attention_scores,
        )
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        out = self.proj(ops.reshape(out, (batch, length, self.num_heads * self.head_dim)))
        return (out, probs) if return_attention_scores else out

    def compute_output_shape(self, x_shape, context_shape=None):
        return x_shape
