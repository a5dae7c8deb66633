"""keras_vt: the vision-transformer lineage as first-class Keras 3 models."""

from keras_vt import convert, data, export, layers, losses, metrics, models, training, viz
from keras_vt.models import create_model, list_models
from keras_vt.models.zero_shot import ZeroShotClassifier
from keras_vt.preprocessing import count_params, preprocess

__version__ = "0.1.0"
