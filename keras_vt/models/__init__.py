"""Model families. Importing this package registers every named configuration."""

from keras_vt.models import clip, cnn, cpvt, cvt, deit, text, vit
from keras_vt.models.clip import CLIP
from keras_vt.models.cnn import ResNet
from keras_vt.models.cpvt import CPVT
from keras_vt.models.cvt import CvT
from keras_vt.models.deit import DeiT, DistilledDeiT
from keras_vt.models.mmt import MMT
from keras_vt.models.registry import create_model, get_spec, list_models, load_weights, register
from keras_vt.models.resolution import resize
from keras_vt.models.text import BertEncoder
from keras_vt.models.vit import VisionTransformer
