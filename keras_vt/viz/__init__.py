"""Looking inside: attention maps and what the models learn (numpy in, numpy out).

Plotting lives in `keras_vt.viz.plotting` (matplotlib, pydot imported only when used).
"""

from keras_vt.viz.distance import mean_attention_distance
from keras_vt.viz.maps import attention_maps, attention_model
from keras_vt.viz.plotting import (
    overlay,
    plot_alignment,
    plot_attention_distance,
    plot_model_graph,
    plot_position_similarity,
    plot_translation,
    similarity_mosaic,
    upsample,
)
from keras_vt.viz.positions import (
    patch_size_of,
    position_layer,
    position_similarity,
    resampled_positions,
    shift_images,
    translation_probe,
)
from keras_vt.viz.rollout import (
    attention_flow,
    attention_grid,
    attention_rollout,
    fuse_heads,
    residual_attention,
)
