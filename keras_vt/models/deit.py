"""DeiT: Training data-efficient image transformers & distillation through attention
[Touvron et al., 2021].

DeiT is ViT trained on ImageNet-1k alone with a strong recipe (see `keras_vt.training`). The
distilled variant appends a second learned token, the distillation token, after the class token:
the sequence is [class, distillation, patches], the position table has two prefix entries, the
final LayerNorm is shared, and each of the two tokens has its own linear head (`head` on the class
token, `head_dist` on the distillation token). The class head learns from the labels, the
distillation head from a teacher (`keras_vt.training.Distiller`). Both are configurations of
`keras_vt.models.encoder.vit_encoder`; the distilled one adds one token and one head to DeiT.
"""

import keras
from keras import ops

from keras_vt import checks
from keras_vt.models.common import TINY_ENCODER, VIT_SIZES, AuxiliaryHeads, linear_head
from keras_vt.models.encoder import VisionTransformer
from keras_vt.models.registry import register

# DeiT's tokens and position table: truncated normal, std 0.02 (facebookresearch/deit, timm).
DEIT_INITIALIZER = {"class_name": "TruncatedNormal", "config": {"stddev": 0.02}}
HEAD_FUSIONS = ("mean_logits", "sum_softmax")


def combine_heads(class_logits, distillation_logits, head_fusion="mean_logits"):
    """The inference output of a distilled DeiT from its two heads' logits.

    Args:
        class_logits, distillation_logits: (batch, classes) logits of `head` and `head_dist`.
        head_fusion: "mean_logits" (the official code: (a + b) / 2) or "sum_softmax" (the paper's
            softmax(a) + softmax(b), as log((softmax(a) + softmax(b)) / 2): same argmax).

    Example:

    >>> a, b = np.array([[2.0, 0.0]]), np.array([[0.0, 1.0]])
    >>> keras_vt.models.deit.combine_heads(a, b)
    array([[1. , 0.5]])
    """
    checks.check_choice("head_fusion", head_fusion, HEAD_FUSIONS)
    if head_fusion == "mean_logits":
        return (class_logits + distillation_logits) / 2
    return ops.logaddexp(
        ops.log_softmax(class_logits, axis=-1), ops.log_softmax(distillation_logits, axis=-1)
    ) - ops.log(ops.cast(2.0, class_logits.dtype))


@keras.saving.register_keras_serializable(package="keras_vt")
class DeiT(VisionTransformer):
    """DeiT without distillation token: a ViT with DeiT's initialisation and normalisation.

    The architecture is exactly ViT's (`VisionTransformer`, class-token pooling); DeiT differs in
    its training recipe, in ImageNet mean/std input normalisation, and in initialising the class
    token and position table with a truncated normal of std 0.02. Same arguments as
    `VisionTransformer`.

    Example:

    >>> model = keras_vt.create_model("deit_tiny_patch16_224", tiny=True, num_classes=10)
    >>> tuple(model(np.zeros((2, 32, 32, 3))).shape)
    (2, 10)
    """

    normalization = "imagenet"

    def __init__(self, token_initializer=None, position_initializer=None, **kwargs):
        super().__init__(
            token_initializer=token_initializer or dict(DEIT_INITIALIZER),
            position_initializer=position_initializer or dict(DEIT_INITIALIZER),
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="keras_vt")
class DistilledDeiT(AuxiliaryHeads, DeiT):
    """DeiT with a distillation token and a second head, `head_dist`.

    Tokens are [class, distillation, patches] (`cls_token` holds both prefix tokens as one
    (1, 2, hidden_dim) weight); the position table `pos_embed` has 2 + patches entries; blocks
    and the final `norm` are ViT's. `head` reads the class token, `head_dist` the distillation
    token.

    Outputs (see `keras_vt.models.common.AuxiliaryHeads`): with `training=True`, the pair
    `(class_logits, distillation_logits)`; otherwise one (batch, num_classes) tensor combining the
    two (`head_fusion`), which `predict`, `evaluate`, saving and export see. `fit` on labels alone
    trains both heads on the labels. Without top: the mean of the two tokens' features (timm).

    Args: those of `DeiT` (`VisionTransformer`) but `pooling`; `num_classes`, `head_initializer`
    and `dtype` (the heads compute in float32 under mixed policies) apply to both heads; and
        head_fusion: how inference combines the heads: "mean_logits" (the official code,
            default) or "sum_softmax" (the paper; returned as log of the mean probability).
        distillation_head: with `include_top`, whether `head_dist` exists. False gives Hugging
            Face's `DeiTForImageClassification`: the distillation token stays in the sequence but
            only `head` (on the class token) predicts, in training and inference alike.

    Example:

    >>> model = keras_vt.create_model("deit_tiny_distilled_patch16_224", tiny=True,
    ...                               num_classes=10)
    >>> tuple(model(np.zeros((2, 32, 32, 3))).shape)
    (2, 10)
    >>> [tuple(t.shape) for t in model(np.zeros((2, 32, 32, 3)), training=True)]
    [(2, 10), (2, 10)]
    """

    head_keys = ("num_classes", "include_top", "head_fusion", "distillation_head")
    config_keys = tuple(k for k in DeiT.config_keys if k != "pooling") + head_keys[2:]
    poolings = ("token",)

    def __init__(self, head_fusion="mean_logits", distillation_head=True, **kwargs):
        # One more token, one more head: the rest is DeiT's.
        self.head_fusion = checks.check_choice("head_fusion", head_fusion, HEAD_FUSIONS)
        self.distillation_head = distillation_head
        super().__init__(**kwargs)

    @staticmethod
    def prefix_tokens_for(pooling):
        return 2

    def build_head(self, tokens, pooling, include_top, num_classes, dropout, initializer, dtype):
        class_token, distillation_token = tokens[:, 0], tokens[:, 1]
        if not include_top:
            return keras.layers.Average(dtype=dtype, name="pool")([class_token, distillation_token])
        outputs = linear_head(num_classes, initializer, dtype)(class_token)
        if not self.distillation_head:
            return outputs
        return [
            outputs,
            linear_head(num_classes, initializer, dtype, "head_dist")(distillation_token),
        ]

    @property
    def has_auxiliary_heads(self):
        return bool(self.include_top and self.distillation_head)

    def combine(self, class_logits, distillation_logits):
        """The inference output from the two heads' logits (see `head_fusion`)."""
        return combine_heads(class_logits, distillation_logits, self.head_fusion)


DEIT_TINY = dict(TINY_ENCODER, image_size=32)
for _size in ("tiny", "small", "base"):
    _hidden, _mlp, _heads, _depth = VIT_SIZES[_size]
    _config = dict(patch_size=16, hidden_dim=_hidden, depth=_depth, num_heads=_heads, mlp_dim=_mlp)
    register(f"deit_{_size}_patch16_224", DeiT, "deit", _config, DEIT_TINY)
    register(f"deit_{_size}_distilled_patch16_224", DistilledDeiT, "deit", _config, DEIT_TINY)
_config = dict(_config, image_size=384)  # DeiT-B at 384 px
register("deit_base_patch16_384", DeiT, "deit", _config, DEIT_TINY)
register("deit_base_distilled_patch16_384", DistilledDeiT, "deit", _config, DEIT_TINY)
