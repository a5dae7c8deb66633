"""CPVT and CvT: resolution-free models, the PEG, convolutional projection attention, errors."""

import keras
import numpy as np
import pytest

import keras_vt
from keras_vt.layers import (
    ConvProjectionAttention,
    ConvTokenEmbedding,
    ConvTransformerBlock,
    PositionEncodingGenerator,
)

from model_case import n_params, to_numpy
from reference import REFERENCE_PARAMS


def images(size, batch=2, seed=0):
    h, w = (size, size) if isinstance(size, int) else size
    return np.random.default_rng(seed).normal(size=(batch, h, w, 3)).astype("float32")


# --- one set of weights, any resolution ---------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["cpvt_tiny", "cpvt_tiny_gap", "cvt_13", "cpvt_mini_convstem_32_gap"]
)
def test_same_weights_at_three_resolutions(name):
    model = keras_vt.create_model(name, tiny=True, num_classes=5)
    weights = [to_numpy(w) for w in model.weights]
    for size in (32, 48, (64, 40)):
        out = to_numpy(model(images(size)))
        assert out.shape == (2, 5) and np.all(np.isfinite(out)), (name, size)
    for before, after in zip(weights, model.weights):
        np.testing.assert_array_equal(before, to_numpy(after))
    assert model.input.shape[1:] == (None, None, 3)


@pytest.mark.parametrize("name", ["cvt_13", "cpvt_mini_convstem_32_gap"])
def test_resolution_free_models_save_and_load_at_another_size(tmp_path, name):
    model = keras_vt.create_model(name, tiny=True, num_classes=3)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    x = images(48)
    np.testing.assert_allclose(to_numpy(restored(x)), to_numpy(model(x)), atol=1e-5)


# --- convolutional stem -------------------------------------------------------------------------


def test_conv_stem_replaces_the_patchify_convolution():
    """Stride-2 3x3 convolutions (BatchNorm, ReLU) down to the patch grid, then a 1x1 projection:
    the same tokens per image as 4x4 patches, and the parameters of the stem in place of the
    patchify convolution's."""
    config = dict(tiny=True, num_classes=5, patch_size=4)
    plain = keras_vt.create_model("cpvt_tiny_gap", **config)
    stem = keras_vt.create_model("cpvt_tiny_gap", stem=(8, 16, 16), **config)
    dim = 32
    patchify = 4 * 4 * 3 * dim + dim
    convolutions = 9 * 3 * 8 + 9 * 8 * 16 + 9 * 16 * 16 + 2 * (8 + 16 + 16) + 16 * dim + dim
    assert n_params(stem) == n_params(plain) - patchify + convolutions
    maps = keras_vt.viz.attention_maps(stem, images(32))
    assert [m.shape for m in maps] == [(2, 2, 64, 64)] * 2
    assert stem.get_config()["stem"] == (8, 16, 16)


@pytest.mark.parametrize("stem, patch_size", [((8,), 4), ((8, 8), 3), ((8, 0), 4)])
def test_conv_stem_rejects_widths_that_cannot_make_the_patches(stem, patch_size):
    with pytest.raises(ValueError, match=r"Invalid stem: stem=\(8"):
        keras_vt.create_model("cpvt_tiny_gap", tiny=True, stem=stem, patch_size=patch_size)


# --- PEG ----------------------------------------------------------------------------------------


def test_peg_is_a_zero_padded_depthwise_convolution_plus_residual():
    """Hand computation on a 3x4 grid with a class token."""
    height, width, dim = 3, 4, 2
    rng = np.random.default_rng(1)
    cls = rng.normal(size=(1, 1, dim)).astype("float32")
    grid = rng.normal(size=(1, height, width, dim)).astype("float32")
    x = np.concatenate([cls, grid.reshape(1, height * width, dim)], axis=1)
    peg = PositionEncodingGenerator(num_prefix_tokens=1)
    peg(x, grid=(height, width))
    kernel = rng.normal(size=(3, 3, dim, 1)).astype("float32")
    bias = np.array([0.5, -1.0], "float32")
    peg.conv.set_weights([kernel, bias])

    padded = np.pad(grid[0], ((1, 1), (1, 1), (0, 0)))
    expected = np.empty_like(grid[0])
    for i in range(height):
        for j in range(width):
            for c in range(dim):
                window = padded[i : i + 3, j : j + 3, c]
                expected[i, j, c] = grid[0, i, j, c] + np.sum(window * kernel[:, :, c, 0]) + bias[c]
    out = to_numpy(peg(x, grid=(height, width)))
    np.testing.assert_allclose(out[0, 0], cls[0, 0])  # class token re-attached unchanged
    np.testing.assert_allclose(out[0, 1:].reshape(height, width, dim), expected, atol=1e-5)
    # The corner sees zero padding: only its 2x2 neighbourhood contributes.
    corner = grid[0, 0, 0] + np.einsum("ijc,ijc->c", grid[0, :2, :2], kernel[1:, 1:, :, 0]) + bias
    np.testing.assert_allclose(out[0, 1], corner, atol=1e-5)
    # The grid can also be given as the feature map the tokens come from.
    np.testing.assert_allclose(to_numpy(peg(x, grid)), out, atol=1e-6)


def test_peg_with_zero_kernel_is_the_identity_and_without_prefix():
    x = np.random.default_rng(5).normal(size=(2, 15, 2)).astype("float32")
    peg = PositionEncodingGenerator(num_prefix_tokens=0, kernel_initializer="zeros")
    np.testing.assert_allclose(to_numpy(peg(x, grid=(3, 5))), x)


def test_peg_rejects_a_grid_that_does_not_match_the_tokens():
    peg = PositionEncodingGenerator(num_prefix_tokens=1)
    with pytest.raises(ValueError, match="expected 1 prefix \\+ 3x3 grid tokens = 10"):
        peg(np.zeros((1, 17, 8), "float32"), grid=(3, 3))
    with pytest.raises(ValueError, match="kernel_size"):
        PositionEncodingGenerator(kernel_size=2)


def test_peg_positions_add_one_peg_each():
    base = keras_vt.create_model("cpvt_tiny", tiny=True, depth=6, num_classes=5)
    many = keras_vt.create_model(
        "cpvt_tiny", tiny=True, depth=6, num_classes=5, peg_positions=(5, 0, 1, 2, 3, 4)
    )
    assert many.peg_positions == (0, 1, 2, 3, 4, 5)
    dim = base.hidden_dim
    assert n_params(many) - n_params(base) == 5 * (9 * dim + dim)
    assert to_numpy(many(images(48))).shape == (2, 5)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="parameter counts: counted once, on TensorFlow"
)
@pytest.mark.parametrize("size,dim", [("tiny", 192), ("small", 384)])
def test_cpvt_parameter_count_is_deit_minus_table_plus_peg(size, dim):
    deit = REFERENCE_PARAMS[f"deit_{size}_patch16_224"]
    table = (1 + 14 * 14) * dim
    peg = 3 * 3 * dim + dim
    assert n_params(keras_vt.create_model(f"cpvt_{size}")) == deit - table + peg
    assert n_params(keras_vt.create_model(f"cpvt_{size}_gap")) == deit - table + peg - dim


# --- convolutional token embedding and projection attention -------------------------------------


def test_conv_token_embedding_shapes_and_normalisation():
    layer = ConvTokenEmbedding(8, kernel_size=7, strides=4, padding=2)
    out = to_numpy(layer(images((37, 64))))
    assert out.shape == (2, (37 + 4 - 7) // 4 + 1, 16, 8)
    np.testing.assert_allclose(out.mean(-1), 0, atol=1e-4)  # LayerNorm over channels (gamma 1)


def numpy_conv_attention(layer, x, height, width):
    """Reference: depthwise conv + BatchNorm (inference) + linear, class tokens bypassing."""
    p, dim, heads = layer.num_prefix_tokens, layer.dim, layer.num_heads
    prefix, fmap = x[:, :p], x[:, p:].reshape(len(x), height, width, dim)

    def project(name, stride):
        kernel = to_numpy(getattr(layer, f"conv_{name}").kernel)[:, :, :, 0]
        bn = getattr(layer, f"bn_{name}")
        k = kernel.shape[0]
        padded = np.pad(fmap, ((0, 0), (1, 1), (1, 1), (0, 0)))
        rows = (height + 2 - k) // stride + 1
        cols = (width + 2 - k) // stride + 1
        out = np.zeros((len(x), rows, cols, dim), "float32")
        for i in range(rows):
            for j in range(cols):
                window = padded[:, i * stride : i * stride + k, j * stride : j * stride + k]
                out[:, i, j] = np.einsum("bijc,ijc->bc", window, kernel)
        mean, var = to_numpy(bn.moving_mean), to_numpy(bn.moving_variance)
        out = (out - mean) / np.sqrt(var + bn.epsilon) * to_numpy(bn.gamma) + to_numpy(bn.beta)
        tokens = np.concatenate([prefix, out.reshape(len(x), rows * cols, dim)], axis=1)
        dense = getattr(layer, name)
        tokens = tokens @ to_numpy(dense.kernel) + to_numpy(dense.bias)
        return tokens.reshape(len(x), -1, heads, dim // heads)

    q, k, v = project("query", 1), project("key", 2), project("value", 2)
    logits = np.einsum("bqhd,bkhd->bhqk", q, k) * dim**-0.5
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    out = np.einsum("bhqk,bkhd->bqhd", probs, v).reshape(len(x), -1, dim)
    return out @ to_numpy(layer.proj.kernel) + to_numpy(layer.proj.bias), probs


@pytest.mark.parametrize("grid", [(4, 4), (5, 3)])
def test_conv_projection_attention_matches_a_hand_computation(grid):
    height, width = grid
    dim, rng = 12, np.random.default_rng(2)
    x = rng.normal(size=(2, 1 + height * width, dim)).astype("float32")
    layer = ConvProjectionAttention(num_heads=3, num_prefix_tokens=1)
    layer(x, grid=grid)
    for name in ("query", "key", "value"):
        bn = getattr(layer, f"bn_{name}")
        bn.moving_mean.assign(rng.normal(size=(dim,)).astype("float32") * 0.3)
        bn.moving_variance.assign(rng.uniform(0.5, 1.5, size=(dim,)).astype("float32"))
        bn.beta.assign(rng.normal(size=(dim,)).astype("float32") * 0.3)
    expected, expected_probs = numpy_conv_attention(layer, x, height, width)
    layer.fused = False
    out, probs = layer(x, grid=grid, return_attention_scores=True)
    keys = 1 + ((height + 1) // 2) * ((width + 1) // 2)  # keys down-sampled by kv_stride 2
    assert tuple(probs.shape) == (2, 3, 1 + height * width, keys)
    np.testing.assert_allclose(to_numpy(probs), expected_probs, atol=1e-5)
    np.testing.assert_allclose(to_numpy(out), expected, atol=1e-4)
    layer.fused = True
    np.testing.assert_allclose(to_numpy(layer(x, grid=grid)), expected, atol=1e-4)


def test_class_token_bypasses_the_convolutions():
    """Changing the class token changes nothing in the convolved keys: with one key per
    token (stride 1) and uniform attention logits (zero query weights), the grid outputs
    move only through the class token's own value."""
    dim, grid = 8, (3, 3)
    layer = ConvProjectionAttention(num_heads=1, kv_stride=1, num_prefix_tokens=1)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 10, dim)).astype("float32")
    layer(x, grid=grid)
    layer.query.kernel.assign(np.zeros((dim, dim), "float32"))  # uniform attention
    out = to_numpy(layer(x, grid=grid))
    y = x.copy()
    y[:, 0] += 1.0
    moved = to_numpy(layer(y, grid=grid)) - out
    # Uniform attention over 10 keys: every output moves by the same (1/10) of the class token's
    # value change, which is linear in the class token only (no convolution mixes it in).
    value_change = np.ones((1, dim), "float32") @ to_numpy(layer.value.kernel)
    expected = (value_change / 10) @ to_numpy(layer.proj.kernel)
    np.testing.assert_allclose(moved[0], np.repeat(expected, 10, axis=0), atol=1e-5)


def test_scale_option():
    x = np.random.default_rng(4).normal(size=(1, 16, 8)).astype("float32")
    scales = ("width", "head", 8**-0.5)
    variants = {scale: ConvProjectionAttention(num_heads=2, scale=scale) for scale in scales}
    for layer in variants.values():
        layer(x, grid=(4, 4))
        layer.set_weights(variants["width"].get_weights())
    outputs = {scale: to_numpy(layer(x, grid=(4, 4))) for scale, layer in variants.items()}
    np.testing.assert_allclose(outputs["width"], outputs[8**-0.5], atol=1e-6)
    assert not np.allclose(outputs["width"], outputs["head"], atol=1e-4)
    with pytest.raises(ValueError, match="scale"):
        ConvProjectionAttention(num_heads=2, scale="paper")


def test_conv_transformer_block_keeps_the_map_and_the_class_token():
    block = ConvTransformerBlock(num_heads=2, mlp_dim=16, num_prefix_tokens=1)
    x = np.random.default_rng(6).normal(size=(2, 5, 6, 8)).astype("float32")
    fmap, cls = block(x, np.ones((2, 1, 8), "float32"))
    assert tuple(fmap.shape) == (2, 5, 6, 8) and tuple(cls.shape) == (2, 1, 8)
    with pytest.raises(ValueError, match="prefix"):
        block(np.zeros((2, 5, 6, 8), "float32"))


# --- attention maps -----------------------------------------------------------------------------


def test_cpvt_attention_maps():
    model = keras_vt.create_model("cpvt_tiny", tiny=True, num_classes=5)
    for size in (32, 48):
        maps = keras_vt.viz.attention_maps(model, images(size))
        n = 1 + (size // 8) ** 2
        assert [m.shape for m in maps] == [(2, 2, n, n)] * 2
        np.testing.assert_allclose(maps[-1].sum(-1), 1, atol=1e-4)


def test_cvt_attention_maps_have_down_sampled_keys():
    model = keras_vt.create_model("cvt_13", tiny=True, num_classes=5)
    maps = keras_vt.viz.attention_maps(model, images(48))
    # 48 px -> token maps 12x12, 6x6, 3x3; keys 6x6, 3x3, 2x2; class token in stage 3 only.
    assert [m.shape for m in maps] == [(2, 1, 144, 36), (2, 2, 36, 9), (2, 3, 10, 5)]
    for m in maps:
        np.testing.assert_allclose(m.sum(-1), 1, atol=1e-4)


# --- bad input ----------------------------------------------------------------------------------


def test_image_smaller_than_the_stem():
    cvt = keras_vt.create_model("cvt_13", tiny=True, num_classes=5)
    with pytest.raises(ValueError, match="smaller than layer 'stage0_embed' can take"):
        cvt(np.zeros((1, 2, 2, 3), "float32"))
    cpvt = keras_vt.create_model("cpvt_tiny", num_classes=5)
    with pytest.raises(ValueError, match="smaller than layer 'patch_embed' can take"):
        cpvt(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="not divisible by the patch size 16"):
        cpvt(np.zeros((1, 40, 40, 3), "float32"))


def test_peg_position_beyond_depth():
    with pytest.raises(ValueError, match=r"peg_positions=\(0, 2\).*\[0, 1\]"):
        keras_vt.create_model("cpvt_tiny", tiny=True, peg_positions=(0, 2))


@pytest.mark.parametrize("name", ["cpvt_tiny", "cvt_13"])
def test_channel_mismatch(name):
    model = keras_vt.create_model(name, tiny=True, num_classes=5)
    with pytest.raises(ValueError, match="images"):
        model(np.zeros((1, 32, 32, 4), "float32"))
    layer = ConvTokenEmbedding(8, 3, 2, 1)
    layer(images(16))
    with pytest.raises(ValueError, match="3 channels"):
        layer(np.zeros((1, 16, 16, 1), "float32"))


def test_bad_configuration_values():
    with pytest.raises(ValueError, match="depths"):
        keras_vt.create_model("cvt_13", depths=(1, 2))
    with pytest.raises(ValueError, match="pooling"):
        keras_vt.create_model("cvt_13", tiny=True, pooling="max")
    with pytest.raises(ValueError, match="image_size"):
        keras_vt.create_model("cpvt_tiny", image_size=200)


def test_class_token_alone_and_backbones():
    from keras_vt.layers import ClassToken

    layer = ClassToken(1, initializer="ones", prepend=False)
    out = to_numpy(layer(np.zeros((3, 4, 5, 8), "float32")))
    np.testing.assert_array_equal(out, np.ones((3, 1, 8)))
    assert ClassToken.from_config(layer.get_config()).prepend is False
    for name, width in (("cvt_13", 48), ("cpvt_tiny_gap", 32)):
        backbone = keras_vt.create_model(name, tiny=True, include_top=False)
        assert to_numpy(backbone(images(48))).shape == (2, width)
