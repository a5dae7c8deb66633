"""Stand-alone local self-attention (Ramachandran et al., 2019): attention in a k x k window."""

import keras
import numpy as np
from keras import ops

from keras_vt import checks
from keras_vt.layers.attention import attend
from keras_vt.layers.base import Layer
from keras_vt.layers.conv_common import _check_feature_map, _dense
from keras_vt.layers.padding import zero_pad


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
        padding: `"same"` (default: every pixel is a query, neighbours outside the map are
            masked) or `"valid"` (only pixels whose whole window lies inside the map; the output
            shrinks by `k - 1`, and a window larger than the map is an error).
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: `(batch, height, width, channels)` with a static height and width.
        return_attention_scores: also return `(batch, num_heads, height * width, k * k)`
            (queries row-major over the output pixels); the window is flattened row-major,
            offset `(a - i, b - j)` at `(a + p) * k + (b + p)` with `p = k // 2`.

    Example:

    >>> layer = LocalSelfAttention2D(filters=16, kernel_size=3, num_heads=2)
    >>> y, scores = layer(np.random.rand(1, 5, 5, 8).astype("float32"),
    ...                   return_attention_scores=True)
    >>> tuple(y.shape), tuple(scores.shape)
    ((1, 5, 5, 16), (1, 2, 25, 9))
    """

    returns_attention_scores = True
    config_keys = ("filters", "kernel_size", "num_heads", "use_bias", "padding")

    def __init__(
        self, filters, kernel_size=7, num_heads=8, use_bias=False, padding="same", **kwargs
    ):
        super().__init__(**kwargs)
        checks.check_int("filters", filters)
        checks.check_int("kernel_size", kernel_size)
        checks.check_int("num_heads", num_heads)
        if kernel_size % 2 == 0:
            raise checks.invalid("kernel_size", kernel_size, "an odd int")
        if filters % num_heads or (filters // num_heads) % 2:
            raise ValueError(
                f"Invalid filters: filters={filters} with num_heads={num_heads}. Expected a "
                "multiple of num_heads with an even per-head depth (row and column halves)."
            )
        if padding not in ("same", "valid"):
            raise checks.invalid("padding", padding, "'same' or 'valid'")
        self.padding = padding
        self.filters = filters
        self.kernel_size = kernel_size
        self.num_heads = num_heads
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        shape = _check_feature_map(
            self, input_shape, static_spatial=True, why=" for the window mask"
        )
        k, p = self.kernel_size, self.kernel_size // 2
        if self.padding == "valid" and (k > shape[1] or k > shape[2]):
            raise ValueError(
                f"Invalid kernel_size: kernel_size={k} for a {shape[1]}x{shape[2]} feature map "
                "with padding='valid'. Expected a window no larger than the feature map "
                "(or padding='same')."
            )
        self._size = (shape[1], shape[2])
        self._out_size = self._output_size(shape[1], shape[2])
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
        height, width = self._size
        out_h, out_w = self._out_size
        start = 0 if self.padding == "same" else p  # centre of the first window
        rows = (start + np.arange(out_h))[:, None, None, None] + np.arange(k)[None, None, :, None]
        cols = (start + np.arange(out_w))[None, :, None, None] + np.arange(k)[None, None, None, :]
        rows, cols = rows - p, cols - p
        valid = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        self._valid = valid.reshape(out_h * out_w, k * k)

    def _output_size(self, height, width):
        if self.padding == "same":
            return height, width
        return height - self.kernel_size + 1, width - self.kernel_size + 1

    def _windows(self, x):
        """(B, H, W, C) -> (B, H', W', k*k, C): the k x k neighbourhood of each output pixel."""
        k, p = self.kernel_size, self.kernel_size // 2
        out_h, out_w = self._out_size
        if self.padding == "same":
            x = zero_pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
        shifted = [x[:, a : a + out_h, b : b + out_w, :] for a in range(k) for b in range(k)]
        return ops.stack(shifted, axis=3)

    def call(self, inputs, return_attention_scores=False):
        batch = ops.shape(inputs)[0]
        out_h, out_w = self._out_size
        positions = out_h * out_w
        heads, depth = self.num_heads, self.filters // self.num_heads
        kk = self.kernel_size
        window = kk * kk
        q = self.query(inputs)
        if self.padding == "valid":
            p = kk // 2
            q = q[:, p : p + out_h, p : p + out_w, :]
        # Every output pixel is one attention "batch" element with one query and k*k keys.
        q = ops.reshape(q, (batch * positions, 1, heads, depth))
        k = ops.reshape(self._windows(self.key(inputs)), (batch * positions, window, heads, depth))
        v = ops.reshape(
            self._windows(self.value(inputs)), (batch * positions, window, heads, depth)
        )
        # r[a * k + b] = concat(rel_rows[a], rel_cols[b]) for window offset (a - p, b - p).
        rows = ops.repeat(ops.cast(self.rel_rows, q.dtype), kk, axis=0)
        cols = ops.tile(ops.cast(self.rel_cols, q.dtype), (kk, 1))
        rel = ops.concatenate([rows, cols], axis=-1)
        bias = ops.einsum("bqnd,pd->bnqp", q, rel)  # (batch * positions, heads, 1, k * k)
        valid = ops.convert_to_tensor(self._valid[None, :, None, None, :])
        valid = ops.reshape(
            ops.broadcast_to(valid, (batch, positions, 1, 1, window)),
            (batch * positions, 1, 1, window),
        )
        out, scores = attend(q, k, v, 1.0, mask=valid, bias=bias, fused=False)
        outputs = ops.reshape(out, (batch, out_h, out_w, self.filters))
        if not return_attention_scores:
            return outputs
        scores = ops.reshape(scores, (batch, positions, heads, window))
        return outputs, ops.transpose(scores, (0, 2, 1, 3))

    def compute_output_shape(self, input_shape):
        if getattr(self, "_out_size", None) is not None:
            height, width = self._out_size
        elif input_shape[1] is None or input_shape[2] is None:
            height = width = None
        else:
            height, width = self._output_size(input_shape[1], input_shape[2])
        return (input_shape[0], height, width, self.filters)
