"""Objectives and loops that train keras_vt models with `model.fit`: classification,
distillation (DeiT) and its recipe (augmentation, schedules), contrastive (CLIP), and retrieval
metrics."""

from keras_vt.training import augment, callbacks, distribute, schedules
from keras_vt.training.callbacks import NonFiniteLossError, training_callbacks
from keras_vt.training.classification import train_classifier
from keras_vt.training.contrastive import LatestValue, clip_loss, in_batch_accuracy
from keras_vt.training.curriculum import AudioVisualSequence, NoiseCurriculum
from keras_vt.training.distillation import (
    Distiller,
    hard_distillation_loss,
    soft_distillation_loss,
)
from keras_vt.training.retrieval import retrieval_metrics
