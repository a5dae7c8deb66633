"""Turning images into token sequences."""

import keras
from keras import ops


def check_images(shape, argument="images", channels=3):
    """Raises a `ValueError` unless `shape` is (batch, height, width, `channels`)."""
    if len(shape) != 4:
        raise ValueError(
            f"Expected {argument} of rank 4 (batch, height, width, {channels}), "
            f"got {argument} with shape {tuple(shape)} (rank {len(shape)})."
        )
    if shape[-1] is not None and channels is not None and shape[-1] != channels:
        raise ValueError(
            f"Expected {argument} with {channels} channels last, got {argument} with shape "
            f"{tuple(shape)} ({shape[-1]} channels). Images are channels-last (batch, h, w, c)."
        )


@keras.saving.register_keras_serializable(package="keras_vt")
class PatchEmbedding(keras.layers.Layer):
    """Splits images into non-overlapping patches and embeds each one linearly.

    A convolution with kernel = stride = `patch_size` and VALID padding, flattened to tokens, as in
    ViT. Image height and width must be divisible by `patch_size`.

    Args:
        patch_size: side of a square patch, in pixels.
        hidden_dim: embedding width.
        use_bias: whether the projection has a bias (CLIP's has none).

    Example:

    >>> layer = keras_vt.layers.PatchEmbedding(patch_size=16, hidden_dim=192)
    >>> layer(np.zeros((2, 224, 224, 3))).shape
    (2, 196, 192)
    """

    def __init__(self, patch_size, hidden_dim, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = int(patch_size)
        self.hidden_dim = int(hidden_dim)
        self.use_bias = use_bias
        self.projection = keras.layers.Conv2D(
            self.hidden_dim,
            self.patch_size,
            strides=self.patch_size,
            padding="valid",
            use_bias=use_bias,
            dtype=self.dtype_policy,
            name="projection",
        )

    def _check(self, shape):
        check_images(shape, channels=None)
        for axis, size in (("height", shape[1]), ("width", shape[2])):
            if size is not None and size % self.patch_size:
                raise ValueError(
                    f"Image {axis} {size} is not divisible by patch_size={self.patch_size}: "
                    f"expected images whose height and width are multiples of {self.patch_size}."
                )

    def build(self, input_shape):
        self._check(input_shape)
        self.projection.build(input_shape)

    def call(self, images):
        x = self.projection(images)
        batch, height, width = ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[2]
        return ops.reshape(x, (batch, height * width, self.hidden_dim))

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        h, w = input_shape[1], input_shape[2]
        tokens = None if h is None or w is None else (h // self.patch_size) * (w // self.patch_size)
        return (input_shape[0], tokens, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            patch_size=self.patch_size, hidden_dim=self.hidden_dim, use_bias=self.use_bias
        )
        return config
