"""Non-local block (Wang et al., 2018): every position attends to every (pooled) position."""

import keras
from keras import ops

from keras_vt import checks
from keras_vt.layers.attention import attend
from keras_vt.layers.base import Layer
from keras_vt.layers.conv_common import _check_feature_map, _dense


@keras.saving.register_keras_serializable(package="keras_vt")
class NonLocalBlock(Layer):
    """Non-local block (Wang et al., 2018), embedded-Gaussian form, as a residual layer.

    `z = x + BN(W · softmax(θ(x) φ(x)ᵀ) g(x))`, where θ, φ and g are 1x1 convolutions to
    `inter_channels` (default half the input channels), φ and g optionally max-pooled 2x2 to cut
    the cost by four, and W is a 1x1 convolution back to the input width. The BatchNorm scale
    starts at 0, so the block starts as the identity and can be inserted into a pretrained network.

    Args:
        inter_channels: width of θ, φ and g; defaults to `channels // 2`.
        sub_sample: max-pool φ and g by 2x2 ("same" padding) before the attention.
        use_batch_norm: BatchNorm (γ = 0) after W. Without it, W's kernel starts at zero instead.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, height, width, channels)`.
        training: BatchNorm mode.
        return_attention_scores: also return the probabilities, `(batch, 1, height * width,
            keys)`, keys the (pooled) positions.

    Example:

    >>> layer = NonLocalBlock()
    >>> x = np.random.rand(2, 8, 8, 16).astype("float32")
    >>> y, scores = layer(x, return_attention_scores=True)
    >>> tuple(y.shape), tuple(scores.shape)          # keys: 4 x 4 pooled positions
    ((2, 8, 8, 16), (2, 1, 64, 16))
    >>> np.allclose(keras.ops.convert_to_numpy(y), x)  # identity at initialisation
    True
    """

    returns_attention_scores = True
    config_keys = ("inter_channels", "sub_sample", "use_batch_norm")

    def __init__(self, inter_channels=None, sub_sample=True, use_batch_norm=True, **kwargs):
        super().__init__(**kwargs)
        checks.check_int("inter_channels", inter_channels, allow_none=True)
        self.inter_channels = inter_channels
        self.sub_sample = bool(sub_sample)
        self.use_batch_norm = bool(use_batch_norm)

    def build(self, input_shape):
        shape = _check_feature_map(self, input_shape)
        channels = shape[-1]
        inner = self.inter_channels or max(channels // 2, 1)
        self._inner = inner
        self.theta = _dense(inner, "theta", self)
        self.phi = _dense(inner, "phi", self)
        self.g = _dense(inner, "g", self)
        for layer in (self.theta, self.phi, self.g):
            layer.build(shape)
        if self.sub_sample:
            self.pool = keras.layers.MaxPooling2D(
                2, padding="same", name="pool", dtype=self.dtype_policy
            )
        out_init = "glorot_uniform" if self.use_batch_norm else "zeros"
        self.out = _dense(channels, "out", self, kernel_initializer=out_init)
        self.out.build(shape[:-1] + (inner,))
        if self.use_batch_norm:
            self.bn = keras.layers.BatchNormalization(
                epsilon=1e-5,
                momentum=0.9,
                gamma_initializer="zeros",
                name="bn",
                dtype=self.dtype_policy,
            )
            self.bn.build(shape)

    def call(self, inputs, training=None, return_attention_scores=False):
        batch = ops.shape(inputs)[0]
        height, width = ops.shape(inputs)[1], ops.shape(inputs)[2]
        theta = ops.reshape(self.theta(inputs), (batch, -1, self._inner))
        phi, g = self.phi(inputs), self.g(inputs)
        if self.sub_sample:
            phi, g = self.pool(phi), self.pool(g)
        phi = ops.reshape(phi, (batch, -1, self._inner))
        g = ops.reshape(g, (batch, -1, self._inner))
        # One head: (batch, positions, 1, inner) through the shared attention core, unscaled
        # logits as in the paper's embedded-Gaussian form.
        y, scores = attend(
            theta[:, :, None, :],
            phi[:, :, None, :],
            g[:, :, None, :],
            1.0,
            fused=not return_attention_scores,
        )
        y = self.out(ops.reshape(y, (batch, height, width, self._inner)))
        if self.use_batch_norm:
            y = self.bn(y, training=training)
        outputs = inputs + y
        return (outputs, scores) if return_attention_scores else outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
