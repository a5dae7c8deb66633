"""Show-Attend-Tell: soft and hard attention, decoding, per-word maps, bad input (any backend)."""

import keras
import numpy as np
import pytest

import keras_vt
from keras_vt.data import make_captioned_shapes
from keras_vt.models.captioner import SHAPES_VOCABULARY


def np_(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.fixture(scope="module")
def data():
    shapes = make_captioned_shapes(6, image_size=32, seed=3)
    images = (shapes["images"].astype("float32") / 127.5) - 1.0
    return images, shapes["captions"]


@pytest.fixture(scope="module")
def soft():
    return keras_vt.create_model("show_attend_tell", tiny=True)


@pytest.fixture(scope="module")
def hard():
    return keras_vt.create_model("show_attend_tell", tiny=True, attention="hard", seed=0)


def test_vocabulary_covers_the_shapes_captions():
    captions = make_captioned_shapes(400, image_size=16, seed=1)["captions"]
    words = {w for c in captions for w in c.lower().split()}
    assert words <= set(SHAPES_VOCABULARY), words - set(SHAPES_VOCABULARY)


def test_tokenize_round_trip(soft, data):
    ids = soft.tokenize(data[1])
    assert ids.shape == (6, soft.context_length) and (ids[:, 0] == soft.start_id).all()
    assert soft.detokenize(ids) == [c.lower() for c in data[1]]


@pytest.mark.parametrize("attention", ["soft", "hard"])
def test_gradients_reach_every_weight(attention, soft, hard, data):
    model = soft if attention == "soft" else hard
    images, captions = data
    ids = model.tokenize(captions)
    before = [np_(w).copy() for w in model.trainable_weights]
    baseline = float(np_(model.decoder.reward_baseline))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit((images, ids), batch_size=6, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    frozen = [
        w.path for w, old in zip(model.trainable_weights, before) if np.array_equal(np_(w), old)
    ]
    assert not frozen, f"no gradient reached {frozen}"
    moved = float(np_(model.decoder.reward_baseline)) != baseline
    assert moved == (attention == "hard")  # the moving-average baseline is hard attention's


def test_hard_attention_at_inference_reads_the_argmax_location(hard, data):
    decoder = hard.decoder
    features = hard.encoder_model(data[0], training=False)
    flat, state = decoder.start(features)
    tokens = np.full((6,), hard.start_id, "int32")
    out = decoder.step(flat, tokens, state, training=False)
    alpha, flat = np_(out["alpha"]), np_(flat)
    argmax = alpha.argmax(-1)
    gate = np_(decoder.gate(state[0]))
    expected = flat[np.arange(6), argmax] * gate
    np.testing.assert_allclose(np_(out["context"]), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np_(out["sample"]).argmax(-1), argmax)


def test_soft_attention_reads_the_expectation(soft, data):
    decoder = soft.decoder
    features = soft.encoder_model(data[0], training=False)
    flat, state = decoder.start(features)
    out = decoder.step(flat, np.full((6,), soft.start_id, "int32"), state, training=False)
    expected = np.einsum("bl,bld->bd", np_(out["alpha"]), np_(flat)) * np_(decoder.gate(state[0]))
    np.testing.assert_allclose(np_(out["context"]), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("attention", ["soft", "hard"])
def test_beam_width_one_equals_greedy(attention, soft, hard, data):
    model = soft if attention == "soft" else hard
    images = data[0][:3]
    greedy, greedy_maps = model.generate(images, max_length=6, return_attention=True)
    features = model.encoder_model(images, training=False)
    beam, beam_maps = model._beam_search(features, 6, 1)
    np.testing.assert_array_equal(greedy, beam)
    np.testing.assert_allclose(greedy_maps, beam_maps, atol=1e-6)
    # The model's own (in-graph) greedy caption is the same one.
    in_graph = np_(model.predict_on_batch(images)[0])[:, :6]
    np.testing.assert_array_equal(greedy, in_graph)


def test_beam_search_is_at_least_as_likely_as_greedy(soft, data):
    images = data[0][:3]
    greedy = soft.generate(images, max_length=soft.context_length - 1)
    beam = soft.generate(images, max_length=soft.context_length - 1, beam_width=3)

    def log_likelihood(words):
        ids = np.zeros((len(words), soft.context_length), "int32")
        ids[:, 0] = soft.start_id
        ids[:, 1:] = words
        return np_(soft.score(images, ids)).sum(-1)

    assert (log_likelihood(beam) >= log_likelihood(greedy) - 1e-4).all()


def test_attention_maps_per_word(soft, data):
    images = data[0][:2]
    maps = keras_vt.viz.attention_maps(soft, images)
    assert len(maps) == 1
    words = soft.context_length - 1
    assert maps[0].shape == (2, 1, words, 8 * 8)
    np.testing.assert_allclose(maps[0].sum(-1), 1.0, atol=1e-5)
    _, alphas = soft.generate(images, return_attention=True)
    np.testing.assert_allclose(maps[0], alphas, atol=1e-5)


def test_bad_input(soft):
    vocabulary = ["<pad>", "<start>", "a", "red", "circle"]
    with pytest.raises(ValueError, match=r"vocabulary.*'<end>'.*Expected"):
        keras_vt.create_model("show_attend_tell", tiny=True, vocabulary=vocabulary)
    images = np.zeros((1, soft.image_size, soft.image_size, 3), "float32")
    for bad in (0, -2):
        with pytest.raises(ValueError, match=rf"max_length={bad}\. Expected an int >= 1"):
            soft.generate(images, max_length=bad)
    with pytest.raises(ValueError, match="beam_width"):
        soft.generate(images, beam_width=0)
    with pytest.raises(ValueError, match="attention='glance'"):
        keras_vt.create_model("show_attend_tell", tiny=True, attention="glance")
    with pytest.raises(ValueError, match="Invalid images"):
        soft.generate(np.zeros((1, 8, 8, 3), "float32"))
