"""ViT: An Image is Worth 16x16 Words [Dosovitskiy et al., 2020].

The image is cut into patches, each patch embedded linearly; a class token is prepended and a
learned position table added; a stack of pre-norm transformer blocks follows, then a final
LayerNorm, pooling (class token or global average) and a linear head. The encoder is
`keras_vt.models.encoder.vit_encoder`; `positions="sincos"` swaps the learned table for the fixed
2-D sin-cos one (big_vision's `posemb="sincos2d"`).
"""

import keras

from keras_vt.layers import checks
from keras_vt.models import common, encoder
from keras_vt.models.base import FunctionalModel
from keras_vt.models.registry import register

POOLINGS = ("token", "gap")
VIT_SIZES = common.VIT_SIZES
image_grid = checks.image_grid  # deprecated alias: keras_vt.layers.checks.image_grid


@keras.saving.register_keras_serializable(package="keras_vt")
class VisionTransformer(FunctionalModel):
    """Vision Transformer (ViT) classifier or backbone.

    Args:
        image_size: input side in pixels (int, or (height, width)), divisible by `patch_size`.
        patch_size: side of the square patches.
        hidden_dim, mlp_dim, num_heads, depth: the size (see `keras_vt.models.common.VIT_SIZES`).
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
        positions: "learned" (default) or "sincos" (fixed 2-D sin-cos table, no weights).
        dtype: dtype policy, e.g. "float32", "bfloat16" or "mixed_bfloat16".

    Example:

    >>> model = keras_vt.create_model("vit_tiny_patch16_224", num_classes=10, image_size=32,
    ...                               depth=1)
    >>> model(np.zeros((2, 32, 32, 3))).shape
    (2, 10)
    """

    default_image_size = 224
    normalization = "inception"

    head_keys = ("num_classes", "include_top", "pooling")
    config_keys = (
        common.ENCODER_KEYS + head_keys + common.TRAINING_KEYS + common.INIT_KEYS + ("positions",)
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
        positions="learned",
        dtype=None,
        name=None,
        **kwargs,
    ):
        grid = checks.image_grid(image_size, patch_size)
        checks.check_num_classes(num_classes)
        checks.check_choice("pooling", pooling, self.poolings)
        checks.check_choice("positions", positions, ("learned", "sincos"))
        num_prefix = self.prefix_tokens_for(pooling)
        images = keras.Input((grid[0] * patch_size, grid[1] * patch_size, 3), name="images")
        tokens = encoder.vit_encoder(
            images,
            patch_size,
            hidden_dim,
            depth,
            num_heads,
            mlp_dim,
            num_prefix_tokens=num_prefix,
            token_initializer=token_initializer,
            positions=positions,
            position_initializer=position_initializer,
            interpolation=interpolation,
            dropout=dropout,
            attention_dropout=attention_dropout,
            drop_path_rate=drop_path_rate,
            layer_norm_epsilon=layer_norm_epsilon,
            dtype=dtype,
        )
        outputs = self.build_head(
            tokens, pooling, include_top, num_classes, dropout, head_initializer, dtype
        )
        super().__init__(images, outputs, name=name, dtype=dtype, **kwargs)
        self.keep_config(locals())
        self.grid_size = grid

    poolings = POOLINGS

    @staticmethod
    def prefix_tokens_for(pooling):
        """Prefix tokens of the encoder: a class token for "token" pooling."""
        return 1 if pooling == "token" else 0

    @staticmethod
    def build_head(tokens, pooling, include_top, num_classes, dropout, initializer, dtype):
        """Pooling, then dropout and the linear head (`include_top`) on the encoded tokens."""
        features = encoder.pool(tokens, pooling, 0, dtype)
        return common.classify(features, include_top, num_classes, dropout, initializer, dtype)


# A CPU-sized ViT for 32 px images (4x4 patches, 64 tokens): the quick start's default and the
# explorer's embedded model. Not from the paper; ViT-Ti's head width halved and depth halved.
register(
    "vit_mini_patch4_32",
    VisionTransformer,
    family="vit",
    config=dict(image_size=32, patch_size=4, hidden_dim=96, depth=6, num_heads=3, mlp_dim=384),
    tiny=dict(common.TINY_ENCODER, image_size=8),
)
_PATCHES = {"tiny": (16,), "small": (16, 32), "base": (16, 32), "large": (16, 32), "huge": (14,)}
for _size, _patches in _PATCHES.items():
    _hidden, _mlp, _heads, _depth = common.VIT_SIZES[_size]
    for _patch in _patches:
        _config = dict(patch_size=_patch, hidden_dim=_hidden, depth=_depth, num_heads=_heads)
        _tiny = dict(common.TINY_ENCODER, image_size=2 * _patch)
        _name = f"vit_{_size}_patch{_patch}_224"
        register(_name, VisionTransformer, "vit", dict(_config, mlp_dim=_mlp), _tiny)
