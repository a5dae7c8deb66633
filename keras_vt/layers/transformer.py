"""The pre-norm transformer block and its parts: MLP and stochastic depth."""

import keras
from keras import ops

from keras_vt.layers.attention import MultiHeadSelfAttention
from keras_vt.layers.base import Layer


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
        raise ValueError(f"Unknown activation={name!r}: expected one of {sorted(ACTIVATIONS)}.")
    return ACTIVATIONS[name]


@keras.saving.register_keras_serializable(package="keras_vt")
class DropPath(Layer):
    """Stochastic depth: drops the whole residual branch per sample with probability `rate`.

    Kept samples are scaled by 1 / (1 - rate); at inference the layer is the identity.

    Example:

    >>> layer = keras_vt.layers.DropPath(0.1)
    >>> layer(np.ones((4, 10, 8)), training=True).shape
    (4, 10, 8)
    """

    config_keys = ("rate", "seed")

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Expected a drop-path rate in [0, 1), got rate={rate}.")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if self.rate > 0 else None

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

    >>> keras_vt.layers.MLP(768)(np.zeros((2, 197, 192))).shape
    (2, 197, 192)
    """

    config_keys = ("hidden_dim", "output_dim", "activation", "dropout")

    def __init__(self, hidden_dim, output_dim=None, activation="gelu", dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.output_dim = None if output_dim is None else int(output_dim)
        self.activation = activation
        self.activation_fn = get_activation(activation)
        self.dropout = float(dropout)
        self.fc1 = keras.layers.Dense(self.hidden_dim, dtype=self.dtype_policy, name="fc1")
        self.drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        self.fc1.build(input_shape)
        self.fc2 = keras.layers.Dense(
            self.output_dim or input_shape[-1], dtype=self.dtype_policy, name="fc2"
        )
        self.fc2.build(tuple(input_shape[:-1]) + (self.hidden_dim,))

    def call(self, x, training=None):
        x = self.drop(self.activation_fn(self.fc1(x)), training=training)
        return self.drop(self.fc2(x), training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim or input_shape[-1],)


@keras.saving.register_keras_serializable(package="keras_vt")
class TransformerBlock(Layer):
    """Pre-norm encoder block: x + MHSA(LN(x)), then x + MLP(LN(x)), with stochastic depth.

    Called with `return_attention_scores=True` it also returns the attention probabilities
    (batch, heads, queries, keys) from the explicit attention path; `keras_vt.viz` uses this.

    Args:
        num_heads: attention heads.
        mlp_dim: hidden width of the MLP.
        key_dim: width of each head (default: width // num_heads).
        dropout: dropout after the attention and in the MLP.
        attention_dropout: dropout on attention probabilities.
        drop_path: stochastic-depth rate of both residual branches.
        layer_norm_epsilon: LayerNorm epsilon (ViT 1e-6, CLIP and CvT 1e-5, HF ViT 1e-12).
        activation: MLP activation, "gelu" (exact), "gelu_tanh", "quick_gelu" or "relu".
        use_bias: bias of the q/k/v projections.
        causal: causal self-attention (text towers).

    Example:

    >>> block = keras_vt.layers.TransformerBlock(num_heads=3, mlp_dim=768)
    >>> block(np.zeros((2, 197, 192))).shape
    (2, 197, 192)
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.mlp_dim = int(mlp_dim)
        self.key_dim = key_dim
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.drop_path = float(drop_path)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.activation = activation
        self.use_bias = use_bias
        self.causal = causal
        policy = self.dtype_policy
        self.norm1 = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=policy, name="norm1"
        )
        self.attention = MultiHeadSelfAttention(
            num_heads,
            key_dim=key_dim,
            use_bias=use_bias,
            dropout=attention_dropout,
            causal=causal,
            dtype=policy,
            name="attention",
        )
        self.norm2 = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=policy, name="norm2"
        )
        self.mlp = MLP(mlp_dim, activation=activation, dropout=dropout, dtype=policy, name="mlp")
        self.residual_dropout = keras.layers.Dropout(self.dropout, dtype=policy)
        self.drop = DropPath(self.drop_path, dtype=policy)

    def build(self, input_shape):
        for layer in (self.norm1, self.attention, self.norm2, self.mlp):
            layer.build(input_shape)

    def call(self, x, mask=None, return_attention_scores=False, training=None):
        y = self.attention(
            self.norm1(x),
            mask=mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        y, probs = y if return_attention_scores else (y, None)
        x = x + self.drop(self.residual_dropout(y, training=training), training=training)
        x = x + self.drop(self.mlp(self.norm2(x), training=training), training=training)
        return (x, probs) if return_attention_scores else x


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
