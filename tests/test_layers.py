"""Unit tests of the shared layers against hand computations and PyTorch references (the Keras
contract of every layer, config and saving included, is in test_layer_cases.py)."""

import keras
import numpy as np
import pytest

from keras_vt import layers

RNG = np.random.default_rng(0)


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def test_patch_embedding_is_a_linear_map_of_each_patch():
    layer = layers.PatchEmbedding(patch_size=4, hidden_dim=6)
    x = RNG.normal(size=(2, 8, 12, 3)).astype("float32")
    out = to_numpy(layer(x))
    assert out.shape == (2, 6, 6)
    kernel, bias = (to_numpy(w) for w in layer.projection.weights)
    patch = x[1, 4:8, 8:12, :]  # grid row 1, column 2 -> token 1 * 3 + 2
    np.testing.assert_allclose(out[1, 5], np.einsum("hwc,hwcd->d", patch, kernel) + bias, atol=1e-5)


@pytest.mark.parametrize(
    "shape, message",
    [((2, 30, 32, 3), "not divisible by patch_size=16"), ((2, 32, 32), "rank 4")],
)
def test_patch_embedding_rejects_bad_images(shape, message):
    with pytest.raises(ValueError, match=message):
        layers.PatchEmbedding(16, 8)(np.zeros(shape, "float32"))


def test_class_token_prepends_learned_tokens():
    layer = layers.ClassToken(num_tokens=2, initializer="ones")
    out = to_numpy(layer(np.zeros((3, 5, 4), "float32")))
    assert out.shape == (3, 7, 4)
    np.testing.assert_array_equal(out[:, :2], 1.0)
    np.testing.assert_array_equal(out[:, 2:], 0.0)


def test_resample_to_same_grid_is_identity():
    table = RNG.normal(size=(1, 1 + 16, 8)).astype("float32")
    np.testing.assert_array_equal(layers.resample_positions(table, (4, 4)), table)


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("new", [(7, 7), (3, 5), (12, 9)])
def test_resample_matches_torch_interpolate(interpolation, antialias, new):
    torch = pytest.importorskip("torch")
    table = RNG.normal(size=(1, 2 + 25, 6)).astype("float32")
    ours = layers.resample_positions(
        table, new, num_prefix_tokens=2, interpolation=interpolation, antialias=antialias
    )
    grid = torch.from_numpy(table[:, 2:].reshape(1, 5, 5, 6)).permute(0, 3, 1, 2)
    ref = torch.nn.functional.interpolate(
        grid, size=new, mode=interpolation, align_corners=False, antialias=antialias
    )
    ref = ref.permute(0, 2, 3, 1).reshape(1, -1, 6).numpy()
    np.testing.assert_array_equal(ours[:, :2], table[:, :2])
    np.testing.assert_allclose(ours[:, 2:], ref, atol=1e-5)


def test_position_embedding_resamples_a_table_of_another_grid_on_load(tmp_path):
    small = keras.Sequential([keras.Input((1 + 9, 4)), layers.PositionEmbedding(3)])
    path = str(tmp_path / "small.weights.h5")
    small.save_weights(path)
    large = keras.Sequential([keras.Input((1 + 25, 4)), layers.PositionEmbedding(5)])
    large.load_weights(path)
    expected = layers.resample_positions(to_numpy(small.layers[0].embeddings), (5, 5))
    np.testing.assert_allclose(to_numpy(large.layers[0].embeddings), expected, atol=1e-6)


def test_position_embedding_rejects_wrong_token_count():
    with pytest.raises(ValueError, match="Expected 10 tokens"):
        layers.PositionEmbedding(3)(np.zeros((1, 12, 4), "float32"))


def test_sincos_table_is_fixed_and_distinguishes_positions():
    table = layers.sincos_position_table((4, 4), 16)
    assert table.shape == (16, 16)
    distances = np.linalg.norm(table[:, None] - table[None], axis=-1)
    assert (distances + np.eye(16) > 1e-3).all()
    layer = layers.SinCosPositionEmbedding2D((4, 4), num_prefix_tokens=1)
    out = to_numpy(layer(np.zeros((2, 17, 16), "float32")))
    np.testing.assert_array_equal(out[:, 0], 0.0)
    np.testing.assert_allclose(out[0, 1:], table, atol=1e-6)
    assert not layer.trainable_weights


def naive_attention(x, layer):
    qkv = to_numpy(layer.qkv(x)).reshape(x.shape[0], x.shape[1], 3, layer.num_heads, -1)
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
    logits = q @ k.transpose(0, 1, 3, 2) / np.sqrt(q.shape[-1])
    if layer.causal:
        logits = np.where(np.tril(np.ones(logits.shape[-2:], bool)), logits, -np.inf)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    out = (probs @ v).transpose(0, 2, 1, 3).reshape(x.shape[0], x.shape[1], -1)
    return to_numpy(layer.proj(out)), probs


@pytest.mark.parametrize("causal", [False, True])
def test_attention_paths_agree_with_a_naive_computation(causal):
    layer = layers.MultiHeadSelfAttention(num_heads=3, causal=causal)
    x = RNG.normal(size=(2, 7, 12)).astype("float32")
    fused = to_numpy(layer(x))
    explicit, probs = layer(x, return_attention_scores=True)
    want_out, want_probs = naive_attention(x, layer)
    np.testing.assert_allclose(fused, want_out, atol=1e-5)
    np.testing.assert_allclose(to_numpy(explicit), want_out, atol=1e-5)
    np.testing.assert_allclose(to_numpy(probs), want_probs, atol=1e-6)


def test_attention_rejects_width_not_divisible_by_heads():
    with pytest.raises(ValueError, match="not divisible by num_heads=5"):
        layers.MultiHeadSelfAttention(num_heads=5)(np.zeros((1, 3, 12), "float32"))


def test_drop_path_drops_whole_samples_and_rescales():
    layer = layers.DropPath(0.5, seed=1)
    x = np.ones((64, 3, 2), "float32")
    out = to_numpy(layer(x, training=True))
    per_sample = out.reshape(64, -1)
    assert set(np.unique(per_sample)) <= {0.0, 2.0}
    assert (per_sample.min(1) == per_sample.max(1)).all()
    assert 0 < (per_sample[:, 0] == 0).sum() < 64
    np.testing.assert_array_equal(to_numpy(layer(x, training=False)), x)


def test_transformer_block_is_pre_norm_residual():
    block = layers.TransformerBlock(num_heads=2, mlp_dim=16)
    x = RNG.normal(size=(2, 5, 8)).astype("float32")
    out, probs = block(x, return_attention_scores=True)
    attn = to_numpy(block.attention(block.norm1(x)))
    h = x + attn
    want = h + to_numpy(block.mlp(block.norm2(h)))
    np.testing.assert_allclose(to_numpy(out), want, atol=1e-5)
    np.testing.assert_allclose(to_numpy(probs).sum(-1), 1.0, atol=1e-6)


def test_post_norm_block_normalises_after_each_residual():
    block = layers.TransformerBlock(2, 16, norm="post", layer_norm_epsilon=1e-12)
    x = RNG.normal(size=(2, 5, 8)).astype("float32")
    out = to_numpy(block(x))
    y = to_numpy(block.norm1(x + to_numpy(block.attention(x))))
    expected = to_numpy(block.norm2(y + to_numpy(block.mlp(y))))
    np.testing.assert_allclose(out, expected, atol=1e-5)
    pre = layers.TransformerBlock(2, 16)
    pre.build(x.shape)
    pre.set_weights(block.get_weights())
    assert np.abs(to_numpy(pre(x)) - out).max() > 1e-2  # the placement really differs


def test_self_attention_key_padding_mask_ignores_padded_tokens():
    block = layers.TransformerBlock(2, 16, norm="post")
    x = RNG.normal(size=(2, 6, 8)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
    changed = x.copy()
    changed[0, 4:] = RNG.normal(size=(2, 8))
    out, probs = block(x, mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(to_numpy(probs)[0, :, :, 4:], 0.0, atol=1e-7)
    other = to_numpy(block(changed, mask=mask))
    np.testing.assert_allclose(other[0, :4], to_numpy(out)[0, :4], atol=1e-5)
    np.testing.assert_allclose(to_numpy(block(x, mask=mask)), to_numpy(out), atol=1e-5)


def test_cross_attention_block_attends_from_queries_to_context():
    block = layers.TransformerBlock(2, 16, attention="cross")
    x = RNG.normal(size=(2, 7, 8)).astype("float32")
    context = RNG.normal(size=(2, 4, 8)).astype("float32")
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    fused = to_numpy(block(x, context=context, mask=mask))
    out, probs = block(x, context=context, mask=mask, return_attention_scores=True)
    probs = to_numpy(probs)
    assert probs.shape == (2, 2, 7, 4)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs[0, :, :, 3], 0.0, atol=1e-7)
    np.testing.assert_allclose(to_numpy(out), fused, atol=1e-5)
    # A naive computation of the same cross-attention.
    attn = block.attention
    h = to_numpy(block.norm1(x))
    q = (h @ to_numpy(attn.query.kernel) + to_numpy(attn.query.bias)).reshape(2, 7, 2, 4)
    k = (context @ to_numpy(attn.key.kernel) + to_numpy(attn.key.bias)).reshape(2, 4, 2, 4)
    v = (context @ to_numpy(attn.value.kernel) + to_numpy(attn.value.bias)).reshape(2, 4, 2, 4)
    logits = np.einsum("bqhd,bkhd->bhqk", q, k) / 2.0 + np.where(mask, 0, -1e9)[:, None, None]
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(probs, p, atol=1e-5)
    o = np.einsum("bhqk,bkhd->bqhd", p, v).reshape(2, 7, 8)
    o = o @ to_numpy(attn.proj.kernel) + to_numpy(attn.proj.bias)
    np.testing.assert_allclose(to_numpy(attn(h, context=context, mask=mask)), o, atol=1e-5)
    with pytest.raises(ValueError, match="context"):
        layers.TransformerBlock(2, 16)(x, context=context)


def test_block_with_a_given_attention_layer_round_trips():
    attention = layers.MultiHeadSelfAttention(2, use_bias=False, name="attention")
    block = layers.TransformerBlock(2, 16, attention=attention)
    x = RNG.normal(size=(1, 3, 8)).astype("float32")
    out = to_numpy(block(x))
    clone = layers.TransformerBlock.from_config(block.get_config())
    clone.build(x.shape)
    clone.set_weights(block.get_weights())
    assert not clone.attention.use_bias
    np.testing.assert_allclose(to_numpy(clone(x)), out, atol=1e-6)
    with pytest.raises(ValueError, match="norm"):
        layers.TransformerBlock(2, 16, norm="middle")
