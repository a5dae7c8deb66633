"""Gradio apps: attention, positional encodings, model graph, retrieval (MMT), AV Align, the
Show-Attend-Tell captioner and attention inside CNNs, as tabs of one explorer.

Gradio is imported only when an app is built: `import keras_vt` and `import keras_vt.apps` work
without it. Run them with `keras-vt explore` or the scripts in demos/.
"""

from keras_vt.apps.common import ModelBank, read_image, sample_paths
from keras_vt.apps.explorer import (
    add_explore_arguments,
    build_attention_app,
    build_explorer,
    build_graph_app,
    build_positions_app,
    explore_command,
    launch,
    serve,
)
