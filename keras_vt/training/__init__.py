"""Objectives and loops that train keras_vt models with `model.fit`, and evaluation metrics."""

from keras_vt.training.classification import train_classifier
from keras_vt.training.contrastive import LatestValue, clip_loss, in_batch_accuracy
from keras_vt.training.retrieval import retrieval_metrics
