"""MMT: built-in video-caption data, the model's parts, missing experts, bad input, metrics.

The shared base (tests/test_models.py, `MMTCase`) covers shapes, config and .keras round trips,
the dtype policy, fused == explicit attention and a fit step lowering the loss for `mmt_tiny`.
"""

import math

import keras
import numpy as np
import pytest

import keras_vt
from keras_vt.data import video_captions
from keras_vt.models.mmt import masked_max_pool, mixture_similarity


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.fixture(scope="module")
def model():
    return keras_vt.create_model("mmt_tiny", dropout=0.0)


@pytest.fixture(scope="module")
def data(model):
    inputs, captions = keras_vt.data.make_video_captions(8, seed=1)
    ids = keras_vt.data.VideoCaptionTokenizer(model.context_length)(captions)
    return inputs, ids


def copy(inputs):
    return {k: np.array(v) for k, v in inputs.items()}


# -- data ------------------------------------------------------------------------------------


def test_data_shapes_determinism_and_missing_experts():
    inputs, captions = keras_vt.data.make_video_captions(200, seed=3)
    again, captions_again = keras_vt.data.make_video_captions(200, seed=3)
    other, _ = keras_vt.data.make_video_captions(200, seed=4)
    assert captions == captions_again and len(captions) == 200
    for name, width in video_captions.EXPERTS.items():
        tokens = video_captions.EXPERT_TOKENS[name]
        assert inputs[name].shape == (200, tokens, width) and inputs[name].dtype == np.float32
        assert inputs[f"{name}_mask"].shape == (200, tokens)
        assert inputs[f"{name}_mask"].dtype == bool
        times = inputs[f"{name}_times"][inputs[f"{name}_mask"]]
        assert times.min() >= 0.0 and times.max() <= video_captions.DURATION
        np.testing.assert_array_equal(inputs[name], again[name])
        assert not np.array_equal(inputs[name], other[name])
    present = np.stack([inputs[f"{e}_mask"].any(1) for e in video_captions.EXPERTS], 1)
    assert present.all(axis=1).mean() < 0.9  # some clips miss some experts
    assert present.any(axis=1).all()  # none misses every expert
    # experts run at different rates: their time stamps differ
    assert inputs["audio_times"][0, 1] - inputs["audio_times"][0, 0] == pytest.approx(0.25)
    assert inputs["motion_times"][0, 1] - inputs["motion_times"][0, 0] == pytest.approx(1.0)
    # captions mention what the OCR expert reads
    has_number = np.array(["the number" in c for c in captions])
    assert not (inputs["ocr_mask"].any(1) & ~has_number).any()


def test_frames_and_tokenizer():
    inputs, captions, frames = keras_vt.data.make_video_captions(3, seed=0, return_frames=True)
    assert frames.shape == (3, 12, 32, 32, 3) and frames.dtype == np.uint8
    assert frames.std() > 0
    tokenizer = keras_vt.data.VideoCaptionTokenizer(24)
    ids = tokenizer(keras_vt.data.make_video_captions(500, seed=0)[1])
    assert ids.shape == (500, 24) and (ids[:, 0] == 2).all()
    assert ids.max() < tokenizer.vocabulary_size and not (ids == 1).any()  # no unknown words
    assert tokenizer.detokenize(tokenizer(captions)) == captions
    with pytest.raises(ValueError, match="context_length=5"):
        keras_vt.data.VideoCaptionTokenizer(5)(captions[:1])
    assert keras_vt.data.VideoCaptionTokenizer(5)(captions[:1], truncate=True)[0, -1] == 3
    with pytest.raises(ValueError, match="non-empty"):
        tokenizer([""])


def test_tiny_configuration_matches_built_in_data(model):
    assert model.experts == video_captions.EXPERTS
    assert model.vocabulary_size == keras_vt.data.VideoCaptionTokenizer().vocabulary_size
    assert model.context_length == 24


# -- parts -----------------------------------------------------------------------------------


def test_masked_max_pool_ignores_padding():
    x = np.array([[[1.0, -5.0], [9.0, 9.0], [2.0, -1.0]], [[7.0, 7.0], [8.0, 8.0], [0.0, 0.0]]])
    mask = np.array([[True, False, True], [False, False, False]])
    want = np.array([[2.0, -1.0], [0.0, 0.0]])
    np.testing.assert_array_equal(masked_max_pool(x, mask), want)
    got = masked_max_pool(keras.ops.convert_to_tensor(x, "float32"), keras.ops.array(mask))
    np.testing.assert_array_equal(to_numpy(got), want)


def test_mixture_similarity_renormalise_and_keep():
    e0, e1 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    text = np.stack([e0, e1])[None]  # (1 caption, 2 experts, 2)
    weights = np.array([[0.25, 0.75]])
    video = np.stack([np.stack([e0, e1]), np.stack([e0, -e1])])  # clip 1 disagrees on expert 1
    available = np.array([[1.0, 1.0], [1.0, 0.0]])  # ... and misses it
    keep = to_numpy(mixture_similarity(text, weights, video))
    renormalised = to_numpy(mixture_similarity(text, weights, video, available))
    np.testing.assert_allclose(keep, [[1.0, -0.5]], atol=1e-6)
    np.testing.assert_allclose(renormalised, [[1.0, 1.0]], atol=1e-6)


def test_outputs_shapes_and_weights(model, data):
    inputs, ids = data
    video = to_numpy(model.encode_video(inputs))
    embeddings, weights = model.encode_text(ids[:5])
    assert video.shape == (8, 4, 32) and tuple(embeddings.shape) == (5, 4, 32)
    np.testing.assert_allclose(np.linalg.norm(video, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(to_numpy(weights).sum(-1), 1.0, atol=1e-5)
    assert tuple(model.similarity(inputs, ids[:5]).shape) == (5, 8)


def test_all_equal_similarity_gives_the_margin(model):
    unit = np.full((6, 4, 32), 1 / math.sqrt(32), "float32")
    y_pred = {
        "video_embeddings": unit,
        "text_embeddings": unit,
        "text_weights": np.full((6, 4), 0.25, "float32"),
        "available": np.ones((6, 4), "float32"),
    }
    loss = float(to_numpy(model.compute_loss(y_pred=y_pred)))
    assert abs(loss - 0.05) < 1e-7


def test_masked_expert_leaves_other_experts_unchanged(model, data):
    inputs, _ = data
    missing = copy(inputs)
    missing["ocr_mask"][:] = False
    base = to_numpy(model.encode_video(missing))
    noisy = copy(missing)
    rng = np.random.default_rng(0)
    noisy["ocr"] = rng.normal(0, 10, noisy["ocr"].shape).astype("float32")
    noisy["ocr_times"] = rng.uniform(0, 6, noisy["ocr_times"].shape).astype("float32")
    np.testing.assert_allclose(to_numpy(model.encode_video(noisy)), base, atol=1e-5)
    shorter = copy(missing)  # fewer (masked) OCR tokens: the same sequence once masked
    for key in ("ocr", "ocr_mask", "ocr_times"):
        shorter[key] = shorter[key][:, :1]
    np.testing.assert_allclose(to_numpy(model.encode_video(shorter)), base, atol=1e-5)
    # and the mask matters: with the OCR tokens valid, the other experts' outputs move
    valid = copy(noisy)
    valid["ocr_mask"][:] = True
    assert np.abs(to_numpy(model.encode_video(valid))[:, :3] - base[:, :3]).max() > 1e-3


def test_padded_features_change_nothing(model, data):
    inputs, ids = data
    padded = copy(inputs)
    for name in model.experts:
        mask = padded[f"{name}_mask"]
        padded[name][~mask] = 100.0
    np.testing.assert_allclose(
        to_numpy(model.similarity(padded, ids)), to_numpy(model.similarity(inputs, ids)), atol=1e-5
    )


def test_missing_experts_options(model, data):
    inputs, ids = data
    keep = keras_vt.models.MMT.from_config({**model.get_config(), "missing_experts": "keep"})
    keep.set_weights(model.get_weights())
    assert keep.get_config()["missing_experts"] == "keep"
    full = copy(inputs)
    for name in model.experts:
        full[f"{name}_mask"][:, 0] = True
    np.testing.assert_allclose(
        to_numpy(keep.similarity(full, ids)), to_numpy(model.similarity(full, ids)), atol=1e-6
    )
    one_missing = copy(full)
    one_missing["audio_mask"][3] = False
    a = to_numpy(keep.similarity(one_missing, ids))
    b = to_numpy(model.similarity(one_missing, ids))
    others = [i for i in range(8) if i != 3]
    np.testing.assert_allclose(a[:, others], b[:, others], atol=1e-6)
    assert np.abs(a[:, 3] - b[:, 3]).min() > 1e-6


def test_attention_maps_of_the_video_transformer(model, data):
    inputs, ids = data
    maps = keras_vt.viz.attention_maps(model, inputs)
    length = 1 + 4 + sum(video_captions.EXPERT_TOKENS.values())
    assert len(maps) == 2 and maps[0].shape == (8, 2, length, length)
    for m in maps:
        np.testing.assert_allclose(m.sum(-1), 1.0, atol=1e-5)
    padded_keys = ~inputs["ocr_mask"]  # OCR tokens are the last four keys
    assert np.abs(maps[0][:, :, :, -4:].transpose(0, 3, 1, 2)[padded_keys]).max() < 1e-6
    with_captions = keras_vt.viz.attention_maps(model, {**inputs, "caption_ids": ids})
    np.testing.assert_allclose(with_captions[1], maps[1], atol=1e-5)


# -- bad input -------------------------------------------------------------------------------


def test_bad_inputs(model, data):
    inputs, ids = data
    with pytest.raises(ValueError, match="'face'.*not declared"):
        model.encode_video({**inputs, "face": np.zeros((8, 2, 512), "float32")})
    narrow = {**inputs, "motion": inputs["motion"][..., :5]}
    with pytest.raises(ValueError, match=r"motion.*\(8, 6, 5\).*\(clips, tokens, 10\)"):
        model.encode_video(narrow)
    with pytest.raises(ValueError, match="lacks keys.*audio_times"):
        model.encode_video({k: v for k, v in inputs.items() if k != "audio_times"})
    empty = copy(inputs)
    for name in model.experts:
        empty[f"{name}_mask"][2] = False
    with pytest.raises(ValueError, match=r"clips \[2\] miss every expert"):
        model.encode_video(empty)
    with pytest.raises(ValueError, match="more than the model's context_length=24"):
        model.encode_text(np.ones((2, 30), "int32"))
    with pytest.raises(ValueError, match="ids in"):
        model.encode_text(np.full((2, 24), 46, "int32"))
    short = copy(inputs)
    for key in ("motion", "motion_mask", "motion_times"):
        short[key] = short[key][:7]
    with pytest.raises(ValueError, match="same number of clips"):
        model.similarity(short, ids)
    bad_mask = {**inputs, "motion_mask": inputs["motion_mask"][:, :5]}
    with pytest.raises(ValueError, match=r"motion_mask.*got shape \(8, 5\).*Expected .*\(8, 6\)"):
        model.encode_video(bad_mask)
    with pytest.raises(ValueError, match="8 clips and 4 captions"):
        model.fit({**inputs, "caption_ids": ids[:4]})
    with pytest.raises(ValueError, match="caption_ids"):
        model.fit(inputs)
    with pytest.raises(ValueError, match="missing_experts"):
        keras_vt.create_model("mmt_tiny", missing_experts="drop")


# -- metrics ---------------------------------------------------------------------------------


def test_in_batch_ranks_and_recall_with_ties():
    similarity = np.array(
        [
            [2.0, 2.0, 2.0, 0.0],  # match tied with two others: rank 1 + 2 / 2 = 2
            [1.0, 1.0, 0.0, 0.0],  # tied with one: 1.5
            [0.0, 0.0, 3.0, 0.0],  # first: 1
            [5.0, 4.0, 0.0, 1.0],  # two above: 3
        ]
    )
    want = [2.0, 1.5, 1.0, 3.0]
    np.testing.assert_allclose(to_numpy(keras_vt.metrics.in_batch_ranks(similarity)), want)
    np.testing.assert_allclose(keras_vt.training.retrieval.query_ranks(similarity), want)
    recall = keras_vt.metrics.RetrievalRecall(k=1)
    recall.update_state(similarity)
    assert float(recall.result()) == pytest.approx(0.25)
    recall.update_state(np.eye(4))
    assert float(recall.result()) == pytest.approx(5 / 8)
    at2 = keras_vt.metrics.RetrievalRecall(k=2)
    at2.update_state(similarity)
    assert float(at2.result()) == pytest.approx(0.75)
    recall.reset_state()
    recall.update_state(np.ones((5, 5)))  # all tied: rank 3 for everyone, no hit
    assert float(recall.result()) == 0.0
    metrics = keras_vt.training.retrieval.ranking_metrics(similarity, ks=(1, 5))
    assert metrics["R@1"] == 0.25 and metrics["median_rank"] == 1.75


# -- full size -------------------------------------------------------------------------------


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="parameter counts do not depend on the backend; counted once, on TensorFlow",
)
def test_full_size_parameter_count():
    model = keras_vt.create_model("mmt")
    d, f, embed = 512, 3072, 512
    widths = (512, 300, 2048, 1024, 2208, 300, 128)
    reduce = sum(w * d + d for w in widths)
    embeddings = (19 + 32) * d + 2 * d  # token types, temporal bins, LayerNorm
    block = 4 * (d * d + d) + (d * f + f) + (f * d + d) + 4 * d
    heads = 7 * ((768 * embed + embed) + (embed * embed + embed) + 2 * embed) + 768 * 7 + 7
    bert_base_cased = 108_310_272  # Hugging Face BertModel, pooler included
    want = reduce + embeddings + 4 * block + heads + bert_base_cased
    got = sum(math.prod(w.shape) for w in model.trainable_weights)
    assert got == want == 133_094_407
