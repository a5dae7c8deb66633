"""Position information: learned tables (with resampling to new grids) and fixed 2-D sin-cos."""

import math

import keras
import numpy as np
from keras import ops

from keras_vt import checks
from keras_vt.layers.base import Layer
from keras_vt.layers.depthwise import DepthwiseConv2D
from keras_vt.layers.patching import token_grid

INTERPOLATIONS = ("bicubic", "bilinear")


def _cubic_kernel(x, a):
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def interpolation_matrix(old, new, interpolation="bicubic", antialias=False):
    """The (new, old) matrix that resamples a 1-D signal of length `old` to length `new`.

    Half-pixel centres (`align_corners=False`), as PyTorch's `interpolate` and Hugging Face's
    `interpolate_pos_encoding` use. Without antialiasing, taps outside the signal are clamped to
    its edge and bicubic uses a = -0.75 (PyTorch, timm); with `antialias=True` the kernel is
    widened by the down-sampling factor and renormalised at the borders, with a = -0.5 (PIL and
    PyTorch's antialiased path).
    """
    if interpolation not in INTERPOLATIONS:
        raise checks.unknown("interpolation", interpolation, INTERPOLATIONS)
    scale = old / new
    centres = (np.arange(new) + 0.5) * scale - 0.5
    if antialias:
        a, support = -0.5, (2.0 if interpolation == "bicubic" else 1.0)
        stretch = max(scale, 1.0)
        taps = np.arange(old)
        distance = (taps[None, :] - centres[:, None]) / stretch
        if interpolation == "bicubic":
            weights = _cubic_kernel(distance, a)
        else:
            weights = np.maximum(0.0, 1.0 - np.abs(distance))
        weights = np.where(np.abs(distance) < support, weights, 0.0)
        return weights / weights.sum(axis=1, keepdims=True)
    matrix = np.zeros((new, old))
    rows = np.arange(new)
    if interpolation == "bilinear":
        centres = np.maximum(centres, 0.0)
        left = np.floor(centres).astype(int)
        frac = centres - left
        np.add.at(matrix, (rows, np.clip(left, 0, old - 1)), 1.0 - frac)
        np.add.at(matrix, (rows, np.clip(left + 1, 0, old - 1)), frac)
        return matrix
    left = np.floor(centres).astype(int)
    frac = centres - left
    for offset in (-1, 0, 1, 2):
        weight = _cubic_kernel(frac - offset, -0.75)
        np.add.at(matrix, (rows, np.clip(left + offset, 0, old - 1)), weight)
    return matrix


def resample_grid(grid, new_size, interpolation="bicubic", antialias=False):
    """Resamples a (height, width, dim) numpy grid to `new_size` = (height, width)."""
    grid = np.asarray(grid, dtype="float64")
    rows = interpolation_matrix(grid.shape[0], new_size[0], interpolation, antialias)
    cols = interpolation_matrix(grid.shape[1], new_size[1], interpolation, antialias)
    return np.einsum("ih,jw,hwd->ijd", rows, cols, grid)


def resample_positions(
    table, new_grid, num_prefix_tokens=1, old_grid=None, interpolation="bicubic", antialias=False
):
    """Resamples a learned position table (1, prefix + h*w, dim) to a new patch grid.

    The prefix-token entries (class, distillation) are kept as they are; the grid entries are
    reshaped to 2-D, resized and flattened back, as in ViT and DeiT fine-tuning at higher
    resolution.

    Args:
        table: array of shape (1, num_prefix_tokens + h * w, dim).
        new_grid: (height, width) of the new patch grid, or an int for a square grid.
        num_prefix_tokens: entries before the grid that are kept.
        old_grid: (height, width) of the table's grid; inferred as square when omitted.
        interpolation: "bicubic" (default) or "bilinear".
        antialias: widen the kernel when down-sampling (timm's default; PIL-style).

    Example:

    >>> table = np.random.normal(size=(1, 1 + 14 * 14, 192))
    >>> keras_vt.layers.resample_positions(table, (24, 24)).shape
    (1, 577, 192)
    """
    table = np.asarray(table)
    new_grid = _as_grid(new_grid, "new_grid")
    num_grid = table.shape[1] - num_prefix_tokens
    if old_grid is None:
        side = math.isqrt(num_grid)
        if side * side != num_grid:
            raise ValueError(
                f"Cannot infer a square grid from a position table with {num_grid} grid entries "
                f"(table shape {table.shape}, num_prefix_tokens={num_prefix_tokens}); pass old_grid."
            )
        old_grid = (side, side)
    old_grid = _as_grid(old_grid, "old_grid")
    if old_grid[0] * old_grid[1] != num_grid:
        raise ValueError(
            f"old_grid={old_grid} has {old_grid[0] * old_grid[1]} cells but the table has "
            f"{num_grid} grid entries (shape {table.shape})."
        )
    prefix, grid = table[:, :num_prefix_tokens], table[0, num_prefix_tokens:]
    if tuple(old_grid) == tuple(new_grid):
        return table
    grid = grid.reshape(old_grid[0], old_grid[1], -1)
    grid = resample_grid(grid, new_grid, interpolation, antialias).astype(table.dtype)
    return np.concatenate([prefix, grid.reshape(1, new_grid[0] * new_grid[1], -1)], axis=1)


def _as_grid(grid, argument):
    if isinstance(grid, int):
        grid = (grid, grid)
    grid = tuple(int(g) for g in grid)
    if len(grid) != 2 or min(grid) < 1:
        raise checks.invalid(argument, grid, "(height, width) of positive ints")
    return grid


@keras.saving.register_keras_serializable(package="keras_vt")
class PositionEmbedding(Layer):
    """Learned position table added to [prefix tokens, grid tokens], as in ViT and DeiT.

    Loading a table saved for another grid (through `load_weights`, `create_model(weights=...)` or
    `keras_vt.models.resize`) resamples it with `interpolation` instead of failing.

    Args:
        grid_size: (height, width) of the patch grid, or an int for a square grid.
        num_prefix_tokens: class (and distillation) tokens in front of the grid.
        initializer: initializer of the table (ViT: normal, std 0.02).
        interpolation: "bicubic" (default, DeiT and timm) or "bilinear" (ViT's JAX code).
        antialias: widen the kernel when shrinking the grid.

    Example:

    >>> layer = keras_vt.layers.PositionEmbedding(grid_size=14, num_prefix_tokens=1)
    >>> tuple(layer(np.zeros((2, 197, 192))).shape)
    (2, 197, 192)
    """

    config_keys = ("grid_size", "num_prefix_tokens", "initializer", "interpolation", "antialias")

    def __init__(
        self,
        grid_size,
        num_prefix_tokens=1,
        initializer=None,
        interpolation="bicubic",
        antialias=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.grid_size = _as_grid(grid_size, "grid_size")
        self.num_prefix_tokens = int(num_prefix_tokens)
        if interpolation not in INTERPOLATIONS:
            raise checks.unknown("interpolation", interpolation, INTERPOLATIONS)
        self.interpolation = interpolation
        self.antialias = bool(antialias)
        self.initializer = keras.initializers.get(
            initializer or keras.initializers.RandomNormal(stddev=0.02)
        )

    @property
    def num_positions(self):
        return self.num_prefix_tokens + self.grid_size[0] * self.grid_size[1]

    def build(self, input_shape):
        if input_shape[1] is not None and input_shape[1] != self.num_positions:
            raise ValueError(
                f"Expected {self.num_positions} tokens ({self.num_prefix_tokens} prefix + grid "
                f"{self.grid_size[0]}x{self.grid_size[1]}), got inputs of shape {input_shape}."
            )
        self.embeddings = self.add_weight(
            shape=(1, self.num_positions, input_shape[-1]),
            initializer=self.initializer,
            name="embeddings",
        )

    def call(self, x):
        return x + ops.cast(self.embeddings, x.dtype)

    def resampled(self, grid_size):
        """The table resampled to `grid_size`, as numpy (prefix entries kept)."""
        return resample_positions(
            ops.convert_to_numpy(self.embeddings),
            grid_size,
            self.num_prefix_tokens,
            old_grid=self.grid_size,
            interpolation=self.interpolation,
            antialias=self.antialias,
        )

    def load_own_variables(self, store):
        table = np.asarray(store["0"])
        if table.shape != tuple(self.embeddings.shape):
            if table.ndim != 3 or table.shape[-1] != self.embeddings.shape[-1]:
                raise ValueError(
                    f"Position table of shape {table.shape} does not fit layer {self.name!r} "
                    f"(expected (1, n, {self.embeddings.shape[-1]}))."
                )
            table = resample_positions(
                table,
                self.grid_size,
                self.num_prefix_tokens,
                interpolation=self.interpolation,
                antialias=self.antialias,
            )
        self.embeddings.assign(table)

    def compute_output_shape(self, input_shape):
        return input_shape


def sincos_position_table(grid_size, dim, temperature=10000.0):
    """Fixed 2-D sin-cos table (h*w, dim): a quarter of the channels per sin/cos of y and x."""
    height, width = _as_grid(grid_size, "grid_size")
    if dim % 4:
        raise ValueError(f"Expected a width divisible by 4 for 2-D sin-cos positions, got {dim}.")
    y, x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    omega = 1.0 / temperature ** (np.arange(dim // 4) / (dim // 4))
    y = y.reshape(-1, 1) * omega[None]
    x = x.reshape(-1, 1) * omega[None]
    return np.concatenate([np.sin(x), np.cos(x), np.sin(y), np.cos(y)], axis=1).astype("float32")


@keras.saving.register_keras_serializable(package="keras_vt")
class SinCosPositionEmbedding2D(Layer):
    """Adds a fixed (not learned) 2-D sin-cos position table; prefix tokens get zeros.

    Example:

    >>> layer = keras_vt.layers.SinCosPositionEmbedding2D(grid_size=(4, 4))
    >>> tuple(layer(np.zeros((2, 16, 64))).shape)
    (2, 16, 64)
    """

    config_keys = ("grid_size", "num_prefix_tokens", "temperature")

    def __init__(self, grid_size, num_prefix_tokens=0, temperature=10000.0, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = _as_grid(grid_size, "grid_size")
        self.num_prefix_tokens = int(num_prefix_tokens)
        self.temperature = checks.check_positive("temperature", temperature)

    def build(self, input_shape):
        dim = input_shape[-1]
        table = sincos_position_table(self.grid_size, dim, self.temperature)
        table = np.concatenate([np.zeros((self.num_prefix_tokens, dim), "float32"), table])
        self.table = table[None]

    def call(self, x):
        return x + ops.cast(self.table, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="keras_vt")
class PositionEncodingGenerator(Layer):
    """CPVT's position-encoding generator (PEG): positions conditioned on the input.

    The grid tokens are folded back onto their 2-D grid, a depthwise `kernel_size` x `kernel_size`
    convolution (zero padding, with bias) runs over them, and its output is added to the tokens
    (a residual): `tokens + DWConv(tokens)`. The zero padding is what tells a token where the
    border is, so positions come from the content and its neighbourhood, not from a table, and
    the layer works at any grid size. The `num_prefix_tokens` leading tokens (class token) are split
    off before the convolution and re-attached unchanged after it.

    The grid is passed at call time as `grid`: either the (batch, height, width, channels) feature
    map the tokens were flattened from (what CPVT does, so that one functional graph serves every
    resolution; only its height and width are read) or explicit `(height, width)` sizes.

    Args:
        num_prefix_tokens: leading tokens that bypass the convolution (1 for a class token).
        kernel_size: odd side of the depthwise kernel (3 in CPVT).
        kernel_initializer: initializer of the depthwise kernel; by default a normal with
            std sqrt(2 / fan_out), fan_out = kernel_size**2, as Twins initialises its convolutions.
        bias_initializer: initializer of the bias (zeros).

    Example:

    >>> peg = keras_vt.layers.PositionEncodingGenerator(num_prefix_tokens=1)
    >>> tuple(peg(np.zeros((2, 1 + 14 * 14, 192)), grid=(14, 14)).shape)
    (2, 197, 192)
    """

    config_keys = ("num_prefix_tokens", "kernel_size", "kernel_initializer", "bias_initializer")

    def __init__(
        self,
        num_prefix_tokens=1,
        kernel_size=3,
        kernel_initializer=None,
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_prefix_tokens) < 0:
            raise checks.invalid("num_prefix_tokens", num_prefix_tokens, "num_prefix_tokens >= 0")
        if int(kernel_size) < 1 or int(kernel_size) % 2 == 0:
            raise checks.invalid("kernel_size", kernel_size, "an odd kernel_size >= 1")
        self.num_prefix_tokens = int(num_prefix_tokens)
        self.kernel_size = int(kernel_size)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer
            or keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.conv = DepthwiseConv2D(
            self.kernel_size,
            padding="same",
            use_bias=True,
            depthwise_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name="conv",
        )

    def build(self, x_shape, grid_shape=None):
        if len(x_shape) != 3:
            raise checks.invalid_shape(
                "tokens", x_shape, "tokens of shape (batch, tokens, channels)"
            )
        self.conv.build((None, None, None, x_shape[-1]))

    def call(self, x, grid):
        height, width = token_grid(grid)
        batch, channels = ops.shape(x)[0], x.shape[-1]
        length = x.shape[1]
        if isinstance(height, int) and isinstance(width, int) and length is not None:
            if length != self.num_prefix_tokens + height * width:
                raise ValueError(
                    f"Layer {self.name!r} got {length} tokens, expected "
                    f"{self.num_prefix_tokens} prefix + {height}x{width} grid tokens "
                    f"= {self.num_prefix_tokens + height * width}."
                )
        prefix, tokens = x[:, : self.num_prefix_tokens], x[:, self.num_prefix_tokens :]
        fmap = ops.reshape(tokens, (batch, height, width, channels))
        fmap = fmap + self.conv(fmap)
        tokens = ops.reshape(fmap, (batch, height * width, channels))
        if not self.num_prefix_tokens:
            return tokens
        return ops.concatenate([prefix, tokens], axis=1)

    def compute_output_shape(self, x_shape, grid_shape=None):
        return tuple(x_shape)
