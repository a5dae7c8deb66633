"""Double attention, A² (Chen et al., 2018): gather global descriptors, distribute them back."""

import keras
from keras import ops

from keras_vt import checks
from keras_vt.layers.base import Layer
from keras_vt.layers.conv_common import (
    _attend_logits,
    _check_feature_map,
    _dense,
)


@keras.saving.register_keras_serializable(package="keras_vt")
class DoubleAttention(Layer):
    """Double attention block, A² (Chen et al., 2018), as a residual layer.

    Step 1, gather: `num_descriptors` attention maps `softmax_positions(B(x))` pool the features
    `A(x)` into global descriptors `G = A(x)ᵀ softmax(B(x))`, shape `(feature_channels,
    num_descriptors)`. Step 2, distribute: every position mixes the descriptors with its own
    weights `softmax_descriptors(V(x))`: `Z = softmax(V(x)) Gᵀ`. A 1x1 convolution maps `Z` back to
    the input width and the result is added to the input. A, B and V are 1x1 convolutions.

    Args:
        feature_channels: width `c_m` of the gathered features; defaults to `channels // 4`.
        num_descriptors: number `c_n` of global descriptors; defaults to `channels // 4`.
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: `(batch, height, width, channels)`.
        return_attention_scores: also return `(gather, distribute)`: `gather`
            `(batch, 1, num_descriptors, height * width)`, each descriptor's weights over the
            positions, and `distribute` `(batch, 1, height * width, num_descriptors)`, each
            position's weights over the descriptors; both sum to 1 over the last axis.

    Example:

    >>> layer = DoubleAttention(feature_channels=8, num_descriptors=4)
    >>> tuple(layer(np.random.rand(2, 6, 6, 16).astype("float32")).shape)
    (2, 6, 6, 16)
    """

    returns_attention_scores = True
    config_keys = ("feature_channels", "num_descriptors")

    def __init__(self, feature_channels=None, num_descriptors=None, **kwargs):
        super().__init__(**kwargs)
        checks.check_int("feature_channels", feature_channels, allow_none=True)
        checks.check_int("num_descriptors", num_descriptors, allow_none=True)
        self.feature_channels = feature_channels
        self.num_descriptors = num_descriptors

    def build(self, input_shape):
        shape = _check_feature_map(self, input_shape)
        channels = shape[-1]
        self._cm = self.feature_channels or max(channels // 4, 1)
        self._cn = self.num_descriptors or max(channels // 4, 1)
        self.features = _dense(self._cm, "features", self)
        self.gather_maps = _dense(self._cn, "gather_maps", self)
        self.distribute_maps = _dense(self._cn, "distribute_maps", self)
        for layer in (self.features, self.gather_maps, self.distribute_maps):
            layer.build(shape)
        self.out = _dense(channels, "out", self)
        self.out.build(shape[:-1] + (self._cm,))

    def call(self, inputs, return_attention_scores=False):
        batch = ops.shape(inputs)[0]
        height, width = ops.shape(inputs)[1], ops.shape(inputs)[2]
        a = ops.reshape(self.features(inputs), (batch, -1, self._cm))
        gather_logits = ops.reshape(self.gather_maps(inputs), (batch, -1, self._cn))
        distribute_logits = ops.reshape(self.distribute_maps(inputs), (batch, -1, self._cn))
        # Gather: each descriptor (a query) attends over the positions (keys).
        descriptors, gather = _attend_logits(
            ops.transpose(gather_logits, (0, 2, 1))[:, None], a[:, :, None, :]
        )
        # Distribute: each position (a query) attends over the descriptors (keys).
        z, distribute = _attend_logits(distribute_logits[:, None], descriptors)
        outputs = inputs + self.out(ops.reshape(z, (batch, height, width, self._cm)))
        if return_attention_scores:
            return outputs, (gather, distribute)
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
