"""The one ViT-like encoder: patches -> prefix tokens -> positions -> [pre-norm] -> blocks -> norm.

ViT, DeiT (and the distilled DeiT), CPVT and CLIP's image tower are configurations of
`vit_encoder`, in the manner of big_vision's `vit.py`, which selects positions and pooling by
argument:

| model          | patch_embedding | prefix tokens | positions        | pre_norm | norm_name |
|----------------|-----------------|---------------|------------------|----------|-----------|
| ViT            | "linear"        | 1 (0 for gap) | "learned"        | no       | "norm"    |
| DeiT           | "linear"        | 1             | "learned"        | no       | "norm"    |
| DistilledDeiT  | "linear"        | 2             | "learned"        | no       | "norm"    |
| CPVT           | "conv"          | 1 (0 for gap) | "peg" after (0,) | no       | "norm"    |
| CLIP image     | "linear", no b. | 1             | "learned"        | "ln_pre" | "ln_post" |

`VisionTransformer` (the ViT classifier, which DeiT extends) lives here with the encoder, so that
the families that configure it import this shared module, never each other.

Layer names (and so weight names and order) are those the models always had: `patch_embed`
(then `flatten` for the convolutional embeddings), the prefix tokens (`cls_token`, CLIP's
`class_embedding`), `pos_embed`, `pos_drop`, `ln_pre`, `block{i}` (and `peg{i}` after block i),
`norm` (CLIP's `ln_post`).
"""

import keras

from keras_vt import checks, layers
from keras_vt.layers.position import INTERPOLATIONS
from keras_vt.layers.transformer import get_activation
from keras_vt.models import common
from keras_vt.models.base import FunctionalModel

PATCH_EMBEDDINGS = ("linear", "conv", "convolutional", "stem")
POSITIONS = ("learned", "sincos", "peg", None)
POOLINGS = ("token", "gap", None)
VIT_POOLINGS = ("token", "gap")


def check_stem(stem, patch_size):
    """The widths of a convolutional stem whose stride-2 convolutions make `patch_size`.

    Example:

    >>> keras_vt.models.encoder.check_stem([32, 64, 64], patch_size=4)
    (32, 64, 64)
    """
    widths = tuple(int(w) for w in stem)
    halvings = max(int(patch_size).bit_length() - 1, 0)
    if 2**halvings != patch_size or not halvings <= len(widths) or min(widths, default=0) < 1:
        raise checks.invalid(
            "stem",
            tuple(stem),
            f"at least log2(patch_size) positive widths and a power-of-2 patch_size (the first "
            f"log2(patch_size) convolutions have stride 2); got patch_size={patch_size}",
        )
    return widths


def conv_stem(images, stem, patch_size, hidden_dim, dtype):
    """The token map (batch, h / patch_size, w / patch_size, hidden_dim) of a convolutional stem.

    Xiao et al. 2021 ("Early convolutions help transformers see better"): 3x3 convolutions, each
    with BatchNorm and ReLU, of widths `stem` (the first log2(patch_size) with stride 2, the
    rest stride 1), then a 1x1 convolution to `hidden_dim` ("patch_embed"), in place of the
    patchify convolution. Standard Keras layers: saved, loaded and run on every backend as they are.
    """
    halvings = int(patch_size).bit_length() - 1
    x = images
    for i, width in enumerate(check_stem(stem, patch_size)):
        x = keras.layers.Conv2D(
            width,
            3,
            strides=2 if i < halvings else 1,
            padding="same",
            use_bias=False,
            dtype=dtype,
            name=f"stem_conv{i}",
        )(x)
        x = keras.layers.BatchNormalization(dtype=dtype, name=f"stem_bn{i}")(x)
        x = keras.layers.ReLU(dtype=dtype, name=f"stem_relu{i}")(x)
    return keras.layers.Conv2D(hidden_dim, 1, dtype=dtype, name="patch_embed")(x)


def _patch_embedding(
    images, kind, patch_size, hidden_dim, use_bias, stride, padding, eps, dtype, stem=None
):
    """Tokens (batch, tokens, hidden_dim) and the token map (or None) of `images`."""
    if kind == "stem":
        grid = conv_stem(images, stem, patch_size, hidden_dim, dtype)
        return keras.layers.Reshape((-1, hidden_dim), dtype=dtype, name="flatten")(grid), grid
    if kind == "linear":
        x = layers.PatchEmbedding(
            patch_size, hidden_dim, use_bias=use_bias, dtype=dtype, name="patch_embed"
        )(images)
        return x, None
    convolutional = kind == "convolutional"
    grid = layers.ConvTokenEmbedding(
        hidden_dim,
        patch_size,
        stride or patch_size,
        padding if convolutional else 0,
        normalize=convolutional,
        epsilon=eps if convolutional else 1e-5,
        use_bias=use_bias,
        dtype=dtype,
        name="patch_embed",
    )(images)
    return keras.layers.Reshape((-1, hidden_dim), dtype=dtype, name="flatten")(grid), grid


def _static_grid(images, patch_size, stride, padding, positions):
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError(
            f"Invalid positions: positions={positions!r} needs a fixed image size, got images of "
            f"shape {tuple(images.shape)}. Expected positions='peg' or None for any-size inputs."
        )
    stride = stride or patch_size
    return ((height + 2 * padding - patch_size) // stride + 1,) + (
        (width + 2 * padding - patch_size) // stride + 1,
    )


def vit_encoder(
    images,
    patch_size,
    hidden_dim,
    depth,
    num_heads,
    mlp_dim,
    patch_embedding="linear",
    patch_bias=True,
    patch_stride=None,
    patch_padding=0,
    stem=None,
    num_prefix_tokens=1,
    prefix_name="cls_token",
    token_initializer=None,
    positions="learned",
    position_initializer=None,
    interpolation="bicubic",
    peg_positions=(0,),
    peg_kernel_size=3,
    pre_norm=False,
    norm_name="norm",
    dropout=0.0,
    attention_dropout=0.0,
    drop_path_rate=0.0,
    layer_norm_epsilon=1e-6,
    activation="gelu",
    dtype=None,
):
    """The encoder on symbolic `images`: the normalised tokens (batch, prefix + patches, width).

    Args:
        images: a symbolic (batch, height, width, channels) tensor (`keras.Input`).
        patch_size, hidden_dim, depth, num_heads, mlp_dim: the size.
        patch_embedding: "linear" (ViT's patchify convolution, `PatchEmbedding`), "conv" (the
            same as a `ConvTokenEmbedding`: the graph then takes any image size, CPVT) or
            "convolutional" (CvT's overlapping `ConvTokenEmbedding` with LayerNorm, stride
            `patch_stride` and zero padding `patch_padding`) or "stem" (`conv_stem` of widths
            `stem`: 3x3 convolutions with BatchNorm and ReLU, then a 1x1 projection; any size).
        patch_bias: bias of the patch projection (CLIP's has none).
        num_prefix_tokens: 0, 1 (class token) or 2 (DeiT's class and distillation tokens), in one
            `ClassToken` layer named `prefix_name` initialised with `token_initializer` (default
            normal, std 1e-6, as timm).
        positions: "learned" (`PositionEmbedding`, initialised with `position_initializer`,
            resampled with `interpolation` when loaded at another grid), "sincos" (the fixed 2-D
            sin-cos table, `SinCosPositionEmbedding2D`), "peg" (CPVT's generators after the
            blocks `peg_positions`) or None.
        pre_norm: a LayerNorm ("ln_pre") before the blocks, as CLIP.
        norm_name: name of the final LayerNorm ("norm"; CLIP's "ln_post").
        dropout, attention_dropout, drop_path_rate, layer_norm_epsilon, activation: the blocks'.
        dtype: dtype policy.

    Example:

    >>> images = keras.Input((32, 32, 3))
    >>> keras_vt.models.encoder.vit_encoder(images, 8, 16, depth=1, num_heads=2, mlp_dim=32,
    ...                                     positions="sincos").shape
    (None, 17, 16)
    """
    checks.check_choice("patch_embedding", patch_embedding, PATCH_EMBEDDINGS)
    checks.check_choice("positions", positions, POSITIONS)
    checks.check_int("num_prefix_tokens", num_prefix_tokens, 0, 2)
    checks.check_transformer(
        hidden_dim,
        num_heads,
        mlp_dim,
        depth,
        rates=dict(
            dropout=dropout, attention_dropout=attention_dropout, drop_path_rate=drop_path_rate
        ),
        epsilon=layer_norm_epsilon,
    )
    checks.check_choice("interpolation", interpolation, INTERPOLATIONS)
    if positions == "peg":
        peg_positions = check_peg_positions(peg_positions, depth)
    grid = None
    if positions in ("learned", "sincos"):
        grid = _static_grid(images, patch_size, patch_stride, patch_padding, positions)
    x, token_map = _patch_embedding(
        images,
        patch_embedding,
        patch_size,
        hidden_dim,
        patch_bias,
        patch_stride,
        patch_padding,
        layer_norm_epsilon,
        dtype,
        stem,
    )
    if num_prefix_tokens:
        x = layers.ClassToken(
            num_prefix_tokens,
            token_initializer or keras.initializers.RandomNormal(stddev=1e-6),
            dtype=dtype,
            name=prefix_name,
        )(x)
    if positions == "learned":
        x = layers.PositionEmbedding(
            grid,
            num_prefix_tokens,
            position_initializer,
            interpolation=interpolation,
            dtype=dtype,
            name="pos_embed",
        )(x)
    elif positions == "sincos":
        x = layers.SinCosPositionEmbedding2D(
            grid, num_prefix_tokens, dtype=dtype, name="pos_embed"
        )(x)
    x = keras.layers.Dropout(dropout, dtype=dtype, name="pos_drop")(x)
    if pre_norm:
        x = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=dtype, name="ln_pre")(
            x
        )
    after_block = None
    if positions == "peg":
        grid_source = (
            token_map
            if token_map is not None
            else _static_grid(images, patch_size, patch_stride, patch_padding, positions)
        )
        pegs = {
            i: layers.PositionEncodingGenerator(
                num_prefix_tokens, peg_kernel_size, dtype=dtype, name=f"peg{i}"
            )
            for i in peg_positions
        }

        def after_block(i, tokens):
            return pegs[i](tokens, grid_source) if i in pegs else tokens

    x = layers.transformer_blocks(
        x,
        depth,
        drop_path_rate,
        after_block=after_block,
        num_heads=num_heads,
        mlp_dim=mlp_dim,
        dropout=dropout,
        attention_dropout=attention_dropout,
        layer_norm_epsilon=layer_norm_epsilon,
        activation=activation,
        dtype=dtype,
    )
    return keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=dtype, name=norm_name)(
        x
    )


def pool(tokens, pooling, num_prefix_tokens=1, dtype=None):
    """The image features of encoded `tokens`: "token" (the first prefix token), "gap" (the mean
    of the patch tokens, layer "gap") or None (all tokens).

    Example:

    >>> tokens = keras.Input((17, 16))
    >>> keras_vt.models.encoder.pool(tokens, "token").shape
    (None, 16)
    """
    checks.check_choice("pooling", pooling, POOLINGS)
    if pooling == "token":
        return tokens[:, 0]
    if pooling == "gap":
        patches = tokens[:, num_prefix_tokens:] if num_prefix_tokens else tokens
        return keras.layers.GlobalAveragePooling1D(dtype=dtype, name="gap")(patches)
    return tokens


def check_peg_positions(peg_positions, depth):
    """The sorted, distinct block indices after which CPVT inserts a PEG.

    Example:

    >>> keras_vt.models.encoder.check_peg_positions((2, 0), depth=12)
    (0, 2)
    """
    checks.check_int("depth", depth)
    positions = tuple(int(p) for p in peg_positions)
    if not positions:
        raise checks.invalid("peg_positions", (), "at least one PEG position")
    bad = [p for p in positions if not 0 <= p < depth]
    if bad:
        raise checks.invalid(
            "peg_positions",
            tuple(peg_positions),
            f"block indices in [0, {depth - 1}] (depth={depth})",
            f"peg_positions={tuple(peg_positions)} has positions {bad} beyond the encoder",
        )
    if len(set(positions)) != len(positions):
        raise checks.invalid("peg_positions", positions, "distinct PEG positions")
    return tuple(sorted(positions))


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
        activation: MLP activation, "gelu" (exact, as ViT), "gelu_tanh", "quick_gelu" or "relu"
            (for converted checkpoints that use another).
        dtype: dtype policy, e.g. "float32", "bfloat16" or "mixed_bfloat16".

    Example:

    >>> model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True, num_classes=10)
    >>> tuple(model(np.zeros((2, 32, 32, 3))).shape)
    (2, 10)
    >>> keras_vt.create_model("vit_tiny_patch16_224", tiny=True, positions="sincos").count_params()
    74792
    """

    default_image_size = 224
    normalization = "inception"

    head_keys = ("num_classes", "include_top", "pooling")
    config_keys = (
        common.ENCODER_KEYS
        + head_keys
        + common.TRAINING_KEYS
        + common.INIT_KEYS
        + ("positions", "activation")
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
        activation="gelu",
        dtype=None,
        name=None,
        **kwargs,
    ):
        grid = checks.image_grid(image_size, patch_size)
        get_activation(activation)
        checks.check_num_classes(num_classes)
        checks.check_choice("pooling", pooling, self.poolings)
        checks.check_choice("positions", positions, self.position_choices)
        num_prefix = self.prefix_tokens_for(pooling)
        any_size = self.patch_embedding != "linear"  # convolutional embeddings take any size
        shape = (None, None) if any_size else (grid[0] * patch_size, grid[1] * patch_size)
        images = keras.Input(shape + (3,), name="images")
        tokens = vit_encoder(
            images,
            patch_size,
            hidden_dim,
            depth,
            num_heads,
            mlp_dim,
            patch_embedding=self.patch_embedding,
            stem=getattr(self, "stem", None),
            peg_positions=getattr(self, "peg_positions", (0,)),
            peg_kernel_size=getattr(self, "peg_kernel_size", 3),
            num_prefix_tokens=num_prefix,
            token_initializer=token_initializer,
            positions=positions,
            position_initializer=position_initializer,
            interpolation=interpolation,
            dropout=dropout,
            attention_dropout=attention_dropout,
            drop_path_rate=drop_path_rate,
            layer_norm_epsilon=layer_norm_epsilon,
            activation=activation,
            dtype=dtype,
        )
        outputs = self.build_head(
            tokens, pooling, include_top, num_classes, dropout, head_initializer, dtype
        )
        super().__init__(images, outputs, name=name, dtype=dtype, **kwargs)
        self.keep_config(locals())
        if not any_size:
            self.grid_size = grid

    # What subclasses configure: the poolings and positions they accept, the patch embedding.
    poolings = VIT_POOLINGS
    position_choices = ("learned", "sincos")
    patch_embedding = "linear"

    @staticmethod
    def prefix_tokens_for(pooling):
        """Prefix tokens of the encoder: a class token for "token" pooling."""
        return 1 if pooling == "token" else 0

    @staticmethod
    def build_head(tokens, pooling, include_top, num_classes, dropout, initializer, dtype):
        """Pooling, then dropout and the linear head (`include_top`) on the encoded tokens."""
        features = pool(tokens, pooling, 0, dtype)
        return common.classify(features, include_top, num_classes, dropout, initializer, dtype)
