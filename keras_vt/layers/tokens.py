"""Learned tokens prepended to a sequence: the class token, DeiT's distillation token."""

import keras
from keras import ops

from keras_vt import checks
from keras_vt.layers.base import Layer


@keras.saving.register_keras_serializable(package="keras_vt")
class ClassToken(Layer):
    """Prepends `num_tokens` learned tokens to a token sequence.

    One token is ViT's class token; two are DeiT's [class, distillation] tokens. The tokens are one
    weight `tokens` of shape (1, num_tokens, dim).

    Args:
        num_tokens: how many prefix tokens.
        initializer: initializer of the tokens (ViT's JAX code: zeros; timm: normal std 1e-6;
            DeiT: truncated normal std 0.02).
        prepend: prepend the tokens to the input sequence (default), or return them alone,
            broadcast to the input's batch, (batch, num_tokens, dim), for models that keep them
            beside a token map of any rank (CvT's stage-3 class token).

    Example:

    >>> layer = keras_vt.layers.ClassToken(num_tokens=2)
    >>> tuple(layer(np.zeros((4, 196, 192))).shape)
    (4, 198, 192)
    """

    config_keys = ("num_tokens", "initializer", "prepend")

    def __init__(self, num_tokens=1, initializer="zeros", prepend=True, **kwargs):
        super().__init__(**kwargs)
        if int(num_tokens) < 1:
            raise checks.invalid("num_tokens", num_tokens, "num_tokens >= 1")
        self.num_tokens = int(num_tokens)
        self.initializer = keras.initializers.get(initializer)
        self.prepend = bool(prepend)

    def build(self, input_shape):
        self.tokens = self.add_weight(
            shape=(1, self.num_tokens, input_shape[-1]), initializer=self.initializer, name="tokens"
        )

    def call(self, x):
        tokens = ops.cast(self.tokens, x.dtype)
        tokens = ops.broadcast_to(tokens, (ops.shape(x)[0], self.num_tokens, ops.shape(x)[-1]))
        if not self.prepend:
            return tokens
        return ops.concatenate([tokens, x], axis=1)

    def compute_output_shape(self, input_shape):
        if not self.prepend:
            return (input_shape[0], self.num_tokens, input_shape[-1])
        n = None if input_shape[1] is None else input_shape[1] + self.num_tokens
        return (input_shape[0], n, input_shape[2])
