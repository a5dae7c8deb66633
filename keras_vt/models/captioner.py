"""Show, Attend and Tell (Xu et al., 2015): a captioner with soft or hard spatial attention.

A CNN encoder (a keras_vt ResNet, taken from the registry by name, without its head or pooling)
turns the image into a grid of annotation vectors `a_i`. An LSTM decoder writes the caption one
word at a time; at each step it scores every location with `e_i = U tanh(W a_i + W_h h)`
(`keras_vt.layers.SpatialSoftAttention`, whose softmax is the shared attention core `attend`),
`alpha = softmax(e)`, and reads a context `z`:

- soft attention: the expectation `z = Σ_i alpha_i a_i` (deterministic, trained by backpropagation);
- hard attention: one sampled location `z = a_s`, `s ~ Categorical(alpha)`, trained with REINFORCE
  (reward: the caption's log-likelihood; a moving-average baseline; an entropy bonus) and, as in the
  paper, with probability `hard_soft_mix` (0.5) the soft expectation instead of a sample. At
  inference hard attention reads the most likely location, `z = a_argmax(alpha)`.

`z` is scaled by the gate `beta = sigmoid(f_beta(h))`; the LSTM reads `[E y_{t-1}, z]`; the deep
output layer gives `p(y_t) = softmax(L_o tanh(E y_{t-1} + L_h h_t + L_z z_t))` (the `tanh` as in
the authors' code, arctic-captions); the doubly stochastic regulariser
`λ Σ_i (1 - Σ_t alpha_ti)²` is added to the loss. The initial LSTM state is an MLP of the mean
annotation vector.

Size table (`config` is a ResNet-18 encoder at 224 px, a 7 x 7 x 512 grid; the paper used VGG's
14 x 14 x 512 and a 1800-unit LSTM on COCO):

| name             | encoder  | grid     | embed | hidden | attention | context |
|------------------|----------|----------|-------|--------|-----------|---------|
| show_attend_tell | resnet18 | 7x7x512  | 256   | 512    | 512       | 20      |
| (tiny)           | 3 stages | 8x8x16   | 16    | 32     | 16        | 10      |
"""

import keras
import numpy as np
from keras import ops

from keras_vt import checks
from keras_vt.layers.base import Layer
from keras_vt.layers.spatial_attention import SpatialSoftAttention
from keras_vt.losses import doubly_stochastic_penalty, reinforce_loss
from keras_vt.models.base import FunctionalModel
from keras_vt.models.registry import get_spec, list_models, register

PAD, START, END, UNKNOWN = "<pad>", "<start>", "<end>", "<unk>"

#: Words of the built-in captioned shapes (`keras_vt.data.make_captioned_shapes`), lower case;
#: a test holds it equal to the words the generator writes.
SHAPES_VOCABULARY = (
    (PAD, START, END, UNKNOWN)
    + ("a", "two", "three", "small", "large")
    + ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "white")
    + ("circle", "square", "triangle", "star", "cross", "ring", "hexagon", "crescent", "arrow")
    + ("l-shape", "heart", "ellipse", "circles", "squares", "triangles", "stars", "crosses")
    + ("rings", "hexagons", "crescents", "arrows", "l-shapes", "hearts", "ellipses")
    + ("at", "the", "top", "bottom", "left", "right", "on", "in", "centre")
)

ATTENTIONS = ("soft", "hard")


def _check_fraction(name, value, upper=1.0):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= upper:
        raise checks.invalid(name, value, f"a number in [0, {upper}]")
    return float(value)


@keras.saving.register_keras_serializable(package="keras_vt")
class ShowAttendTellDecoder(Layer):
    """Show-Attend-Tell's LSTM decoder over a feature grid, soft or hard attention.

    Called on features `(batch, height, width, channels)` it decodes greedily for `max_length`
    steps and returns the word ids `(batch, max_length)` (0 after the end token); with
    `return_attention_scores=True` also the attention of every step, `(batch, 1, max_length,
    height * width)`. In training mode the call does not decode (it returns zeros of the same
    shape): training reads captions through `teacher_forcing`, from `ShowAttendTell.compute_loss`.

    Args:
        vocabulary_size: number of word ids (id 0 is padding).
        embed_dim: word embedding width (also the width of the deep output layer).
        hidden_dim: LSTM width.
        attention_dim: width of the attention MLP (`W`, `W_h`).
        attention: `"soft"` or `"hard"`.
        max_length: steps of the in-graph greedy decoding.
        start_id: id of the start token; end_id: id of the end token.
        hard_soft_mix: probability, in training, that a hard-attention step reads the soft
            expectation instead of a sampled location (the paper: 0.5).
        dropout: dropout on the LSTM output before the deep output layer.
        seed: seed of the location samples.

    Example:

    >>> decoder = ShowAttendTellDecoder(vocabulary_size=12, embed_dim=8, hidden_dim=8,
    ...                                 attention_dim=8, max_length=4, start_id=1, end_id=2)
    >>> ids, maps = decoder(np.zeros((2, 3, 3, 5)), return_attention_scores=True)
    >>> tuple(ids.shape), tuple(maps.shape)
    ((2, 4), (2, 1, 4, 9))
    """

    returns_attention_scores = True
    config_keys = (
        "vocabulary_size",
        "embed_dim",
        "hidden_dim",
        "attention_dim",
        "attention",
        "max_length",
        "start_id",
        "end_id",
        "hard_soft_mix",
        "dropout",
        "seed",
    )

    def __init__(
        self,
        vocabulary_size,
        embed_dim,
        hidden_dim,
        attention_dim,
        attention="soft",
        max_length=16,
        start_id=1,
        end_id=2,
        hard_soft_mix=0.5,
        dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if attention not in ATTENTIONS:
            raise checks.invalid("attention", attention, "'soft' or 'hard'")
        self.vocabulary_size = checks.check_int("vocabulary_size", vocabulary_size)
        self.embed_dim = checks.check_int("embed_dim", embed_dim)
        self.hidden_dim = checks.check_int("hidden_dim", hidden_dim)
        self.attention_dim = checks.check_int("attention_dim", attention_dim)
        self.max_length = checks.check_int("max_length", max_length)
        self.attention = attention
        self.start_id = int(start_id)
        self.end_id = int(end_id)
        self.hard_soft_mix = _check_fraction("hard_soft_mix", hard_soft_mix)
        self.dropout = _check_fraction("dropout", dropout, upper=0.99)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, features_shape):
        features_shape = tuple(features_shape)
        if len(features_shape) != 4 or features_shape[-1] is None:
            raise ValueError(
                f"Invalid features shape: features_shape={features_shape}. Expected "
                "(batch, height, width, channels) with known channels."
            )
        channels = features_shape[-1]
        kw = {"dtype": self.dtype_policy}
        dense = keras.layers.Dense
        self.init_h = dense(self.hidden_dim, activation="tanh", name="init_h", **kw)
        self.init_c = dense(self.hidden_dim, activation="tanh", name="init_c", **kw)
        for layer in (self.init_h, self.init_c):
            layer.build((None, channels))
        self.embedding = keras.layers.Embedding(
            self.vocabulary_size, self.embed_dim, name="embedding", **kw
        )
        self.embedding.build((None,))
        self.attend_locations = SpatialSoftAttention(self.attention_dim, name="attention", **kw)
        self.attend_locations.build((None, None, channels), (None, self.hidden_dim))
        self.gate = dense(1, activation="sigmoid", name="gate", **kw)  # beta = σ(f_beta(h))
        self.gate.build((None, self.hidden_dim))
        self.cell = keras.layers.LSTMCell(self.hidden_dim, name="lstm", **kw)
        self.cell.build((None, self.embed_dim + channels))
        self.out_hidden = dense(self.embed_dim, name="out_hidden", **kw)  # L_h
        self.out_hidden.build((None, self.hidden_dim))
        self.out_context = dense(self.embed_dim, use_bias=False, name="out_context", **kw)  # L_z
        self.out_context.build((None, channels))
        self.out_logits = dense(self.vocabulary_size, name="out_logits", dtype="float32")  # L_o
        self.out_logits.build((None, self.embed_dim))
        self.dropout_layer = keras.layers.Dropout(self.dropout, **kw)
        self.reward_baseline = self.add_weight(
            name="reward_baseline", shape=(), initializer="zeros", trainable=False
        )

    def start(self, features):
        """Flattened annotation vectors (batch, locations, channels) and the initial [h, c]."""
        flat = ops.reshape(features, (ops.shape(features)[0], -1, ops.shape(features)[-1]))
        mean = ops.mean(flat, axis=1)
        return flat, [self.init_h(mean), self.init_c(mean)]

    def step(self, flat, tokens, state, training=None):
        """One decoding step from the previous words `tokens` (batch,).

        Returns a dict with `logits` (batch, vocabulary) float32, `state` ([h, c]), `alpha`
        (batch, locations), `context` (the gated context), `sample` (one-hot location read by
        hard attention, zeros for soft attention or a soft-mixed step).
        """
        h, c = state
        embedded = self.embedding(tokens)
        soft_context, alpha = self.attend_locations(flat, h)
        locations = ops.shape(alpha)[-1]
        sample = ops.zeros_like(alpha)
        context = soft_context
        if self.attention == "hard":
            if training:
                index = keras.random.categorical(
                    ops.log(alpha + 1e-12), 1, seed=self.seed_generator
                )[:, 0]
                sample = ops.one_hot(index, locations, dtype="float32")
                use_soft = keras.random.uniform(
                    (ops.shape(alpha)[0], 1), seed=self.seed_generator
                ) < ops.cast(self.hard_soft_mix, "float32")
                sample = ops.where(use_soft, ops.zeros_like(sample), sample)
                hard_context = ops.einsum("bl,bld->bd", ops.cast(sample, flat.dtype), flat)
                context = ops.where(use_soft, soft_context, hard_context)
            else:
                sample = ops.one_hot(ops.argmax(alpha, axis=-1), locations, dtype="float32")
                context = ops.einsum("bl,bld->bd", ops.cast(sample, flat.dtype), flat)
        context = context * self.gate(h)
        output, state = self.cell(ops.concatenate([embedded, context], axis=-1), [h, c])
        output = self.dropout_layer(output, training=training)
        deep = ops.tanh(embedded + self.out_hidden(output) + self.out_context(context))
        logits = self.out_logits(deep)
        return {
            "logits": logits,
            "state": state,
            "alpha": alpha,
            "context": context,
            "sample": sample,
        }

    def teacher_forcing(self, features, caption_ids, training=None):
        """Reads `caption_ids` (batch, T) and predicts words 1..T-1 from words 0..T-2.

        Returns a dict of stacked step outputs: `logits` (batch, T-1, vocabulary), `alpha`
        (batch, T-1, locations), `sample` (batch, T-1, locations).
        """
        flat, state = self.start(features)
        steps = {"logits": [], "alpha": [], "sample": []}
        for t in range(caption_ids.shape[1] - 1):
            out = self.step(flat, caption_ids[:, t], state, training=training)
            state = out["state"]
            for key in steps:
                steps[key].append(out[key])
        return {key: ops.stack(values, axis=1) for key, values in steps.items()}

    def call(self, features, return_attention_scores=False, training=None):
        batch = ops.shape(features)[0]
        locations = ops.shape(features)[1] * ops.shape(features)[2]
        if training:
            ids = ops.zeros((batch, self.max_length), dtype="int32")
            maps = ops.zeros((batch, 1, self.max_length, locations), dtype="float32")
            return (ids, maps) if return_attention_scores else ids
        flat, state = self.start(features)
        tokens = ops.full((batch,), self.start_id, dtype="int32")
        finished = ops.zeros((batch,), dtype="bool")
        ids, alphas = [], []
        for _ in range(self.max_length):
            out = self.step(flat, tokens, state, training=False)
            state = out["state"]
            tokens = ops.cast(ops.argmax(out["logits"], axis=-1), "int32")
            ids.append(ops.where(finished, ops.zeros_like(tokens), tokens))
            alphas.append(out["alpha"])
            finished = ops.logical_or(finished, ops.equal(tokens, self.end_id))
        ids = ops.stack(ids, axis=1)
        if not return_attention_scores:
            return ids
        return ids, ops.expand_dims(ops.stack(alphas, axis=1), 1)

    def compute_output_shape(self, features_shape):
        return (features_shape[0], self.max_length)


@keras.saving.register_keras_serializable(package="keras_vt")
class ShowAttendTell(FunctionalModel):
    """Show, Attend and Tell captioner: ResNet feature grid, attention LSTM decoder.

    `fit((images, caption_ids))` trains with teacher forcing; the loss, in `compute_loss` (so it
    runs on every backend), is the caption's mean negative log-likelihood plus the doubly
    stochastic regulariser and, for hard attention, the REINFORCE surrogate. Caption ids are
    `tokenize(captions)`: the start token, the words, the end token, then padding (id 0, not
    scored). The model's own outputs are `[token_ids, features]`: a greedy caption of
    `context_length - 1` words and the encoder's feature grid.

    Args:
        vocabulary: list of words; index 0 is padding; must contain `"<start>"` and `"<end>"`
            (and `"<unk>"` to accept unknown words). Defaults to `SHAPES_VOCABULARY`.
        context_length: caption length in ids, start and end tokens included.
        image_size: side of the square input images.
        encoder: registered ResNet name for the encoder (built without head or pooling).
        encoder_config: overrides of the encoder's configuration (`depths`, `widths`, `stem`).
        embed_dim, hidden_dim, attention_dim: decoder widths.
        attention: `"soft"` or `"hard"`.
        doubly_stochastic: λ of the doubly stochastic regulariser.
        entropy_weight: entropy bonus of the hard-attention REINFORCE term.
        baseline_decay: decay of the moving-average reward baseline.
        hard_soft_mix: probability that a hard-attention training step reads the soft context.
        dropout: dropout before the deep output layer.
        seed: seed of hard attention's samples.

    Example:

    >>> model = keras_vt.create_model("show_attend_tell", tiny=True)
    >>> images = np.zeros((2, model.image_size, model.image_size, 3), "float32")
    >>> ids = model.tokenize(["a red circle on the left", "two blue stars"])
    >>> ids.shape
    (2, 10)
    >>> model.compile(optimizer="adam")
    >>> _ = model.fit((images, ids), epochs=1, verbose=0)
    >>> model.generate(images, max_length=3).shape
    (2, 3)
    """

    config_keys = (
        "vocabulary",
        "context_length",
        "image_size",
        "encoder",
        "encoder_config",
        "embed_dim",
        "hidden_dim",
        "attention_dim",
        "attention",
        "doubly_stochastic",
        "entropy_weight",
        "baseline_decay",
        "hard_soft_mix",
        "dropout",
        "seed",
    )

    def __init__(
        self,
        vocabulary=None,
        context_length=20,
        image_size=224,
        encoder="resnet18",
        encoder_config=None,
        embed_dim=256,
        hidden_dim=512,
        attention_dim=512,
        attention="soft",
        doubly_stochastic=1.0,
        entropy_weight=0.01,
        baseline_decay=0.9,
        hard_soft_mix=0.5,
        dropout=0.0,
        seed=None,
        dtype=None,
        name=None,
        **kwargs,
    ):
        vocabulary = list(SHAPES_VOCABULARY if vocabulary is None else vocabulary)
        if not vocabulary or not all(isinstance(w, str) for w in vocabulary):
            raise checks.invalid("vocabulary", vocabulary, "a list of words")
        for token in (START, END):
            if token not in vocabulary:
                raise ValueError(
                    f"Invalid vocabulary: it has no {token!r} token (vocabulary="
                    f"{vocabulary[:8]!r}{'...' if len(vocabulary) > 8 else ''}). Expected a "
                    f"list of words containing {START!r} and {END!r}; index 0 is padding."
                )
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("Invalid vocabulary: it repeats words. Expected distinct words.")
        if vocabulary.index(START) == 0 or vocabulary.index(END) == 0:
            raise ValueError(
                f"Invalid vocabulary: vocabulary[0]={vocabulary[0]!r}. Index 0 is padding; "
                f"expected {START!r} and {END!r} elsewhere."
            )
        context_length = checks.check_int("context_length", context_length)
        if context_length < 2:
            raise checks.invalid(
                "context_length",
                context_length,
                "an int >= 2 (the start token and at least one word)",
            )
        image_size = checks.check_int("image_size", image_size)
        if attention not in ATTENTIONS:
            raise checks.invalid("attention", attention, "'soft' or 'hard'")
        if not isinstance(encoder, str) or encoder not in list_models(family="cnn"):
            raise checks.invalid(
                "encoder", encoder, "a registered ResNet name (keras_vt.list_models(family='cnn'))"
            )
        encoder_config = dict(encoder_config or {})
        for key in ("image_size", "include_top", "pooling"):
            if key in encoder_config:
                raise ValueError(
                    f"Invalid encoder_config: it sets {key!r}. Expected only the encoder's "
                    "architecture; the captioner sets image_size, include_top and pooling."
                )
        doubly_stochastic = _check_fraction("doubly_stochastic", doubly_stochastic, upper=1e3)
        entropy_weight = _check_fraction("entropy_weight", entropy_weight, upper=1e3)
        baseline_decay = _check_fraction("baseline_decay", baseline_decay)
        for name, value in (
            ("embed_dim", embed_dim),
            ("hidden_dim", hidden_dim),
            ("attention_dim", attention_dim),
        ):
            checks.check_int(name, value)  # here: before the encoder is built
        _check_fraction("dropout", dropout, upper=0.99)

        images = keras.Input((image_size, image_size, 3), name="images")
        spec = get_spec(encoder)  # by name: the captioner does not import the CNN family
        encoder_model = spec.cls(
            **{
                **spec.config,
                **encoder_config,
                "image_size": image_size,
                "include_top": False,
                "pooling": None,
                "dtype": dtype,
                "name": "encoder",
            }
        )
        features = encoder_model(images)
        decoder = ShowAttendTellDecoder(
            vocabulary_size=len(vocabulary),
            embed_dim=embed_dim,
            hidden_dim=hidden_dim,
            attention_dim=attention_dim,
            attention=attention,
            max_length=context_length - 1,
            start_id=vocabulary.index(START),
            end_id=vocabulary.index(END),
            hard_soft_mix=hard_soft_mix,
            dropout=dropout,
            seed=seed,
            name="decoder",
            dtype=dtype,
        )
        token_ids = decoder(features)
        super().__init__(
            images, [token_ids, features], name=name or "show_attend_tell", dtype=dtype, **kwargs
        )
        self.keep_config(locals())
        self.vocabulary_size = len(vocabulary)
        self.start_id, self.end_id = vocabulary.index(START), vocabulary.index(END)
        self.decoder = decoder
        self.encoder_model = encoder_model

    # === Text ===

    def tokenize(self, captions):
        """Word ids (n, context_length) int32: start, the words (lower-cased), end, padding.

        Example:

        >>> model = keras_vt.create_model("show_attend_tell", tiny=True)
        >>> model.detokenize(model.tokenize(["a red circle"]))
        ['a red circle']
        """
        if isinstance(captions, str):
            captions = [captions]
        index = {word: i for i, word in enumerate(self.vocabulary)}
        ids = np.zeros((len(captions), self.context_length), dtype="int32")
        for row, caption in enumerate(captions):
            words = caption.lower().split()
            if len(words) + 2 > self.context_length:
                raise ValueError(
                    f"Invalid captions: {caption!r} has {len(words)} words. Expected at most "
                    f"context_length - 2 = {self.context_length - 2}."
                )
            unknown = [w for w in words if w not in index]
            if unknown and UNKNOWN not in index:
                raise ValueError(
                    f"Invalid captions: {caption!r} has words {unknown!r} that are not in the "
                    f"vocabulary, which has no {UNKNOWN!r} token."
                )
            seq = [self.start_id] + [index.get(w, index.get(UNKNOWN)) for w in words]
            ids[row, : len(seq) + 1] = seq + [self.end_id]
        return ids

    def detokenize(self, ids):
        """Captions from word ids: stops at the end token, skips start and padding."""
        captions = []
        for row in np.asarray(ids):
            words = []
            for i in row:
                if int(i) == self.end_id:
                    break
                if int(i) not in (0, self.start_id):
                    words.append(self.vocabulary[int(i)])
            captions.append(" ".join(words))
        return captions

    # === Training ===

    @staticmethod
    def _images(inputs):
        # `fit((images, caption_ids))` hands the pair to the model: the graph reads the images.
        if isinstance(inputs, (tuple, list)) and len(inputs) == 2:
            return inputs[0]
        return inputs

    def __call__(self, inputs, *args, **kwargs):
        return super().__call__(self._images(inputs), *args, **kwargs)

    def call(self, inputs, training=None, mask=None):
        return super().call(self._images(inputs), training=training, mask=mask)

    def token_id_inputs(self, x, y):
        pair = isinstance(x, (tuple, list)) and len(x) == 2
        return [("x[1]", x[1])] if pair else [] if y is None else [("y", y)]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y is None and isinstance(x, (tuple, list)) and len(x) == 2:
            y = x[1]
        if y is None:
            raise ValueError(
                "ShowAttendTell.fit expects (images, caption_ids) pairs; got no caption ids."
            )
        features = y_pred[1]
        ids = ops.cast(y, "int32")
        if len(ids.shape) != 2 or ids.shape[1] != self.context_length:
            raise ValueError(
                f"Invalid caption_ids: shape {tuple(ids.shape)}. Expected (batch, "
                f"context_length={self.context_length})."
            )
        out = self.decoder.teacher_forcing(features, ids, training=training)
        targets = ids[:, 1:]
        mask = ops.cast(ops.not_equal(targets, 0), "float32")
        log_probs = ops.log_softmax(ops.cast(out["logits"], "float32"), axis=-1)
        token_log_probs = ops.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
        caption_log_probs = ops.sum(token_log_probs * mask, axis=1)
        loss = -ops.sum(caption_log_probs) / ops.maximum(ops.sum(mask), 1.0)
        alpha = out["alpha"] * mask[..., None]
        if self.doubly_stochastic:
            loss = loss + doubly_stochastic_penalty(alpha, lam=self.doubly_stochastic)
        if self.attention == "hard" and training:
            # REINFORCE for the sampled locations: reward = log p(caption | samples).
            reward = ops.stop_gradient(caption_log_probs)
            baseline = self.decoder.reward_baseline
            self.decoder.reward_baseline.assign(
                self.baseline_decay * baseline + (1.0 - self.baseline_decay) * ops.mean(reward)
            )
            steps = ops.shape(alpha)[1]
            rows = (-1, ops.shape(alpha)[-1])
            loss = loss + reinforce_loss(
                ops.reshape(out["alpha"], rows),
                ops.reshape(out["sample"] * mask[..., None], rows),
                ops.reshape(ops.repeat(reward[:, None], steps, axis=1), (-1,)),
                ops.stop_gradient(baseline),
                entropy_weight=self.entropy_weight,
            )
        return loss

    def score(self, images, caption_ids):
        """Per-word log-probabilities (batch, context_length - 1) of captions under teacher forcing.

        Entry t is log p(word t+1 | image, words 0..t); 0 where the target is padding. Hard
        attention reads its most likely location (inference mode).

        Example:

        >>> model = keras_vt.create_model("show_attend_tell", tiny=True)
        >>> images = np.zeros((1, model.image_size, model.image_size, 3), "float32")
        >>> tuple(model.score(images, model.tokenize(["a red star"])).shape)
        (1, 9)
        """
        features = self.encoder_model(ops.convert_to_tensor(images, "float32"), training=False)
        ids = ops.cast(ops.convert_to_tensor(caption_ids), "int32")
        out = self.decoder.teacher_forcing(features, ids, training=False)
        targets = ids[:, 1:]
        log_probs = ops.log_softmax(ops.cast(out["logits"], "float32"), axis=-1)
        token = ops.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
        return token * ops.cast(ops.not_equal(targets, 0), "float32")

    # === Decoding ===

    def generate(self, images, max_length=None, beam_width=1, return_attention=False):
        """Captions for `images` as word ids (batch, max_length), 0 after the end token.

        Greedy decoding (`beam_width=1`) or beam search (the most likely complete caption of
        `beam_width` beams, no length normalisation). Runs step by step, eagerly.

        Args:
            images: (batch, image_size, image_size, 3) preprocessed images.
            max_length: words to generate, >= 1; defaults to `context_length - 1`.
            beam_width: beams, >= 1.
            return_attention: also return the attention of every generated word,
                (batch, 1, max_length, locations).

        Example:

        >>> model = keras_vt.create_model("show_attend_tell", tiny=True)
        >>> images = np.zeros((1, model.image_size, model.image_size, 3), "float32")
        >>> model.generate(images, max_length=4, beam_width=2).shape
        (1, 4)
        """
        max_length = self.context_length - 1 if max_length is None else max_length
        if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
            raise checks.invalid("max_length", max_length, "an int >= 1")
        if max_length < 1:
            raise checks.invalid("max_length", max_length, "an int >= 1 (words to generate)")
        beam_width = checks.check_int("beam_width", beam_width)
        images = np.asarray(images, dtype="float32")
        expected = (self.image_size, self.image_size, 3)
        if images.ndim != 4 or images.shape[1:] != expected or images.shape[0] < 1:
            raise ValueError(
                f"Invalid images: shape {images.shape}. Expected (batch, {expected[0]}, "
                f"{expected[1]}, 3) with batch >= 1."
            )
        features = self.encoder_model(images, training=False)
        if beam_width == 1:
            ids, alphas = self._greedy(features, max_length)
        else:
            ids, alphas = self._beam_search(features, max_length, beam_width)
        return (ids, alphas) if return_attention else ids

    def _greedy(self, features, max_length):
        flat, state = self.decoder.start(features)
        batch = flat.shape[0]
        tokens = np.full((batch,), self.start_id, dtype="int32")
        finished = np.zeros((batch,), dtype=bool)
        ids, alphas = [], []
        for _ in range(max_length):
            out = self.decoder.step(flat, tokens, state, training=False)
            state = out["state"]
            tokens = np.argmax(ops.convert_to_numpy(out["logits"]), axis=-1).astype("int32")
            ids.append(np.where(finished, 0, tokens))
            alphas.append(ops.convert_to_numpy(out["alpha"]))
            finished |= tokens == self.end_id
        return np.stack(ids, axis=1), np.stack(alphas, axis=1)[:, None].astype("float32")

    def _beam_search(self, features, max_length, beam_width):
        flat, state = self.decoder.start(features)
        batch, locations = flat.shape[0], flat.shape[1]
        k = beam_width
        repeat = np.repeat(np.arange(batch), k)
        flat = ops.take(flat, repeat, axis=0)
        state = [ops.take(s, repeat, axis=0) for s in state]
        scores = np.full((batch, k), -np.inf, dtype="float64")
        scores[:, 0] = 0.0  # all beams start identical: keep one
        tokens = np.full((batch * k,), self.start_id, dtype="int32")
        finished = np.zeros((batch, k), dtype=bool)
        seqs = np.zeros((batch, k, 0), dtype="int32")
        alphas = np.zeros((batch, k, 0, locations), dtype="float32")
        vocab = self.vocabulary_size
        for _ in range(max_length):
            out = self.decoder.step(flat, tokens, state, training=False)
            logits = ops.convert_to_numpy(out["logits"]).astype("float64").reshape(batch, k, vocab)
            log_probs = logits - logits.max(-1, keepdims=True)
            log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
            # A finished beam only extends with padding, at no cost.
            log_probs[finished] = -np.inf
            log_probs[finished, 0] = 0.0
            candidates = (scores[..., None] + log_probs).reshape(batch, k * vocab)
            best = np.argsort(-candidates, axis=-1, kind="stable")[:, :k]
            beam, word = best // vocab, (best % vocab).astype("int32")
            scores = np.take_along_axis(candidates, best, axis=-1)
            rows = np.arange(batch)[:, None]
            alpha = ops.convert_to_numpy(out["alpha"]).reshape(batch, k, locations)
            seqs = np.concatenate([seqs[rows, beam], word[..., None]], axis=-1)
            alphas = np.concatenate([alphas[rows, beam], alpha[rows, beam][:, :, None]], axis=2)
            finished = finished[rows, beam] | (word == self.end_id)
            flat_index = (rows * k + beam).reshape(-1)
            state = [ops.take(s, flat_index, axis=0) for s in out["state"]]
            tokens = word.reshape(-1)
        top = np.argmax(scores, axis=-1)
        rows = np.arange(batch)
        return seqs[rows, top], alphas[rows, top][:, None]


# === Registry ===
register(
    "show_attend_tell",
    ShowAttendTell,
    family="captioner",
    config={"name": "show_attend_tell"},
    tiny={
        "image_size": 32,
        "context_length": 10,
        "encoder_config": {"depths": (1, 1, 1), "widths": (8, 16, 16), "stem": "small"},
        "embed_dim": 16,
        "hidden_dim": 32,
        "attention_dim": 16,
    },
)
