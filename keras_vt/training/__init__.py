"""Objectives and loops that train keras_vt models with `model.fit`: classification, distillation
(DeiT), and the DeiT recipe (augmentation, optimiser schedule)."""

from keras_vt.training import augment, schedules
from keras_vt.training.classification import train_classifier
from keras_vt.training.distillation import (
    Distiller,
    hard_distillation_loss,
    soft_distillation_loss,
)
