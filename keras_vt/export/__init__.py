"""SavedModel export with serving signatures that take raw inputs (TensorFlow-only).

`export_saved_model(model, path)` writes a SavedModel whose `serve` signature takes raw uint8
images of any size and resizes and normalises them in the graph; `add_text_endpoint` is the hook
for text towers taking raw strings, and `export_towers` writes CLIP's two towers as two
SavedModels. Works from the TensorFlow and JAX backends.
"""

from keras_vt.export.mmt import export_mmt
from keras_vt.export.saved_model import (
    add_image_endpoints,
    add_text_endpoint,
    export,
    export_saved_model,
    export_towers,
    serving_preprocess,
    target_size,
)
from keras_vt.export.text_encoder import add_bert_endpoints, export_text_encoder
