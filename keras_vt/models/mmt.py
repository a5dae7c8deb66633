"""MMT: Multi-modal Transformer for Video Retrieval [Gabeur et al., ECCV 2020].

Sizes (official `configs_pub/eccv20/MSRVTT_jsfusion_trainval.json`):

| name | experts (input width, token type) | video transformer | caption encoder | embed |
|---|---|---|---|---|
| `mmt` | face 512 (3), ocr 300 (7), rgb 2048 (5), s3d 1024 (1), scene 2208 (9), speech 300 (6), vggish 128 (2) | 512 wide, 4 layers, 4 heads, FFN 3072 | BERT-base-cased, 30 tokens | 512 |
| `mmt_tiny` | appearance 16, audio 12, motion 10, ocr 14 (`keras_vt.data.make_video_captions`) | 32 wide, 2 layers, 2 heads, FFN 64 | BERT 32 wide, 2 layers, 24 tokens | 32 |

Section 3 of the paper, as built here:

**Video side.** Each expert `E` comes as features (clips, tokens, width_E), a mask (False for
padding, or for every token of a clip that misses the expert) and per-token centre times in
seconds. Each expert has its own Linear to the model width followed by L2 normalisation; the same
projection serves its [AGG] token and its temporal tokens. The [AGG] token holds the projected
max-pool of all that expert's valid features. The input sequence is a video [CLS] token (an
inert slot, type and time id 0, as the official code), the [AGG] tokens, then every expert's
temporal tokens. Each token's embedding is LayerNorm(feature + expert (token-type) embedding +
temporal embedding), dropout 0.1; temporal ids are 0 for [CLS]/[AGG], 1 for unknown time
(negative or NaN) or padding, and `int(t + 2)` clamped to `max_seconds + 1` for a token centred
at `t` seconds (1-second bins). The [AGG] tokens sit together after [CLS] rather than interleaved
with their expert's temporal tokens as in the official code: attention is permutation-equivariant
and the embeddings carry no sequence position, so the outputs are the same. The video transformer
is post-LayerNorm BERT blocks (`keras_vt.layers.TransformerBlock(norm="post")`, exact GELU,
LayerNorm eps 1e-12) with padded tokens (and the [AGG] of a missing expert) masked out of the
keys. The video embedding of expert `E` is the (L2-normalised) output at its [AGG] token.

**Caption side.** A BERT encoder (`keras_vt.models.BertEncoder`, keras-hub's interface) reads
the caption ids ([PAD] = 0 is padding); its [CLS] output feeds, per expert, a gated embedding
unit `Linear -> x * sigmoid(BatchNorm(Linear(x))) -> L2`, and the mixture weights are a softmax
over experts of a linear map of dropout([CLS]).

**Similarity.** `s(c, v) = sum_i w_i(c) <Phi_i(c), Psi_i(v)>`, a weighted sum of cosines. For a
clip that misses expert `i` (all its tokens masked):

- `missing_experts="renormalise"` (default, the paper's description and the official code's
  `keep_missing_modalities=False`): `w_i(c)` is set to 0 for that clip and the weights are
  renormalised over the experts present;
- `missing_experts="keep"` (the released MSR-VTT configuration, `keep_missing_modalities=True`):
  the weight stays; the missing expert's embedding is the transformer's output at its masked
  [AGG] slot (zero features), so the term is a learned constant rather than evidence.

**Training.** `fit({**inputs, "caption_ids": ids})` minimises the bidirectional max-margin
ranking loss (`keras_vt.losses.max_margin_ranking_loss`, margin 0.05) of the in-batch
(captions, clips) similarity matrix, clip i described by caption i.
"""

import keras
import numpy as np
from keras import ops

from keras_vt.layers import TransformerBlock, checks
from keras_vt.layers.base import Layer
from keras_vt.losses import gather_replicas, max_margin_ranking_loss, scale_for_replicas
from keras_vt.metrics import RetrievalRecall
from keras_vt.models.base import FunctionalModel, InputsOnly, is_dataset
from keras_vt.models.common import array_shape, concrete_values
from keras_vt.models.registry import register
from keras_vt.models.text import BertEncoder

MISSING_EXPERTS = ("renormalise", "keep")


def _normal(stddev=0.02):
    return keras.initializers.TruncatedNormal(stddev=stddev)


def l2_normalize(x, epsilon=1e-12):
    """x / max(||x||, epsilon) over the last axis (PyTorch's `F.normalize`)."""
    squared = ops.sum(ops.square(x), axis=-1, keepdims=True)
    # max under the root: the same values, and a finite gradient at x = 0
    return x * ops.rsqrt(ops.maximum(squared, ops.cast(epsilon**2, x.dtype)))


def masked_max_pool(features, mask):
    """Max over the valid tokens of (batch, tokens, width) features; zeros where none is valid.

    Example:

    >>> x = np.array([[[1.0, 5.0], [3.0, 9.0]]])
    >>> keras_vt.models.mmt.masked_max_pool(x, np.array([[True, False]]))
    array([[1., 5.]])
    """
    if isinstance(features, np.ndarray) and isinstance(mask, np.ndarray):
        valid = mask[..., None]
        pooled = np.where(valid, features, -np.inf).max(axis=1)
        return np.where(valid.any(axis=1), pooled, 0.0)
    valid = ops.expand_dims(ops.cast(mask, "bool"), -1)
    lowest = ops.cast(-3.0e38 if features.dtype == "float32" else -6.0e4, features.dtype)
    pooled = ops.max(ops.where(valid, features, lowest), axis=1)
    return ops.where(ops.any(valid, axis=1), pooled, ops.zeros_like(pooled))


def masked_mean_pool(features, mask):
    """Mean over the valid tokens of (batch, tokens, width) features; zeros where none is valid.

    Example:

    >>> x = keras.ops.convert_to_tensor([[[1.0, 5.0], [3.0, 9.0]]])
    >>> keras.ops.convert_to_numpy(
    ...     keras_vt.models.mmt.masked_mean_pool(x, np.array([[True, True]]))).tolist()
    [[2.0, 7.0]]
    """
    features = ops.convert_to_tensor(features)
    weights = ops.expand_dims(ops.cast(mask, features.dtype), -1)
    total = ops.sum(features * weights, axis=1)
    return total / ops.maximum(ops.sum(weights, axis=1), ops.cast(1.0, features.dtype))


POOLINGS = {"max": masked_max_pool, "mean": masked_mean_pool}


def temporal_ids(times, mask, max_seconds):
    """Temporal embedding ids: `int(t + 2)` clamped to `max_seconds + 1`; 1 for padding or an
    unknown (negative or NaN) time. Id 0 is kept for the [CLS] and [AGG] tokens."""
    times = ops.cast(times, "float32")
    known = ops.logical_and(ops.cast(mask, "bool"), times >= 0.0)  # NaN >= 0 is False
    safe = ops.where(known, times, ops.zeros_like(times))
    ids = ops.clip(ops.cast(ops.floor(safe + 2.0), "int32"), 2, max_seconds + 1)
    return ops.where(known, ids, ops.ones_like(ids))


def mixture_similarity(text_embeddings, text_weights, video_embeddings, available=None):
    """MMT's similarity of every caption with every clip: sum_i w_i <text_i, video_i>.

    Args:
        text_embeddings: (captions, experts, dim), L2-normalised per expert.
        text_weights: (captions, experts), the caption's mixture weights.
        video_embeddings: (clips, experts, dim), L2-normalised per expert.
        available: optional (clips, experts), 1 where the clip has the expert. Given, the
            weights of each (caption, clip) pair are renormalised over the experts the clip has
            (`missing_experts="renormalise"`); None keeps them (`"keep"`).

    Returns:
        (captions, clips) similarities.

    Example:

    >>> t = np.ones((2, 3, 4)) / 2.0
    >>> w = np.full((2, 3), 1 / 3)
    >>> tuple(keras_vt.models.mmt.mixture_similarity(t, w, t).shape)
    (2, 2)
    """
    cosines = ops.einsum("ced,ved->cve", text_embeddings, video_embeddings)
    weights = ops.expand_dims(text_weights, 1)  # (captions, 1, experts)
    if available is not None:
        weights = weights * ops.expand_dims(ops.cast(available, weights.dtype), 0)
        total = ops.sum(weights, axis=-1, keepdims=True)
        weights = weights / ops.where(total > 0, total, ops.ones_like(total) * 1e-5)
    return ops.sum(weights * ops.cast(cosines, weights.dtype), axis=-1)


@keras.saving.register_keras_serializable(package="keras_vt")
class ExpertEmbedding(Layer):
    """MMT's video input: expert features, masks and times -> a token sequence and its mask.

    Output tokens: [CLS], one [AGG] per expert (in `experts` order), then each expert's
    temporal tokens; (batch, 1 + E + sum of token counts, hidden_dim), LayerNorm'd and
    dropped out, plus the (batch, tokens) bool key mask and the (batch, E) float availability
    of each expert. See the module docstring for the embedding.

    Args:
        experts: dict expert name -> input width, in processing order.
        token_types: dict expert name -> token-type id (>= 1; 0 is the video [CLS]).
        hidden_dim: model width.
        max_seconds: number of 1-second temporal bins (temporal ids 2 .. max_seconds + 1).
        num_token_types: size of the token-type table (default: largest id + 1).
        layer_norm_epsilon, dropout: as BERT.
        pooling: "max" (MMT's [AGG]) or "mean" (the no-transformer ablation's pooling).

    Example:

    >>> layer = keras_vt.models.mmt.ExpertEmbedding({"a": 3, "b": 5}, {"a": 1, "b": 2}, 8)
    >>> tokens, mask, available = layer({
    ...     "a": np.ones((2, 4, 3)), "a_mask": np.ones((2, 4), bool), "a_times": np.ones((2, 4)),
    ...     "b": np.ones((2, 2, 5)), "b_mask": np.zeros((2, 2), bool), "b_times": np.ones((2, 2))})
    >>> tuple(tokens.shape), tuple(mask.shape), keras.ops.convert_to_numpy(available).tolist()
    ((2, 9, 8), (2, 9), [[1.0, 0.0], [1.0, 0.0]])
    """

    config_keys = (
        "experts",
        "token_types",
        "hidden_dim",
        "max_seconds",
        "num_token_types",
        "layer_norm_epsilon",
        "dropout",
        "pooling",
    )

    def __init__(
        self,
        experts,
        token_types,
        hidden_dim,
        max_seconds=30,
        num_token_types=None,
        layer_norm_epsilon=1e-12,
        dropout=0.1,
        pooling="max",
        **kwargs,
    ):
        super().__init__(**kwargs)
        checks.check_choice("pooling", pooling, sorted(POOLINGS))
        self.pooling = pooling
        self.experts = {str(k): int(v) for k, v in experts.items()}
        self.token_types = {str(k): int(v) for k, v in token_types.items()}
        self.hidden_dim = int(hidden_dim)
        self.max_seconds = int(max_seconds)
        self.num_token_types = int(num_token_types or max(self.token_types.values()) + 1)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.dropout = float(dropout)
        policy = self.dtype_policy
        self.reduce = {
            name: keras.layers.Dense(self.hidden_dim, dtype=policy, name=f"reduce_{name}")
            for name in self.experts
        }
        self.type_embedding = keras.layers.Embedding(
            self.num_token_types, self.hidden_dim, _normal(), dtype=policy, name="token_type"
        )
        self.time_embedding = keras.layers.Embedding(
            self.max_seconds + 2, self.hidden_dim, _normal(), dtype=policy, name="temporal"
        )
        self.norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="norm"
        )
        self.drop = keras.layers.Dropout(self.dropout, dtype=policy)

    def build(self, input_shape):
        for name, width in self.experts.items():
            self.reduce[name].build((None, None, width))
        self.type_embedding.build((None, None))
        self.time_embedding.build((None, None))
        self.norm.build((None, None, self.hidden_dim))

    def call(self, inputs, training=None):
        first = inputs[next(iter(self.experts))]
        batch = ops.shape(first)[0]
        dtype = self.compute_dtype
        zeros = ops.zeros((batch, 1), "int32")
        features = [ops.zeros((batch, 1, self.hidden_dim), dtype)]  # video [CLS]
        types, times, masks = [zeros], [zeros], [ops.ones((batch, 1), "bool")]
        temporal, available = [], []
        for name in self.experts:
            x = ops.cast(inputs[name], dtype)
            mask = ops.cast(inputs[f"{name}_mask"], "bool")
            present = ops.any(mask, axis=1, keepdims=True)
            pooled = POOLINGS[self.pooling](x, mask)
            features.append(ops.expand_dims(l2_normalize(self.reduce[name](pooled)), 1))
            types.append(zeros + self.token_types[name])
            times.append(zeros)
            masks.append(present)
            available.append(ops.cast(present, "float32"))
            ids = temporal_ids(inputs[f"{name}_times"], mask, self.max_seconds)
            temporal.append(
                (
                    l2_normalize(self.reduce[name](x)),
                    ops.zeros_like(ids) + self.token_types[name],
                    ids,
                    mask,
                )
            )
        for x, type_ids, ids, mask in temporal:
            features.append(x)
            types.append(type_ids)
            times.append(ids)
            masks.append(mask)
        features = ops.concatenate(features, axis=1)
        types = ops.concatenate(types, axis=1)
        times = ops.concatenate(times, axis=1)
        x = features + self.type_embedding(types) + self.time_embedding(times)
        x = self.drop(self.norm(x), training=training)
        return x, ops.concatenate(masks, axis=1), ops.concatenate(available, axis=1)

    def compute_output_shape(self, input_shape):
        lengths = [input_shape[name][1] for name in self.experts]
        length = None if None in lengths else 1 + len(self.experts) + sum(lengths)
        batch = input_shape[next(iter(self.experts))][0]
        return (
            (batch, length, self.hidden_dim),
            (batch, length),
            (batch, len(self.experts)),
        )


@keras.saving.register_keras_serializable(package="keras_vt")
class GatedEmbeddingUnit(Layer):
    """Linear -> x * sigmoid(BatchNorm(Linear(x))) -> L2 normalisation (Miech et al., 2018).

    Example:

    >>> unit = keras_vt.models.mmt.GatedEmbeddingUnit(4)
    >>> y = keras.ops.convert_to_numpy(unit(np.ones((3, 6))))
    >>> y.shape, bool(np.allclose(np.linalg.norm(y, axis=-1), 1.0, atol=1e-5))
    ((3, 4), True)
    """

    config_keys = ("output_dim",)

    def __init__(self, output_dim, **kwargs):
        super().__init__(**kwargs)
        self.output_dim = int(output_dim)
        policy = self.dtype_policy
        self.fc = keras.layers.Dense(self.output_dim, dtype=policy, name="fc")
        self.gate = keras.layers.Dense(self.output_dim, dtype=policy, name="gate")
        # synchronized: under tf.distribute the batch statistics are the global batch's, as
        # on one device and on JAX (whose data-parallel batch is global); with per-replica
        # statistics an N-replica step is not the one-device step (other backends ignore it).
        self.bn = keras.layers.BatchNormalization(
            momentum=0.9,
            epsilon=1e-5,
            synchronized=keras.backend.backend() == "tensorflow",
            dtype=policy,
            name="bn",
        )

    def build(self, input_shape):
        self.fc.build(input_shape)
        shape = tuple(input_shape[:-1]) + (self.output_dim,)
        self.gate.build(shape)
        self.bn.build(shape)

    def call(self, x, training=None):
        x = self.fc(x)
        x = x * ops.sigmoid(self.bn(self.gate(x), training=training))
        return l2_normalize(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim,)


@keras.saving.register_keras_serializable(package="keras_vt")
class CaptionHead(Layer):
    """Caption [CLS] -> per-expert embeddings (captions, E, dim) and mixture weights (captions, E).

    Example:

    >>> head = keras_vt.models.mmt.CaptionHead(("a", "b"), 4)
    >>> embeddings, weights = head(np.ones((3, 6)))
    >>> tuple(embeddings.shape), tuple(weights.shape)
    ((3, 2, 4), (3, 2))
    """

    config_keys = ("experts", "embed_dim", "dropout")

    def __init__(self, experts, embed_dim, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.experts = tuple(str(e) for e in experts)
        self.embed_dim = int(embed_dim)
        self.dropout = float(dropout)
        policy = self.dtype_policy
        self.units = [
            GatedEmbeddingUnit(self.embed_dim, dtype=policy, name=f"gated_{name}")
            for name in self.experts
        ]
        self.drop = keras.layers.Dropout(self.dropout, dtype=policy)
        self.mixture = keras.layers.Dense(len(self.experts), dtype=policy, name="mixture")

    def build(self, input_shape):
        for unit in self.units:
            unit.build(input_shape)
        self.mixture.build(input_shape)

    def call(self, cls, training=None):
        embeddings = ops.stack([unit(cls, training=training) for unit in self.units], axis=1)
        logits = self.mixture(self.drop(cls, training=training))
        return embeddings, ops.softmax(ops.cast(logits, "float32"), axis=-1)

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        return (batch, len(self.experts), self.embed_dim), (batch, len(self.experts))


@keras.saving.register_keras_serializable(package="keras_vt")
class MMT(InputsOnly, FunctionalModel):
    """MMT: a multi-modal video transformer and a BERT caption encoder (Gabeur et al., 2020).

    Called on a dict of expert inputs (per expert `E`: `E` (clips, tokens, width), `E + "_mask"`
    (clips, tokens) bool, `E + "_times"` (clips, tokens) seconds) plus `"caption_ids"`
    (captions, <= context_length) int ids ([PAD] = 0), it returns a dict of
    `"video_embeddings"` (clips, E, embed_dim), `"available"` (clips, E),
    `"text_embeddings"` (captions, E, embed_dim) and `"text_weights"` (captions, E). See the
    module docstring for the architecture and `missing_experts`.

    Args:
        experts: dict expert name -> input feature width; processed in sorted name order.
        token_types: dict expert name -> token-type id (default 1, 2, ... in that order).
        num_token_types: size of the token-type table (default: largest id + 1).
        hidden_dim, depth, num_heads, mlp_dim: the video transformer.
        embed_dim: width of the joint per-expert embedding space.
        max_seconds: temporal bins of 1 s (ids 2 .. max_seconds + 1).
        context_length: the longest caption, in tokens with [CLS] and [SEP].
        text: keyword arguments of the `BertEncoder` caption encoder.
        dropout: dropout of the video embeddings, of both transformers (residual branches and
            attention probabilities; `text` may set the caption encoder's own) and of the
            caption head.
        missing_experts: "renormalise" (default) or "keep".
        margin: margin of the ranking loss.
        pooling: how each expert's [AGG] token pools its features: "max" (MMT) or "mean".
            With `depth=0` (no video transformer) and "mean", the video embeddings are the
            embedded mean-pooled features: the paper's no-transformer ablation.

    Example:

    >>> inputs, captions = keras_vt.data.make_video_captions(4)
    >>> model = keras_vt.create_model("mmt_tiny")
    >>> ids = keras_vt.data.VideoCaptionTokenizer(model.context_length)(captions)
    >>> tuple(model.encode_video(inputs).shape), tuple(model.similarity(inputs, ids).shape)
    ((4, 4, 32), (4, 4))
    >>> model.compile(optimizer="adam")
    >>> history = model.fit({**inputs, "caption_ids": ids}, batch_size=4, verbose=0)
    """

    config_keys = (
        "experts",
        "token_types",
        "num_token_types",
        "hidden_dim",
        "depth",
        "num_heads",
        "mlp_dim",
        "embed_dim",
        "max_seconds",
        "context_length",
        "text",
        "dropout",
        "missing_experts",
        "margin",
        "pooling",
    )

    def __init__(
        self,
        experts,
        token_types=None,
        num_token_types=None,
        hidden_dim=512,
        depth=4,
        num_heads=4,
        mlp_dim=3072,
        embed_dim=512,
        max_seconds=30,
        context_length=30,
        text=None,
        dropout=0.1,
        missing_experts="renormalise",
        margin=0.05,
        pooling="max",
        dtype=None,
        name=None,
        **kwargs,
    ):
        if not isinstance(experts, dict) or not experts:
            raise checks.invalid(
                "experts", experts, "a non-empty dict of expert name -> input width"
            )
        for key, width in experts.items():
            if (
                not isinstance(key, str)
                or key == "caption_ids"
                or key.endswith(("_mask", "_times"))
            ):
                raise ValueError(
                    f"Expected expert names as strings other than 'caption_ids' not ending in "
                    f"'_mask' or '_times', got experts key {key!r}."
                )
            checks.check_int(f"experts[{key!r}]", width)
        experts = {k: int(experts[k]) for k in sorted(experts)}
        if token_types is None:
            token_types = {k: i + 1 for i, k in enumerate(experts)}
        token_types = {str(k): int(v) for k, v in token_types.items()}
        if set(token_types) != set(experts) or min(token_types.values()) < 1:
            raise checks.invalid(
                "token_types",
                token_types,
                f"token_types with an id >= 1 for each of the experts {list(experts)}",
            )
        if missing_experts not in MISSING_EXPERTS:
            raise checks.invalid(
                "missing_experts", missing_experts, f"missing_experts in {MISSING_EXPERTS}"
            )
        checks.check_int("depth", depth, 0)
        checks.check_choice("pooling", pooling, sorted(POOLINGS))
        checks.check_transformer(hidden_dim, num_heads, mlp_dim)
        checks.check_int("embed_dim", embed_dim)
        checks.check_int("max_seconds", max_seconds)
        checks.check_int("context_length", context_length)
        text = dict(text or {})
        text.setdefault("max_length", max(512, context_length))
        if text["max_length"] < context_length:
            raise checks.invalid(
                "text",
                text,
                "the caption encoder's max_length >= context_length",
                problem=f"max_length={text['max_length']} and context_length={context_length}",
            )
        dropout = checks.check_rate("dropout", dropout)
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin >= 0:
            raise checks.invalid("margin", margin, "a number >= 0")
        margin = float(margin)

        video = {}
        for key, width in experts.items():
            video[key] = keras.Input((None, width), name=key)
            video[f"{key}_mask"] = keras.Input((None,), dtype="bool", name=f"{key}_mask")
            video[f"{key}_times"] = keras.Input((None,), name=f"{key}_times")
        caption_ids = keras.Input((None,), dtype="int32", name="caption_ids")

        tokens, mask, available = ExpertEmbedding(
            experts,
            token_types,
            hidden_dim,
            max_seconds=max_seconds,
            num_token_types=num_token_types,
            dropout=dropout,
            pooling=pooling,
            dtype=dtype,
            name="video_embedding",
        )(video)
        x = tokens
        for i in range(depth):
            x = TransformerBlock(
                num_heads,
                mlp_dim,
                dropout=dropout,
                attention_dropout=dropout,
                layer_norm_epsilon=1e-12,
                activation="gelu",
                norm="post",
                dtype=dtype,
                name=f"video_block{i}",
            )(x, mask=mask)
        video_embeddings = l2_normalize(x[:, 1 : 1 + len(experts)])

        # `dropout` reaches the caption encoder's residual and attention dropout alike (as the
        # video blocks'), unless `text` sets them: dropout=0.0 makes the whole model deterministic.
        text = {"dropout": dropout, "attention_dropout": dropout, **text}
        bert = BertEncoder(dtype=dtype, name="caption_encoder", **text)
        sequence = bert(
            {
                "token_ids": caption_ids,
                "segment_ids": ops.zeros_like(caption_ids),
                "padding_mask": ops.not_equal(caption_ids, 0),
            }
        )["sequence_output"]
        text_embeddings, text_weights = CaptionHead(
            tuple(experts), embed_dim, dropout=dropout, dtype=dtype, name="caption_head"
        )(sequence[:, 0])
        if embed_dim != hidden_dim:  # the video side maps to the joint width
            video_embeddings = l2_normalize(
                keras.layers.Dense(embed_dim, dtype=dtype, name="video_projection")(
                    video_embeddings
                )
            )
        outputs = {
            "video_embeddings": video_embeddings,
            "available": available,
            "text_embeddings": text_embeddings,
            "text_weights": text_weights,
        }
        super().__init__(
            {**video, "caption_ids": caption_ids}, outputs, name=name, dtype=dtype, **kwargs
        )
        self.video_encoder = keras.Model(
            video, {"embeddings": video_embeddings, "available": available}, name="video_encoder"
        )
        self.text_encoder = keras.Model(
            caption_ids,
            {"embeddings": text_embeddings, "weights": text_weights},
            name="text_encoder",
        )
        self.text_recall = RetrievalRecall(1, name="text_to_video_R@1")
        self.keep_config(locals())

    @property
    def vocabulary_size(self):
        """Size of the caption encoder's vocabulary."""
        return int(self.get_layer("caption_encoder").vocabulary_size)

    # -- inputs ------------------------------------------------------------------------------

    def check_video_inputs(self, inputs, argument="inputs", extra=("caption_ids",)):
        """Checks a dict of expert inputs against the declared experts; returns its batch size.

        Raises a `ValueError` (before any backend op) for an expert not declared at
        construction, a missing key, a feature width that differs from the declared one, masks
        or times whose shape is not the features' (clips, tokens), batch sizes that differ
        between experts, or (when the masks hold values) a clip that misses every expert.
        """
        if not isinstance(inputs, dict):
            raise checks.invalid(
                argument,
                inputs,
                f"a dict of expert features, masks and times (keys {self._keys()})",
                problem=f"{argument} of type {type(inputs).__name__}",
            )
        for key in inputs:
            base = key[: -len("_mask")] if key.endswith("_mask") else key
            base = base[: -len("_times")] if base.endswith("_times") else base
            if base not in self.experts and key not in extra:
                raise ValueError(
                    f"{argument} has key {key!r}: expert {base!r} was not declared at "
                    f"construction. Expected experts {list(self.experts)} (keys {self._keys()})."
                )
        missing = [k for k in self._keys() if k not in inputs]
        if missing:
            raise ValueError(
                f"{argument} lacks keys {missing}: expected features, '_mask' and '_times' for "
                f"every expert of {list(self.experts)}."
            )
        batch = {}
        for name, width in self.experts.items():
            shape = array_shape(inputs[name])
            if len(shape) != 3 or shape[-1] != width:
                raise checks.invalid_shape(
                    f"{argument}[{name!r}]",
                    shape,
                    f"{argument}[{name!r}] of shape (clips, tokens, {width}) (the declared width of expert {name!r})",
                )
            for suffix in ("_mask", "_times"):
                got = array_shape(inputs[name + suffix])
                if tuple(got) != tuple(shape[:2]):
                    raise checks.invalid_shape(
                        f"{argument}[{name + suffix!r}]",
                        got,
                        f"{argument}[{name + suffix!r}] of shape {tuple(shape[:2])} (clips, tokens of {argument}[{name!r}])",
                    )
            batch[name] = shape[0]
        if len(set(batch.values())) > 1:
            raise ValueError(
                f"Expected the same number of clips for every expert in {argument}, got {batch}."
            )
        masks = [concrete_values(inputs[f"{name}_mask"]) for name in self.experts]
        if all(m is not None for m in masks):
            present = np.stack([np.asarray(m).astype(bool).any(axis=1) for m in masks], 1)
            empty = np.flatnonzero(~present.any(axis=1))
            if empty.size:
                raise ValueError(
                    f"{argument}: clips {empty[:10].tolist()} miss every expert (every mask "
                    "False); expected at least one valid token per clip."
                )
        return next(iter(batch.values()))

    def check_caption_ids(self, caption_ids, argument="caption_ids"):
        """Checks caption ids: (captions, <= context_length) integers in [0, vocabulary_size)."""
        shape = array_shape(caption_ids)
        if len(shape) != 2:
            raise checks.invalid_shape(
                argument, shape, f"{argument} of shape (captions, length <= {self.context_length})"
            )
        if shape[1] is not None and shape[1] > self.context_length:
            raise ValueError(
                f"{argument} has {shape[1]} tokens per caption, more than the model's "
                f"context_length={self.context_length}; nothing is truncated silently: tokenize "
                f"with context_length={self.context_length} (or truncate explicitly)."
            )
        values = concrete_values(caption_ids)
        if values is None:
            return shape[0]
        if not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"Expected integer {argument}, got dtype {values.dtype}.")
        if values.size and (values.min() < 0 or values.max() >= self.vocabulary_size):
            raise ValueError(
                f"{argument} holds ids in [{values.min()}, {values.max()}], expected ids in "
                f"[0, {self.vocabulary_size}) (vocabulary_size={self.vocabulary_size})."
            )
        return shape[0]

    def _keys(self):
        return [k + s for k in self.experts for s in ("", "_mask", "_times")]

    def _video_only(self, inputs):
        return {k: inputs[k] for k in self._keys()}

    # -- public API --------------------------------------------------------------------------

    def encode_video(self, inputs):
        """Per-expert video embeddings (clips, experts, embed_dim), L2-normalised (`"caption_ids"`
        in `inputs` is ignored)."""
        self.check_video_inputs(inputs)
        return self.video_encoder(self._video_only(inputs), training=False)["embeddings"]

    def encode_text(self, caption_ids):
        """(embeddings (captions, experts, embed_dim), mixture weights (captions, experts))."""
        self.check_caption_ids(caption_ids)
        out = self.text_encoder(caption_ids, training=False)
        return out["embeddings"], out["weights"]

    def similarity(self, video_inputs, caption_ids):
        """(captions, clips) similarities of every caption with every clip."""
        self.check_video_inputs(video_inputs, "video_inputs")
        self.check_caption_ids(caption_ids)
        video = self.video_encoder(self._video_only(video_inputs), training=False)
        text = self.text_encoder(caption_ids, training=False)
        return self.score(
            text["embeddings"], text["weights"], video["embeddings"], video["available"]
        )

    def score(self, text_embeddings, text_weights, video_embeddings, available):
        """`mixture_similarity` under this model's `missing_experts` option."""
        keep = self.missing_experts == "keep"
        return mixture_similarity(
            text_embeddings, text_weights, video_embeddings, None if keep else available
        )

    def attention_inputs(self, inputs):
        """The model `keras_vt.viz.attention_maps` inspects for `inputs`: the video encoder
        (video transformer maps only) when no caption ids are given."""
        return self if "caption_ids" in inputs else self.video_encoder

    # -- training ----------------------------------------------------------------------------

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # Every replica's clips and captions (tf.distribute): the ranking needs the whole batch.
        similarity = self.score(
            *(
                gather_replicas(y_pred[key])
                for key in ("text_embeddings", "text_weights", "video_embeddings", "available")
            )
        )
        loss = max_margin_ranking_loss(similarity, self.margin)
        self.text_recall.update_state(similarity)
        if self.losses:
            loss = loss + ops.sum(self.losses)
        return scale_for_replicas(loss)

    inputs_description = inputs_example = "{**inputs, 'caption_ids': ids}"

    def _training_inputs(self, x, argument="x"):
        if is_dataset(x):
            return x
        if not isinstance(x, dict) or "caption_ids" not in x:
            got = f"keys {list(x)}" if isinstance(x, dict) else type(x).__name__
            raise checks.invalid(
                argument,
                x,
                "a dict of expert inputs plus 'caption_ids' ({**inputs, 'caption_ids': ids})",
                problem=f"got {got}",
            )
        clips = self.check_video_inputs(x, argument)
        captions = self.check_caption_ids(x["caption_ids"], f"{argument}['caption_ids']")
        if clips != captions:
            raise ValueError(
                f"Expected one caption per clip in {argument}, got {clips} clips and "
                f"{captions} captions."
            )
        return x


# MSR-VTT (official configs_pub/eccv20): experts with their input widths and token-type ids.
MSRVTT_EXPERTS = {
    "face": 512,
    "ocr": 300,
    "rgb": 2048,
    "s3d": 1024,
    "scene": 2208,
    "speech": 300,
    "vggish": 128,
}
MSRVTT_TOKEN_TYPES = {"s3d": 1, "vggish": 2, "face": 3, "rgb": 5, "speech": 6, "ocr": 7, "scene": 9}
BERT_BASE_CASED = dict(
    vocabulary_size=28996, hidden_dim=768, depth=12, num_heads=12, mlp_dim=3072, max_length=512
)

# The built-in data (`keras_vt.data.make_video_captions` and its `VideoCaptionTokenizer`, 46 ids).
TINY = dict(
    experts={"appearance": 16, "audio": 12, "motion": 10, "ocr": 14},
    token_types=None,
    num_token_types=None,
    hidden_dim=32,
    depth=2,
    num_heads=2,
    mlp_dim=64,
    embed_dim=32,
    context_length=24,
    text=dict(vocabulary_size=46, hidden_dim=32, depth=2, num_heads=2, mlp_dim=64, max_length=24),
)
# MMT's defaults are the paper's sizes (4 layers of 4 heads, width 512, 30 s, 30 caption tokens).
FULL = dict(
    experts=MSRVTT_EXPERTS,
    token_types=MSRVTT_TOKEN_TYPES,
    num_token_types=19,
    text=BERT_BASE_CASED,
)
register("mmt", MMT, family="mmt", config=FULL, tiny=TINY)
register("mmt_tiny", MMT, family="mmt", config=TINY, tiny=TINY)
