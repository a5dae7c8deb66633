"""Show, Attend and Tell's spatial attention (Xu et al., 2015): soft and hard."""

import keras
from keras import ops

from keras_vt import checks
from keras_vt.layers.base import Layer
from keras_vt.layers.conv_common import _attend_logits, _dense


@keras.saving.register_keras_serializable(package="keras_vt")
class SpatialSoftAttention(Layer):
    """Soft spatial attention driven by a recurrent state (Xu et al., 2015, "soft" attention).

    For annotation vectors `a_i` (image locations) and a decoder state `h`:
    `e_i = U · tanh(W a_i + W_h h + b)`, `α = softmax(e)`, and the context is the expectation
    `z = Σ_i α_i a_i` (optionally gated by `β = σ(w_β · h + b_β)`, the paper's §4.2.1).
    Everything is differentiable, so it trains with backpropagation.

    Args:
        units: width of the scoring MLP.
        use_gate: multiply the context by the scalar gate β.
        **kwargs: base `Layer` arguments.

    Call arguments:
        features: `(batch, locations, channels)` or a feature map `(batch, height, width, channels)`.
        hidden: `(batch, hidden_dim)`.

    Returns:
        `(context, alpha)`: `(batch, channels)` and the attention weights, `(batch, locations)` or
        `(batch, height, width)`, summing to 1.

    Example:

    >>> layer = SpatialSoftAttention(units=16)
    >>> context, alpha = layer(np.random.rand(2, 7, 7, 32), np.random.rand(2, 10))
    >>> tuple(context.shape), tuple(alpha.shape)
    ((2, 32), (2, 7, 7))
    """

    config_keys = ("units", "use_gate")

    def __init__(self, units, use_gate=False, **kwargs):
        super().__init__(**kwargs)
        checks.check_int("units", units)
        self.units = units
        self.use_gate = bool(use_gate)

    def build(self, features_shape, hidden_shape):
        features_shape, hidden_shape = tuple(features_shape), tuple(hidden_shape)
        if len(features_shape) not in (3, 4) or features_shape[-1] is None:
            raise ValueError(
                f"Invalid features shape: features_shape={features_shape}. Expected "
                "(batch, locations, channels) or (batch, height, width, channels)."
            )
        if len(hidden_shape) != 2 or hidden_shape[-1] is None:
            raise ValueError(
                f"Invalid hidden shape: hidden_shape={hidden_shape}. Expected (batch, hidden_dim)."
            )
        self.feature_proj = _dense(self.units, "feature_proj", self, use_bias=True)
        self.feature_proj.build((None, features_shape[-1]))
        self.hidden_proj = _dense(self.units, "hidden_proj", self, use_bias=False)
        self.hidden_proj.build(hidden_shape)
        self.score = _dense(1, "score", self, use_bias=False)
        self.score.build((None, self.units))
        if self.use_gate:
            self.gate = _dense(1, "gate", self)
            self.gate.build(hidden_shape)

    def _alpha(self, features, hidden):
        """Flattened features (B, L, D), float32 weights (B, L) and the soft context (B, D)."""
        flat = ops.reshape(features, (ops.shape(features)[0], -1, ops.shape(features)[-1]))
        energy = ops.tanh(self.feature_proj(flat) + self.hidden_proj(hidden)[:, None, :])
        logits = ops.squeeze(self.score(energy), axis=-1)  # e_i = U tanh(W a_i + W_h h)
        # The softmax and the expectation go through the shared attention core: one query
        # (the decoder state) whose logits over the locations are e.
        context, alpha = _attend_logits(logits[:, None, None, :], flat[:, :, None, :])
        return flat, alpha[:, 0, 0, :], context[:, 0, 0, :]

    def _finish(self, features, hidden, context, alpha):
        if self.use_gate:
            context = context * ops.sigmoid(self.gate(hidden))
        if len(features.shape) == 4:
            alpha = ops.reshape(alpha, ops.shape(features)[:3])
        return context, alpha

    def call(self, features, hidden):
        _, alpha, context = self._alpha(features, hidden)
        return self._finish(features, hidden, context, alpha)


@keras.saving.register_keras_serializable(package="keras_vt")
class SpatialHardAttention(SpatialSoftAttention):
    """Hard (stochastic) spatial attention (Xu et al., 2015, "hard" attention).

    Scores locations exactly like `SpatialSoftAttention`, then at training time *samples* one
    location `s ~ Categorical(α)` and returns its annotation vector `a_s` as the context; at
    inference it returns the expected context `Σ α_i a_i` (the deterministic approximation the
    paper also uses). The sample is not differentiable: gradients do not reach the scoring MLP
    through the context. Train the scores with REINFORCE, for instance by adding
    `reinforce_loss(alpha, sample, reward, baseline, entropy_weight)` to the loss, with the
    reward the log-likelihood of the caption (or any task reward) and a moving-average baseline.

    Returns:
        `(context, alpha, sample)`: `sample` is a one-hot `(batch, locations)` of the sampled
        location at training time and of the most likely location at inference.

    Example:

    >>> layer = SpatialHardAttention(units=16, seed=0)
    >>> context, alpha, sample = layer(np.random.rand(2, 49, 32), np.random.rand(2, 10),
    ...                                training=True)
    >>> tuple(sample.shape)   # one-hot location per example
    (2, 49)
    """

    config_keys = SpatialSoftAttention.config_keys + ("seed",)

    def __init__(self, units, use_gate=False, seed=None, **kwargs):
        super().__init__(units, use_gate=use_gate, **kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, features, hidden, training=None):
        flat, alpha, soft_context = self._alpha(features, hidden)
        locations = ops.shape(alpha)[-1]
        if training:
            index = keras.random.categorical(ops.log(alpha + 1e-12), 1, seed=self.seed_generator)[
                :, 0
            ]
            sample = ops.one_hot(index, locations, dtype="float32")
            context = ops.einsum("bl,bld->bd", ops.cast(sample, flat.dtype), flat)
        else:
            sample = ops.one_hot(ops.argmax(alpha, axis=-1), locations, dtype="float32")
            context = soft_context
        context, alpha = self._finish(features, hidden, context, alpha)
        return context, alpha, sample
