"""Built-in data sets, generated offline (numpy only at import; tf.data and keras load lazily)."""

from keras_vt.data.shapes import (
    CLASS_NAMES,
    COLOUR_NAMES,
    POSITION_NAMES,
    SIZE_NAMES,
    caption_templates,
    class_prompt,
    image_folder_dataset,
    make_captioned_shapes,
    make_shapes,
    shape_phrase,
    shapes_dataset,
)
from keras_vt.data.video_captions import VideoCaptionTokenizer, make_video_captions

__all__ = [
    "CLASS_NAMES",
    "COLOUR_NAMES",
    "POSITION_NAMES",
    "SIZE_NAMES",
    "caption_templates",
    "class_prompt",
    "image_folder_dataset",
    "make_captioned_shapes",
    "make_shapes",
    "shape_phrase",
    "shapes_dataset",
    "VideoCaptionTokenizer",
    "make_video_captions",
]
