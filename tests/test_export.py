"""SavedModel export: reloaded in a fresh Python process that imports only TensorFlow.

One model per registered image family (tiny configuration), a backbone without head, models
with a dynamic input size and a text tower go through `export_saved_model`; a subprocess that
never imports keras_vt serves raw uint8 images (and strings) and its outputs must match the Keras
model applied to the same preprocessing to 1e-5. Runs on the TensorFlow and JAX backends; on
PyTorch the export must refuse with a message that says to switch.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_vt
from keras_vt.export import (
    add_text_endpoint,
    export_saved_model,
    export_towers,
    serving_preprocess,
)

from model_case import CASES

BACKEND = keras.backend.backend()
needs_tf_or_jax = pytest.mark.skipif(
    BACKEND not in ("tensorflow", "jax"), reason="SavedModel export needs TensorFlow or JAX"
)
ATOL = 1e-5


def image_families():
    """One registered name per image family (CLIP, MMT and other non-image cases excluded)."""
    first = {}
    for name in keras_vt.list_models():
        spec = keras_vt.models.get_spec(name)
        if spec.family not in CASES:
            first.setdefault(spec.family, name)
    return sorted(first.values())


def raw_images(height, width, batch=2, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (batch, height, width, 3), dtype="uint8")


SERVE = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    jobs = json.load(open(sys.argv[1]))
    if any(job.get("tensorflow_text") for job in jobs.values()):
        import tensorflow_text  # noqa: F401  (registers the tokenizer ops)
    results = {}
    for name, job in jobs.items():
        served = tf.saved_model.load(job["path"])
        signature = served.signatures[job["signature"]]
        out = signature(tf.constant(np.load(job["inputs"]), dtype=job["dtype"]))
        for key, value in out.items():
            results[f"{name}/{key}"] = value.numpy()
    assert "keras_vt" not in sys.modules, "the serving process must not need keras_vt"
    np.savez(sys.argv[2], **results)
    """
)


def serve_in_fresh_process(tmp_path, jobs):
    """Runs each job's SavedModel signature in a new Python that imports only TensorFlow."""
    for name, job in jobs.items():
        path = str(tmp_path / f"{name}_inputs.npy")
        np.save(path, job.pop("array"))
        job["inputs"] = path
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    (tmp_path / "serve.py").write_text(SERVE)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [
            sys.executable,
            str(tmp_path / "serve.py"),
            str(tmp_path / "jobs.json"),
            str(tmp_path / "out.npz"),
        ],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(np.load(tmp_path / "out.npz"))


def expected_output(model, images, probabilities=True):
    """The Keras model on the same in-graph preprocessing, computed eagerly here."""
    from keras_vt.export.saved_model import target_size
    from keras_vt.preprocessing import normalization_constants

    mean, std = normalization_constants(model)
    x = np.asarray(serving_preprocess(images, target_size(model), mean, std))
    out = np.asarray(keras.ops.convert_to_numpy(model(x, training=False)), "float64")
    if probabilities:
        out = np.exp(out - out.max(-1, keepdims=True))
        out /= out.sum(-1, keepdims=True)
    return out


class DynamicSizeModel(keras.Model):
    """A model whose input size is not fixed (as CPVT and CvT), optionally with an image_size."""

    normalization = "imagenet"

    def __init__(self, image_size=None, **kwargs):
        images = keras.Input((None, None, 3))
        x = keras.layers.Conv2D(8, 3, strides=2)(images)
        x = keras.layers.GlobalAveragePooling2D()(x)
        super().__init__(images, keras.layers.Dense(4)(x), **kwargs)
        self.image_size = image_size
        self.include_top, self.num_classes = True, 4


@needs_tf_or_jax
def test_exported_models_serve_raw_images_without_keras_vt(tmp_path):
    cases, jobs = {}, {}
    images = raw_images(45, 37)
    for name in image_families():
        cases[name] = keras_vt.create_model(name, tiny=True, num_classes=5)
    vit = image_families()[0]
    cases["backbone"] = keras_vt.create_model(vit, tiny=True, include_top=False)
    cases["dynamic_resized"] = DynamicSizeModel(image_size=24)
    cases["dynamic_any_size"] = DynamicSizeModel()
    for key, model in cases.items():
        path = export_saved_model(model, str(tmp_path / key))
        jobs[key] = dict(path=path, signature="serve", array=images, dtype="uint8")
    at_size = raw_images(cases[vit].image_size, cases[vit].image_size, seed=1)  # no resize
    jobs["at_size"] = dict(
        path=str(tmp_path / vit), signature="serving_default", array=at_size, dtype="uint8"
    )
    served = serve_in_fresh_process(tmp_path, jobs)

    for key, model in cases.items():
        output = "embeddings" if key == "backbone" else "probabilities"
        np.testing.assert_allclose(
            served[f"{key}/{output}"],
            expected_output(model, images, probabilities=output == "probabilities"),
            atol=ATOL,
            err_msg=key,
        )
    np.testing.assert_allclose(
        served["at_size/probabilities"], expected_output(cases[vit], at_size), atol=ATOL
    )


@pytest.mark.skipif(BACKEND != "tensorflow", reason="keras_vt.preprocess uses TF ops only here")
def test_serving_preprocess_is_keras_vt_preprocess():
    model = keras_vt.create_model(image_families()[0], tiny=True)
    mean, std = keras_vt.preprocessing.normalization_constants(model)
    for shape in ((2, 45, 37), (2, model.image_size, model.image_size)):
        images = raw_images(*shape[1:])
        np.testing.assert_allclose(
            np.asarray(serving_preprocess(images, (model.image_size,) * 2, mean, std)),
            np.asarray(keras_vt.preprocess(images, model)),
            atol=1e-6,
        )


@needs_tf_or_jax
def test_serving_preprocess_matches_an_independent_reference():
    """Against numpy normalisation of the backend's own `keras.ops.image.resize` (bicubic,
    antialiased): on JAX that is jax.image's resize, not the TensorFlow ops the serving graph
    uses, so the export's preprocessing is checked against something other than itself. Measured
    on JAX: 3e-6 downsizing, 1.4e-5 upsizing (normalised units), 0 at the model's size."""
    mean = np.array([0.48, 0.46, 0.41], "float32")
    std = np.array([0.27, 0.26, 0.28], "float32")
    for shape in ((45, 37), (20, 28), (32, 32)):
        images = raw_images(*shape, seed=shape[0])
        got = np.asarray(serving_preprocess(images, (32, 32), mean, std))
        x = images.astype("float32") / 255.0
        if shape != (32, 32):
            x = keras.ops.image.resize(x, (32, 32), interpolation="bicubic", antialias=True)
        want = (np.asarray(keras.ops.convert_to_numpy(x)) - mean) / std
        np.testing.assert_allclose(got, want, atol=1e-4, err_msg=str(shape))
    # Without a target size the images keep their size and are only normalised.
    images = raw_images(45, 37)
    np.testing.assert_allclose(
        np.asarray(serving_preprocess(images, None, mean, std)),
        (images.astype("float32") / 255.0 - mean) / std,
        atol=1e-6,
    )


@needs_tf_or_jax
def test_text_endpoint_serves_raw_strings(tmp_path):
    """The hook for text towers: a tokenizer with a vocabulary table, saved with the archive."""
    import tensorflow as tf

    class WordTokenizer(tf.Module):
        def __init__(self, vocab, length):
            super().__init__()
            self.length = length
            self.table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(vocab, tf.range(1, len(vocab) + 1)), 0
            )

        def __call__(self, text):
            words = tf.strings.split(tf.strings.lower(text))
            ids = tf.ragged.map_flat_values(self.table.lookup, words)
            return ids[:, : self.length].to_tensor(0, shape=(None, self.length))

    vocab = ["a", "photo", "of", "cat", "dog"]
    tokenizer = WordTokenizer(vocab, length=6)
    encoder = keras.Sequential(
        [
            keras.Input((6,), dtype="int32"),
            keras.layers.Embedding(8, 4),
            keras.layers.GlobalAveragePooling1D(),
        ]
    )
    archive = keras.export.ExportArchive()
    archive.track(encoder)
    add_text_endpoint(archive, encoder, tokenizer, context_length=6)
    archive.write_out(str(tmp_path / "text"), verbose=False)

    text = np.array([b"a photo of a cat", b"A DOG", b"unknown words"])
    served = serve_in_fresh_process(
        tmp_path,
        {
            "text": dict(
                path=str(tmp_path / "text"), signature="serve_text", array=text, dtype="string"
            )
        },
    )
    ids = np.array([[1, 2, 3, 1, 4, 0], [1, 5, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], "int32")
    expected = keras.ops.convert_to_numpy(encoder(ids))
    np.testing.assert_allclose(served["text/embeddings"], expected, atol=ATOL)


@pytest.mark.skipif(BACKEND != "torch", reason="the PyTorch backend refuses to export")
def test_torch_backend_says_to_switch(tmp_path):
    model = keras_vt.create_model(image_families()[0], tiny=True)
    with pytest.raises(ValueError, match="KERAS_BACKEND=tensorflow"):
        export_saved_model(model, str(tmp_path / "model"))


def test_bad_arguments(tmp_path):
    model = keras_vt.create_model(image_families()[0], tiny=True)
    if BACKEND in ("tensorflow", "jax"):
        with pytest.raises(ValueError, match="activation='relu'"):
            export_saved_model(model, str(tmp_path / "model"), activation="relu")
    with pytest.raises(ValueError, match="not found"):
        keras_vt.export.export(str(tmp_path / "missing.keras"), str(tmp_path / "out"))
    with pytest.raises(ValueError, match="Unknown model name"):
        keras_vt.export.export("vit_nonexistent", str(tmp_path / "out"))


@needs_tf_or_jax
def test_cli_export(tmp_path):
    from keras_vt.cli import main

    source = str(tmp_path / "model.keras")
    keras_vt.create_model(image_families()[0], tiny=True, num_classes=3).save(source)
    assert main(["export", source, str(tmp_path / "served")]) == 0
    assert os.path.isfile(tmp_path / "served" / "saved_model.pb")
    assert main(["export", "vit_nonexistent", str(tmp_path / "other")]) == 2


@needs_tf_or_jax
def test_clip_serves_images_and_raw_text(tmp_path):
    """CLIP: `serve` gives encode_image's embeddings, `serve_text` tokenises strings in the graph."""
    from keras_vt.text import train_caption_tokenizer

    captions = ["a red circle", "two blue squares", "a small green star on the left"]
    tokenizer = train_caption_tokenizer(captions * 4, vocabulary_size=64, context_length=32)
    clip = keras_vt.create_model(
        "clip_vit_tiny_patch8_64",
        tiny=True,
        vocabulary_size=tokenizer.vocabulary_size,
        context_length=tokenizer.context_length,
    )
    export_saved_model(clip, str(tmp_path / "clip"), tokenizer=tokenizer)
    image_path, text_path = export_towers(clip, str(tmp_path / "towers"), tokenizer)
    images = raw_images(50, 70)
    texts = np.array([c.encode() for c in captions])
    text_call = dict(array=texts, dtype="string", tensorflow_text=True)
    served = serve_in_fresh_process(
        tmp_path,
        {
            "image": dict(
                path=str(tmp_path / "clip"), signature="serve", array=images, dtype="uint8"
            ),
            "text": dict(path=str(tmp_path / "clip"), signature="serve_text", **text_call),
            "image_tower": dict(path=image_path, signature="serve", array=images, dtype="uint8"),
            "text_tower": dict(path=text_path, signature="serve", **text_call),
        },
    )
    from keras_vt.preprocessing import normalization_constants

    mean, std = normalization_constants(clip)
    x = np.asarray(serving_preprocess(images, (clip.image_size,) * 2, mean, std))
    np.testing.assert_allclose(
        served["image/embeddings"], keras.ops.convert_to_numpy(clip.encode_image(x)), atol=ATOL
    )
    ids = np.asarray(tokenizer(list(captions)))
    text_embeddings = keras.ops.convert_to_numpy(clip.encode_text(ids))
    np.testing.assert_allclose(served["text/embeddings"], text_embeddings, atol=ATOL)
    np.testing.assert_allclose(
        served["image_tower/embeddings"], served["image/embeddings"], atol=ATOL
    )
    np.testing.assert_allclose(served["text_tower/embeddings"], text_embeddings, atol=ATOL)


@needs_tf_or_jax
def test_export_towers_refuses_a_one_tower_model(tmp_path):
    model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True)
    with pytest.raises(ValueError, match="image_encoder.*text_encoder"):
        export_towers(model, str(tmp_path / "x"), tokenizer=None)
