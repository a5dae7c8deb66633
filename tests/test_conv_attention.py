"""Self-attention layers for CNN feature maps: shapes, probabilities, and small cases recomputed
by hand (explicit numpy loops) from each layer's own weights (their config and `.keras`
round trips are in test_layer_cases.py)."""

import keras
import numpy as np
import pytest

from keras_vt.layers import (
    AttentionAugmentedConv2D,
    AxialAttention,
    AxialAttention1D,
    DoubleAttention,
    LocalSelfAttention2D,
    NonLocalBlock,
    SpatialHardAttention,
    SpatialSoftAttention,
    doubly_stochastic_penalty,
    reinforce_loss,
)


def np_(x):
    return keras.ops.convert_to_numpy(x)


def feature_map(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def softmax(x, axis=-1):
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def dense(layer, x):
    y = x @ np_(layer.kernel)
    return y + np_(layer.bias) if layer.use_bias else y


# Layers built on a (2, 6, 6, 8) input, with how to read their attention probabilities and the
# axis over which these sum to 1.
MAP_LAYERS = {
    "non_local": (lambda: NonLocalBlock(), [-1]),
    "non_local_full": (lambda: NonLocalBlock(inter_channels=3, sub_sample=False), [-1]),
    "double": (lambda: DoubleAttention(feature_channels=4, num_descriptors=3), [-1, -1]),
    "augmented": (
        lambda: AttentionAugmentedConv2D(12, 3, key_dim=8, value_dim=4, num_heads=2),
        [-1],
    ),
    "augmented_s2": (
        lambda: AttentionAugmentedConv2D(12, 3, key_dim=8, value_dim=4, num_heads=2, strides=2),
        [-1],
    ),
    "local": (lambda: LocalSelfAttention2D(8, kernel_size=3, num_heads=2), [-1]),
    "axial": (lambda: AxialAttention(filters=8, num_heads=2), [-1, -1]),
}
OUTPUT_SHAPES = {
    "non_local": (2, 6, 6, 8),
    "non_local_full": (2, 6, 6, 8),
    "double": (2, 6, 6, 8),
    "augmented": (2, 6, 6, 12),
    "augmented_s2": (2, 3, 3, 12),
    "local": (2, 6, 6, 8),
    "axial": (2, 6, 6, 8),
}


@pytest.mark.parametrize("name", sorted(MAP_LAYERS))
def test_shapes_and_probabilities(name):
    make, axes = MAP_LAYERS[name]
    layer = make()
    x = feature_map((2, 6, 6, 8))
    y, scores = layer(x, return_attention_scores=True)
    assert np_(y).shape == OUTPUT_SHAPES[name]
    assert layer.compute_output_shape(x.shape) == OUTPUT_SHAPES[name]
    scores = scores if isinstance(scores, tuple) else (scores,)
    for s, axis in zip(scores, axes):
        s = np_(s)
        assert s.dtype == np.float32 and np.all(s >= 0)
        np.testing.assert_allclose(s.sum(axis=axis), 1.0, atol=1e-5)


def test_non_local_starts_as_identity():
    x = feature_map((2, 6, 6, 8))
    for kwargs in ({}, {"use_batch_norm": False}):
        layer = NonLocalBlock(**kwargs)
        np.testing.assert_array_equal(np_(layer(x)), x)
        np.testing.assert_array_equal(np_(layer(x, training=True)), x)


@pytest.mark.parametrize("sub_sample", [False, True])
def test_non_local_by_hand(sub_sample):
    x = feature_map((1, 4, 4, 6))
    layer = NonLocalBlock(inter_channels=3, sub_sample=sub_sample)
    layer(x)
    rng = np.random.default_rng(2)
    layer.bn.gamma.assign(rng.uniform(0.5, 1.5, size=6).astype("float32"))
    layer.bn.beta.assign(rng.normal(size=6).astype("float32"))

    flat = x.reshape(16, 6)
    theta, phi, g = (dense(layer.theta, flat), dense(layer.phi, x[0]), dense(layer.g, x[0]))
    if sub_sample:  # 2x2 max pool of a 4x4 map
        phi = phi.reshape(2, 2, 2, 2, 3).max(axis=(1, 3))
        g = g.reshape(2, 2, 2, 2, 3).max(axis=(1, 3))
    phi, g = phi.reshape(-1, 3), g.reshape(-1, 3)
    attention = softmax(theta @ phi.T)
    y = dense(layer.out, attention @ g)
    y = np_(layer.bn.gamma) * y / np.sqrt(1.0 + 1e-5) + np_(layer.bn.beta)
    expected = x + y.reshape(1, 4, 4, 6)

    got, scores = layer(x, return_attention_scores=True)
    np.testing.assert_allclose(np_(scores)[0, 0], attention, atol=1e-5)
    np.testing.assert_allclose(np_(got), expected, atol=1e-5)


def test_double_attention_by_hand():
    x = feature_map((1, 3, 4, 5))
    layer = DoubleAttention(feature_channels=4, num_descriptors=2)
    got = np_(layer(x))
    flat = x.reshape(12, 5)
    a = dense(layer.features, flat)  # (12, 4)
    gather = softmax(dense(layer.gather_maps, flat), axis=0)  # (12, 2), over positions
    descriptors = np.stack([(a * gather[:, [n]]).sum(0) for n in range(2)], axis=1)  # (4, 2)
    distribute = softmax(dense(layer.distribute_maps, flat), axis=1)  # over descriptors
    z = np.stack([descriptors @ distribute[p] for p in range(12)])  # (12, 4)
    expected = x + dense(layer.out, z).reshape(1, 3, 4, 5)
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("relative", [True, False])
def test_attention_augmented_conv_by_hand(relative):
    height, width, heads, dk, dv = 3, 4, 2, 4, 4
    x = feature_map((1, height, width, 5))
    layer = AttentionAugmentedConv2D(
        filters=7, kernel_size=3, key_dim=dk, value_dim=dv, num_heads=heads, relative=relative
    )
    got, scores = layer(x, return_attention_scores=True)
    got, scores = np_(got), np_(scores)

    qkv = dense(layer.qkv, x[0])  # (H, W, 2dk + dv)
    dkh, dvh = dk // heads, dv // heads
    q = qkv[..., :dk].reshape(height, width, heads, dkh) * dkh**-0.5
    k = qkv[..., dk : 2 * dk].reshape(height, width, heads, dkh)
    v = qkv[..., 2 * dk :].reshape(height * width, heads, dvh)
    logits = np.zeros((heads, height, width, height, width))
    for n in range(heads):
        for i in range(height):
            for j in range(width):
                for kk in range(height):
                    for ll in range(width):
                        value = q[i, j, n] @ k[kk, ll, n]
                        if relative:
                            value += q[i, j, n] @ np_(layer.key_rel_h)[kk - i + height - 1]
                            value += q[i, j, n] @ np_(layer.key_rel_w)[ll - j + width - 1]
                        logits[n, i, j, kk, ll] = value
    probs = softmax(logits.reshape(heads, height * width, height * width))
    heads_out = np.stack([probs[n] @ v[:, n] for n in range(heads)], axis=1)  # (HW, heads, dvh)
    attention = dense(layer.attn_out, heads_out.reshape(height * width, dv))

    np.testing.assert_allclose(scores[0], probs, atol=1e-5)
    np.testing.assert_allclose(got[0, ..., 3:].reshape(-1, dv), attention, atol=1e-5)
    np.testing.assert_allclose(got[..., :3], np_(layer.conv(x)), atol=1e-6)


def test_relative_logits_make_attention_translation_equivariant():
    # Content-free queries/keys (qkv kernel zero, bias set): logits depend on offsets only, so the
    # attention pattern of an interior query is the pattern of its neighbour shifted by one.
    layer = AttentionAugmentedConv2D(4, 1, key_dim=2, value_dim=2, num_heads=1)
    x = feature_map((1, 5, 5, 3))
    layer(x)
    layer.qkv.kernel.assign(np.zeros(layer.qkv.kernel.shape, "float32"))
    layer.qkv.bias.assign(np.array([1.0, -0.5, 0.0, 0.0, 1.0, 1.0], "float32"))
    _, scores = layer(x, return_attention_scores=True)
    logits = np.log(np_(scores)[0, 0]).reshape(5, 5, 5, 5)
    a = logits[2, 2] - logits[2, 2].mean()
    b = logits[2, 3] - logits[2, 3].mean()
    np.testing.assert_allclose(a[:, :4] - a[:, :4].mean(), b[:, 1:] - b[:, 1:].mean(), atol=1e-4)


def test_local_self_attention_by_hand():
    height, width, heads, depth, ksize = 4, 5, 2, 4, 3
    x = feature_map((1, height, width, 3))
    layer = LocalSelfAttention2D(filters=heads * depth, kernel_size=ksize, num_heads=heads)
    got, scores = layer(x, return_attention_scores=True)
    got, scores = np_(got)[0], np_(scores)[0]
    q = dense(layer.query, x[0]).reshape(height, width, heads, depth)
    k = dense(layer.key, x[0]).reshape(height, width, heads, depth)
    v = dense(layer.value, x[0]).reshape(height, width, heads, depth)
    rows, cols = np_(layer.rel_rows), np_(layer.rel_cols)
    p = ksize // 2
    for n in range(heads):
        for i in range(height):
            for j in range(width):
                logits, values, slots = [], [], []
                for da in range(-p, p + 1):
                    for db in range(-p, p + 1):
                        a, b = i + da, j + db
                        if 0 <= a < height and 0 <= b < width:
                            r = np.concatenate([rows[da + p], cols[db + p]])
                            logits.append(q[i, j, n] @ k[a, b, n] + q[i, j, n] @ r)
                            values.append(v[a, b, n])
                            slots.append((da + p) * ksize + (db + p))
                weights = softmax(np.array(logits))
                expected_scores = np.zeros(ksize * ksize)
                expected_scores[slots] = weights
                np.testing.assert_allclose(scores[n, i * width + j], expected_scores, atol=1e-5)
                expected = weights @ np.array(values)
                np.testing.assert_allclose(
                    got[i, j, n * depth : (n + 1) * depth], expected, atol=1e-5
                )


@pytest.mark.parametrize("axis", ["height", "width"])
@pytest.mark.parametrize("position_sensitive", [True, False])
def test_axial_attention_1d_by_hand(axis, position_sensitive):
    heads, dv, dk = 2, 3, 2
    x = feature_map((1, 3, 4, 5))
    layer = AxialAttention1D(
        axis=axis,
        filters=heads * dv,
        num_heads=heads,
        key_dim=dk,
        position_sensitive=position_sensitive,
    )
    got, scores = layer(x, return_attention_scores=True)
    got, scores = np_(got)[0], np_(scores)[0]
    seqs = x[0].transpose(1, 0, 2) if axis == "height" else x[0]  # (lines, length, C)
    lines, length = seqs.shape[:2]
    expected = np.zeros((lines, length, heads * dv))
    for m in range(lines):
        q = dense(layer.query, seqs[m]).reshape(length, heads, dk)
        k = dense(layer.key, seqs[m]).reshape(length, heads, dk)
        v = dense(layer.value, seqs[m]).reshape(length, heads, dv)
        for n in range(heads):
            for o in range(length):
                logits = np.zeros(length)
                values = np.zeros((length, dv))
                for p in range(length):
                    logits[p] = q[o, n] @ k[p, n]
                    values[p] = v[p, n]
                    if position_sensitive:
                        offset = p - o + length - 1
                        logits[p] += q[o, n] @ np_(layer.rel_q)[offset]
                        logits[p] += k[p, n] @ np_(layer.rel_k)[offset]
                        values[p] += np_(layer.rel_v)[offset]
                weights = softmax(logits / np.sqrt(dk))
                # Rows are pixels, row-major: (row, column) = (o, m) for height, (m, o) for width.
                pixel = o * 4 + m if axis == "height" else m * 4 + o
                np.testing.assert_allclose(scores[n, pixel], weights, atol=1e-5)
                expected[m, o, n * dv : (n + 1) * dv] = weights @ values
    if axis == "height":
        expected = expected.transpose(1, 0, 2)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_axial_attention_is_height_then_width():
    layer = AxialAttention(filters=4, num_heads=2)
    x = feature_map((2, 3, 5, 6))
    y = np_(layer(x))
    manual = layer.width_attention(layer.height_attention(x))
    np.testing.assert_allclose(y, np_(manual), atol=1e-6)


@pytest.mark.parametrize("use_gate", [False, True])
def test_soft_attention_by_hand(use_gate):
    a = feature_map((2, 3, 3, 4))
    h = feature_map((2, 5), seed=3)
    layer = SpatialSoftAttention(units=6, use_gate=use_gate)
    context, alpha = layer(a, h)
    context, alpha = np_(context), np_(alpha)
    assert alpha.shape == (2, 3, 3)
    flat = a.reshape(2, 9, 4)
    energy = np.tanh(dense(layer.feature_proj, flat) + dense(layer.hidden_proj, h)[:, None, :])
    expected_alpha = softmax(dense(layer.score, energy)[..., 0])
    expected = np.einsum("bl,bld->bd", expected_alpha, flat)
    if use_gate:
        expected = expected / (1.0 + np.exp(-dense(layer.gate, h)))
    np.testing.assert_allclose(alpha.reshape(2, 9), expected_alpha, atol=1e-5)
    np.testing.assert_allclose(alpha.sum(axis=(1, 2)), 1.0, atol=1e-5)
    np.testing.assert_allclose(context, expected, atol=1e-5)


def test_hard_attention_samples_in_training_and_averages_at_inference():
    a = feature_map((4, 6, 3))
    h = feature_map((4, 5), seed=1)
    layer = SpatialHardAttention(units=8, seed=0)
    soft = SpatialSoftAttention(units=8)
    soft(a, h)
    context, alpha, sample = layer(a, h, training=True)
    soft.set_weights(layer.get_weights())
    context, alpha, sample = np_(context), np_(alpha), np_(sample)
    assert set(np.unique(sample)) <= {0.0, 1.0} and np.all(sample.sum(-1) == 1)
    np.testing.assert_allclose(context, a[np.arange(4), sample.argmax(-1)], atol=1e-6)
    expected_context, expected_alpha = (np_(t) for t in soft(a, h))
    np.testing.assert_allclose(alpha, expected_alpha, atol=1e-6)
    context, _, sample = layer(a, h, training=False)
    np.testing.assert_allclose(np_(context), expected_context, atol=1e-6)
    np.testing.assert_array_equal(np_(sample).argmax(-1), expected_alpha.argmax(-1))


def test_hard_attention_samples_follow_alpha():
    layer = SpatialHardAttention(units=4, seed=1)
    a = np.repeat(feature_map((1, 5, 3)), 4000, axis=0)
    h = np.repeat(feature_map((1, 2), seed=2), 4000, axis=0)
    _, alpha, sample = layer(a, h, training=True)
    frequencies = np_(sample).mean(0)
    np.testing.assert_allclose(frequencies, np_(alpha)[0], atol=0.03)


def test_doubly_stochastic_penalty_by_hand():
    uniform = np.full((2, 4, 4), 0.25, "float32")  # 4 steps x 4 locations: coverage 1 everywhere
    assert float(np_(doubly_stochastic_penalty(uniform, lam=3.0))) == pytest.approx(0.0, abs=1e-6)
    stuck = np.array([[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]], "float32")  # coverage (2, 0, 0)
    assert float(np_(doubly_stochastic_penalty(stuck, lam=0.5))) == pytest.approx(1.5)
    maps = stuck.reshape(1, 2, 3, 1)  # (batch, steps, height, width) is flattened the same way
    assert float(np_(doubly_stochastic_penalty(maps, lam=0.5))) == pytest.approx(1.5)


def test_reinforce_loss_by_hand():
    alpha = np.array([[0.5, 0.25, 0.25]], "float32")
    sample = np.array([[0.0, 1.0, 0.0]], "float32")
    loss = reinforce_loss(alpha, sample, reward=np.array([2.0]), baseline=1.0)
    assert float(np_(loss)) == pytest.approx(-np.log(0.25), rel=1e-5)
    entropy = -(alpha * np.log(alpha)).sum()
    loss = reinforce_loss(alpha, sample, np.array([2.0]), 1.0, entropy_weight=0.1)
    assert float(np_(loss)) == pytest.approx(-np.log(0.25) - 0.1 * entropy, rel=1e-5)


def test_mixed_precision_runs_with_float32_probabilities():
    layer = AttentionAugmentedConv2D(
        8, 3, key_dim=4, value_dim=4, num_heads=2, dtype="mixed_bfloat16"
    )
    y, scores = layer(feature_map((1, 4, 4, 3)), return_attention_scores=True)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    np.testing.assert_allclose(np_(scores).sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "make, word",
    [
        (lambda: NonLocalBlock(inter_channels=0), "inter_channels"),
        (lambda: AttentionAugmentedConv2D(8, 3, key_dim=6, value_dim=4, num_heads=4), "key_dim"),
        (lambda: AttentionAugmentedConv2D(8, 3, key_dim=4, value_dim=12, num_heads=4), "value_dim"),
        (
            lambda: AttentionAugmentedConv2D(8, 2, key_dim=4, value_dim=4, num_heads=4),
            "kernel_size",
        ),
        (
            lambda: AttentionAugmentedConv2D(8, 3, key_dim=4, value_dim=4, num_heads=4, strides=3),
            "strides",
        ),
        (lambda: LocalSelfAttention2D(12, kernel_size=3, num_heads=4), "filters"),
        (lambda: LocalSelfAttention2D(8, kernel_size=4, num_heads=2), "kernel_size"),
        (lambda: AxialAttention1D(axis="depth"), "axis"),
        (lambda: AxialAttention1D(filters=6, num_heads=4), "filters"),
        (lambda: SpatialSoftAttention(units=0), "units"),
    ],
)
def test_bad_arguments(make, word):
    with pytest.raises(ValueError, match=word):
        make()


def test_bad_input_shapes():
    with pytest.raises(ValueError, match="rank 4"):
        NonLocalBlock()(np.zeros((2, 8, 3), "float32"))
    with pytest.raises(ValueError, match="static height and width"):
        LocalSelfAttention2D(8, 3, 2)(keras.Input((None, None, 4)))
    with pytest.raises(ValueError, match="hidden"):
        SpatialSoftAttention(4)(np.zeros((2, 5, 3), "float32"), np.zeros((2, 3, 3), "float32"))
