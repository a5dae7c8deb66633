"""CLIP's objective: symmetric cross-entropy over the in-batch similarity matrix (keras.ops only)."""

import keras
from keras import ops


def clip_loss(logits_per_image):
    """Symmetric contrastive loss of CLIP for a (batch, batch) matrix of scaled similarities.

    Row i holds image i against every text of the batch; its matching text is column i
    (labels = arange(batch)). The loss is the mean of the image-to-text and the text-to-image
    cross-entropies, as in CLIP's pseudo-code and open_clip's `ClipLoss`.

    Example:

    >>> round(float(keras_vt.training.clip_loss(np.eye(3) * 10.0)), 6)  # log(1 + 2 e^-10)
    9.1e-05
    """
    shape = tuple(logits_per_image.shape)
    if len(shape) != 2 or (None not in shape and shape[0] != shape[1]):
        raise ValueError(
            "Expected a square (batch, batch) similarity matrix of matching image and text "
            f"batches, got logits_per_image with shape {shape}."
        )
    logits = ops.cast(logits_per_image, "float32")
    labels = ops.arange(ops.shape(logits)[0])
    image_loss = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    text_loss = keras.losses.sparse_categorical_crossentropy(
        labels, ops.transpose(logits), from_logits=True
    )
    return (ops.mean(image_loss) + ops.mean(text_loss)) / 2


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
        self.value = self.add_variable(shape=(), initializer="zeros", name="value")

    def update_state(self, value):
        self.value.assign(ops.cast(value, self.dtype))

    def result(self):
        return ops.convert_to_tensor(self.value)

    def reset_state(self):
        self.value.assign(0.0)
