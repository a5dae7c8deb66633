"""A depthwise convolution that stays fast where XLA's grouped convolution is slow (JAX on CPU)."""

import keras
from keras import ops

from keras_vt import checks
from keras_vt.layers.padding import zero_pad

IMPLEMENTATIONS = ("auto", "conv", "shifts")


@keras.saving.register_keras_serializable(package="keras_vt")
class DepthwiseConv2D(keras.layers.DepthwiseConv2D):
    """`keras.layers.DepthwiseConv2D` (same arguments, weights and outputs) with a second way to
    compute it: a sum of `k * k` shifted, per-channel-scaled copies of the input.

    XLA on CPU lowers a grouped convolution (`feature_group_count = channels`) to a slow generic
    loop: for CvT's q/k/v projections (3x3, 64-384 channels) the shifted sum, which XLA fuses into
    one elementwise loop, measured 8-35x faster on JAX (`benchmarks/depthwise.py`). TensorFlow
    without XLA and PyTorch run their own depthwise kernels, which are fast.

    Args:
        implementation: `"conv"` (Keras' `ops.depthwise_conv`), `"shifts"` (the shifted sum) or
            `"auto"` (default): shifts on the JAX backend, conv elsewhere. The shifted sum covers
            `depth_multiplier=1`, `dilation_rate=1` and channels-last inputs; other settings use
            the convolution.
        **kwargs: those of `keras.layers.DepthwiseConv2D`.

    Example:

    >>> layer = keras_vt.layers.DepthwiseConv2D(3, padding="same", implementation="shifts")
    >>> x = np.random.default_rng(0).normal(size=(1, 5, 5, 4)).astype("float32")
    >>> y = layer(x)
    >>> tuple(y.shape)
    (1, 5, 5, 4)
    >>> reference = keras.layers.DepthwiseConv2D(3, padding="same")
    >>> reference.build(x.shape)
    >>> reference.set_weights(layer.get_weights())
    >>> difference = keras.ops.convert_to_numpy(reference(x)) - keras.ops.convert_to_numpy(y)
    >>> bool(np.abs(difference).max() < 1e-5)
    True
    """

    def __init__(self, kernel_size, implementation="auto", **kwargs):
        if implementation not in IMPLEMENTATIONS:
            raise checks.unknown("implementation", implementation, IMPLEMENTATIONS)
        super().__init__(kernel_size, **kwargs)
        self.implementation = implementation

    def get_config(self):
        return {**super().get_config(), "implementation": self.implementation}

    def _uses_shifts(self):
        supported = (
            self.depth_multiplier == 1
            and tuple(self.dilation_rate) == (1, 1)
            and self.data_format == "channels_last"
        )
        if self.implementation == "auto":
            return supported and keras.backend.backend() == "jax"
        return supported and self.implementation == "shifts"

    def call(self, inputs):
        return self.activation(self.convolve(inputs, self.kernel, self.bias))

    def convolve(self, inputs, kernel, bias=None):
        """This layer's convolution with `kernel` (and `bias`, if not None) in place of its own
        weights, without the activation: e.g. a kernel with a BatchNorm folded in (CvT)."""
        inputs = ops.convert_to_tensor(inputs)
        height, width = inputs.shape[1], inputs.shape[2]
        if not self._uses_shifts() or height is None or width is None:
            # The shifted sum needs a static grid (JAX always has it).
            outputs = ops.depthwise_conv(
                inputs,
                kernel,
                strides=self.strides,
                padding=self.padding,
                data_format=self.data_format,
                dilation_rate=self.dilation_rate,
            )
        else:
            outputs = self._shifted_sum(inputs, kernel, height, width)
        if bias is not None:
            # Keras' own bias shape and op: TensorFlow's graph rewrites (conv + bias fusion) depend
            # on them, so this keeps training bit-identical to keras.layers.DepthwiseConv2D.
            shape = (1, 1, 1, -1) if self.data_format == "channels_last" else (1, -1, 1, 1)
            outputs = ops.add(outputs, ops.reshape(bias, shape))
        return outputs

    def _shifted_sum(self, inputs, kernel, height, width):
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        if self.padding == "same":
            pads = [_same_padding(height, kh, sh), _same_padding(width, kw, sw)]
            inputs = zero_pad(inputs, [[0, 0], pads[0], pads[1], [0, 0]])
            height, width = height + sum(pads[0]), width + sum(pads[1])
        out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
        outputs = None
        for i in range(kh):
            for j in range(kw):
                rows = slice(i, i + (out_h - 1) * sh + 1, sh)
                cols = slice(j, j + (out_w - 1) * sw + 1, sw)
                term = inputs[:, rows, cols] * kernel[i, j, :, 0]
                outputs = term if outputs is None else outputs + term
        return outputs


def _same_padding(size, kernel, stride):
    """(before, after) padding of TensorFlow's and Keras' "same" along one axis."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return [total // 2, total - total // 2]
