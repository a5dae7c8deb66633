"""Fit-compatible objectives and evaluation metrics."""

from keras_vt.training.contrastive import LatestValue, clip_loss, in_batch_accuracy
from keras_vt.training.retrieval import retrieval_metrics
