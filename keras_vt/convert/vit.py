"""ViT checkpoints from Hugging Face transformers and timm -> `keras_vt` ViT.

Two PyTorch layouts of the same network:

- Hugging Face (`ViTForImageClassification`, `ViTModel`): `vit.embeddings.{cls_token,
  position_embeddings, patch_embeddings.projection}`, `vit.encoder.layer.{i}.{layernorm_before,
  attention.attention.{query,key,value}, attention.output.dense, layernorm_after,
  intermediate.dense, output.dense}`, `vit.layernorm`, `classifier`. The architecture comes from
  the directory's `config.json`; LayerNorm epsilon is 1e-12 there (`layer_norm_eps`), which the
  converted model keeps (`layer_norm_epsilon`). Separate query/key/value projections become our
  fused `qkv` Dense (outputs concatenated in q, k, v order).
- timm (`VisionTransformer`): `patch_embed.proj`, `cls_token`, `pos_embed`,
  `blocks.{i}.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}`, `norm`, `head`. Its
  architecture is inferred from the shapes (the number of heads, which shapes do not carry, is
  hidden / 64 unless given).

Both load strictly through `WeightPlan`: one `ValueError` lists every missing key, unexpected key
and shape mismatch, and nothing is assigned unless the whole checkpoint matches. Building the
model at another `image_size` than the checkpoint's resamples the position table as Hugging
Face's `interpolate_pos_encoding` does (bicubic, `align_corners=False`).

Example:

```python
model = keras_vt.convert.convert_hf_vit("/path/to/vit-base-patch16-224")  # config.json + weights
logits = model(pixel_values_nhwc)   # == hf_model(pixel_values_nchw).logits
```
"""

import re
import warnings

import numpy as np

from keras_vt import checks
from keras_vt.convert.checkpoint import WeightPlan, hf_num_labels, load_state_dict, read_hf_config
from keras_vt.layers.position import resample_positions

# Where each part of the network lives in each layout ({i} is the block index).
# Hugging Face `hidden_act` -> keras_vt activation (keras_vt.layers.transformer.ACTIVATIONS).
HF_ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "quick_gelu": "quick_gelu",
    "relu": "relu",
}
HF_VIT_LAYOUT = {
    "patch": "embeddings.patch_embeddings.projection",
    "cls": "embeddings.cls_token",
    "dist": "embeddings.distillation_token",
    "pos": "embeddings.position_embeddings",
    "block": "encoder.layer.{i}",
    "norm1": "layernorm_before",
    "qkv": ("attention.attention.query", "attention.attention.key", "attention.attention.value"),
    "proj": "attention.output.dense",
    "norm2": "layernorm_after",
    "fc1": "intermediate.dense",
    "fc2": "output.dense",
    "norm": "layernorm",
}
TIMM_VIT_LAYOUT = {
    "patch": "patch_embed.proj",
    "cls": "cls_token",
    "dist": "dist_token",
    "pos": "pos_embed",
    "block": "blocks.{i}",
    "norm1": "norm1",
    "qkv": "attn.qkv",
    "proj": "attn.proj",
    "norm2": "norm2",
    "fc1": "mlp.fc1",
    "fc2": "mlp.fc2",
    "norm": "norm",
}
# transformers 5 names modules differently in memory than on disk (save_pretrained writes the
# layout above); state dicts taken from a live model are renamed to the on-disk layout first.
_HF_IN_MEMORY_NAMES = (
    (r"(^|\.)layers\.(\d+)\.", r"\1encoder.layer.\2."),
    (r"\.attention\.q_proj\.", ".attention.attention.query."),
    (r"\.attention\.k_proj\.", ".attention.attention.key."),
    (r"\.attention\.v_proj\.", ".attention.attention.value."),
    (r"\.attention\.o_proj\.", ".attention.output.dense."),
    (r"\.mlp\.fc1\.", ".intermediate.dense."),
    (r"\.mlp\.fc2\.", ".output.dense."),
)


def hf_on_disk_names(state_dict):
    """Renames a transformers-5 in-memory ViT/DeiT state dict to the on-disk (legacy) names."""
    renamed = {}
    for key, value in state_dict.items():
        new = key
        if not new.endswith(("cls_token", "position_embeddings", "distillation_token")):
            for pattern, replacement in _HF_IN_MEMORY_NAMES:
                new = re.sub(pattern, replacement, new)
        renamed[new] = value
    return renamed


def _grid(num_positions, num_prefix, key):
    side = int(round((num_positions - num_prefix) ** 0.5))
    if side * side != num_positions - num_prefix:
        raise ValueError(
            f"Checkpoint {key} has {num_positions} positions: expected {num_prefix} prefix "
            "token(s) plus a square grid."
        )
    return side, side


def plan_vit(model, layout, prefix="", checkpoint_grid=None, head=None, description=None):
    """A `WeightPlan` that fills a keras_vt ViT-family model from a checkpoint in `layout`.

    Args:
        model: a keras_vt `VisionTransformer` (or a model with the same layer names: `patch_embed`,
            `cls_token`, `pos_embed`, `block{i}`, `norm`).
        layout: `HF_VIT_LAYOUT`, `TIMM_VIT_LAYOUT` or a dict of the same form.
        prefix: prepended to every key (`"vit."` for `ViTForImageClassification`).
        checkpoint_grid: the (height, width) patch grid of the checkpoint's position table; when it
            differs from the model's, the table is resampled with the model's interpolation.
        head: list of (keras layer name, checkpoint key prefix) of the classifier(s), or None.
        description: what the checkpoint is, for error messages.
    """
    plan = WeightPlan(description or f"{type(model).__name__} {model.name!r}")
    plan.conv(model.get_layer("patch_embed").projection, prefix + layout["patch"])
    tokens = model.get_layer("cls_token") if "cls_token" in _layer_names(model) else None
    if tokens is not None:
        dim = tokens.tokens.shape[-1]
        keys = [prefix + layout["cls"]]
        if tokens.num_tokens == 2:
            keys.append(prefix + layout["dist"])
        plan.add(tokens.tokens, keys, [(1, 1, dim)] * len(keys), _concat_tokens)
    positions = model.get_layer("pos_embed")
    num_prefix, grid = positions.num_prefix_tokens, positions.grid_size
    old_grid = tuple(checkpoint_grid or grid)
    dim = positions.embeddings.shape[-1]

    def resample(table):
        if old_grid == tuple(grid):
            return table
        return resample_positions(
            table,
            grid,
            num_prefix,
            old_grid=old_grid,
            interpolation=positions.interpolation,
            antialias=positions.antialias,
        )

    plan.tensor(
        positions.embeddings,
        prefix + layout["pos"],
        (1, num_prefix + old_grid[0] * old_grid[1], dim),
        resample,
    )
    plan_blocks(plan, model, model.depth, prefix + layout["block"] + ".", layout)
    plan.layer_norm(model.get_layer("norm"), prefix + layout["norm"])
    for layer_name, key in head or ():
        plan.dense(model.get_layer(layer_name), key)
    return plan


def plan_blocks(plan, model, depth, block_key, layout):
    """Adds to `plan` the pre-norm `TransformerBlock`s `block0` ... of `model`.

    `block_key.format(i=i)` prefixes block i's keys; `layout` names the parts: `norm1`, `qkv` (one
    fused linear as a string, read with `layout.get("qkv_separator", ".")` before weight/bias, or
    separate q, k, v linears as a tuple), `proj`, `norm2`, `fc1`, `fc2`.
    """
    for i in range(depth):
        block = model.get_layer(f"block{i}")
        base = block_key.format(i=i)
        plan.layer_norm(block.norm1, base + layout["norm1"])
        qkv = layout["qkv"]
        if isinstance(qkv, str):
            plan.dense(block.attention.qkv, base + qkv, layout.get("qkv_separator", "."))
        else:
            plan.dense_concat(block.attention.qkv, [base + p for p in qkv])
        plan.dense(block.attention.proj, base + layout["proj"])
        plan.layer_norm(block.norm2, base + layout["norm2"])
        plan.dense(block.mlp.fc1, base + layout["fc1"])
        plan.dense(block.mlp.fc2, base + layout["fc2"])


def _layer_names(model):
    return {layer.name for layer in model.layers}


def _concat_tokens(*tokens):
    return np.concatenate(tokens, axis=1)


def _size(value, argument):
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise checks.invalid(argument, value, "an int or (height, width)")


def hf_vit_config(config):
    """`VisionTransformer` arguments from a Hugging Face ViT/DeiT `config.json` dict.

    Any MLP width (`intermediate_size`) and the activations keras_vt has (`hidden_act` "gelu",
    "gelu_new" / "gelu_pytorch_tanh", "quick_gelu", "relu") convert; `qkv_bias=False` converts as
    zero q/k/v biases (see `zero_qkv_biases`). Raises a `ValueError` naming the field for what
    keras_vt's ViT does not model (another activation, other than 3 channels).
    """
    problems = []
    activation = HF_ACTIVATIONS.get(config.get("hidden_act", "gelu"))
    if activation is None:
        problems.append(
            f"hidden_act={config['hidden_act']!r} (keras_vt's ViT supports {sorted(HF_ACTIVATIONS)})"
        )
    if config.get("num_channels", 3) != 3:
        problems.append(f"num_channels={config['num_channels']} (keras_vt expects RGB)")
    if problems:
        raise ValueError(
            f"Unsupported Hugging Face {config.get('model_type', 'ViT')} config: "
            + "; ".join(problems)
            + "."
        )
    patch = config.get("patch_size", 16)
    if not isinstance(patch, int):
        patch_h, patch_w = _size(patch, "patch_size")
        if patch_h != patch_w:
            raise checks.invalid("patch_size", patch, "square patches")
        patch = patch_h
    height, width = _size(config.get("image_size", 224), "image_size")
    return dict(
        image_size=height if height == width else (height, width),
        patch_size=patch,
        hidden_dim=config["hidden_size"],
        depth=config["num_hidden_layers"],
        num_heads=config["num_attention_heads"],
        mlp_dim=config["intermediate_size"],
        num_classes=hf_num_labels(config),
        layer_norm_epsilon=config.get("layer_norm_eps", 1e-12),
        activation=activation,
    )


def zero_qkv_biases(state, config, prefix, layout=None):
    """`state` with zero q/k/v biases added when the config says `qkv_bias=False`.

    A projection without bias is the same function as one with a zero bias, so keras_vt's blocks
    (which always have q/k/v biases) reproduce such checkpoints exactly.
    """
    if config.get("qkv_bias", True):
        return state
    layout = layout or HF_VIT_LAYOUT
    state = dict(state)
    for i in range(int(config["num_hidden_layers"])):
        base = prefix + layout["block"].format(i=i) + "."
        for part in layout["qkv"]:
            key = base + part + ".bias"
            if key not in state:
                state[key] = np.zeros(int(config["hidden_size"]), "float32")
    return state


def _source(source, progress):
    """(config dict, state dict) from a directory, or from a (config, state dict) pair."""
    if isinstance(source, (tuple, list)) and len(source) == 2:
        config, state = source
        return dict(config), hf_on_disk_names({k: np.asarray(v) for k, v in state.items()})
    return read_hf_config(source), hf_on_disk_names(load_state_dict(source, progress=progress))


def _drop(state, prefixes, why):
    dropped = sorted(k for k in state if k.startswith(prefixes))
    if dropped:
        warnings.warn(f"Not converted ({why}): {dropped}.", stacklevel=3)
    return {k: v for k, v in state.items() if k not in dropped}


def _resolve_include_top(include_top, has_head, expected, backbone=None):
    """`include_top` (None: whether the checkpoint has a classifier), refused without one."""
    include_top = has_head if include_top is None else include_top
    if include_top and not has_head:
        what = f" ({backbone})" if backbone else ""
        raise ValueError(
            f"include_top=True but the checkpoint has no classifier{what}: expected {expected}; "
            "pass include_top=False."
        )
    return include_top


def _new_head(state, heads, kwargs, num_classes):
    """With `num_classes` other than the checkpoint's, its heads are dropped for fresh ones."""
    if num_classes is None or num_classes == kwargs.get("num_classes"):
        return state, heads
    state = _drop(
        state,
        tuple(f"{key}." for _, key in heads),
        f"num_classes={num_classes} replaces the checkpoint's {kwargs.get('num_classes')} "
        "classes; the new head is randomly initialised, for fine-tuning",
    )
    kwargs["num_classes"] = num_classes
    return state, []


def _build_and_load(
    model_class,
    kwargs,
    state,
    heads,
    layout,
    description,
    *,
    include_top,
    num_classes,
    image_size,
    dtype,
    progress,
    prefix="",
    **model_options,
):
    """`model_class(**kwargs)` filled from `state` (keys in `layout`, after `prefix`), for the
    converters' shared options: `num_classes` other than the checkpoint's puts fresh heads in
    place of `heads`; `image_size` builds the model at another resolution (the position table is
    resampled from the checkpoint's grid). `model_options` go to `model_class` as they are."""
    state, heads = _new_head(state, heads, kwargs, num_classes if include_top else None)
    checkpoint_grid = image_grid_of(kwargs["image_size"], kwargs["patch_size"])
    if image_size is not None:
        kwargs["image_size"] = image_size
    model = model_class(**kwargs, include_top=include_top, dtype=dtype, **model_options)
    plan_vit(
        model,
        layout,
        prefix=prefix,
        checkpoint_grid=checkpoint_grid,
        head=heads,
        description=f"{description} of config {kwargs}",
    ).load(state, progress=progress)
    return model


def _check_model_type(config, expected):
    model_type = config.get("model_type")
    if model_type not in expected:
        raise ValueError(
            f"Checkpoint config has model_type={model_type!r}: expected one of {expected}. "
            "Use keras_vt.convert.convert_checkpoint to dispatch on the model type."
        )


def _read_hf(source, model_type, progress):
    """(model arguments, state dict, key prefix) of a Hugging Face ViT or DeiT checkpoint.

    The prefix is `"{model_type}."` when the keys carry it (the `...ForImageClassification`
    layouts); q/k/v biases are zero-filled where the config has none (`zero_qkv_biases`).
    """
    config, state = _source(source, progress)
    _check_model_type(config, (model_type,))
    kwargs = hf_vit_config(config)
    prefix = f"{model_type}." if any(k.startswith(f"{model_type}.") for k in state) else ""
    return kwargs, zero_qkv_biases(state, config, prefix), prefix


# Hugging Face model type: (its name in messages, the classifier key(s) of a checkpoint with a
# head, what the backbone outputs where a `...Model` has its pooler).
_HF_VIT_TYPES = {
    "vit": ("ViT", "classifier.weight", "the class token"),
    "deit": ("DeiT", "cls_classifier.weight or classifier.weight", "the tokens"),
}


def _load_hf(model_class, model_type, kwargs, state, prefix, heads, include_top, **options):
    """`model_class` filled from a checkpoint of `model_type` read by `_read_hf`.

    `heads` are the checkpoint's classifiers as (keras layer name, checkpoint key); `include_top`
    None keeps them when there are any, True without any raises, False drops them. The pooler of
    a `ViTModel` / `DeiTModel` is dropped with a warning. `options` go to `_build_and_load`.
    """
    name, expected, output = _HF_VIT_TYPES[model_type]
    include_top = _resolve_include_top(
        include_top, bool(heads), expected, backbone=f"a {name}Model backbone"
    )
    if not include_top:
        state = _drop(state, tuple(f"{key}." for _, key in heads), "include_top=False")
        heads = []
        kwargs.pop("distillation_head", None)
    state = _drop(
        state,
        (prefix + "pooler.",),
        f"{name}Model pooler; the backbone output is {output}",
    )
    return _build_and_load(
        model_class,
        kwargs,
        state,
        heads,
        HF_VIT_LAYOUT,
        f"a Hugging Face {name}",
        include_top=include_top,
        prefix=prefix,
        **options,
    )


def convert_hf_vit(
    source, image_size=None, include_top=None, num_classes=None, dtype=None, progress=None
):
    """Builds a keras_vt `VisionTransformer` from a Hugging Face ViT checkpoint directory.

    Args:
        source: a directory with `config.json` and `model.safetensors` (or `pytorch_model.bin`,
            or shards), as `save_pretrained` writes it; or a `(config_dict, state_dict)` pair.
            `ViTForImageClassification` (logits) and `ViTModel` (backbone) are both accepted.
        image_size: build the model at another resolution; the position table is resampled
            (bicubic, as `interpolate_pos_encoding=True` in transformers).
        include_top: keep the classifier; by default, when the checkpoint has one.
        num_classes: a new classifier of this many classes (randomly initialised, for
            fine-tuning) instead of the checkpoint's; the checkpoint's head is dropped with a
            warning.
        dtype: dtype policy of the Keras model.
        progress: progress bars while reading and assigning; by default for files over 100 MiB.

    Returns:
        A `keras_vt.models.vit.VisionTransformer` whose output, for the same normalised pixels
        (channels last), equals the checkpoint's logits (or `last_hidden_state[:, 0]` without a
        head). A `ViTModel`'s pooler (dense + tanh) is not part of keras_vt's ViT and is dropped
        with a warning. When the directory's `preprocessor_config.json` normalises with the
        ImageNet mean and std (as the `facebook/deit-*` checkpoints, which are ViTs), the model is
        a keras_vt `DeiT` (same architecture, ImageNet normalisation).

    Example:

    ```python
    model = keras_vt.convert.convert_hf_vit("checkpoints/vit-tiny")
    model.save("vit-tiny.keras")
    ```
    """
    kwargs, state, prefix = _read_hf(source, "vit", progress)
    model_class = _vit_class(hf_normalization(source, "inception"))
    heads = [("head", "classifier")] if "classifier.weight" in state else []
    return _load_hf(
        model_class,
        "vit",
        kwargs,
        state,
        prefix,
        heads,
        include_top=include_top,
        num_classes=num_classes,
        image_size=image_size,
        dtype=dtype,
        progress=progress,
    )


def hf_normalization(source, default):
    """The keras_vt normalisation named by a directory's `preprocessor_config.json`, if any."""
    import json
    import os

    from keras_vt.preprocessing import NORMALIZATIONS

    path = (
        os.path.join(os.fspath(source), "preprocessor_config.json")
        if isinstance(source, (str, os.PathLike))
        else None
    )
    if path is None or not os.path.isfile(path):
        return default
    with open(path) as f:
        config = json.load(f)
    if "image_mean" not in config or "image_std" not in config:
        return default
    for name, (mean, std) in NORMALIZATIONS.items():
        if np.allclose(config["image_mean"], mean, atol=1e-3) and np.allclose(
            config["image_std"], std, atol=1e-3
        ):
            return name
    warnings.warn(
        f"{path} normalises with mean={config['image_mean']}, std={config['image_std']}, which "
        f"match none of keras_vt's normalizations {sorted(NORMALIZATIONS)}: the converted model "
        f"uses {default!r}; preprocess its inputs yourself.",
        stacklevel=3,
    )
    return default


def _vit_class(normalization):
    """ViT-architecture class with the given input normalisation (ViT: inception, DeiT: imagenet)."""
    if normalization == "imagenet":
        from keras_vt.models.deit import DeiT

        return DeiT
    from keras_vt.models.vit import VisionTransformer

    return VisionTransformer


def convert_hf_deit(
    source,
    image_size=None,
    include_top=None,
    num_classes=None,
    dtype=None,
    progress=None,
    head_fusion="mean_logits",
):
    """Builds a keras_vt `DistilledDeiT` from a Hugging Face DeiT checkpoint directory.

    Args:
        source: a directory with `config.json` and weights (`save_pretrained` layout), or a
            `(config_dict, state_dict)` pair, of `DeiTForImageClassificationWithTeacher` (both
            heads), `DeiTForImageClassification` (class-token head only) or `DeiTModel`.
        image_size: build the model at another resolution (position table resampled bicubically,
            as transformers' `interpolate_pos_encoding=True`).
        include_top: keep the classifier(s); by default when the checkpoint has them.
        num_classes: a new classifier of this many classes (randomly initialised, for
            fine-tuning) instead of the checkpoint's; the checkpoint's head is dropped with a
            warning.
        dtype: dtype policy of the Keras model.
        progress: progress bars while reading and assigning; by default for files over 100 MiB.
        head_fusion: with two heads, how inference combines them: "mean_logits" is what
            transformers returns ((cls_logits + distillation_logits) / 2).

    Returns:
        A `keras_vt.models.deit.DistilledDeiT` whose output (inference) equals the checkpoint's
        `logits`; in training it returns `(cls_logits, distillation_logits)`. Without a head the
        output is the mean of the normalised class and distillation tokens (a `DeiTModel`'s
        pooler is dropped with a warning).

    Example:

    ```python
    model = keras_vt.convert.convert_hf_deit("checkpoints/deit-tiny-distilled")
    ```
    """
    from keras_vt.models.deit import DistilledDeiT

    kwargs, state, prefix = _read_hf(source, "deit", progress)
    if "cls_classifier.weight" in state:
        heads = [("head", "cls_classifier"), ("head_dist", "distillation_classifier")]
    elif "classifier.weight" in state:
        heads = [("head", "classifier")]
        kwargs["distillation_head"] = False
    else:
        heads = []
    return _load_hf(
        DistilledDeiT,
        "deit",
        kwargs,
        state,
        prefix,
        heads,
        include_top=include_top,
        num_classes=num_classes,
        image_size=image_size,
        dtype=dtype,
        progress=progress,
        head_fusion=head_fusion,
    )


def image_grid_of(image_size, patch_size):
    height, width = _size(image_size, "image_size")
    return height // patch_size, width // patch_size


def timm_vit_config(state_dict, num_heads=None):
    """Model arguments inferred from a timm ViT/DeiT state dict's keys and shapes.

    The number of heads is not in the shapes: it is `hidden_dim // 64` (every timm and paper
    ViT/DeiT size) unless `num_heads` is given.
    """
    if "patch_embed.proj.weight" not in state_dict or "pos_embed" not in state_dict:
        raise ValueError(
            "Not a timm ViT/DeiT state dict: expected keys 'patch_embed.proj.weight' and "
            f"'pos_embed', got {sorted(state_dict)[:8]}..."
        )
    hidden, channels, patch, patch_w = np.shape(state_dict["patch_embed.proj.weight"])
    if channels != 3 or patch != patch_w:
        raise ValueError(
            f"patch_embed.proj.weight has shape {np.shape(state_dict['patch_embed.proj.weight'])}:"
            " expected (hidden, 3, patch, patch)."
        )
    depth = len({int(m.group(1)) for k in state_dict if (m := re.match(r"blocks\.(\d+)\.", k))})
    if depth == 0:
        raise ValueError("Not a timm ViT/DeiT state dict: no 'blocks.{i}.' keys.")
    num_prefix = int("cls_token" in state_dict) + int("dist_token" in state_dict)
    grid = _grid(np.shape(state_dict["pos_embed"])[1], num_prefix, "pos_embed")
    if num_heads is None:
        if hidden % 64:
            raise ValueError(
                f"Cannot infer num_heads for hidden size {hidden} (not a multiple of the usual "
                "head size 64): pass num_heads explicitly."
            )
        num_heads = hidden // 64
    config = dict(
        image_size=grid[0] * patch,
        patch_size=int(patch),
        hidden_dim=int(hidden),
        depth=depth,
        num_heads=int(num_heads),
        mlp_dim=int(np.shape(state_dict["blocks.0.mlp.fc1.weight"])[0]),
        layer_norm_epsilon=1e-6,
    )
    if "head.weight" in state_dict and np.shape(state_dict["head.weight"])[0] > 0:
        config["num_classes"] = int(np.shape(state_dict["head.weight"])[0])
    if "cls_token" not in state_dict:
        config["pooling"] = "gap"
    return config


def convert_timm_vit(
    source,
    image_size=None,
    include_top=None,
    num_classes=None,
    dtype=None,
    progress=None,
    family="vit",
    head_fusion="mean_logits",
    **config,
):
    """Builds a keras_vt ViT or DeiT from a timm-style ViT/DeiT state dict (file or mapping).

    A state dict with a `dist_token` (timm `VisionTransformerDistilled`) becomes a
    `DistilledDeiT` (`head` and `head_dist`; inference returns the mean of both logits, as timm
    does in eval mode). Otherwise the weights cannot tell a ViT from a DeiT, which differ only in
    input normalisation: `family` says which ("vit": inception, "deit": ImageNet mean/std).

    Args:
        source: a `.safetensors` / `.pth` / `.bin` file of a timm `VisionTransformer`, or the
            state dict itself.
        family: "vit" or "deit", for checkpoints without a distillation token.
        num_classes: a new classifier of this many classes (randomly initialised, for
            fine-tuning) instead of the checkpoint's; the checkpoint's head is dropped with a
            warning.
        head_fusion: how a distilled DeiT combines its heads at inference ("mean_logits").
        image_size: build the model at another resolution (position table resampled).
        include_top: keep the classifier; by default when the checkpoint has `head.weight`.
        dtype: dtype policy of the Keras model.
        **config: explicit `VisionTransformer` arguments (e.g. `num_heads`) that override what
            is inferred from the shapes.

    Example:

    ```python
    model = keras_vt.convert.convert_timm_vit("vit_small_patch16_224.safetensors")
    ```
    """
    if family not in ("vit", "deit"):
        raise checks.unknown("family", family, ("vit", "deit"))
    state = _timm_state(source, progress)
    if "blocks.0.attn.qkv.weight" in state and "blocks.0.attn.qkv.bias" not in state:
        # timm's qkv_bias=False: a zero bias is the same function.
        for key in [k for k in state if re.fullmatch(r"blocks\.\d+\.attn\.qkv\.weight", k)]:
            state[key[: -len("weight")] + "bias"] = np.zeros(np.shape(state[key])[0], "float32")
    distilled = "dist_token" in state
    inferred = timm_vit_config(state, num_heads=config.pop("num_heads", None))
    inferred.update(config)
    include_top = _resolve_include_top(
        include_top, "num_classes" in inferred and "head.weight" in state, "head.weight"
    )
    heads = [("head", "head")] + ([("head_dist", "head_dist")] if distilled else [])
    if not include_top:
        state = _drop(state, ("head.", "head_dist."), "include_top=False")
        heads = []
    if distilled:
        from keras_vt.models.deit import DistilledDeiT

        model_class, model_options = DistilledDeiT, dict(head_fusion=head_fusion)
    else:
        model_class = _vit_class("imagenet" if family == "deit" else "inception")
        model_options = {}
    return _build_and_load(
        model_class,
        inferred,
        state,
        heads,
        TIMM_VIT_LAYOUT,
        f"a timm {'distilled DeiT' if distilled else family}",
        include_top=include_top,
        num_classes=num_classes,
        image_size=image_size,
        dtype=dtype,
        progress=progress,
        **model_options,
    )


def _timm_state(source, progress):
    if hasattr(source, "items"):
        from keras_vt.convert.checkpoint import to_numpy

        state = {k: to_numpy(v) for k, v in source.items()}
    else:
        state = load_state_dict(source, progress=progress)
    # Empty heads (timm num_classes=0 saves none) and non-persistent buffers are not weights.
    return {k: v for k, v in state.items() if not (k.startswith("head") and np.size(v) == 0)}
