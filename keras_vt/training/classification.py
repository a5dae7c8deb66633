"""Supervised image classification with `fit`: the job behind `keras-vt train`."""

import os
import time

import keras
import numpy as np

from keras_vt import checks
from keras_vt.models.registry import check_overrides, create_model, get_spec
from keras_vt.preprocessing import count_params, normalization_constants
from keras_vt.training.callbacks import remove_backup, training_callbacks
from keras_vt.training.distribute import data_parallel_scope
from keras_vt.training.schedules import NO_WEIGHT_DECAY


def _normalize(images, mean, std):
    return ((images.astype("float32") / 255.0 - np.float32(mean)) / np.float32(std)).astype(
        "float32"
    )


def flip_rotate(images, rng):
    """Random horizontal flips and multiples of 90-degree rotations of a (batch, h, w, c) array.

    Label-preserving for the built-in shapes (drawn at every angle); cheap, in numpy.

    Example:

    >>> flip_rotate(np.zeros((4, 8, 8, 3)), np.random.default_rng(0)).shape
    (4, 8, 8, 3)
    """
    images = np.array(images, copy=True)
    flip = rng.random(len(images)) < 0.5
    images[flip] = images[flip, :, ::-1]
    turns = rng.integers(0, 4, len(images))
    for k in (1, 2, 3):
        if images.shape[1] == images.shape[2] and np.any(turns == k):
            images[turns == k] = np.rot90(images[turns == k], k, axes=(1, 2))
    return images


def augmented_batches(x, y, batch_size, seed, augment):
    """A `keras.utils.PyDataset` of shuffled (and, with `augment`, `flip_rotate`d) numpy batches
    of `(x, y)`, reshuffled every epoch; it feeds `fit` on every backend.

    The order and the augmentation of epoch `e` depend only on `(seed, e)`, so a run resumed at
    epoch `e` (set `batches.epoch`, as `train_classifier` does from a callback) sees the same
    batches as an uninterrupted one.

    Example:

    >>> batches = augmented_batches(np.zeros((10, 8, 8, 3)), np.zeros(10), 4, 0, True)
    >>> len(batches), batches[0][0].shape
    (3, (4, 8, 8, 3))
    """

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self._order = (None, None)

        def __len__(self):
            return -(-len(x) // batch_size)

        def order(self):
            if self._order[0] != self.epoch:
                rng = np.random.default_rng((seed, self.epoch))
                self._order = (self.epoch, rng.permutation(len(x)))
            return self._order[1]

        def __getitem__(self, index):
            take = self.order()[index * batch_size : (index + 1) * batch_size]
            images = x[take]
            if augment:
                images = flip_rotate(images, np.random.default_rng((seed, self.epoch, index)))
            return images, y[take]

        def on_epoch_end(self):
            self.epoch += 1

    return Batches()


def _load(data, image_size, num_images, batch_size, seed, num_classes=10):
    """(train, validation, class_names): numpy pairs for shapes, tf.data for folders."""
    from keras_vt import data as datasets

    if data == "shapes":
        num_val = max(num_images // 5, 1)
        images, labels = datasets.make_shapes(
            num_images + num_val, image_size, seed=seed, num_classes=num_classes
        )
        train = (images[:num_images], labels[:num_images])
        val = (images[num_images:], labels[num_images:])
        return train, val, list(datasets.CLASS_NAMES[:num_classes])
    train, class_names = datasets.image_folder_dataset(
        data, image_size, batch_size, validation_split=0.2, subset="training", seed=seed
    )
    val, _ = datasets.image_folder_dataset(
        data, image_size, batch_size, validation_split=0.2, subset="validation", seed=seed
    )
    return train, val, class_names


def train_classifier(
    model,
    data="shapes",
    image_size=None,
    epochs=10,
    batch_size=64,
    learning_rate=1e-3,
    weight_decay=0.05,
    warmup_epochs=1,
    num_images=10000,
    seed=0,
    output=None,
    overrides=None,
    verbose="auto",
    label_smoothing=0.0,
    augment=False,
    weights=None,
    backup_dir=None,
    resume=False,
    distribute=False,
):
    """Trains a registered model for classification and returns a summary dict.

    Images are normalised with the model's own constants; the optimiser is AdamW with a linear
    warm-up and cosine decay, as ViT and DeiT train; optionally label smoothing and (built-in
    data) random flips and 90-degree rotations (`flip_rotate`).

    Args:
        model: a registered model name (see `keras_vt.list_models()`).
        data: "shapes" for the built-in generated data, or a folder with one sub-folder per class.
        image_size: input side; defaults to the model's.
        num_images: training images of the built-in data (a fifth more are generated for
            validation).
        output: optional `.keras` path to save the trained model to.
        overrides: extra constructor arguments of the model, e.g. `{"depth": 6}`.
        label_smoothing: of the cross-entropy targets (DeiT: 0.1).
        augment: built-in data: random flips and 90-degree rotations of every batch.
        weights: start from these weights (a `.keras` / `.weights.h5` file or a hub name
            `hf://ORG/NAME`, see `keras_vt.create_model`): fine-tuning, with a new head when the
            number of classes differs and positions resampled when the image size does.
        backup_dir: folder of the backup written after every epoch (weights, optimizer state),
            removed once `output` is saved; default `OUTPUT.backup` next to `output` (none
            without `output`); `False`: no backup. See `keras_vt.training.training_callbacks`.
        resume: continue an interrupted run from its backup (same arguments); without it an
            existing backup is an error. A NaN loss raises `NonFiniteLossError` naming the
            epoch and batch, keeps the backup and saves nothing.
        distribute: train data-parallel on every local device
            (`keras_vt.training.distribute.data_parallel_scope`: `keras.distribution.DataParallel`
            on JAX, `tf.distribute.MirroredStrategy` on TensorFlow); `batch_size` is global.

    Returns:
        dict with "model", "history", "val_accuracy", "num_classes", "val_images", "output",
        "seconds" (wall time, data generation and training) and "cpu_seconds" (process CPU
        time, all threads).

    Example:

    ```python
    result = keras_vt.training.train_classifier("vit_mini_patch4_32", epochs=1,
                                                num_images=512)
    0.0 <= result["val_accuracy"] <= 1.0  # True
    ```
    """

    if distribute:  # the same run, every step data-parallel over the local devices
        arguments = {k: v for k, v in locals().items() if k != "distribute"}
        with data_parallel_scope():
            return train_classifier(**arguments)
    start, cpu_start = time.perf_counter(), time.process_time()
    for argument, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise checks.invalid(argument, value, f"{argument} >= 1")
    if output is not None and not str(output).endswith(".keras"):
        raise checks.invalid("output", output, "an output path ending in '.keras'")
    if output is not None:
        checks.check_output_path("output", output)  # before training, not after: no lost run
    if (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, (int, float))
        or not (0 < learning_rate < float("inf"))
    ):
        raise checks.invalid("learning_rate", learning_rate, "a positive float (default 2e-3)")
    checks.check_rate("label_smoothing", label_smoothing)
    overrides = dict(overrides or {})
    if "num_classes" in overrides:
        raise checks.invalid(
            "overrides",
            {"num_classes": overrides["num_classes"]},
            "no num_classes: the class count comes from the data",
        )
    if backup_dir is None and output is not None:
        backup_dir = f"{output}.backup"
    callbacks = training_callbacks(backup_dir or None, resume=resume, keep_backup=True)
    keras.utils.set_random_seed(seed)  # deterministic initialisation: resumable runs match
    spec = get_spec(model)
    check_overrides(spec, overrides)
    image_size = spec.image_size if image_size is None else image_size
    if image_size is not None:
        checks.check_image_size(image_size, argument="image_size")
    if weights is not None and not str(weights).startswith(("hf://", "timm/")):
        if not os.path.exists(weights):
            raise checks.invalid("weights", weights, "an existing .keras or .weights.h5 file")
    train, val, class_names = _load(data, image_size, num_images, batch_size, seed)
    net = create_model(
        model,
        weights=weights,
        num_classes=len(class_names),
        image_size=image_size,
        **overrides,
    )
    mean, std = normalization_constants(net)
    if isinstance(train, tuple):
        x, y = _normalize(train[0], mean, std), train[1]
        batches = augmented_batches(x, y, batch_size, seed, augment)
        fit_args = dict(x=batches, shuffle=False)  # shuffled by `batches`, per epoch
        # Epoch e's batches depend only on e, also when BackupAndRestore resumes at epoch e.
        callbacks.append(
            keras.callbacks.LambdaCallback(
                on_epoch_begin=lambda epoch, logs: setattr(batches, "epoch", epoch)
            )
        )
        validation = (_normalize(val[0], mean, std), val[1])
        steps_per_epoch = -(-len(x) // batch_size)
    else:
        mean, std = np.float32(mean), np.float32(std)
        train = train.map(lambda x, y: ((x - mean) / std, y))
        validation = val.map(lambda x, y: ((x - mean) / std, y))
        fit_args = dict(x=train, shuffle=False)
        steps_per_epoch = int(train.cardinality())
    total = max(epochs * steps_per_epoch, 1)
    warmup = min(warmup_epochs * steps_per_epoch, total // 2)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else learning_rate,
        decay_steps=total - warmup,
        warmup_target=learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=weight_decay)
    # As DeiT (timm): no weight decay on biases, norms, tokens and position tables.
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    net.compile(
        optimizer=optimizer,
        loss=classification_loss(len(class_names), label_smoothing),
        metrics=["accuracy"],
    )
    if verbose:
        print(
            f"{model}: {count_params(net):,} parameters, {len(class_names)} classes, "
            f"{image_size} px"
        )
    history = net.fit(
        **fit_args, epochs=epochs, validation_data=validation, verbose=verbose, callbacks=callbacks
    )
    if isinstance(validation, tuple):
        results = net.evaluate(*validation, batch_size=batch_size, verbose=0, return_dict=True)
        num_val = len(validation[1])
    else:
        results = net.evaluate(validation, verbose=0, return_dict=True)
        num_val = sum(int(b[1].shape[0]) for b in validation)
    if output is not None:
        # A temporary file renamed into place: a kill while saving never truncates a good file.
        from keras_vt.convert.hub import save_atomic

        save_atomic(net, output)
    remove_backup(backup_dir or None)
    return {
        "model": net,
        "history": history.history,
        "val_accuracy": float(results["accuracy"]),
        "num_classes": len(class_names),
        "val_images": num_val,
        "output": output,
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
    }


@keras.saving.register_keras_serializable(package="keras_vt")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy on logits against integer labels, with label smoothing.

    Keras' sparse loss has no label smoothing; this one-hot encodes the labels inside the loss
    and smooths them, `(1 - label_smoothing) * one_hot + label_smoothing / num_classes`, as DeiT
    (timm's `LabelSmoothingCrossEntropy`). Serialisable, so compiled models save and load.

    Example:

    >>> loss = SparseSmoothedCrossentropy(3, label_smoothing=0.1)
    >>> round(float(loss(np.array([0]), np.array([[10.0, 0.0, 0.0]]))), 3)
    0.667
    """

    def __init__(self, num_classes, label_smoothing=0.1, name="sparse_smoothed_crossentropy", **kw):
        super().__init__(name=name, **kw)
        self.num_classes = int(num_classes)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        from keras import ops

        labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        targets = ops.one_hot(labels, self.num_classes, dtype=y_pred.dtype)
        targets = targets * (1.0 - self.label_smoothing) + self.label_smoothing / self.num_classes
        return keras.losses.categorical_crossentropy(targets, y_pred, from_logits=True)

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, label_smoothing=self.label_smoothing)
        return config


def classification_loss(num_classes, label_smoothing=0.0):
    """Sparse cross-entropy on logits; `SparseSmoothedCrossentropy` with label smoothing.

    Example:

    >>> classification_loss(3, label_smoothing=0.1).label_smoothing
    0.1
    """
    if not label_smoothing:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return SparseSmoothedCrossentropy(num_classes, label_smoothing)
