"""DeiT: Training data-efficient image transformers & distillation through attention
[Touvron et al., 2021].

DeiT is ViT trained on ImageNet-1k alone with a strong recipe (see `keras_vt.training`). The
distilled variant appends a second learned token, the distillation token, after the class token:
the sequence is [class, distillation, patches], the position table has two prefix entries, the
final LayerNorm is shared, and each of the two tokens has its own linear head (`head` on the class
token, `head_dist` on the distillation token). The class head learns from the labels, the
distillation head from a teacher (`keras_vt.training.Distiller`).

In training (`training=True`) a distilled model returns both heads' logits,
`(class_logits, distillation_logits)`; at inference it returns their combination: the mean of
the two logits (the official code, default) or, with `head_fusion="sum_softmax"`, the paper's sum
of the two softmax outputs (returned as the log of their mean, so that the outputs stay logits and
the predicted class is the paper's).
"""

import keras
from keras import ops

from keras_vt.models.base import FunctionalModel
from keras_vt.models.registry import register
from keras_vt.models.vit import (
    ENCODER_KEYS,
    INIT_KEYS,
    TRAINING_KEYS,
    VIT_SIZES,
    VisionTransformer,
    check_head,
    image_grid,
    linear_head,
    vit_encoder,
)

# DeiT initialises the class and distillation tokens and the position table with a truncated
# normal of std 0.02 (facebookresearch/deit `models.py`, timm 0.3.2).
DEIT_INITIALIZER = {"class_name": "TruncatedNormal", "config": {"stddev": 0.02}}
HEAD_FUSIONS = ("mean_logits", "sum_softmax")


def combine_heads(class_logits, distillation_logits, head_fusion="mean_logits"):
    """The inference output of a distilled DeiT from its two heads' logits.

    Args:
        class_logits, distillation_logits: (batch, classes) logits of `head` and `head_dist`.
        head_fusion: "mean_logits" (the official code: (a + b) / 2) or "sum_softmax" (the
            paper: softmax(a) + softmax(b), returned as log((softmax(a) + softmax(b)) / 2),
            i.e. log-probabilities whose argmax is the paper's prediction).

    Example:

    >>> a, b = np.array([[2.0, 0.0]]), np.array([[0.0, 1.0]])
    >>> keras_vt.models.deit.combine_heads(a, b)
    array([[1. , 0.5]])
    """
    if head_fusion == "mean_logits":
        return (class_logits + distillation_logits) / 2
    if head_fusion == "sum_softmax":
        return ops.logaddexp(
            ops.log_softmax(class_logits, axis=-1), ops.log_softmax(distillation_logits, axis=-1)
        ) - ops.log(ops.cast(2.0, class_logits.dtype))
    raise ValueError(f"Unknown head_fusion={head_fusion!r}: expected one of {HEAD_FUSIONS}.")


@keras.saving.register_keras_serializable(package="keras_vt")
class DeiT(VisionTransformer):
    """DeiT without distillation token: a ViT with DeiT's initialisation and normalisation.

    The architecture is exactly ViT's (`VisionTransformer`, class-token pooling); DeiT differs in
    its training recipe, in ImageNet mean/std input normalisation, and in initialising the class
    token and position table with a truncated normal of std 0.02. Same arguments as
    `VisionTransformer`.

    Example:

    >>> model = keras_vt.create_model("deit_tiny_patch16_224", num_classes=10, image_size=64)
    >>> model(np.zeros((2, 64, 64, 3))).shape
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
class DistilledDeiT(FunctionalModel):
    """DeiT with a distillation token and a second head, `head_dist`.

    Tokens are [class, distillation, patches] (`cls_token` holds both prefix tokens as one
    (1, 2, hidden_dim) weight); the position table `pos_embed` has 2 + patches entries; blocks
    and the final `norm` are ViT's. `head` reads the class token, `head_dist` the distillation
    token.

    Outputs: with `training=True`, the pair `(class_logits, distillation_logits)`, for
    `keras_vt.training.Distiller` (or `fit` on labels alone: both heads then learn the labels,
    see `compute_loss`); otherwise one (batch, num_classes) tensor combining the two (see
    `head_fusion`). `predict`, `evaluate`, saving and export see the combined output. The
    functional graph (`model.outputs`) holds the two heads. With `include_top=False` the output is
    the mean of the two normalised tokens' features, as in timm.

    Args:
        image_size: input side in pixels (int, or (height, width)), divisible by `patch_size`.
        patch_size: side of the square patches.
        hidden_dim, mlp_dim, num_heads, depth: the size (see `keras_vt.models.vit.VIT_SIZES`).
        num_classes: classes of both heads.
        include_top: with the heads or without (pooled features).
        head_fusion: how inference combines the heads: "mean_logits" (the official code,
            default) or "sum_softmax" (the paper; returned as log of the mean probability).
        distillation_head: with `include_top`, whether `head_dist` exists. False gives Hugging
            Face's `DeiTForImageClassification`: the distillation token stays in the sequence but
            only `head` (on the class token) predicts, in training and inference alike.
        dropout, attention_dropout, drop_path_rate, layer_norm_epsilon, interpolation: as in
            `VisionTransformer`.
        head_initializer: initializer of both heads' kernels (default truncated normal 0.02).
        token_initializer, position_initializer: default truncated normal, std 0.02 (DeiT).
        dtype: dtype policy, e.g. "float32" or "mixed_bfloat16" (heads compute in float32).

    Example:

    >>> model = keras_vt.create_model("deit_tiny_distilled_patch16_224", num_classes=10,
    ...                               image_size=64)
    >>> model(np.zeros((2, 64, 64, 3))).shape
    (2, 10)
    >>> [t.shape for t in model(np.zeros((2, 64, 64, 3)), training=True)]
    [(2, 10), (2, 10)]
    """

    default_image_size = 224
    normalization = "imagenet"

    config_keys = (
        ENCODER_KEYS
        + ("num_classes", "include_top", "head_fusion", "distillation_head")
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
        head_fusion="mean_logits",
        distillation_head=True,
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
        check_head(num_classes)
        if head_fusion not in HEAD_FUSIONS:
            raise ValueError(
                f"Unknown head_fusion={head_fusion!r}: expected one of {HEAD_FUSIONS}."
            )

        images = keras.Input((grid[0] * patch_size, grid[1] * patch_size, 3), name="images")
        x = vit_encoder(
            images,
            patch_size=patch_size,
            hidden_dim=hidden_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_dim=mlp_dim,
            num_prefix_tokens=2,
            token_initializer=token_initializer or dict(DEIT_INITIALIZER),
            position_initializer=position_initializer or dict(DEIT_INITIALIZER),
            dropout=dropout,
            attention_dropout=attention_dropout,
            drop_path_rate=drop_path_rate,
            layer_norm_epsilon=layer_norm_epsilon,
            interpolation=interpolation,
            dtype=dtype,
            activation=activation,
        )
        class_token, distillation_token = x[:, 0], x[:, 1]
        if include_top:
            outputs = linear_head(num_classes, head_initializer, dtype)(class_token)
            if distillation_head:
                distilled = linear_head(num_classes, head_initializer, dtype, name="head_dist")
                outputs = [outputs, distilled(distillation_token)]
        else:
            outputs = keras.layers.Average(dtype=dtype, name="pool")(
                [class_token, distillation_token]
            )
        super().__init__(images, outputs, name=name, dtype=dtype, **kwargs)

        self.keep_config(locals())
        self.grid_size = grid

    def combine(self, class_logits, distillation_logits):
        """The inference output from the two heads' logits (see `head_fusion`)."""
        return combine_heads(class_logits, distillation_logits, self.head_fusion)

    def call(self, inputs, training=None, mask=None):
        outputs = super().call(inputs, training=training, mask=mask)
        if not (self.include_top and self.distillation_head):
            return outputs
        class_logits, distillation_logits = outputs
        if training:
            return class_logits, distillation_logits
        return self.combine(class_logits, distillation_logits)

    def compute_output_spec(self, inputs, training=None, mask=None):
        outputs = super().compute_output_spec(inputs, training=training, mask=mask)
        if not (self.include_top and self.distillation_head):
            return outputs
        return tuple(outputs) if training else outputs[0]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Compiled loss; in training, applied to both heads with the same targets.

        Without a teacher (plain `compile` + `fit`), both heads learn the labels: the loss is the
        mean of the compiled loss over the two heads, computed by stacking the heads' logits (and
        the targets) along the batch axis. Use `keras_vt.training.Distiller` to train
        `head_dist` from a teacher.
        """
        if isinstance(y_pred, (list, tuple)) and y is not None:
            if keras.tree.is_nested(y) or keras.tree.is_nested(sample_weight):
                raise ValueError(
                    "A distilled DeiT trained with `fit` expects one target tensor for both heads; "
                    f"got y of type {type(y).__name__}."
                )
            y_pred = ops.concatenate(list(y_pred), axis=0)
            y = ops.concatenate([y, y], axis=0)
            if sample_weight is not None:
                sample_weight = ops.concatenate([sample_weight, sample_weight], axis=0)
        return super().compute_loss(x, y, y_pred, sample_weight, training=training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Compiled metrics on the inference output (in training: the heads combined)."""
        if isinstance(y_pred, (list, tuple)):
            y_pred = self.combine(*y_pred)
        return super().compute_metrics(x, y, y_pred, sample_weight)


DEIT_TINY = dict(hidden_dim=32, depth=2, num_heads=2, mlp_dim=64, image_size=32)
for _size in ("tiny", "small", "base"):
    _hidden, _mlp, _heads, _depth = VIT_SIZES[_size]
    _config = dict(patch_size=16, hidden_dim=_hidden, depth=_depth, num_heads=_heads, mlp_dim=_mlp)
    register(f"deit_{_size}_patch16_224", DeiT, family="deit", config=_config, tiny=DEIT_TINY)
    register(
        f"deit_{_size}_distilled_patch16_224",
        DistilledDeiT,
        family="deit",
        config=_config,
        tiny=DEIT_TINY,
    )
_hidden, _mlp, _heads, _depth = VIT_SIZES["base"]
_config = dict(
    patch_size=16, hidden_dim=_hidden, depth=_depth, num_heads=_heads, mlp_dim=_mlp, image_size=384
)
register("deit_base_patch16_384", DeiT, family="deit", config=_config, tiny=DEIT_TINY)
register(
    "deit_base_distilled_patch16_384", DistilledDeiT, family="deit", config=_config, tiny=DEIT_TINY
)
