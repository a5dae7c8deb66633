"""Checkpoint conversion: numerical parity with Hugging Face reference models, and strict loading.

Reference models are built from small random configurations (nothing is downloaded), perturbed so
that every parameter (LayerNorm scales and biases included) is informative, saved with
`save_pretrained`, converted, and compared on the same pixels: logits and attention probabilities
to 1e-4, at the checkpoint's resolution and at another one (`interpolate_pos_encoding=True`).
"""

import json
import os
import shutil

import keras
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import keras_vt  # noqa: E402
from keras_vt.convert import (  # noqa: E402
    HF_VIT_LAYOUT,
    convert_checkpoint,
    convert_hf_vit,
    convert_timm_vit,
    load_state_dict,
    plan_vit,
)
from keras_vt.models.vit import VisionTransformer  # noqa: E402

ATOL = 1e-4
SMALL_VIT = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    image_size=32,
    patch_size=8,
    num_labels=5,
)


def perturb(module, seed=0):
    """Adds noise to every parameter, so that biases, LayerNorm and tokens all matter."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return module.eval()


def hf_model(cls, seed=0, **config):
    """A random Hugging Face model `cls` (e.g. "ViTModel") with eager attention."""
    torch.manual_seed(seed)
    family = cls.split("For")[0].removesuffix("Model")
    hf_config = getattr(transformers, family + "Config")(**config)
    model = getattr(transformers, cls)._from_config(hf_config, attn_implementation="eager")
    return perturb(model, seed)


def save(model, path):
    model.save_pretrained(path)
    return str(path)


def pixels(size, batch=2, seed=1):
    return np.random.default_rng(seed).normal(size=(batch, 3, size, size)).astype("float32")


def hf_run(model, x, **kwargs):
    with torch.no_grad():
        return model(torch.from_numpy(x), output_attentions=True, **kwargs)


def nhwc(x):
    return np.transpose(x, (0, 2, 3, 1))


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def assert_attention_matches(model, x, hf_attentions):
    maps = keras_vt.viz.attention_maps(model, nhwc(x))
    assert len(maps) == len(hf_attentions)
    for ours, theirs in zip(maps, hf_attentions):
        np.testing.assert_allclose(ours, theirs.numpy(), atol=ATOL)


def test_hf_vit_classifier_matches(tmp_path):
    reference = hf_model("ViTForImageClassification", **SMALL_VIT)
    x = pixels(32)
    expected = hf_run(reference, x)
    model = convert_hf_vit(save(reference, tmp_path / "vit"))
    assert model.layer_norm_epsilon == 1e-12
    np.testing.assert_allclose(to_numpy(model(nhwc(x))), expected.logits.numpy(), atol=ATOL)
    assert_attention_matches(model, x, expected.attentions)


def test_hf_vit_backbone_matches_class_token(tmp_path):
    reference = hf_model("ViTModel", **SMALL_VIT)
    x = pixels(32)
    expected = hf_run(reference, x)
    with pytest.warns(UserWarning, match="pooler"):
        model = convert_hf_vit(save(reference, tmp_path / "vit"))
    assert not model.include_top
    np.testing.assert_allclose(
        to_numpy(model(nhwc(x))), expected.last_hidden_state[:, 0].numpy(), atol=ATOL
    )
    assert_attention_matches(model, x, expected.attentions)


def test_converted_keras_file_at_another_resolution(tmp_path):
    """The .keras file reloads; built at 48 px it matches HF's interpolate_pos_encoding."""
    reference = hf_model("ViTForImageClassification", **SMALL_VIT)
    destination = str(tmp_path / "vit.keras")
    convert_checkpoint(save(reference, tmp_path / "vit"), destination)
    restored = keras.saving.load_model(destination)
    x = pixels(32)
    np.testing.assert_allclose(
        to_numpy(restored(nhwc(x))), hf_run(reference, x).logits.numpy(), atol=ATOL
    )

    x48 = pixels(48, seed=2)
    expected = hf_run(reference, x48, interpolate_pos_encoding=True)
    larger = VisionTransformer(**{**restored.get_config(), "image_size": 48, "name": None})
    keras_vt.models.load_weights(larger, destination)
    np.testing.assert_allclose(to_numpy(larger(nhwc(x48))), expected.logits.numpy(), atol=ATOL)
    assert_attention_matches(larger, x48, expected.attentions)

    direct = convert_hf_vit(str(tmp_path / "vit"), image_size=48)
    np.testing.assert_allclose(to_numpy(direct(nhwc(x48))), expected.logits.numpy(), atol=ATOL)


def test_unseen_configuration_matches(tmp_path):
    """Odd sizes no other test uses: hidden 48, 3 heads, patch 8, 40 px, 5 layers, MLP 100."""
    reference = hf_model(
        "ViTForImageClassification",
        seed=3,
        hidden_size=48,
        num_hidden_layers=5,
        num_attention_heads=3,
        intermediate_size=100,
        image_size=40,
        patch_size=8,
        num_labels=7,
        layer_norm_eps=1e-5,
    )
    x = pixels(40, seed=4)
    expected = hf_run(reference, x)
    model = convert_checkpoint(save(reference, tmp_path / "odd"))
    assert (model.hidden_dim, model.num_heads, model.depth, model.mlp_dim) == (48, 3, 5, 100)
    np.testing.assert_allclose(to_numpy(model(nhwc(x))), expected.logits.numpy(), atol=ATOL)
    assert_attention_matches(model, x, expected.attentions)


def timm_state_from_hf(state, depth, prefix="vit."):
    """The same weights under timm's names (q, k, v stacked into one qkv projection)."""
    timm = {
        "cls_token": state[prefix + "embeddings.cls_token"],
        "pos_embed": state[prefix + "embeddings.position_embeddings"],
        "patch_embed.proj.weight": state[prefix + "embeddings.patch_embeddings.projection.weight"],
        "patch_embed.proj.bias": state[prefix + "embeddings.patch_embeddings.projection.bias"],
        "norm.weight": state[prefix + "layernorm.weight"],
        "norm.bias": state[prefix + "layernorm.bias"],
    }
    for theirs, mine in (
        ("classifier", "head"),
        ("cls_classifier", "head"),
        ("distillation_classifier", "head_dist"),
    ):
        for part in ("weight", "bias"):
            if f"{theirs}.{part}" in state:
                timm[f"{mine}.{part}"] = state[f"{theirs}.{part}"]
    if prefix + "embeddings.distillation_token" in state:
        timm["dist_token"] = state[prefix + "embeddings.distillation_token"]
    for i in range(depth):
        hf, ours = f"{prefix}encoder.layer.{i}.", f"blocks.{i}."
        for part in ("weight", "bias"):
            timm[ours + f"attn.qkv.{part}"] = np.concatenate(
                [state[hf + f"attention.attention.{n}.{part}"] for n in ("query", "key", "value")]
            )
            for theirs, mine in (
                ("layernorm_before", "norm1"),
                ("attention.output.dense", "attn.proj"),
                ("layernorm_after", "norm2"),
                ("intermediate.dense", "mlp.fc1"),
                ("output.dense", "mlp.fc2"),
            ):
                timm[ours + f"{mine}.{part}"] = state[hf + f"{theirs}.{part}"]
    return timm


def test_timm_vit_state_dict_matches(tmp_path):
    config = dict(SMALL_VIT, hidden_size=128, layer_norm_eps=1e-6)
    reference = hf_model("ViTForImageClassification", seed=5, **config)
    state = load_state_dict(save(reference, tmp_path / "vit"))
    timm_path = str(tmp_path / "timm_vit.pth")
    torch.save({k: torch.from_numpy(v) for k, v in timm_state_from_hf(state, 2).items()}, timm_path)

    x = pixels(32, seed=6)
    expected = hf_run(reference, x)
    model = convert_checkpoint(timm_path, progress=True)  # heads inferred: 128 / 64 = 2
    assert (model.num_heads, model.layer_norm_epsilon) == (2, 1e-6)
    np.testing.assert_allclose(to_numpy(model(nhwc(x))), expected.logits.numpy(), atol=ATOL)
    assert_attention_matches(model, x, expected.attentions)

    x48 = pixels(48, seed=7)
    larger = convert_timm_vit(timm_path, image_size=48)
    np.testing.assert_allclose(
        to_numpy(larger(nhwc(x48))),
        hf_run(reference, x48, interpolate_pos_encoding=True).logits.numpy(),
        atol=ATOL,
    )


def test_timm_heads_must_be_given_when_not_inferable():
    state = {
        "patch_embed.proj.weight": np.zeros((48, 3, 8, 8), "float32"),
        "pos_embed": np.zeros((1, 17, 48), "float32"),
        "cls_token": np.zeros((1, 1, 48), "float32"),
        "blocks.0.mlp.fc1.weight": np.zeros((96, 48), "float32"),
    }
    with pytest.raises(ValueError, match="num_heads"):
        convert_timm_vit(state)


def test_bad_checkpoint_lists_every_problem_and_loads_nothing(tmp_path):
    reference = hf_model("ViTForImageClassification", **SMALL_VIT)
    state = load_state_dict(save(reference, tmp_path / "vit"))
    del state["vit.encoder.layer.1.output.dense.bias"]
    state["vit.encoder.layer.1.extra.weight"] = np.zeros((3,), "float32")
    state["vit.layernorm.weight"] = np.ones((31,), "float32")

    model = VisionTransformer(
        image_size=32, patch_size=8, hidden_dim=32, depth=2, num_heads=2, mlp_dim=64, num_classes=5
    )
    before = [to_numpy(w) for w in model.weights]
    plan = plan_vit(model, HF_VIT_LAYOUT, prefix="vit.", head=[("head", "classifier")])
    with pytest.raises(ValueError) as info:
        plan.load(state)
    message = str(info.value)
    assert "1 missing keys: vit.encoder.layer.1.output.dense.bias" in message
    assert "1 unexpected keys: vit.encoder.layer.1.extra.weight" in message
    assert "vit.layernorm.weight: checkpoint (31,), expected (32,)" in message
    assert "Nothing was loaded" in message
    for old, new in zip(before, model.weights):
        np.testing.assert_array_equal(old, to_numpy(new))


def test_position_table_of_the_wrong_grid_is_a_shape_mismatch(tmp_path):
    reference = hf_model("ViTForImageClassification", **SMALL_VIT)
    directory = save(reference, tmp_path / "vit")
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    config["image_size"] = 40
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f)
    with pytest.raises(
        ValueError,
        match=r"position_embeddings: checkpoint \(1, 17, 32\), "
        r"expected \(1, 26, 32\)",
    ):
        convert_hf_vit(directory)


def test_checkpoint_of_another_architecture(tmp_path):
    beit = save(hf_model("BeitForImageClassification", **SMALL_VIT), tmp_path / "beit")
    with pytest.raises(ValueError, match="model_type='beit'"):
        convert_checkpoint(beit)
    # The same weights under a ViT config: nothing matches, and the error says so.
    vit_config = hf_model("ViTForImageClassification", **SMALL_VIT).config.to_dict()
    with pytest.raises(ValueError, match="another architecture") as info:
        convert_hf_vit((vit_config, load_state_dict(beit)))
    assert "beit.encoder.layer.0.attention.attention.query.weight" in str(info.value)
    # A state-dict file no converter recognises.
    shutil.copy(os.path.join(beit, "model.safetensors"), tmp_path / "beit.safetensors")
    with pytest.raises(ValueError, match="Unrecognised state dict"):
        convert_checkpoint(str(tmp_path / "beit.safetensors"))


def test_unsupported_options_and_paths(tmp_path):
    config = hf_model("ViTModel", **SMALL_VIT).config.to_dict()
    # gelu_new converts since issue 15 (as keras_vt's "gelu_tanh"); silu has no keras_vt form.
    with pytest.raises(ValueError, match="hidden_act='silu'"):
        convert_hf_vit((dict(config, hidden_act="silu"), {}))
    with pytest.raises(ValueError, match="src=.* not found"):
        convert_checkpoint(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="dst"):
        convert_checkpoint(str(tmp_path), str(tmp_path / "model.h5"))


def test_cli_convert(tmp_path, capsys):
    from keras_vt.cli import main

    reference = hf_model("ViTForImageClassification", **SMALL_VIT)
    source, destination = save(reference, tmp_path / "vit"), str(tmp_path / "vit.keras")
    assert main(["convert", source, destination]) == 0
    x = pixels(32)
    np.testing.assert_allclose(
        to_numpy(keras.saving.load_model(destination)(nhwc(x))),
        hf_run(reference, x).logits.numpy(),
        atol=ATOL,
    )
    assert main(["convert", str(tmp_path / "nothing"), destination]) == 2
    assert "not found" in capsys.readouterr().err


SMALL_DEIT = dict(SMALL_VIT, hidden_size=64, layer_norm_eps=1e-6)


def deit_module():
    return keras_vt.models.deit


def test_hf_deit_with_teacher_matches_both_heads(tmp_path):
    DistilledDeiT = deit_module().DistilledDeiT

    reference = hf_model("DeiTForImageClassificationWithTeacher", seed=8, **SMALL_DEIT)
    x = pixels(32, seed=9)
    expected = hf_run(reference, x)
    destination = str(tmp_path / "deit.keras")
    model = convert_checkpoint(save(reference, tmp_path / "deit"), destination)
    assert isinstance(model, DistilledDeiT) and model.normalization == "imagenet"
    np.testing.assert_allclose(to_numpy(model(nhwc(x))), expected.logits.numpy(), atol=ATOL)
    class_logits, distillation_logits = model(nhwc(x), training=True)
    np.testing.assert_allclose(to_numpy(class_logits), expected.cls_logits.numpy(), atol=ATOL)
    np.testing.assert_allclose(
        to_numpy(distillation_logits), expected.distillation_logits.numpy(), atol=ATOL
    )
    assert_attention_matches(model, x, expected.attentions)

    x48 = pixels(48, seed=10)
    expected = hf_run(reference, x48, interpolate_pos_encoding=True)
    larger = DistilledDeiT(**{**model.get_config(), "image_size": 48, "name": None})
    keras_vt.models.load_weights(larger, destination)
    np.testing.assert_allclose(to_numpy(larger(nhwc(x48))), expected.logits.numpy(), atol=ATOL)
    assert_attention_matches(larger, x48, expected.attentions)

    timm_path = str(tmp_path / "timm_deit.safetensors")
    from safetensors.numpy import save_file

    save_file(timm_state_from_hf(load_state_dict(tmp_path / "deit"), 2, "deit."), timm_path)
    from_timm = convert_checkpoint(timm_path, num_heads=2)  # 64 / 64 would infer 1 head
    assert isinstance(from_timm, DistilledDeiT) and from_timm.num_heads == 2
    np.testing.assert_allclose(
        to_numpy(from_timm(nhwc(x))), hf_run(reference, x).logits.numpy(), atol=ATOL
    )


def test_hf_deit_class_head_only_matches(tmp_path):
    deit_module()
    reference = hf_model("DeiTForImageClassification", seed=11, **SMALL_DEIT)
    x = pixels(32, seed=12)
    expected = hf_run(reference, x)
    destination = str(tmp_path / "deit.keras")
    model = convert_checkpoint(save(reference, tmp_path / "deit"), destination)
    assert "head_dist" not in {layer.name for layer in model.layers}
    np.testing.assert_allclose(to_numpy(model(nhwc(x))), expected.logits.numpy(), atol=ATOL)
    restored = keras.saving.load_model(destination)  # distillation_head=False round trip
    assert not restored.distillation_head
    np.testing.assert_allclose(
        to_numpy(restored(nhwc(x), training=True)), expected.logits.numpy(), atol=ATOL
    )
    assert_attention_matches(model, x, expected.attentions)


def test_hf_deit_backbone_matches_mean_of_tokens(tmp_path):
    deit_module()
    reference = hf_model("DeiTModel", seed=13, **SMALL_DEIT)
    x = pixels(32, seed=14)
    expected = hf_run(reference, x)
    with pytest.warns(UserWarning, match="pooler"):
        model = convert_checkpoint(save(reference, tmp_path / "deit"))
    np.testing.assert_allclose(
        to_numpy(model(nhwc(x))),
        expected.last_hidden_state[:, :2].mean(1).numpy(),
        atol=ATOL,
    )


def test_hf_vit_with_imagenet_preprocessing_becomes_deit(tmp_path):
    """facebook/deit-* (non-distilled) checkpoints are ViTs normalised with ImageNet mean/std."""
    DeiT = deit_module().DeiT
    directory = save(hf_model("ViTForImageClassification", **SMALL_VIT), tmp_path / "vit")
    with open(os.path.join(directory, "preprocessor_config.json"), "w") as f:
        json.dump({"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}, f)
    model = convert_checkpoint(directory)
    assert isinstance(model, DeiT) and model.normalization == "imagenet"


def test_new_head_for_fine_tuning(tmp_path):
    directory = save(hf_model("ViTForImageClassification", **SMALL_VIT), tmp_path / "vit")
    with pytest.warns(UserWarning, match="num_classes=3 replaces the checkpoint's 5 classes"):
        model = convert_hf_vit(directory, num_classes=3)
    assert model.num_classes == 3 and tuple(model.get_layer("head").kernel.shape) == (32, 3)
    same = convert_hf_vit(directory)
    for ours, theirs in zip(model.weights, same.weights):
        if not ours.path.startswith("head"):
            np.testing.assert_array_equal(to_numpy(ours), to_numpy(theirs))


def clip_module():
    return keras_vt.models.clip


SMALL_CLIP = dict(
    projection_dim=24,
    text_config=dict(
        vocab_size=99,
        hidden_size=32,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=12,
        eos_token_id=98,
        bos_token_id=97,
    ),
    vision_config=dict(
        hidden_size=48,
        intermediate_size=192,
        num_hidden_layers=2,
        num_attention_heads=3,
        image_size=32,
        patch_size=8,
    ),
)


def clip_reference(seed=16):
    torch.manual_seed(seed)
    config = transformers.CLIPConfig(**SMALL_CLIP)
    model = transformers.CLIPModel._from_config(config, attn_implementation="eager")
    return perturb(model, seed)


def clip_token_ids(batch=3, length=12, seed=17):
    """Start token, random words, end token 98 (the largest id), padding 0."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((batch, length), "int32")
    for row, n in enumerate(rng.integers(1, length - 2, batch)):
        ids[row, 0], ids[row, 1 : n + 1], ids[row, n + 1] = 97, rng.integers(1, 97, n), 98
    return ids


def clip_features(reference, x, ids, **kwargs):
    with torch.no_grad():
        image = reference.get_image_features(pixel_values=torch.from_numpy(x), **kwargs)
        text = reference.get_text_features(input_ids=torch.from_numpy(ids).long())
        vision = reference.vision_model(
            pixel_values=torch.from_numpy(x), output_attentions=True, **kwargs
        )
    return image.pooler_output.numpy(), text.pooler_output.numpy(), vision.attentions


def openai_state_from_hf(state, vision_depth, text_depth):
    """The same CLIP weights in OpenAI's layout (fused in_proj, x @ proj projections)."""
    openai = {
        "visual.conv1.weight": state["vision_model.embeddings.patch_embedding.weight"],
        "visual.class_embedding": state["vision_model.embeddings.class_embedding"],
        "visual.positional_embedding": state["vision_model.embeddings.position_embedding.weight"],
        "visual.proj": state["visual_projection.weight"].T,
        "token_embedding.weight": state["text_model.embeddings.token_embedding.weight"],
        "positional_embedding": state["text_model.embeddings.position_embedding.weight"],
        "text_projection": state["text_projection.weight"].T,
        "logit_scale": state["logit_scale"],
        "input_resolution": np.array(32),
    }
    for theirs, mine in (
        ("vision_model.pre_layrnorm", "visual.ln_pre"),
        ("vision_model.post_layernorm", "visual.ln_post"),
        ("text_model.final_layer_norm", "ln_final"),
    ):
        for part in ("weight", "bias"):
            openai[f"{mine}.{part}"] = state[f"{theirs}.{part}"]
    for tower, ours, depth in (
        ("vision_model", "visual.transformer", vision_depth),
        ("text_model", "transformer", text_depth),
    ):
        for i in range(depth):
            hf, mine = f"{tower}.encoder.layers.{i}.", f"{ours}.resblocks.{i}."
            for part in ("weight", "bias"):
                openai[mine + f"attn.in_proj_{part}"] = np.concatenate(
                    [state[hf + f"self_attn.{n}_proj.{part}"] for n in "qkv"]
                )
                for theirs, name in (
                    ("layer_norm1", "ln_1"),
                    ("self_attn.out_proj", "attn.out_proj"),
                    ("layer_norm2", "ln_2"),
                    ("mlp.fc1", "mlp.c_fc"),
                    ("mlp.fc2", "mlp.c_proj"),
                ):
                    openai[mine + f"{name}.{part}"] = state[hf + f"{theirs}.{part}"]
    return openai


def test_hf_and_openai_clip_match_encode_image_and_text(tmp_path):
    clip_module()
    reference = clip_reference()
    x, ids = pixels(32, seed=18), clip_token_ids()
    image, text, attentions = clip_features(reference, x, ids)
    directory = save(reference, tmp_path / "clip")
    destination = str(tmp_path / "clip.keras")
    clip = convert_checkpoint(directory, destination)
    restored = keras.saving.load_model(destination)
    for model in (clip, restored):
        np.testing.assert_allclose(to_numpy(model.encode_image(nhwc(x))), image, atol=ATOL)
        np.testing.assert_allclose(to_numpy(model.encode_text(ids)), text, atol=ATOL)
    np.testing.assert_allclose(
        float(to_numpy(clip.logit_scale)), reference.logit_scale.item(), atol=1e-6
    )
    maps = keras_vt.viz.attention_maps(clip.image_encoder, nhwc(x))
    for ours, theirs in zip(maps, attentions, strict=True):
        np.testing.assert_allclose(ours, theirs.numpy(), atol=ATOL)

    x48 = pixels(48, seed=19)
    image48, _, _ = clip_features(reference, x48, ids, interpolate_pos_encoding=True)
    larger = convert_checkpoint(directory, image_size=48)
    np.testing.assert_allclose(to_numpy(larger.encode_image(nhwc(x48))), image48, atol=ATOL)

    openai_path = str(tmp_path / "openai_clip.pt")
    state = openai_state_from_hf(load_state_dict(directory), 2, 2)
    torch.save({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, openai_path)
    # OpenAI's build_model infers width / 64 heads; this small model has 3 and 2.
    from_openai = convert_checkpoint(openai_path, vision_heads=3, text_heads=2, eot_token_id=98)
    np.testing.assert_allclose(to_numpy(from_openai.encode_image(nhwc(x))), image, atol=ATOL)
    np.testing.assert_allclose(to_numpy(from_openai.encode_text(ids)), text, atol=ATOL)


def test_hf_cvt_directory_through_convert_checkpoint(tmp_path):
    """The CvT converter (keras_vt.convert.hf_cvt) from a save_pretrained directory."""
    from keras_vt.models import cvt

    torch.manual_seed(15)
    config = transformers.CvtConfig(
        embed_dim=[16, 24, 40], num_heads=[1, 2, 5], depth=[1, 2, 3], num_labels=4
    )
    reference = perturb(transformers.CvtForImageClassification(config), seed=15)
    destination = str(tmp_path / "cvt.keras")
    convert_checkpoint(save(reference, tmp_path / "cvt"), destination)
    assert isinstance(keras.saving.load_model(destination), cvt.CvT)
    for size in (32, 56):  # CvT takes any resolution: no position table
        x = pixels(size, seed=size)
        with torch.no_grad():
            expected = reference(torch.from_numpy(x)).logits.numpy()
        resized = convert_checkpoint(str(tmp_path / "cvt"), image_size=size)
        np.testing.assert_allclose(to_numpy(resized(nhwc(x))), expected, atol=ATOL)
