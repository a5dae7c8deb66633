"""DeiT's optimiser: AdamW, linear warm-up then cosine decay, learning rate scaled by batch size."""

import keras

from keras_vt import checks

# Weights without weight decay, as timm's `no_weight_decay` and 1-D parameters: biases,
# LayerNorm/BatchNorm scales and offsets, class/distillation tokens, position tables.
NO_WEIGHT_DECAY = ("bias", "gamma", "beta", "tokens", "embeddings")


def deit_learning_rate(batch_size, base_learning_rate=5e-4):
    """DeiT's linear scaling rule: base_learning_rate * batch_size / 512."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise checks.invalid("batch_size", batch_size, "batch_size >= 1")
    return base_learning_rate * batch_size / 512


def warmup_cosine(
    peak_learning_rate,
    total_steps,
    warmup_steps,
    warmup_learning_rate=1e-6,
    min_learning_rate=1e-5,
):
    """Linear warm-up from `warmup_learning_rate` to the peak, then cosine decay to
    `min_learning_rate` at `total_steps` (DeiT: warm-up lr 1e-6, min lr 1e-5)."""
    if not isinstance(total_steps, int) or total_steps < 1:
        raise checks.invalid("total_steps", total_steps, "total_steps >= 1")
    if not isinstance(warmup_steps, int) or not 0 <= warmup_steps < total_steps:
        raise checks.invalid(
            "warmup_steps",
            warmup_steps,
            f"an int with 0 <= warmup_steps < total_steps={total_steps}",
        )
    if peak_learning_rate <= 0:
        raise checks.invalid("peak_learning_rate", peak_learning_rate, "peak_learning_rate > 0")
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=warmup_learning_rate if warmup_steps else peak_learning_rate,
        decay_steps=total_steps - warmup_steps,
        alpha=min(min_learning_rate / peak_learning_rate, 1.0),
        warmup_target=peak_learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


def deit_optimizer(
    batch_size,
    steps_per_epoch,
    epochs,
    warmup_epochs=5,
    base_learning_rate=5e-4,
    weight_decay=0.05,
    warmup_learning_rate=1e-6,
    min_learning_rate=1e-5,
    clipnorm=None,
):
    """AdamW with DeiT's defaults: lr 5e-4 * batch / 512, weight decay 0.05, 5 warm-up epochs,
    cosine decay; no weight decay on biases, norms, tokens and position tables.

    For fine-tuning at a higher resolution DeiT uses `base_learning_rate=5e-6 * 512 / batch`
    (lr 5e-6 whatever the batch), `weight_decay=1e-8`, 30 epochs.

    Example:

    >>> optimizer = keras_vt.training.schedules.deit_optimizer(
    ...     batch_size=256, steps_per_epoch=100, epochs=30)
    >>> round(float(optimizer.learning_rate), 9)  # warm-up starts at 1e-6
    1e-06
    """
    if not isinstance(steps_per_epoch, int) or steps_per_epoch < 1:
        raise checks.invalid("steps_per_epoch", steps_per_epoch, "steps_per_epoch >= 1")
    if not isinstance(epochs, int) or epochs < 1:
        raise checks.invalid("epochs", epochs, "epochs >= 1")
    total = steps_per_epoch * epochs
    warmup = min(int(round(warmup_epochs * steps_per_epoch)), total - 1)
    schedule = warmup_cosine(
        deit_learning_rate(batch_size, base_learning_rate),
        total,
        warmup,
        warmup_learning_rate,
        min_learning_rate,
    )
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule, weight_decay=weight_decay, clipnorm=clipnorm
    )
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer
