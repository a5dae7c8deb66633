"""Text encoders shared by families: BERT (MMT's caption encoder).

A module beside the families, not a family of the vision lineage: MMT builds its caption side from
`BertEncoder`, and `keras_vt.convert` loads a local Hugging Face `BertModel` into it. The interface
is keras-hub's `BertBackbone`: called on `{"token_ids", "segment_ids", "padding_mask"}`, it returns
`{"sequence_output", "pooled_output"}`.

| name | hidden | layers | heads | MLP | vocabulary | parameters |
|---|---|---|---|---|---|---|
| `bert_base_uncased` | 768 | 12 | 12 | 3072 | 30,522 | 109,482,240 |
| `bert_base_cased` | 768 | 12 | 12 | 3072 | 28,996 | 108,310,272 |

(Hugging Face `BertModel` counts, pooler included.)
"""

import keras

from keras_vt import checks, layers
from keras_vt.models.base import FunctionalModel
from keras_vt.models.registry import register


@keras.saving.register_keras_serializable(package="keras_vt")
class BertEncoder(FunctionalModel):
    """BERT: embeddings -> post-norm transformer blocks -> [CLS] pooler (Devlin et al., 2019).

    Post-LayerNorm blocks (`TransformerBlock(norm="post")`, exact GELU, LayerNorm eps 1e-12),
    padded positions masked out of every attention (the additive -10000 of the reference code is
    a hard mask here: the same probabilities up to exp(-10000)). The pooler is
    `tanh(Dense(sequence_output[:, 0]))`. Sequences of any length up to `max_length`.

    Args:
        vocabulary_size: token ids.
        hidden_dim: width.
        depth: number of blocks.
        num_heads: attention heads.
        mlp_dim: hidden width of each block's MLP.
        max_length: length of the learned position table (512 in BERT).
        num_segments: token-type vectors (2 in BERT).
        dropout: dropout of embeddings, residual branches and MLP.
        attention_dropout: dropout on attention probabilities.
        layer_norm_epsilon: LayerNorm epsilon (1e-12).

    Example:

    >>> bert = keras_vt.models.BertEncoder(vocabulary_size=100, hidden_dim=16, depth=2,
    ...                                    num_heads=2, mlp_dim=32, max_length=12)
    >>> out = bert({"token_ids": np.array([[2, 7, 9, 3, 0]]),
    ...             "segment_ids": np.zeros((1, 5), "int32"),
    ...             "padding_mask": np.array([[1, 1, 1, 1, 0]], bool)})
    >>> tuple(out["sequence_output"].shape), tuple(out["pooled_output"].shape)
    ((1, 5, 16), (1, 16))
    """

    config_keys = (
        "vocabulary_size",
        "hidden_dim",
        "depth",
        "num_heads",
        "mlp_dim",
        "max_length",
        "num_segments",
        "dropout",
        "attention_dropout",
        "layer_norm_epsilon",
    )

    def __init__(
        self,
        vocabulary_size=30522,
        hidden_dim=768,
        depth=12,
        num_heads=12,
        mlp_dim=3072,
        max_length=512,
        num_segments=2,
        dropout=0.1,
        attention_dropout=0.1,
        layer_norm_epsilon=1e-12,
        dtype=None,
        name=None,
        **kwargs,
    ):
        checks.check_int("vocabulary_size", vocabulary_size)
        checks.check_transformer(hidden_dim, num_heads, mlp_dim, depth)
        checks.check_int("max_length", max_length)
        checks.check_int("num_segments", num_segments)
        token_ids = keras.Input((None,), dtype="int32", name="token_ids")
        segment_ids = keras.Input((None,), dtype="int32", name="segment_ids")
        padding_mask = keras.Input((None,), dtype="bool", name="padding_mask")
        x = layers.TextEmbedding(
            vocabulary_size,
            max_length,
            hidden_dim,
            num_segments=num_segments,
            layer_norm_epsilon=layer_norm_epsilon,
            dropout=dropout,
            dtype=dtype,
            name="embeddings",
        )(token_ids, segment_ids)
        for i in range(depth):
            x = layers.TransformerBlock(
                num_heads,
                mlp_dim,
                dropout=dropout,
                attention_dropout=attention_dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                activation="gelu",
                norm="post",
                dtype=dtype,
                name=f"block{i}",
            )(x, mask=padding_mask)
        cls = x[:, 0]
        pooled = keras.layers.Dense(
            hidden_dim,
            activation="tanh",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            dtype=dtype,
            name="pooler",
        )(cls)
        inputs = {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}
        outputs = {"sequence_output": x, "pooled_output": pooled}
        super().__init__(inputs, outputs, name=name, dtype=dtype, **kwargs)
        self.keep_config(locals())


_TINY = dict(vocabulary_size=1000, hidden_dim=32, depth=2, num_heads=2, mlp_dim=64, max_length=64)
for _name, _vocabulary in (("bert_base_uncased", 30522), ("bert_base_cased", 28996)):
    register(
        _name, BertEncoder, family="bert", config=dict(vocabulary_size=_vocabulary), tiny=_TINY
    )
