"""CvT's convolutional projection attention and the transformer block built on it."""

import keras
from keras import ops

from keras_vt import checks
from keras_vt.layers.attention import attend
from keras_vt.layers.base import AttentionLayer
from keras_vt.layers.depthwise import DepthwiseConv2D
from keras_vt.layers.padding import zero_pad
from keras_vt.layers.patching import token_grid
from keras_vt.layers.transformer import TransformerBlock

SCALES = ("width", "head")


def _check_scale(scale):
    if isinstance(scale, str):
        if scale not in SCALES:
            raise checks.unknown("scale", scale, SCALES, "or a float")
        return scale
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0:
        raise checks.invalid("scale", scale, "'width', 'head' or a positive float")
    return float(scale)


def folded_batch_norm(kernel, norm, dtype):
    """(kernel, bias) of a depthwise convolution followed by inference-mode BatchNorm `norm`.

    BatchNorm at inference is `(y - mean) / sqrt(var + eps) * gamma + beta`, per channel, so
    `norm(conv(x, kernel)) == conv(x, kernel * s) + (beta - mean * s)` with
    `s = gamma / sqrt(var + eps)`; computed in float32, returned in `dtype` (the convolution's
    compute dtype).
    """
    variance = ops.cast(norm.moving_variance, "float32")
    scale = ops.rsqrt(variance + norm.epsilon)
    if norm.scale:
        scale = scale * ops.cast(norm.gamma, "float32")
    shift = -ops.cast(norm.moving_mean, "float32") * scale
    if norm.center:
        shift = shift + ops.cast(norm.beta, "float32")
    folded = ops.cast(kernel, "float32") * ops.reshape(scale, (1, 1, -1, 1))
    return ops.cast(folded, dtype), ops.cast(shift, dtype)


@keras.saving.register_keras_serializable(package="keras_vt")
class ConvProjectionAttention(AttentionLayer):
    """Multi-head self-attention whose queries, keys and values come from convolutions (CvT).

    The grid tokens are folded onto their 2-D grid; each of q, k and v is a depthwise
    `kernel_size` x `kernel_size` convolution (zero padding `padding`, no bias), BatchNorm,
    flattening, then a linear layer. Queries use stride `query_stride` (1), keys and values
    `kv_stride` (2), so keys and values are down-sampled: with an H x W grid the attention
    probabilities have shape (batch, heads, P + H*W, P + ceil(H/2) * ceil(W/2)) for the default
    kernel 3, padding 1, strides 1/2, where P = `num_prefix_tokens`. The prefix tokens (CvT's
    class token) bypass the convolutions: they are split off, and re-attached in front of the
    convolved q, k and v before the linear layers.

    Like `MultiHeadSelfAttention`, the layer has a fused path and an explicit path (attribute
    `fused`); `call(..., return_attention_scores=True)` takes the explicit path and also returns
    the probabilities.

    Args:
        num_heads: attention heads; the width must be a multiple of it.
        kernel_size: side of the depthwise projection kernels.
        query_stride: stride of the query convolution.
        kv_stride: stride of the key and value convolutions.
        padding: zero padding of the convolutions (default `kernel_size // 2`).
        num_prefix_tokens: leading tokens that bypass the convolutions.
        use_bias: bias of the q/k/v linear layers (CvT: True).
        dropout: dropout on the attention probabilities.
        scale: logit scale. "width" (default) multiplies by `width ** -0.5`, as the official
            CvT code (and Hugging Face's port) does; "head" by `head_dim ** -0.5`, the usual
            scaled dot product that the paper's description implies; or a positive float.
            The two agree when `num_heads == 1`.
        fused: use the fused kernel when no probabilities are asked for.
        batch_norm_epsilon, batch_norm_momentum: of the projection BatchNorms (PyTorch's 1e-5
            and momentum 0.1, i.e. Keras momentum 0.9).

    Call arguments:
        x: tokens (batch, P + H*W, width).
        grid: (H, W), or a (batch, H, W, channels) feature map whose height and width are read.

    Example:

    >>> layer = keras_vt.layers.ConvProjectionAttention(num_heads=2, num_prefix_tokens=1)
    >>> out, probs = layer(np.zeros((2, 1 + 8 * 8, 32)), grid=(8, 8), return_attention_scores=True)
    >>> tuple(out.shape), tuple(probs.shape)
    ((2, 65, 32), (2, 2, 65, 17))
    """

    returns_attention_scores = True

    config_keys = (
        "num_heads",
        "kernel_size",
        "query_stride",
        "kv_stride",
        "padding",
        "num_prefix_tokens",
        "use_bias",
        "dropout",
        "scale",
        "fused",
        "batch_norm_epsilon",
        "batch_norm_momentum",
    )

    def __init__(
        self,
        num_heads,
        kernel_size=3,
        query_stride=1,
        kv_stride=2,
        padding=None,
        num_prefix_tokens=0,
        use_bias=True,
        dropout=0.0,
        scale="width",
        fused=True,
        batch_norm_epsilon=1e-5,
        batch_norm_momentum=0.9,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = checks.check_int("num_heads", num_heads)
        self.kernel_size = checks.check_int("kernel_size", kernel_size)
        self.query_stride = checks.check_int("query_stride", query_stride)
        self.kv_stride = checks.check_int("kv_stride", kv_stride)
        self.padding = self.kernel_size // 2 if padding is None else int(padding)
        self.num_prefix_tokens = checks.check_int("num_prefix_tokens", num_prefix_tokens, 0)
        self.use_bias = bool(use_bias)
        self.dropout = float(dropout)
        self.scale = _check_scale(scale)
        self.fused = bool(fused)
        self.batch_norm_epsilon = float(batch_norm_epsilon)
        self.batch_norm_momentum = float(batch_norm_momentum)
        self.attention_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def build(self, x_shape, grid_shape=None):
        if len(x_shape) != 3:
            raise checks.invalid_shape("tokens", x_shape, "tokens of shape (batch, tokens, width)")
        dim = x_shape[-1]
        if dim % self.num_heads:
            raise ValueError(
                f"Width {dim} is not divisible by num_heads={self.num_heads}: expected a width "
                f"that is a multiple of num_heads."
            )
        self.dim = int(dim)
        self.head_dim = self.dim // self.num_heads
        policy = self.dtype_policy
        map_shape = (None, None, None, self.dim)
        strides = {"query": self.query_stride, "key": self.kv_stride, "value": self.kv_stride}
        for name, stride in strides.items():
            conv = DepthwiseConv2D(
                self.kernel_size,
                strides=stride,
                padding="valid",
                use_bias=False,
                dtype=policy,
                name=f"conv_{name}",
            )
            norm = keras.layers.BatchNormalization(
                epsilon=self.batch_norm_epsilon,
                momentum=self.batch_norm_momentum,
                dtype=policy,
                name=f"bn_{name}",
            )
            linear = keras.layers.Dense(self.dim, use_bias=self.use_bias, dtype=policy, name=name)
            conv.build(map_shape)
            norm.build(map_shape)
            linear.build((None, None, self.dim))
            setattr(self, f"conv_{name}", conv)
            setattr(self, f"bn_{name}", norm)
            setattr(self, name, linear)
        self.proj = keras.layers.Dense(self.dim, dtype=policy, name="proj")
        self.proj.build((None, None, self.dim))

    @property
    def logit_scale(self):
        if self.scale == "width":
            return self.dim**-0.5
        if self.scale == "head":
            return self.head_dim**-0.5
        return self.scale

    def _project(self, name, fmap, prefix, training):
        """Depthwise convolution + BatchNorm of the (padded) map, then the linear layer."""
        conv, norm = getattr(self, f"conv_{name}"), getattr(self, f"bn_{name}")
        if training and norm.trainable:
            fmap = norm(conv(fmap), training=True)
        else:
            # Inference: the BatchNorm is affine, so it is folded into the convolution (one
            # kernel and one add instead of a convolution and BatchNorm's element-wise passes).
            kernel, bias = folded_batch_norm(conv.kernel, norm, conv.compute_dtype)
            fmap = conv.convolve(fmap, kernel, bias)
        batch = ops.shape(fmap)[0]
        tokens = ops.reshape(fmap, (batch, -1, self.dim))
        if prefix is not None:
            tokens = ops.concatenate([prefix, tokens], axis=1)
        tokens = getattr(self, name)(tokens)
        return ops.reshape(tokens, (batch, -1, self.num_heads, self.head_dim))

    def call(self, x, grid, mask=None, return_attention_scores=False, training=None):
        height, width = token_grid(grid)
        batch, length = ops.shape(x)[0], x.shape[1]
        expected = self.num_prefix_tokens + height * width
        if isinstance(expected, int) and length is not None and length != expected:
            raise ValueError(
                f"Layer {self.name!r} got {length} tokens, expected {self.num_prefix_tokens} "
                f"prefix + {height}x{width} grid tokens = {expected}."
            )
        prefix = x[:, : self.num_prefix_tokens] if self.num_prefix_tokens else None
        fmap = ops.reshape(x[:, self.num_prefix_tokens :], (batch, height, width, self.dim))
        p = self.padding
        if p:  # once for q, k and v (PyTorch's symmetric zero padding, whatever the stride)
            fmap = zero_pad(fmap, [[0, 0], [p, p], [p, p], [0, 0]])
        query = self._project("query", fmap, prefix, training)
        key = self._project("key", fmap, prefix, training)
        value = self._project("value", fmap, prefix, training)
        out, probs = attend(
            query,
            key,
            value,
            self.logit_scale,
            mask=mask,
            dropout=self.attention_dropout,
            training=training,
            fused=self.fused and not return_attention_scores,
        )
        out = self.proj(ops.reshape(out, (batch, -1, self.dim)))
        return (out, probs) if return_attention_scores else out


@keras.saving.register_keras_serializable(package="keras_vt")
class ConvTransformerBlock(TransformerBlock):
    """CvT's pre-norm block: x + Attn(LN(x)), then x + MLP(LN(x)), attention by convolutional
    projection (`ConvProjectionAttention`).

    The block reads and writes the token map (batch, H, W, width), so that a functional model
    needs no separate grid argument and runs at any resolution; prefix tokens (CvT's class
    token, stage 3) travel beside it as `prefix` (batch, P, width) and are returned beside it.
    Inside, the block works on the sequence [prefix, flattened map] like any transformer block.
    With `return_attention_scores=True` it returns `(outputs, probs)`, probs of shape
    (batch, heads, P + H*W, P + H'*W'), H' x W' the key grid after the `kv_stride` convolution.

    Args:
        num_heads, kernel_size, query_stride, kv_stride, scale, use_bias: of the attention
            (see `ConvProjectionAttention`).
        mlp_dim: hidden width of the MLP.
        num_prefix_tokens: prefix tokens expected beside the map (0 or 1 in CvT).
        dropout: dropout after the attention and in the MLP.
        attention_dropout: dropout on the attention probabilities.
        drop_path: stochastic-depth rate of both residual branches.
        layer_norm_epsilon: LayerNorm epsilon (CvT: 1e-5).
        activation: MLP activation (CvT's code: "quick_gelu"; Hugging Face's port: "gelu").

    Example:

    >>> block = keras_vt.layers.ConvTransformerBlock(num_heads=2, mlp_dim=64, num_prefix_tokens=1)
    >>> fmap, cls = block(np.zeros((2, 7, 7, 32)), np.zeros((2, 1, 32)))
    >>> tuple(fmap.shape), tuple(cls.shape)
    ((2, 7, 7, 32), (2, 1, 32))
    """

    config_keys = (
        "num_heads",
        "mlp_dim",
        "kernel_size",
        "query_stride",
        "kv_stride",
        "num_prefix_tokens",
        "use_bias",
        "scale",
        "dropout",
        "attention_dropout",
        "drop_path",
        "layer_norm_epsilon",
        "activation",
    )

    def __init__(
        self,
        num_heads,
        mlp_dim,
        kernel_size=3,
        query_stride=1,
        kv_stride=2,
        num_prefix_tokens=0,
        use_bias=True,
        scale="width",
        dropout=0.0,
        attention_dropout=0.0,
        drop_path=0.0,
        layer_norm_epsilon=1e-5,
        activation="quick_gelu",
        **kwargs,
    ):
        self.kernel_size = int(kernel_size)
        self.query_stride = int(query_stride)
        self.kv_stride = int(kv_stride)
        self.num_prefix_tokens = int(num_prefix_tokens)
        self.scale = _check_scale(scale)
        kwargs.pop("norm", None)
        kwargs.pop("attention", None)
        super().__init__(
            num_heads,
            mlp_dim,
            dropout=dropout,
            attention_dropout=attention_dropout,
            drop_path=drop_path,
            layer_norm_epsilon=layer_norm_epsilon,
            activation=activation,
            use_bias=bool(use_bias),
            **kwargs,
        )

    def make_attention(self, attention):
        return ConvProjectionAttention(
            self.num_heads,
            kernel_size=self.kernel_size,
            query_stride=self.query_stride,
            kv_stride=self.kv_stride,
            num_prefix_tokens=self.num_prefix_tokens,
            use_bias=self.use_bias,
            dropout=self.attention_dropout,
            scale=self.scale,
            dtype=self.dtype_policy,
            name="attention",
        )

    def get_config(self):
        config = super().get_config()
        for key in ("key_dim", "causal", "norm"):
            config.pop(key, None)
        return config

    def _check(self, x_shape, prefix_shape):
        if len(x_shape) != 4:
            raise ValueError(
                f"Layer {self.name!r} expects the token map (batch, height, width, width), got "
                f"shape {tuple(x_shape)}."
            )
        if self.num_prefix_tokens and prefix_shape is None:
            raise ValueError(
                f"Layer {self.name!r} has num_prefix_tokens={self.num_prefix_tokens}: pass the "
                "prefix tokens (batch, P, width) as `prefix`."
            )
        if not self.num_prefix_tokens and prefix_shape is not None:
            raise ValueError(
                f"Layer {self.name!r} has num_prefix_tokens=0 but got prefix tokens of shape "
                f"{tuple(prefix_shape)}."
            )
        if prefix_shape is not None and prefix_shape[1] not in (None, self.num_prefix_tokens):
            raise ValueError(
                f"Layer {self.name!r} expects {self.num_prefix_tokens} prefix tokens, got prefix "
                f"of shape {tuple(prefix_shape)}."
            )

    def build(self, x_shape, prefix_shape=None):
        self._check(x_shape, prefix_shape)
        super().build((None, None, x_shape[-1]))

    def call(self, x, prefix=None, return_attention_scores=False, training=None):
        self._check(tuple(x.shape), None if prefix is None else tuple(prefix.shape))
        batch, height, width = ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[2]
        dim = x.shape[-1]
        tokens = ops.reshape(x, (batch, height * width, dim))
        if prefix is not None:
            tokens = ops.concatenate([ops.cast(prefix, tokens.dtype), tokens], axis=1)
        tokens = super().call(
            tokens,
            grid=(height, width),
            return_attention_scores=return_attention_scores,
            training=training,
        )
        tokens, probs = tokens if return_attention_scores else (tokens, None)
        p = self.num_prefix_tokens
        fmap = ops.reshape(tokens[:, p:], (batch, height, width, dim))
        outputs = (fmap, tokens[:, :p]) if p else fmap
        return (outputs, probs) if return_attention_scores else outputs

    def compute_output_shape(self, x_shape, prefix_shape=None):
        self._check(x_shape, prefix_shape)
        if prefix_shape is None:
            return tuple(x_shape)
        return (tuple(x_shape), tuple(prefix_shape))
