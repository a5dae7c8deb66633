"""The shared test base: every registered model goes through the same checks.

Families whose models are not plain image classifiers (CLIP, MMT) register a `ModelCase`
subclass in `CASES` that says how to make inputs and a loss; everything else is shared.
"""

import math
import os
import tempfile

import keras
import numpy as np

import keras_vt
from keras_vt.layers import MultiHeadSelfAttention


class ModelCase:
    """How the shared checks feed and score an image classifier."""

    def __init__(self, spec):
        self.spec = spec

    def build(self, **overrides):
        return keras_vt.create_model(self.spec.name, tiny=True, **overrides)

    def image_size(self, model):
        size = getattr(model, "image_size", None) or 32
        return (size, size) if isinstance(size, int) else tuple(size)

    def inputs(self, model, batch=2, seed=0):
        h, w = self.image_size(model)
        return np.random.default_rng(seed).normal(size=(batch, h, w, 3)).astype("float32")

    def targets(self, model, batch=2, seed=0):
        return np.random.default_rng(seed + 1).integers(0, model.num_classes, size=(batch,))

    def output(self, model, x, training=False):
        out = model(x, training=training)
        return out[0] if isinstance(out, (list, tuple)) else out

    def loss(self, model, x, y):
        logits = self.output(model, x, training=True)
        return keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)

    def compile(self, model):
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )

    def fit(self, model, x, y):
        model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)


class ClipCase(ModelCase):
    """CLIP: inputs are (images, token_ids) pairs, no targets, the contrastive loss.

    `num_classes` of the shared checks sets the embedding width; the checked output is the sum
    of the image and the text embeddings, so that every check covers both towers.
    """

    def build(self, num_classes=None, **overrides):
        if num_classes is not None:
            overrides["embed_dim"] = num_classes
        return keras_vt.create_model(self.spec.name, tiny=True, **overrides)

    def inputs(self, model, batch=2, seed=0):
        images = super().inputs(model, batch, seed)
        rng = np.random.default_rng(seed + 2)
        ids = rng.integers(0, model.vocabulary_size, size=(batch, model.context_length))
        return images, ids.astype("int32")

    def targets(self, model, batch=2, seed=0):
        return None

    def output(self, model, x, training=False):
        out = model(x, training=training)
        return out["image_embeddings"] + out["text_embeddings"]

    def loss(self, model, x, y):
        out = model(x, training=True)
        logits = model.similarity(out["image_embeddings"], out["text_embeddings"])
        return keras_vt.training.clip_loss(logits)

    def compile(self, model):
        # The contrastive loss starts sharp (scale 1/0.07 on random embeddings of width 5): a
        # smaller Adam step than the classifiers' 1e-3 keeps one step a descent step.
        model.compile(optimizer=keras.optimizers.Adam(1e-4))

    def fit(self, model, x, y):
        model.fit(x, batch_size=len(x[0]), epochs=1, verbose=0)


class BertCase(ModelCase):
    """A text encoder: dict inputs, dict outputs; the checked output is the pooled [CLS] vector
    (its first `num_classes` entries) and the loss a regression of it on random targets."""

    def build(self, num_classes=None, **overrides):
        self.width = num_classes
        return keras_vt.create_model(self.spec.name, tiny=True, **overrides)

    def inputs(self, model, batch=2, seed=0):
        rng = np.random.default_rng(seed)
        ids = rng.integers(0, model.vocabulary_size, size=(batch, 7)).astype("int32")
        mask = np.ones((batch, 7), bool)
        mask[0, 5:] = False
        segments = (np.arange(7)[None] >= 4).astype("int32").repeat(batch, 0)
        return {"token_ids": ids, "segment_ids": segments, "padding_mask": mask}

    def targets(self, model, batch=2, seed=0):
        return np.random.default_rng(seed + 1).uniform(-0.5, 0.5, size=(batch, model.hidden_dim))

    def output(self, model, x, training=False):
        return model(x, training=training)["pooled_output"][:, : self.width or None]

    def loss(self, model, x, y):
        pooled = model(x, training=False)["pooled_output"]
        # keras.ops on both sides: `torch_tensor - numpy_array` would let NumPy convert the tensor.
        y = keras.ops.convert_to_tensor(y, dtype=pooled.dtype)
        return keras.ops.mean(keras.ops.square(keras.ops.subtract(pooled, y)), axis=-1)

    def compile(self, model):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss={"pooled_output": "mse"})

    def fit(self, model, x, y):
        model.fit(x, {"pooled_output": y}, batch_size=len(y), epochs=3, verbose=0)


class MMTCase(ModelCase):
    """MMT: dict inputs (built-in clips' experts + caption ids), no targets, the ranking loss.

    `num_classes` sets the joint embedding width; the checked output is the sum over experts of
    the video and the caption embeddings, so that every check covers both sides.
    """

    def build(self, num_classes=None, **overrides):
        if num_classes is not None:
            overrides["embed_dim"] = num_classes
        overrides.setdefault("dropout", 0.0)
        return keras_vt.create_model(self.spec.name, tiny=True, **overrides)

    def inputs(self, model, batch=2, seed=0):
        inputs, captions = keras_vt.data.make_video_captions(batch, seed=seed)
        ids = keras_vt.data.VideoCaptionTokenizer(model.context_length)(captions)
        return {**inputs, "caption_ids": ids}

    def targets(self, model, batch=2, seed=0):
        return None

    def output(self, model, x, training=False):
        out = model(x, training=training)
        return keras.ops.sum(out["video_embeddings"], 1) + keras.ops.sum(out["text_embeddings"], 1)

    def loss(self, model, x, y):
        # training=True: the objective fit minimises (batch statistics in the gated units'
        # BatchNorm; dropout is 0 here), not the moving averages one step has barely moved.
        out = model(x, training=True)
        similarity = model.score(
            out["text_embeddings"], out["text_weights"], out["video_embeddings"], out["available"]
        )
        return keras_vt.losses.max_margin_ranking_loss(similarity, model.margin)

    def compile(self, model):
        model.compile(optimizer=keras.optimizers.Adam(1e-3))

    def fit(self, model, x, y):
        model.fit(x, batch_size=len(x["caption_ids"]), epochs=3, verbose=0)


CASES = {"clip": ClipCase, "bert": BertCase}
CASES["mmt"] = MMTCase


class AVAlignCase(ModelCase):
    """AV Align: dict inputs from `make_audio_visual`, a labels dict, the model's own loss (CTC,
    plus the action-unit loss); the checked output is the masked mean of the per-frame logits."""

    def build(self, **overrides):
        return keras_vt.create_model(self.spec.name, tiny=True, au_loss=True, **overrides)

    def inputs(self, model, batch=2, seed=0):
        inputs, _ = keras_vt.data.make_audio_visual(
            batch,
            seed=seed,
            snr_db=10,
            max_symbols=2,
            audio_bins=model.audio_features,
            frame_size=model.frame_size,
        )
        return inputs

    def targets(self, model, batch=2, seed=0):
        _, labels = keras_vt.data.make_audio_visual(
            batch,
            seed=seed,
            snr_db=10,
            max_symbols=2,
            audio_bins=model.audio_features,
            frame_size=model.frame_size,
        )
        tokens = labels["tokens"]
        labels["tokens"] = np.where(tokens > 0, (tokens - 1) % (model.num_classes - 1) + 1, 0)
        labels["frames"] = labels["frames"] % model.num_classes
        return labels

    def output(self, model, x, training=False):
        logits = model(x, training=training)["logits"]
        mask = keras.ops.cast(x["audio_mask"], logits.dtype)[..., None]
        return keras.ops.sum(logits * mask, axis=1) / keras.ops.sum(mask, axis=1)

    def loss(self, model, x, y):
        return model.compute_loss(x, y, model(x, training=True))

    def compile(self, model):
        model.compile(optimizer=keras.optimizers.Adam(1e-3))

    def fit(self, model, x, y):
        model.fit(x, y, batch_size=len(x["audio"]), epochs=1, verbose=0)


CASES["av_align"] = AVAlignCase


def case_for(name):
    spec = keras_vt.models.get_spec(name)
    return CASES.get(spec.family, ModelCase)(spec)


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def n_params(model):
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))


def set_fused(model, fused):
    """Switches every attention layer of `model` between the fused and the explicit path."""
    found = 0
    for layer in _all_layers(model):
        if isinstance(layer, MultiHeadSelfAttention) or hasattr(layer, "fused"):
            layer.fused = fused
            found += 1
    return found


def _all_layers(layer):
    for sub in getattr(layer, "_flatten_layers", lambda **_: [])(include_self=False):
        yield sub


def check_output_shape(case):
    model = case.build(num_classes=5)
    x = case.inputs(model)
    assert tuple(case.output(model, x).shape) == (2, 5)


def check_config_round_trip(case):
    model = case.build(num_classes=5)
    x = case.inputs(model)
    clone = model.__class__.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    for got, want in zip(keras.tree.flatten(clone(x)), keras.tree.flatten(model(x))):
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), atol=1e-6)


def check_saving_round_trip(case):
    model = case.build(num_classes=5)
    x = case.inputs(model)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
    assert type(restored) is type(model)
    for got, want in zip(keras.tree.flatten(restored(x)), keras.tree.flatten(model(x))):
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), atol=1e-6)


def check_fit_lowers_loss(case):
    model = case.build(num_classes=5)
    x, y = case.inputs(model, batch=4), case.targets(model, batch=4)
    before = float(np.mean(to_numpy(case.loss(model, x, y))))
    case.compile(model)
    case.fit(model, x, y)
    after = float(np.mean(to_numpy(case.loss(model, x, y))))
    assert np.isfinite(after) and after < before, (before, after)


def check_fused_matches_explicit(case):
    model = case.build(num_classes=5)
    x = case.inputs(model)
    if not set_fused(model, True):
        return False
    fused = to_numpy(case.output(model, x))
    set_fused(model, False)
    explicit = to_numpy(case.output(model, x))
    np.testing.assert_allclose(fused, explicit, atol=1e-5)
    return True


def check_dtype_policy_round_trip(case):
    model = case.build(num_classes=5, dtype="mixed_bfloat16")
    clone = model.__class__.from_config(model.get_config())
    assert clone.dtype_policy.name == "mixed_bfloat16"
    # The clone runs under the policy: float32 variables, bfloat16 compute inside, and with the
    # original's weights it computes what the original computes. (The output dtype is not
    # checked here: clip_rn50 on torch returns bfloat16 embeddings; ViT's float32 logits are
    # checked in test_vit.py.)
    clone.set_weights(model.get_weights())
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in clone.weights)
    assert any(layer.compute_dtype == "bfloat16" for layer in _all_layers(clone))
    x = case.inputs(model)
    got = to_numpy(keras.ops.cast(case.output(clone, x), "float32"))
    want = to_numpy(keras.ops.cast(case.output(model, x), "float32"))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, atol=1e-2, rtol=1e-2)


class CaptionerCase(ModelCase):
    """Show-Attend-Tell: (images, caption_ids) pairs, no targets; the checked output is the
    per-word log-likelihood of the captions (`num_classes` of the checks sets their length)."""

    def build(self, num_classes=None, **overrides):
        if num_classes is not None:
            overrides["context_length"] = num_classes + 1
        return keras_vt.create_model(self.spec.name, tiny=True, **overrides)

    def inputs(self, model, batch=2, seed=0):
        images = super().inputs(model, batch, seed)
        rng = np.random.default_rng(seed + 2)
        ids = rng.integers(3, model.vocabulary_size, size=(batch, model.context_length))
        ids[:, 0] = model.start_id
        return images, ids.astype("int32")

    def targets(self, model, batch=2, seed=0):
        return None

    def output(self, model, x, training=False):
        return model.score(*x)

    def loss(self, model, x, y):
        return model.compute_loss(x=x, y_pred=model(x[0]), training=False)

    def fit(self, model, x, y):
        model.fit(x, batch_size=len(x[0]), epochs=1, verbose=0)


CASES["captioner"] = CaptionerCase
