"""ResNet baselines: parameter counts, shapes, serialisation, training, errors, and parity."""

import keras
import numpy as np
import pytest

import keras_vt
from keras_vt.models.cnn import ResNet


def n_params(model):
    """Trainable parameters as PyTorch counts them (BatchNorm moving statistics excluded)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def images(n=2, size=32, seed=0):
    return np.random.default_rng(seed).normal(size=(n, size, size, 3)).astype("float32")


def small_resnet(**kwargs):
    config = {
        "depths": (1, 1),
        "block": "basic",
        "widths": (4, 8),
        "stem": "small",
        "num_classes": 3,
        "image_size": 16,
    }
    config.update(kwargs)
    return ResNet(**config)


# --- Parameter counts (224 px, 1000 classes). resnet26 (timm: Bottleneck, [2, 2, 2, 2]) is
# 15,995,176 by hand: stem 9,536 + stages 145,408 + 659,456 + 2,629,632 + 10,502,144
# + fc 2,049,000; Hugging Face's ResNetForImageClassification with the same depths agrees.
@pytest.mark.parametrize(
    "name, expected",
    [("resnet18", 11_689_512), ("resnet26", 15_995_176), ("resnet50", 25_557_032)],
)
def test_parameter_counts(name, expected):
    model = keras_vt.create_model(name)
    assert n_params(model) == expected
    assert model.name == name
    keras.backend.clear_session()


def test_registered_in_cnn_family():
    assert {"resnet18", "resnet26", "resnet50"} <= set(keras_vt.list_models(family="cnn"))


@pytest.mark.parametrize("name", ["resnet18", "resnet26", "resnet50"])
def test_tiny_configs(name):
    model = keras_vt.create_model(name, tiny=True, num_classes=4)
    assert to_numpy(model(images(2, 32))).shape == (2, 4)


@pytest.mark.parametrize(
    "stem, size, grid", [("imagenet", 64, 2), ("small", 32, 4), ("imagenet", 65, 3)]
)
def test_output_shapes_for_both_stems(stem, size, grid):
    kwargs = {"depths": (1, 1, 1, 1), "widths": (4, 8, 8, 16), "stem": stem, "image_size": size}
    logits = ResNet(num_classes=5, **kwargs)(images(2, size))
    assert to_numpy(logits).shape == (2, 5)
    fmap = ResNet(include_top=False, pooling=None, **kwargs)(images(2, size))
    assert to_numpy(fmap).shape == (2, grid, grid, 16)


@pytest.mark.parametrize("block, channels", [("basic", 8), ("bottleneck", 32)])
@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_include_top_false_returns_pooled_features(block, channels, pooling):
    model = small_resnet(block=block, include_top=False, pooling=pooling)
    assert model.num_features == channels
    assert to_numpy(model(images(2, 16))).shape == (2, channels)


def test_stage_outputs_are_named():
    model = small_resnet(depths=(2, 1))
    assert model.stage_output_names == ["layer1_1_out", "layer2_0_out"]
    features = keras.Model(model.input, model.get_layer("layer2_0_out").output)
    assert to_numpy(features(images(1, 16))).shape == (1, 8, 8, 8)


def test_mixed_precision_keeps_logits_float32():
    model = small_resnet(dtype="mixed_bfloat16")
    assert model.get_layer("layer1_0_conv1").compute_dtype == "bfloat16"
    assert keras.backend.standardize_dtype(model(images(1, 16)).dtype) == "float32"


def test_mixed_precision_survives_keras_save_load(tmp_path):
    model = keras_vt.create_model("resnet18", tiny=True, num_classes=3, dtype="mixed_bfloat16")
    path = str(tmp_path / "mixed.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.dtype_policy.name == "mixed_bfloat16"
    assert loaded.get_layer("layer1_0_conv1").compute_dtype == "bfloat16"
    x = images(2, 32)
    np.testing.assert_array_equal(to_numpy(model(x)), to_numpy(loaded(x)))


def test_zero_init_residual():
    model = small_resnet(zero_init_residual=True, block="bottleneck")
    assert np.all(to_numpy(model.get_layer("layer1_0_bn3").gamma) == 0)
    assert np.all(to_numpy(model.get_layer("layer1_0_bn2").gamma) == 1)


def test_config_round_trip_gives_identical_outputs():
    model = small_resnet(block="bottleneck", num_classes=4)
    clone = ResNet.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = images(2, 16)
    assert clone.get_config() == model.get_config()
    np.testing.assert_array_equal(to_numpy(model(x)), to_numpy(clone(x)))


def test_keras_save_load_gives_identical_outputs(tmp_path):
    model = keras_vt.create_model("resnet50", tiny=True, num_classes=4)
    path = str(tmp_path / "resnet.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, ResNet)
    x = images(2, 32)
    np.testing.assert_array_equal(to_numpy(model(x)), to_numpy(loaded(x)))


def test_fit_step_lowers_the_loss():
    keras.utils.set_random_seed(0)
    model = keras_vt.create_model("resnet18", tiny=True, num_classes=3)
    x = images(8, 32, seed=1)
    y = np.arange(8) % 3
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"num_classes": 0}, ["num_classes", "0"]),
        ({"num_classes": 2.5}, ["num_classes"]),
        (
            {"image_size": 31, "stem": "imagenet", "depths": (1,) * 4, "widths": (4,) * 4},
            ["image_size", "31", "stem", ">= 32"],
        ),
        ({"image_size": 7, "depths": (1,) * 4, "widths": (4,) * 4}, ["image_size", ">= 8"]),
        ({"image_size": 1}, ["image_size", "1"]),
        ({"stem": "deep"}, ["stem", "deep"]),
        ({"block": "wide"}, ["block", "wide"]),
        ({"widths": (4, 8, 16)}, ["widths"]),
        ({"depths": (1, 0)}, ["depths"]),
        ({"pooling": "sum"}, ["pooling", "sum"]),
        ({"pooling": None}, ["pooling", "include_top"]),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, words):
    with pytest.raises(ValueError) as info:
        small_resnet(**kwargs)
    for word in words:
        assert word in str(info.value)


def test_registry_overrides_are_validated():
    with pytest.raises(ValueError, match="num_classes"):
        keras_vt.create_model("resnet18", num_classes=0)
    with pytest.raises(ValueError, match="image_size"):
        keras_vt.create_model("resnet50", image_size=31)


# --- Attention-augmented ResNets (Bello et al., 2019).


def test_attention_augmented_resnets_are_registered():
    assert {"aa_resnet26", "aa_resnet50"} <= set(keras_vt.list_models("aa_*", family="cnn"))


def test_attention_augmented_resnet_trains_and_round_trips(tmp_path):
    from keras_vt.layers import AttentionAugmentedConv2D

    keras.utils.set_random_seed(0)
    model = keras_vt.create_model("aa_resnet26", tiny=True, num_classes=3)
    augmented = [layer for layer in model.layers if isinstance(layer, AttentionAugmentedConv2D)]
    assert [layer.name for layer in augmented] == [f"layer{s}_0_conv2_aa" for s in (2, 3, 4)]
    assert augmented[0].strides == 2 and augmented[0].num_heads == 2
    x = images(4, 32, seed=2)
    y = np.arange(4) % 3
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    losses = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    path = str(tmp_path / "aa.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"attention_stages": (3,)}, "attention_stages"),
        ({"attention_stages": (0,)}, "attention_stages"),
        ({"attention_stages": (1,), "attention_key_ratio": 0}, "attention_key_ratio"),
        ({"attention_stages": (1,), "attention_heads": 0}, "attention_heads"),
    ],
)
def test_bad_attention_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        small_resnet(**kwargs)


# --- Parity with Hugging Face transformers' ResNetForImageClassification (PyTorch).


def _random_hf_resnet(layer_type, embedding_size, hidden_sizes, depths, num_labels=7):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.ResNetConfig(
        embedding_size=embedding_size,
        hidden_sizes=hidden_sizes,
        depths=depths,
        layer_type=layer_type,
        num_labels=num_labels,
    )
    model = transformers.ResNetForImageClassification(config).eval()
    # Random BatchNorm statistics and affine terms, so a wrong mapping cannot hide behind
    # BatchNorm's identity initialisation.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.2)
                module.running_mean.normal_(0.0, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    return model


def _torch_logits(model, x_nchw):
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x_nchw)).logits.numpy()


@pytest.mark.parametrize(
    "layer_type, embedding_size, hidden_sizes, depths, size",
    [
        ("bottleneck", 16, [32, 64, 128, 256], [1, 2, 1, 1], 64),
        ("basic", 8, [8, 16, 24, 32], [2, 1, 1, 2], 67),
    ],
)
def test_parity_with_hugging_face_resnet(layer_type, embedding_size, hidden_sizes, depths, size):
    from keras_vt.convert import convert_hf_resnet

    hf = _random_hf_resnet(layer_type, embedding_size, hidden_sizes, depths)
    model = convert_hf_resnet(hf, image_size=size)
    assert model.block == layer_type and list(model.depths) == depths
    x = np.random.default_rng(0).normal(size=(2, 3, size, size)).astype("float32")
    expected = _torch_logits(hf, x)
    got = to_numpy(model(x.transpose(0, 2, 3, 1)))
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    features = convert_hf_resnet(hf, image_size=size, include_top=False)
    assert to_numpy(features(x.transpose(0, 2, 3, 1))).shape == (2, hidden_sizes[-1])


def test_torchvision_layout_converter_matches():
    from keras_vt.convert import convert_torchvision_resnet, hf_resnet_to_torchvision_keys

    # Stem width 16 == 4 * 4: the first bottleneck keeps its identity shortcut, in both layouts.
    hf = _random_hf_resnet("bottleneck", 16, [16, 32, 64, 128], [1, 1, 1, 1])
    state_dict = hf_resnet_to_torchvision_keys(hf.state_dict())
    assert "layer1.0.downsample.0.weight" not in state_dict
    assert "layer2.0.downsample.1.running_var" in state_dict and "fc.weight" in state_dict
    model = convert_torchvision_resnet(state_dict, image_size=32)
    x = np.random.default_rng(1).normal(size=(1, 3, 32, 32)).astype("float32")
    np.testing.assert_allclose(
        to_numpy(model(x.transpose(0, 2, 3, 1))), _torch_logits(hf, x), atol=1e-4, rtol=0
    )


def test_converter_reports_missing_extra_and_mismatched_keys():
    from keras_vt.convert import hf_resnet_to_torchvision_keys, load_torchvision_resnet_weights

    hf = _random_hf_resnet("basic", 8, [8, 16, 24, 32], [1, 1, 1, 1], num_labels=3)
    state_dict = hf_resnet_to_torchvision_keys(hf.state_dict())
    del state_dict["layer2.0.conv1.weight"]
    state_dict["extra.weight"] = np.zeros(3)
    model = ResNet(
        depths=(1, 1, 1, 1), widths=(8, 16, 24, 48), stem_width=8, num_classes=3, image_size=32
    )
    before = [to_numpy(w) for w in model.weights]
    with pytest.raises(ValueError) as info:
        load_torchvision_resnet_weights(model, state_dict)
    message = str(info.value)
    assert "missing keys" in message and "layer2.0.conv1.weight" in message
    assert "unexpected keys" in message and "extra.weight" in message
    assert "shape mismatches" in message and "layer4.0.conv2.weight" in message
    # Nothing was assigned.
    assert all(np.array_equal(a, to_numpy(b)) for a, b in zip(before, model.weights))


def test_converter_rejects_incompatible_hf_config():
    from keras_vt.convert import convert_hf_resnet

    hf = _random_hf_resnet("bottleneck", 8, [16, 32, 64, 128], [1, 1, 1, 1])
    hf.config.downsample_in_bottleneck = True
    with pytest.raises(ValueError, match="downsample_in_bottleneck"):
        convert_hf_resnet(hf, image_size=32)
