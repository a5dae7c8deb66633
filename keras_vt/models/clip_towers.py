"""CLIP's image towers: the ViT (a configuration of the shared encoder) and the ModifiedResNet."""

import keras

from keras_vt import checks, layers
from keras_vt.layers.padding import ZeroPadding2D
from keras_vt.models import encoder
from keras_vt.models.base import FunctionalModel
from keras_vt.models.common import check_mlp
from keras_vt.models.text_encoder import LN_EPS


@keras.saving.register_keras_serializable(package="keras_vt")
class CLIPVisionTransformer(FunctionalModel):
    """CLIP's ViT image tower: images -> (batch, embed_dim) image features (not normalised).

    `keras_vt.models.encoder.vit_encoder` configured as CLIP: patchify (conv without bias) ->
    class embedding -> positions -> `ln_pre` -> pre-norm blocks (QuickGELU, LayerNorm eps 1e-5)
    -> `ln_post` -> the class token -> projection without bias.

    Example:

    >>> tower = keras_vt.models.clip.CLIPVisionTransformer(
    ...     image_size=32, patch_size=8, hidden_dim=64, depth=2, num_heads=2, embed_dim=16)
    >>> tuple(tower(np.zeros((2, 32, 32, 3))).shape)
    (2, 16)
    """

    default_image_size = 224
    normalization = "clip"

    config_keys = ("image_size", "patch_size", "hidden_dim", "depth", "num_heads", "embed_dim")
    config_keys += ("layer_norm_epsilon", "mlp_dim", "activation")
    renamed_arguments = {"width": "hidden_dim"}

    def __init__(
        self,
        image_size=224,
        patch_size=32,
        hidden_dim=768,
        depth=12,
        num_heads=12,
        embed_dim=512,
        layer_norm_epsilon=LN_EPS,
        mlp_dim=None,
        activation="quick_gelu",
        dtype=None,
        name=None,
        **kwargs,
    ):
        grid = checks.image_grid(image_size, patch_size)
        mlp_dim = check_mlp(mlp_dim, hidden_dim, activation)
        normal = keras.initializers.RandomNormal(stddev=hidden_dim**-0.5)
        images = keras.Input((grid[0] * patch_size, grid[1] * patch_size, 3), name="images")
        x = encoder.vit_encoder(
            images,
            patch_size,
            hidden_dim,
            depth,
            num_heads,
            mlp_dim,
            patch_bias=False,
            prefix_name="class_embedding",
            token_initializer=normal,
            position_initializer=normal,
            pre_norm=True,
            norm_name="ln_post",
            layer_norm_epsilon=layer_norm_epsilon,
            activation=activation,
            dtype=dtype,
        )
        x = keras.layers.Dense(
            embed_dim, use_bias=False, kernel_initializer=normal, dtype=dtype, name="proj"
        )(encoder.pool(x, "token"))
        super().__init__(images, x, name=name, dtype=dtype, **kwargs)
        self.keep_config(locals())
        self.grid_size = grid


def _conv_bn(x, filters, kernel, name, dtype, relu=True):
    """Conv (no bias, explicit symmetric padding as PyTorch) -> BatchNorm (eps 1e-5) [-> ReLU]."""
    if kernel > 1:
        x = ZeroPadding2D(kernel // 2, dtype=dtype, name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(filters, kernel, use_bias=False, dtype=dtype, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, dtype=dtype, name=f"{name}_bn")(
        x
    )
    return keras.layers.ReLU(dtype=dtype, name=f"{name}_relu")(x) if relu else x


def _bottleneck(x, planes, stride, name, dtype):
    """Anti-aliased bottleneck: strided blocks average-pool before conv3 and in the shortcut."""
    out = _conv_bn(x, planes, 1, f"{name}_1", dtype)
    out = _conv_bn(out, planes, 3, f"{name}_2", dtype)
    if stride > 1:
        out = keras.layers.AveragePooling2D(stride, dtype=dtype, name=f"{name}_pool")(out)
    out = _conv_bn(out, planes * 4, 1, f"{name}_3", dtype, relu=False)
    if stride > 1 or x.shape[-1] != planes * 4:
        if stride > 1:
            x = keras.layers.AveragePooling2D(stride, dtype=dtype, name=f"{name}_down_pool")(x)
        x = _conv_bn(x, planes * 4, 1, f"{name}_down", dtype, relu=False)
    out = keras.layers.Add(dtype=dtype, name=f"{name}_add")([out, x])
    return keras.layers.ReLU(dtype=dtype, name=f"{name}_out")(out)


@keras.saving.register_keras_serializable(package="keras_vt")
class CLIPModifiedResNet(FunctionalModel):
    """CLIP's ModifiedResNet image tower: images -> (batch, embed_dim) image features.

    A 3-conv stem (stride 2, then two stride-1 convs, then a 2x2 average pool), four stages of
    anti-aliased bottlenecks (strided blocks average-pool instead of striding a conv) and
    attention pooling (`keras_vt.layers.AttentionPool2D`) with the mean token as query, in place
    of global average pooling. The image side must be a multiple of 32. `width` is OpenAI's name
    for the stem's channels (stage i has `width * 2**i` bottleneck channels): a channel count,
    not a token width, so it keeps its name.

    Example:

    >>> tower = keras_vt.models.clip.CLIPModifiedResNet(
    ...     image_size=64, stage_depths=(1, 1, 1, 1), width=8, num_heads=2, embed_dim=16)
    >>> tuple(tower(np.zeros((2, 64, 64, 3))).shape)
    (2, 16)
    """

    default_image_size = 224
    normalization = "clip"

    config_keys = ("image_size", "stage_depths", "width", "num_heads", "embed_dim")

    def __init__(
        self,
        image_size=224,
        stage_depths=(3, 4, 6, 3),
        width=64,
        num_heads=32,
        embed_dim=1024,
        dtype=None,
        name=None,
        **kwargs,
    ):
        stage_depths = tuple(int(d) for d in stage_depths)
        if len(stage_depths) != 4 or min(stage_depths) < 1:
            raise checks.invalid("stage_depths", stage_depths, "four positive ints")
        grid = checks.image_grid(image_size, 32)
        images = keras.Input((grid[0] * 32, grid[1] * 32, 3), name="images")
        x = ZeroPadding2D(1, dtype=dtype, name="stem_1_pad")(images)
        x = keras.layers.Conv2D(
            width // 2, 3, strides=2, use_bias=False, dtype=dtype, name="stem_1_conv"
        )(x)
        x = keras.layers.BatchNormalization(
            momentum=0.9, epsilon=1e-5, dtype=dtype, name="stem_1_bn"
        )(x)
        x = keras.layers.ReLU(dtype=dtype, name="stem_1_relu")(x)
        x = _conv_bn(x, width // 2, 3, "stem_2", dtype)
        x = _conv_bn(x, width, 3, "stem_3", dtype)
        x = keras.layers.AveragePooling2D(2, dtype=dtype, name="stem_pool")(x)
        for stage, depth in enumerate(stage_depths):
            for block in range(depth):
                stride = 2 if stage > 0 and block == 0 else 1
                x = _bottleneck(x, width * 2**stage, stride, f"layer{stage + 1}_{block}", dtype)
        x = layers.AttentionPool2D(
            grid, num_heads, output_dim=embed_dim, dtype=dtype, name="attnpool"
        )(x)
        super().__init__(images, x, name=name, dtype=dtype, **kwargs)
        self.keep_config(locals())
