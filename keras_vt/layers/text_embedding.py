"""BERT's input embedding: word + position + segment embeddings, LayerNorm, dropout."""

import keras
from keras import ops

from keras_vt import checks
from keras_vt.layers.base import Layer


@keras.saving.register_keras_serializable(package="keras_vt")
class TextEmbedding(Layer):
    """Token ids (and segment ids) -> LayerNorm(word + position + segment embedding).

    Positions are learned for up to `max_length` tokens; a sequence of L <= `max_length` tokens
    uses the first L entries, as BERT does. Segment ids select one of `num_segments` learned
    vectors (BERT's token types); without them segment 0 is used.

    Args:
        vocabulary_size: number of token ids.
        max_length: longest sequence the position table covers (BERT: 512).
        hidden_dim: embedding width.
        num_segments: number of segment (token-type) vectors; 0 for none.
        layer_norm_epsilon: LayerNorm epsilon (BERT: 1e-12).
        dropout: dropout after the LayerNorm.
        initializer_range: std of the normal initialiser (BERT: 0.02).

    Example:

    >>> layer = keras_vt.layers.TextEmbedding(100, max_length=16, hidden_dim=8)
    >>> tuple(layer(np.array([[2, 5, 7, 3]])).shape)
    (1, 4, 8)
    """

    config_keys = (
        "vocabulary_size",
        "max_length",
        "hidden_dim",
        "num_segments",
        "layer_norm_epsilon",
        "dropout",
        "initializer_range",
    )

    def __init__(
        self,
        vocabulary_size,
        max_length,
        hidden_dim,
        num_segments=2,
        layer_norm_epsilon=1e-12,
        dropout=0.0,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = checks.check_int("vocabulary_size", vocabulary_size)
        self.max_length = checks.check_int("max_length", max_length)
        self.hidden_dim = checks.check_int("hidden_dim", hidden_dim)
        self.num_segments = checks.check_int("num_segments", num_segments, 0)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.dropout = float(dropout)
        self.initializer_range = float(initializer_range)
        init = keras.initializers.TruncatedNormal(stddev=self.initializer_range)
        policy = self.dtype_policy

        def table(rows, name):
            return keras.layers.Embedding(
                rows, hidden_dim, embeddings_initializer=init, dtype=policy, name=name
            )

        self.token_embedding = table(vocabulary_size, "token_embedding")
        self.position_embedding = table(max_length, "position_embedding")
        self.segment_embedding = table(num_segments, "segment_embedding") if num_segments else None
        self.norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="norm"
        )
        self.drop = keras.layers.Dropout(self.dropout, dtype=policy)

    def check_length(self, shape):
        """Raises for sequences longer than the position table (checked at build and at every
        call: a built layer would otherwise index past the table inside a backend)."""
        length = shape[-1]
        if length is not None and length > self.max_length:
            raise ValueError(
                f"Expected at most max_length={self.max_length} tokens, got token_ids of shape "
                f"{tuple(shape)}."
            )

    def build(self, token_ids_shape, segment_ids_shape=None):
        self.check_length(token_ids_shape)
        self.token_embedding.build(token_ids_shape)
        self.position_embedding.build((None,))
        if self.segment_embedding is not None:
            self.segment_embedding.build(token_ids_shape)
        self.norm.build(tuple(token_ids_shape) + (self.hidden_dim,))

    def call(self, token_ids, segment_ids=None, training=None):
        self.check_length(tuple(token_ids.shape))
        length = ops.shape(token_ids)[-1]
        x = self.token_embedding(token_ids)
        x = x + self.position_embedding(ops.arange(length))[None]
        if self.segment_embedding is not None:
            if segment_ids is None:
                segment_ids = ops.zeros_like(token_ids)
            x = x + self.segment_embedding(segment_ids)
        return self.drop(self.norm(x), training=training)

    def compute_output_shape(self, token_ids_shape, segment_ids_shape=None):
        return tuple(token_ids_shape) + (self.hidden_dim,)
