"""TensorFlow SavedModel export with serving signatures that take raw inputs.

TensorFlow-only: this module uses TensorFlow ops for the in-graph preprocessing and writes a
SavedModel through `keras.export.ExportArchive`. It works from the TensorFlow and JAX backends
(JAX models are converted with jax2tf); the PyTorch backend is not supported.

The written SavedModel needs nothing but TensorFlow to serve:

```python
import tensorflow as tf
served = tf.saved_model.load("exported/vit")
probabilities = served.serve(tf.io.decode_jpeg(tf.io.read_file("cat.jpg"))[None])["probabilities"]
```
"""

import os

import keras

from keras_vt import checks
from keras_vt.preprocessing import normalization_constants

SUPPORTED_BACKENDS = ("tensorflow", "jax")
ACTIVATIONS = ("softmax", None)


def _tf():
    import tensorflow as tf

    return tf


def backend_kwargs():
    """Serving needs no gradients; without them jax2tf also handles dynamic image sizes."""
    return {"jax2tf_kwargs": {"with_gradient": False}} if keras.backend.backend() == "jax" else {}


def check_backend():
    backend = keras.backend.backend()
    if backend not in SUPPORTED_BACKENDS:
        raise ValueError(
            f"SavedModel export needs the TensorFlow or JAX backend; the current backend is "
            f"{backend!r}. Switch with KERAS_BACKEND=tensorflow (or KERAS_BACKEND=jax) before "
            "importing keras, load the model there, and export again."
        )


def target_size(model):
    """The (height, width) the model's inputs are resized to, or None to keep any size."""
    size = getattr(model, "image_size", None)
    if size is None:
        shape = tuple(model.input_shape)[1:3] if hasattr(model, "input_shape") else (None, None)
        if None in shape:
            return None
        size = shape
    return (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)


def serving_preprocess(images, image_size, mean, std):
    """The in-graph preprocessing of the `serve` signature, in TensorFlow ops.

    uint8 pixels in [0, 255] -> [0, 1] -> bicubic resize with antialiasing to `image_size` (skipped
    when the images already have that size, as `keras_vt.preprocess` does) -> (x - mean) / std.

    Args:
        images: (batch, height, width, 3) uint8 tensor, any height and width.
        image_size: (height, width) to resize to, or None to keep the input size.
        mean, std: per-channel normalisation constants in [0, 1] units.

    Example:

    ```python
    mean, std = keras_vt.preprocessing.normalization_constants(model)
    x = serving_preprocess(tf.zeros((1, 300, 200, 3), tf.uint8), (224, 224), mean, std)
    ```
    """
    tf = _tf()
    x = tf.cast(images, tf.float32) / 255.0
    if image_size is not None:
        height, width = image_size
        same = tf.logical_and(tf.shape(x)[1] == height, tf.shape(x)[2] == width)
        x = tf.cond(
            same,
            lambda: x,
            lambda: tf.image.resize(x, (height, width), method="bicubic", antialias=True),
        )
        x = tf.ensure_shape(x, (None, height, width, 3))
    return (x - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)


def is_classifier(model):
    """True when `model` ends in a classification head (its outputs are logits)."""
    return bool(getattr(model, "include_top", False)) and getattr(model, "num_classes", None)


def add_image_endpoints(archive, model, activation="softmax", name="serve"):
    """Adds `{name}` (raw uint8 images) and `{name}_normalized` endpoints for `model`.

    `{name}_normalized` takes preprocessed float32 images at the model's size and returns the
    model's raw output (logits or embeddings); `{name}` takes uint8 images of any size, resizes and
    normalises them in the graph, and returns `{"probabilities": ...}` (classifiers with
    `activation="softmax"`), `{"logits": ...}` (`activation=None`) or `{"embeddings": ...}`
    (models without a head). Dual encoders (CLIP) are served through their `encode_image`.

    Returns:
        The `{name}` `tf.function`.
    """
    tf = _tf()
    if activation not in ACTIVATIONS:
        raise checks.unknown("activation", activation, ACTIVATIONS)
    size = target_size(model)
    mean, std = normalization_constants(model)
    spatial = size if size is not None else (None, None)
    archive.track(model)
    encode = getattr(model, "encode_image", None) or (lambda x: model(x, training=False))
    model_fn = archive.add_endpoint(
        f"{name}_normalized",
        lambda images: encode(images),
        input_signature=[keras.InputSpec(shape=(None, *spatial, 3), dtype="float32")],
        **backend_kwargs(),
    )
    if is_classifier(model):
        key = "probabilities" if activation == "softmax" else "logits"
    else:
        key = "embeddings"

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8, name="images")])
    def serve(images):
        outputs = model_fn(serving_preprocess(images, size, mean, std))
        if isinstance(outputs, (list, tuple, dict)):
            raise ValueError(
                f"Model {model.name!r} returns {type(outputs).__name__} outputs: expected one "
                "tensor (logits or embeddings) for an image serving signature."
            )
        outputs = tf.cast(outputs, tf.float32)
        if key == "probabilities":
            outputs = tf.nn.softmax(outputs, axis=-1)
        return {key: outputs}

    archive.add_endpoint(name, serve)
    return serve


def _trackables(obj, depth=3, seen=None):
    """TensorFlow trackables in `obj` or its attributes (a few levels down), outermost first."""
    tf = _tf()
    seen = set() if seen is None else seen
    if id(obj) in seen or depth < 0:
        return []
    seen.add(id(obj))
    if isinstance(obj, tf.__internal__.tracking.Trackable) and not isinstance(obj, keras.Layer):
        return [obj]
    found = []
    values = (
        list(obj) if isinstance(obj, (list, tuple)) else list(getattr(obj, "__dict__", {}).values())
    )
    for value in values:
        if not isinstance(value, (str, bytes, int, float, bool, type(None))):
            found.extend(_trackables(value, depth - 1, seen))
    return found


def text_functions(tokenizer, context_length, outputs):
    """Two `tf.function`s of a text encoder, both through `outputs(token_ids)`: one on raw strings
    (batch,), tokenized in the graph by `tokenizer`, and one on int32 token ids (batch,
    `context_length`)."""
    tf = _tf()

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="text")])
    def serve_text(text):
        return outputs(tokenizer(text))

    ids_spec = tf.TensorSpec((None, context_length), tf.int32, name="token_ids")

    @tf.function(input_signature=[ids_spec])
    def serve_ids(token_ids):
        return outputs(token_ids)

    return serve_text, serve_ids


def add_text_endpoint(archive, encode_text, tokenizer, context_length, name="serve_text"):
    """Adds `{name}`: raw strings (batch,) -> `{"embeddings": encode_text(tokenizer(strings))}`.

    The hook for text towers (CLIP): `tokenizer` turns a `tf.string` tensor of shape (batch,) into
    int token ids of shape (batch, context_length) with TensorFlow ops only (for instance a
    keras_vt.text tokenizer built on tensorflow-text). The TensorFlow resources it holds (vocabulary
    tables, tf.Modules), itself or in its attributes, are tracked so that the SavedModel carries
    them. `encode_text` maps ids to embeddings with the variables of a model already tracked by
    `archive`. Serving a tensorflow-text tokenizer needs `import tensorflow_text` in the serving
    process (it registers the ops).

    Also adds `{name}_ids`, taking the token ids directly.

    Example:

    ```python
    archive = keras.export.ExportArchive()
    archive.track(clip)
    add_text_endpoint(archive, clip.encode_text, tokenizer, clip.context_length)
    ```
    """
    tf = _tf()
    for resource in _trackables(tokenizer):
        archive.track(resource)
    ids_fn = archive.add_endpoint(
        f"{name}_ids",
        lambda token_ids: encode_text(token_ids),
        input_signature=[keras.InputSpec(shape=(None, int(context_length)), dtype="int32")],
        **backend_kwargs(),
    )

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="text")])
    def serve_text(text):
        ids = tf.cast(tokenizer(text), tf.int32)
        ids = tf.ensure_shape(ids, (None, int(context_length)))
        return {"embeddings": tf.cast(ids_fn(ids), tf.float32)}

    archive.add_endpoint(name, serve_text)
    return serve_text


def export_saved_model(model, path, activation="softmax", tokenizer=None, verbose=False):
    """Writes `model` as a TensorFlow SavedModel whose `serve` signature takes raw images.

    TensorFlow-only (uses TensorFlow ops); works from the TensorFlow and JAX backends.

    Signatures:
        `serve` (also `serving_default`): `images`, uint8 (batch, height, width, 3) of any size
            -> resized (bicubic, antialiased) to the model's `image_size` and normalised with its
            own constants (`keras_vt.preprocessing.normalization_constants(model)`) in the graph
            -> `{"probabilities": (batch, classes)}` for classifiers (`{"logits": ...}` with
            `activation=None`), `{"embeddings": (batch, dim)}` for models without a head.
        `serve_normalized`: float32 images already preprocessed, at the model's size -> the
            model's raw output (logits or embeddings).
        `serve_text` and `serve_text_ids`, for models with a text tower (`encode_text`, e.g. CLIP)
            when a `tokenizer` is given: raw strings (batch,) -> `{"embeddings": ...}`; the image
            signatures then return `encode_image`'s embeddings.

    Args:
        model: a keras_vt image model (any registered image family), built.
        path: directory to write the SavedModel to.
        activation: "softmax" (probabilities) or None (logits) for classifiers.
        tokenizer: for text towers, a TensorFlow tokenizer, strings (batch,) -> ids (batch,
            context_length), saved inside the SavedModel (see `add_text_endpoint`).
        verbose: print the endpoints, as `ExportArchive.write_out` does.

    Returns:
        `path`.

    Example:

    ```python
    model = keras_vt.create_model("vit_tiny_patch16_224", num_classes=10)
    keras_vt.export.export_saved_model(model, "exported/vit_tiny")
    served = tf.saved_model.load("exported/vit_tiny")
    served.serve(tf.zeros((1, 300, 200, 3), tf.uint8))["probabilities"].shape  # TensorShape([1, 10])
    ```
    """
    check_backend()
    if not isinstance(model, keras.Model):
        raise checks.invalid(
            "model", model, "a keras.Model", problem=f"model of type {type(model).__name__}"
        )
    archive = keras.export.ExportArchive()
    serve = add_image_endpoints(archive, model, activation=activation)
    archive.add_endpoint("serving_default", serve)
    if tokenizer is not None:
        if not hasattr(model, "encode_text"):
            raise ValueError(
                f"tokenizer given but model {model.name!r} ({type(model).__name__}) has no text "
                "tower: expected a model with encode_text (e.g. CLIP)."
            )
        add_text_endpoint(archive, model.encode_text, tokenizer, model.context_length)
    path = os.fspath(path)
    archive.write_out(path, verbose=verbose)
    return path


def export_towers(model, path, tokenizer, verbose=False):
    """Writes a two-tower model (CLIP) as two SavedModels: `path/image` and `path/text`.

    The image SavedModel is `export_saved_model(model.image_encoder, ...)`: `serve` takes raw
    uint8 images of any size and returns `{"embeddings": ...}`, the tower's projected,
    unnormalised features (`model.encode_image`). The text SavedModel's `serve` (also
    `serving_default`) takes raw strings (batch,), tokenises them in the graph with `tokenizer`
    (carried inside the SavedModel) and returns `{"embeddings": ...}` (`model.encode_text`);
    `serve_ids` takes token ids. Each tower can be deployed alone (an image index built offline,
    a text query encoder online). Serving the text tower needs `import tensorflow_text` when the
    tokenizer uses tensorflow-text ops. TensorFlow and JAX backends only.

    Example:

    ```python
    image_path, text_path = keras_vt.export.export_towers(clip, "exported/clip", tokenizer)
    text = tf.saved_model.load(text_path)
    text.serve(tf.constant(["a red circle"]))["embeddings"].shape  # TensorShape([1, 128])
    ```

    Returns:
        `(image_path, text_path)`.
    """
    check_backend()
    for tower in ("image_encoder", "text_encoder"):
        if not isinstance(getattr(model, tower, None), keras.Model):
            raise ValueError(
                f"Expected a two-tower model with `image_encoder` and `text_encoder` (e.g. CLIP), "
                f"got model {getattr(model, 'name', model)!r} of type {type(model).__name__} "
                f"without `{tower}`."
            )
    path = os.fspath(path)
    image_path = export_saved_model(
        model.image_encoder, os.path.join(path, "image"), verbose=verbose
    )
    text_path = os.path.join(path, "text")
    archive = keras.export.ExportArchive()
    archive.track(model.text_encoder)
    serve = add_text_endpoint(
        archive, model.encode_text, tokenizer, model.context_length, name="serve"
    )
    archive.add_endpoint("serving_default", serve)
    archive.write_out(text_path, verbose=verbose)
    return image_path, text_path


def export(model_or_file, path, tiny=False, activation="softmax", verbose=False, **overrides):
    """The `keras-vt export MODEL_OR_FILE PATH` entry point.

    Args:
        model_or_file: a registered model name (built with random weights unless overridden, e.g.
            for a smoke test of the serving stack), or a `.keras` file (e.g. written by
            `keras-vt convert` or after fine-tuning).
        path: directory of the SavedModel.
        tiny: with a model name, build the family's small test configuration.
        **overrides: with a model name, constructor arguments (`num_classes`, `image_size`, ...).

    Example:

    ```python
    keras_vt.export.export("vit-base.keras", "exported/vit-base")
    ```
    """
    if activation not in ACTIVATIONS:
        raise checks.invalid("activation", activation, f"one of {ACTIVATIONS}")
    checks.check_output_path("path", path)
    if isinstance(model_or_file, keras.Model):
        model = model_or_file
    elif os.fspath(model_or_file).endswith(".keras"):
        if not os.path.isfile(model_or_file):
            raise checks.invalid(
                "model",
                model_or_file,
                "an existing .keras file or a registered model name",
                f"model={model_or_file!r} not found",
            )
        if overrides or tiny:
            raise ValueError(
                "Overrides and tiny apply to registered model names, not to a .keras file: "
                f"got {sorted(overrides) + (['tiny'] if tiny else [])}."
            )
        import keras_vt  # noqa: F401  (registers the serialisable classes)

        model = keras.saving.load_model(model_or_file, compile=False)
    else:
        from keras_vt.models import create_model

        model = create_model(model_or_file, tiny=tiny, **overrides)
    return export_saved_model(model, path, activation=activation, verbose=verbose)
