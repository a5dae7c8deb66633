"""Data-parallel training on the engines Keras already has: `keras.distribution` (JAX) and
`tf.distribute` (TensorFlow). Nothing home-made: these helpers only pick and set them up.

Recipe (JAX, all local devices; on one host with N accelerators, or N virtual CPU devices from
`XLA_FLAGS=--xla_force_host_platform_device_count=N` set before JAX is imported):

```python
import keras, keras_vt
keras_vt.training.distribute.data_parallel()            # keras.distribution.DataParallel
model = keras_vt.create_model("vit_tiny_patch16_224", num_classes=10, image_size=32)
model.compile(...); model.fit(x, y, batch_size=64)       # 64 = the global batch
```

TensorFlow: `strategy = keras_vt.training.distribute.data_parallel()` returns a
`tf.distribute.MirroredStrategy`; build and compile the model inside `with strategy.scope():`.
Multi-host: JAX `jax.distributed.initialize()` on every host before `data_parallel()`; TensorFlow
`tf.distribute.MultiWorkerMirroredStrategy()` with `TF_CONFIG` set on each worker.

keras_vt's own `compute_loss` overrides (Distiller, CLIP, MMT) divide their loss by the replica
count under `tf.distribute` (`keras_vt.losses.scale_for_replicas`), as Keras' built-in losses do,
and CLIP's and MMT's in-batch losses gather every replica's embeddings first
(`keras_vt.losses.gather_replicas`), so a step on N replicas equals a step on one device with the
global batch. `data_parallel_scope()` wraps both engines in one `with` block (what
`keras-vt train --distribute` uses); `model_parallel()` shards ViT-H/14 and CLIP ViT-L/14 weights.
"""

import contextlib

import keras

from keras_vt import checks


def data_parallel(devices=None):
    """Sets up data parallelism over `devices` (default: every local device) for this backend.

    Returns the `keras.distribution.DataParallel` it set globally (JAX), or the
    `tf.distribute.MirroredStrategy` to open a scope with (TensorFlow). Raises a `ValueError` on
    PyTorch, where Keras offers no data-parallel `fit`.

    Example:

    ```python
    strategy = keras_vt.training.distribute.data_parallel()   # TensorFlow
    with strategy.scope():
        model = keras_vt.create_model("vit_tiny_patch16_224", num_classes=10, image_size=32)
        model.compile(optimizer="adamw", loss="sparse_categorical_crossentropy")
    ```
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        devices = list(devices) if devices is not None else jax.devices()
        distribution = keras.distribution.DataParallel(devices=devices)
        keras.distribution.set_distribution(distribution)
        return distribution
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy(devices)
    raise ValueError(
        f"Data-parallel fit needs the JAX or TensorFlow backend, got KERAS_BACKEND={backend!r}: "
        "Keras has no data-parallel trainer for PyTorch."
    )


@contextlib.contextmanager
def data_parallel_scope(devices=None):
    """Builds, compiles and fits inside it run data-parallel (`data_parallel`), for this backend.

    On JAX the `keras.distribution.DataParallel` is set for the duration of the block and the
    previous distribution restored after it; on TensorFlow the block is the
    `tf.distribute.MirroredStrategy`'s scope. `keras-vt train --distribute` trains inside it.

    Example:

    ```python
    with keras_vt.training.distribute.data_parallel_scope():
        model = keras_vt.create_model("vit_tiny_patch16_224", num_classes=10, image_size=32)
        model.compile(optimizer="adamw", loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=64)                     # 64 = the global batch
    ```
    """
    previous = keras.distribution.distribution()
    distribution = data_parallel(devices)
    try:
        if keras.backend.backend() == "tensorflow":
            with distribution.scope():
                yield distribution
        else:
            yield distribution
    finally:
        if keras.backend.backend() == "jax":
            keras.distribution.set_distribution(previous)


# Megatron-style tensor parallelism of a ViT / CLIP transformer: the attention's qkv and the MLP's
# first layer split their output features over the "model" axis, the attention's output
# projection and the MLP's second layer their input features, so each block needs one reduction
# per half. Patch embedding, class head, CLIP projections and token table are split too.
# Keys are regexes matched (re.match: from the start) against `variable.path`, e.g.
# "block3/attention/qkv/kernel"; each path matches at most one.
VIT_LAYOUT = {
    r".*patch_embed/projection/kernel$": (None, None, None, "model"),
    r".*patch_embed/projection/bias$": ("model",),
    r".*attention/qkv/kernel$": (None, "model"),
    r".*attention/qkv/bias$": ("model",),
    r".*attention/proj/kernel$": ("model", None),
    r".*mlp/fc1/kernel$": (None, "model"),
    r".*mlp/fc1/bias$": ("model",),
    r".*mlp/fc2/kernel$": ("model", None),
    r"^head/kernel$": (None, "model"),
    r"^proj/kernel$": (None, "model"),  # CLIP's image and text projections
    r".*token_embedding/embeddings$": ("model", None),
}


def model_parallel(model_parallelism=2, devices=None):
    """A `keras.distribution.ModelParallel` for ViT (e.g. ViT-H/14) and CLIP ViT (e.g. CLIP
    ViT-L/14) models, too large to train with a full copy on every device (JAX).

    The devices form a (batch, model) mesh: `model_parallelism` devices share each weight
    (`VIT_LAYOUT`: qkv and MLP-in split by output, attention-out and MLP-out by input, as
    Megatron-LM), the rest replicate it and split the batch. Set it globally
    (`keras.distribution.set_distribution`) or build, compile and fit inside its `scope()`.
    Multi-host: `jax.distributed.initialize()` first; `devices` defaults to every device.

    Example:

    ```python
    distribution = keras_vt.training.distribute.model_parallel(model_parallelism=4)
    with distribution.scope():
        model = keras_vt.create_model("vit_huge_patch14_224", num_classes=1000)
        model.compile(optimizer="adamw", loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=64)
    ```
    """
    if keras.backend.backend() != "jax":
        raise ValueError(
            "Model-parallel training uses keras.distribution on JAX, got "
            f"KERAS_BACKEND={keras.backend.backend()!r}."
        )
    import jax

    devices = list(devices) if devices is not None else jax.devices()
    if (
        isinstance(model_parallelism, bool)
        or not isinstance(model_parallelism, int)
        or model_parallelism < 1
        or len(devices) % model_parallelism
    ):
        raise checks.invalid(
            "model_parallelism", model_parallelism, f"a divisor of the {len(devices)} devices"
        )
    mesh = keras.distribution.DeviceMesh(
        (len(devices) // model_parallelism, model_parallelism), ("batch", "model"), devices
    )
    layout_map = keras.distribution.LayoutMap(mesh)
    for key, axes in VIT_LAYOUT.items():
        layout_map[key] = axes
    return keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
