"""Deprecated location of the CNN attention layers; kept so that old imports and `.keras` files work.

The layers now live one paper per file: `non_local`, `double_attention`, `augmented_conv`,
`local_attention`, `axial_attention` and `spatial_attention` (with `relative_position` shared).
Their registered names ("keras_vt>NonLocalBlock", ...) are unchanged.
"""

from keras_vt.layers.augmented_conv import AttentionAugmentedConv2D
from keras_vt.layers.axial_attention import AxialAttention, AxialAttention1D
from keras_vt.layers.double_attention import DoubleAttention
from keras_vt.layers.local_attention import LocalSelfAttention2D
from keras_vt.layers.non_local import NonLocalBlock
from keras_vt.layers.spatial_attention import SpatialHardAttention, SpatialSoftAttention

__all__ = [
    "AttentionAugmentedConv2D",
    "AxialAttention",
    "AxialAttention1D",
    "DoubleAttention",
    "LocalSelfAttention2D",
    "NonLocalBlock",
    "SpatialHardAttention",
    "SpatialSoftAttention",
]
