"""Building blocks, backend-agnostic (keras.ops only)."""

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

__all__ = [
    "AttentionAugmentedConv2D",
    "AxialAttention",
    "AxialAttention1D",
    "DoubleAttention",
    "LocalSelfAttention2D",
    "NonLocalBlock",
    "SpatialHardAttention",
    "SpatialSoftAttention",
    "doubly_stochastic_penalty",
    "reinforce_loss",
]
