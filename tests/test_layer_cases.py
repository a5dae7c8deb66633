"""Every public layer of keras_vt.layers through the shared layer test (tests/layer_case.py).

Each case is one tiny configuration: build, symbolic and eager calls, config and
serialize/deserialize round trips, a `.keras` save/load in a functional model, training, mixed
precision and masking. The maths of each layer is checked in test_layers.py,
test_conv_attention.py and the family tests; this file checks the Keras contract, once per layer.
"""

import inspect

import keras
import numpy as np
import pytest
from layer_case import run_layer_test

from keras_vt import layers

RNG = np.random.default_rng(0)


def normal(*shape):
    return RNG.normal(size=shape).astype("float32")


TOKENS = normal(2, 5, 8)
FEATURE_MAP = normal(2, 6, 6, 8)

# name -> (class, constructor arguments, inputs, expected output shapes, further arguments of
# run_layer_test). Several cases may test one class.
CASES = {
    "PatchEmbedding": (
        layers.PatchEmbedding,
        dict(patch_size=4, hidden_dim=8),
        normal(2, 8, 12, 3),
        (2, 6, 8),
        dict(expected_num_trainable_weights=2),
    ),
    "ConvTokenEmbedding": (
        layers.ConvTokenEmbedding,
        dict(filters=8, kernel_size=3, strides=2, padding=1),
        normal(2, 8, 8, 3),
        (2, 4, 4, 8),
        dict(expected_num_trainable_weights=4),
    ),
    "ClassToken": (
        layers.ClassToken,
        dict(num_tokens=2),
        TOKENS,
        (2, 7, 8),
        dict(expected_num_trainable_weights=1),
    ),
    "PositionEmbedding": (
        layers.PositionEmbedding,
        dict(grid_size=(2, 2), num_prefix_tokens=1, interpolation="bilinear"),
        TOKENS,
        (2, 5, 8),
        dict(expected_num_trainable_weights=1),
    ),
    "SinCosPositionEmbedding2D": (
        layers.SinCosPositionEmbedding2D,
        dict(grid_size=(2, 2), num_prefix_tokens=1),
        TOKENS,
        (2, 5, 8),
        {},
    ),
    "PositionEncodingGenerator": (
        layers.PositionEncodingGenerator,
        dict(num_prefix_tokens=1),
        TOKENS,
        (2, 5, 8),
        dict(call_kwargs=dict(grid=(2, 2)), expected_num_trainable_weights=2),
    ),
    "DepthwiseConv2D": (
        layers.DepthwiseConv2D,
        dict(kernel_size=3, strides=2, padding="same", implementation="shifts"),
        FEATURE_MAP,
        (2, 3, 3, 8),
        dict(expected_num_trainable_weights=2),
    ),
    "MultiHeadSelfAttention": (
        layers.MultiHeadSelfAttention,
        dict(num_heads=2),
        TOKENS,
        (2, 5, 8),
        dict(expected_num_trainable_weights=4, supports_masking=True, mask_input=None),
    ),
    "MultiHeadSelfAttention_causal_scores": (
        layers.MultiHeadSelfAttention,
        dict(num_heads=2, key_dim=3, causal=True),
        TOKENS,
        ((2, 5, 8), (2, 2, 5, 5)),
        dict(
            call_kwargs=dict(return_attention_scores=True),
            expected_num_trainable_weights=4,
            supports_masking=True,
        ),
    ),
    "MultiHeadCrossAttention": (
        layers.MultiHeadCrossAttention,
        dict(num_heads=2, use_bias=False),
        dict(x=TOKENS, context=normal(2, 4, 6)),
        (2, 5, 8),
        dict(expected_num_trainable_weights=4, supports_masking=True, mask_input="context"),
    ),
    "MLP": (
        layers.MLP,
        dict(hidden_dim=16, output_dim=4, activation="quick_gelu"),
        TOKENS,
        (2, 5, 4),
        dict(expected_num_trainable_weights=4),
    ),
    "DropPath": (layers.DropPath, dict(rate=0.5, seed=1), TOKENS, (2, 5, 8), {}),
    "TransformerBlock": (
        layers.TransformerBlock,
        dict(num_heads=2, mlp_dim=16, drop_path=0.1),
        TOKENS,
        (2, 5, 8),
        dict(expected_num_trainable_weights=12, supports_masking=True, mask_input=None),
    ),
    "TransformerBlock_post_norm_cross": (
        layers.TransformerBlock,
        dict(num_heads=2, mlp_dim=16, norm="post", attention="cross"),
        dict(x=TOKENS, context=normal(2, 4, 8)),
        (2, 5, 8),
        dict(expected_num_trainable_weights=16, supports_masking=True, mask_input="context"),
    ),
    "ConvProjectionAttention": (
        layers.ConvProjectionAttention,
        dict(num_heads=2, num_prefix_tokens=1, scale="head"),
        # The grid as the feature map the tokens come from, as CvT passes it (on JAX a
        # (height, width) tuple cannot go through a symbolic call: the layer has no
        # compute_output_shape, and tracing turns the tuple into tracers).
        dict(x=normal(2, 1 + 16, 8), grid=normal(2, 4, 4, 1)),
        (2, 17, 8),
        dict(
            expected_num_trainable_weights=17,
            expected_num_non_trainable_weights=6,
            supports_masking=True,
        ),
    ),
    "ConvTransformerBlock": (
        layers.ConvTransformerBlock,
        dict(num_heads=2, mlp_dim=16, num_prefix_tokens=1),
        dict(x=normal(2, 4, 4, 8), prefix=normal(2, 1, 8)),
        ((2, 4, 4, 8), (2, 1, 8)),
        dict(
            expected_num_trainable_weights=25,
            expected_num_non_trainable_weights=6,
            supports_masking=True,
        ),
    ),
    "AttentionPool2D": (
        layers.AttentionPool2D,
        dict(grid_size=3, num_heads=2, output_dim=4),
        normal(2, 3, 3, 8),
        (2, 4),
        dict(expected_num_trainable_weights=9),
    ),
    "TextEmbedding": (
        layers.TextEmbedding,
        dict(vocabulary_size=20, max_length=8, hidden_dim=8),
        dict(
            token_ids=RNG.integers(0, 20, (2, 6)).astype("int32"),
            segment_ids=RNG.integers(0, 2, (2, 6)).astype("int32"),
        ),
        (2, 6, 8),
        dict(expected_num_trainable_weights=5),
    ),
    "NonLocalBlock": (
        layers.NonLocalBlock,
        {},
        FEATURE_MAP,
        (2, 6, 6, 8),
        dict(expected_num_trainable_weights=10, expected_num_non_trainable_weights=2),
    ),
    "NonLocalBlock_full": (
        layers.NonLocalBlock,
        dict(inter_channels=3, sub_sample=False, use_batch_norm=False),
        FEATURE_MAP,
        (2, 6, 6, 8),
        dict(expected_num_trainable_weights=8),
    ),
    "DoubleAttention": (
        layers.DoubleAttention,
        dict(feature_channels=4, num_descriptors=3),
        FEATURE_MAP,
        (2, 6, 6, 8),
        dict(expected_num_trainable_weights=8),
    ),
    "AttentionAugmentedConv2D": (
        layers.AttentionAugmentedConv2D,
        dict(filters=12, kernel_size=3, key_dim=8, value_dim=4, num_heads=2),
        FEATURE_MAP,
        (2, 6, 6, 12),
        dict(expected_num_trainable_weights=8),
    ),
    "AttentionAugmentedConv2D_strided": (
        layers.AttentionAugmentedConv2D,
        dict(filters=12, kernel_size=3, key_dim=8, value_dim=4, num_heads=2, strides=2),
        FEATURE_MAP,
        (2, 3, 3, 12),
        dict(expected_num_trainable_weights=8),
    ),
    "LocalSelfAttention2D": (
        layers.LocalSelfAttention2D,
        dict(filters=8, kernel_size=3, num_heads=2),
        FEATURE_MAP,
        (2, 6, 6, 8),
        dict(expected_num_trainable_weights=5),
    ),
    "AxialAttention1D": (
        layers.AxialAttention1D,
        dict(axis="width", filters=8, num_heads=2),
        FEATURE_MAP,
        (2, 6, 6, 8),
        dict(expected_num_trainable_weights=6),
    ),
    "AxialAttention": (
        layers.AxialAttention,
        dict(filters=8, num_heads=2),
        FEATURE_MAP,
        (2, 6, 6, 8),
        dict(expected_num_trainable_weights=12),
    ),
    "SpatialSoftAttention": (
        layers.SpatialSoftAttention,
        dict(units=6, use_gate=True),
        dict(features=normal(2, 9, 4), hidden=normal(2, 5)),
        ((2, 4), (2, 9)),
        dict(expected_num_trainable_weights=6),
    ),
    "SpatialHardAttention": (
        layers.SpatialHardAttention,
        dict(units=6, seed=3),
        dict(features=normal(2, 3, 3, 4), hidden=normal(2, 5)),
        ((2, 4), (2, 3, 3), (2, 9)),
        dict(expected_num_trainable_weights=4),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer(name, tmp_path):
    cls, init_kwargs, input_data, expected_output_shape, options = CASES[name]
    run_layer_test(
        cls, init_kwargs, input_data, expected_output_shape, tmp_path=tmp_path, **options
    )


def public_layer_classes():
    return {
        name: value
        for name, value in vars(layers).items()
        if inspect.isclass(value) and issubclass(value, keras.layers.Layer)
    }


def test_every_public_layer_has_a_case():
    tested = {case[0] for case in CASES.values()}
    missing = sorted(name for name, cls in public_layer_classes().items() if cls not in tested)
    assert missing == [], f"public layers without an entry in CASES: {missing}"
