"""ResNet checkpoints from Hugging Face transformers, torchvision and timm -> `keras_vt` ResNet.

Three PyTorch layouts of the same network:

- torchvision / timm: `conv1`, `bn1`, `layer{s}.{b}.conv{i}`, `layer{s}.{b}.bn{i}`,
  `layer{s}.{b}.downsample.{0,1}`, `fc`;
- Hugging Face `ResNetForImageClassification`:
  `resnet.embedder.embedder.{convolution,normalization}`,
  `resnet.encoder.stages.{s}.layers.{b}.layer.{i}.{convolution,normalization}`,
  `...shortcut.{convolution,normalization}`, `classifier.1`.

Numerically they agree when Hugging Face's `downsample_in_bottleneck=False` (stride on the 3x3,
the torchvision v1.5 placement), `downsample_in_first_stage=False` and `hidden_act="relu"`, which
are its defaults. Hugging Face keys are first renamed to the torchvision layout, whose names map
one-to-one onto the keras_vt layer names (`layer1.0.conv1` <-> `layer1_0_conv1`). Nothing here
downloads anything: pass a model object or a state dict you loaded yourself.

Example:

```python
from transformers import ResNetForImageClassification
hf = ResNetForImageClassification.from_pretrained("/path/to/local/resnet-50").eval()
model = keras_vt.convert.convert_hf_resnet(hf)          # keras_vt.models.ResNet
logits = model(images_nhwc)                              # == hf(images_nchw).logits
```
"""

import re

import numpy as np

from keras_vt.convert.checkpoint import module_state, to_numpy

_BN_SUFFIXES = ("weight", "bias", "running_mean", "running_var")
_IGNORED_SUFFIXES = ("num_batches_tracked",)


_HF_BLOCK = re.compile(r"^encoder\.stages\.(\d+)\.layers\.(\d+)\.(.+)$")


def hf_resnet_to_torchvision_keys(state_dict):
    """Renames a Hugging Face ResNet state dict to the torchvision layout.

    Keys it does not recognise are kept unchanged, so they surface as unexpected keys when loading.
    """
    renamed = {}
    for key, value in state_dict.items():
        new = key
        new = new.removeprefix("resnet.")
        if new.startswith("embedder.embedder.convolution."):
            new = "conv1." + new[len("embedder.embedder.convolution.") :]
        elif new.startswith("embedder.embedder.normalization."):
            new = "bn1." + new[len("embedder.embedder.normalization.") :]
        elif new.startswith("classifier.1."):
            new = "fc." + new[len("classifier.1.") :]
        else:
            match = _HF_BLOCK.match(new)
            if match:
                stage, index, rest = int(match.group(1)), match.group(2), match.group(3)
                prefix = f"layer{stage + 1}.{index}."
                inner = re.match(r"^layer\.(\d+)\.(convolution|normalization)\.(.+)$", rest)
                short = re.match(r"^shortcut\.(convolution|normalization)\.(.+)$", rest)
                if inner:
                    kind = "conv" if inner.group(2) == "convolution" else "bn"
                    new = f"{prefix}{kind}{int(inner.group(1)) + 1}.{inner.group(3)}"
                elif short:
                    slot = 0 if short.group(1) == "convolution" else 1
                    new = f"{prefix}downsample.{slot}.{short.group(2)}"
                else:
                    new = key
            else:
                new = key
        if new in renamed:
            raise ValueError(f"Two checkpoint keys map to {new!r}; the second is {key!r}.")
        renamed[new] = value
    return renamed


def resnet_config_from_state_dict(state_dict):
    """Infers `ResNet` constructor arguments from a torchvision-layout state dict.

    Returns a dict with `depths`, `block`, `widths`, `stem`, `stem_width` and, when the checkpoint
    has a head, `num_classes`.
    """
    state_dict = {k: v for k, v in state_dict.items() if not k.endswith(_IGNORED_SUFFIXES)}
    if "conv1.weight" not in state_dict:
        raise ValueError(
            "Invalid state_dict: no 'conv1.weight' key. Expected a torchvision-layout ResNet "
            "(for Hugging Face checkpoints use convert_hf_resnet)."
        )
    stem_shape = tuple(to_numpy(state_dict["conv1.weight"]).shape)
    if len(stem_shape) != 4 or stem_shape[1] != 3 or stem_shape[2:] not in ((7, 7), (3, 3)):
        raise ValueError(
            f"Invalid state_dict: conv1.weight has shape {stem_shape}. Expected (width, 3, 7, 7) "
            "(imagenet stem) or (width, 3, 3, 3) (small stem)."
        )
    blocks = {}
    for key in state_dict:
        match = re.match(r"^layer(\d+)\.(\d+)\.", key)
        if match:
            blocks.setdefault(int(match.group(1)), set()).add(int(match.group(2)))
    stages = sorted(blocks)
    if not stages or stages != list(range(1, len(stages) + 1)):
        raise ValueError(
            f"Invalid state_dict: residual stages {stages}. Expected layer1, layer2, ..."
        )
    depths = []
    for stage in stages:
        indices = sorted(blocks[stage])
        if indices != list(range(len(indices))):
            raise ValueError(f"Invalid state_dict: layer{stage} has blocks {indices}.")
        depths.append(len(indices))
    block = "bottleneck" if "layer1.0.conv3.weight" in state_dict else "basic"
    widths = [int(to_numpy(state_dict[f"layer{s}.0.conv1.weight"]).shape[0]) for s in stages]
    config = {
        "depths": tuple(depths),
        "block": block,
        "widths": tuple(widths),
        "stem": "imagenet" if stem_shape[2] == 7 else "small",
        "stem_width": int(stem_shape[0]),
    }
    if "fc.weight" in state_dict:
        config["num_classes"] = int(to_numpy(state_dict["fc.weight"]).shape[0])
    return config


def _torch_prefix(layer_name):
    """keras_vt layer name -> torchvision module path (`layer1_0_downsample_conv` -> ...)."""
    if layer_name.startswith("layer"):
        stage, index, rest = layer_name.split("_", 2)
        rest = {"downsample_conv": "downsample.0", "downsample_bn": "downsample.1"}.get(rest, rest)
        return f"{stage}.{index}.{rest}"
    return layer_name


def _expected_tensors(model):
    """Maps torchvision keys to (variable, transform, expected torch shape) for `model`."""
    import keras

    expected = {}
    for layer in model.layers:
        prefix = _torch_prefix(layer.name)
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            expected[f"{prefix}.weight"] = (
                layer.kernel,
                lambda w: np.transpose(w, (2, 3, 1, 0)),
                (cout, cin, kh, kw),
            )
        elif isinstance(layer, keras.layers.BatchNormalization):
            for suffix, var in zip(
                _BN_SUFFIXES, (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance)
            ):
                expected[f"{prefix}.{suffix}"] = (var, None, tuple(var.shape))
        elif isinstance(layer, keras.layers.Dense):
            cin, cout = layer.kernel.shape
            expected[f"{prefix}.weight"] = (layer.kernel, np.transpose, (cout, cin))
            expected[f"{prefix}.bias"] = (layer.bias, None, (cout,))
    return expected


def load_torchvision_resnet_weights(model, state_dict, skip_head=None):
    """Copies a torchvision-layout ResNet state dict into a keras_vt `ResNet`, strictly.

    Args:
        model: a `keras_vt.models.ResNet`.
        state_dict: mapping of torchvision names to tensors or arrays.
        skip_head: drop `fc.*` from the checkpoint; defaults to True when the model has no head.

    Raises:
        ValueError: listing missing keys, unexpected keys and shape mismatches; nothing is assigned
            unless the whole checkpoint matches.
    """
    state_dict = {k: v for k, v in state_dict.items() if not k.endswith(_IGNORED_SUFFIXES)}
    if skip_head is None:
        skip_head = not getattr(model, "include_top", True)
    if skip_head:
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith("fc.")}
    expected = _expected_tensors(model)
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    arrays = {}
    mismatched = []
    for key in sorted(set(expected) & set(state_dict)):
        array = to_numpy(state_dict[key])
        want = expected[key][2]
        if tuple(array.shape) != tuple(want):
            mismatched.append(f"{key}: checkpoint {tuple(array.shape)} vs model {tuple(want)}")
        arrays[key] = array
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"missing keys ({len(missing)}): {missing}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {unexpected}")
        if mismatched:
            parts.append(f"shape mismatches ({len(mismatched)}): {mismatched}")
        raise ValueError(
            f"Checkpoint does not match the model {model.name!r}: " + "; ".join(parts) + ". "
            "Expected a ResNet checkpoint of the same depths, block type, widths and classes."
        )
    for key, (variable, transform, _) in expected.items():
        array = arrays[key]
        if transform is not None:
            array = transform(array)
        variable.assign(np.ascontiguousarray(array).astype(variable.dtype))
    return model


def convert_torchvision_resnet(
    state_dict, image_size=224, include_top=True, dtype=None, **overrides
):
    """Builds a keras_vt `ResNet` from a torchvision or timm ResNet state dict (or module).

    The architecture is read from the checkpoint's keys and shapes; `overrides` (for instance
    `num_classes` with `include_top=False`) are passed to the constructor.

    Example:

    ```python
    model = convert_torchvision_resnet(torch.load("resnet18.pth"))
    ```
    """
    from keras_vt.models.cnn import ResNet

    state_dict = module_state(state_dict)
    config = resnet_config_from_state_dict(state_dict)
    if not include_top:
        config.pop("num_classes", None)
    config.update(overrides)
    model = ResNet(**config, image_size=image_size, include_top=include_top, dtype=dtype)
    return load_torchvision_resnet_weights(model, state_dict)


def _check_hf_config(config):
    problems = []
    if getattr(config, "downsample_in_first_stage", False):
        problems.append("downsample_in_first_stage=True (keras_vt strides only stages 2+)")
    if getattr(config, "downsample_in_bottleneck", False):
        problems.append("downsample_in_bottleneck=True (keras_vt puts the stride on the 3x3)")
    if getattr(config, "hidden_act", "relu") != "relu":
        problems.append(f"hidden_act={config.hidden_act!r} (keras_vt uses 'relu')")
    if getattr(config, "num_channels", 3) != 3:
        problems.append(f"num_channels={config.num_channels} (keras_vt expects RGB)")
    if problems:
        raise ValueError(
            "Unsupported Hugging Face ResNetConfig: " + "; ".join(problems) + ". Expected the "
            "torchvision-compatible defaults."
        )


def convert_hf_resnet(source, image_size=224, include_top=True, dtype=None, **overrides):
    """Builds a keras_vt `ResNet` holding the weights of a Hugging Face ResNet.

    Args:
        source: a `transformers.ResNetForImageClassification` (or `ResNetModel`), or its state dict.
        image_size: input side of the keras model (ResNets accept any size >= 32).
        include_top: keep the classifier (the checkpoint must have one) or return pooled features.
        dtype: dtype policy of the keras model.
        **overrides: further `ResNet` arguments.

    Returns:
        A `keras_vt.models.ResNet` whose outputs equal the PyTorch model's in eval mode, for inputs
        transposed from NCHW to NHWC.

    Raises:
        ValueError: if the configuration is not torchvision-compatible, or if keys or shapes of
            the checkpoint do not match (the message lists them).
    """
    config = getattr(source, "config", None)
    if config is not None:
        _check_hf_config(config)
    state_dict = hf_resnet_to_torchvision_keys(module_state(source))
    return convert_torchvision_resnet(
        state_dict, image_size=image_size, include_top=include_top, dtype=dtype, **overrides
    )
