"""CPVT: Conditional Positional Encodings for Vision Transformers [Chu et al., 2021].

DeiT with the position table removed: a position-encoding generator (PEG, a depthwise 3x3
convolution with zero padding and a residual over the tokens folded onto their grid) after
encoder block 0 makes positions conditional on the input. Nothing in the model depends on the
grid size, so the same weights run at any resolution (a multiple of the patch size) with no
resampling. CPVT-GAP drops the class token and mean-pools the tokens.

Parameter count: DeiT's minus the position table ((1 + N) x D) plus one PEG per position
(9 D + D). See docs/cpvt_cvt.md for the numbers.
"""

import keras

from keras_vt import layers
from keras_vt.models.base import FunctionalModel
from keras_vt.models.registry import register
from keras_vt.models.vit import (
    ENCODER_KEYS,
    TRAINING_KEYS,
    VIT_SIZES,
    check_head,
    pool_and_classify,
)

POOLINGS = ("token", "gap")


def check_image_size(image_size, multiple=1):
    """`image_size` as (height, width) positive ints, multiples of `multiple`."""
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or any(not isinstance(s, int) or s < 1 for s in size):
        raise ValueError(f"Expected image_size as a positive int or (h, w), got {image_size!r}.")
    if any(s % multiple for s in size):
        raise ValueError(
            f"image_size={image_size!r} is not divisible by patch_size={multiple}: expected "
            f"a multiple of {multiple} (e.g. {max(1, round(size[0] / multiple)) * multiple})."
        )
    return size


def check_peg_positions(peg_positions, depth):
    positions = tuple(int(p) for p in peg_positions)
    if not positions:
        raise ValueError("Expected at least one PEG position, got peg_positions=().")
    bad = [p for p in positions if not 0 <= p < depth]
    if bad:
        raise ValueError(
            f"peg_positions={tuple(peg_positions)} has positions {bad} beyond the encoder: "
            f"expected block indices in [0, {depth - 1}] (depth={depth})."
        )
    if len(set(positions)) != len(positions):
        raise ValueError(f"Expected distinct PEG positions, got peg_positions={positions}.")
    return tuple(sorted(positions))


@keras.saving.register_keras_serializable(package="keras_vt")
class CPVT(FunctionalModel):
    """Conditional Position encoding Vision Transformer (CPVT), classifier or backbone.

    The functional graph takes images of any size, (batch, None, None, 3): the height and width
    must be multiples of `patch_size` (a `ValueError` otherwise). `image_size` is only the
    preferred resolution, used by `keras_vt.preprocess`.

    Args:
        image_size: preferred input side in pixels (int or (height, width)).
        patch_size: side of the square patches.
        hidden_dim, mlp_dim, num_heads, depth: the size (DeiT/ViT sizes, see `VIT_SIZES`).
        peg_positions: indices of the blocks after which a PEG is inserted; (0,) as in the paper,
            (0, 1, 2, 3, 4, 5) for its "0-5" variant. Each position has its own PEG.
        peg_kernel_size: side of the PEG's depthwise kernel (3).
        num_classes: classes of the linear head.
        include_top: with the head (logits) or without (pooled features).
        pooling: "token" (class token) or "gap" (CPVT-GAP: no class token, mean of the tokens).
        dropout, attention_dropout, drop_path_rate: regularisation, as in ViT/DeiT.
        layer_norm_epsilon: 1e-6 (DeiT/timm).
        dtype: dtype policy.

    Example:

    >>> model = keras_vt.create_model("cpvt_tiny", num_classes=10)
    >>> model(np.zeros((2, 224, 224, 3))).shape, model(np.zeros((2, 384, 320, 3))).shape
    ((2, 10), (2, 10))
    """

    default_image_size = 224
    normalization = "imagenet"

    config_keys = (
        ENCODER_KEYS
        + ("peg_positions", "peg_kernel_size", "num_classes", "include_top", "pooling")
        + TRAINING_KEYS
    )

    def __init__(
        self,
        image_size=224,
        patch_size=16,
        hidden_dim=768,
        depth=12,
        num_heads=12,
        mlp_dim=3072,
        peg_positions=(0,),
        peg_kernel_size=3,
        num_classes=1000,
        include_top=True,
        pooling="token",
        dropout=0.0,
        attention_dropout=0.0,
        drop_path_rate=0.0,
        layer_norm_epsilon=1e-6,
        dtype=None,
        name=None,
        **kwargs,
    ):
        check_image_size(image_size, patch_size)
        check_head(num_classes, pooling, POOLINGS)
        peg_positions = check_peg_positions(peg_positions, depth)
        num_prefix = 1 if pooling == "token" else 0

        images = keras.Input((None, None, 3), name="images")
        grid = layers.ConvTokenEmbedding(
            hidden_dim, patch_size, patch_size, normalize=False, dtype=dtype, name="patch_embed"
        )(images)
        x = keras.layers.Reshape((-1, hidden_dim), dtype=dtype, name="flatten")(grid)
        if num_prefix:
            x = layers.ClassToken(
                1, keras.initializers.TruncatedNormal(stddev=0.02), dtype=dtype, name="cls_token"
            )(x)
        x = keras.layers.Dropout(dropout, dtype=dtype, name="pos_drop")(x)
        pegs = {
            i: layers.PositionEncodingGenerator(
                num_prefix, peg_kernel_size, dtype=dtype, name=f"peg{i}"
            )
            for i in peg_positions
        }
        x = layers.transformer_blocks(
            x,
            depth,
            drop_path_rate=drop_path_rate,
            after_block=lambda i, tokens: pegs[i](tokens, grid) if i in pegs else tokens,
            num_heads=num_heads,
            mlp_dim=mlp_dim,
            dropout=dropout,
            attention_dropout=attention_dropout,
            layer_norm_epsilon=layer_norm_epsilon,
            dtype=dtype,
        )
        x = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=dtype, name="norm")(x)
        x = pool_and_classify(x, pooling, include_top, num_classes, dropout, dtype=dtype)
        super().__init__(images, x, name=name, dtype=dtype, **kwargs)

        self.keep_config(locals())


CPVT_TINY = dict(hidden_dim=32, depth=2, num_heads=2, mlp_dim=64, patch_size=8, image_size=32)
for _size in ("tiny", "small", "base"):
    _hidden, _mlp, _heads, _depth = VIT_SIZES[_size]
    _config = dict(hidden_dim=_hidden, depth=_depth, num_heads=_heads, mlp_dim=_mlp)
    register(f"cpvt_{_size}", CPVT, family="cpvt", config=_config, tiny=CPVT_TINY)
    register(
        f"cpvt_{_size}_gap",
        CPVT,
        family="cpvt",
        config=dict(_config, pooling="gap"),
        tiny=CPVT_TINY,
    )

# A CPU-sized CPVT-GAP for 32 px images (4x4 patches, an 8x8 grid, no class token): the quick
# start's default (`keras-vt train`). Not from the paper: width 64, 4 blocks, MLP ratio 2.
register(
    "cpvt_mini_patch4_32_gap",
    CPVT,
    family="cpvt",
    config=dict(
        image_size=32, patch_size=4, hidden_dim=64, depth=4, num_heads=4, mlp_dim=128, pooling="gap"
    ),
    tiny=CPVT_TINY,
)
