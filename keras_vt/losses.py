"""Training objectives as pure `keras.ops` functions: contrastive (CLIP), distillation (DeiT),
max-margin ranking (MMT), the doubly stochastic regulariser and REINFORCE (Show-Attend-Tell).

`models/` and `training/` import this module; it imports neither, so a model can own its loss in
`compute_loss` without reaching up into the trainers.
"""

import keras
from keras import ops


def scale_for_replicas(loss):
    """Divides a model's `compute_loss` result by the number of replicas in sync.

    Under `tf.distribute` (MirroredStrategy, MultiWorkerMirroredStrategy) each replica computes
    the loss of its share of the global batch and the gradients are summed across replicas, so a
    custom `compute_loss` must return its loss divided by the replica count, as Keras' own
    `Model.compute_loss` does; otherwise every step is N times too large. Keras divides the
    reported value back. On JAX (`keras.distribution`) and single devices it returns `loss`.

    Example:

    >>> float(keras_vt.losses.scale_for_replicas(np.float32(2.0)))
    2.0
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            loss = ops.multiply(loss, ops.cast(1.0 / replicas, loss.dtype))
    return loss


def gather_replicas(tensor):
    """`tensor` of every replica, concatenated along the batch axis, under `tf.distribute`.

    A contrastive loss needs every pair of the global batch, as CLIP's paper trains (the
    embeddings of all workers are gathered before the similarity matrix). Under
    `tf.distribute.MirroredStrategy` `compute_loss` runs once per replica on its share of the
    batch, so this gathers the shares with `ReplicaContext.all_gather` (differentiable: each
    replica's gradient flows back to its own share). On JAX `keras.distribution.DataParallel`
    the batch is global already, and on one device there is nothing to gather: `tensor` is
    returned as it is.

    Example:

    >>> keras_vt.losses.gather_replicas(np.ones((2, 3))).shape
    (2, 3)
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            if tensor.dtype == tf.bool:  # all_gather sums: no booleans (MMT's "available")
                return tf.cast(context.all_gather(tf.cast(tensor, tf.int32), axis=0), tf.bool)
            return context.all_gather(tensor, axis=0)
    return tensor


def _check_square(argument, similarity, matching):
    """Refuses a similarity matrix that is not (batch, batch) (unknown sizes pass)."""
    shape = tuple(similarity.shape)
    if len(shape) != 2 or (None not in shape and shape[0] != shape[1]):
        raise ValueError(
            f"Expected a square (batch, batch) similarity matrix of matching {matching}, "
            f"got {argument} with shape {shape}."
        )


def clip_loss(logits_per_image):
    """Symmetric contrastive loss of CLIP for a (batch, batch) matrix of scaled similarities.

    Row i holds image i against every text of the batch; its matching text is column i
    (labels = arange(batch)). The loss is the mean of the image-to-text and the text-to-image
    cross-entropies, as in CLIP's pseudo-code and open_clip's `ClipLoss`.

    Example:

    >>> round(float(keras_vt.losses.clip_loss(np.eye(3) * 10.0)), 6)  # log(1 + 2 e^-10)
    9.1e-05
    """
    _check_square("logits_per_image", logits_per_image, "image and text batches")
    logits = ops.cast(logits_per_image, "float32")
    labels = ops.arange(ops.shape(logits)[0])
    image_loss = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    text_loss = keras.losses.sparse_categorical_crossentropy(
        labels, ops.transpose(logits), from_logits=True
    )
    return (ops.mean(image_loss) + ops.mean(text_loss)) / 2


def soft_distillation_loss(
    student_logits, teacher_logits, temperature=1.0, normalization="batch", sample_weight=None
):
    """KL(teacher || student) on temperature-softened distributions, times temperature².

    Per sample: sum_c p_t(c) (log p_t(c) - log p_s(c)) with p = softmax(logits / temperature).
    `normalization="batch"` averages over the batch (Hinton et al., the paper's formula, as
    `keras.distillation.LogitsDistillation`); `"elements"` also divides by the number of classes,
    as the DeiT code does (`kl_div(..., reduction="sum") / outputs_kd.numel()`).
    """
    log_student = ops.log_softmax(student_logits / temperature, axis=-1)
    log_teacher = ops.log_softmax(teacher_logits / temperature, axis=-1)
    per_sample = ops.sum(ops.exp(log_teacher) * (log_teacher - log_student), axis=-1)
    loss = _mean(per_sample, sample_weight) * (temperature * temperature)
    if normalization == "elements":
        loss = loss / student_logits.shape[-1]
    return loss


def hard_distillation_loss(student_logits, teacher_logits, sample_weight=None):
    """Cross-entropy of the student's logits against the teacher's argmax (DeiT's hard labels)."""
    teacher_labels = ops.stop_gradient(ops.argmax(teacher_logits, axis=-1))
    per_sample = keras.losses.sparse_categorical_crossentropy(
        teacher_labels, student_logits, from_logits=True
    )
    return _mean(per_sample, sample_weight)


def _mean(per_sample, sample_weight):
    if sample_weight is None:
        return ops.mean(per_sample)
    return ops.mean(per_sample * ops.cast(ops.reshape(sample_weight, (-1,)), per_sample.dtype))


def max_margin_ranking_loss(similarity, margin=0.05):
    """Bidirectional max-margin ranking loss over a (batch, batch) similarity matrix (MMT).

    Row i holds caption i against every video of the batch, column i video i against every
    caption; the diagonal holds the true pairs. Each off-diagonal entry contributes
    `max(0, margin + s_ij - s_ii)` (caption i ranked against video j) and
    `max(0, margin + s_ij - s_jj)` (video j ranked against caption i); the loss is the mean over
    these `2 B (B - 1)` terms, as the MMT code averages them (the diagonal is excluded), so an
    all-equal matrix gives exactly `margin`.

    Example:

    >>> round(float(keras_vt.losses.max_margin_ranking_loss(np.zeros((4, 4)))), 6)
    0.05
    >>> float(keras_vt.losses.max_margin_ranking_loss(np.eye(4)))
    0.0
    """
    _check_square("similarity", similarity, "captions and videos")
    similarity = ops.cast(similarity, "float32")
    batch = ops.shape(similarity)[0]
    diagonal = ops.diagonal(similarity)
    rows = ops.relu(margin + similarity - ops.expand_dims(diagonal, 1))
    columns = ops.relu(margin + similarity - ops.expand_dims(diagonal, 0))
    off_diagonal = 1.0 - ops.eye(batch, dtype="float32")
    total = ops.sum((rows + columns) * off_diagonal)
    count = ops.cast(2 * batch * (batch - 1), "float32")
    return total / ops.maximum(count, 1.0)


def doubly_stochastic_penalty(alphas, lam=1.0):
    """Show-Attend-Tell's doubly stochastic regulariser `λ Σ_i (1 - Σ_t α_ti)²`.

    Encourages the decoder to pay equal attention to every location over the `T` steps of a
    caption (the paper reports it improves BLEU and makes captions richer).

    Args:
        alphas: attention weights over time, `(batch, steps, locations)` or
            `(batch, steps, height, width)`.
        lam: the weight λ.

    Returns:
        A scalar: the penalty averaged over the batch.

    Example:

    >>> alphas = np.full((1, 4, 4), 0.25)   # 4 steps, uniform over 4 locations
    >>> float(keras_vt.losses.doubly_stochastic_penalty(alphas, lam=1.0))   # every location sums to 1
    0.0
    """
    alphas = ops.convert_to_tensor(alphas)
    if len(alphas.shape) not in (3, 4):
        raise ValueError(
            f"Invalid alphas: shape {tuple(alphas.shape)}. Expected (batch, steps, locations) "
            "or (batch, steps, height, width)."
        )
    alphas = ops.cast(alphas, "float32")
    alphas = ops.reshape(alphas, (ops.shape(alphas)[0], ops.shape(alphas)[1], -1))
    coverage = ops.sum(alphas, axis=1)
    return lam * ops.mean(ops.sum(ops.square(1.0 - coverage), axis=-1))


def reinforce_loss(alpha, sample, reward, baseline=0.0, entropy_weight=0.0):
    """REINFORCE surrogate for hard attention: `-(R - b) log α_s - λ_H H(α)`, batch mean.

    Its gradient is the score-function estimate of `-∇ E[R]` for the sampled locations, with a
    baseline `b` (for instance a moving average of past rewards) to reduce variance and an entropy
    bonus (Xu et al., 2015, eq. 12). `reward` and `baseline` are treated as constants.

    Args:
        alpha: attention weights `(batch, locations)` (or `(batch, height, width)`).
        sample: one-hot sampled locations, same shape as `alpha`.
        reward: `(batch,)` rewards, e.g. the log-likelihood of the target caption.
        baseline: scalar or `(batch,)` baseline.
        entropy_weight: weight of the entropy bonus.
    """
    batch = ops.shape(alpha)[0]
    alpha = ops.reshape(ops.cast(alpha, "float32"), (batch, -1))
    sample = ops.reshape(ops.cast(sample, "float32"), (batch, -1))
    advantage = ops.stop_gradient(ops.cast(reward, "float32") - ops.cast(baseline, "float32"))
    log_alpha = ops.log(alpha + 1e-12)
    log_prob = ops.sum(sample * log_alpha, axis=-1)
    entropy = -ops.sum(alpha * log_alpha, axis=-1)
    return ops.mean(-advantage * log_prob - entropy_weight * entropy)


def masked_sparse_categorical_crossentropy(labels, logits, mask):
    """Mean cross-entropy of (batch, time, classes) logits over the frames where `mask` is True
    (AV Align's per-frame head). Frames outside the mask count for nothing.

    Example:

    >>> logits = np.log(np.array([[[0.5, 0.5], [0.9, 0.1]]]))
    >>> loss = keras_vt.losses.masked_sparse_categorical_crossentropy(
    ...     np.array([[0, 1]]), logits, np.array([[True, False]]))
    >>> round(float(loss), 4)  # -log 0.5; the masked frame is ignored
    0.6931
    """
    per_frame = keras.losses.sparse_categorical_crossentropy(
        ops.cast(labels, "int32"), ops.cast(logits, "float32"), from_logits=True
    )
    weights = ops.cast(mask, "float32")
    return ops.sum(per_frame * weights) / ops.maximum(ops.sum(weights), 1.0)


def ctc_sequence_loss(tokens, logits, mask, blank=0):
    """Mean CTC loss of (batch, time, classes) logits against token sequences padded with
    `blank` (class `blank` is the CTC blank), over the frames where `mask` (batch, time) is True.

    Wraps `keras.ops.ctc_loss` with the label and logit lengths read off the padding.

    Example:

    >>> logits = np.log(np.eye(3)[[1, 0, 2, 2]] * 0.97 + 0.01)[None]
    >>> loss = keras_vt.losses.ctc_sequence_loss(np.array([[1, 2]]), logits, np.ones((1, 4), bool))
    >>> float(loss) < 0.2
    True
    """
    tokens = ops.cast(tokens, "int32")
    label_lengths = ops.sum(ops.cast(ops.not_equal(tokens, blank), "int32"), axis=1)
    logit_lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
    losses = ops.ctc_loss(
        tokens, ops.cast(logits, "float32"), label_lengths, logit_lengths, mask_index=blank
    )
    return ops.mean(losses)


def masked_mean_squared_error(targets, predictions, mask):
    """Mean squared error over (batch, time, features) where `mask` (batch, time) is True (the
    action-unit loss of AV Align, TASLP 2020).

    Example:

    >>> loss = keras_vt.losses.masked_mean_squared_error(
    ...     np.ones((1, 2, 2)), np.zeros((1, 2, 2)), np.array([[True, False]]))
    >>> float(loss)
    1.0
    """
    error = ops.square(ops.cast(targets, "float32") - ops.cast(predictions, "float32"))
    weights = ops.cast(mask, "float32")[..., None]
    count = ops.sum(weights) * ops.cast(ops.shape(error)[-1], "float32")
    return ops.sum(error * weights) / ops.maximum(count, 1.0)
