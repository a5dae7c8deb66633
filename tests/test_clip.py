"""CLIP: temperature clamp, contrastive loss, zero-shot math, tokenizers, errors, fit per backend."""

import math
import os
import tempfile
import warnings

import keras
import numpy as np
import pytest

import keras_vt
from keras_vt.training import clip_loss, retrieval_metrics

SMALL = "clip_vit_tiny_patch8_64"


def small_clip(**overrides):
    return keras_vt.create_model(SMALL, tiny=True, **overrides)


def pairs(model, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, model.image_size, model.image_size, 3)).astype("float32")
    ids = rng.integers(1, model.vocabulary_size, size=(batch, model.context_length))
    return x, ids.astype("int32")


def numpy_clip_loss(logits):
    def ce(z):
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -np.mean(np.diag(logp))

    return (ce(logits) + ce(logits.T)) / 2


def test_contrastive_loss_matches_numpy():
    logits = np.random.default_rng(0).normal(size=(6, 6)).astype("float32") * 5
    got = float(keras.ops.convert_to_numpy(clip_loss(logits)))
    np.testing.assert_allclose(got, numpy_clip_loss(logits.astype("float64")), rtol=1e-5)


def test_fit_loss_is_the_contrastive_loss_of_the_outputs():
    model = small_clip()
    x, ids = pairs(model)
    out = model((x, ids))
    logits = (1 / 0.07) * (
        keras.ops.convert_to_numpy(out["image_embeddings"])
        @ keras.ops.convert_to_numpy(out["text_embeddings"]).T
    )
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    result = model.evaluate((x, ids), batch_size=4, verbose=0, return_dict=True)
    np.testing.assert_allclose(result["loss"], numpy_clip_loss(logits), rtol=1e-4)
    np.testing.assert_allclose(result["temperature"], 0.07, rtol=1e-5)


def test_logit_scale_starts_at_ln_1_over_007():
    model = small_clip()
    value = float(keras.ops.convert_to_numpy(model.logit_scale))
    assert value == pytest.approx(math.log(1 / 0.07), rel=1e-6)


def test_temperature_stays_clamped_after_many_large_gradient_steps():
    model = small_clip()
    x, ids = pairs(model, batch=2)
    # Two pairs the towers separate quickly: the loss then only falls by sharpening, which
    # pushes logit_scale up by ~lr each Adam step, far past ln(100) without the clamp.
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1.0))
    history = model.fit((x, ids), batch_size=2, epochs=40, verbose=0)
    value = float(keras.ops.convert_to_numpy(model.logit_scale))
    assert value <= math.log(100.0) + 1e-6
    assert min(history.history["temperature"]) >= 0.01 - 1e-6
    assert float(keras.ops.convert_to_numpy(model.scale())) <= 100.0 + 1e-3


def test_forward_clamps_a_logit_scale_set_beyond_the_bound():
    model = small_clip()
    model.logit_scale.assign(10.0)  # bypasses the constraint
    assert float(keras.ops.convert_to_numpy(model.scale())) == pytest.approx(100.0, rel=1e-5)


def test_optimizer_constraint_clamps_the_variable():
    model = small_clip()
    optimizer = keras.optimizers.SGD(learning_rate=1.0)
    for _ in range(5):
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(-1e6), model.logit_scale)])
    assert float(keras.ops.convert_to_numpy(model.logit_scale)) == pytest.approx(math.log(100))


def test_zero_shot_ensembling_math():
    model = small_clip()
    templates = ["a {}", "the {} here"]
    names = ["x", "y", "z"]
    table = {"a x": 3, "the x here": 4, "a y": 5, "the y here": 6, "a z": 7, "the z here": 8}

    def tokenizer(texts):
        ids = np.zeros((len(texts), model.context_length), "int32")
        ids[:, 0] = [table[t] for t in texts]
        return ids

    classifier = keras_vt.ZeroShotClassifier(model, names, templates, tokenizer)
    expected = []
    for name in names:
        emb = keras.ops.convert_to_numpy(
            model.encode_text(tokenizer([t.format(name) for t in templates]))
        )
        emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        mean = emb.mean(0)
        expected.append(mean / np.linalg.norm(mean))
    expected = np.stack(expected)
    np.testing.assert_allclose(classifier.class_embeddings, expected, rtol=1e-5, atol=1e-6)
    x, _ = pairs(model, batch=3)
    image = keras.ops.convert_to_numpy(model.encode_image(x))
    image = image / np.linalg.norm(image, axis=1, keepdims=True)
    logits = keras.ops.convert_to_numpy(classifier(x))
    np.testing.assert_allclose(logits, 100 * image @ expected.T, rtol=1e-4, atol=1e-4)
    learned = keras_vt.ZeroShotClassifier(model, names, templates, tokenizer, logit_scale="learned")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(learned(x)),
        (1 / 0.07) * image @ expected.T,
        rtol=1e-4,
        atol=1e-4,
    )
    with pytest.raises(ValueError, match="templates"):
        keras_vt.ZeroShotClassifier(model, names, ["no slot"], tokenizer)


def test_retrieval_metrics():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 8))
    perfect = retrieval_metrics(x, x)
    assert perfect["image_to_text_R@1"] == 1.0 and perfect["text_to_image_median_rank"] == 1.0
    shuffled = retrieval_metrics(x, np.roll(x, 1, axis=0))
    assert shuffled["image_to_text_R@1"] == 0.0
    with pytest.raises(ValueError, match="text_embeddings"):
        retrieval_metrics(x, x[:5])


def test_retrieval_ties_are_averaged():
    from keras_vt.training.retrieval import query_ranks, ranking_metrics

    # Row 0: match tied with one distractor -> positions 1 and 2 -> 1.5. Row 1: one distractor
    # higher, one tied -> positions 2 and 3 -> 2.5. Row 2: strictly best -> 1.
    similarity = np.array([[0.5, 0.5, 0.1], [0.9, 0.4, 0.4], [0.0, 0.2, 0.3]])
    np.testing.assert_array_equal(query_ranks(similarity), [1.5, 2.5, 1.0])
    metrics = ranking_metrics(similarity, ks=(1, 2, 3))
    assert metrics["R@1"] == pytest.approx(1 / 3) and metrics["R@2"] == pytest.approx(2 / 3)
    assert metrics["R@3"] == 1.0 and metrics["median_rank"] == 1.5
    assert metrics["mean_rank"] == pytest.approx(5 / 3)
    # Identical embeddings: every query ties with all n candidates -> rank (n + 1) / 2, R@1 = 0.
    same = retrieval_metrics(np.ones((10, 4)), np.ones((10, 4)))
    assert same["image_to_text_R@1"] == 0.0 and same["text_to_image_R@5"] == 0.0
    assert same["image_to_text_median_rank"] == 5.5 and same["text_to_image_mean_rank"] == 5.5
    with pytest.raises(ValueError, match="square"):
        query_ranks(np.ones((2, 3)))


def test_errors():
    model = small_clip()
    x, ids = pairs(model)
    bad = ids.copy()
    bad[0, 0] = model.vocabulary_size
    with pytest.raises(ValueError, match="vocabulary_size"):
        model.encode_text(bad)
    with pytest.raises(ValueError, match="context length"):
        model.encode_text(ids[:, :-1])
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="as many images as texts"):
        model.fit((x, ids[:3]), verbose=0)
    with pytest.raises(ValueError, match="vocabulary_size"):
        model.fit((x, bad), verbose=0)
    with pytest.raises(ValueError, match="no targets"):
        model.fit(x, ids, verbose=0)


def test_image_tower_attention_maps_and_separate_saving():
    model = small_clip()
    x, ids = pairs(model, batch=2)
    maps = keras_vt.viz.attention_maps(model.image_encoder, x)
    grid = (model.image_size // 8) ** 2
    assert len(maps) == 2 and maps[0].shape == (2, 2, grid + 1, grid + 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "text.keras")
        model.text_encoder.save(path)
        text = keras.saving.load_model(path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(text(ids)),
        keras.ops.convert_to_numpy(model.encode_text(ids)),
        atol=1e-6,
    )


def test_rn50_attention_pool_maps():
    model = keras_vt.create_model("clip_rn50", tiny=True)
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    (probs,) = keras_vt.viz.attention_maps(model.image_encoder, x)
    assert probs.shape == (2, 2, 1, 5)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="counted once")
def test_rn50_parameter_count():
    # OpenAI's RN50 CLIP: 102,007,137 parameters (38,316,896 image + 63,690,240 text + 1).
    assert keras_vt.count_params(keras_vt.create_model("clip_rn50")) == 102_007_137


def test_end_token_pooling_explicit_id():
    pool = keras_vt.models.clip.EndTokenPooling(eot_token_id=7)
    features = np.arange(2 * 4 * 3, dtype="float32").reshape(2, 4, 3)
    ids = np.array([[1, 7, 9, 0], [1, 2, 3, 7]])
    out = keras.ops.convert_to_numpy(pool([features, ids]))
    np.testing.assert_allclose(out, features[[0, 1], [1, 3]])
    largest = keras.ops.convert_to_numpy(keras_vt.models.clip.EndTokenPooling()([features, ids]))
    np.testing.assert_allclose(largest, features[[0, 1], [2, 3]])


def test_towers_match_hugging_face_clip():
    """Both towers equal Hugging Face's CLIP (eager, small random config) on copied weights."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.CLIPConfig(
        text_config=dict(
            vocab_size=100,
            hidden_size=32,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=16,
            eos_token_id=99,
            bos_token_id=98,
            hidden_act="quick_gelu",
        ),
        vision_config=dict(
            hidden_size=64,
            intermediate_size=256,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
            hidden_act="quick_gelu",
        ),
        projection_dim=24,
        attn_implementation="eager",
    )
    torch.manual_seed(0)
    reference = transformers.CLIPModel(config).eval()
    sd = {k: v.detach().numpy() for k, v in reference.state_dict().items()}
    model = keras_vt.models.CLIP(
        embed_dim=24,
        image_size=32,
        vision_layers=2,
        vision_width=64,
        vision_patch_size=8,
        vision_heads=2,
        context_length=16,
        vocabulary_size=100,
        text_width=32,
        text_heads=2,
        text_layers=2,
    )

    def copy_blocks(prefix, tower):
        for i in range(2):
            block, p = tower.get_layer(f"block{i}"), f"{prefix}.encoder.layers.{i}."
            w = [sd[p + f"self_attn.{n}_proj.weight"].T for n in "qkv"]
            b = [sd[p + f"self_attn.{n}_proj.bias"] for n in "qkv"]
            block.attention.qkv.set_weights([np.concatenate(w, 1), np.concatenate(b)])
            block.attention.proj.set_weights(
                [sd[p + "self_attn.out_proj.weight"].T, sd[p + "self_attn.out_proj.bias"]]
            )
            for ours, theirs in (("norm1", "layer_norm1"), ("norm2", "layer_norm2")):
                getattr(block, ours).set_weights(
                    [sd[p + theirs + ".weight"], sd[p + theirs + ".bias"]]
                )
            for fc in ("fc1", "fc2"):
                getattr(block.mlp, fc).set_weights(
                    [sd[p + f"mlp.{fc}.weight"].T, sd[p + f"mlp.{fc}.bias"]]
                )

    def norm(tower, name, theirs):
        tower.get_layer(name).set_weights([sd[theirs + ".weight"], sd[theirs + ".bias"]])

    vision, text = model.image_encoder, model.text_encoder
    emb = "vision_model.embeddings."
    vision.get_layer("patch_embed").projection.set_weights(
        [sd[emb + "patch_embedding.weight"].transpose(2, 3, 1, 0)]
    )
    vision.get_layer("class_embedding").set_weights([sd[emb + "class_embedding"][None, None]])
    vision.get_layer("pos_embed").set_weights([sd[emb + "position_embedding.weight"][None]])
    norm(vision, "ln_pre", "vision_model.pre_layrnorm")
    norm(vision, "ln_post", "vision_model.post_layernorm")
    vision.get_layer("proj").set_weights([sd["visual_projection.weight"].T])
    copy_blocks("vision_model", vision)
    emb = "text_model.embeddings."
    text.get_layer("token_embedding").set_weights([sd[emb + "token_embedding.weight"]])
    text.get_layer("pos_embed").set_weights([sd[emb + "position_embedding.weight"][None]])
    norm(text, "ln_final", "text_model.final_layer_norm")
    text.get_layer("proj").set_weights([sd["text_projection.weight"].T])
    copy_blocks("text_model", text)

    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    ids = np.zeros((2, 16), "int32")
    ids[0, :6] = [98, 5, 6, 7, 8, 99]
    ids[1, :4] = [98, 40, 41, 99]
    with torch.no_grad():
        image = reference.get_image_features(pixel_values=torch.tensor(x.transpose(0, 3, 1, 2)))
        texts = reference.get_text_features(input_ids=torch.tensor(ids.astype("int64")))
    image = getattr(image, "pooler_output", image).numpy()
    texts = getattr(texts, "pooler_output", texts).numpy()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.encode_image(x)), image, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.encode_text(ids)), texts, atol=1e-5)


@pytest.mark.parametrize(
    "tower, arguments",
    [
        (
            keras_vt.models.clip.CLIPVisionTransformer,
            dict(image_size=16, patch_size=8, depth=1, num_heads=2, embed_dim=8),
        ),
        (
            keras_vt.models.clip.CLIPTextEncoder,
            dict(context_length=4, vocabulary_size=10, depth=1, num_heads=2, embed_dim=8),
        ),
    ],
)
def test_tower_width_is_a_deprecated_name_of_hidden_dim(tower, arguments):
    """`width=` (the name before the redesign) still builds the same tower, with a warning; a
    config saved under `width` loads silently; `width` and `hidden_dim` together are an error."""
    with pytest.warns(DeprecationWarning, match="width=16 is deprecated; pass hidden_dim=16"):
        old = tower(width=16, **arguments)
    new = tower(hidden_dim=16, **arguments)
    assert old.hidden_dim == old.width == 16
    assert [tuple(w.shape) for w in old.weights] == [tuple(w.shape) for w in new.weights]
    config = new.get_config()
    assert "width" not in config and config["hidden_dim"] == 16
    config["width"] = config.pop("hidden_dim")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert tower.from_config(config).hidden_dim == 16
    with pytest.raises(ValueError, match=r"Invalid width: got width=16 \(deprecated\) and hidden"):
        tower(width=16, hidden_dim=32, **arguments)
