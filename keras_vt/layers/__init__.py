"""Backend-agnostic building blocks (keras.ops only)."""

from keras_vt.layers.attention import MultiHeadSelfAttention, attend, causal_mask
from keras_vt.layers.conv_attention import (
    AttentionAugmentedConv2D,
    AxialAttention,
    AxialAttention1D,
    DoubleAttention,
    LocalSelfAttention2D,
    NonLocalBlock,
    SpatialHardAttention,
    SpatialSoftAttention,
    doubly_stochastic_penalty,
    reinforce_loss,
)
from keras_vt.layers.conv_projection import ConvProjectionAttention, ConvTransformerBlock
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
from keras_vt.layers.tokens import ClassToken
from keras_vt.layers.transformer import (
    MLP,
    DropPath,
    TransformerBlock,
    quick_gelu,
    transformer_blocks,
)
