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
from keras import ops

from keras_vt import checks, layers
from keras_vt.losses import clip_loss, gather_replicas, scale_for_replicas
from keras_vt.metrics import LatestValue, in_batch_accuracy
from keras_vt.models.base import FunctionalModel
from keras_vt.models.clip_towers import CLIPModifiedResNet, CLIPVisionTransformer
from keras_vt.models.common import MaxValue
from keras_vt.models.paired import PairedInputs
from keras_vt.models.registry import register
from keras_vt.models.text_encoder import LN_EPS, CLIPTextEncoder, EndTokenPooling, check_token_ids

# Kept importable from here (they moved to clip_towers, text_encoder and common).
__all__ = ["CLIP", "CLIPModifiedResNet", "CLIPTextEncoder", "CLIPVisionTransformer"]
__all__ += ["EndTokenPooling", "LN_EPS", "check_token_ids"]
_MaxValue = MaxValue


def _tower_arguments(tower):
    """CLIP's names of a tower's transformer arguments (`text_width`, ...), for the checks."""
    return dict(
        hidden_dim=f"{tower}_width",
        num_heads=f"{tower}_heads",
        mlp_dim=f"{tower}_mlp_dim",
        depth=f"{tower}_layers",
        epsilon=f"{tower}_layer_norm_epsilon",
    )


@keras.saving.register_keras_serializable(package="keras_vt")
class CLIP(PairedInputs, FunctionalModel):
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

    >>> clip = keras_vt.create_model("clip_vit_tiny_patch8_64", tiny=True)
    >>> images = np.zeros((4, clip.image_size, clip.image_size, 3))
    >>> ids = np.zeros((4, clip.context_length), "int32")
    >>> tuple(clip.encode_image(images).shape), tuple(clip.encode_text(ids).shape)
    ((4, 16), (4, 16))
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
        checks.check_int("embed_dim", embed_dim)
        checks.check_int("context_length", context_length)
        checks.check_int("vocabulary_size", vocabulary_size)
        checks.check_transformer(
            text_width,
            text_heads,
            text_mlp_dim,
            text_layers,
            epsilon=text_layer_norm_epsilon,
            names=_tower_arguments("text"),
        )
        if isinstance(vision_layers, int):
            checks.check_image_size(
                image_size, vision_patch_size, multiple_name="vision_patch_size"
            )
            checks.check_transformer(
                vision_width,
                vision_heads or max(vision_width // 64, 1),
                vision_mlp_dim,
                vision_layers,
                epsilon=vision_layer_norm_epsilon,
                names=_tower_arguments("vision"),
            )
        context_length, vocabulary_size = int(context_length), int(vocabulary_size)
        logit_scale_init = float(logit_scale_init)
        max_logit_scale = checks.check_positive("max_logit_scale", max_logit_scale)
        if isinstance(vision_layers, int):
            image_encoder = CLIPVisionTransformer(
                image_size=image_size,
                patch_size=vision_patch_size,
                hidden_dim=vision_width,
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
            hidden_dim=text_width,
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
            constraint=MaxValue(math.log(max_logit_scale)),
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
        # Every replica's pairs (tf.distribute), as the paper's training gathers them.
        image_embeddings = gather_replicas(y_pred["image_embeddings"])
        text_embeddings = gather_replicas(y_pred["text_embeddings"])
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
        return scale_for_replicas(loss)


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
