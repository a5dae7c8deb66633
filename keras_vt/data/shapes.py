"""Synthetic shape images, generated offline and deterministically (the modules by seam).

- `keras_vt.data.render`: the names, the signed-distance functions and the renderer.
- `keras_vt.data.classification`: `make_shapes`, one shape per image on a cluttered background,
  labelled by class (`shapes_dataset` wraps it in `tf.data`).
- `keras_vt.data.captions`: `make_captioned_shapes`, one to three identical objects per image with
  compositional English captions, and the phrase and prompt helpers.
- `keras_vt.data.folders`: `image_folder_dataset` loads a user's own images with the same
  conventions.

This module keeps the names importable from `keras_vt.data.shapes`.
"""

from keras_vt.data.captions import (  # noqa: F401 (re-exported)
    _COLOUR_RGB,
    _POSITION_PHRASES,
    _SHAPE_WORDS,
    caption_templates,
    class_prompt,
    make_captioned_shapes,
    shape_phrase,
)
from keras_vt.data.classification import make_shapes, shapes_dataset  # noqa: F401
from keras_vt.data.folders import image_folder_dataset  # noqa: F401
from keras_vt.data.render import (  # noqa: F401
    CLASS_NAMES,
    COLOUR_NAMES,
    POSITION_NAMES,
    SIZE_NAMES,
)
