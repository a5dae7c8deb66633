"""Metrics that several models report: in-batch retrieval accuracy and a "latest value" metric.

Pure `keras.ops`; imported by `models/` and `training/`, imports neither.
"""

import keras
from keras import ops


def in_batch_accuracy(logits_per_image):
    """(image-to-text, text-to-image) top-1 accuracy of a (batch, batch) similarity matrix."""
    labels = ops.arange(ops.shape(logits_per_image)[0])
    image_hits = ops.equal(ops.argmax(logits_per_image, axis=1), labels)
    text_hits = ops.equal(ops.argmax(logits_per_image, axis=0), labels)
    return ops.mean(ops.cast(image_hits, "float32")), ops.mean(ops.cast(text_hits, "float32"))


@keras.saving.register_keras_serializable(package="keras_vt")
class LatestValue(keras.metrics.Metric):
    """A metric that reports the last value it was given (e.g. the current temperature)."""

    def __init__(self, name="latest", dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        # One replica's value: a sum over replicas would report N times the value.
        self.value = self.add_variable(
            shape=(), initializer="zeros", name="value", aggregation="only_first_replica"
        )

    def update_state(self, value):
        self.value.assign(ops.cast(value, self.dtype))

    def result(self):
        return ops.convert_to_tensor(self.value)

    def reset_state(self):
        self.value.assign(0.0)
