"""The transformer block (pre- or post-norm, self- or cross-attention) and its parts: MLP and
stochastic depth."""

import keras
from keras import ops

from keras_vt import checks
from keras_vt.layers.attention import MultiHeadCrossAttention, MultiHeadSelfAttention
from keras_vt.layers.base import AttentionLayer, Layer


def quick_gelu(x):
    """x * sigmoid(1.702 x), the GELU approximation of CLIP and CvT."""
    return x * ops.sigmoid(1.702 * x)


ACTIVATIONS = {
    "gelu": lambda x: keras.activations.gelu(x, approximate=False),
    "gelu_tanh": lambda x: keras.activations.gelu(x, approximate=True),
    "quick_gelu": quick_gelu,
    "relu": keras.activations.relu,
}


def get_activation(name):
    if name not in ACTIVATIONS:
        raise checks.unknown("activation", name, sorted(ACTIVATIONS))
    return ACTIVATIONS[name]


@keras.saving.register_keras_serializable(package="keras_vt")
class DropPath(Layer):
    """Stochastic depth: drops the whole residual branch per sample with probability `rate`.

    Kept samples are scaled by 1 / (1 - rate); at inference the layer is the identity.

    Example:

    >>> layer = keras_vt.layers.DropPath(0.1)
    >>> tuple(layer(np.ones((4, 10, 8)), training=True).shape)
    (4, 10, 8)
    """

    config_keys = ("rate", "seed")

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = checks.check_rate("rate", rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if self.rate > 0 else None
        # No weights: built from the start, so that a block that skips it (rate 0) still leaves a
        # model that `Model.quantize` accepts (it refuses any unbuilt layer).
        self.built = True

    def call(self, x, training=None):
        if not training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        mask = keras.random.uniform(shape, seed=self.seed_generator, dtype=x.dtype) < keep
        return ops.where(mask, x / keep, ops.zeros_like(x))

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="keras_vt")
class MLP(Layer):
    """Two-layer feed-forward network: Dense(hidden_dim) -> activation -> Dense(output_dim).

    Example:

    >>> tuple(keras_vt.layers.MLP(768)(np.zeros((2, 197, 192))).shape)
    (2, 197, 192)
    """

    config_keys = ("hidden_dim", "output_dim", "activation", "dropout")

    def __init__(self, hidden_dim, output_dim=None, activation="gelu", dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = checks.check_int("hidden_dim", hidden_dim)
        self.output_dim = None if output_dim is None else checks.check_int("output_dim", output_dim)
        checks.check_rate("dropout", dropout)
        self.activation = activation
        self.activation_fn = get_activation(activation)
        self.dropout = float(dropout)
        # The activation is fc1's own (the same arithmetic as applying it after fc1), so that a
        # fused int8 kernel (`keras_vt.precision.compile_int8_dense`) can take it in its last pass.
        self.fc1 = keras.layers.Dense(
            self.hidden_dim, activation=self.activation_fn, dtype=self.dtype_policy, name="fc1"
        )
        self.drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        self.fc1.build(input_shape)
        self.fc2 = keras.layers.Dense(
            self.output_dim or input_shape[-1], dtype=self.dtype_policy, name="fc2"
        )
        self.fc2.build(tuple(input_shape[:-1]) + (self.hidden_dim,))

    def call(self, x, training=None):
        x = self.drop(self.fc1(x), training=training)
        return self.drop(self.fc2(x), training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim or input_shape[-1],)


NORMS = ("pre", "post")


@keras.saving.register_keras_serializable(package="keras_vt")
class TransformerBlock(AttentionLayer):
    """The transformer encoder block; it takes its attention layer and its norm placement.

    `norm="pre"` (ViT, CLIP, CvT, AV Align): x + A(LN(x)), then x + MLP(LN(x)).
    `norm="post"` (BERT, MMT): LN(x + A(x)), then LN(x + MLP(x)). Both with stochastic depth.
    The attention is `MultiHeadSelfAttention` by default, `MultiHeadCrossAttention` with
    `attention="cross"` (queries from `x`, keys/values from `context`, a key-padding `mask` of the
    context), or any attention layer passed in (CvT passes its convolutional projection) whose call
    takes `(x, mask=..., return_attention_scores=..., training=...)`; extra call keywords go to it.

    Called with `return_attention_scores=True` it also returns the attention probabilities
    (batch, heads, queries, keys) from the explicit attention path; `keras_vt.viz` uses this.

    Args:
        num_heads: attention heads.
        mlp_dim: hidden width of the MLP.
        key_dim: width of each head (default: width // num_heads).
        dropout: dropout after the attention and in the MLP.
        attention_dropout: dropout on attention probabilities.
        drop_path: stochastic-depth rate of both residual branches.
        layer_norm_epsilon: LayerNorm epsilon (ViT 1e-6, CLIP and CvT 1e-5, BERT 1e-12).
        activation: MLP activation, "gelu" (exact), "gelu_tanh", "quick_gelu" or "relu".
        use_bias: bias of the q/k/v projections.
        causal: causal self-attention (text towers).
        norm: "pre" or "post" LayerNorm placement.
        attention: None / "self", "cross", or an attention layer instance.

    Example:

    >>> block = keras_vt.layers.TransformerBlock(num_heads=3, mlp_dim=768)
    >>> tuple(block(np.zeros((2, 197, 192))).shape)
    (2, 197, 192)
    >>> bert = keras_vt.layers.TransformerBlock(4, 64, norm="post", layer_norm_epsilon=1e-12)
    >>> tuple(bert(np.zeros((2, 9, 32)), mask=np.ones((2, 9), bool)).shape)
    (2, 9, 32)
    >>> cross = keras_vt.layers.TransformerBlock(1, 32, attention="cross")
    >>> tuple(cross(np.zeros((2, 9, 16)), context=np.zeros((2, 4, 16))).shape)
    (2, 9, 16)
    """

    returns_attention_scores = True

    config_keys = (
        "num_heads",
        "mlp_dim",
        "key_dim",
        "dropout",
        "attention_dropout",
        "drop_path",
        "layer_norm_epsilon",
        "activation",
        "use_bias",
        "causal",
        "norm",
    )

    def __init__(
        self,
        num_heads,
        mlp_dim,
        key_dim=None,
        dropout=0.0,
        attention_dropout=0.0,
        drop_path=0.0,
        layer_norm_epsilon=1e-6,
        activation="gelu",
        use_bias=True,
        causal=False,
        norm="pre",
        attention=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        checks.check_choice("norm", norm, NORMS)
        self.num_heads = int(num_heads)
        self.mlp_dim = checks.check_int("mlp_dim", mlp_dim)
        self.key_dim = key_dim
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.drop_path = checks.check_rate("drop_path", drop_path)
        self.layer_norm_epsilon = checks.check_positive("layer_norm_epsilon", layer_norm_epsilon)
        self.activation = activation
        self.use_bias = use_bias
        self.causal = causal
        self.norm = norm
        policy = self.dtype_policy
        self.norm1 = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=policy, name="norm1"
        )
        self.attention_spec = attention
        self.cross = attention == "cross"
        self.attention = self.make_attention(attention)
        self.norm2 = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=policy, name="norm2"
        )
        self.mlp = MLP(mlp_dim, activation=activation, dropout=dropout, dtype=policy, name="mlp")
        self.residual_dropout = keras.layers.Dropout(self.dropout, dtype=policy)
        self.drop = DropPath(self.drop_path, dtype=policy)

    def make_attention(self, attention):
        """The attention layer: built from the block's arguments, or the one passed in."""
        common = dict(
            key_dim=self.key_dim,
            use_bias=self.use_bias,
            dropout=self.attention_dropout,
            dtype=self.dtype_policy,
            name="attention",
        )
        if attention is None or attention == "self":
            return MultiHeadSelfAttention(self.num_heads, causal=self.causal, **common)
        if attention == "cross":
            return MultiHeadCrossAttention(self.num_heads, **common)
        if isinstance(attention, dict):
            return keras.saving.deserialize_keras_object(attention)
        if isinstance(attention, keras.layers.Layer):
            return attention
        raise checks.invalid(
            "attention", attention, "attention=None, 'self', 'cross' or an attention layer"
        )

    def get_config(self):
        config = super().get_config()
        spec = self.attention_spec
        if isinstance(spec, keras.layers.Layer):
            spec = keras.saving.serialize_keras_object(spec)
        if spec is not None:
            config["attention"] = spec
        return config

    def build(self, x_shape, context_shape=None):
        for layer in (self.norm1, self.norm2, self.mlp):
            layer.build(x_shape)
        if self.cross:
            self.attention.build(x_shape, context_shape or x_shape)
        elif not self.attention.built:
            self.attention.build(x_shape)

    def call(
        self,
        x,
        context=None,
        mask=None,
        return_attention_scores=False,
        training=None,
        **attention_kwargs,
    ):
        if self.cross:
            attention_kwargs["context"] = context
        elif context is not None:
            raise ValueError(
                f"Layer {self.name!r} is a self-attention block; context is only for "
                "attention='cross'."
            )
        pre = self.norm == "pre"
        y = self.attention(
            self.norm1(x) if pre else x,
            mask=mask,
            return_attention_scores=return_attention_scores,
            training=training,
            **attention_kwargs,
        )
        y, probs = y if return_attention_scores else (y, None)
        x = x + self.drop(self.residual_dropout(y, training=training), training=training)
        if not pre:
            x = self.norm1(x)
        y = self.mlp(self.norm2(x) if pre else x, training=training)
        x = x + self.drop(y, training=training)
        if not pre:
            x = self.norm2(x)
        return (x, probs) if return_attention_scores else x

    def compute_output_shape(self, x_shape, context_shape=None):
        return x_shape


def transformer_blocks(
    x, depth, drop_path_rate=0.0, name="block", after_block=None, **block_kwargs
):
    """Applies `depth` `TransformerBlock`s to `x`, with stochastic depth rising linearly to
    `drop_path_rate` (0 for the first block), as ViT, DeiT and CPVT train them.

    `after_block(i, tokens)`, if given, maps the output of block `i` before the next block (CPVT
    inserts its position-encoding generators there).

    Example:

    >>> tokens = keras.Input((197, 192))
    >>> keras_vt.layers.transformer_blocks(tokens, depth=12, num_heads=3, mlp_dim=768).shape
    (None, 197, 192)
    """
    for i in range(depth):
        rate = drop_path_rate * i / max(depth - 1, 1)
        x = TransformerBlock(drop_path=rate, name=f"{name}{i}", **block_kwargs)(x)
        if after_block is not None:
            x = after_block(i, x)
    return x
