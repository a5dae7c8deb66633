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

Nothing is downloaded: pass a local checkpoint directory (`config.json` + weights, as
`save_pretrained` writes it; `keras-vt convert DIR model.keras` dispatches here on
`model_type: cvt`), a model object, or a state dict and its config. Loading goes through the
shared strict `keras_vt.convert.WeightPlan`.

Example:

```python
model = keras_vt.convert.convert_hf_cvt("/path/to/local/cvt-13")   # keras_vt.models.CvT
logits = model(images_nhwc)                                         # == hf(images_nchw).logits
```
"""

import os

import numpy as np

from keras_vt.convert.checkpoint import (
    WeightPlan,
    hf_num_labels,
    load_state_dict,
    module_state,
    read_hf_config,
)

_IGNORED_SUFFIXES = ("num_batches_tracked",)


class _Config(dict):
    """A `config.json` dict read like a `CvtConfig` (attribute access, clear errors)."""

    def __getattr__(self, field):
        if field == "num_labels":
            return hf_num_labels(self)
        if field not in self:
            raise ValueError(f"The CvT config.json has no field {field!r}: expected a CvtConfig.")
        return self[field]


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
        hidden_dims=tuple(int(d) for d in config.embed_dim),
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


def _depthwise(weight):
    """torch depthwise Conv2d weight (channels, 1, kh, kw) -> keras (kh, kw, channels, 1)."""
    return np.transpose(weight, (2, 3, 0, 1))


def plan_hf_cvt(model):
    """The `WeightPlan` that fills a `keras_vt.models.CvT` from a Hugging Face CvT state dict."""
    plan = WeightPlan(f"CvT {model.name!r}")

    def batch_norm(prefix, layer):
        for suffix, variable in (
            ("weight", layer.gamma),
            ("bias", layer.beta),
            ("running_mean", layer.moving_mean),
            ("running_var", layer.moving_variance),
        ):
            plan.tensor(variable, f"{prefix}.{suffix}")

    for s, depth in enumerate(model.depths):
        stage = f"cvt.encoder.stages.{s}"
        embed = model.get_layer(f"stage{s}_embed")
        conv = f"{stage}.embedding.convolution_embeddings"
        plan.conv(embed.projection, f"{conv}.projection")
        plan.layer_norm(embed.norm, f"{conv}.normalization")
        if s == len(model.depths) - 1 and model.pooling == "token":
            plan.tensor(model.get_layer("cls_token").tokens, f"{stage}.cls_token")
        for b in range(depth):
            block = model.get_layer(f"stage{s}_block{b}")
            layer = f"{stage}.layers.{b}"
            attention = block.attention
            for name in ("query", "key", "value"):
                projection = f"{layer}.attention.attention.convolution_projection_{name}"
                projection += ".convolution_projection"
                kernel = getattr(attention, f"conv_{name}").kernel
                kh, kw, channels, _ = kernel.shape
                plan.tensor(
                    kernel, f"{projection}.convolution.weight", (channels, 1, kh, kw), _depthwise
                )
                batch_norm(f"{projection}.normalization", getattr(attention, f"bn_{name}"))
                plan.dense(
                    getattr(attention, name), f"{layer}.attention.attention.projection_{name}"
                )
            plan.dense(attention.proj, f"{layer}.attention.output.dense")
            plan.layer_norm(block.norm1, f"{layer}.layernorm_before")
            plan.layer_norm(block.norm2, f"{layer}.layernorm_after")
            plan.dense(block.mlp.fc1, f"{layer}.intermediate.dense")
            plan.dense(block.mlp.fc2, f"{layer}.output.dense")
    plan.layer_norm(model.get_layer("norm"), "layernorm")
    if model.include_top:
        plan.dense(model.get_layer("head"), "classifier")
    return plan


def load_hf_cvt_weights(model, state_dict, progress=None):
    """Assigns a Hugging Face `CvtForImageClassification` state dict to a keras_vt `CvT`.

    Raises a `ValueError` listing missing keys, unexpected keys and shape mismatches (nothing is
    assigned then).
    """
    state = module_state(state_dict, "state_dict")
    state = {k: v for k, v in state.items() if not k.endswith(_IGNORED_SUFFIXES)}
    if not model.include_top:
        state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    plan_hf_cvt(model).load(state, progress=progress)
    return model


def convert_hf_cvt(source, config=None, progress=None, **overrides):
    """A keras_vt `CvT` with the weights of a Hugging Face `CvtForImageClassification`.

    Args:
        source: a checkpoint directory (`config.json` + `model.safetensors` or
            `pytorch_model.bin`), the PyTorch model, or its state dict (then pass `config`).
        config: the `CvtConfig` or its dict (taken from the directory or `source.config` when
            omitted).
        progress: progress bars while reading and assigning; by default for files over 100 MiB.
        **overrides: other `CvT` arguments (e.g. `image_size`, `include_top`, `dtype`).

    Returns:
        `keras_vt.models.CvT` whose logits equal Hugging Face's (inputs channels-last).
    """
    from keras_vt.models.cvt import CvT

    if isinstance(source, (str, os.PathLike)):
        config = read_hf_config(source) if config is None else config
        source = load_state_dict(source, progress=progress)
    if config is None:
        config = getattr(source, "config", None)
        if config is None:
            raise ValueError("config=None: pass the CvtConfig when converting a bare state dict.")
    if isinstance(config, dict):
        config = _Config(config)
    kwargs = cvt_config_from_hf(config)
    kwargs.update(overrides)
    model = CvT(**kwargs)
    return load_hf_cvt_weights(model, source, progress=progress)
