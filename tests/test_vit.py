"""ViT specifics: registry errors, pooling, resolution changes, dtype policies, preprocessing."""

import keras
import numpy as np
import pytest

import keras_vt

from model_case import to_numpy


def test_unknown_name_suggests_close_names():
    with pytest.raises(ValueError, match="vit_tiny_patch16_224"):
        keras_vt.create_model("vit_tiny_patch16_22")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(image_size=50), "image_size=50 is not divisible by patch_size=16"),
        (dict(num_classes=0), "num_classes=0. Expected an int >= 1"),
        (dict(pooling="max"), "Unknown pooling='max'"),
    ],
)
def test_bad_configuration_is_a_clear_error(overrides, message):
    with pytest.raises(ValueError, match=message):
        keras_vt.create_model("vit_tiny_patch16_224", tiny=True, **overrides)


def test_wrong_channel_count_is_a_clear_error():
    with pytest.raises(ValueError, match="3 channels"):
        keras_vt.preprocess(
            np.zeros((1, 32, 32, 1), "uint8"), keras_vt.create_model("vit_mini_patch4_32")
        )


def test_list_models_filters_by_pattern():
    names = keras_vt.list_models("vit_*_patch32_224")
    assert names == ["vit_base_patch32_224", "vit_large_patch32_224", "vit_small_patch32_224"]


def test_gap_pooling_has_no_class_token():
    model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True, pooling="gap", num_classes=3)
    assert model.get_layer("pos_embed").num_prefix_tokens == 0
    maps = keras_vt.viz.attention_maps(model, np.zeros((1, 32, 32, 3), "float32"))
    assert maps[0].shape == (1, 2, 4, 4)


def test_include_top_false_returns_pooled_features():
    model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True, include_top=False)
    assert tuple(model(np.zeros((2, 32, 32, 3), "float32")).shape) == (2, 32)


def test_attention_maps_are_probabilities_per_block():
    model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True, image_size=48)
    x = np.random.default_rng(0).normal(size=(2, 48, 48, 3)).astype("float32")
    maps = keras_vt.viz.attention_maps(model, x)
    assert len(maps) == model.depth
    assert maps[0].shape == (2, 2, 10, 10)
    np.testing.assert_allclose(maps[-1].sum(-1), 1.0, atol=1e-5)


def test_weights_of_another_resolution_load_with_resampled_positions(tmp_path):
    small = keras_vt.create_model("vit_tiny_patch16_224", tiny=True, image_size=32)
    path = str(tmp_path / "small.weights.h5")
    small.save_weights(path)
    large = keras_vt.create_model("vit_tiny_patch16_224", tiny=True, image_size=64, weights=path)
    want = small.get_layer("pos_embed").resampled((4, 4))
    np.testing.assert_allclose(to_numpy(large.get_layer("pos_embed").embeddings), want, atol=1e-6)
    np.testing.assert_array_equal(
        to_numpy(large.get_layer("block0").attention.qkv.kernel),
        to_numpy(small.get_layer("block0").attention.qkv.kernel),
    )


def test_keras_file_weights_load_into_a_new_resolution(tmp_path):
    small = keras_vt.create_model("vit_tiny_patch16_224", tiny=True, image_size=32)
    path = str(tmp_path / "small.keras")
    small.save(path)
    large = keras_vt.create_model("vit_tiny_patch16_224", tiny=True, image_size=48, weights=path)
    assert tuple(large(np.zeros((1, 48, 48, 3), "float32")).shape) == (1, 1000)
    # The weights were loaded: the position table is the saved one resampled to the 3 x 3 grid,
    # and every other weight is the saved one, exactly.
    want = small.get_layer("pos_embed").resampled((3, 3))
    np.testing.assert_allclose(to_numpy(large.get_layer("pos_embed").embeddings), want, atol=1e-6)
    saved = {w.path: to_numpy(w) for w in small.weights}
    others = [w for w in large.weights if w.path != "pos_embed/embeddings"]
    assert len(others) == len(saved) - 1
    for weight in others:
        np.testing.assert_array_equal(to_numpy(weight), saved[weight.path], err_msg=weight.path)


def test_mixed_bfloat16_computes_in_bfloat16_and_returns_float32_logits():
    model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True, dtype="mixed_bfloat16")
    assert model.get_layer("block0").compute_dtype == "bfloat16"
    assert all(w.dtype == "float32" for w in model.weights)
    out = model(np.zeros((2, 32, 32, 3), "float32"))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_preprocess_resizes_and_normalises_with_the_model_constants():
    model = keras_vt.create_model("vit_mini_patch4_32")
    images = np.full((2, 64, 48, 3), 255, "uint8")
    x = to_numpy(keras_vt.preprocess(images, model))
    assert x.shape == (2, 32, 32, 3)
    np.testing.assert_allclose(x, 1.0, atol=1e-5)  # (1 - 0.5) / 0.5 with ViT's inception constants
