"""CLIP's objective and metrics; they live in `keras_vt.losses` and `keras_vt.metrics`.

The names here are kept for code written against earlier releases.
"""

from keras_vt.losses import clip_loss
from keras_vt.metrics import LatestValue, in_batch_accuracy

__all__ = ["LatestValue", "clip_loss", "in_batch_accuracy"]
