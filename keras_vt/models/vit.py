"""ViT: An Image is Worth 16x16 Words [Dosovitskiy et al., 2020].

The image is cut into patches, each patch embedded linearly; a class token is prepended and a
learned position table added; a stack of pre-norm transformer blocks follows, then a final
LayerNorm, pooling (class token or global average) and a linear head.
"""

import keras

from keras_vt import layers
from keras_vt.layers.transformer import get_activation
from keras_vt.models.base import FunctionalModel
from keras_vt.models.registry import register

# name: (hidden_dim, mlp_dim, num_heads, depth); head dimension 64 throughout.
VIT_SIZES = {
    "tiny": (192, 768, 3, 12),
    "small": (384, 1536, 6, 12),
    "base": (768, 3072, 12, 12),
    "large": (1024, 4096, 16, 24),
    "huge": (1280, 5120, 16, 32),
}
POOLINGS = ("token", "gap")
# Constructor arguments shared by the ViT-like models (ViT, DeiT, CPVT), for their `config_keys`.
ENCODER_KEYS = ("image_size", "patch_size", "hidden_dim", "depth", "num_heads", "mlp_dim")
TRAINING_KEYS = ("dropout", "attention_dropout", "drop_path_rate", "layer_norm_epsilon")
INIT_KEYS = ("head_initializer", "interpolation", "token_initializer", "position_initializer")


def image_grid(image_size, patch_size):
    """(height, width) patch grid of `image_size`, checking divisibility by `patch_size`."""
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or any(int(s) < 1 for s in size):
        raise ValueError(f"Expected image_size as a positive int or (h, w), got {image_size!r}.")
    if any(s % patch_size for s in size):
        raise ValueError(
            f"image_size={image_size!r} is not divisible by patch_size={patch_size}: expected "
            f"a multiple of {patch_size} (e.g. {max(1, round(size[0] / patch_size)) * patch_size})."
        )
    return size[0] // patch_size, size[1] // patch_size


def check_head(num_classes, pooling=None, poolings=POOLINGS):
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"Expected num_classes >= 1, got num_classes={num_classes!r}.")
    if pooling is not None and pooling not in poolings:
        raise ValueError(f"Unknown pooling={pooling!r}: expected one of {poolings}.")


def output_dtype(dtype):
    """The head computes in the policy's variable dtype, so mixed policies return float32 logits."""
    return keras.dtype_policies.get(dtype).variable_dtype if dtype is not None else None


def linear_head(num_classes, initializer=None, dtype=None, name="head"):
    """The classifier: a Dense layer, truncated-normal(0.02) weights, float32 logits when mixed."""
    return keras.layers.Dense(
        num_classes,
        kernel_initializer=initializer or keras.initializers.TruncatedNormal(stddev=0.02),
        dtype=output_dtype(dtype),
        name=name,
    )


def pool_and_classify(
    tokens, pooling, include_top, num_classes, dropout=0.0, head_initializer=None, dtype=None
):
    """The class token ("token") or the mean of the tokens ("gap"), then dropout and the head."""
    if pooling == "token":
        x = tokens[:, 0]
    else:
        x = keras.layers.GlobalAveragePooling1D(dtype=dtype, name="gap")(tokens)
    if not include_top:
        return x
    x = keras.layers.Dropout(dropout, dtype=dtype, name="head_drop")(x)
    return linear_head(num_classes, head_initializer, dtype)(x)


def vit_encoder(
    images,
    patch_size,
    hidden_dim,
    depth,
    num_heads,
    mlp_dim,
    num_prefix_tokens=1,
    token_initializer=None,
    position_initializer=None,
    dropout=0.0,
    attention_dropout=0.0,
    drop_path_rate=0.0,
    layer_norm_epsilon=1e-6,
    interpolation="bicubic",
    dtype=None,
    activation="gelu",
):
    """ViT's encoder on symbolic `images`: patches, prefix tokens, positions, blocks, final norm.

    Returns the normalised token sequence (batch, num_prefix_tokens + patches, hidden_dim); the
    prefix tokens (ViT's class token, DeiT's class and distillation tokens) come first, in a
    `ClassToken` layer named "cls_token" initialised with `token_initializer` (default: normal
    with std 1e-6, as timm); the position table is initialised with `position_initializer`
    (default: normal with std 0.02). Layer names: patch_embed, cls_token, pos_embed, block{i}, norm.
    """
    grid = (images.shape[1] // patch_size, images.shape[2] // patch_size)
    x = layers.PatchEmbedding(patch_size, hidden_dim, dtype=dtype, name="patch_embed")(images)
    if num_prefix_tokens:
        x = layers.ClassToken(
            num_prefix_tokens,
            token_initializer or keras.initializers.RandomNormal(stddev=1e-6),
            dtype=dtype,
            name="cls_token",
        )(x)
    x = layers.PositionEmbedding(
        grid,
        num_prefix_tokens,
        position_initializer,
        interpolation=interpolation,
        dtype=dtype,
        name="pos_embed",
    )(x)
    x = keras.layers.Dropout(dropout, dtype=dtype, name="pos_drop")(x)
    x = layers.transformer_blocks(
        x,
        depth,
        drop_path_rate,
        num_heads=num_heads,
        mlp_dim=mlp_dim,
        dropout=dropout,
        attention_dropout=attention_dropout,
        layer_norm_epsilon=layer_norm_epsilon,
        activation=activation,
        dtype=dtype,
    )
    return keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=dtype, name="norm")(x)


@keras.saving.register_keras_serializable(package="keras_vt")
class VisionTransformer(FunctionalModel):
    """Vision Transformer (ViT) classifier or backbone.

    Args:
        image_size: input side in pixels (int, or (height, width)), divisible by `patch_size`.
        patch_size: side of the square patches.
        hidden_dim, mlp_dim, num_heads, depth: the size (see `VIT_SIZES`).
        num_classes: classes of the linear head.
        include_top: with the head (logits) or without (pooled features).
        pooling: "token" (class token) or "gap" (no class token; mean of the patch tokens).
        dropout: dropout after the position embedding, in the blocks and before the head.
        attention_dropout: dropout on attention probabilities.
        drop_path_rate: stochastic depth of the last block (linear from 0).
        layer_norm_epsilon: 1e-6 as in the JAX code and timm (Hugging Face uses 1e-12).
        head_initializer: "zeros" as in the JAX code, or timm's truncated normal (default).
        interpolation: how position tables of another resolution are resampled on load.
        token_initializer: initializer of the class token (default: normal, std 1e-6, as timm;
            DeiT: truncated normal, std 0.02).
        position_initializer: initializer of the position table (default: normal, std 0.02;
            DeiT: truncated normal, std 0.02).
        activation: MLP activation, "gelu" (exact, as ViT), "gelu_tanh", "quick_gelu" or "relu"
            (for converted checkpoints that use another).
        dtype: dtype policy, e.g. "float32", "bfloat16" or "mixed_bfloat16".

    Example:

    >>> model = keras_vt.create_model("vit_tiny_patch16_224", num_classes=10, image_size=64)
    >>> model(np.zeros((2, 64, 64, 3))).shape
    (2, 10)
    """

    default_image_size = 224
    normalization = "inception"

    config_keys = (
        ENCODER_KEYS
        + ("num_classes", "include_top", "pooling")
        + TRAINING_KEYS
        + INIT_KEYS
        + ("activation",)
    )

    def __init__(
        self,
        image_size=224,
        patch_size=16,
        hidden_dim=768,
        depth=12,
        num_heads=12,
        mlp_dim=3072,
        num_classes=1000,
        include_top=True,
        pooling="token",
        dropout=0.0,
        attention_dropout=0.0,
        drop_path_rate=0.0,
        layer_norm_epsilon=1e-6,
        head_initializer=None,
        interpolation="bicubic",
        token_initializer=None,
        position_initializer=None,
        activation="gelu",
        dtype=None,
        name=None,
        **kwargs,
    ):
        grid = image_grid(image_size, patch_size)
        check_head(num_classes, pooling)
        get_activation(activation)
        num_prefix = 1 if pooling == "token" else 0

        images = keras.Input((grid[0] * patch_size, grid[1] * patch_size, 3), name="images")
        x = vit_encoder(
            images,
            patch_size=patch_size,
            hidden_dim=hidden_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_dim=mlp_dim,
            num_prefix_tokens=num_prefix,
            token_initializer=token_initializer,
            position_initializer=position_initializer,
            dropout=dropout,
            attention_dropout=attention_dropout,
            drop_path_rate=drop_path_rate,
            layer_norm_epsilon=layer_norm_epsilon,
            interpolation=interpolation,
            dtype=dtype,
            activation=activation,
        )
        x = pool_and_classify(
            x, pooling, include_top, num_classes, dropout, head_initializer, dtype
        )
        super().__init__(images, x, name=name, dtype=dtype, **kwargs)

        self.keep_config(locals())
        self.grid_size = grid


VIT_TINY = dict(hidden_dim=32, depth=2, num_heads=2, mlp_dim=64)

# A CPU-sized ViT for 32 px images (4x4 patches, 64 tokens): the quick start's default and the
# explorer's embedded model. Not from the paper; ViT-Ti's head width halved and depth halved.
register(
    "vit_mini_patch4_32",
    VisionTransformer,
    family="vit",
    config=dict(image_size=32, patch_size=4, hidden_dim=96, depth=6, num_heads=3, mlp_dim=384),
    tiny=dict(VIT_TINY, image_size=8),
)
for _size, _patches in (
    ("tiny", (16,)),
    ("small", (16, 32)),
    ("base", (16, 32)),
    ("large", (16, 32)),
    ("huge", (14,)),
):
    _hidden, _mlp, _heads, _depth = VIT_SIZES[_size]
    for _patch in _patches:
        register(
            f"vit_{_size}_patch{_patch}_224",
            VisionTransformer,
            family="vit",
            config=dict(
                patch_size=_patch, hidden_dim=_hidden, depth=_depth, num_heads=_heads, mlp_dim=_mlp
            ),
            tiny=dict(VIT_TINY, image_size=2 * _patch),
        )
