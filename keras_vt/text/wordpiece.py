"""BERT's WordPiece tokenizer from a given vocabulary: texts -> [CLS] pieces [SEP] [PAD]...

TensorFlow-only: built on keras-hub's `WordPieceTokenizer` over tensorflow-text, always on its
TensorFlow path, so the same ops run eagerly, in `tf.data` pipelines (under any Keras backend) and
inside exported graphs. For a vocabulary learned from your own captions see
`keras_vt.text.train_caption_tokenizer`; this one reads an existing BERT vocabulary (the
`vocab.txt` of a Hugging Face BERT directory, or a list).
"""

import json
import os

import tensorflow as tf

from keras_vt import checks
from keras_vt.text.tokenizers import PAD_ID, _WordPieceTokenizer

BERT_SPECIAL = {"pad": "[PAD]", "unknown": "[UNK]", "start": "[CLS]", "end": "[SEP]"}


def read_vocabulary(source):
    """(tokens in id order, the directory's `do_lower_case` or None) of a vocabulary source.

    `source` is a list of tokens, a `vocab.txt` path (one token per line, line i = id i), or a
    directory holding `vocab.txt` (a Hugging Face BERT checkpoint directory; its
    `tokenizer_config.json`, when present, gives `do_lower_case`).

    Example:

    >>> keras_vt.text.read_vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])
    (['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'a'], None)
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        lower = None
        if os.path.isdir(path):
            config = os.path.join(path, "tokenizer_config.json")
            if os.path.isfile(config):
                with open(config, encoding="utf-8") as f:
                    lower = json.load(f).get("do_lower_case")
            path = os.path.join(path, "vocab.txt")
        if not os.path.isfile(path):
            raise ValueError(
                f"No vocabulary file at vocabulary={os.fspath(source)!r}: expected a vocab.txt "
                "(one token per line) or a directory holding one (a Hugging Face BERT directory)."
            )
        with open(path, encoding="utf-8") as f:
            tokens = [line.rstrip("\r\n") for line in f]
        while tokens and tokens[-1] == "":
            tokens.pop()  # a trailing newline is not a token
        return tokens, lower
    if isinstance(source, (list, tuple)):
        return [str(t) for t in source], None
    raise checks.invalid(
        "vocabulary",
        None,
        "vocabulary as a list of tokens, a vocab.txt path or a directory",
        problem=f"got vocabulary={source!r} of type {type(source).__name__}",
    )


class BertTokenizer(_WordPieceTokenizer):
    """BERT's WordPiece tokenizer: texts -> int32 (batch, context_length) `[CLS] ... [SEP]` ids.

    TensorFlow-only (keras-hub's `WordPieceTokenizer` over tensorflow-text, TensorFlow path): use
    it eagerly, in `tf.data.Dataset.map` under any Keras backend, or inside exported graphs.
    Like Hugging Face's `BertTokenizer`: optional lower-casing and accent stripping, split on
    whitespace, punctuation and CJK characters, greedy longest-match WordPiece with "##"
    continuations, unknown words -> "[UNK]". Rows are `[CLS] pieces [SEP]`, padded with "[PAD]"
    (id 0) to `context_length`. Lower-casing is Unicode case folding (tensorflow-text), which
    differs from Python's `str.lower` only on a few characters (e.g. "ß" -> "ss").

    Args:
        vocabulary: a list of tokens in id order, a `vocab.txt` path, or a directory holding
            `vocab.txt` (a Hugging Face BERT directory). It must hold "[PAD]" (at id 0),
            "[UNK]", "[CLS]" and "[SEP]".
        context_length: length of every row, [CLS] and [SEP] included.
        lowercase: lower-case the text (uncased BERT vocabularies). None: the directory's
            `tokenizer_config.json` `do_lower_case` when there is one, else True.
        strip_accents: remove accents; None: same as `lowercase` (as Hugging Face).
        truncate: False (default): a text whose pieces do not fit raises a `ValueError` eagerly
            (an `InvalidArgumentError` with the same message in a graph); nothing is silently
            cut. True: the pieces are cut and the row still ends with [SEP].

    Example:

    >>> tokenizer = keras_vt.text.BertTokenizer(
    ...     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "red", "star", "move", "##s"],
    ...     context_length=8)
    >>> tokenizer(["A red star moves"]).numpy()
    array([[2, 4, 5, 6, 7, 8, 3, 0]], dtype=int32)
    >>> sorted(tokenizer.bert_inputs(["a star"]))
    ['padding_mask', 'segment_ids', 'token_ids']
    """

    def __init__(
        self, vocabulary, context_length=32, lowercase=None, strip_accents=None, truncate=False
    ):
        super().__init__(context_length, truncate)
        from keras_hub.tokenizers import WordPieceTokenizer

        tokens, directory_lower = read_vocabulary(vocabulary)
        if lowercase is None:
            lowercase = True if directory_lower is None else bool(directory_lower)
        if strip_accents is None:
            strip_accents = lowercase
        for name, value in (("lowercase", lowercase), ("strip_accents", strip_accents)):
            if not isinstance(value, bool):
                raise checks.invalid(name, value, "a bool or None")
        _check_vocabulary(tokens)
        self.vocabulary = tokens
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.tokenizer = WordPieceTokenizer(
            vocabulary=tokens,
            lowercase=lowercase,
            strip_accents=strip_accents,
            oov_token=BERT_SPECIAL["unknown"],
            _allow_python_workflow=False,
        )
        index = {t: i for i, t in enumerate(tokens)}
        self.start_token_id = index[BERT_SPECIAL["start"]]
        self.end_token_id = index[BERT_SPECIAL["end"]]
        self.unknown_token_id = index[BERT_SPECIAL["unknown"]]
        self.pad_token_id = PAD_ID

    def bert_inputs(self, texts):
        """keras-hub / `BertEncoder` inputs of `texts`: `{"token_ids", "segment_ids",
        "padding_mask"}`, int32, int32 (all 0: one segment) and bool, each (batch, context)."""
        ids = self(texts)
        return {
            "token_ids": ids,
            "segment_ids": tf.zeros_like(ids),
            "padding_mask": tf.not_equal(ids, self.pad_token_id),
        }

    def get_config(self):
        return {
            "vocabulary": self.vocabulary,
            "context_length": self.context_length,
            "lowercase": self.lowercase,
            "strip_accents": self.strip_accents,
            "truncate": self.truncate,
        }


def _check_vocabulary(tokens):
    if not tokens:
        raise checks.invalid("vocabulary", [], "a non-empty vocabulary")
    missing = [t for t in BERT_SPECIAL.values() if t not in tokens]
    if missing:
        raise ValueError(
            f"The vocabulary has no {missing} token(s): expected a BERT vocabulary holding "
            f"{list(BERT_SPECIAL.values())}, got {len(tokens)} tokens starting {tokens[:5]}."
        )
    if tokens[PAD_ID] != BERT_SPECIAL["pad"]:
        raise checks.invalid(
            f"vocabulary[{PAD_ID}]",
            tokens[PAD_ID],
            f"'[PAD]' at id {PAD_ID} of the vocabulary (as every BERT vocabulary)",
        )
    empty = [i for i, t in enumerate(tokens) if not t.strip()]
    if empty:
        raise ValueError(f"Expected non-empty tokens, got empty ones at ids {empty[:10]}.")
    seen, repeated = set(), []
    for token in tokens:
        if token in seen:
            repeated.append(token)
        seen.add(token)
    if repeated:
        raise ValueError(f"Expected distinct tokens, got repeated tokens {repeated[:10]}.")
