"""Trains a tiny model for a few steps, on one device or data-parallel on two virtual CPU
devices, and writes the final weights and losses to an .npz file (run by tests/test_distribute.py).

Usage: python distributed_fit.py BACKEND {single,parallel} {classifier,distiller,clip,mmt,train} OUT.npz
"""

import os
import sys

backend, mode, task, out = sys.argv[1:5]
os.environ["KERAS_BACKEND"] = backend
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if mode == "parallel" and backend == "jax":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import keras  # noqa: E402
import numpy as np  # noqa: E402

if mode == "parallel" and backend == "tensorflow":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras_vt  # noqa: E402
from keras_vt.training.distribute import data_parallel  # noqa: E402

GLOBAL_BATCH, STEPS = 8, 3
if task == "train":  # train_classifier (keras-vt train), with distribute=True on 2 devices
    keras.utils.set_random_seed(0)
    config = dict(num_classes=10, image_size=16, depth=1)
    initial = keras_vt.create_model("vit_mini_patch4_32", **config).trainable_weights
    initial = {f"i{i}": keras.ops.convert_to_numpy(w) for i, w in enumerate(initial)}
    result = keras_vt.training.train_classifier(
        "vit_mini_patch4_32",
        image_size=16,
        epochs=1,
        batch_size=GLOBAL_BATCH,
        num_images=GLOBAL_BATCH * STEPS,
        warmup_epochs=0,
        overrides={"depth": 1},
        verbose=0,
        distribute=mode == "parallel",
    )
    weights = result["model"].trainable_weights
    weights = {f"w{i}": keras.ops.convert_to_numpy(w) for i, w in enumerate(weights)}
    np.savez(out, loss=np.asarray(result["history"]["loss"]), **weights, **initial)
    sys.exit(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(GLOBAL_BATCH * STEPS, 32, 32, 3)).astype("float32")
y = rng.integers(0, 4, size=(GLOBAL_BATCH * STEPS,))
if task == "mmt":  # clips and captions; the ranking loss needs the whole batch
    inputs, captions = keras_vt.data.make_video_captions(GLOBAL_BATCH * STEPS, seed=0)
    ids = keras_vt.data.VideoCaptionTokenizer(keras_vt.models.mmt.TINY["context_length"])(captions)
    x, y = {**inputs, "caption_ids": ids}, None
if task == "clip":  # (images, token ids) pairs; the contrastive loss needs the whole batch
    x = (x, rng.integers(1, 64, size=(GLOBAL_BATCH * STEPS, 16)).astype("int32"))
    y = None


def build():
    keras.utils.set_random_seed(0)
    student = keras_vt.create_model(
        "deit_tiny_distilled_patch16_224" if task == "distiller" else "vit_tiny_patch16_224",
        tiny=True,
        num_classes=4,
    )
    optimizer = keras.optimizers.SGD(0.1)
    if task in ("clip", "mmt"):
        keras.utils.set_random_seed(0)
        # MMT without dropout: TF's replicas draw their own dropout masks, so with it the
        # two runs could not match for a reason that has nothing to do with the ranking loss.
        extra = {"dropout": 0.0} if task == "mmt" else {}
        name = "clip_vit_b32" if task == "clip" else "mmt_tiny"
        model = keras_vt.create_model(name, tiny=True, **extra)
        model.compile(optimizer=optimizer)
        return model, model
    if task == "distiller":
        keras.utils.set_random_seed(1)
        teacher = keras_vt.create_model("resnet18", tiny=True, num_classes=4, image_size=32)
        model = keras_vt.training.Distiller(student, teacher, mode="hard", alpha=0.5)
        model.compile(optimizer=optimizer)
    else:
        model = student
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    return model, student


scope = None
if mode == "parallel":
    strategy = data_parallel()
    if backend == "tensorflow":
        assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
        scope = strategy.scope()
    else:
        assert len(strategy.device_mesh.devices.flatten()) == 2
if scope is not None:
    with scope:
        model, student = build()
else:
    model, student = build()
initial = {f"i{i}": keras.ops.convert_to_numpy(w) for i, w in enumerate(student.trainable_weights)}
history = model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=1, shuffle=False, verbose=0)
weights = {f"w{i}": keras.ops.convert_to_numpy(w) for i, w in enumerate(student.trainable_weights)}
np.savez(out, loss=np.asarray(history.history["loss"]), **weights, **initial)
