"""bfloat16 and int8 inference paths (keras_vt.precision): correctness on every backend.

Speed is measured in benchmarks/bench.py, never here. Each family is built once in float32; the
bfloat16 twin and the int8 copy receive the same weights, so the differences below are the
precision's alone.
"""

import os
import tempfile

import keras
import numpy as np
import pytest

import keras_vt
from tests.model_case import case_for, to_numpy

FAMILIES = [
    "vit_tiny_patch16_224",
    "deit_tiny_distilled_patch16_224",
    "cpvt_tiny_gap",
    "cvt_13",
    "clip_vit_b32",
]


def predict(model, x):
    """Compiled inference (XLA on JAX and TensorFlow: eager JAX dispatches op by op, minutes
    for CvT); a dict output (CLIP) is summed, a tuple gives its first entry."""
    out = model.predict_on_batch(x)
    if isinstance(out, dict):
        return sum(np.asarray(v, np.float32) for v in out.values())
    return np.asarray(out[0] if isinstance(out, (list, tuple)) else out, np.float32)


def relative_error(y, ref):
    y, ref = np.asarray(y, np.float32), np.asarray(ref, np.float32)
    return float(np.abs(y - ref).max() / (np.abs(ref).max() + 1e-12))


@pytest.fixture(scope="module", params=FAMILIES)
def family(request):
    case = case_for(request.param)
    keras.utils.set_random_seed(0)
    model = case.build()
    x = case.inputs(model, batch=3)
    return case, model, x, predict(model, x)


def test_bfloat16_follows_float32(family):
    case, model, x, ref = family
    twin = case.build(dtype="bfloat16")
    twin.set_weights(model.get_weights())
    assert all(w.dtype == "bfloat16" for w in twin.trainable_weights if len(w.shape) >= 2)
    y = predict(twin, x)
    assert np.isfinite(y).all()
    # bfloat16 keeps 8 mantissa bits: ~0.4 % per rounding, a few percent after a tiny network.
    assert relative_error(y, ref) < 0.08, relative_error(y, ref)


def test_int8_follows_float32_and_reloads(family):
    case, model, x, ref = family
    quantized = case.build()
    quantized.set_weights(model.get_weights())
    keras_vt.precision.quantize(quantized)
    int8 = [w for w in quantized.weights if w.dtype == "int8"]
    assert len(int8) >= 4, "every Dense kernel of the blocks is quantised"
    y = predict(quantized, x)
    error = relative_error(y, ref)
    assert 0 < error < 0.08, error  # > 0: the int8 kernels are really used
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "int8.keras")
        quantized.save(path)
        reloaded = keras.saving.load_model(path)
    assert sorted(w.path for w in reloaded.weights if w.dtype == "int8") == sorted(
        w.path for w in int8
    )
    np.testing.assert_allclose(predict(reloaded, x), y, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the CPU int8 matmul is torch's")
def test_int8_matmul_is_exact_and_used():
    import torch

    assert keras_vt.precision.enable_int8_matmul()
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.integers(-128, 128, size=(2, 5, 24)).astype("int8"))
    b = torch.from_numpy(rng.integers(-128, 128, size=(24, 16)).astype("int8"))
    calls = []
    original = torch._int_mm
    torch._int_mm = lambda *args: calls.append(1) or original(*args)
    try:
        out = keras.ops.matmul(a, b)
    finally:
        torch._int_mm = original
    assert calls, "torch._int_mm was not called"
    expected = a.numpy().astype(np.int64) @ b.numpy().astype(np.int64)
    np.testing.assert_array_equal(out.numpy(), expected)
    assert keras.ops.matmul(a.float(), b.float()).dtype == torch.float32  # others untouched


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.compile is PyTorch's")
def test_compiled_int8_dense_follows_keras_int8():
    """`quantize(model, compile=True)`: the compiled int8 Dense path is taken at inference and
    gives Keras' int8 outputs up to a rounding step; training keeps Keras' own path."""
    from keras.src.layers.core.dense import Dense
    from torch._dynamo.utils import counters

    keras_call = Dense._int8_call
    try:
        check_compiled_int8_dense(counters)
    finally:
        Dense._int8_call = keras_call  # the patch is process-wide: later tests get Keras' path


def check_compiled_int8_dense(counters):
    keras.utils.set_random_seed(0)
    model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True)
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
    twin = keras_vt.create_model("vit_tiny_patch16_224", tiny=True)
    twin.set_weights(model.get_weights())
    keras_vt.precision.quantize(model)
    eager = predict(model, x)  # before the patch: Keras' int8 path
    graphs = counters["stats"]["unique_graphs"]
    keras_vt.precision.quantize(twin, compile=True)
    compiled = predict(twin, x)
    assert counters["stats"]["unique_graphs"] > graphs, "the compiled path was not taken"
    assert relative_error(compiled, eager) < 0.02, relative_error(compiled, eager)
    graphs = counters["stats"]["unique_graphs"]
    twin(x, training=True)  # gradients enabled: Keras' path, nothing compiled
    assert counters["stats"]["unique_graphs"] == graphs


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.compile is PyTorch's")
def test_compiled_int8_dense_fuses_every_mlp_activation():
    """The compiled int8 Dense computes MLP's activation in its last pass: the same outputs as
    Keras' int8 path (which applies it after the layer) for every activation MLP offers."""
    from keras.src.layers.core.dense import Dense
    from torch._dynamo.utils import counters

    from keras_vt.layers.transformer import ACTIVATIONS

    keras_call = Dense._int8_call
    x = np.random.default_rng(0).normal(size=(2, 6, 16)).astype("float32")
    try:
        for activation in ACTIVATIONS:
            keras.utils.set_random_seed(0)
            models = []
            for _ in range(2):
                inputs = keras.Input((6, 16))
                outputs = keras_vt.layers.MLP(32, activation=activation)(inputs)
                models.append(keras.Model(inputs, outputs))
            models[1].set_weights(models[0].get_weights())
            keras_vt.precision.quantize(models[0])
            eager = predict(models[0], x)
            graphs = counters["stats"]["unique_graphs"]
            keras_vt.precision.quantize(models[1], compile=True)
            assert models[1].layers[1].fc1.activation is ACTIVATIONS[activation]
            compiled = predict(models[1], x)
            assert counters["stats"]["unique_graphs"] > graphs, "the compiled path was not taken"
            # Same arithmetic: ~1e-7 here; one int8 step moved at a rounding boundary stays
            # far below 5e-3, while quick_gelu computed as GELU gives 1.7e-2.
            assert relative_error(compiled, eager) < 5e-3, activation
            Dense._int8_call = keras_call
    finally:
        Dense._int8_call = keras_call


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.compile is PyTorch's")
def test_compiled_int8_dense_compiles_every_shape():
    """More input shapes than dynamo's default of 8 recompilations a function (CvT-13 has 13):
    each still gets its compiled kernel instead of falling back to eager past the eighth."""
    import torch
    from keras.src.layers.core.dense import Dense
    from torch._dynamo.utils import counters

    keras_call = Dense._int8_call
    try:
        layer = keras.layers.Dense(8)
        layer.build((None, 4))
        layer.quantize("int8")
        keras_vt.precision.compile_int8_dense()
        graphs = counters["stats"]["unique_graphs"]
        for tokens in range(1, 13):
            x = np.random.default_rng(tokens).normal(size=(2, tokens, 4)).astype("float32")
            with torch.no_grad():
                assert tuple(layer(x).shape) == (2, tokens, 8)
        assert counters["stats"]["unique_graphs"] - graphs == 12
    finally:
        Dense._int8_call = keras_call


def test_compile_is_checked():
    model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True)
    with pytest.raises(ValueError, match="Invalid compile: compile='yes'. Expected True or False"):
        keras_vt.precision.quantize(model, compile="yes")
    if keras.backend.backend() != "torch":
        with pytest.raises(
            ValueError,
            match="Invalid compile: compile=True. Expected compile=False on .*jit_compile=True",
        ):
            keras_vt.precision.quantize(model, compile=True)
        assert keras_vt.precision.compile_int8_dense() is False


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="SavedModel export: TF and JAX")
def test_int8_model_exports():
    import tensorflow as tf

    model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True)
    keras_vt.precision.quantize(model)
    images = np.random.default_rng(0).integers(0, 256, size=(2, 32, 32, 3)).astype("uint8")
    with tempfile.TemporaryDirectory() as tmp:
        keras_vt.export.export_saved_model(model, os.path.join(tmp, "sm"))
        served = tf.saved_model.load(os.path.join(tmp, "sm"))
        probabilities = served.serve(tf.constant(images))["probabilities"].numpy()
    assert probabilities.shape == (2, model.num_classes)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)


def test_bad_mode_and_unbuilt_model():
    model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True)
    with pytest.raises(ValueError, match=r"Unknown mode='int4'. Expected one of \('int8',\)"):
        keras_vt.precision.quantize(model, mode="int4")
    with pytest.raises(
        ValueError, match="Invalid model: model of type str. Expected a keras.Model"
    ):
        keras_vt.precision.quantize("vit_tiny_patch16_224")


def test_trained_model_agrees_across_precisions():
    """On a trained model (the explorer's, 92 % on the shapes) bfloat16 and int8 keep float32's
    top-1 on fresh images: agreement >= 97 % on 300 images (the README's >= 99 % is measured in
    benchmarks/bench.py on 2,000), and the accuracy drops by at most 2 points."""
    from keras_vt.apps.common import embedded_manifests

    manifest = embedded_manifests()["cpvt_mini (shapes)"]
    build = dict(weights=manifest["weights_path"], **manifest["overrides"])
    images, labels = keras_vt.data.make_shapes(
        300, image_size=manifest["overrides"]["image_size"], seed=777, clutter=False
    )
    float32 = keras_vt.create_model(manifest["model"], **build)
    x = keras_vt.preprocess(images, float32)
    reference = predict(float32, x).argmax(-1)
    bfloat16 = keras_vt.create_model(manifest["model"], dtype="bfloat16", **build)
    int8 = keras_vt.precision.quantize(keras_vt.create_model(manifest["model"], **build))
    for model in (bfloat16, int8):
        top1 = predict(model, x).argmax(-1)
        assert (top1 == reference).mean() >= 0.97, (
            model.dtype_policy.name,
            (top1 == reference).mean(),
        )
        assert (top1 == labels).mean() >= (reference == labels).mean() - 0.02


def installed_torch_patch(model_name, enable, name):
    """(keras_vt's function, Keras' own) after building `model_name` installed the PyTorch patch
    `enable` of Keras' `nn.<name>`; None on other backends, where `enable` returns False."""
    keras_vt.create_model(model_name, tiny=True)
    if keras.backend.backend() != "torch":
        assert getattr(keras_vt.precision, enable)() is False
        return None
    from keras.src.backend.torch import nn as torch_nn

    assert getattr(keras_vt.precision, enable)()
    fast = getattr(torch_nn, name)
    return fast, fast.__wrapped__


@pytest.mark.parametrize(
    "shape, kernel, strides, dilation",
    [
        ((2, 9, 11, 4), (3, 3, 4, 6), 1, 1),
        ((2, 10, 10, 4), (1, 1, 4, 8), 2, 1),
        ((1, 12, 9, 6), (3, 2, 3, 6), (2, 1), (1, 2)),  # groups=2
    ],
)
def test_channels_last_conv_is_keras_conv_without_copies(shape, kernel, strides, dilation):
    """Building a keras_vt model installs the PyTorch conv without layout copies; outputs and
    gradients equal Keras' own conv to the bit (other backends: a no-op returning False)."""
    patched = installed_torch_patch("resnet18", "enable_channels_last_conv", "conv")
    if patched is None:
        return
    import torch

    fast, keras_conv = patched
    rng = np.random.default_rng(0)
    x_value, k_value = (rng.normal(size=s).astype("float32") for s in (shape, kernel))
    results = []
    for conv in (fast, keras_conv):
        x = torch.tensor(x_value, requires_grad=True)
        k = torch.tensor(k_value, requires_grad=True)
        y = conv(x, k, strides, "valid", "channels_last", dilation)
        (y * torch.arange(y.numel()).reshape(y.shape)).sum().backward()
        results.append([t.detach().numpy() for t in (y, x.grad, k.grad)])
    for mine, theirs in zip(*results):
        np.testing.assert_array_equal(mine, theirs)
    assert tuple(results[0][0].shape) == tuple(
        keras.ops.shape(
            keras_conv(
                torch.zeros(shape), torch.zeros(kernel), strides, "valid", "channels_last", dilation
            )
        )
    )


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize(
    "shape, kv_tokens, mask, causal",
    [
        ((2, 11, 3, 8), 11, None, False),
        ((2, 11, 3, 8), 11, None, True),
        ((2, 7, 2, 4), 9, "padding", False),
        ((2, 9, 2, 4), 9, "causal", True),
    ],
)
def test_strided_attention_is_keras_attention_without_copies(shape, kv_tokens, mask, causal, dtype):
    """Building a keras_vt model installs the PyTorch attention without Keras' contiguous copies;
    outputs and gradients equal Keras' own to the bit (other backends: a no-op returning False)."""
    patched = installed_torch_patch(
        "vit_tiny_patch16_224", "enable_strided_attention", "dot_product_attention"
    )
    if patched is None:
        return
    import torch

    fast, keras_attention = patched
    rng = np.random.default_rng(0)
    batch, tokens, heads, width = shape
    values = [rng.normal(size=(batch, n, heads, width)) for n in (tokens, kv_tokens, kv_tokens)]
    if mask == "padding":
        mask = torch.tensor(rng.uniform(size=(batch, 1, 1, kv_tokens)) > 0.3)
    elif mask == "causal":
        mask = torch.ones((batch, 1, tokens, kv_tokens), dtype=torch.bool)
    results = []
    for attention in (fast, keras_attention):
        inputs = [torch.tensor(v, dtype=getattr(torch, dtype)).requires_grad_() for v in values]
        y = attention(*inputs, mask=mask, scale=0.3, is_causal=causal)
        (y.float() * torch.arange(y.numel()).reshape(y.shape)).sum().backward()
        results.append([t.detach().float().numpy() for t in [y] + [i.grad for i in inputs]])
    for mine, theirs in zip(*results):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize(
    "shape, pad_width",
    [
        ((2, 5, 6, 3), [[0, 0], [2, 2], [2, 2], [0, 0]]),
        ((2, 1, 4, 3), [[0, 0], [3, 1], [0, 5], [0, 0]]),  # pads wider than the axis
        ((3, 4), [[0, 0], [0, 1]]),
        ((2, 3, 4), [[1, 0], [0, 0], [0, 0]]),
    ],
)
def test_zero_pad_is_ops_pad(shape, pad_width):
    from keras_vt.layers.padding import zero_pad

    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    for dtype in ("float32", "bfloat16"):
        xt = keras.ops.convert_to_tensor(x, dtype)
        got, ref = zero_pad(xt, pad_width), keras.ops.pad(xt, pad_width)
        assert keras.backend.standardize_dtype(got.dtype) == dtype
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(keras.ops.cast(got, "float32")),
            keras.ops.convert_to_numpy(keras.ops.cast(ref, "float32")),
        )
    bad = [[0, 0]] * (len(shape) - 1)
    with pytest.raises(ValueError, match=rf"Invalid pad_width: pad_width=.*{len(shape)} axes"):
        zero_pad(keras.ops.convert_to_tensor(x), bad)
    with pytest.raises(ValueError, match=r"non-negative"):
        zero_pad(keras.ops.convert_to_tensor(x), [[0, -1]] + bad)


@pytest.mark.parametrize("padding, data_format", [(2, "channels_last"), (((1, 0), (0, 3)), None)])
def test_zero_padding_layer_is_keras_layer(padding, data_format):
    """keras_vt's `ZeroPadding2D` (the CNNs' padding, through `zero_pad`) gives Keras' layer's
    output and config, and round-trips through its config."""
    from keras_vt.layers.padding import ZeroPadding2D

    x = np.random.default_rng(0).normal(size=(2, 3, 5, 4)).astype("float32")
    ours = ZeroPadding2D(padding, data_format=data_format)
    theirs = keras.layers.ZeroPadding2D(padding, data_format=data_format)
    np.testing.assert_array_equal(to_numpy(ours(x)), to_numpy(theirs(x)))
    assert {**ours.get_config(), "name": None} == {**theirs.get_config(), "name": None}
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(ours))
    assert type(again) is ZeroPadding2D
    np.testing.assert_array_equal(to_numpy(again(x)), to_numpy(theirs(x)))


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.compile is PyTorch's")
@pytest.mark.parametrize(
    "name, int8",
    [
        ("cvt_13", False),
        ("deit_tiny_distilled_patch16_224", True),
        ("cpvt_tiny_gap", False),
        ("resnet18", False),
    ],
)
def test_whole_model_compiles_to_one_graph(name, int8):
    """`model.compile(jit_compile=True)` on PyTorch compiles the model's forward pass with
    torch.compile: one graph, no break inside keras_vt's layers (`fullgraph=True` raises at the
    first). CvT's zero padding broke it before `zero_pad` (34 graphs), the ResNets' before their
    `ZeroPadding2D` padded through it (one graph a padding); int8 models need the
    compiled int8 Dense, which traces inline (Keras' own int8 path breaks the graph). Outputs
    equal the eager model's."""
    import torch
    from keras.src.layers.core.dense import Dense

    keras_call = Dense._int8_call
    try:
        keras.utils.set_random_seed(0)
        case = case_for(name)
        model = case.build()
        x = torch.from_numpy(case.inputs(model, batch=2))
        if int8:
            keras_vt.precision.quantize(model, compile=True)
        with torch.no_grad():
            eager = model(x, training=False)
            torch._dynamo.reset()
            compiled = torch.compile(lambda t: model(t, training=False), fullgraph=True)(x)
        eager, compiled = (
            (e[0], c[0]) if isinstance(e, (list, tuple)) else (e, c) for e, c in [(eager, compiled)]
        ).__next__()
        # float32: the same operations, fused; int8: a rounding step of one scale may differ.
        assert relative_error(compiled.numpy(), eager.numpy()) < (0.02 if int8 else 1e-4)
    finally:
        Dense._int8_call = keras_call


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.compile is PyTorch's")
def test_compiled_training_step_follows_eager_step():
    """`compile(jit_compile=True)` on PyTorch compiles `fit`'s whole step (forward, loss,
    backward, optimizer) with torch.compile. Fed tensors, as `fit` feeds them, a distilled DeiT
    with its teacher breaks the graph only at `backward()` (fed NumPy arrays it broke at every
    layer call), and two AdamW steps move the weights as two eager steps do. (Keras' SGD on
    PyTorch breaks the graph in its update too: it reads its learning rate with `.item()`.)"""
    import torch

    from keras_vt.models.deit import DistilledDeiT
    from keras_vt.training import Distiller

    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(4, 32, 32, 3)).astype("float32"))
    y = torch.from_numpy(rng.integers(0, 10, size=(4,)).astype("int32"))
    weights = {}
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        student = DistilledDeiT(
            image_size=32,
            patch_size=8,
            hidden_dim=32,
            depth=2,
            num_heads=2,
            mlp_dim=64,
            num_classes=10,
        )
        teacher = keras.Sequential(
            [
                keras.Input((32, 32, 3)),
                keras.layers.GlobalAveragePooling2D(),
                keras.layers.Dense(10),
            ]
        )
        model = Distiller(student, teacher, mode="hard")
        model.compile(optimizer=keras.optimizers.AdamW(1e-2), jit_compile=jit)
        initial = [to_numpy(w) for w in student.weights]
        torch._dynamo.reset()
        torch._dynamo.utils.counters.clear()
        for _ in range(2):
            model.train_on_batch(x, y)
        if jit:
            counters = torch._dynamo.utils.counters
            assert counters["stats"]["unique_graphs"] >= 1, dict(counters["stats"])
            breaks = dict(counters["graph_break"])
            assert all("backward()" in reason for reason in breaks), breaks
        weights[jit] = [to_numpy(w) - w0 for w, w0 in zip(student.weights, initial)]
    # Adam moves every weight by about the learning rate (1e-2) a step, whatever the size of its
    # gradient: the steps agree to 1 % of one step (float32 sums in another order).
    assert max(np.abs(d).max() for d in weights[False]) > 1e-2
    for eager, compiled in zip(weights[False], weights[True]):
        np.testing.assert_allclose(compiled, eager, rtol=1e-3, atol=1e-4)
