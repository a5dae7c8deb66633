"""ViT: An Image is Worth 16x16 Words [Dosovitskiy et al., 2020].

The image is cut into patches, each patch embedded linearly; a class token is prepended and a
learned position table added; a stack of pre-norm transformer blocks follows, then a final
LayerNorm, pooling (class token or global average) and a linear head. The encoder is
`keras_vt.models.encoder.vit_encoder`; `positions="sincos"` swaps the learned table for the fixed
2-D sin-cos one (big_vision's `posemb="sincos2d"`).
"""

from keras_vt import checks
from keras_vt.models import common
from keras_vt.models.encoder import VisionTransformer
from keras_vt.models.registry import register

__all__ = ["VIT_SIZES", "VisionTransformer", "image_grid"]

POOLINGS = ("token", "gap")
VIT_SIZES = common.VIT_SIZES
image_grid = checks.image_grid  # deprecated alias: keras_vt.checks.image_grid


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
