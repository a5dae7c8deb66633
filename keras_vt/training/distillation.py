"""Knowledge distillation from a frozen teacher, as DeiT trains its students (`losses.py`).

The loss is computed in `compute_loss`, so `compile()` + `fit()` train the student on the
TensorFlow, JAX and PyTorch backends alike.
"""

import keras
from keras import ops

from keras_vt import checks
from keras_vt.losses import (  # noqa: F401  (re-exported: keras_vt.training.*)
    _mean,
    hard_distillation_loss,
    scale_for_replicas,
    soft_distillation_loss,
)

MODES = ("hard", "soft", "none")
SOFT_NORMALIZATIONS = ("batch", "elements")


def _num_classes(model):
    outputs = getattr(model, "outputs", None)
    if outputs:
        last = outputs[0].shape[-1]
        if last is not None:
            return int(last)
    num_classes = getattr(model, "num_classes", None)
    return num_classes if isinstance(num_classes, int) else None


@keras.saving.register_keras_serializable(package="keras_vt")
class Distiller(keras.Model):
    """Trains `student` from labels and a frozen `teacher` (DeiT's hard or soft distillation).

    total = (1 - alpha) * base + alpha * distillation, where

    - base: the compiled loss (default: cross-entropy from logits, sparse or one-hot/soft targets
      such as Mixup's) on the student's class head;
    - distillation, with `mode=`
      - "hard": cross-entropy against the teacher's argmax (DeiT's best; paper: alpha 0.5);
      - "soft": KL(teacher || student) at `temperature`, times temperature² (paper: alpha 0.1,
        temperature 3);
      - "none": the teacher is not used; the distillation head learns the labels with the base
        loss (a plain student's loss is then just the base loss).

    The distillation term goes to the distillation head of a student with one (a distilled DeiT,
    which returns `(class_logits, distillation_logits)` when `training=True`), or to the only
    head of a plain student (any classifier returning logits). The teacher, any `keras.Model`
    returning logits over the same classes (a keras_vt ResNet, `keras.applications`, keras-hub;
    wrap it in a `keras.Sequential` with its own preprocessing if it expects other inputs), is
    frozen: `trainable=False`, called with `training=False` (BatchNorm statistics are not
    updated), its logits behind `stop_gradient`. It sees the same (possibly Mixup/CutMix-ed)
    images as the student, as in DeiT.

    Metrics: `loss` (total), `base_loss`, `distillation_loss`, `accuracy` (the student's
    inference output against the labels' argmax) and `teacher_agreement` (fraction of samples
    where student and teacher predict the same class; not in mode "none"). `distiller.student`
    is a normal model afterwards: save and export it on its own.

    Relation to `keras.distillation` (in Keras 3.15): `keras.distillation.Distiller(teacher,
    student, keras.distillation.LogitsDistillation(temperature=t,
    loss=keras.losses.KLDivergence()), student_loss_weight=1 - alpha)` compiled with
    `loss=SparseCategoricalCrossentropy(from_logits=True)` computes the same loss as
    `Distiller(student, teacher, mode="soft", alpha=alpha, temperature=t)` for a plain student
    (a test holds them equal). Pass the `KLDivergence()` instance: Keras 3.15 resolves the
    default string "kl_divergence" to a function, which skips the softmax and compares clipped
    raw logits. `keras.distillation` applies its losses to the
    student's whole output and requires teacher and student outputs of the same structure, so it
    cannot route the distillation term to a distillation token's head and has no hard mode; use
    this class for DeiT, and `keras.distillation` for feature distillation of plain students.

    Args:
        student: the `keras.Model` to train.
        teacher: the frozen `keras.Model` (may be None in mode "none").
        mode: "hard" (default), "soft" or "none".
        alpha: weight of the distillation term, in [0, 1] (DeiT code default 0.5).
        temperature: softening of the soft mode, > 0 (DeiT code default 1.0).
        soft_normalization: "batch" (per-sample KL averaged over the batch, the paper's formula,
            default) or "elements" (also divided by the number of classes, the DeiT code).

    Example:

    >>> teacher = keras_vt.create_model("resnet18", tiny=True, num_classes=10)
    >>> student = keras_vt.create_model("deit_tiny_distilled_patch16_224", tiny=True,
    ...                                 num_classes=10)
    >>> distiller = keras_vt.training.Distiller(student, teacher, mode="hard")
    >>> distiller.compile(optimizer=keras.optimizers.AdamW(5e-4, weight_decay=0.05))
    >>> images, labels = keras_vt.data.make_shapes(16, 32)
    >>> history = distiller.fit(images, labels, epochs=1, verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'base_loss', 'distillation_loss', 'loss', 'teacher_agreement']
    """

    def __init__(
        self,
        student,
        teacher=None,
        mode="hard",
        alpha=0.5,
        temperature=1.0,
        soft_normalization="batch",
        name="distiller",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if mode not in MODES:
            raise checks.unknown("mode", mode, MODES)
        if not isinstance(student, keras.Model):
            raise checks.invalid(
                "student",
                student,
                "a keras.Model",
                problem=f"student of type {type(student).__name__}",
            )
        if not (mode == "none" and teacher is None) and not isinstance(teacher, keras.Model):
            raise checks.invalid(
                "teacher",
                teacher,
                f"a keras.Model for mode={mode!r}",
                problem=f"teacher of type {type(teacher).__name__}",
            )
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
            raise checks.invalid("alpha", alpha, "alpha in [0, 1]")
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, (int, float))
            or not temperature > 0
        ):
            raise checks.invalid("temperature", temperature, "temperature > 0")
        if soft_normalization not in SOFT_NORMALIZATIONS:
            raise checks.unknown("soft_normalization", soft_normalization, SOFT_NORMALIZATIONS)
        if teacher is not None:
            student_classes, teacher_classes = _num_classes(student), _num_classes(teacher)
            if None not in (student_classes, teacher_classes) and (
                student_classes != teacher_classes
            ):
                raise ValueError(
                    f"Teacher and student class counts differ: the teacher predicts "
                    f"{teacher_classes} classes, the student {student_classes}. Expected the "
                    "same classes."
                )
            teacher.trainable = False
        self.student = student
        self.teacher = teacher
        self.mode = mode
        self.alpha = float(alpha)
        self.temperature = float(temperature)
        self.soft_normalization = soft_normalization
        self.base_loss_tracker = keras.metrics.Mean(name="base_loss")
        self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.agreement_tracker = (
            None if mode == "none" else keras.metrics.Mean(name="teacher_agreement")
        )
        self._base_criterion = None
        # Built when its models are: `BackupAndRestore` (keras_vt.training.training_callbacks)
        # needs a built model before `fit`.
        self.built = student.built and (teacher is None or teacher.built)

    def compile(self, optimizer="adamw", loss=None, metrics=None, **kwargs):
        """Like `keras.Model.compile`; `loss` is the base criterion on the class head.

        Default: cross-entropy from logits (sparse for integer labels, categorical for one-hot
        or soft targets). For DeiT's recipe with integer labels pass
        `keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)` on one-hot
        labels, or use `keras_vt.training.augment`, whose targets are already smoothed.
        `metrics` are computed on the student's inference output.
        """
        self._base_criterion = None if loss is None else keras.losses.get(loss)
        super().compile(optimizer=optimizer, loss=None, metrics=metrics, **kwargs)

    def build(self, input_shape):
        for model in (self.student, self.teacher):
            if model is not None and not model.built:
                model.build(input_shape)
        self.built = True

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def _heads(self, y_pred):
        if isinstance(y_pred, (list, tuple)):
            if len(y_pred) != 2:
                raise ValueError(
                    f"Expected the student to return logits or (class_logits, "
                    f"distillation_logits), got {len(y_pred)} outputs."
                )
            return ops.cast(y_pred[0], "float32"), ops.cast(y_pred[1], "float32")
        y_pred = ops.cast(y_pred, "float32")
        return y_pred, y_pred

    def _prediction(self, y_pred):
        if not isinstance(y_pred, (list, tuple)):
            return y_pred
        combine = getattr(self.student, "combine", None)
        return combine(*y_pred) if combine is not None else (y_pred[0] + y_pred[1]) / 2

    def _base_loss(self, y, logits, sample_weight):
        if self._base_criterion is not None:
            return self._base_criterion(y, logits, sample_weight=sample_weight)
        if len(y.shape) == len(logits.shape) - 1:
            per_sample = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        else:
            per_sample = keras.losses.categorical_crossentropy(
                ops.cast(y, logits.dtype), logits, from_logits=True
            )
        return _mean(per_sample, sample_weight)

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`, with in-memory labels checked against the student's class count."""
        checks.check_batch("x", x)
        num_classes = _num_classes(self.student)
        if y is not None and num_classes is not None:
            checks.check_ids("y", y, num_classes, "the student's num_classes")
        return super().fit(x, y, *args, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y is None:
            raise ValueError("Distiller needs labels: expected fit(x, y), got y=None.")
        if y_pred is None:
            y_pred = self(x, training=training)
        class_logits, distillation_logits = self._heads(y_pred)
        base = self._base_loss(y, class_logits, sample_weight)
        teacher_logits = None
        if self.mode == "none":
            distillation = self._base_loss(y, distillation_logits, sample_weight)
        else:
            teacher_logits = ops.cast(ops.stop_gradient(self.teacher(x, training=False)), "float32")
            if teacher_logits.shape[-1] != class_logits.shape[-1]:
                raise ValueError(
                    f"Teacher and student class counts differ: teacher logits of shape "
                    f"{teacher_logits.shape}, student logits of shape {class_logits.shape}."
                )
            if self.mode == "soft":
                distillation = soft_distillation_loss(
                    distillation_logits,
                    teacher_logits,
                    self.temperature,
                    self.soft_normalization,
                    sample_weight,
                )
            else:
                distillation = hard_distillation_loss(
                    distillation_logits, teacher_logits, sample_weight
                )
        total = (1.0 - self.alpha) * base + self.alpha * distillation
        if self.losses:
            total = total + ops.cast(ops.sum(self.losses), total.dtype)

        self.base_loss_tracker.update_state(base)
        self.distillation_loss_tracker.update_state(distillation)
        predicted = ops.argmax(self._prediction(y_pred), axis=-1)
        labels = y if len(y.shape) == len(class_logits.shape) - 1 else ops.argmax(y, axis=-1)
        self.accuracy_tracker.update_state(
            ops.cast(ops.equal(predicted, ops.cast(labels, predicted.dtype)), "float32")
        )
        if teacher_logits is not None:
            agree = ops.equal(predicted, ops.argmax(teacher_logits, axis=-1))
            self.agreement_tracker.update_state(ops.cast(agree, "float32"))
        return scale_for_replicas(total)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, y, self._prediction(y_pred), sample_weight)

    def get_config(self):
        return {
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "mode": self.mode,
            "alpha": self.alpha,
            "temperature": self.temperature,
            "soft_normalization": self.soft_normalization,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("student", "teacher"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
