"""CNN attention through the one attention core: every attention layer returns its probabilities,
limiting cases equal global attention, and `viz.attention_maps` works on the attention ResNets."""

import inspect
import pathlib

import keras
import numpy as np
import pytest

import keras_vt
from keras_vt import layers as L
from keras_vt.layers import attend


def np_(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def feature_map(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


# Layers that always return their weights with their output (`(context, alpha)`), by design.
ALWAYS_RETURN_WEIGHTS = {"SpatialSoftAttention", "SpatialHardAttention"}


def attention_layer_classes():
    classes = []
    for name, obj in vars(L).items():
        if not (inspect.isclass(obj) and issubclass(obj, keras.layers.Layer)):
            continue
        if "Attention" in name or name in ("NonLocalBlock", "TransformerBlock"):
            classes.append(obj)
    return classes


def test_every_attention_layer_returns_its_probabilities():
    classes = attention_layer_classes()
    assert len(classes) >= 10
    missing = []
    for cls in classes:
        if cls.__name__ in ALWAYS_RETURN_WEIGHTS:
            continue
        takes = "return_attention_scores" in inspect.signature(cls.call).parameters
        if not (getattr(cls, "returns_attention_scores", False) and takes):
            missing.append(cls.__name__)
    assert not missing, f"attention layers without the inspection path: {missing}"


def test_no_layer_has_a_softmax_of_its_own():
    # One softmax for attention: `attend` (keras_vt/layers/attention.py).
    root = pathlib.Path(keras_vt.__file__).parent / "layers"
    offenders = [
        path.name
        for path in sorted(root.glob("*.py"))
        if path.name != "attention.py"
        and any(code in path.read_text() for code in ("ops.softmax(", "def _softmax", "exp("))
    ]
    assert not offenders, offenders


MAPS = {
    "non_local": (lambda: L.NonLocalBlock(), [(2, 1, 36, 9)]),
    "double": (lambda: L.DoubleAttention(4, 3), [(2, 1, 3, 36), (2, 1, 36, 3)]),
    "augmented": (lambda: L.AttentionAugmentedConv2D(12, 3, 8, 4, num_heads=2), [(2, 2, 36, 36)]),
    "local": (lambda: L.LocalSelfAttention2D(8, 3, num_heads=2), [(2, 2, 36, 9)]),
    "axial": (lambda: L.AxialAttention(8, num_heads=2), [(2, 2, 36, 6), (2, 2, 36, 6)]),
}


@pytest.mark.parametrize("name", sorted(MAPS))
def test_layer_maps_are_batch_heads_queries_keys(name):
    make, shapes = MAPS[name]
    layer = make()
    x = feature_map((2, 6, 6, 8))
    y, maps = layer(x, return_attention_scores=True)
    maps = maps if isinstance(maps, tuple) else (maps,)
    assert [tuple(m.shape) for m in maps] == shapes
    for m in maps:
        np.testing.assert_allclose(np_(m).sum(-1), 1.0, atol=1e-5)
    # The inspection path computes the same outputs as the plain call.
    np.testing.assert_allclose(np_(y), np_(layer(x)), atol=1e-5)


def test_local_attention_with_a_covering_window_and_zero_relative_terms_is_global():
    height, width, heads, depth = 3, 4, 2, 4
    layer = L.LocalSelfAttention2D(heads * depth, kernel_size=7, num_heads=heads)
    x = feature_map((2, height, width, 5))
    layer(x)
    layer.rel_rows.assign(np.zeros(layer.rel_rows.shape, "float32"))
    layer.rel_cols.assign(np.zeros(layer.rel_cols.shape, "float32"))
    q, k, v = (
        keras.ops.reshape(proj(x), (2, height * width, heads, depth))
        for proj in (layer.query, layer.key, layer.value)
    )
    expected, _ = attend(q, k, v, 1.0, fused=False)  # the paper's local attention is unscaled
    expected = np_(expected).reshape(2, height, width, heads * depth)
    np.testing.assert_allclose(np_(layer(x)), expected, atol=1e-5)


def test_axial_attention_on_one_row_is_full_attention():
    heads, dk, dv, width = 2, 3, 4, 7
    layer = L.AxialAttention1D("width", heads * dv, heads, key_dim=dk, position_sensitive=False)
    x = feature_map((2, 1, width, 5))
    y = np_(layer(x))
    # Full multi-head attention over the 7 tokens of the row, in numpy from the layer's weights.
    tokens = x.reshape(2, width, 5)
    q, k, v = (
        (tokens @ np_(w)).reshape(2, width, heads, d)
        for w, d in ((layer.query.kernel, dk), (layer.key.kernel, dk), (layer.value.kernel, dv))
    )
    logits = np.einsum("bqnd,bknd->bnqk", q, k) / np.sqrt(dk)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    expected = np.einsum("bnqk,bknd->bqnd", probs, v).reshape(2, width, heads * dv)
    np.testing.assert_allclose(y.reshape(2, width, -1), expected, atol=1e-5)


def test_non_local_resnet_blocks_are_the_identity_at_initialisation():
    model = keras_vt.create_model("nonlocal_resnet50", tiny=True, num_classes=3)
    blocks = [layer for layer in model.layers if isinstance(layer, L.NonLocalBlock)]
    assert blocks
    for block in blocks:
        probe = keras.Model(model.input, [block.input, block.output])
        inp, out = probe(feature_map((1, 32, 32, 3)))
        np.testing.assert_array_equal(np_(out), np_(inp))


def test_bad_input():
    with pytest.raises(ValueError, match=r"kernel_size=7 for a 5x5 feature map.*Expected"):
        L.LocalSelfAttention2D(8, 7, num_heads=2, padding="valid")(feature_map((1, 5, 5, 4)))
    with pytest.raises(ValueError, match=r"filters=6 \(the input channels\).*num_heads=4"):
        L.AxialAttention1D(num_heads=4)(feature_map((1, 4, 4, 6)))
    with pytest.raises(ValueError, match=r"filters=12 with num_heads=8"):
        L.LocalSelfAttention2D(12, 3, num_heads=8)
    with pytest.raises(ValueError, match="attention_layer='global'"):
        keras_vt.create_model("resnet26", tiny=True, attention_layer="global")


ATTENTION_RESNETS = [
    "aa_resnet26",
    "nonlocal_resnet50",
    "a2_resnet50",
    "sasa_resnet26",
    "axial_resnet26s",
]


@pytest.mark.parametrize("name", ATTENTION_RESNETS)
def test_attention_maps_on_attention_resnets(name):
    model = keras_vt.create_model(name, tiny=True, num_classes=3)
    x = feature_map((2, 32, 32, 3), seed=1)
    outputs, maps = keras_vt.viz.attention_maps(model, x, return_outputs=True)
    assert maps
    for m in maps:
        assert m.ndim == 4 and m.shape[0] == 2
        np.testing.assert_allclose(m.sum(-1), 1.0, atol=1e-4)
    # Explicit (inspection) path and the model's own path agree.
    np.testing.assert_allclose(outputs, np_(model(x)), atol=1e-4)
