"""CLIP checkpoints (ViT image tower) from Hugging Face transformers and OpenAI -> `keras_vt` CLIP.

Two PyTorch layouts of the same network:

- Hugging Face `CLIPModel` (directory with `config.json`, `model_type: clip`):
  `vision_model.embeddings.{class_embedding, patch_embedding, position_embedding}`,
  `vision_model.pre_layrnorm` (sic), `vision_model.encoder.layers.{i}.{layer_norm1,
  self_attn.{q,k,v,out}_proj, layer_norm2, mlp.fc1, mlp.fc2}`, `vision_model.post_layernorm`,
  `visual_projection`, the same under `text_model` (`embeddings.{token,position}_embedding`,
  `final_layer_norm`), `text_projection`, `logit_scale`. Separate q/k/v become our fused `qkv`.
  Text features are taken at the end-of-text token as transformers does: the largest id when the
  config's `eos_token_id` is 2 (legacy configs), otherwise the first occurrence of that id.
- OpenAI (`clip.load` / `build_model` state dicts, one file): `visual.{conv1, class_embedding,
  positional_embedding, ln_pre, transformer.resblocks.{i}.{ln_1, attn.in_proj_weight,
  attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}, ln_post, proj}`, `token_embedding`,
  `positional_embedding`, `transformer.resblocks...`, `ln_final`, `text_projection`,
  `logit_scale`. The architecture is inferred from the shapes, as OpenAI's `build_model` does.

The ModifiedResNet image towers (`clip_rn50`) are not converted yet: their checkpoints raise a
`ValueError`. Loading is strict (`WeightPlan`): one error lists every missing key, unexpected key
and shape mismatch, and nothing is assigned unless the whole checkpoint matches.

Example:

```python
clip = keras_vt.convert.convert_hf_clip("/path/to/clip-vit-base-patch32")
clip.encode_image(pixels_nhwc)      # == hf.get_image_features(pixel_values)
clip.encode_text(input_ids)         # == hf.get_text_features(input_ids)
```
"""

import re

import numpy as np

from keras_vt.convert.checkpoint import (
    WeightPlan,
    linear_kernel,
    load_state_dict,
    read_hf_config,
    to_numpy,
)
from keras_vt.convert.vit import HF_ACTIVATIONS, plan_blocks
from keras_vt.layers.position import resample_positions

_OPENAI_SCALARS = ("input_resolution", "context_length", "vocab_size")


# The parts of one text or vision block, for `plan_blocks`.
_BLOCK_LAYOUTS = {
    "hf": dict(
        norm1="layer_norm1",
        qkv=("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
        proj="self_attn.out_proj",
        norm2="layer_norm2",
        fc1="mlp.fc1",
        fc2="mlp.fc2",
    ),
    # OpenAI: one in_proj_weight (3 * width, width) and in_proj_bias.
    "openai": dict(
        norm1="ln_1",
        qkv="attn.in_proj",
        qkv_separator="_",
        proj="attn.out_proj",
        norm2="ln_2",
        fc1="mlp.c_fc",
        fc2="mlp.c_proj",
    ),
}

# The checkpoint keys outside the blocks: part -> (Hugging Face key, OpenAI key).
_KEYS = {
    "patch": ("vision_model.embeddings.patch_embedding", "visual.conv1"),
    "cls": ("vision_model.embeddings.class_embedding", "visual.class_embedding"),
    "pos": ("vision_model.embeddings.position_embedding.weight", "visual.positional_embedding"),
    "ln_pre": ("vision_model.pre_layrnorm", "visual.ln_pre"),
    "vision_blocks": ("vision_model.encoder.layers.{i}.", "visual.transformer.resblocks.{i}."),
    "ln_post": ("vision_model.post_layernorm", "visual.ln_post"),
    "vision_proj": ("visual_projection.weight", "visual.proj"),
    "tokens": ("text_model.embeddings.token_embedding.weight", "token_embedding.weight"),
    "text_pos": ("text_model.embeddings.position_embedding.weight", "positional_embedding"),
    "text_blocks": ("text_model.encoder.layers.{i}.", "transformer.resblocks.{i}."),
    "ln_final": ("text_model.final_layer_norm", "ln_final"),
    "text_proj": ("text_projection.weight", "text_projection"),
}


def plan_clip(clip, layout, checkpoint_grid=None):
    """The `WeightPlan` filling a keras_vt `CLIP` (ViT image tower) from `layout` "hf" or "openai".

    `checkpoint_grid` is the patch grid of the checkpoint's image position table; when it differs
    from the model's, the table is resampled bicubically (class entry kept).
    """
    from keras_vt.models.clip import CLIPVisionTransformer

    vision, text = clip.image_encoder, clip.text_encoder
    if not isinstance(vision, CLIPVisionTransformer):
        raise ValueError(
            f"Only CLIP models with a ViT image tower convert; {clip.name!r} has "
            f"{type(vision).__name__}."
        )
    plan = WeightPlan(f"a {layout} CLIP (ViT image tower) for {clip.name!r}")
    names = _BLOCK_LAYOUTS[layout]
    width, grid = vision.hidden_dim, vision.grid_size
    old_grid = tuple(checkpoint_grid or grid)
    positions = vision.get_layer("pos_embed")

    def vision_positions(table):
        table = table.reshape(1, -1, width)
        if old_grid == tuple(grid):
            return table
        return resample_positions(
            table, grid, 1, old_grid=old_grid, interpolation=positions.interpolation
        )

    def token(vector):
        return vector.reshape(1, 1, -1)

    text_positions = text.get_layer("pos_embed")
    keys = {part: hf if layout == "hf" else openai for part, (hf, openai) in _KEYS.items()}
    plan.conv(vision.get_layer("patch_embed").projection, keys["patch"])
    plan.tensor(vision.get_layer("class_embedding").tokens, keys["cls"], (width,), token)
    plan.tensor(
        positions.embeddings,
        keys["pos"],
        (1 + old_grid[0] * old_grid[1], width),
        vision_positions,
    )
    plan.layer_norm(vision.get_layer("ln_pre"), keys["ln_pre"])
    plan_blocks(plan, vision, vision.depth, keys["vision_blocks"], names)
    plan.layer_norm(vision.get_layer("ln_post"), keys["ln_post"])
    plan.tensor(text.get_layer("token_embedding").embeddings, keys["tokens"])
    plan.tensor(
        text_positions.embeddings,
        keys["text_pos"],
        tuple(text_positions.embeddings.shape[1:]),
        lambda table: table[None],
    )
    plan_blocks(plan, text, text.depth, keys["text_blocks"], names)
    plan.layer_norm(text.get_layer("ln_final"), keys["ln_final"])
    for tower, key in ((vision, keys["vision_proj"]), (text, keys["text_proj"])):
        kernel = tower.get_layer("proj").kernel
        if layout == "hf":
            plan.tensor(kernel, key, tuple(kernel.shape)[::-1], linear_kernel)
        else:  # OpenAI multiplies x @ proj: already (width, embed_dim)
            plan.tensor(kernel, key)
    plan.tensor(clip.logit_scale, "logit_scale")
    return plan


def _check_hf_tower(config, tower):
    problems = []
    if config.get("hidden_act", "quick_gelu") not in HF_ACTIVATIONS:
        problems.append(
            f"{tower} hidden_act={config['hidden_act']!r} (keras_vt's CLIP supports "
            f"{sorted(HF_ACTIVATIONS)})"
        )
    if config.get("num_channels", 3) != 3:
        problems.append(f"{tower} num_channels={config['num_channels']} (keras_vt expects RGB)")
    return problems


def _tower_options(config, prefix):
    """MLP width, activation and LayerNorm epsilon of one tower, as `CLIP` arguments."""
    return {
        f"{prefix}_mlp_dim": int(config.get("intermediate_size", 4 * config["hidden_size"])),
        f"{prefix}_activation": HF_ACTIVATIONS[config.get("hidden_act", "quick_gelu")],
        f"{prefix}_layer_norm_epsilon": float(config.get("layer_norm_eps", 1e-5)),
    }


def hf_clip_config(config):
    """keras_vt `CLIP` arguments from a Hugging Face `CLIPConfig` dict (`config.json`).

    Any MLP width (`intermediate_size`), activation keras_vt has (`hidden_act` "quick_gelu",
    "gelu", "gelu_new", "gelu_pytorch_tanh", "relu"), LayerNorm epsilon, image and patch size,
    vocabulary and context length; a `ValueError` names the field otherwise.
    """
    vision, text = config.get("vision_config", {}), config.get("text_config", {})
    problems = _check_hf_tower(vision, "vision_config") + _check_hf_tower(text, "text_config")
    if problems:
        raise ValueError("Unsupported Hugging Face CLIP config: " + "; ".join(problems) + ".")
    eos = text.get("eos_token_id", 2)
    return dict(
        **_tower_options(vision, "vision"),
        **_tower_options(text, "text"),
        embed_dim=config.get("projection_dim", 512),
        image_size=vision.get("image_size", 224),
        vision_layers=vision["num_hidden_layers"],
        vision_width=vision["hidden_size"],
        vision_patch_size=vision.get("patch_size", 32),
        vision_heads=vision["num_attention_heads"],
        context_length=text.get("max_position_embeddings", 77),
        vocabulary_size=text["vocab_size"],
        text_width=text["hidden_size"],
        text_heads=text["num_attention_heads"],
        text_layers=text["num_hidden_layers"],
        eot_token_id=None if eos == 2 else int(eos),
        logit_scale_init=config.get("logit_scale_init_value", 2.6592),
    )


def _clip(kwargs, image_size, dtype):
    from keras_vt.models.clip import CLIP

    grid = kwargs["image_size"] // kwargs["vision_patch_size"]
    if image_size is not None:
        kwargs = dict(kwargs, image_size=image_size)
    return CLIP(**kwargs, dtype=dtype), (grid, grid)


def convert_hf_clip(source, image_size=None, dtype=None, progress=None):
    """Builds a keras_vt `CLIP` from a Hugging Face `CLIPModel` checkpoint directory.

    Args:
        source: a directory with `config.json` and weights (`save_pretrained` layout), or a
            `(config_dict, state_dict)` pair.
        image_size: build the image tower at another resolution (position table resampled).
        dtype: dtype policy of the Keras model.
        progress: progress bars while reading and assigning; by default for files over 100 MiB.

    Returns:
        A `keras_vt.models.clip.CLIP` whose `encode_image` / `encode_text` equal transformers'
        `get_image_features` / `get_text_features`, and whose `logit_scale` is the checkpoint's.
    """
    if isinstance(source, (tuple, list)) and len(source) == 2:
        config, state = dict(source[0]), {k: to_numpy(v) for k, v in source[1].items()}
    else:
        config, state = read_hf_config(source), load_state_dict(source, progress=progress)
    if config.get("model_type") != "clip":
        raise ValueError(
            f"Checkpoint config has model_type={config.get('model_type')!r}: expected 'clip'."
        )
    state = {k: v for k, v in state.items() if not k.endswith("position_ids")}
    model, grid = _clip(hf_clip_config(config), image_size, dtype)
    plan_clip(model, "hf", checkpoint_grid=grid).load(state, progress=progress)
    return model


def openai_clip_config(state_dict):
    """keras_vt `CLIP` arguments inferred from an OpenAI CLIP state dict (as `build_model`)."""
    if "visual.proj" not in state_dict:
        if "visual.layer1.0.conv1.weight" in state_dict:
            raise ValueError(
                "This is an OpenAI CLIP with a ModifiedResNet image tower (e.g. RN50): only ViT "
                "image towers (visual.conv1, visual.proj) are converted."
            )
        raise ValueError("Not an OpenAI CLIP state dict: expected the key 'visual.proj'.")
    width, _, patch, _ = np.shape(state_dict["visual.conv1.weight"])
    positions = np.shape(state_dict["visual.positional_embedding"])[0]
    grid = int(round((positions - 1) ** 0.5))
    if grid * grid + 1 != positions:
        raise ValueError(
            f"visual.positional_embedding has {positions} rows: expected 1 + a square."
        )

    def depth(prefix):
        pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
        return len({m.group(1) for k in state_dict if (m := pattern.match(k))})

    text_width = np.shape(state_dict["ln_final.weight"])[0]
    unmodelled = sorted(
        {
            match.group(1)
            for key in state_dict
            if (match := re.search(r"\.(ls_1|ls_2|ln_attn|ln_inner|q_norm|k_norm)\.", key))
        }
        | {key for key in ("visual.attn_pool.query", "text_pool") if key in state_dict}
    )
    if unmodelled:
        raise ValueError(
            f"This open_clip state dict uses parts keras_vt's CLIP does not model: {unmodelled} "
            "(layer scale, extra attention/MLP norms, attentional pooling). Expected OpenAI's "
            "block layout (ln_1, attn, ln_2, mlp)."
        )
    if "visual.transformer.resblocks.0.attn.in_proj_weight" not in state_dict:
        raise ValueError(
            "Not an OpenAI / open_clip CLIP state dict: expected the key "
            "'visual.transformer.resblocks.0.attn.in_proj_weight'."
        )
    return dict(
        embed_dim=int(np.shape(state_dict["text_projection"])[1]),
        image_size=int(grid * patch),
        vision_layers=depth("visual.transformer.resblocks."),
        vision_width=int(width),
        vision_patch_size=int(patch),
        vision_heads=int(width) // 64,
        context_length=int(np.shape(state_dict["positional_embedding"])[0]),
        vocabulary_size=int(np.shape(state_dict["token_embedding.weight"])[0]),
        text_width=int(text_width),
        text_heads=int(text_width) // 64,
        text_layers=depth("transformer.resblocks."),
        vision_mlp_dim=int(
            np.shape(state_dict["visual.transformer.resblocks.0.mlp.c_fc.weight"])[0]
        ),
        text_mlp_dim=int(np.shape(state_dict["transformer.resblocks.0.mlp.c_fc.weight"])[0]),
    )


def _zero_in_proj_biases(state):
    """`state` with zero `attn.in_proj_bias` / `attn.out_proj.bias` where a block has none."""
    state = dict(state)
    for key in [k for k in state if k.endswith("attn.in_proj_weight")]:
        base = key[: -len("in_proj_weight")]
        state.setdefault(base + "in_proj_bias", np.zeros(np.shape(state[key])[0], "float32"))
        out = base + "out_proj.weight"
        if out in state:
            state.setdefault(base + "out_proj.bias", np.zeros(np.shape(state[out])[0], "float32"))
    return state


def convert_openai_clip(
    source, image_size=None, dtype=None, progress=None, activation=None, **config
):
    """Builds a keras_vt `CLIP` from an OpenAI or open_clip CLIP state dict (file or mapping).

    The sizes are inferred from the shapes (MLP widths included, so open_clip's `mlp_ratio` of
    e.g. 4.9231 converts); the numbers of heads are width / 64 as in OpenAI's `build_model`
    unless given (`vision_heads=`, `text_heads=` in `config`; open_clip's ViT-bigG-14 has head
    width 104: `vision_heads=16`). The activation is not in a state dict: OpenAI's models and
    open_clip's `-quickgelu` ones use QuickGELU (the default), other open_clip models exact GELU
    (`activation="gelu"`). A block without q/k/v bias converts as zero biases.

    Example:

    ```python
    clip = keras_vt.convert.convert_openai_clip("ViT-B-32.safetensors")
    ```
    """
    if hasattr(source, "items"):
        state = {k: to_numpy(v) for k, v in source.items()}
    else:
        state = load_state_dict(source, progress=progress)
    state = {k: v for k, v in state.items() if k not in _OPENAI_SCALARS}
    state = {k: v for k, v in state.items() if not k.endswith("attn_mask")}
    kwargs = openai_clip_config(state)
    state = _zero_in_proj_biases(state)
    if activation is not None:
        kwargs.update(vision_activation=activation, text_activation=activation)
    kwargs.update(config)
    model, grid = _clip(kwargs, image_size, dtype)
    plan_clip(model, "openai", checkpoint_grid=grid).load(state, progress=progress)
    return model
