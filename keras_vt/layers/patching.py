"""Turning images into token sequences."""

import keras
from keras import ops

from keras_vt import checks
from keras_vt.layers.base import Layer
from keras_vt.layers.padding import zero_pad


def check_images(shape, argument="images", channels=3):
    """Raises a `ValueError` unless `shape` is (batch, height, width, `channels`)."""
    if len(shape) != 4:
        raise checks.invalid(
            argument,
            None,
            f"{argument} of rank 4 (batch, height, width, {channels})",
            problem=f"got {argument} with shape {tuple(shape)} (rank {len(shape)})",
        )
    if shape[-1] is not None and channels is not None and shape[-1] != channels:
        raise ValueError(
            f"Expected {argument} with {channels} channels last, got {argument} with shape "
            f"{tuple(shape)} ({shape[-1]} channels). Images are channels-last (batch, h, w, c)."
        )


@keras.saving.register_keras_serializable(package="keras_vt")
class PatchEmbedding(Layer):
    """Splits images into non-overlapping patches and embeds each one linearly.

    A convolution with kernel = stride = `patch_size` and VALID padding, flattened to tokens, as in
    ViT. Image height and width must be divisible by `patch_size`.

    Args:
        patch_size: side of a square patch, in pixels.
        hidden_dim: embedding width.
        use_bias: whether the projection has a bias (CLIP's has none).

    Example:

    >>> layer = keras_vt.layers.PatchEmbedding(patch_size=16, hidden_dim=192)
    >>> tuple(layer(np.zeros((2, 224, 224, 3))).shape)
    (2, 196, 192)
    """

    config_keys = ("patch_size", "hidden_dim", "use_bias")

    def __init__(self, patch_size, hidden_dim, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = checks.check_int("patch_size", patch_size)
        self.hidden_dim = checks.check_int("hidden_dim", hidden_dim)
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


def token_grid(grid, argument="grid"):
    """(height, width) of a token grid given as a (height, width) pair or a rank-4 feature map.

    Layers that fold a token sequence back onto its 2-D grid (the position-encoding generator,
    convolutional projection attention) take the grid this way: either explicit sizes, or the
    (batch, height, width, channels) feature map the tokens were flattened from, whose height and
    width are read at call time. The second form keeps functional models resolution-free.
    """
    if isinstance(grid, (tuple, list)):
        if len(grid) != 2:
            raise checks.invalid(
                argument,
                grid,
                "(height, width) or a (batch, height, width, channels) feature map",
            )
        return grid[0], grid[1]
    shape = ops.shape(grid)
    if len(shape) != 4:
        raise checks.invalid_shape(
            argument,
            shape,
            f"{argument} as (height, width) or a (batch, height, width, channels) feature map",
        )
    return shape[1], shape[2]


@keras.saving.register_keras_serializable(package="keras_vt")
class ConvTokenEmbedding(Layer):
    """Convolutional token embedding: zero padding, a strided convolution, then LayerNorm.

    CvT opens each stage with it (kernel/stride/padding 7/4/2, then 3/2/1): overlapping patches,
    so neighbouring tokens share pixels. With `kernel_size == strides`, `padding=0` and
    `normalize=False` it is ViT's patchify convolution (CPVT uses it that way).

    The output is the token map (batch, height', width', filters): tokens together with their grid
    shape. Flatten it with `keras.layers.Reshape((-1, filters))` to get the token sequence, and pass
    the map itself as the `grid` of `PositionEncodingGenerator` or `ConvProjectionAttention`.
    height' = (height + 2 * padding - kernel_size) // strides + 1 (and likewise width').

    Args:
        filters: embedding width.
        kernel_size: convolution kernel side.
        strides: convolution stride.
        padding: zero padding on each side, in pixels (PyTorch's `padding`, symmetric).
        normalize: LayerNorm over the channels after the convolution.
        epsilon: LayerNorm epsilon (CvT: 1e-5).
        use_bias: bias of the convolution.

    Raises:
        ValueError: inputs that are not rank 4, whose channels differ from those the layer was
            built for, that are smaller than the kernel can take, or (non-overlapping patches,
            `kernel_size == strides` and no padding) not divisible by the patch size.

    Example:

    >>> layer = keras_vt.layers.ConvTokenEmbedding(64, kernel_size=7, strides=4, padding=2)
    >>> tuple(layer(np.zeros((2, 224, 224, 3))).shape)
    (2, 56, 56, 64)
    """

    config_keys = (
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "normalize",
        "epsilon",
        "use_bias",
    )

    def __init__(
        self,
        filters,
        kernel_size,
        strides,
        padding=0,
        normalize=True,
        epsilon=1e-5,
        use_bias=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = checks.check_int("filters", filters)
        self.kernel_size = checks.check_int("kernel_size", kernel_size)
        self.strides = checks.check_int("strides", strides)
        self.padding = checks.check_int("padding", padding, 0)
        self.normalize = bool(normalize)
        self.epsilon = float(epsilon)
        self.use_bias = bool(use_bias)
        self.projection = keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding="valid",
            use_bias=self.use_bias,
            dtype=self.dtype_policy,
            name="projection",
        )
        self.norm = (
            keras.layers.LayerNormalization(
                epsilon=self.epsilon, dtype=self.dtype_policy, name="norm"
            )
            if self.normalize
            else None
        )

    @property
    def patchify(self):
        return self.kernel_size == self.strides and self.padding == 0

    def _check(self, shape):
        check_images(shape, argument="images", channels=getattr(self, "_channels", None))
        least = self.kernel_size - 2 * self.padding
        for axis, size in (("height", shape[1]), ("width", shape[2])):
            if size is None:
                continue
            if size < least:
                raise ValueError(
                    f"Image {axis} {size} is smaller than layer {self.name!r} can take: a "
                    f"{self.kernel_size}x{self.kernel_size} convolution with padding "
                    f"{self.padding} needs images of at least {least} pixels."
                )
            if self.patchify and size % self.strides:
                raise ValueError(
                    f"Image {axis} {size} is not divisible by the patch size {self.strides} of "
                    f"layer {self.name!r}: expected a multiple of {self.strides} "
                    f"(e.g. {max(1, round(size / self.strides)) * self.strides})."
                )

    def build(self, input_shape):
        self._check(input_shape)
        if input_shape[-1] is None:
            raise ValueError(
                f"Layer {self.name!r} needs a known channel count, got input shape {input_shape}."
            )
        self._channels = int(input_shape[-1])
        pad = 2 * self.padding
        padded = tuple(input_shape[:1]) + tuple(
            None if s is None else s + pad for s in input_shape[1:3]
        )
        self.projection.build(padded + (self._channels,))
        if self.norm is not None:
            self.norm.build(self.compute_output_shape(input_shape))

    def call(self, images):
        self._check(tuple(images.shape))
        if self.padding:
            p = self.padding
            images = zero_pad(images, [[0, 0], [p, p], [p, p], [0, 0]])
        x = self.projection(images)
        return self.norm(x) if self.norm is not None else x

    def compute_output_shape(self, input_shape):
        self._check(input_shape)

        def side(size):
            if size is None:
                return None
            return (size + 2 * self.padding - self.kernel_size) // self.strides + 1

        return (input_shape[0], side(input_shape[1]), side(input_shape[2]), self.filters)
