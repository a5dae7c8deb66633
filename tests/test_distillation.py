"""Distiller: loss values by construction, frozen teacher, fit on every backend, errors."""

import keras
import numpy as np
import pytest

import keras_vt
from keras_vt.training import Distiller

from model_case import to_numpy

NUM_CLASSES = 5


def student(**overrides):
    return keras_vt.create_model(
        "deit_tiny_distilled_patch16_224", tiny=True, num_classes=NUM_CLASSES, **overrides
    )


def cnn_teacher(num_classes=NUM_CLASSES):
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(4, 3),
            keras.layers.BatchNormalization(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(num_classes),
        ]
    )


def plain_student():
    return keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(NUM_CLASSES)]
    )


class FixedTeacher(keras.Model):
    """A teacher whose logits are given per image index (stored in the first pixel)."""

    def __init__(self, logits):
        super().__init__()
        self.table = keras.ops.convert_to_tensor(np.asarray(logits, "float32"))

    def call(self, x, training=None):
        index = keras.ops.cast(x[:, 0, 0, 0], "int32")
        return keras.ops.take(self.table, index, axis=0)


def data(batch=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, 32, 32, 3)).astype("float32")
    x[:, 0, 0, 0] = np.arange(batch)
    y = rng.integers(0, NUM_CLASSES, size=(batch,))
    return x, y


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def cross_entropy(logits, labels):
    return float(np.mean(-log_softmax(logits)[np.arange(len(labels)), labels]))


def losses_of(distiller, x, y):
    """Runs compute_loss once on fresh trackers; returns (total, base, distillation, heads)."""
    distiller.compile(optimizer="adam")
    y_pred = distiller(x, training=True)
    total = to_numpy(distiller.compute_loss(x, y, y_pred))
    heads = tuple(to_numpy(t) for t in y_pred) if isinstance(y_pred, tuple) else to_numpy(y_pred)
    base = to_numpy(distiller.base_loss_tracker.result())
    distillation = to_numpy(distiller.distillation_loss_tracker.result())
    return float(total), float(base), float(distillation), heads


def test_hard_distillation_uses_the_teachers_argmax_on_the_distillation_head():
    x, y = data()
    # The teacher's argmax is (label + 1) mod classes: never the label.
    teacher_labels = (y + 1) % NUM_CLASSES
    teacher_logits = np.eye(NUM_CLASSES)[teacher_labels] * 4.0 + 0.1 * np.arange(NUM_CLASSES)
    distiller = Distiller(student(), FixedTeacher(teacher_logits), mode="hard", alpha=0.3)
    total, base, distillation, (class_logits, distillation_logits) = losses_of(distiller, x, y)
    assert not np.allclose(class_logits, distillation_logits)
    np.testing.assert_allclose(
        distillation, cross_entropy(distillation_logits, teacher_labels), rtol=1e-5
    )
    assert abs(distillation - cross_entropy(distillation_logits, y)) > 1e-4
    assert abs(distillation - cross_entropy(class_logits, teacher_labels)) > 1e-4
    np.testing.assert_allclose(base, cross_entropy(class_logits, y), rtol=1e-5)
    np.testing.assert_allclose(total, 0.7 * base + 0.3 * distillation, rtol=1e-5)


@pytest.mark.parametrize("normalization", ["batch", "elements"])
def test_soft_distillation_is_kl_times_temperature_squared(normalization):
    x, y = data()
    teacher_logits = np.random.default_rng(3).normal(size=(8, NUM_CLASSES)) * 2
    distiller = Distiller(
        student(),
        FixedTeacher(teacher_logits),
        mode="soft",
        alpha=0.5,
        temperature=3.0,
        soft_normalization=normalization,
    )
    _, _, distillation, (_, distillation_logits) = losses_of(distiller, x, y)
    log_t, log_s = log_softmax(teacher_logits / 3.0), log_softmax(distillation_logits / 3.0)
    kl = np.sum(np.exp(log_t) * (log_t - log_s), axis=-1).mean() * 9.0
    if normalization == "elements":
        kl /= NUM_CLASSES
    np.testing.assert_allclose(distillation, kl, rtol=1e-4)


def test_plain_student_distils_on_its_only_head():
    x, y = data()
    teacher_logits = np.random.default_rng(4).normal(size=(8, NUM_CLASSES))
    distiller = Distiller(plain_student(), FixedTeacher(teacher_logits), mode="hard")
    _, base, distillation, logits = losses_of(distiller, x, y)
    np.testing.assert_allclose(
        distillation, cross_entropy(logits, teacher_logits.argmax(-1)), rtol=1e-5
    )
    np.testing.assert_allclose(base, cross_entropy(logits, y), rtol=1e-5)


def test_none_mode_needs_no_teacher_and_trains_the_distillation_head_on_labels():
    x, y = data()
    distiller = Distiller(student(), None, mode="none", alpha=0.5)
    total, base, distillation, (class_logits, distillation_logits) = losses_of(distiller, x, y)
    np.testing.assert_allclose(distillation, cross_entropy(distillation_logits, y), rtol=1e-5)
    np.testing.assert_allclose(total, 0.5 * (base + distillation), rtol=1e-5)


def test_soft_mode_matches_keras_distillation_for_a_plain_student():
    x, y = data()
    teacher, plain = cnn_teacher(), plain_student()
    ours = Distiller(plain, teacher, mode="soft", alpha=0.3, temperature=2.0)
    ours.compile(optimizer="adam")
    theirs = keras.distillation.Distiller(
        teacher=teacher,
        student=plain,
        # A loss instance: Keras 3.15 resolves the string "kl_divergence" (the default) to a
        # function, which skips its softmax branch and compares clipped raw logits.
        distillation_losses=keras.distillation.LogitsDistillation(
            temperature=2.0, loss=keras.losses.KLDivergence()
        ),
        student_loss_weight=0.7,
    )
    theirs.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    y_pred = plain(x, training=True)
    np.testing.assert_allclose(
        to_numpy(ours.compute_loss(x, y, y_pred)),
        to_numpy(theirs.compute_loss(x, y, y_pred)),
        rtol=1e-4,
    )


@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_fit_trains_the_student_and_leaves_the_teacher_unchanged(mode):
    x, y = data(batch=16)
    teacher = cnn_teacher()
    teacher_before = [w.copy() for w in teacher.get_weights()]
    model = student()
    student_before = [w.copy() for w in model.get_weights()]
    distiller = Distiller(model, teacher, mode=mode, temperature=2.0)
    assert not teacher.trainable
    assert len(distiller.trainable_weights) == len(model.trainable_weights)
    distiller.compile(optimizer=keras.optimizers.AdamW(1e-3), metrics=["accuracy"])
    history = distiller.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    assert {"loss", "base_loss", "distillation_loss", "accuracy", "teacher_agreement"} <= set(
        history
    )
    assert all(np.isfinite(v[-1]) for v in history.values()), history
    for before, after in zip(teacher_before, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert any(not np.allclose(a, b) for a, b in zip(student_before, model.get_weights()))
    logs = distiller.evaluate(x, y, verbose=0, return_dict=True)
    assert np.isfinite(logs["loss"])


def test_fit_on_soft_targets_with_a_custom_base_loss():
    """The compiled loss is the base loss: its value is the custom loss of the class head, not
    the default cross-entropy, and `fit` on soft targets with it moves the student."""
    x, y = data(batch=8)
    targets = (
        keras.ops.convert_to_numpy(keras.ops.one_hot(y, NUM_CLASSES)) * 0.9 + 0.1 / NUM_CLASSES
    )
    model = student()
    teacher_logits = 4.0 * np.eye(NUM_CLASSES)[np.arange(8) % NUM_CLASSES]
    distiller = Distiller(model, FixedTeacher(teacher_logits), mode="hard")
    distiller.compile(optimizer="adam", loss=keras.losses.MeanSquaredError())
    y_pred = distiller(x, training=True)
    total = float(to_numpy(distiller.compute_loss(x, targets, y_pred)))
    class_logits = to_numpy(y_pred[0])
    base = float(to_numpy(distiller.base_loss_tracker.result()))
    np.testing.assert_allclose(base, np.mean((targets - class_logits) ** 2), rtol=1e-4)
    soft_ce = float(np.mean(-(targets * log_softmax(class_logits)).sum(-1)))
    assert abs(base - soft_ce) > 1e-3  # not the default loss
    distillation = cross_entropy(to_numpy(y_pred[1]), np.arange(8) % NUM_CLASSES)
    np.testing.assert_allclose(total, 0.5 * base + 0.5 * distillation, rtol=1e-4)

    before = [w.copy() for w in model.get_weights()]
    history = distiller.fit(x, targets, batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][-1])
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def test_bad_arguments():
    model, teacher = student(), cnn_teacher()
    for kwargs, match in [
        (dict(alpha=1.5), "alpha"),
        (dict(alpha=-0.1), "alpha"),
        (dict(temperature=0.0), "temperature"),
        (dict(temperature=-1.0), "temperature"),
        (dict(mode="medium"), "mode"),
        (dict(soft_normalization="sum"), "soft_normalization"),
    ]:
        with pytest.raises(ValueError, match=match):
            Distiller(model, teacher, **{"mode": "soft", **kwargs})
    with pytest.raises(ValueError, match="teacher"):
        Distiller(model, lambda x: x, mode="hard")
    with pytest.raises(ValueError, match="teacher"):
        Distiller(model, None, mode="soft")
    with pytest.raises(ValueError, match="student"):
        Distiller("deit", teacher, mode="hard")
    with pytest.raises(ValueError, match="class counts differ"):
        Distiller(model, cnn_teacher(num_classes=6), mode="hard")


def test_deit_dataset_yields_smoothed_mixed_targets_and_trains():
    from keras_vt.training import augment, schedules

    x, y = keras_vt.data.make_shapes(48, image_size=32)
    model = keras_vt.create_model("deit_tiny_patch16_224", tiny=True, num_classes=10)
    ds = augment.deit_dataset(x, y, 10, batch_size=16, model=model, repeated_augmentation=3)
    batches = list(ds)
    assert len(batches) == 3  # an epoch keeps n samples, as DeiT's RASampler
    images, targets = (np.asarray(t) for t in batches[0])
    assert images.shape == (16, 32, 32, 3) and targets.shape == (16, 10)
    np.testing.assert_allclose(targets.sum(-1), 1.0, atol=1e-5)
    assert targets.min() >= 0.1 / 10 - 1e-6  # smoothing 0.1 survives mixing
    assert (targets.max(-1) < 0.9 + 0.01 + 1e-6).all()
    optimizer = schedules.deit_optimizer(
        batch_size=16, steps_per_epoch=3, epochs=2, warmup_epochs=1
    )
    model.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(ds, epochs=2, verbose=0).history
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()
    # It trains: every trainable weight moves (the schedule's learning rate is not zero, the
    # mixed targets carry gradients to the whole network).
    changed = [not np.allclose(a, b) for a, b in zip(before, model.get_weights())]
    assert sum(changed) == len(model.trainable_weights), (sum(changed), len(changed))


def test_schedule_defaults_and_errors():
    from keras_vt.training import augment, schedules

    assert schedules.deit_learning_rate(1024) == pytest.approx(1e-3)
    schedule = schedules.warmup_cosine(1e-3, total_steps=100, warmup_steps=10)
    assert float(schedule(0)) == pytest.approx(1e-6)
    assert float(schedule(10)) == pytest.approx(1e-3)
    assert float(schedule(100)) == pytest.approx(1e-5)
    optimizer = schedules.deit_optimizer(batch_size=512, steps_per_epoch=10, epochs=10)
    assert optimizer.weight_decay == pytest.approx(0.05)
    with pytest.raises(ValueError, match="warmup_steps"):
        schedules.warmup_cosine(1e-3, total_steps=10, warmup_steps=10)
    with pytest.raises(ValueError, match="batch_size"):
        schedules.deit_learning_rate(0)
    with pytest.raises(ValueError, match="repeated_augmentation"):
        augment.deit_dataset(
            np.zeros((4, 8, 8, 3), "uint8"), np.zeros(4), 2, repeated_augmentation=0
        )
    with pytest.raises(ValueError, match="labels"):
        augment.deit_dataset(np.zeros((4, 8, 8, 3), "uint8"), np.zeros(3), 2)
