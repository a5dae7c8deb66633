"""DeiT specifics beyond the shared test base: tokens, heads, inference fusion, resizing."""

import os
import tempfile

import keras
import numpy as np
import pytest

import keras_vt
from keras_vt.models.deit import DeiT, DistilledDeiT, combine_heads

from model_case import to_numpy


def tiny_distilled(**overrides):
    return keras_vt.create_model(
        "deit_tiny_distilled_patch16_224", tiny=True, num_classes=5, **overrides
    )


def images(batch=2, size=32, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, size, size, 3)).astype("float32")


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_registered_names():
    names = set(keras_vt.list_models("deit_*"))
    for size in ("tiny", "small", "base"):
        assert f"deit_{size}_patch16_224" in names
        assert f"deit_{size}_distilled_patch16_224" in names
    assert "deit_base_distilled_patch16_384" in names
    assert keras_vt.models.get_spec("deit_base_distilled_patch16_384").image_size == 384


def test_deit_is_a_vision_transformer_with_deit_normalisation():
    model = keras_vt.create_model("deit_tiny_patch16_224", tiny=True, num_classes=5)
    assert isinstance(model, keras_vt.models.VisionTransformer) and isinstance(model, DeiT)
    assert model.normalization == "imagenet" and DistilledDeiT.normalization == "imagenet"
    initializer = model.get_layer("cls_token").initializer
    assert isinstance(initializer, keras.initializers.TruncatedNormal)
    assert initializer.stddev == 0.02


def test_token_layout_and_weight_names():
    model = tiny_distilled()
    tokens = model.get_layer("cls_token")
    assert tokens.num_tokens == 2 and tuple(tokens.tokens.shape) == (1, 2, 32)
    table = model.get_layer("pos_embed")
    assert table.num_prefix_tokens == 2 and tuple(table.embeddings.shape) == (1, 2 + 4, 32)
    paths = {w.path for w in model.weights}
    for expected in (
        "cls_token/tokens",
        "pos_embed/embeddings",
        "norm/gamma",
        "head/kernel",
        "head_dist/kernel",
        "block0/attention/qkv/kernel",
    ):
        assert expected in paths, (expected, sorted(paths))


def test_heads_read_class_and_distillation_tokens():
    model = tiny_distilled()
    x = images()
    features = keras.Model(model.input, model.get_layer("norm").output)(x)
    features = to_numpy(features)
    head, head_dist = model.get_layer("head"), model.get_layer("head_dist")
    class_logits, distillation_logits = (to_numpy(t) for t in model(x, training=True))
    np.testing.assert_allclose(class_logits, to_numpy(head(features[:, 0])), atol=1e-5)
    np.testing.assert_allclose(distillation_logits, to_numpy(head_dist(features[:, 1])), atol=1e-5)


def test_training_returns_both_heads_inference_their_mean():
    model = tiny_distilled()
    x = images()
    pair = model(x, training=True)
    assert isinstance(pair, tuple) and len(pair) == 2
    class_logits, distillation_logits = (to_numpy(t) for t in pair)
    assert not np.allclose(class_logits, distillation_logits)
    np.testing.assert_allclose(
        to_numpy(model(x)), (class_logits + distillation_logits) / 2, atol=1e-5
    )
    np.testing.assert_allclose(
        model.predict(x, verbose=0), (class_logits + distillation_logits) / 2, atol=1e-5
    )


def test_sum_softmax_fusion_is_the_papers_prediction():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(64, 7)) * 3, rng.normal(size=(64, 7)) * 3
    fused = to_numpy(combine_heads(a.astype("float32"), b.astype("float32"), "sum_softmax"))
    paper = np.exp(log_softmax(a)) + np.exp(log_softmax(b))
    np.testing.assert_allclose(np.exp(fused), paper / 2, atol=1e-5)
    np.testing.assert_array_equal(fused.argmax(-1), paper.argmax(-1))
    model = tiny_distilled(head_fusion="sum_softmax")
    x = images()
    class_logits, distillation_logits = (to_numpy(t) for t in model(x, training=True))
    expected = np.log(
        (np.exp(log_softmax(class_logits)) + np.exp(log_softmax(distillation_logits))) / 2
    )
    np.testing.assert_allclose(to_numpy(model(x)), expected, atol=1e-5)


def test_include_top_false_returns_mean_of_the_two_tokens():
    model = tiny_distilled(include_top=False)
    x = images()
    features = to_numpy(keras.Model(model.input, model.get_layer("norm").output)(x))
    np.testing.assert_allclose(to_numpy(model(x)), features[:, :2].mean(1), atol=1e-5)
    np.testing.assert_allclose(
        to_numpy(model(x, training=True)), features[:, :2].mean(1), atol=1e-5
    )


def test_plain_fit_trains_both_heads():
    model = tiny_distilled()
    x, y = images(batch=8), np.arange(8) % 5
    head = to_numpy(model.get_layer("head").kernel).copy()
    head_dist = to_numpy(model.get_layer("head_dist").kernel).copy()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0).history
    assert set(history) == {"loss", "accuracy"}
    assert not np.allclose(head, to_numpy(model.get_layer("head").kernel))
    assert not np.allclose(head_dist, to_numpy(model.get_layer("head_dist").kernel))


def test_sum_softmax_config_survives_saving():
    model = tiny_distilled(head_fusion="sum_softmax")
    x = images()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
    assert restored.head_fusion == "sum_softmax"
    np.testing.assert_allclose(to_numpy(restored(x)), to_numpy(model(x)), atol=1e-6)


def test_attention_maps_cover_both_prefix_tokens():
    model = tiny_distilled()
    maps = keras_vt.viz.attention_maps(model, images())
    assert len(maps) == 2 and maps[0].shape == (2, 2, 6, 6)
    np.testing.assert_allclose(maps[0].sum(-1), 1.0, atol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="head_fusion"):
        tiny_distilled(head_fusion="max")
    with pytest.raises(ValueError, match="not divisible by patch_size"):
        tiny_distilled(image_size=40)
    with pytest.raises(ValueError, match="num_classes"):
        keras_vt.create_model("deit_tiny_distilled_patch16_224", tiny=True, num_classes=0)


def _smooth_positions(model, seed=0):
    """Makes the grid part of the table smooth, as trained tables are (random ones are not)."""
    layer = model.get_layer("pos_embed")
    table = to_numpy(layer.embeddings).copy()
    (h, w), dim = layer.grid_size, table.shape[-1]
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid((np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w, indexing="ij")
    fy, fx, phase = rng.uniform(0.5, 2, dim), rng.uniform(0.5, 2, dim), rng.uniform(0, 6.3, dim)
    grid = np.sin(yy[..., None] * fy + xx[..., None] * fx + phase)
    table[0, layer.num_prefix_tokens :] = grid.reshape(h * w, dim)
    layer.embeddings.assign(table)


def _confident_heads(model, x, spread=1.0):
    """Scales both heads so that the logits spread `spread` (std) around their per-image mean: the
    predictions are then far from uniform, so a tolerance on probabilities can tell models apart."""
    logits = to_numpy(model(x))
    scale = spread / np.std(logits - logits.mean(-1, keepdims=True))
    for weight in model.weights:
        if weight.path in ("head/kernel", "head_dist/kernel", "head/bias", "head_dist/bias"):
            weight.assign(to_numpy(weight) * scale)


def test_resize_keeps_predictions_on_upsampled_inputs(seed=0):
    """Tolerance, on 8 images upsampled 2x (bicubic) for a model resized 64 -> 128 px whose
    table is smooth (as trained tables are) and whose heads are confident (logit std 1 around
    each image's mean, so the original predictions are far from uniform). Softmax outputs, by
    their mean total-variation distance (TV) to the original's: the resized model's TV is below
    half the TV of a uniform prediction and below half the TV of the same model without
    resampling (a fresh table), so neither a uniform output nor the unresampled model passes.
    Logits: the distance to the original's at most 0.35 of the distance reached without
    resampling. Measured on seeds 0-4 (JAX) and 0-2 (torch): logit ratio 0.04-0.17. The outputs
    cannot match exactly: a 2x patch covers a quarter of the original patch's image area, so the
    tokens themselves change."""
    keras.utils.set_random_seed(seed)
    model = tiny_distilled(image_size=64)
    _smooth_positions(model, seed)
    coarse = np.random.default_rng(seed).normal(size=(8, 4, 4, 3)).astype("float32")
    x64 = to_numpy(keras.ops.image.resize(coarse, (64, 64), interpolation="bicubic"))
    x128 = to_numpy(keras.ops.image.resize(coarse, (128, 128), interpolation="bicubic"))
    _confident_heads(model, x64)
    resized = keras_vt.models.resize(model, 128)
    assert resized.image_size == 128 and resized.get_layer("pos_embed").grid_size == (8, 8)
    before, after = to_numpy(model(x64)), to_numpy(resized(x128))
    p_before, p_after = (np.exp(log_softmax(z)) for z in (before, after))

    def tv(p):  # mean total-variation distance to the original model's predictions
        return float(np.mean(0.5 * np.abs(p - p_before).sum(-1)))

    assert tv(p_after) < 0.5 * tv(np.full_like(p_before, 1 / 5))  # a uniform output fails

    unresampled = keras_vt.create_model(
        "deit_tiny_distilled_patch16_224", tiny=True, num_classes=5, image_size=128
    )
    for weight, source in zip(unresampled.weights, resized.weights):
        if weight.path != "pos_embed/embeddings":
            weight.assign(source)
    worse = to_numpy(unresampled(x128))
    assert tv(p_after) < 0.5 * tv(np.exp(log_softmax(worse)))  # the unresampled model fails
    assert np.linalg.norm(after - before) < 0.35 * np.linalg.norm(worse - before)


def test_resize_resamples_grid_keeps_prefix_and_other_weights():
    model = tiny_distilled(image_size=64)
    resized = keras_vt.models.resize(model, (96, 64), interpolation="bilinear")
    old, new = (to_numpy(m.get_layer("pos_embed").embeddings) for m in (model, resized))
    np.testing.assert_array_equal(new[:, :2], old[:, :2])
    expected = keras_vt.layers.resample_positions(
        old, (6, 4), 2, old_grid=(4, 4), interpolation="bilinear"
    )
    np.testing.assert_allclose(new, expected, atol=1e-6)
    assert resized.interpolation == "bilinear"
    for a, b in zip(model.weights, resized.weights):
        if a.path != "pos_embed/embeddings":
            np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    assert model.image_size == 64


def test_create_model_with_weights_at_new_resolution():
    model = tiny_distilled(image_size=64)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "deit.weights.h5")
        model.save_weights(path)
        loaded = keras_vt.create_model(
            "deit_tiny_distilled_patch16_224",
            tiny=True,
            num_classes=5,
            image_size=128,
            weights=path,
        )
    expected = keras_vt.models.resize(model, 128)
    x = images(size=128)
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(expected(x)), atol=1e-5)


def test_resize_errors():
    model = tiny_distilled()
    with pytest.raises(ValueError, match="not divisible by patch_size"):
        keras_vt.models.resize(model, 100)
    with pytest.raises(ValueError, match="keras.Model"):
        keras_vt.models.resize("deit", 64)
    plain = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="image_size"):
        keras_vt.models.resize(plain, 64)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="parameter counts do not depend on the backend; counted once, on TensorFlow",
)
def test_resized_base_has_the_384_parameter_count():
    model = keras_vt.create_model("deit_base_distilled_patch16_224")
    resized = keras_vt.models.resize(model, 384)
    assert keras_vt.count_params(resized) == 87_630_032
    assert keras_vt.count_params(keras_vt.create_model("deit_base_distilled_patch16_384")) == (
        87_630_032
    )
