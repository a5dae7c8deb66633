"""CvT: Introducing Convolutions to Vision Transformers [Wu et al., 2021].

Three stages. Each opens with a convolutional token embedding (overlapping strided convolution,
then LayerNorm: 7/4/2, then 3/2/1 twice) that shrinks the token map and widens it, followed by
transformer blocks whose q, k and v come from depthwise convolutions + BatchNorm (stride 1 for
the queries, 2 for keys and values). There is no position embedding anywhere: the zero-padded
convolutions carry position, so one set of weights serves every input resolution. A class token
joins only in the last stage and bypasses the convolutions. MLPs use QuickGELU, LayerNorms
eps 1e-5.

Attention maps (`keras_vt.viz.attention_maps`): one per block, (batch, heads, queries, keys) with
queries = P + H*W and keys = P + ceil(H/2) * ceil(W/2) for the stage's H x W token map (P = 1 in
stage 3, 0 before): keys are the map down-sampled by the key/value stride. At 224 px:
stage 1 (B, 1, 3136, 784), stage 2 (B, 3, 784, 196), stage 3 (B, 6, 197, 50) for CvT-13.
"""

import keras

from keras_vt import checks, layers
from keras_vt.models.base import FunctionalModel
from keras_vt.models.common import linear_head
from keras_vt.models.registry import register

POOLINGS = ("token", "gap")

# name: (embed dims, heads, depths); patch embeddings 7/4/2, 3/2/1, 3/2/1; MLP ratio 4.
CVT_SIZES = {
    "13": ((64, 192, 384), (1, 3, 6), (1, 2, 10)),
    "21": ((64, 192, 384), (1, 3, 6), (1, 4, 16)),
    "w24": ((192, 768, 1024), (3, 12, 16), (2, 2, 20)),
}


def _per_stage(value, argument, num_stages, cast=int):
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * num_stages
    if len(values) != num_stages:
        raise checks.invalid(argument, value, f"{argument} with one value per stage ({num_stages})")
    if cast is int:
        minimum = 0 if argument == "patch_paddings" else 1
        return checks.check_ints(argument, values, minimum)
    return tuple(checks.check_rate(argument, v) for v in values)


@keras.saving.register_keras_serializable(package="keras_vt")
class CvT(FunctionalModel):
    """Convolutional vision Transformer (CvT), classifier or backbone.

    The functional graph takes images of any size, (batch, None, None, 3), as long as every
    stage's convolution fits (at least 3 pixels with the default stem; a `ValueError` otherwise).
    `image_size` is only the preferred resolution, used by `keras_vt.preprocess`.

    Args:
        image_size: preferred input side in pixels (int or (height, width)).
        hidden_dims, num_heads, depths: per stage (see `CVT_SIZES`). `embed_dims`, the name of
            `hidden_dims` before the one-name-per-concept rename, is still accepted with a
            `DeprecationWarning`.
        patch_sizes, patch_strides, patch_paddings: the convolutional token embeddings.
        mlp_ratio: MLP width over embedding width.
        kernel_size: side of the depthwise q/k/v projection kernels (3).
        query_stride, kv_stride: strides of the query and key/value projections (1, 2).
        scale: attention logit scale, "width" (official code: width ** -0.5) or "head"
            (head_dim ** -0.5, as the paper's scaled dot product implies); see
            `keras_vt.layers.ConvProjectionAttention`.
        use_bias: bias of the q/k/v linear layers.
        num_classes: classes of the linear head.
        include_top: with the head (logits) or without (pooled features).
        pooling: "token" (class token in the last stage, as CvT) or "gap" (no class token; mean of
            the final-normalised tokens of the last stage).
        activation: MLP activation, "quick_gelu" (official code) or "gelu" (Hugging Face's port).
        dropout, attention_dropout: regularisation.
        drop_path_rate: stochastic depth per stage (float: last stage only, as the official
            configurations, e.g. 0.1 for CvT-13), rising linearly over each stage's blocks.
        layer_norm_epsilon: 1e-5.
        dtype: dtype policy.

    Example:

    >>> model = keras_vt.create_model("cvt_13", tiny=True, num_classes=10)
    >>> tuple(model(np.zeros((2, 64, 64, 3))).shape), tuple(model(np.zeros((2, 48, 80, 3))).shape)
    ((2, 10), (2, 10))
    """

    default_image_size = 224
    normalization = "imagenet"

    config_keys = (
        "image_size",
        "hidden_dims",
        "num_heads",
        "depths",
        "patch_sizes",
        "patch_strides",
        "patch_paddings",
        "mlp_ratio",
        "kernel_size",
        "query_stride",
        "kv_stride",
        "scale",
        "use_bias",
        "num_classes",
        "include_top",
        "pooling",
        "activation",
        "dropout",
        "attention_dropout",
        "drop_path_rate",
        "layer_norm_epsilon",
    )
    renamed_arguments = {"embed_dims": "hidden_dims"}

    def __init__(
        self,
        image_size=224,
        hidden_dims=(64, 192, 384),
        num_heads=(1, 3, 6),
        depths=(1, 2, 10),
        patch_sizes=(7, 3, 3),
        patch_strides=(4, 2, 2),
        patch_paddings=(2, 1, 1),
        mlp_ratio=4.0,
        kernel_size=3,
        query_stride=1,
        kv_stride=2,
        scale="width",
        use_bias=True,
        num_classes=1000,
        include_top=True,
        pooling="token",
        activation="quick_gelu",
        dropout=0.0,
        attention_dropout=0.0,
        drop_path_rate=0.0,
        layer_norm_epsilon=1e-5,
        dtype=None,
        name=None,
        **kwargs,
    ):
        checks.check_image_size(image_size)
        checks.check_num_classes(num_classes)
        checks.check_choice("pooling", pooling, POOLINGS)
        hidden_dims = _per_stage(hidden_dims, "hidden_dims", len(tuple(hidden_dims)))
        stages = len(hidden_dims)
        num_heads = _per_stage(num_heads, "num_heads", stages)
        depths = _per_stage(depths, "depths", stages)
        patch_sizes = _per_stage(patch_sizes, "patch_sizes", stages)
        patch_strides = _per_stage(patch_strides, "patch_strides", stages)
        patch_paddings = _per_stage(patch_paddings, "patch_paddings", stages)
        for width, heads in zip(hidden_dims, num_heads):
            checks.check_heads(heads, width, "num_heads", "hidden_dims")
        checks.check_positive("mlp_ratio", mlp_ratio)
        for argument, rate in (("dropout", dropout), ("attention_dropout", attention_dropout)):
            checks.check_rate(argument, rate)
        checks.check_positive("layer_norm_epsilon", layer_norm_epsilon)
        if isinstance(drop_path_rate, (int, float)):
            drop_path_rates = (0.0,) * (stages - 1) + (
                checks.check_rate("drop_path_rate", drop_path_rate),
            )
        else:
            drop_path_rates = _per_stage(drop_path_rate, "drop_path_rate", stages, float)

        images = keras.Input((None, None, 3), name="images")
        x, prefix = images, None
        for s in range(stages):
            x = layers.ConvTokenEmbedding(
                hidden_dims[s],
                patch_sizes[s],
                patch_strides[s],
                patch_paddings[s],
                epsilon=layer_norm_epsilon,
                dtype=dtype,
                name=f"stage{s}_embed",
            )(x)
            x = keras.layers.Dropout(dropout, dtype=dtype, name=f"stage{s}_drop")(x)
            last = s == stages - 1
            if last and pooling == "token":
                prefix = layers.ClassToken(
                    1,
                    keras.initializers.TruncatedNormal(stddev=0.02),
                    prepend=False,
                    dtype=dtype,
                    name="cls_token",
                )(x)
            for b in range(depths[s]):
                block = layers.ConvTransformerBlock(
                    num_heads[s],
                    int(hidden_dims[s] * mlp_ratio),
                    kernel_size=kernel_size,
                    query_stride=query_stride,
                    kv_stride=kv_stride,
                    num_prefix_tokens=0 if prefix is None else 1,
                    use_bias=use_bias,
                    scale=scale,
                    dropout=dropout,
                    attention_dropout=attention_dropout,
                    drop_path=drop_path_rates[s] * b / max(depths[s] - 1, 1),
                    layer_norm_epsilon=layer_norm_epsilon,
                    activation=activation,
                    dtype=dtype,
                    name=f"stage{s}_block{b}",
                )
                if prefix is None:
                    x = block(x)
                else:
                    x, prefix = block(x, prefix)
        norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=dtype, name="norm")
        if pooling == "token":
            x = keras.layers.Reshape((hidden_dims[-1],), dtype=dtype, name="cls")(norm(prefix))
        else:
            x = keras.layers.GlobalAveragePooling2D(dtype=dtype, name="gap")(norm(x))
        if include_top:
            x = linear_head(num_classes, dtype=dtype)(x)
        super().__init__(images, x, name=name or "cvt", dtype=dtype, **kwargs)

        self.keep_config(locals())


CVT_TINY = dict(hidden_dims=(16, 32, 48), num_heads=(1, 2, 3), depths=(1, 1, 1), image_size=32)
for _name, (_dims, _heads, _depths) in CVT_SIZES.items():
    register(
        f"cvt_{_name}",
        CvT,
        family="cvt",
        config=dict(hidden_dims=_dims, num_heads=_heads, depths=_depths),
        tiny=CVT_TINY,
    )
