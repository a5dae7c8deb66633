"""BERT WordPiece tokenizer (TensorFlow-only): parity with transformers, tf.data under every
backend, graphs, errors. The vocabulary is generated here (nothing is downloaded)."""

import json

import keras
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

import keras_vt  # noqa: E402
from keras_vt.text import BertTokenizer, read_vocabulary  # noqa: E402

WORDS = (
    "a the red blue green star ring square circle move left right then appear beep twice "
    "once fast slow , . ! - un ##s ##ing ##ed ##ly ##known ##e ##a ##r ##t 1 2 3 ##4 cafe"
).split()
VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
CAPTIONS = [
    "a red star moves left, then a blue ring appears, beeping twice",
    "A Red STAR!",
    "the café is unknown",  # accents stripped with lower-casing; "unknown" -> un ##known
    "zebra quickly",  # out-of-vocabulary words -> [UNK]
    "1234 slowly moved-right.",
    "  green   square\tappears  ",
]
CONTEXT = 24


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    """A BERT tokenizer directory as Hugging Face writes it: vocab.txt + tokenizer_config.json."""
    path = tmp_path_factory.mktemp("bert_vocab")
    (path / "vocab.txt").write_text("\n".join(VOCABULARY) + "\n", encoding="utf-8")
    (path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    return path


@pytest.fixture(scope="module")
def tokenizer(bert_dir):
    return BertTokenizer(str(bert_dir), context_length=CONTEXT)


@pytest.mark.single_backend
def test_ids_equal_transformers(bert_dir, tokenizer):
    transformers = pytest.importorskip("transformers")
    reference = transformers.BertTokenizer.from_pretrained(str(bert_dir))
    expected = reference(CAPTIONS, padding="max_length", max_length=CONTEXT)["input_ids"]
    ids = tokenizer(CAPTIONS).numpy()
    assert ids.dtype == np.int32 and ids.shape == (len(CAPTIONS), CONTEXT)
    np.testing.assert_array_equal(ids, np.array(expected))
    # The test can fail: it sees pieces, unknown words and punctuation.
    assert (ids == tokenizer.unknown_token_id).any()
    assert VOCABULARY.index("##known") in ids and VOCABULARY.index(",") in ids


@pytest.mark.single_backend
def test_layout_vocabulary_sources_and_round_trip(bert_dir, tokenizer):
    ids = tokenizer(["A red star moves"]).numpy()[0]
    index = {t: i for i, t in enumerate(VOCABULARY)}
    expected = [index[t] for t in ("[CLS]", "a", "red", "star", "move", "##s", "[SEP]")]
    np.testing.assert_array_equal(ids[:7], expected)
    assert (ids[7:] == 0).all()
    from_list = BertTokenizer(VOCABULARY, context_length=CONTEXT)
    from_file = BertTokenizer(str(bert_dir / "vocab.txt"), context_length=CONTEXT)
    for other in (from_list, from_file):
        np.testing.assert_array_equal(other(CAPTIONS).numpy(), tokenizer(CAPTIONS).numpy())
    assert read_vocabulary(str(bert_dir)) == (VOCABULARY, True)
    text = tokenizer.detokenize(tokenizer(["a red star moves left"])).numpy()[0].decode()
    assert text == "a red star moves left"
    inputs = tokenizer.bert_inputs(["a star", "a red star moves"])
    np.testing.assert_array_equal(inputs["padding_mask"].numpy().sum(1), [4, 7])
    assert not inputs["segment_ids"].numpy().any()
    clone = BertTokenizer.from_config(tokenizer.get_config())
    np.testing.assert_array_equal(clone(CAPTIONS).numpy(), tokenizer(CAPTIONS).numpy())


@pytest.mark.single_backend
def test_lowercase_follows_the_directory(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(VOCABULARY) + "\nRed\n", encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    cased = BertTokenizer(str(tmp_path), context_length=8)
    assert not cased.lowercase and not cased.strip_accents
    ids = cased(["Red red RED"]).numpy()[0]
    np.testing.assert_array_equal(
        ids[1:4], [len(VOCABULARY), VOCABULARY.index("red"), cased.unknown_token_id]
    )
    assert BertTokenizer(str(tmp_path), context_length=8, lowercase=True).lowercase


def test_in_tf_data_feeding_a_bert_encoder(tokenizer):
    """Under every backend: tokenised in tf.data, fed to a BertEncoder through predict."""
    eager = tokenizer(CAPTIONS).numpy()
    ds = tf.data.Dataset.from_tensor_slices(CAPTIONS).batch(3).map(tokenizer)
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in ds]), eager)
    encoder = keras_vt.models.BertEncoder(
        vocabulary_size=tokenizer.vocabulary_size,
        hidden_dim=8,
        depth=1,
        num_heads=2,
        mlp_dim=16,
        max_length=CONTEXT,
    )
    features = tf.data.Dataset.from_tensor_slices(CAPTIONS).batch(3).map(tokenizer.bert_inputs)
    pooled = encoder.predict(features, verbose=0)["pooled_output"]
    direct = encoder(
        {
            "token_ids": eager,
            "segment_ids": np.zeros_like(eager),
            "padding_mask": eager != 0,
        }
    )["pooled_output"]
    np.testing.assert_allclose(pooled, keras.ops.convert_to_numpy(direct), atol=1e-5)


@pytest.mark.single_backend
def test_too_long_raises_unless_truncate(tokenizer):
    long = "a red star moves left then a blue ring appears beeping twice then fast " * 2
    with pytest.raises(ValueError, match="longer than the context.*truncate=True"):
        tokenizer([long])
    graph = tf.function(tokenizer, input_signature=[tf.TensorSpec([None], tf.string)])
    with pytest.raises(tf.errors.InvalidArgumentError, match="longer than the context"):
        graph(tf.constant([long]))
    with pytest.raises(ValueError, match="empty"):
        tokenizer(["a star", " "])
    cut = BertTokenizer(VOCABULARY, context_length=CONTEXT, truncate=True)
    ids = cut([long]).numpy()[0]
    assert ids[0] == cut.start_token_id and ids[-1] == cut.end_token_id
    whole = BertTokenizer(VOCABULARY, context_length=64)([long]).numpy()[0]
    np.testing.assert_array_equal(ids[1:-1], whole[1 : CONTEXT - 1])
    assert whole[CONTEXT - 1] not in (0, cut.end_token_id)  # something was cut


@pytest.mark.single_backend
@pytest.mark.parametrize(
    "vocabulary, match",
    [
        (["[PAD]", "[UNK]", "[CLS]", "a"], r"no \['\[SEP\]'\]"),
        (
            ["[UNK]", "[PAD]", "[CLS]", "[SEP]"],
            r"Invalid vocabulary\[0\]: vocabulary\[0\]='\[UNK\]'. Expected '\[PAD\]' at id 0",
        ),
        (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "a"], "repeated tokens"),
        ("/nonexistent/vocab.txt", "No vocabulary file"),
        (42, "vocabulary=42 of type int"),
    ],
)
def test_bad_vocabulary(vocabulary, match):
    with pytest.raises(ValueError, match=match):
        BertTokenizer(vocabulary)


@pytest.mark.single_backend
def test_bad_arguments():
    with pytest.raises(ValueError, match="context_length"):
        BertTokenizer(VOCABULARY, context_length=2)
    with pytest.raises(ValueError, match="lowercase='yes'"):
        BertTokenizer(VOCABULARY, lowercase="yes")
