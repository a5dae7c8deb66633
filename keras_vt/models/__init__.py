"""Model families. Importing this package registers every named configuration."""

from keras_vt.models import deit, vit
from keras_vt.models.registry import create_model, get_spec, list_models, load_weights, register
from keras_vt.models.resolution import resize
