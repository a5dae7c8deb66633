"""Metrics that several models report: in-batch retrieval accuracy and a "latest value" metric.

Pure `keras.ops`; imported by `models/` and `training/`, imports neither.
"""

import keras
from keras import ops

from keras_vt import checks


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


def in_batch_ranks(similarity):
    """1-based rank of each row's match (the diagonal) among the row's scores, ties averaged.

    `rank = 1 + #(scores > match) + #(other scores == match) / 2`, the mean position of the tied
    group, as `keras_vt.training.retrieval.query_ranks` (numpy) and the MMT evaluation code.

    Example:

    >>> s = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 3.0], [0.0, 0.0, 5.0]])
    >>> keras.ops.convert_to_numpy(keras_vt.metrics.in_batch_ranks(s)).tolist()
    [1.5, 2.0, 1.0]
    """
    similarity = ops.cast(similarity, "float32")
    match = ops.expand_dims(ops.diagonal(similarity), 1)
    higher = ops.sum(ops.cast(similarity > match, "float32"), axis=1)
    tied = ops.sum(ops.cast(ops.equal(similarity, match), "float32"), axis=1) - 1.0
    return 1.0 + higher + tied / 2.0


@keras.saving.register_keras_serializable(package="keras_vt")
class RetrievalRecall(keras.metrics.Metric):
    """In-batch recall at K of a (queries, candidates) similarity matrix whose diagonal holds the
    matches, ties averaged (see `in_batch_ranks`); averaged over every query seen.

    A model updates it with its in-batch similarity matrix (MMT: captions x clips, so this is
    text-to-video R@K against the other clips of the batch). For the full evaluation over a
    test set use `keras_vt.training.retrieval.ranking_metrics`.

    Example:

    >>> metric = keras_vt.metrics.RetrievalRecall(k=1)
    >>> metric.update_state(np.array([[1.0, 1.0], [0.0, 2.0]]))
    >>> float(metric.result())
    0.5
    """

    def __init__(self, k=1, name=None, dtype="float32"):
        k = checks.check_int("k", k)
        super().__init__(name=name or f"R@{k}", dtype=dtype)
        self.k = k
        self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, similarity, sample_weight=None):
        ranks = in_batch_ranks(similarity)
        self.hits.assign_add(ops.sum(ops.cast(ranks <= self.k, "float32")))
        self.count.assign_add(ops.cast(ops.shape(ranks)[0], "float32"))

    def result(self):
        return self.hits / ops.maximum(self.count, 1.0)

    def reset_state(self):
        self.hits.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {"k": self.k, "name": self.name, "dtype": self.dtype}
