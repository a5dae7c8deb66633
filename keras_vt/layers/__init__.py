"""Backend-agnostic building blocks (keras.ops only)."""

from keras_vt.layers.attention import (
    MultiHeadCrossAttention,
    MultiHeadSelfAttention,
    attend,
    attention_mask,
    causal_mask,
)
from keras_vt.layers.conv_attention import (
    AttentionAugmentedConv2D,
    AxialAttention,
    AxialAttention1D,
    DoubleAttention,
    LocalSelfAttention2D,
    NonLocalBlock,
    SpatialHardAttention,
    SpatialSoftAttention,
)
from keras_vt.layers.conv_projection import ConvProjectionAttention, ConvTransformerBlock
from keras_vt.layers.depthwise import DepthwiseConv2D
from keras_vt.layers.patching import ConvTokenEmbedding, PatchEmbedding, check_images, token_grid
from keras_vt.layers.pooling import AttentionPool2D
from keras_vt.layers.position import (
    PositionEmbedding,
    PositionEncodingGenerator,
    SinCosPositionEmbedding2D,
    interpolation_matrix,
    resample_positions,
    sincos_position_table,
)
from keras_vt.layers.text_embedding import TextEmbedding
from keras_vt.layers.tokens import ClassToken
from keras_vt.layers.transformer import (
    MLP,
    DropPath,
    TransformerBlock,
    quick_gelu,
    transformer_blocks,
)

# Deprecated aliases: the objectives live in keras_vt.losses.
from keras_vt.losses import doubly_stochastic_penalty, reinforce_loss  # noqa: E402
