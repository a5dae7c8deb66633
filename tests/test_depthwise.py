"""keras_vt.layers.DepthwiseConv2D: the shifted-sum path equals Keras' depthwise convolution."""

import keras
import numpy as np
import pytest

from keras_vt.layers import DepthwiseConv2D


def outputs(layer, x):
    return keras.ops.convert_to_numpy(layer(x))


@pytest.mark.parametrize(
    "kernel, strides, padding, size, use_bias",
    [
        (3, 1, "same", (7, 7), True),
        (3, 2, "same", (7, 8), False),
        (3, 2, "valid", (9, 6), True),
        (1, 1, "valid", (4, 5), False),
        (5, 2, "same", (10, 11), True),
        ((3, 5), (1, 2), "same", (8, 9), False),
    ],
)
def test_shifted_sum_matches_keras_depthwise_conv(kernel, strides, padding, size, use_bias):
    x = np.random.default_rng(0).normal(size=(2, *size, 6)).astype("float32")
    options = dict(strides=strides, padding=padding, use_bias=use_bias)
    shifts = DepthwiseConv2D(kernel, implementation="shifts", **options)
    shifts.build(x.shape)
    rng = np.random.default_rng(1)
    shifts.set_weights([rng.normal(size=w.shape).astype("float32") for w in shifts.get_weights()])
    reference = keras.layers.DepthwiseConv2D(kernel, **options)
    reference.build(x.shape)
    reference.set_weights(shifts.get_weights())
    want = outputs(reference, x)
    np.testing.assert_allclose(outputs(shifts, x), want, atol=1e-5)
    assert outputs(DepthwiseConv2D(kernel, implementation="conv", **options), x).shape == want.shape


def test_auto_uses_shifts_on_jax_only_and_config_round_trips():
    layer = DepthwiseConv2D(3, padding="same")
    assert layer._uses_shifts() == (keras.backend.backend() == "jax")
    assert not DepthwiseConv2D(3, depth_multiplier=2, implementation="shifts")._uses_shifts()
    clone = DepthwiseConv2D.from_config(DepthwiseConv2D(3, implementation="shifts").get_config())
    assert clone.implementation == "shifts"
    with pytest.raises(ValueError, match="implementation='fast'.*Expected one of"):
        DepthwiseConv2D(3, implementation="fast")


def test_shifted_sum_trains_like_the_convolution():
    """One SGD step from the same weights moves both layers to the same weights."""
    x = np.random.default_rng(2).normal(size=(4, 6, 6, 3)).astype("float32")
    y = np.random.default_rng(3).normal(size=(4, 3, 3, 3)).astype("float32")
    weights = []
    for implementation in ("conv", "shifts"):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((6, 6, 3))
        layer = DepthwiseConv2D(3, strides=2, padding="same", implementation=implementation)
        model = keras.Model(inputs, layer(inputs))
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)
        weights.append([keras.ops.convert_to_numpy(w) for w in model.weights])
    for conv, shifts in zip(*weights):
        np.testing.assert_allclose(shifts, conv, atol=1e-5)


@pytest.mark.parametrize("implementation", ["conv", "shifts"])
def test_batch_norm_folds_into_the_kernel(implementation):
    """CvT's inference path: conv.convolve(x, folded kernel, bias) == BatchNorm(conv(x))."""
    from keras_vt.layers.conv_projection import folded_batch_norm

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 8, 5)).astype("float32")
    conv = DepthwiseConv2D(3, strides=2, use_bias=False, implementation=implementation)
    norm = keras.layers.BatchNormalization(epsilon=1e-5)
    conv.build(x.shape)
    norm.build((None, None, None, 5))
    conv.kernel.assign(rng.normal(size=(3, 3, 5, 1)).astype("float32"))
    for variable, low in ((norm.gamma, -2), (norm.beta, -2), (norm.moving_mean, -1)):
        variable.assign(rng.uniform(low, 2, size=5).astype("float32"))
    norm.moving_variance.assign(rng.uniform(0.1, 3, size=5).astype("float32"))
    reference = keras.ops.convert_to_numpy(norm(conv(x), training=False))
    kernel, bias = folded_batch_norm(conv.kernel, norm, "float32")
    folded = keras.ops.convert_to_numpy(conv.convolve(x, kernel, bias))
    np.testing.assert_allclose(folded, reference, rtol=1e-5, atol=1e-5)
