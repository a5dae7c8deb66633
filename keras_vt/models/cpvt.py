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

from keras_vt import checks
from keras_vt.models import encoder
from keras_vt.models.common import ENCODER_KEYS, TINY_ENCODER, TRAINING_KEYS, VIT_SIZES
from keras_vt.models.encoder import VisionTransformer
from keras_vt.models.registry import register

POOLINGS = ("token", "gap")
check_image_size = checks.check_image_size  # deprecated alias
check_peg_positions = encoder.check_peg_positions  # deprecated alias


@keras.saving.register_keras_serializable(package="keras_vt")
class CPVT(VisionTransformer):
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
        stem: None (the paper's patchify convolution), or the widths of a convolutional stem in
            its place (`keras_vt.models.encoder.conv_stem`: 3x3 convolutions with BatchNorm and
            ReLU, the first log2(patch_size) with stride 2, then a 1x1 projection; Xiao et al.
            2021), which trains much faster on small data.
        num_classes: classes of the linear head.
        include_top: with the head (logits) or without (pooled features).
        pooling: "token" (class token) or "gap" (CPVT-GAP: no class token, mean of the tokens).
        dropout, attention_dropout, drop_path_rate: regularisation, as in ViT/DeiT.
        layer_norm_epsilon: 1e-6 (DeiT/timm).
        dtype: dtype policy.

    Example:

    >>> model = keras_vt.create_model("cpvt_tiny", tiny=True, num_classes=10)
    >>> tuple(model(np.zeros((2, 32, 32, 3))).shape), tuple(model(np.zeros((2, 48, 40, 3))).shape)
    ((2, 10), (2, 10))
    """

    normalization = "imagenet"

    config_keys = (
        ENCODER_KEYS
        + ("peg_positions", "peg_kernel_size", "stem", "num_classes", "include_top", "pooling")
        + TRAINING_KEYS
    )

    poolings = POOLINGS
    position_choices = ("peg",)
    patch_embedding = "conv"

    def __init__(self, peg_positions=(0,), peg_kernel_size=3, stem=None, depth=12, **kwargs):
        # The shared encoder with a convolutional patch embedding and PEGs instead of a table.
        self.peg_positions = encoder.check_peg_positions(peg_positions, depth)
        if checks.check_int("peg_kernel_size", peg_kernel_size) % 2 == 0:
            raise checks.invalid("peg_kernel_size", peg_kernel_size, "an odd int >= 1")
        self.peg_kernel_size = peg_kernel_size
        if stem is not None:
            self.stem = encoder.check_stem(stem, kwargs.get("patch_size", 16))
            self.patch_embedding = "stem"
        else:
            self.stem = None
        kwargs.update(positions="peg", token_initializer=keras.initializers.TruncatedNormal(0.02))
        super().__init__(depth=depth, **kwargs)


CPVT_TINY = dict(TINY_ENCODER, patch_size=8, image_size=32)
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

# A CPU-sized CPVT-GAP for 32 px images (4x4 patches, an 8x8 grid, no class token). Not from
# the paper: width 64, 4 blocks, MLP ratio 2.
_MINI = dict(
    image_size=32, patch_size=4, hidden_dim=64, depth=4, num_heads=4, mlp_dim=128, pooling="gap"
)
register("cpvt_mini_patch4_32_gap", CPVT, family="cpvt", config=_MINI, tiny=CPVT_TINY)
# The same with a convolutional stem (32 and 64 wide at stride 2, 64 at stride 1, then 1x1):
# it learns the shapes far faster than 4x4 patches (the explorer's embedded model).
_CONVSTEM_32 = dict(_MINI, stem=(32, 64, 64))
_CONVSTEM_TINY = dict(CPVT_TINY, patch_size=4, stem=(4, 8))
register("cpvt_mini_convstem_32_gap", CPVT, family="cpvt", config=_CONVSTEM_32, tiny=_CONVSTEM_TINY)
# Two blocks instead of four: about half the cost of a step, and on the built-in shapes it learns
# as fast per epoch, so it gets more epochs in the same time: `keras-vt train`'s default.
register(
    "cpvt_nano_convstem_32_gap",
    CPVT,
    family="cpvt",
    config=dict(_CONVSTEM_32, depth=2),
    tiny=_CONVSTEM_TINY,
)
