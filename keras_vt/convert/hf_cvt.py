"""Hugging Face `CvtForImageClassification` checkpoints -> `keras_vt` CvT.

Hugging Face's port of CvT follows microsoft/CvT (`lib/models/cls_cvt.py`) in its forward pass,
with these differences, checked against the official code and shared REFERENCE.md:

- MLP activation: `nn.GELU()` (exact) where the official code uses QuickGELU. Converted models get
  `activation="gelu"`, so the logits match Hugging Face's; the registered `cvt_*` models keep the
  official QuickGELU.
- Attention scale: `embed_dim ** -0.5`, the full width, as the official code (our default
  `scale="width"`); the paper's scaled dot product implies `head_dim ** -0.5` (`scale="head"`).
- Class token: stage 3 only; split off before the depthwise convolutions and re-attached in front
  of the convolved q/k/v before the linear projections, as in the official code (and ours).
  Final LayerNorm on the class token only.
- Training-time only (not visible in eval mode, so not in the parity test): the stochastic-depth
  rate of every block of stage s is `linspace(0, rate_s, depth_s)[s]` rather than rising over the
  blocks, and drop path is applied to the MLP branch after the residual has been added; the
  attention probabilities are not returned by the model (the parity test reads them with forward
  hooks on the attention dropout modules).
- Initialisation: cls token `randn` then truncated normal 0.02 (official: truncated normal 0.02).
- LayerNorms use PyTorch's default eps 1e-5 (the config's `layer_norm_eps` is unused).

Nothing is downloaded: pass a model object (or a state dict and its `CvtConfig`).

Example:

```python
from transformers import CvtForImageClassification
hf = CvtForImageClassification.from_pretrained("/path/to/local/cvt-13").eval()
model = keras_vt.convert.convert_hf_cvt(hf)              # keras_vt.models.CvT
logits = model(images_nhwc)                               # == hf(images_nchw).logits
```
"""

import numpy as np

_IGNORED_SUFFIXES = ("num_batches_tracked",)


def _to_numpy(tensor):
    if hasattr(tensor, "detach"):  # torch.Tensor, without importing torch.
        tensor = tensor.detach().cpu()
        if str(tensor.dtype) == "torch.bfloat16":
            tensor = tensor.float()
        return tensor.numpy()
    return np.asarray(tensor)


def _uniform(config, field):
    values = list(getattr(config, field))
    if len(set(values)) != 1:
        raise ValueError(
            f"Unsupported CvtConfig: {field}={values}. keras_vt's CvT uses one value for all "
            "stages; expected equal values."
        )
    return values[0]


def cvt_config_from_hf(config):
    """`keras_vt.models.CvT` constructor arguments equivalent to a Hugging Face `CvtConfig`."""
    stages = len(config.depth)
    cls = list(config.cls_token)
    if any(cls[:-1]):
        raise ValueError(
            f"Unsupported CvtConfig: cls_token={cls}. Expected a class token in the last stage "
            "only (or none), as CvT."
        )
    methods = set(config.qkv_projection_method)
    if methods != {"dw_bn"}:
        raise ValueError(
            f"Unsupported CvtConfig: qkv_projection_method={list(config.qkv_projection_method)}. "
            "Expected 'dw_bn' (depthwise convolution + BatchNorm) in every stage."
        )
    kernel = int(_uniform(config, "kernel_qkv"))
    for field in ("padding_q", "padding_kv"):
        if int(_uniform(config, field)) != kernel // 2:
            raise ValueError(
                f"Unsupported CvtConfig: {field}={list(getattr(config, field))}. Expected "
                f"kernel_qkv // 2 = {kernel // 2}."
            )
    for field in ("drop_rate", "attention_drop_rate"):
        _uniform(config, field)
    if int(config.num_channels) != 3:
        raise ValueError(f"Unsupported CvtConfig: num_channels={config.num_channels}, expected 3.")
    return dict(
        embed_dims=tuple(int(d) for d in config.embed_dim),
        num_heads=tuple(int(h) for h in config.num_heads),
        depths=tuple(int(d) for d in config.depth),
        patch_sizes=tuple(int(p) for p in config.patch_sizes),
        patch_strides=tuple(int(p) for p in config.patch_stride),
        patch_paddings=tuple(int(p) for p in config.patch_padding),
        mlp_ratio=float(_uniform(config, "mlp_ratio")),
        kernel_size=kernel,
        query_stride=int(_uniform(config, "stride_q")),
        kv_stride=int(_uniform(config, "stride_kv")),
        use_bias=bool(_uniform(config, "qkv_bias")),
        scale="width",
        pooling="token" if cls[-1] else "gap",
        activation="gelu",
        dropout=float(config.drop_rate[0]),
        attention_dropout=float(config.attention_drop_rate[0]),
        drop_path_rate=tuple(float(r) for r in config.drop_path_rate[:stages]),
        layer_norm_epsilon=1e-5,
        num_classes=int(config.num_labels),
    )


def _conv(w):  # (out, in, kh, kw) -> (kh, kw, in, out)
    return np.transpose(w, (2, 3, 1, 0))


def _depthwise(w):  # (channels, 1, kh, kw) -> (kh, kw, channels, 1)
    return np.transpose(w, (2, 3, 0, 1))


def _dense(w):  # (out, in) -> (in, out)
    return np.transpose(w)


def _same(w):
    return w


def hf_cvt_mapping(model):
    """[(Hugging Face key, keras variable, transform)] for a `keras_vt.models.CvT`."""
    pairs = []

    def add(key, variable, transform=_same):
        pairs.append((key, variable, transform))

    def add_layer_norm(prefix, layer):
        add(f"{prefix}.weight", layer.gamma)
        add(f"{prefix}.bias", layer.beta)

    def add_dense(prefix, layer):
        add(f"{prefix}.weight", layer.kernel, _dense)
        if layer.use_bias:
            add(f"{prefix}.bias", layer.bias)

    for s, depth in enumerate(model.depths):
        stage = f"cvt.encoder.stages.{s}"
        embed = model.get_layer(f"stage{s}_embed")
        conv = f"{stage}.embedding.convolution_embeddings"
        add(f"{conv}.projection.weight", embed.projection.kernel, _conv)
        add(f"{conv}.projection.bias", embed.projection.bias)
        add_layer_norm(f"{conv}.normalization", embed.norm)
        if s == len(model.depths) - 1 and model.pooling == "token":
            add(f"{stage}.cls_token", model.get_layer("cls_token").tokens)
        for b in range(depth):
            block = model.get_layer(f"stage{s}_block{b}")
            layer = f"{stage}.layers.{b}"
            attention = block.attention
            for name in ("query", "key", "value"):
                projection = f"{layer}.attention.attention.convolution_projection_{name}"
                projection += ".convolution_projection"
                add(
                    f"{projection}.convolution.weight",
                    getattr(attention, f"conv_{name}").kernel,
                    _depthwise,
                )
                bn = getattr(attention, f"bn_{name}")
                add(f"{projection}.normalization.weight", bn.gamma)
                add(f"{projection}.normalization.bias", bn.beta)
                add(f"{projection}.normalization.running_mean", bn.moving_mean)
                add(f"{projection}.normalization.running_var", bn.moving_variance)
                add_dense(f"{layer}.attention.attention.projection_{name}", getattr(attention, name))
            add_dense(f"{layer}.attention.output.dense", attention.proj)
            add_layer_norm(f"{layer}.layernorm_before", block.norm1)
            add_layer_norm(f"{layer}.layernorm_after", block.norm2)
            add_dense(f"{layer}.intermediate.dense", block.mlp.fc1)
            add_dense(f"{layer}.output.dense", block.mlp.fc2)
    add_layer_norm("layernorm", model.get_layer("norm"))
    if model.include_top:
        add_dense("classifier", model.get_layer("head"))
    return pairs


def load_hf_cvt_weights(model, state_dict):
    """Assigns a Hugging Face `CvtForImageClassification` state dict to a keras_vt `CvT`.

    Raises a `ValueError` listing missing keys, unexpected keys and shape mismatches (nothing is
    assigned then).
    """
    if hasattr(state_dict, "state_dict") and callable(state_dict.state_dict):
        state_dict = state_dict.state_dict()
    if not hasattr(state_dict, "items"):
        raise ValueError(
            f"Invalid state_dict: {type(state_dict).__name__}. Expected a PyTorch module or a "
            "mapping of parameter names to tensors."
        )
    state = {k: v for k, v in state_dict.items() if not k.endswith(_IGNORED_SUFFIXES)}
    if not model.include_top:
        state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    pairs = hf_cvt_mapping(model)
    expected = {key for key, _, _ in pairs}
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    values, mismatched = [], []
    for key, variable, transform in pairs:
        if key not in state:
            continue
        value = transform(_to_numpy(state[key]))
        if tuple(value.shape) != tuple(variable.shape):
            mismatched.append(f"{key}: checkpoint {tuple(value.shape)} -> {tuple(variable.shape)}")
        values.append((variable, value))
    if missing or unexpected or mismatched:
        raise ValueError(
            "The checkpoint does not match the CvT architecture: "
            f"missing keys {missing}, unexpected keys {unexpected}, shape mismatches {mismatched}."
        )
    for variable, value in values:
        variable.assign(value.astype(variable.dtype))
    return model


def convert_hf_cvt(source, config=None, **overrides):
    """A keras_vt `CvT` with the weights of a Hugging Face `CvtForImageClassification`.

    Args:
        source: the PyTorch model, or its state dict (then pass `config`).
        config: the `CvtConfig` (taken from `source.config` when omitted).
        **overrides: other `CvT` arguments (e.g. `image_size`, `include_top`, `dtype`).

    Returns:
        `keras_vt.models.CvT` whose logits equal Hugging Face's (inputs channels-last).
    """
    from keras_vt.models.cvt import CvT

    if config is None:
        config = getattr(source, "config", None)
        if config is None:
            raise ValueError("config=None: pass the CvtConfig when converting a bare state dict.")
    kwargs = cvt_config_from_hf(config)
    kwargs.update(overrides)
    model = CvT(**kwargs)
    return load_hf_cvt_weights(model, source)
