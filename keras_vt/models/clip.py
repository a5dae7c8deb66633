"""CLIP: Learning Transferable Visual Models From Natural Language Supervision [Radford et al., 2021].

An image tower (a ViT, or the ModifiedResNet) and a text tower (a causal transformer over byte-level
BPE tokens) each end in a linear projection to a shared embedding space. Training maximises the
cosine similarity of the N matching (image, text) pairs of a batch against the N^2 - N wrong ones:
symmetric cross-entropy over the similarity matrix scaled by a learned temperature.

Sizes (OpenAI `clip/model.py`, `build_model`):

| name          | image tower                        | text width/heads/layers | embed |
|---------------|------------------------------------|-------------------------|-------|
| clip_rn50     | ModifiedResNet (3, 4, 6, 3), w 64  | 512 / 8 / 12            | 1024  |
| clip_vit_b32  | ViT 768 / 12 heads / 12, patch 32  | 512 / 8 / 12            | 512   |
| clip_vit_b16  | ViT 768 / 12 heads / 12, patch 16  | 512 / 8 / 12            | 512   |
| clip_vit_l14  | ViT 1024 / 16 heads / 24, patch 14 | 768 / 12 / 12           | 768   |

All take 224 px images, 77 tokens, a 49,408-token vocabulary.

Each tower is its own functional `keras.Model` (`clip.image_encoder`, `clip.text_encoder`): it
saves, exports and is inspected (`keras_vt.viz.attention_maps(clip.image_encoder, images)`) alone.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_vt import layers
from keras_vt.layers.base import Layer
from keras_vt.layers.transformer import get_activation
from keras_vt.losses import clip_loss
from keras_vt.metrics import LatestValue, in_batch_accuracy
from keras_vt.models.base import FunctionalModel
from keras_vt.models.registry import register
from keras_vt.models.vit import image_grid

LN_EPS = 1e-5


def check_mlp(mlp_dim, width, activation):
    """The MLP width of a tower (None: 4 x `width`), checked with its `activation`.

    Real checkpoints use other ratios than 4 (open_clip's ViT-bigG-14: 4.9231), and exact GELU
    as well as QuickGELU (open_clip's models trained on LAION).
    """
    if mlp_dim is None:
        mlp_dim = 4 * int(width)
    if isinstance(mlp_dim, bool) or not isinstance(mlp_dim, (int, np.integer)) or mlp_dim < 1:
        raise ValueError(
            f"Expected mlp_dim as a positive int (or None: 4 x width), got {mlp_dim!r}."
        )
    get_activation(activation)
    return int(mlp_dim)


def _normal(stddev):
    return keras.initializers.RandomNormal(stddev=stddev)


def _as_size(image_size):
    return (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)


def _concrete(x):
    """`x` as numpy when it holds values (eager), None when it is symbolic or traced."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple)):
        return np.asarray(x)
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except Exception:
        return None


def check_token_ids(token_ids, vocabulary_size, context_length, argument="token_ids"):
    """Checks the shape and, when `token_ids` holds values, the range of a batch of token ids.

    Raises a `ValueError` unless `token_ids` is an integer (batch, `context_length`) array whose
    values lie in [0, `vocabulary_size`). Symbolic or traced tensors (inside `fit`, `tf.function`
    or `jax.jit`) get the shape check only.
    """
    shape = tuple(token_ids.shape) if hasattr(token_ids, "shape") else np.shape(token_ids)
    if len(shape) != 2 or (shape[1] is not None and shape[1] != context_length):
        raise ValueError(
            f"Expected {argument} of shape (batch, {context_length}) (the context length), got "
            f"{argument} with shape {shape}. Tokenize with the model's context_length."
        )
    values = _concrete(token_ids)
    if values is None:
        return
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"Expected integer {argument}, got dtype {values.dtype}.")
    if values.size and (values.min() < 0 or values.max() >= vocabulary_size):
        raise ValueError(
            f"{argument} holds ids outside the vocabulary: values in [{values.min()}, "
            f"{values.max()}], expected ids in [0, {vocabulary_size}) "
            f"(vocabulary_size={vocabulary_size}). Was the tokenizer built for this model?"
        )


@keras.saving.register_keras_serializable(package="keras_vt")
class EndTokenPooling(Layer):
    """Picks, per sequence, the features at the end-of-text token.

    With `eot_token_id=None` the end token is the position of the largest id of the sequence, as
    in OpenAI's CLIP (`text.argmax(-1)`), whose end token 49407 is the last of the vocabulary; the
    tokenizers of `keras_vt.text` also give their end token the largest id. With an explicit
    `eot_token_id`, the first position holding that id is used.

    Called on `[features, token_ids]`, features of shape (batch, length, width).

    Example:

    >>> pool = keras_vt.models.clip.EndTokenPooling()
    >>> pool([np.ones((2, 5, 8)), np.array([[3, 1, 9, 0, 0], [3, 9, 0, 0, 0]])]).shape
    (2, 8)
    """

    config_keys = ("eot_token_id",)

    def __init__(self, eot_token_id=None, **kwargs):
        super().__init__(**kwargs)
        self.eot_token_id = None if eot_token_id is None else int(eot_token_id)

    def call(self, inputs):
        features, token_ids = inputs
        if self.eot_token_id is None:
            index = ops.argmax(token_ids, axis=-1)
        else:
            index = ops.argmax(ops.cast(ops.equal(token_ids, self.eot_token_id), "int32"), axis=-1)
        select = ops.one_hot(index, ops.shape(features)[1], dtype=features.dtype)
        return ops.einsum("bl,bld->bd", select, features)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], input_shape[0][-1])


@keras.saving.register_keras_serializable(package="keras_vt")
class CLIPVisionTransformer(FunctionalModel):
    """CLIP's ViT image tower: images -> (batch, embed_dim) image features (not normalised).

    Patchify (conv without bias) -> class embedding -> positions -> `ln_pre` -> pre-norm blocks
    (QuickGELU, LayerNorm eps 1e-5) -> `ln_post` on the class token -> projection without bias.

    Example:

    >>> tower = keras_vt.models.clip.CLIPVisionTransformer(
    ...     image_size=32, patch_size=8, width=64, depth=2, num_heads=2, embed_dim=16)
    >>> tower(np.zeros((2, 32, 32, 3))).shape
    (2, 16)
    """

    default_image_size = 224
    normalization = "clip"

    config_keys = (
        "image_size",
        "patch_size",
        "width",
        "depth",
        "num_heads",
        "embed_dim",
        "layer_norm_epsilon",
        "mlp_dim",
        "activation",
    )

    def __init__(
        self,
        image_size=224,
        patch_size=32,
        width=768,
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
        grid = image_grid(image_size, patch_size)
        mlp_dim = check_mlp(mlp_dim, width, activation)
        scale = width**-0.5
        images = keras.Input((grid[0] * patch_size, grid[1] * patch_size, 3), name="images")
        x = layers.PatchEmbedding(
            patch_size, width, use_bias=False, dtype=dtype, name="patch_embed"
        )(images)
        x = layers.ClassToken(1, _normal(scale), dtype=dtype, name="class_embedding")(x)
        x = layers.PositionEmbedding(grid, 1, _normal(scale), dtype=dtype, name="pos_embed")(x)
        x = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=dtype, name="ln_pre")(
            x
        )
        x = layers.transformer_blocks(
            x,
            depth,
            num_heads=num_heads,
            mlp_dim=mlp_dim,
            layer_norm_epsilon=layer_norm_epsilon,
            activation=activation,
            dtype=dtype,
        )
        x = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="ln_post"
        )(x[:, 0])
        x = keras.layers.Dense(
            embed_dim, use_bias=False, kernel_initializer=_normal(scale), dtype=dtype, name="proj"
        )(x)
        super().__init__(images, x, name=name, dtype=dtype, **kwargs)
        self.keep_config(locals())
        self.grid_size = grid


def _conv_bn(x, filters, kernel, name, dtype, relu=True):
    """Conv (no bias, explicit symmetric padding as PyTorch) -> BatchNorm (eps 1e-5) [-> ReLU]."""
    if kernel > 1:
        x = keras.layers.ZeroPadding2D(kernel // 2, dtype=dtype, name=f"{name}_pad")(x)
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
    of global average pooling. The image side must be a multiple of 32.

    Example:

    >>> tower = keras_vt.models.clip.CLIPModifiedResNet(
    ...     image_size=64, stage_depths=(1, 1, 1, 1), width=8, num_heads=2, embed_dim=16)
    >>> tower(np.zeros((2, 64, 64, 3))).shape
    (2, 16)
    """

    default_image_size = 224
    normalization = "clip"

    config_keys = (
        "image_size",
        "stage_depths",
        "width",
        "num_heads",
        "embed_dim",
    )

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
            raise ValueError(
                f"Expected stage_depths as four positive ints, got stage_depths={stage_depths}."
            )
        grid = image_grid(image_size, 32)
        images = keras.Input((grid[0] * 32, grid[1] * 32, 3), name="images")
        x = keras.layers.ZeroPadding2D(1, dtype=dtype, name="stem_1_pad")(images)
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


@keras.saving.register_keras_serializable(package="keras_vt")
class CLIPTextEncoder(FunctionalModel):
    """CLIP's text tower: token ids (batch, context_length) -> (batch, embed_dim) text features.

    Token + learned position embeddings -> causal pre-norm blocks (QuickGELU, LayerNorm eps 1e-5)
    -> final LayerNorm -> the features at the end-of-text position (see `EndTokenPooling`) ->
    projection without bias.

    Example:

    >>> tower = keras_vt.models.clip.CLIPTextEncoder(
    ...     context_length=8, vocabulary_size=100, width=32, depth=2, num_heads=2, embed_dim=16)
    >>> tower(np.array([[98, 5, 6, 99, 0, 0, 0, 0]])).shape
    (1, 16)
    """

    config_keys = (
        "context_length",
        "vocabulary_size",
        "width",
        "depth",
        "num_heads",
        "embed_dim",
        "eot_token_id",
        "layer_norm_epsilon",
        "mlp_dim",
        "activation",
    )

    def __init__(
        self,
        context_length=77,
        vocabulary_size=49408,
        width=512,
        depth=12,
        num_heads=8,
        embed_dim=512,
        eot_token_id=None,
        layer_norm_epsilon=LN_EPS,
        mlp_dim=None,
        activation="quick_gelu",
        dtype=None,
        name=None,
        **kwargs,
    ):
        context_length, vocabulary_size = int(context_length), int(vocabulary_size)
        if context_length < 2:
            raise ValueError(f"Expected context_length >= 2, got context_length={context_length}.")
        if vocabulary_size < 3:
            raise ValueError(
                f"Expected vocabulary_size >= 3, got vocabulary_size={vocabulary_size}."
            )
        mlp_dim = check_mlp(mlp_dim, width, activation)
        token_ids = keras.Input((context_length,), dtype="int32", name="token_ids")
        x = keras.layers.Embedding(
            vocabulary_size,
            width,
            embeddings_initializer=_normal(0.02),
            dtype=dtype,
            name="token_embedding",
        )(token_ids)
        x = layers.PositionEmbedding(
            (1, context_length), 0, _normal(0.01), dtype=dtype, name="pos_embed"
        )(x)
        x = layers.transformer_blocks(
            x,
            depth,
            num_heads=num_heads,
            mlp_dim=mlp_dim,
            layer_norm_epsilon=layer_norm_epsilon,
            activation=activation,
            causal=True,
            dtype=dtype,
        )
        x = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="ln_final"
        )(x)
        x = EndTokenPooling(eot_token_id, dtype=dtype, name="eot_pool")([x, token_ids])
        x = keras.layers.Dense(
            embed_dim,
            use_bias=False,
            kernel_initializer=_normal(width**-0.5),
            dtype=dtype,
            name="proj",
        )(x)
        super().__init__(token_ids, x, name=name, dtype=dtype, **kwargs)
        self.keep_config(locals())


class _MaxValue(keras.constraints.Constraint):
    """Clips a variable to at most `max_value` after every optimiser step."""

    def __init__(self, max_value):
        self.max_value = float(max_value)

    def __call__(self, w):
        return ops.minimum(w, ops.cast(self.max_value, w.dtype))

    def get_config(self):
        return {"max_value": self.max_value}


def _is_dataset(x):
    return hasattr(x, "element_spec") and hasattr(x, "map")


@keras.saving.register_keras_serializable(package="keras_vt")
class CLIP(FunctionalModel):
    """CLIP: an image tower and a text tower trained with a symmetric contrastive loss.

    Called on `(images, token_ids)` (or a dict with those keys) it returns a dict of
    L2-normalised `"image_embeddings"` and `"text_embeddings"`, (batch, embed_dim) each; the
    two batches may differ in size. `fit()` takes `(images, token_ids)` pairs (numpy tuples, or a
    `tf.data.Dataset` of `(images, token_ids)` elements or `{"images", "token_ids"}` dicts; no
    targets) and minimises `keras_vt.training.clip_loss` over the in-batch similarity matrix
    `exp(logit_scale) * image_embeddings @ text_embeddings.T`, labels = arange(batch). Metrics:
    `loss`, `image_to_text_accuracy`, `text_to_image_accuracy` (in-batch top-1) and
    `temperature` (1 / exp(logit_scale)).

    The temperature is learned in log space: `logit_scale` starts at ln(1 / 0.07) and is clamped
    to at most `ln(max_logit_scale)`, twice: every forward use clamps it, and the variable carries
    a constraint that the optimiser applies after every step, so it never exceeds the bound.

    `vision_layers` picks the image tower as in OpenAI's `build_model`: an int builds a ViT of
    that depth (`vision_width`, `vision_patch_size`, `vision_heads`, default width / 64); a tuple
    of four stage depths builds the ModifiedResNet (`vision_width` = stem width, default heads
    width * 32 / 64).

    Args:
        embed_dim: width of the shared embedding space.
        image_size, vision_layers, vision_width, vision_patch_size, vision_heads: image tower.
        context_length, vocabulary_size, text_width, text_heads, text_layers: text tower.
        eot_token_id: None (features at the largest token id, as OpenAI's CLIP) or the id of the
            end-of-text token (features at its first occurrence). See `EndTokenPooling`.
        logit_scale_init: initial log scale, ln(1 / 0.07).
        max_logit_scale: the largest scale exp(logit_scale) may reach, 100.
        dtype: dtype policy.

    Example:

    >>> clip = keras_vt.create_model("clip_vit_tiny_patch8_64")
    >>> images = np.zeros((4, clip.image_size, clip.image_size, 3))
    >>> ids = np.zeros((4, clip.context_length), "int32")
    >>> tuple(clip.encode_image(images).shape), tuple(clip.encode_text(ids).shape)
    ((4, 128), (4, 128))
    >>> clip.compile(optimizer="adam")
    >>> history = clip.fit((images, ids), batch_size=4, epochs=1, verbose=0)
    """

    default_image_size = 224
    normalization = "clip"

    config_keys = (
        "embed_dim",
        "image_size",
        "vision_layers",
        "vision_width",
        "vision_patch_size",
        "vision_heads",
        "context_length",
        "vocabulary_size",
        "text_width",
        "text_heads",
        "text_layers",
        "eot_token_id",
        "logit_scale_init",
        "max_logit_scale",
        "vision_mlp_dim",
        "text_mlp_dim",
        "vision_activation",
        "text_activation",
        "vision_layer_norm_epsilon",
        "text_layer_norm_epsilon",
    )

    def __init__(
        self,
        embed_dim=512,
        image_size=224,
        vision_layers=12,
        vision_width=768,
        vision_patch_size=32,
        vision_heads=None,
        context_length=77,
        vocabulary_size=49408,
        text_width=512,
        text_heads=8,
        text_layers=12,
        eot_token_id=None,
        logit_scale_init=math.log(1 / 0.07),
        max_logit_scale=100.0,
        vision_mlp_dim=None,
        text_mlp_dim=None,
        vision_activation="quick_gelu",
        text_activation="quick_gelu",
        vision_layer_norm_epsilon=LN_EPS,
        text_layer_norm_epsilon=LN_EPS,
        dtype=None,
        name=None,
        **kwargs,
    ):
        context_length, vocabulary_size = int(context_length), int(vocabulary_size)
        logit_scale_init, max_logit_scale = float(logit_scale_init), float(max_logit_scale)
        if max_logit_scale <= 0:
            raise ValueError(
                f"Expected max_logit_scale > 0, got max_logit_scale={max_logit_scale}."
            )
        if isinstance(vision_layers, int):
            image_encoder = CLIPVisionTransformer(
                image_size=image_size,
                patch_size=vision_patch_size,
                width=vision_width,
                depth=vision_layers,
                num_heads=vision_heads or vision_width // 64,
                embed_dim=embed_dim,
                layer_norm_epsilon=vision_layer_norm_epsilon,
                mlp_dim=vision_mlp_dim,
                activation=vision_activation,
                dtype=dtype,
                name="image_encoder",
            )
        else:
            vision_layers = tuple(vision_layers)
            image_encoder = CLIPModifiedResNet(
                image_size=image_size,
                stage_depths=vision_layers,
                width=vision_width,
                num_heads=vision_heads or vision_width * 32 // 64,
                embed_dim=embed_dim,
                dtype=dtype,
                name="image_encoder",
            )
        text_encoder = CLIPTextEncoder(
            context_length=context_length,
            vocabulary_size=vocabulary_size,
            width=text_width,
            depth=text_layers,
            num_heads=text_heads,
            embed_dim=embed_dim,
            eot_token_id=eot_token_id,
            layer_norm_epsilon=text_layer_norm_epsilon,
            mlp_dim=text_mlp_dim,
            activation=text_activation,
            dtype=dtype,
            name="text_encoder",
        )
        images = keras.Input(image_encoder.input.shape[1:], name="images")
        token_ids = keras.Input((context_length,), dtype="int32", name="token_ids")
        normalize = keras.layers.UnitNormalization(dtype=dtype, name="normalize")
        outputs = {
            "image_embeddings": normalize(image_encoder(images)),
            "text_embeddings": normalize(text_encoder(token_ids)),
        }
        super().__init__([images, token_ids], outputs, name=name, dtype=dtype, **kwargs)
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.logit_scale = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(logit_scale_init),
            constraint=_MaxValue(math.log(max_logit_scale)),
            name="logit_scale",
        )
        self.image_to_text_accuracy = keras.metrics.Mean(name="image_to_text_accuracy")
        self.text_to_image_accuracy = keras.metrics.Mean(name="text_to_image_accuracy")
        self.temperature = LatestValue(name="temperature")
        self.keep_config(locals())

    def encode_image(self, images):
        """Image features (batch, embed_dim), projected but not normalised (as OpenAI's CLIP)."""
        layers.check_images(tuple(images.shape))
        return self.image_encoder(images, training=False)

    def encode_text(self, token_ids):
        """Text features (batch, embed_dim) of token ids, projected but not normalised."""
        check_token_ids(token_ids, self.vocabulary_size, self.context_length)
        return self.text_encoder(token_ids, training=False)

    def scale(self):
        """exp(logit_scale), clamped to at most `max_logit_scale`."""
        bound = math.log(self.max_logit_scale)
        return ops.exp(ops.minimum(ops.cast(self.logit_scale, "float32"), bound))

    def similarity(self, image_embeddings, text_embeddings):
        """Scaled cosine similarities (images, texts) of L2-normalised embeddings."""
        image_embeddings = ops.cast(image_embeddings, "float32")
        text_embeddings = ops.cast(text_embeddings, "float32")
        return self.scale() * ops.matmul(image_embeddings, ops.transpose(text_embeddings))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        image_embeddings = y_pred["image_embeddings"]
        text_embeddings = y_pred["text_embeddings"]
        batches = (image_embeddings.shape[0], text_embeddings.shape[0])
        if None not in batches and batches[0] != batches[1]:
            raise ValueError(
                "Expected as many texts as images in each training batch (pairs), got "
                f"{batches[0]} images and {batches[1]} texts."
            )
        logits = self.similarity(image_embeddings, text_embeddings)
        loss = clip_loss(logits)
        image_accuracy, text_accuracy = in_batch_accuracy(logits)
        self.image_to_text_accuracy.update_state(image_accuracy)
        self.text_to_image_accuracy.update_state(text_accuracy)
        self.temperature.update_state(1.0 / self.scale())
        if self.losses:
            loss = loss + ops.sum(self.losses)
        return loss

    def _pairs(self, x, argument="x"):
        """Training data as model inputs: 2-tuples (images, token_ids) are pairs, never (x, y)."""
        if _is_dataset(x):
            spec = x.element_spec
            if isinstance(spec, tuple) and len(spec) == 2:
                return x.map(lambda images, token_ids: ((images, token_ids),))
            return x
        if isinstance(x, dict):
            images, token_ids = x.get("images"), x.get("token_ids")
        elif isinstance(x, (tuple, list)) and len(x) == 2:
            images, token_ids = x
        else:
            raise ValueError(
                f"Expected {argument} as (images, token_ids) pairs, a dict with keys 'images' and "
                f"'token_ids', or a dataset of those, got {type(x).__name__}."
            )
        if images is None or token_ids is None:
            raise ValueError(
                f"Expected {argument} with keys 'images' and 'token_ids', got {list(x)}."
            )
        layers.check_images(
            tuple(np.shape(images)) if not hasattr(images, "shape") else tuple(images.shape),
            argument=f"{argument} images",
        )
        check_token_ids(
            token_ids, self.vocabulary_size, self.context_length, f"{argument} token_ids"
        )
        if len(images) != len(token_ids):
            raise ValueError(
                f"Expected as many images as texts in {argument}, got {len(images)} images and "
                f"{len(token_ids)} token sequences."
            )
        return (images, token_ids)

    def fit(self, x=None, y=None, validation_data=None, **kwargs):
        """`keras.Model.fit` on `(images, token_ids)` pairs; `y` must be None (no targets)."""
        if y is not None:
            raise ValueError(
                "CLIP.fit takes (images, token_ids) pairs as x and no targets; got y. "
                "Pass model.fit((images, token_ids))."
            )
        if validation_data is not None:
            validation_data = self._pairs(validation_data, "validation_data")
            if not _is_dataset(validation_data):
                validation_data = (validation_data,)
        return super().fit(self._pairs(x), validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        """`keras.Model.evaluate` on `(images, token_ids)` pairs; `y` must be None."""
        if y is not None:
            raise ValueError("CLIP.evaluate takes (images, token_ids) pairs as x and no targets.")
        return super().evaluate(self._pairs(x), **kwargs)


TEXT_BASE = dict(
    context_length=77, vocabulary_size=49408, text_width=512, text_heads=8, text_layers=12
)
TEXT_TINY = dict(context_length=16, vocabulary_size=64, text_width=32, text_heads=2, text_layers=2)
VIT_TINY = dict(
    embed_dim=16,
    image_size=32,
    vision_layers=2,
    vision_width=32,
    vision_heads=2,
    vision_patch_size=16,
)

CLIP_SIZES = {
    # name: (configuration on top of TEXT_BASE, tiny configuration for the tests)
    "clip_vit_b32": (
        dict(embed_dim=512, vision_layers=12, vision_width=768, vision_patch_size=32),
        dict(TEXT_TINY, **VIT_TINY),
    ),
    "clip_vit_b16": (
        dict(embed_dim=512, vision_layers=12, vision_width=768, vision_patch_size=16),
        dict(TEXT_TINY, **VIT_TINY),
    ),
    "clip_vit_l14": (
        dict(
            embed_dim=768,
            vision_layers=24,
            vision_width=1024,
            vision_patch_size=14,
            text_width=768,
            text_heads=12,
        ),
        dict(TEXT_TINY, **dict(VIT_TINY, vision_patch_size=14, image_size=28)),
    ),
    "clip_rn50": (
        dict(embed_dim=1024, vision_layers=(3, 4, 6, 3), vision_width=64),
        dict(
            TEXT_TINY,
            embed_dim=16,
            image_size=64,
            vision_layers=(1, 1, 1, 1),
            vision_width=8,
            vision_heads=2,
        ),
    ),
}
for _name, (_config, _tiny) in CLIP_SIZES.items():
    register(_name, CLIP, family="clip", config=dict(TEXT_BASE, **_config), tiny=_tiny)

# For training from scratch on CPU (captioned shapes): a 64 px ViT with 8 px patches and a small
# text tower; pass `vocabulary_size=tokenizer.vocabulary_size` and `context_length`.
register(
    "clip_vit_tiny_patch8_64",
    CLIP,
    family="clip",
    config=dict(
        embed_dim=128,
        image_size=64,
        vision_layers=4,
        vision_width=128,
        vision_patch_size=8,
        vision_heads=4,
        context_length=24,
        vocabulary_size=1024,
        text_width=128,
        text_heads=4,
        text_layers=4,
    ),
    tiny=dict(TEXT_TINY, **dict(VIT_TINY, vision_patch_size=8)),
)
