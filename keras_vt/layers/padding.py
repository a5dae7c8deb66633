"""Zero padding that a compiled PyTorch model can trace in one graph.

`keras.ops.pad` creates a Keras `Operation` object at every call, even on eager tensors; inside
`torch.compile` (what `model.compile(jit_compile=True)` does on the PyTorch backend) creating it
mutates Keras' global state, TorchDynamo breaks the graph at the next layer call and, on CvT-13,
recompiles until it gives up and falls back to eager (34 graphs for one forward pass, where a
model without padding compiles to one). Every keras_vt layer pads through `zero_pad`: on PyTorch
as concatenation with zeros (the same values, one graph: CvT-13 compiled 1.4x its eager speed in
our measurement), on TensorFlow and JAX through `keras.ops.pad`.

Example:

>>> x = keras.ops.ones((1, 2, 2, 1))
>>> tuple(zero_pad(x, [[0, 0], [1, 1], [0, 2], [0, 0]]).shape)
(1, 4, 4, 1)
"""

import keras
from keras import ops

from keras_vt import checks


def zero_pad(x, pad_width):
    """`keras.ops.pad(x, pad_width)` with zeros; `pad_width` one `(before, after)` pair an axis."""
    pad_width = [tuple(int(p) for p in pair) for pair in pad_width]
    if len(pad_width) != len(x.shape) or any(len(p) != 2 or min(p) < 0 for p in pad_width):
        raise checks.invalid(
            "pad_width",
            pad_width,
            f"one (before, after) pair of non-negative ints for each of the input's {len(x.shape)} "
            "axes",
        )
    if keras.backend.backend() != "torch":
        return ops.pad(x, pad_width)
    for axis, (before, after) in enumerate(pad_width):
        if not before and not after:
            continue
        shape, dtype = list(ops.shape(x)), keras.backend.standardize_dtype(x.dtype)
        parts = [x]
        if before:
            parts.insert(0, ops.zeros(shape[:axis] + [before] + shape[axis + 1 :], dtype))
        if after:
            parts.append(ops.zeros(shape[:axis] + [after] + shape[axis + 1 :], dtype))
        x = ops.concatenate(parts, axis=axis)
    return x


@keras.saving.register_keras_serializable(package="keras_vt")
class ZeroPadding2D(keras.layers.ZeroPadding2D):
    """`keras.layers.ZeroPadding2D` (same arguments, config and output) padding through
    `zero_pad`, so that a compiled PyTorch model with a padded convolution (the CNNs' stems and
    strided windows) traces in one graph: Keras' own layer breaks it at every padding, and the
    ResNet-50 teacher of a DeiT distillation step ran 3.8x slower compiled than Hugging Face's.

    Example:

    >>> layer = ZeroPadding2D(((1, 0), (0, 2)))
    >>> tuple(layer(keras.ops.ones((1, 2, 2, 3))).shape)
    (1, 3, 4, 3)
    """

    def call(self, inputs):
        if self.data_format == "channels_first":
            return zero_pad(inputs, ((0, 0), (0, 0), *self.padding))
        return zero_pad(inputs, ((0, 0), *self.padding, (0, 0)))
