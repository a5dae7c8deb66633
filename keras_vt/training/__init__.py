"""Objectives and loops that train keras_vt models with `model.fit`."""

from keras_vt.training.classification import train_classifier
