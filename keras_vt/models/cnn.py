"""Convolutional baselines: ResNet in the torchvision layout (and the DeiT teachers).

He et al., "Deep Residual Learning for Image Recognition" (2016), as torchvision ships it ("v1.5"):

- stem: 7x7 stride-2 convolution (no bias) -> BatchNorm -> ReLU -> 3x3 stride-2 max pool
  (`stem="imagenet"`), or a 3x3 stride-1 convolution without pooling (`stem="small"`, the CIFAR
  habit, for 32-64 px inputs);
- four stages of residual blocks; the first block of stages 2-4 halves the resolution;
- `BasicBlock` (ResNet-18/34): two 3x3 convolutions; `Bottleneck` (ResNet-26/50/101): 1x1 reduce,
  3x3 (carrying the stride, the v1.5 placement), 1x1 expand by 4;
- a 1x1 convolution + BatchNorm projects the shortcut when the shape changes;
- every convolution is bias-free and followed by BatchNorm (eps 1e-5, Keras momentum 0.9, which is
  PyTorch's momentum 0.1); global average pooling; a linear head.

Padding is written out explicitly (`ZeroPadding2D` + "valid") wherever a strided window would make
Keras' "same" padding asymmetric, so the arithmetic matches PyTorch's symmetric padding exactly and
weights converted from torchvision, timm or Hugging Face give the same logits
(see `keras_vt.convert.hf_resnet`).

Size table (224 px, 1000 classes, trainable parameters as PyTorch counts them):

| name     | block      | depths       | params     |
|----------|------------|--------------|------------|
| resnet18 | basic      | 2, 2, 2, 2   | 11,689,512 |
| resnet26 | bottleneck | 2, 2, 2, 2   | 15,995,176 |
| resnet50 | bottleneck | 3, 4, 6, 3   | 25,557,032 |

Attention-augmented variants (`aa_resnet26`, `aa_resnet50`, Bello et al., 2019) replace the 3x3
convolutions of stages 2-4 with `keras_vt.layers.AttentionAugmentedConv2D`.
"""

import keras
from keras import layers

from keras_vt import checks
from keras_vt.layers.augmented_conv import AttentionAugmentedConv2D
from keras_vt.layers.axial_attention import AxialAttention
from keras_vt.layers.double_attention import DoubleAttention
from keras_vt.layers.local_attention import LocalSelfAttention2D
from keras_vt.layers.non_local import NonLocalBlock
from keras_vt.layers.padding import ZeroPadding2D
from keras_vt.models.base import FunctionalModel
from keras_vt.models.registry import register

RESNET_SIZES = {
    "resnet18": {"depths": (2, 2, 2, 2), "block": "basic"},
    "resnet26": {"depths": (2, 2, 2, 2), "block": "bottleneck"},
    "resnet50": {"depths": (3, 4, 6, 3), "block": "bottleneck"},
}

BLOCK_EXPANSION = {"basic": 1, "bottleneck": 4}
STEM_STRIDE = {"imagenet": 4, "small": 1}
POOLINGS = ("avg", "max", None)

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9  # Keras convention: moving = 0.9 * moving + 0.1 * batch (PyTorch momentum 0.1).


def _conv_initializer():
    # He-normal with fan-out, as torchvision initialises its convolutions.
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal"
    )


def _dense_initializer():
    # PyTorch's nn.Linear default: uniform in +-1/sqrt(fan_in).
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
    )


def _conv(x, filters, kernel_size, strides, name, dtype):
    """Bias-free convolution with PyTorch's symmetric `kernel_size // 2` padding."""
    if kernel_size > 1 and strides > 1:
        x = ZeroPadding2D(kernel_size // 2, name=f"{name}_pad", dtype=dtype)(x)
        padding = "valid"
    else:
        # Stride 1 with an odd kernel: Keras' "same" is symmetric, identical to PyTorch.
        padding = "same" if kernel_size > 1 else "valid"
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=False,
        kernel_initializer=_conv_initializer(),
        name=name,
        dtype=dtype,
    )(x)


def _bn(x, name, dtype, zero_gamma=False):
    return layers.BatchNormalization(
        epsilon=BN_EPSILON,
        momentum=BN_MOMENTUM,
        gamma_initializer="zeros" if zero_gamma else "ones",
        name=name,
        dtype=dtype,
    )(x)


def _basic_block(x, width, strides, project, name, dtype, zero_init_residual, conv3x3, expansion=1):
    shortcut = x
    y = conv3x3(x, width, strides, f"{name}_conv1")
    y = _bn(y, f"{name}_bn1", dtype)
    y = layers.ReLU(name=f"{name}_relu1", dtype=dtype)(y)
    y = _conv(y, width, 3, 1, f"{name}_conv2", dtype)
    y = _bn(y, f"{name}_bn2", dtype, zero_gamma=zero_init_residual)
    if project:
        shortcut = _conv(x, width, 1, strides, f"{name}_downsample_conv", dtype)
        shortcut = _bn(shortcut, f"{name}_downsample_bn", dtype)
    y = layers.Add(name=f"{name}_add", dtype=dtype)([y, shortcut])
    return layers.ReLU(name=f"{name}_out", dtype=dtype)(y)


def _bottleneck_block(
    x, width, strides, project, name, dtype, zero_init_residual, conv3x3, expansion=4
):
    shortcut = x
    y = _conv(x, width, 1, 1, f"{name}_conv1", dtype)
    y = _bn(y, f"{name}_bn1", dtype)
    y = layers.ReLU(name=f"{name}_relu1", dtype=dtype)(y)
    y = conv3x3(y, width, strides, f"{name}_conv2")  # v1.5: the stride sits on the 3x3.
    y = _bn(y, f"{name}_bn2", dtype)
    y = layers.ReLU(name=f"{name}_relu2", dtype=dtype)(y)
    y = _conv(y, width * expansion, 1, 1, f"{name}_conv3", dtype)
    y = _bn(y, f"{name}_bn3", dtype, zero_gamma=zero_init_residual)
    if project:
        shortcut = _conv(x, width * expansion, 1, strides, f"{name}_downsample_conv", dtype)
        shortcut = _bn(shortcut, f"{name}_downsample_bn", dtype)
    y = layers.Add(name=f"{name}_add", dtype=dtype)([y, shortcut])
    return layers.ReLU(name=f"{name}_out", dtype=dtype)(y)


_BLOCKS = {"basic": _basic_block, "bottleneck": _bottleneck_block}


def _round_to_heads(value, num_heads):
    """Nearest positive multiple of `num_heads`."""
    return max(num_heads, round(value / num_heads) * num_heads)


def _augmented_conv3x3(key_ratio, value_ratio, num_heads, relative, dtype):
    """3x3 convolution factory for attention-augmented stages (Bello et al., 2019).

    `key_dim = key_ratio * width` and `value_dim = value_ratio * width`, rounded to multiples of
    `num_heads` (the paper's κ and υ; AA-ResNet uses κ = 2υ = 0.2 and 8 heads).
    """

    def conv3x3(x, width, strides, name):
        return AttentionAugmentedConv2D(
            filters=width,
            kernel_size=3,
            key_dim=_round_to_heads(key_ratio * width, num_heads),
            value_dim=min(_round_to_heads(value_ratio * width, num_heads), width),
            num_heads=num_heads,
            relative=relative,
            strides=strides,
            use_bias=False,
            name=f"{name}_aa",
            dtype=dtype,
        )(x)

    return conv3x3


def _pooled(x, strides, name, dtype):
    """SASA's and Axial-DeepLab's downsampling: attention at full resolution, then 2x2 average."""
    if strides == 1:
        return x
    return layers.AveragePooling2D(strides, name=f"{name}_pool", dtype=dtype)(x)


def _local_conv3x3(kernel_size, num_heads, dtype):
    """Stand-alone local self-attention in place of a 3x3 convolution (Ramachandran et al.)."""

    def conv3x3(x, width, strides, name):
        y = LocalSelfAttention2D(
            width, kernel_size=kernel_size, num_heads=num_heads, name=f"{name}_local", dtype=dtype
        )(x)
        return _pooled(y, strides, name, dtype)

    return conv3x3


def _axial_conv3x3(num_heads, dtype):
    """Axial attention (height, then width; position-sensitive) in place of a 3x3 convolution."""

    def conv3x3(x, width, strides, name):
        y = AxialAttention(filters=width, num_heads=num_heads, name=f"{name}_axial", dtype=dtype)(x)
        return _pooled(y, strides, name, dtype)

    return conv3x3


ATTENTION_LAYERS = ("augmented", "local", "axial")
INSERTED_ATTENTIONS = (None, "non_local", "double")


@keras.saving.register_keras_serializable(package="keras_vt")
class ResNet(FunctionalModel):
    """ResNet image classifier in the torchvision layout (v1.5: stride on the 3x3 convolution).

    Args:
        depths: number of residual blocks per stage, e.g. `(2, 2, 2, 2)` for ResNet-18.
        block: `"basic"` (two 3x3 convolutions) or `"bottleneck"` (1x1, 3x3, 1x1 with 4x expansion).
        widths: per-stage width (the bottleneck's inner width; stage outputs are
            `widths[i] * 4` channels for bottleneck blocks). Same length as `depths`.
        stem: `"imagenet"` (7x7 stride-2 convolution + 3x3 stride-2 max pool, total stride 4) or
            `"small"` (3x3 stride-1 convolution, no pooling) for 32-64 px images.
        stem_width: channels of the stem convolution; defaults to `widths[0]`.
        num_classes: size of the classification head (>= 1).
        image_size: side of the square input images, channels last. Must be at least the
            network's total stride (32 with the imagenet stem, 8 with the small stem, for 4 stages).
        include_top: if False, the model returns pooled features (or the last feature map when
            `pooling=None`) instead of logits.
        pooling: `"avg"` (default), `"max"` or `None` (only with `include_top=False`).
        zero_init_residual: initialise the last BatchNorm scale of every block to 0, so each
            residual branch starts as the identity (Goyal et al., 2017).
        attention_stages: stages (counted from 1) whose 3x3 convolutions (the bottleneck's middle
            one, the basic block's first) become `AttentionAugmentedConv2D` layers, Bello et al.'s
            AA-ResNet. Empty (the default) for a plain ResNet.
        attention_key_ratio: κ, the attention key depth as a fraction of the convolution's width.
        attention_value_ratio: υ, the attention channels as a fraction of the width.
        attention_heads: heads of each augmented convolution.
        attention_relative: 2-D relative position logits in the augmented convolutions.
        attention_layer: what replaces the 3x3 convolutions of `attention_stages`:
            `"augmented"` (AA-conv, the default), `"local"` (SASA's k x k local self-attention,
            stride by 2x2 average pooling) or `"axial"` (Axial-DeepLab's height-then-width
            position-sensitive attention, stride by average pooling).
        attention_kernel_size: window of the local attention (SASA: 7).
        inserted_attention: `None`, `"non_local"` (`NonLocalBlock`) or `"double"`
            (`DoubleAttention`): a residual attention block inserted after the blocks named in
            `inserted_after`.
        inserted_after: `(stage, block_index)` pairs (stages from 1, blocks from 0).
        expansion: bottleneck expansion (output width / inner width); defaults to 4
            (1 for basic blocks). Axial-ResNets use 2.
        dtype: dtype policy name for every layer, e.g. `"float32"` or `"mixed_bfloat16"`.
            The logits are always float32.
        name: model name.

    Inputs: float images `(batch, image_size, image_size, 3)`, already normalised.
    Outputs: float32 logits `(batch, num_classes)`, or features when `include_top=False`.

    Example:

    >>> model = keras_vt.create_model("resnet18", num_classes=10, image_size=64)
    >>> tuple(model(np.zeros((2, 64, 64, 3), "float32")).shape)
    (2, 10)
    >>> model = ResNet(depths=(1, 1), block="basic", widths=(8, 16), stem="small",
    ...                num_classes=3, image_size=32)
    >>> tuple(model(np.zeros((1, 32, 32, 3), "float32")).shape)
    (1, 3)

    The output of every block is a named layer (`"layer{stage}_{block}_out"`, stages counted from
    1 as in torchvision), so feature maps are one `keras.Model` away:

    >>> features = keras.Model(model.input, model.get_layer("layer2_0_out").output)
    """

    default_image_size = 224

    config_keys = (
        "depths",
        "block",
        "widths",
        "stem",
        "stem_width",
        "num_classes",
        "image_size",
        "include_top",
        "pooling",
        "zero_init_residual",
        "attention_stages",
        "attention_key_ratio",
        "attention_value_ratio",
        "attention_heads",
        "attention_relative",
        "attention_layer",
        "attention_kernel_size",
        "inserted_attention",
        "inserted_after",
        "expansion",
    )

    def __init__(
        self,
        depths=(2, 2, 2, 2),
        block="basic",
        widths=(64, 128, 256, 512),
        stem="imagenet",
        stem_width=None,
        num_classes=1000,
        image_size=224,
        include_top=True,
        pooling="avg",
        zero_init_residual=False,
        attention_stages=(),
        attention_key_ratio=0.2,
        attention_value_ratio=0.1,
        attention_heads=8,
        attention_relative=True,
        attention_layer="augmented",
        attention_kernel_size=7,
        inserted_attention=None,
        inserted_after=(),
        expansion=None,
        dtype=None,
        name=None,
        **kwargs,
    ):
        depths = checks.check_ints("depths", depths)
        widths = checks.check_ints("widths", widths)
        if len(widths) != len(depths):
            raise checks.invalid(
                "widths", widths, f"one width per stage, {len(depths)} to match depths={depths!r}"
            )
        checks.check_choice("block", block, tuple(_BLOCKS))
        checks.check_choice("stem", stem, tuple(STEM_STRIDE))
        if stem_width is None:
            stem_width = widths[0]
        checks.check_int("stem_width", stem_width, 1, expected="a positive int or None")
        checks.check_int("num_classes", num_classes, 1, expected="an int >= 1")
        total_stride = STEM_STRIDE[stem] * 2 ** (len(depths) - 1)
        checks.check_int(
            "image_size",
            image_size,
            total_stride,
            expected=f"an int >= {total_stride}, the total stride of a {len(depths)}-stage ResNet with "
            f"the {stem!r} stem (use stem='small' for small images)",
        )
        checks.check_choice("pooling", pooling, POOLINGS)
        if include_top and pooling is None:
            raise ValueError(
                "Invalid pooling: pooling=None with include_top=True. Expected 'avg' or 'max' "
                "(the head needs pooled features)."
            )
        attention_stages = tuple(attention_stages or ())
        if any(
            isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= len(depths)
            for s in attention_stages
        ):
            raise checks.invalid(
                "attention_stages", attention_stages, f"stage numbers between 1 and {len(depths)}"
            )
        for arg, ratio in (
            ("attention_key_ratio", attention_key_ratio),
            ("attention_value_ratio", attention_value_ratio),
        ):
            if not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
                raise checks.invalid(arg, ratio, "a number in (0, 1]")
        checks.check_int("attention_heads", attention_heads, 1, expected="a positive int")
        checks.check_choice("attention_layer", attention_layer, ATTENTION_LAYERS)
        checks.check_int(
            "attention_kernel_size", attention_kernel_size, 1, expected="a positive odd int"
        )
        checks.check_choice("inserted_attention", inserted_attention, INSERTED_ATTENTIONS)
        inserted_after = tuple(tuple(p) for p in (inserted_after or ()))
        for stage_block in inserted_after:
            if (
                len(stage_block) != 2
                or not 1 <= stage_block[0] <= len(depths)
                or not 0 <= stage_block[1] < depths[stage_block[0] - 1]
            ):
                raise checks.invalid(
                    "inserted_after",
                    inserted_after,
                    f"(stage, block) pairs of existing blocks (depths={depths})",
                )
        if inserted_after and inserted_attention is None:
            raise ValueError(
                f"Invalid inserted_after: inserted_after={inserted_after!r} with "
                "inserted_attention=None. Expected inserted_attention='non_local' or 'double'."
            )
        if expansion is None:
            expansion = BLOCK_EXPANSION[block]
        checks.check_int("expansion", expansion, 1, expected="a positive int or None")

        # === Functional graph ===
        inputs = keras.Input(shape=(image_size, image_size, 3), name="images")
        if stem == "imagenet":
            x = _conv(inputs, stem_width, 7, 2, "conv1", dtype)
        else:
            x = _conv(inputs, stem_width, 3, 1, "conv1", dtype)
        x = _bn(x, "bn1", dtype)
        x = layers.ReLU(name="relu", dtype=dtype)(x)
        if stem == "imagenet":
            # PyTorch pads the max pool with -inf; after the ReLU every value is >= 0 and every
            # window holds at least one real value, so zero padding gives the same maximum.
            x = ZeroPadding2D(1, name="maxpool_pad", dtype=dtype)(x)
            x = layers.MaxPooling2D(3, strides=2, name="maxpool", dtype=dtype)(x)

        block_fn = _BLOCKS[block]

        def plain_conv3x3(x, width, strides, name):
            return _conv(x, width, 3, strides, name, dtype)

        if attention_layer == "local":
            augmented_conv3x3 = _local_conv3x3(attention_kernel_size, attention_heads, dtype)
        elif attention_layer == "axial":
            augmented_conv3x3 = _axial_conv3x3(attention_heads, dtype)
        else:
            augmented_conv3x3 = _augmented_conv3x3(
                attention_key_ratio,
                attention_value_ratio,
                attention_heads,
                attention_relative,
                dtype,
            )
        channels = stem_width
        for stage, (depth, width) in enumerate(zip(depths, widths), start=1):
            conv3x3 = augmented_conv3x3 if stage in attention_stages else plain_conv3x3
            for index in range(depth):
                strides = 2 if (index == 0 and stage > 1) else 1
                project = strides != 1 or channels != width * expansion
                x = block_fn(
                    x,
                    width,
                    strides,
                    project,
                    f"layer{stage}_{index}",
                    dtype,
                    zero_init_residual,
                    conv3x3,
                    expansion,
                )
                channels = width * expansion
                if (stage, index) in inserted_after:
                    inserted = (
                        NonLocalBlock if inserted_attention == "non_local" else DoubleAttention
                    )
                    x = inserted(name=f"layer{stage}_{index}_{inserted_attention}", dtype=dtype)(x)

        if pooling == "avg":
            x = layers.GlobalAveragePooling2D(name="avgpool", dtype=dtype)(x)
        elif pooling == "max":
            x = layers.GlobalMaxPooling2D(name="maxpool_global", dtype=dtype)(x)
        if include_top:
            x = layers.Dense(
                num_classes,
                kernel_initializer=_dense_initializer(),
                name="fc",
                dtype=dtype,
            )(x)
            # Logits stay float32 under mixed precision.
            x = layers.Activation("linear", name="logits", dtype="float32")(x)

        super().__init__(inputs, x, name=name or "resnet", dtype=dtype, **kwargs)

        self.keep_config(locals())
        self.num_features = channels

    @property
    def stage_output_names(self):
        """Names of the layers whose outputs are the stages' final feature maps."""
        return [f"layer{s}_{d - 1}_out" for s, d in enumerate(self.depths, start=1)]


# === Registry ===
# `tiny` keeps the block type and stage count but shrinks widths and depths and uses the small stem,
# so a tiny model builds and trains a step on 32 px images in well under a second.
_SMALL = {"stem": "small", "image_size": 32}
_TINY = {
    "resnet18": {"depths": (1, 1, 1, 1), "widths": (8, 16, 32, 64), **_SMALL},
    "resnet26": {"depths": (1, 1, 1, 1), "widths": (4, 8, 16, 32), **_SMALL},
    "resnet50": {"depths": (1, 1, 2, 1), "widths": (4, 8, 16, 32), **_SMALL},
}


def _register_resnets(sizes, tiny):
    """Registers each entry of `sizes` as a `ResNet` of that name, `tiny[name]` its test size."""
    for name, config in sizes.items():
        register(name, ResNet, family="cnn", config={**config, "name": name}, tiny=tiny[name])


_register_resnets(RESNET_SIZES, _TINY)

# Attention-augmented ResNets (Bello et al., 2019): every bottleneck 3x3 convolution of stages 2-4
# is an `AttentionAugmentedConv2D` with κ = 2υ = 0.2 and 8 heads; the first, highest-resolution
# stage stays convolutional. Trainable parameters at 224 px: aa_resnet26 15,753,576,
# aa_resnet50 25,113,950 (the paper reports 25.8M for its AA-ResNet-50; its exact placement of
# the attention is not fully specified, so this count is ours, not a published one).
AA_RESNET_SIZES = {
    "aa_resnet26": {**RESNET_SIZES["resnet26"], "attention_stages": (2, 3, 4)},
    "aa_resnet50": {**RESNET_SIZES["resnet50"], "attention_stages": (2, 3, 4)},
}
_AA_TINY = {"widths": (8, 16, 16, 16), "attention_heads": 2, **_SMALL}

_register_resnets(
    AA_RESNET_SIZES,
    {
        name: {"depths": _TINY[name.removeprefix("aa_")]["depths"], **_AA_TINY}
        for name in AA_RESNET_SIZES
    },
)

# Attention ResNets of the lecture (Wang et al. 2018; Chen et al. 2018; Ramachandran et al. 2019;
# Wang et al. 2020). Parameter counts (224 px, 1000 classes, trainable) and their differences
# from the papers' are in the README's model table; `tests/test_attention_resnets.py` counts them.
#
# - nonlocal_resnet50: the image (video-free, 2-D) variant of the Kinetics placement: 5 non-local
#   blocks (embedded Gaussian, θ/φ/g to C/2, φ and g 2x2 max-pooled, BN γ = 0) after every other
#   block of res3 (blocks 1, 3) and res4 (blocks 1, 3, 5).
# - a2_resnet50: the same 5 places with double-attention blocks (c_m = c_n = C/4).
# - sasa_resnet26/50: every bottleneck 3x3 convolution (stages 1-4, the convolutional stem kept:
#   the paper's "conv stem + attention") is 7x7 local self-attention with 8 heads; strided blocks
#   attend at full resolution and 2x2 average-pool.
# - axial_resnet26s/50s: Axial-DeepLab's "S" ResNets (axialnet.py, s = 0.5): stem 32, inner widths
#   64/128/256/512, expansion 2, depths (1, 2, 4, 1) and (3, 4, 6, 3); every 3x3 convolution is
#   position-sensitive axial attention with 8 heads.
_FIVE_PLACES = ((2, 1), (2, 3), (3, 1), (3, 3), (3, 5))
_AXIAL_RESNET_S = {
    "block": "bottleneck",
    "widths": (64, 128, 256, 512),
    "stem_width": 32,
    "expansion": 2,
    "attention_stages": (1, 2, 3, 4),
    "attention_layer": "axial",
}
ATTENTION_RESNET_SIZES = {
    "nonlocal_resnet50": {
        **RESNET_SIZES["resnet50"],
        "inserted_attention": "non_local",
        "inserted_after": _FIVE_PLACES,
    },
    "a2_resnet50": {
        **RESNET_SIZES["resnet50"],
        "inserted_attention": "double",
        "inserted_after": _FIVE_PLACES,
    },
    "sasa_resnet26": {
        **RESNET_SIZES["resnet26"],
        "attention_stages": (1, 2, 3, 4),
        "attention_layer": "local",
    },
    "sasa_resnet50": {
        **RESNET_SIZES["resnet50"],
        "attention_stages": (1, 2, 3, 4),
        "attention_layer": "local",
    },
    "axial_resnet26s": {"depths": (1, 2, 4, 1), **_AXIAL_RESNET_S},
    "axial_resnet50s": {"depths": (3, 4, 6, 3), **_AXIAL_RESNET_S},
}
_ATTENTION_TINY = {
    "nonlocal_resnet50": {"depths": (1, 2, 2, 1), "inserted_after": ((2, 1), (3, 1))},
    "a2_resnet50": {"depths": (1, 2, 2, 1), "inserted_after": ((2, 1), (3, 1))},
    "sasa_resnet26": {"depths": (1, 1, 1, 1), "attention_kernel_size": 3},
    "sasa_resnet50": {"depths": (1, 1, 2, 1), "attention_kernel_size": 3},
    "axial_resnet26s": {"depths": (1, 1, 1, 1), "stem_width": 8},
    "axial_resnet50s": {"depths": (1, 1, 2, 1), "stem_width": 8},
}

_register_resnets(
    ATTENTION_RESNET_SIZES, {name: {**_AA_TINY, **tiny} for name, tiny in _ATTENTION_TINY.items()}
)
