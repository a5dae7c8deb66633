"""The causal text tower (CLIP's; shared by the multi-modal families) and its checks.

Token + learned position embeddings -> causal pre-norm blocks -> final LayerNorm -> the features
at the end-of-text token (`EndTokenPooling`) -> projection without bias.
"""

import keras
import numpy as np
from keras import ops

from keras_vt import checks, layers
from keras_vt.layers.base import Layer
from keras_vt.models.base import FunctionalModel
from keras_vt.models.common import array_shape, check_mlp, concrete_values

LN_EPS = 1e-5


def check_token_ids(token_ids, vocabulary_size, context_length, argument="token_ids"):
    """Checks the shape and, when `token_ids` holds values, the range of a batch of token ids.

    Raises a `ValueError` unless `token_ids` is an integer (batch, `context_length`) array whose
    values lie in [0, `vocabulary_size`). Symbolic or traced tensors (inside `fit`, `tf.function`
    or `jax.jit`) get the shape check only.
    """
    shape = array_shape(token_ids)
    if len(shape) != 2 or (shape[1] is not None and shape[1] != context_length):
        raise ValueError(
            f"Expected {argument} of shape (batch, {context_length}) (the context length), got "
            f"{argument} with shape {shape}. Tokenize with the model's context_length."
        )
    values = concrete_values(token_ids)
    if values is None:
        return
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"Expected integer {argument}, got dtype {values.dtype}.")
    checks.check_ids(argument, values, vocabulary_size, "vocabulary_size")


@keras.saving.register_keras_serializable(package="keras_vt")
class EndTokenPooling(Layer):
    """Picks, per sequence, the features at the end-of-text token.

    With `eot_token_id=None` the end token is the position of the largest id of the sequence, as
    in OpenAI's CLIP (`text.argmax(-1)`), whose end token 49407 is the last of the vocabulary; the
    tokenizers of `keras_vt.text` also give their end token the largest id. With an explicit
    `eot_token_id`, the first position holding that id is used.

    Called on `[features, token_ids]`, features of shape (batch, length, hidden_dim).

    Example:

    >>> pool = keras_vt.models.text_encoder.EndTokenPooling()
    >>> tuple(pool([np.ones((2, 5, 8)), np.array([[3, 1, 9, 0, 0], [3, 9, 0, 0, 0]])]).shape)
    (2, 8)
    """

    config_keys = ("eot_token_id",)

    def __init__(self, eot_token_id=None, **kwargs):
        super().__init__(**kwargs)
        self.eot_token_id = None if eot_token_id is None else int(eot_token_id)

    def call(self, inputs):
        features, token_ids = inputs
        if self.eot_token_id is None:
            index = ops.argmax(token_ids, axis=-1)
        else:
            index = ops.argmax(ops.cast(ops.equal(token_ids, self.eot_token_id), "int32"), axis=-1)
        select = ops.one_hot(index, ops.shape(features)[1], dtype=features.dtype)
        return ops.einsum("bl,bld->bd", select, features)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], input_shape[0][-1])


@keras.saving.register_keras_serializable(package="keras_vt")
class CLIPTextEncoder(FunctionalModel):
    """CLIP's text tower: token ids (batch, context_length) -> (batch, embed_dim) text features.

    Token + learned position embeddings -> causal pre-norm blocks (QuickGELU, LayerNorm eps 1e-5)
    -> final LayerNorm -> the features at the end-of-text position (see `EndTokenPooling`) ->
    projection without bias.

    Example:

    >>> tower = keras_vt.models.text_encoder.CLIPTextEncoder(
    ...     context_length=8, vocabulary_size=100, hidden_dim=32, depth=2, num_heads=2, embed_dim=16)
    >>> tuple(tower(np.array([[98, 5, 6, 99, 0, 0, 0, 0]])).shape)
    (1, 16)
    """

    config_keys = (
        "context_length",
        "vocabulary_size",
        "hidden_dim",
        "depth",
        "num_heads",
        "embed_dim",
        "eot_token_id",
        "layer_norm_epsilon",
        "mlp_dim",
        "activation",
    )
    renamed_arguments = {"width": "hidden_dim"}

    def __init__(
        self,
        context_length=77,
        vocabulary_size=49408,
        hidden_dim=512,
        depth=12,
        num_heads=8,
        embed_dim=512,
        eot_token_id=None,
        layer_norm_epsilon=LN_EPS,
        mlp_dim=None,
        activation="quick_gelu",
        dtype=None,
        name=None,
        **kwargs,
    ):
        context_length, vocabulary_size = int(context_length), int(vocabulary_size)
        if context_length < 2:
            raise checks.invalid("context_length", context_length, "context_length >= 2")
        if vocabulary_size < 3:
            raise checks.invalid("vocabulary_size", vocabulary_size, "vocabulary_size >= 3")
        mlp_dim = check_mlp(mlp_dim, hidden_dim, activation)
        token_ids = keras.Input((context_length,), dtype="int32", name="token_ids")
        x = keras.layers.Embedding(
            vocabulary_size,
            hidden_dim,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02),
            dtype=dtype,
            name="token_embedding",
        )(token_ids)
        x = layers.PositionEmbedding(
            (1, context_length),
            0,
            keras.initializers.RandomNormal(stddev=0.01),
            dtype=dtype,
            name="pos_embed",
        )(x)
        x = layers.transformer_blocks(
            x,
            depth,
            num_heads=num_heads,
            mlp_dim=mlp_dim,
            layer_norm_epsilon=layer_norm_epsilon,
            activation=activation,
            causal=True,
            dtype=dtype,
        )
        x = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="ln_final"
        )(x)
        x = EndTokenPooling(eot_token_id, dtype=dtype, name="eot_pool")([x, token_ids])
        x = keras.layers.Dense(
            embed_dim,
            use_bias=False,
            kernel_initializer=keras.initializers.RandomNormal(stddev=hidden_dim**-0.5),
            dtype=dtype,
            name="proj",
        )(x)
        super().__init__(token_ids, x, name=name, dtype=dtype, **kwargs)
        self.keep_config(locals())
