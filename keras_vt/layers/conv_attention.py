"""Self-attention for convolutional feature maps (channels last): the road from CNNs to transformers.

Every layer here takes `(batch, height, width, channels)` feature maps, uses `keras.ops` only (so it
runs on TensorFlow, JAX and PyTorch), serialises with `get_config`, and can hand back its attention
probabilities (`return_attention_scores=True`) for inspection. 1x1 convolutions are written as
`Dense` layers on the channel axis, which is the same operation. Softmaxes are taken in float32.

- `NonLocalBlock` (Wang et al., 2018): every position attends to every (pooled) position;
  starts as the identity.
- `DoubleAttention` (A², Chen et al., 2018): gather global descriptors, distribute them back.
- `AttentionAugmentedConv2D` (Bello et al., 2019): a convolution concatenated with multi-head
  self-attention carrying 2-D relative position logits.
- `LocalSelfAttention2D` (Ramachandran et al., 2019): attention inside a k x k window with row and
  column relative embeddings.
- `AxialAttention1D` / `AxialAttention` (Wang et al., 2020): attention along one axis, height then
  width, with optional position-sensitive relative terms.
- `SpatialSoftAttention` / `SpatialHardAttention` (Xu et al., 2015, Show, Attend and Tell): a
  recurrent state scores image locations; soft attention takes the expected context, hard
  attention samples one location (trained with REINFORCE, see `reinforce_loss`), and
  `doubly_stochastic_penalty` encourages every location to be looked at over time.
"""

import keras
import numpy as np
from keras import ops

from keras_vt.layers.base import Layer

_NEG_INF = -1e9


def _check_positive_int(name, value, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        extra = " or None" if allow_none else ""
        raise ValueError(f"Invalid {name}: {name}={value!r}. Expected a positive int{extra}.")


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


def _softmax(logits, axis=-1):
    return ops.softmax(ops.cast(logits, "float32"), axis=axis)


def _relative_index(length):
    """idx[i, j] = j - i + length - 1: the row of a (2 * length - 1)-entry relative table."""
    positions = np.arange(length)
    return (positions[None, :] - positions[:, None] + length - 1).astype("int32")


def _relative_table(table, length):
    """Expands a (2L-1, d) table of offsets to (L, L, d) with entry [i, j] = table[j - i]."""
    index = _relative_index(length).reshape(-1)
    expanded = ops.take(table, ops.convert_to_tensor(index), axis=0)
    return ops.reshape(expanded, (length, length, table.shape[-1]))


def _dense(units, name, layer, use_bias=True, kernel_initializer="glorot_uniform"):
    return keras.layers.Dense(
        units,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        name=name,
        dtype=layer.dtype_policy,
    )


# ----------------------------------------------------------------------------------------------
# Non-local block
# ----------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="keras_vt")
class NonLocalBlock(Layer):
    """Non-local block (Wang et al., 2018), embedded-Gaussian form, as a residual layer.

    `z = x + BN(W · softmax(θ(x) φ(x)ᵀ) g(x))`, where θ, φ and g are 1x1 convolutions to
    `inter_channels` (default half the input channels), φ and g optionally max-pooled 2x2 to cut
    the cost by four, and W is a 1x1 convolution back to the input width. The BatchNorm scale
    starts at 0, so the block starts as the identity and can be inserted into a pretrained network.

    Args:
        inter_channels: width of θ, φ and g; defaults to `channels // 2`.
        sub_sample: max-pool φ and g by 2x2 ("same" padding) before the attention.
        use_batch_norm: BatchNorm (γ = 0) after W. Without it, W's kernel starts at zero instead.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, height, width, channels)`.
        training: BatchNorm mode.
        return_attention_scores: also return `(batch, height * width, keys)` probabilities.

    Example:

    >>> layer = NonLocalBlock()
    >>> x = np.random.rand(2, 8, 8, 16).astype("float32")
    >>> y, scores = layer(x, return_attention_scores=True)
    >>> y.shape, scores.shape          # keys: 4 x 4 pooled positions
    ((2, 8, 8, 16), (2, 64, 16))
    >>> np.allclose(y, x)              # identity at initialisation
    True
    """

    config_keys = ("inter_channels", "sub_sample", "use_batch_norm")

    def __init__(self, inter_channels=None, sub_sample=True, use_batch_norm=True, **kwargs):
        super().__init__(**kwargs)
        _check_positive_int("inter_channels", inter_channels, allow_none=True)
        self.inter_channels = inter_channels
        self.sub_sample = bool(sub_sample)
        self.use_batch_norm = bool(use_batch_norm)

    def build(self, input_shape):
        shape = _check_feature_map(self, input_shape)
        channels = shape[-1]
        inner = self.inter_channels or max(channels // 2, 1)
        self._inner = inner
        self.theta = _dense(inner, "theta", self)
        self.phi = _dense(inner, "phi", self)
        self.g = _dense(inner, "g", self)
        for layer in (self.theta, self.phi, self.g):
            layer.build(shape)
        if self.sub_sample:
            self.pool = keras.layers.MaxPooling2D(
                2, padding="same", name="pool", dtype=self.dtype_policy
            )
        out_init = "glorot_uniform" if self.use_batch_norm else "zeros"
        self.out = _dense(channels, "out", self, kernel_initializer=out_init)
        self.out.build(shape[:-1] + (inner,))
        if self.use_batch_norm:
            self.bn = keras.layers.BatchNormalization(
                epsilon=1e-5,
                momentum=0.9,
                gamma_initializer="zeros",
                name="bn",
                dtype=self.dtype_policy,
            )
            self.bn.build(shape)

    def call(self, inputs, training=None, return_attention_scores=False):
        batch = ops.shape(inputs)[0]
        height, width = ops.shape(inputs)[1], ops.shape(inputs)[2]
        theta = ops.reshape(self.theta(inputs), (batch, -1, self._inner))
        phi, g = self.phi(inputs), self.g(inputs)
        if self.sub_sample:
            phi, g = self.pool(phi), self.pool(g)
        phi = ops.reshape(phi, (batch, -1, self._inner))
        g = ops.reshape(g, (batch, -1, self._inner))
        scores = _softmax(ops.einsum("bqc,bkc->bqk", theta, phi))
        y = ops.einsum("bqk,bkc->bqc", ops.cast(scores, g.dtype), g)
        y = self.out(ops.reshape(y, (batch, height, width, self._inner)))
        if self.use_batch_norm:
            y = self.bn(y, training=training)
        outputs = inputs + y
        return (outputs, scores) if return_attention_scores else outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


# ----------------------------------------------------------------------------------------------
# Double attention (A²)
# ----------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="keras_vt")
class DoubleAttention(Layer):
    """Double attention block, A² (Chen et al., 2018), as a residual layer.

    Step 1, gather: `num_descriptors` attention maps `softmax_positions(B(x))` pool the features
    `A(x)` into global descriptors `G = A(x)ᵀ softmax(B(x))`, shape `(feature_channels,
    num_descriptors)`. Step 2, distribute: every position mixes the descriptors with its own
    weights `softmax_descriptors(V(x))`: `Z = softmax(V(x)) Gᵀ`. A 1x1 convolution maps `Z` back to
    the input width and the result is added to the input. A, B and V are 1x1 convolutions.

    Args:
        feature_channels: width `c_m` of the gathered features; defaults to `channels // 4`.
        num_descriptors: number `c_n` of global descriptors; defaults to `channels // 4`.
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: `(batch, height, width, channels)`.
        return_attention_scores: also return `(gather, distribute)`, both
            `(batch, height * width, num_descriptors)`: `gather` sums to 1 over positions (axis 1),
            `distribute` sums to 1 over descriptors (last axis).

    Example:

    >>> layer = DoubleAttention(feature_channels=8, num_descriptors=4)
    >>> layer(np.random.rand(2, 6, 6, 16).astype("float32")).shape
    (2, 6, 6, 16)
    """

    config_keys = ("feature_channels", "num_descriptors")

    def __init__(self, feature_channels=None, num_descriptors=None, **kwargs):
        super().__init__(**kwargs)
        _check_positive_int("feature_channels", feature_channels, allow_none=True)
        _check_positive_int("num_descriptors", num_descriptors, allow_none=True)
        self.feature_channels = feature_channels
        self.num_descriptors = num_descriptors

    def build(self, input_shape):
        shape = _check_feature_map(self, input_shape)
        channels = shape[-1]
        self._cm = self.feature_channels or max(channels // 4, 1)
        self._cn = self.num_descriptors or max(channels // 4, 1)
        self.features = _dense(self._cm, "features", self)
        self.gather_maps = _dense(self._cn, "gather_maps", self)
        self.distribute_maps = _dense(self._cn, "distribute_maps", self)
        for layer in (self.features, self.gather_maps, self.distribute_maps):
            layer.build(shape)
        self.out = _dense(channels, "out", self)
        self.out.build(shape[:-1] + (self._cm,))

    def call(self, inputs, return_attention_scores=False):
        batch = ops.shape(inputs)[0]
        height, width = ops.shape(inputs)[1], ops.shape(inputs)[2]
        a = ops.reshape(self.features(inputs), (batch, -1, self._cm))
        gather = _softmax(ops.reshape(self.gather_maps(inputs), (batch, -1, self._cn)), axis=1)
        distribute = _softmax(
            ops.reshape(self.distribute_maps(inputs), (batch, -1, self._cn)), axis=-1
        )
        descriptors = ops.einsum("bnm,bnk->bmk", a, ops.cast(gather, a.dtype))
        z = ops.einsum("bmk,bnk->bnm", descriptors, ops.cast(distribute, a.dtype))
        outputs = inputs + self.out(ops.reshape(z, (batch, height, width, self._cm)))
        if return_attention_scores:
            return outputs, (gather, distribute)
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


# ----------------------------------------------------------------------------------------------
# Attention-augmented convolution
# ----------------------------------------------------------------------------------------------


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
    >>> layer(np.random.rand(2, 8, 8, 16).astype("float32")).shape
    (2, 8, 8, 32)
    """

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
        _check_positive_int("filters", filters)
        _check_positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"Invalid kernel_size: kernel_size={kernel_size}. Expected odd.")
        _check_positive_int("num_heads", num_heads)
        key_dim = key_dim if key_dim is not None else num_heads * max(filters // (5 * num_heads), 1)
        value_dim = (
            value_dim if value_dim is not None else num_heads * max(filters // (10 * num_heads), 1)
        )
        _check_positive_int("key_dim", key_dim)
        _check_positive_int("value_dim", value_dim)
        for arg, value in (("key_dim", key_dim), ("value_dim", value_dim)):
            if value % num_heads:
                raise ValueError(
                    f"Invalid {arg}: {arg}={value}. Expected a multiple of num_heads={num_heads}."
                )
        if value_dim > filters:
            raise ValueError(
                f"Invalid value_dim: value_dim={value_dim}. Expected at most filters={filters} "
                "(the attention channels are part of the output channels)."
            )
        if strides not in (1, 2):
            raise ValueError(f"Invalid strides: strides={strides!r}. Expected 1 or 2.")
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

    def _attention(self, x):
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
        logits = ops.einsum("bijnd,bklnd->bnijkl", q, k)
        if self.relative:
            h, w = self._attn_size
            rel_h = _relative_table(ops.cast(self.key_rel_h, q.dtype), h)  # [i, k] -> r[k - i]
            rel_w = _relative_table(ops.cast(self.key_rel_w, q.dtype), w)  # [j, l] -> r[l - j]
            logits_h = ops.einsum("bijnd,ikd->bnijk", q, rel_h)
            logits_w = ops.einsum("bijnd,jld->bnijl", q, rel_w)
            logits = logits + logits_h[..., :, None] + logits_w[..., None, :]
        logits = ops.reshape(logits, (batch, heads, height * width, height * width))
        scores = _softmax(logits)
        out = ops.einsum("bnqk,bknd->bqnd", ops.cast(scores, v.dtype), v)
        out = self.attn_out(ops.reshape(out, (batch, height, width, self.value_dim)))
        return out, scores

    def call(self, inputs, return_attention_scores=False):
        x = inputs
        if self.strides > 1:
            # The paper's strided variant: attend over a 2x2 average-pooled input.
            x = ops.average_pool(inputs, self.strides, strides=self.strides, padding="same")
        attention, scores = self._attention(x)
        outputs = attention
        if self.conv is not None:
            conv_in = inputs
            if self.strides > 1:
                pad = self.kernel_size // 2
                conv_in = ops.pad(inputs, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
            outputs = ops.concatenate([self.conv(conv_in), attention], axis=-1)
        return (outputs, scores) if return_attention_scores else outputs

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        if self.strides > 1:
            height = None if height is None else -(-height // self.strides)
            width = None if width is None else -(-width // self.strides)
        return (batch, height, width, self.filters)


# ----------------------------------------------------------------------------------------------
# Stand-alone local self-attention
# ----------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="keras_vt")
class LocalSelfAttention2D(Layer):
    """Stand-alone local self-attention (Ramachandran et al., 2019), a drop-in for a convolution.

    Each position `(i, j)` attends over its `kernel_size x kernel_size` neighbourhood `(a, b)`:
    `y_ij = Σ_ab softmax_ab(q_ijᵀ k_ab + q_ijᵀ r_{a-i, b-j}) v_ab`, per head, where the relative
    embedding `r_{a-i, b-j}` concatenates a row-offset embedding and a column-offset embedding
    (half the head depth each, shared by the heads). As in the paper's formula the logits are not
    scaled. Neighbours outside the image are masked out (probability 0), so the probabilities over
    the valid window sum to 1. Neighbourhoods are extracted as `kernel_size²` shifted slices of the
    zero-padded keys and values, with `keras.ops` only.

    Args:
        filters: output channels (divisible by `num_heads`, with an even per-head depth).
        kernel_size: odd window size `k` (the paper uses 7).
        num_heads: attention heads (the paper uses 8).
        use_bias: biases in the query, key and value projections.
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: `(batch, height, width, channels)` with a static height and width.
        return_attention_scores: also return `(batch, num_heads, height, width, k * k)`;
            the window is flattened row-major, offset `(a - i, b - j)` at `(a + p) * k + (b + p)`
            with `p = k // 2`.

    Example:

    >>> layer = LocalSelfAttention2D(filters=16, kernel_size=3, num_heads=2)
    >>> y, scores = layer(np.random.rand(1, 5, 5, 8).astype("float32"),
    ...                   return_attention_scores=True)
    >>> y.shape, scores.shape
    ((1, 5, 5, 16), (1, 2, 5, 5, 9))
    """

    config_keys = ("filters", "kernel_size", "num_heads", "use_bias")

    def __init__(self, filters, kernel_size=7, num_heads=8, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        _check_positive_int("filters", filters)
        _check_positive_int("kernel_size", kernel_size)
        _check_positive_int("num_heads", num_heads)
        if kernel_size % 2 == 0:
            raise ValueError(f"Invalid kernel_size: kernel_size={kernel_size}. Expected odd.")
        if filters % num_heads or (filters // num_heads) % 2:
            raise ValueError(
                f"Invalid filters: filters={filters} with num_heads={num_heads}. Expected a "
                "multiple of num_heads with an even per-head depth (row and column halves)."
            )
        self.filters = filters
        self.kernel_size = kernel_size
        self.num_heads = num_heads
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        shape = _check_feature_map(
            self, input_shape, static_spatial=True, why=" for the window mask"
        )
        self._size = (shape[1], shape[2])
        depth = self.filters // self.num_heads
        for name in ("query", "key", "value"):
            layer = _dense(self.filters, name, self, use_bias=self.use_bias)
            layer.build(shape)
            setattr(self, name, layer)
        init = keras.initializers.RandomNormal(stddev=1.0)
        self.rel_rows = self.add_weight(
            name="rel_rows", shape=(self.kernel_size, depth // 2), initializer=init
        )
        self.rel_cols = self.add_weight(
            name="rel_cols", shape=(self.kernel_size, depth // 2), initializer=init
        )
        k, p = self.kernel_size, self.kernel_size // 2
        height, width = self._size
        rows = np.arange(height)[:, None, None, None] + np.arange(k)[None, None, :, None] - p
        cols = np.arange(width)[None, :, None, None] + np.arange(k)[None, None, None, :] - p
        valid = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        self._valid = valid.reshape(height, width, k * k)

    def _windows(self, x):
        """(B, H, W, C) -> (B, H, W, k*k, C): the zero-padded k x k neighbourhood of each pixel."""
        k, p = self.kernel_size, self.kernel_size // 2
        height, width = self._size
        padded = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
        shifted = [padded[:, a : a + height, b : b + width, :] for a in range(k) for b in range(k)]
        return ops.stack(shifted, axis=3)

    def call(self, inputs, return_attention_scores=False):
        batch = ops.shape(inputs)[0]
        height, width = self._size
        heads, depth = self.num_heads, self.filters // self.num_heads
        window = self.kernel_size * self.kernel_size
        q = ops.reshape(self.query(inputs), (batch, height, width, heads, depth))
        k = ops.reshape(
            self._windows(self.key(inputs)), (batch, height, width, window, heads, depth)
        )
        v = ops.reshape(
            self._windows(self.value(inputs)), (batch, height, width, window, heads, depth)
        )
        # r[a * k + b] = concat(rel_rows[a], rel_cols[b]) for window offset (a - p, b - p).
        kk = self.kernel_size
        rows = ops.repeat(ops.cast(self.rel_rows, q.dtype), kk, axis=0)
        cols = ops.tile(ops.cast(self.rel_cols, q.dtype), (kk, 1))
        rel = ops.concatenate([rows, cols], axis=-1)
        logits = ops.einsum("bijnd,bijpnd->bnijp", q, k) + ops.einsum("bijnd,pd->bnijp", q, rel)
        valid = ops.convert_to_tensor(self._valid[None, None])
        logits = ops.where(valid, ops.cast(logits, "float32"), _NEG_INF)
        scores = _softmax(logits)
        out = ops.einsum("bnijp,bijpnd->bijnd", ops.cast(scores, v.dtype), v)
        outputs = ops.reshape(out, (batch, height, width, self.filters))
        return (outputs, scores) if return_attention_scores else outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)


# ----------------------------------------------------------------------------------------------
# Axial attention
# ----------------------------------------------------------------------------------------------

_AXES = {"height": 1, "width": 2}


@keras.saving.register_keras_serializable(package="keras_vt")
class AxialAttention1D(Layer):
    """Multi-head self-attention along one spatial axis (Wang et al., 2020, Axial-DeepLab).

    Every column (`axis="height"`) or row (`axis="width"`) is an independent sequence. With
    `position_sensitive=True` (the paper's position-sensitive self-attention) relative embeddings
    enter the logits through both queries and keys and are added to the values:
    `y_o = Σ_p softmax_p(q_oᵀk_p + q_oᵀ r^q_{p-o} + k_pᵀ r^k_{p-o}) (v_p + r^v_{p-o})`,
    with tables of `2 * length - 1` offsets shared by the heads. Logits are scaled by
    `1/sqrt(key_dim)` (Axial-DeepLab normalises the terms with BatchNorm instead).

    Args:
        axis: `"height"` or `"width"`.
        filters: output channels (divisible by `num_heads`); defaults to the input channels.
        num_heads: attention heads.
        key_dim: per-head query/key depth; defaults to half the per-head value depth (as in
            Axial-DeepLab), at least 1.
        position_sensitive: use the relative terms (needs a static length along `axis`).
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: `(batch, height, width, channels)`.
        return_attention_scores: also return the probabilities, `(batch, width, heads, height,
            height)` for the height axis and `(batch, height, heads, width, width)` for width.

    Example:

    >>> layer = AxialAttention1D(axis="width", num_heads=2)
    >>> layer(np.random.rand(2, 4, 6, 8).astype("float32")).shape
    (2, 4, 6, 8)
    """

    config_keys = ("axis", "filters", "num_heads", "key_dim", "position_sensitive")

    def __init__(
        self,
        axis="height",
        filters=None,
        num_heads=8,
        key_dim=None,
        position_sensitive=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if axis not in _AXES:
            raise ValueError(f"Invalid axis: axis={axis!r}. Expected 'height' or 'width'.")
        _check_positive_int("filters", filters, allow_none=True)
        _check_positive_int("num_heads", num_heads)
        _check_positive_int("key_dim", key_dim, allow_none=True)
        if filters is not None and filters % num_heads:
            raise ValueError(
                f"Invalid filters: filters={filters}. Expected a multiple of num_heads={num_heads}."
            )
        self.axis = axis
        self.filters = filters
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.position_sensitive = bool(position_sensitive)

    def build(self, input_shape):
        shape = _check_feature_map(self, input_shape)
        filters = self.filters or shape[-1]
        if filters % self.num_heads:
            raise ValueError(
                f"Invalid filters: filters={filters} (the input channels). Expected a multiple of "
                f"num_heads={self.num_heads}; pass filters explicitly."
            )
        self._filters = filters
        self._dv = filters // self.num_heads
        self._dk = self.key_dim or max(self._dv // 2, 1)
        self.query = _dense(self.num_heads * self._dk, "query", self, use_bias=False)
        self.key = _dense(self.num_heads * self._dk, "key", self, use_bias=False)
        self.value = _dense(filters, "value", self, use_bias=False)
        for layer in (self.query, self.key, self.value):
            layer.build(shape)
        self._length = shape[_AXES[self.axis]]
        if self.position_sensitive:
            if self._length is None:
                raise ValueError(
                    f"Invalid input shape for AxialAttention1D: input_shape={tuple(shape)}. "
                    f"Expected a static {self.axis} for the position-sensitive tables."
                )
            span = 2 * self._length - 1
            init = keras.initializers.RandomNormal(stddev=1.0)
            self.rel_q = self.add_weight(name="rel_q", shape=(span, self._dk), initializer=init)
            self.rel_k = self.add_weight(name="rel_k", shape=(span, self._dk), initializer=init)
            self.rel_v = self.add_weight(name="rel_v", shape=(span, self._dv), initializer=init)

    def call(self, inputs, return_attention_scores=False):
        x = ops.transpose(inputs, (0, 2, 1, 3)) if self.axis == "height" else inputs
        batch, lines, length = ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[2]
        heads = self.num_heads
        q = ops.reshape(self.query(x), (batch, lines, length, heads, self._dk))
        k = ops.reshape(self.key(x), (batch, lines, length, heads, self._dk))
        v = ops.reshape(self.value(x), (batch, lines, length, heads, self._dv))
        logits = ops.einsum("bmond,bmpnd->bmnop", q, k)
        if self.position_sensitive:
            rel_q = _relative_table(ops.cast(self.rel_q, q.dtype), self._length)  # [o, p]: p - o
            rel_k = _relative_table(ops.cast(self.rel_k, q.dtype), self._length)
            logits = logits + ops.einsum("bmond,opd->bmnop", q, rel_q)
            logits = logits + ops.einsum("bmpnd,opd->bmnop", k, rel_k)
        scores = _softmax(logits * (self._dk**-0.5))
        weights = ops.cast(scores, v.dtype)
        out = ops.einsum("bmnop,bmpnd->bmond", weights, v)
        if self.position_sensitive:
            rel_v = _relative_table(ops.cast(self.rel_v, v.dtype), self._length)
            out = out + ops.einsum("bmnop,opd->bmond", weights, rel_v)
        out = ops.reshape(out, (batch, lines, length, self._filters))
        if self.axis == "height":
            out = ops.transpose(out, (0, 2, 1, 3))
        return (out, scores) if return_attention_scores else out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters or input_shape[-1],)


@keras.saving.register_keras_serializable(package="keras_vt")
class AxialAttention(Layer):
    """Axial attention: height-axis attention followed by width-axis attention (Wang et al., 2020).

    Two `AxialAttention1D` layers; together every position sees the whole image at the cost of
    `O(H·W·(H + W))` instead of `O((H·W)²)`.

    Args:
        filters: output channels; defaults to the input channels.
        num_heads: attention heads of each axial layer.
        key_dim: per-head query/key depth (see `AxialAttention1D`).
        position_sensitive: position-sensitive relative terms in both axial layers.
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: `(batch, height, width, channels)`.
        return_attention_scores: also return `(height_scores, width_scores)`.

    Example:

    >>> layer = AxialAttention(filters=16, num_heads=4)
    >>> layer(np.random.rand(2, 6, 5, 8).astype("float32")).shape
    (2, 6, 5, 16)
    """

    config_keys = ("filters", "num_heads", "key_dim", "position_sensitive")

    def __init__(self, filters=None, num_heads=8, key_dim=None, position_sensitive=True, **kwargs):
        super().__init__(**kwargs)
        common = {
            "filters": filters,
            "num_heads": num_heads,
            "key_dim": key_dim,
            "position_sensitive": position_sensitive,
            "dtype": self.dtype_policy,
        }
        self.height_attention = AxialAttention1D(axis="height", name="height", **common)
        self.width_attention = AxialAttention1D(axis="width", name="width", **common)
        self.filters = filters
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.position_sensitive = bool(position_sensitive)

    def build(self, input_shape):
        shape = _check_feature_map(self, input_shape)
        self.height_attention.build(shape)
        self.width_attention.build(self.height_attention.compute_output_shape(shape))

    def call(self, inputs, return_attention_scores=False):
        x, height_scores = self.height_attention(inputs, return_attention_scores=True)
        x, width_scores = self.width_attention(x, return_attention_scores=True)
        return (x, (height_scores, width_scores)) if return_attention_scores else x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters or input_shape[-1],)


# ----------------------------------------------------------------------------------------------
# Show, Attend and Tell: soft and hard spatial attention
# ----------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="keras_vt")
class SpatialSoftAttention(Layer):
    """Soft spatial attention driven by a recurrent state (Xu et al., 2015, "soft" attention).

    For annotation vectors `a_i` (image locations) and a decoder state `h`:
    `e_i = U · tanh(W a_i + W_h h + b)`, `α = softmax(e)`, and the context is the expectation
    `z = Σ_i α_i a_i` (optionally gated by `β = σ(w_β · h + b_β)`, the paper's §4.2.1).
    Everything is differentiable, so it trains with backpropagation.

    Args:
        units: width of the scoring MLP.
        use_gate: multiply the context by the scalar gate β.
        **kwargs: base `Layer` arguments.

    Call arguments:
        features: `(batch, locations, channels)` or a feature map `(batch, height, width, channels)`.
        hidden: `(batch, hidden_dim)`.

    Returns:
        `(context, alpha)`: `(batch, channels)` and the attention weights, `(batch, locations)` or
        `(batch, height, width)`, summing to 1.

    Example:

    >>> layer = SpatialSoftAttention(units=16)
    >>> context, alpha = layer(np.random.rand(2, 7, 7, 32), np.random.rand(2, 10))
    >>> context.shape, alpha.shape
    ((2, 32), (2, 7, 7))
    """

    config_keys = ("units", "use_gate")

    def __init__(self, units, use_gate=False, **kwargs):
        super().__init__(**kwargs)
        _check_positive_int("units", units)
        self.units = units
        self.use_gate = bool(use_gate)

    def build(self, features_shape, hidden_shape):
        features_shape, hidden_shape = tuple(features_shape), tuple(hidden_shape)
        if len(features_shape) not in (3, 4) or features_shape[-1] is None:
            raise ValueError(
                f"Invalid features shape: features_shape={features_shape}. Expected "
                "(batch, locations, channels) or (batch, height, width, channels)."
            )
        if len(hidden_shape) != 2 or hidden_shape[-1] is None:
            raise ValueError(
                f"Invalid hidden shape: hidden_shape={hidden_shape}. Expected (batch, hidden_dim)."
            )
        self.feature_proj = _dense(self.units, "feature_proj", self, use_bias=True)
        self.feature_proj.build((None, features_shape[-1]))
        self.hidden_proj = _dense(self.units, "hidden_proj", self, use_bias=False)
        self.hidden_proj.build(hidden_shape)
        self.score = _dense(1, "score", self, use_bias=False)
        self.score.build((None, self.units))
        if self.use_gate:
            self.gate = _dense(1, "gate", self)
            self.gate.build(hidden_shape)

    def _alpha(self, features, hidden):
        """Flattened features (B, L, D) and float32 weights (B, L)."""
        flat = ops.reshape(features, (ops.shape(features)[0], -1, ops.shape(features)[-1]))
        energy = ops.tanh(self.feature_proj(flat) + self.hidden_proj(hidden)[:, None, :])
        return flat, _softmax(ops.squeeze(self.score(energy), axis=-1))

    def _finish(self, features, hidden, context, alpha):
        if self.use_gate:
            context = context * ops.sigmoid(self.gate(hidden))
        if len(features.shape) == 4:
            alpha = ops.reshape(alpha, ops.shape(features)[:3])
        return context, alpha

    def call(self, features, hidden):
        flat, alpha = self._alpha(features, hidden)
        context = ops.einsum("bl,bld->bd", ops.cast(alpha, flat.dtype), flat)
        return self._finish(features, hidden, context, alpha)


@keras.saving.register_keras_serializable(package="keras_vt")
class SpatialHardAttention(SpatialSoftAttention):
    """Hard (stochastic) spatial attention (Xu et al., 2015, "hard" attention).

    Scores locations exactly like `SpatialSoftAttention`, then at training time *samples* one
    location `s ~ Categorical(α)` and returns its annotation vector `a_s` as the context; at
    inference it returns the expected context `Σ α_i a_i` (the deterministic approximation the
    paper also uses). The sample is not differentiable: gradients do not reach the scoring MLP
    through the context. Train the scores with REINFORCE, for instance by adding
    `reinforce_loss(alpha, sample, reward, baseline, entropy_weight)` to the loss, with the
    reward the log-likelihood of the caption (or any task reward) and a moving-average baseline.

    Returns:
        `(context, alpha, sample)`: `sample` is a one-hot `(batch, locations)` of the sampled
        location at training time and of the most likely location at inference.

    Example:

    >>> layer = SpatialHardAttention(units=16, seed=0)
    >>> context, alpha, sample = layer(np.random.rand(2, 49, 32), np.random.rand(2, 10),
    ...                                training=True)
    >>> sample.shape   # one-hot location per example
    (2, 49)
    """

    config_keys = SpatialSoftAttention.config_keys + ("seed",)

    def __init__(self, units, use_gate=False, seed=None, **kwargs):
        super().__init__(units, use_gate=use_gate, **kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, features, hidden, training=None):
        flat, alpha = self._alpha(features, hidden)
        locations = ops.shape(alpha)[-1]
        if training:
            index = keras.random.categorical(ops.log(alpha + 1e-12), 1, seed=self.seed_generator)[
                :, 0
            ]
            sample = ops.one_hot(index, locations, dtype="float32")
            context = ops.einsum("bl,bld->bd", ops.cast(sample, flat.dtype), flat)
        else:
            sample = ops.one_hot(ops.argmax(alpha, axis=-1), locations, dtype="float32")
            context = ops.einsum("bl,bld->bd", ops.cast(alpha, flat.dtype), flat)
        context, alpha = self._finish(features, hidden, context, alpha)
        return context, alpha, sample
