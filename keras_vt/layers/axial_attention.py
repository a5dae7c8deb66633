"""Axial attention (Wang et al., 2020, Axial-DeepLab): attention along height, then width."""

import keras
from keras import ops

from keras_vt import checks
from keras_vt.layers.attention import attend
from keras_vt.layers.base import Layer
from keras_vt.layers.conv_common import _check_feature_map, _dense
from keras_vt.layers.relative_position import _relative_table

_AXES = {"height": 1, "width": 2}


class _AxialLayer(Layer):
    """The arguments and output shape the one-axis and two-axis layers share."""

    returns_attention_scores = True
    config_keys = ("filters", "num_heads", "key_dim", "position_sensitive")

    def __init__(self, filters=None, num_heads=8, key_dim=None, position_sensitive=True, **kwargs):
        super().__init__(**kwargs)
        checks.check_int("filters", filters, allow_none=True)
        checks.check_int("num_heads", num_heads)
        checks.check_int("key_dim", key_dim, allow_none=True)
        if filters is not None and filters % num_heads:
            raise checks.invalid("filters", filters, f"a multiple of num_heads={num_heads}")
        self.filters = filters
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.position_sensitive = bool(position_sensitive)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters or input_shape[-1],)


@keras.saving.register_keras_serializable(package="keras_vt")
class AxialAttention1D(_AxialLayer):
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
        return_attention_scores: also return the probabilities, `(batch, heads, height * width,
            length)`: one row per pixel (row-major), over the `length` positions of its column
            (height axis) or row (width axis).

    Example:

    >>> layer = AxialAttention1D(axis="width", num_heads=2)
    >>> tuple(layer(np.random.rand(2, 4, 6, 8).astype("float32")).shape)
    (2, 4, 6, 8)
    """

    config_keys = ("axis",) + _AxialLayer.config_keys

    def __init__(
        self,
        axis="height",
        filters=None,
        num_heads=8,
        key_dim=None,
        position_sensitive=True,
        **kwargs,
    ):
        super().__init__(filters, num_heads, key_dim, position_sensitive, **kwargs)
        if axis not in _AXES:
            raise checks.invalid("axis", axis, "'height' or 'width'")
        self.axis = axis

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
        # Every line (a column for the height axis, a row for width) is one attention sequence.
        q = ops.reshape(self.query(x), (batch * lines, length, heads, self._dk))
        k = ops.reshape(self.key(x), (batch * lines, length, heads, self._dk))
        v = ops.reshape(self.value(x), (batch * lines, length, heads, self._dv))
        scale = self._dk**-0.5
        bias = None
        if self.position_sensitive:
            rel_q = _relative_table(ops.cast(self.rel_q, q.dtype), self._length)  # [o, p]: p - o
            rel_k = _relative_table(ops.cast(self.rel_k, q.dtype), self._length)
            bias = ops.einsum("bond,opd->bnop", q, rel_q) + ops.einsum("bpnd,opd->bnop", k, rel_k)
            bias = ops.cast(bias, "float32") * scale
        # The fused kernel needs equal query and value depths (JAX); Axial-DeepLab's differ.
        explicit = return_attention_scores or self.position_sensitive or self._dk != self._dv
        out, scores = attend(q, k, v, scale, bias=bias, fused=not explicit)
        if self.position_sensitive:
            rel_v = _relative_table(ops.cast(self.rel_v, v.dtype), self._length)
            out = out + ops.einsum("bnop,opd->bond", ops.cast(scores, v.dtype), rel_v)
        out = ops.reshape(out, (batch, lines, length, self._filters))
        if self.axis == "height":
            out = ops.transpose(out, (0, 2, 1, 3))
        if not return_attention_scores:
            return out
        # (batch, heads, height * width, length), queries row-major over the image.
        scores = ops.reshape(scores, (batch, lines, heads, length, length))
        order = (0, 2, 3, 1, 4) if self.axis == "height" else (0, 2, 1, 3, 4)
        scores = ops.transpose(scores, order)
        return out, ops.reshape(scores, (batch, heads, lines * length, length))


@keras.saving.register_keras_serializable(package="keras_vt")
class AxialAttention(_AxialLayer):
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
    >>> tuple(layer(np.random.rand(2, 6, 5, 8).astype("float32")).shape)
    (2, 6, 5, 16)
    """

    def __init__(self, filters=None, num_heads=8, key_dim=None, position_sensitive=True, **kwargs):
        super().__init__(filters, num_heads, key_dim, position_sensitive, **kwargs)
        common = {
            "filters": filters,
            "num_heads": num_heads,
            "key_dim": key_dim,
            "position_sensitive": position_sensitive,
            "dtype": self.dtype_policy,
        }
        self.height_attention = AxialAttention1D(axis="height", name="height", **common)
        self.width_attention = AxialAttention1D(axis="width", name="width", **common)

    def build(self, input_shape):
        shape = _check_feature_map(self, input_shape)
        self.height_attention.build(shape)
        self.width_attention.build(self.height_attention.compute_output_shape(shape))

    def call(self, inputs, return_attention_scores=False):
        if not return_attention_scores:
            return self.width_attention(self.height_attention(inputs))
        x, height_scores = self.height_attention(inputs, return_attention_scores=True)
        x, width_scores = self.width_attention(x, return_attention_scores=True)
        return x, (height_scores, width_scores)
