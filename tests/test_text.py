"""Tokenizers (TensorFlow-only): round trips, tf.data, graphs, errors. Vocabularies made here."""

import json
import os
import tempfile

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from keras_vt.text import ClipTokenizer, train_caption_tokenizer  # noqa: E402
from keras_vt.text.tokenizers import _byte_chars  # noqa: E402

MERGES = ["p h", "ph o", "pho t", "phot o</w>", "c a", "ca t</w>", "o f</w>"]


def tiny_bpe_files(directory):
    """A byte-level BPE vocabulary laid out like OpenAI's: bytes, bytes + </w>, merges, specials."""
    base = _byte_chars()
    tokens = base + [c + "</w>" for c in base] + [m.replace(" ", "") for m in MERGES]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab_path = os.path.join(directory, "vocab.json")
    merges_path = os.path.join(directory, "merges.txt")
    with open(vocab_path, "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(tokens)}, f)
    with open(merges_path, "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(MERGES) + "\n")
    return vocab_path, merges_path


@pytest.fixture(scope="module")
def bpe():
    with tempfile.TemporaryDirectory() as tmp:
        yield ClipTokenizer(*tiny_bpe_files(tmp), context_length=12)


def test_bpe_layout_and_round_trip(bpe):
    ids = bpe(["a photo of a cat", "A  Cat"]).numpy()
    assert ids.shape == (2, 12) and ids.dtype == np.int32
    assert (ids[:, 0] == bpe.start_token_id).all()
    vocab = bpe.vocabulary
    np.testing.assert_array_equal(
        ids[0, :7],
        [
            bpe.start_token_id,
            vocab["a</w>"],
            vocab["photo</w>"],
            vocab["of</w>"],
            vocab["a</w>"],
            vocab["cat</w>"],
            bpe.end_token_id,
        ],
    )
    assert (ids[0, 7:] == 0).all()
    assert list(bpe.detokenize(ids).numpy()) == [b"a photo of a cat", b"a cat"]
    assert bpe.end_token_id == max(vocab.values())


def test_bpe_unknown_bytes_round_trip(bpe):
    ids = bpe(["zebra 42 é!"])
    text = bpe.detokenize(ids).numpy()[0].decode()
    assert text.replace(" ", "") == "zebra42é!"


def test_bpe_in_tf_data_and_graph(bpe):
    eager = bpe(["a photo", "a cat"]).numpy()
    ds = tf.data.Dataset.from_tensor_slices(["a photo", "a cat"]).batch(2).map(bpe)
    np.testing.assert_array_equal(next(iter(ds)).numpy(), eager)
    graph = tf.function(bpe, input_signature=[tf.TensorSpec([None], tf.string)])
    np.testing.assert_array_equal(graph(tf.constant(["a photo", "a cat"])).numpy(), eager)


def test_errors_too_long_and_empty(bpe):
    with pytest.raises(ValueError, match="longer than the context"):
        bpe(["a photo of a cat and a photo of a cat"])
    with pytest.raises(ValueError, match="empty"):
        bpe(["a cat", "  "])
    graph = tf.function(bpe, input_signature=[tf.TensorSpec([None], tf.string)])
    with pytest.raises(tf.errors.InvalidArgumentError, match="longer than the context"):
        graph(tf.constant(["a photo of a cat and a photo of a cat"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty"):
        graph(tf.constant([""]))


def test_truncate_keeps_the_end_token(bpe):
    with tempfile.TemporaryDirectory() as tmp:
        cut = ClipTokenizer(*tiny_bpe_files(tmp), context_length=6, truncate=True)
    ids = cut(["a photo of a cat and a dog"]).numpy()[0]
    assert ids[0] == cut.start_token_id and ids[-1] == cut.end_token_id
    np.testing.assert_array_equal(ids[1:5], bpe(["a photo of a"]).numpy()[0, 1:5])


def test_bpe_rejects_a_vocabulary_without_specials():
    with pytest.raises(ValueError, match="startoftext"):
        ClipTokenizer({"a": 0}, [])


def test_caption_tokenizer_trained_round_trip():
    captions = ["a red circle at the top", "two small blue squares on the left"] * 20
    tokenizer = train_caption_tokenizer(captions, vocabulary_size=80, context_length=10)
    vocab = tokenizer.get_vocabulary()
    assert vocab[:2] == ["[PAD]", "[UNK]"] and vocab[-2:] == ["[START]", "[END]"]
    assert tokenizer.vocabulary_size <= 80
    ids = tokenizer(["a red square", "Two blue circles"]).numpy()
    assert ids.shape == (2, 10) and ids.max() == tokenizer.end_token_id
    assert list(tokenizer.detokenize(ids).numpy()) == [b"a red square", b"two blue circles"]
    ds = tf.data.Dataset.from_tensor_slices(["a red square"]).batch(1).map(tokenizer)
    np.testing.assert_array_equal(next(iter(ds)).numpy(), ids[:1])
    with pytest.raises(ValueError, match="longer than the context"):
        tokenizer(["a red circle and a blue circle and a red square"])
    with pytest.raises(ValueError, match="empty"):
        tokenizer([""])
