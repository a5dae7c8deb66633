"""Converter parity over a spread of random checkpoint configurations (issue 15, item 4).

Each family is converted from several Hugging Face configurations drawn at random (seeded, so a
failure reproduces): MLP widths that are not 4x the hidden width, both GELU forms and the other
activations transformers offers, with and without q/k/v bias, odd image and patch sizes, head
counts, depths, vocabularies and context lengths. Every converted model must match transformers
to 1e-4. CLIP is also converted from the OpenAI / open_clip state-dict layout of the same weights.
What keras_vt does not model gets a `ValueError` naming the field.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from test_convert import (  # noqa: E402
    ATOL,
    clip_features,
    hf_model,
    hf_run,
    nhwc,
    openai_state_from_hf,
    perturb,
    pixels,
    save,
    to_numpy,
)

from keras_vt.convert import (  # noqa: E402
    convert_checkpoint,
    convert_hf_clip,
    convert_hf_deit,
    convert_hf_vit,
    convert_openai_clip,
    load_state_dict,
)

ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "quick_gelu", "relu")


def vit_config(seed):
    """A random but valid ViT/DeiT configuration; seed 0 is deliberately the odd one out."""
    rng = np.random.default_rng(seed)
    heads = int(rng.integers(1, 5))
    hidden = heads * int(rng.choice([8, 12, 16]))
    patch = int(rng.choice([2, 4, 7, 8]))
    return dict(
        hidden_size=hidden,
        num_hidden_layers=int(rng.integers(1, 4)),
        num_attention_heads=heads,
        intermediate_size=int(rng.integers(8, 5 * hidden)),
        hidden_act=str(rng.choice(ACTIVATIONS)),
        qkv_bias=bool(seed % 2),
        image_size=patch * int(rng.integers(2, 6)),
        patch_size=patch,
        layer_norm_eps=float(rng.choice([1e-12, 1e-6, 1e-5])),
        num_labels=int(rng.integers(2, 12)),
    )


@pytest.mark.parametrize("seed", range(3))
def test_hf_vit_spread(tmp_path, seed):
    config = vit_config(seed)
    reference = hf_model("ViTForImageClassification", seed=seed, **config)
    x = pixels(config["image_size"], seed=seed)
    expected = hf_run(reference, x).logits.numpy()
    model = convert_hf_vit(save(reference, tmp_path / "vit"))
    assert model.mlp_dim == config["intermediate_size"]
    np.testing.assert_allclose(to_numpy(model(nhwc(x))), expected, atol=ATOL, err_msg=str(config))


@pytest.mark.parametrize("seed", range(10, 12))
def test_hf_deit_spread(tmp_path, seed):
    config = vit_config(seed)
    reference = hf_model("DeiTForImageClassificationWithTeacher", seed=seed, **config)
    x = pixels(config["image_size"], seed=seed)
    expected = hf_run(reference, x).logits.numpy()
    model = convert_hf_deit(save(reference, tmp_path / "deit"))
    np.testing.assert_allclose(to_numpy(model(nhwc(x))), expected, atol=ATOL, err_msg=str(config))


def clip_config(seed):
    rng = np.random.default_rng(seed)
    vision_heads, text_heads = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    vision_width = vision_heads * int(rng.choice([8, 16]))
    text_width = text_heads * int(rng.choice([8, 16]))
    patch = int(rng.choice([4, 8, 14]))
    vocab = int(rng.integers(40, 300))
    activation = str(rng.choice(["quick_gelu", "gelu"]))
    return dict(
        projection_dim=int(rng.integers(8, 40)),
        text_config=dict(
            vocab_size=vocab,
            hidden_size=text_width,
            # open_clip's ViT-bigG-14 ratio (4.9231) and others, rounded as open_clip does
            intermediate_size=int(text_width * float(rng.choice([2.0, 3.5, 4.9231]))),
            num_hidden_layers=int(rng.integers(1, 3)),
            num_attention_heads=text_heads,
            max_position_embeddings=int(rng.integers(6, 20)),
            hidden_act=activation,
            eos_token_id=vocab - 1,
            bos_token_id=vocab - 2,
        ),
        vision_config=dict(
            hidden_size=vision_width,
            intermediate_size=int(vision_width * float(rng.choice([2.0, 4.9231, 5.5]))),
            num_hidden_layers=int(rng.integers(1, 3)),
            num_attention_heads=vision_heads,
            image_size=patch * int(rng.integers(2, 5)),
            patch_size=patch,
            hidden_act=activation,
        ),
    )


def clip_ids(vocab, length, seed, batch=3):
    """Start token, random words, end token (the largest id), padding 0."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((batch, length), "int32")
    for row, n in enumerate(rng.integers(1, length - 2, batch)):
        ids[row, 0], ids[row, 1 : n + 1] = vocab - 2, rng.integers(1, vocab - 2, n)
        ids[row, n + 1] = vocab - 1
    return ids


@pytest.mark.parametrize("seed", range(20, 23))
def test_hf_and_open_clip_spread(tmp_path, seed):
    config = clip_config(seed)
    torch.manual_seed(seed)
    hf_config = transformers.CLIPConfig(**config)
    reference = perturb(
        transformers.CLIPModel._from_config(hf_config, attn_implementation="eager"), seed
    )
    vision, text = config["vision_config"], config["text_config"]
    x = pixels(vision["image_size"], seed=seed)
    ids = clip_ids(text["vocab_size"], text["max_position_embeddings"], seed)
    image, text_features, _ = clip_features(reference, x, ids)
    directory = save(reference, tmp_path / "clip")
    clip = convert_hf_clip(directory)
    assert clip.vision_mlp_dim == vision["intermediate_size"]
    assert clip.text_mlp_dim == text["intermediate_size"]
    assert clip.context_length == text["max_position_embeddings"]
    np.testing.assert_allclose(to_numpy(clip.encode_image(nhwc(x))), image, atol=ATOL)
    np.testing.assert_allclose(to_numpy(clip.encode_text(ids)), text_features, atol=ATOL)

    state = openai_state_from_hf(
        load_state_dict(directory), vision["num_hidden_layers"], text["num_hidden_layers"]
    )
    state["input_resolution"] = np.array(vision["image_size"])
    from_openai = convert_openai_clip(
        state,
        activation=vision["hidden_act"],
        vision_heads=vision["num_attention_heads"],
        text_heads=text["num_attention_heads"],
        eot_token_id=text["vocab_size"] - 1,
    )
    assert from_openai.vision_mlp_dim == vision["intermediate_size"]
    np.testing.assert_allclose(to_numpy(from_openai.encode_image(nhwc(x))), image, atol=ATOL)
    np.testing.assert_allclose(to_numpy(from_openai.encode_text(ids)), text_features, atol=ATOL)


def cvt_config(seed):
    rng = np.random.default_rng(seed)
    heads = [int(h) for h in rng.integers(1, 4, 3)]
    return dict(
        embed_dim=[h * int(rng.choice([8, 16])) for h in heads],
        num_heads=heads,
        depth=[1, 2, int(rng.integers(3, 5))],  # HF indexes drop-path rates by stage: depth[s] > s
        mlp_ratio=[float(rng.choice([2.0, 3.0, 4.0]))] * 3,
        qkv_bias=[bool(seed % 2)] * 3,
        patch_sizes=[int(rng.choice([3, 5, 7])), 3, 3],
        patch_stride=[int(rng.choice([2, 4])), 2, 2],
        patch_padding=[int(rng.choice([1, 2])), 1, 1],
        num_labels=int(rng.integers(2, 9)),
    )


@pytest.mark.parametrize("seed", range(30, 32))
def test_hf_cvt_spread(tmp_path, seed):
    config = cvt_config(seed)
    torch.manual_seed(seed)
    reference = perturb(
        transformers.CvtForImageClassification(transformers.CvtConfig(**config)), seed
    )
    size = 40 + 8 * (seed % 3)
    x = pixels(size, seed=seed)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).logits.numpy()
    model = convert_checkpoint(save(reference, tmp_path / "cvt"), image_size=size)
    np.testing.assert_allclose(to_numpy(model(nhwc(x))), expected, atol=ATOL, err_msg=str(config))


def test_what_keras_vt_does_not_model_is_named():
    with pytest.raises(ValueError, match="hidden_act='swish'"):
        convert_hf_vit(({**vit_config(0), "model_type": "vit", "hidden_act": "swish"}, {}))
    clip = transformers.CLIPConfig(**clip_config(20)).to_dict()
    clip["vision_config"]["hidden_act"] = "silu"
    with pytest.raises(ValueError, match="vision_config hidden_act='silu'"):
        convert_hf_clip((clip, {}))
    state = {"visual.proj": np.zeros((4, 4)), "visual.transformer.resblocks.0.ls_1.gamma": 0}
    with pytest.raises(ValueError, match="ls_1"):
        convert_openai_clip({**state, **_minimal_openai_shapes()})


def _minimal_openai_shapes():
    return {
        "visual.conv1.weight": np.zeros((8, 3, 4, 4)),
        "visual.positional_embedding": np.zeros((5, 8)),
        "ln_final.weight": np.zeros(8),
        "text_projection": np.zeros((8, 4)),
        "positional_embedding": np.zeros((6, 8)),
        "token_embedding.weight": np.zeros((20, 8)),
    }
