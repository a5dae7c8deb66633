"""Fit-compatible training objectives and the DeiT recipe (augmentation, optimiser schedule)."""

from keras_vt.training import augment, schedules
from keras_vt.training.distillation import (
    Distiller,
    hard_distillation_loss,
    soft_distillation_loss,
)
