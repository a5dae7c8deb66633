"""Byte-level BPE (OpenAI CLIP vocabulary) and WordPiece (trained on your captions) tokenizers.

TensorFlow-only: both are built on keras-hub's tokenizers over tensorflow-text and always take
the TensorFlow path, so the same ops run eagerly, in `tf.data` and in exported graphs.
"""

import json

import tensorflow as tf

from keras_vt import checks

PAD_ID = 0


class _PackedTokenizer:
    """Texts -> int32 (batch, context_length): [start] tokens [end] [pad]...

    Args:
        context_length: length of every output row, start and end tokens included.
        truncate: False (default): a text whose tokens do not fit raises an error. True: the
            tokens are cut to fit and the row still ends with the end token (as OpenAI's
            `clip.tokenize(truncate=True)`).

    Errors: empty (or all-whitespace) strings and, unless `truncate`, texts longer than the
    context raise a `ValueError` when called eagerly, and fail the graph with an
    `InvalidArgumentError` with the same message inside `tf.data` or an exported graph.
    """

    def __init__(self, context_length, truncate=False):
        if int(context_length) < 3:
            raise checks.invalid("context_length", context_length, "context_length >= 3")
        if not isinstance(truncate, bool):
            raise checks.invalid("truncate", truncate, "a bool")
        self.context_length = int(context_length)
        self.truncate = truncate

    def _tokenize(self, texts):
        raise NotImplementedError

    def _content_ids(self, ids):
        """`ids` as a ragged tensor without the start, end and padding tokens."""
        ids = tf.convert_to_tensor(ids)
        return tf.ragged.boolean_mask(
            ids, _keep(ids, (PAD_ID, self.start_token_id, self.end_token_id))
        )

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def vocabulary_size(self):
        raise NotImplementedError

    def __call__(self, texts):
        """Token ids of a string or a batch of strings (list, numpy array or string tensor)."""
        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        if texts.shape.rank not in (0, 1):
            raise checks.invalid_shape(
                "texts", texts.shape, "texts as a string or a 1-D batch of strings"
            )
        scalar = texts.shape.rank == 0
        batch = tf.reshape(texts, (-1,))
        self._check_empty(batch)
        tokens = self._tokenize(batch)
        if isinstance(tokens, list):  # keras-hub returns Python lists of ids when eager
            tokens = tf.ragged.constant(tokens, dtype=tf.int32, ragged_rank=1)
        elif not isinstance(tokens, tf.RaggedTensor):
            tokens = tf.RaggedTensor.from_tensor(tf.convert_to_tensor(tokens))
        tokens = tf.cast(tokens, tf.int32)
        room = self.context_length - 2
        if self.truncate:
            tokens = tokens[:, :room]
        else:
            self._check_length(batch, tokens.row_lengths(), room)
        rows = tf.shape(tokens.row_lengths())[0]
        start = tf.fill((rows, 1), tf.constant(self.start_token_id, tf.int32))
        end = tf.fill((rows, 1), tf.constant(self.end_token_id, tf.int32))
        packed = tf.concat([start, tokens, end], axis=1)
        ids = packed.to_tensor(default_value=PAD_ID, shape=(None, self.context_length))
        return ids[0] if scalar else ids

    def _check_empty(self, texts):
        empty = tf.equal(tf.strings.length(tf.strings.strip(texts)), 0)
        message = "Expected non-empty texts, got an empty (or all-whitespace) string"
        if tf.executing_eagerly():
            index = tf.where(empty)[:, 0].numpy().tolist()
            if index:
                raise ValueError(f"{message} at batch index {index}.")
        else:
            tf.debugging.assert_equal(tf.reduce_any(empty), False, message=message)

    def _check_length(self, texts, lengths, room):
        message = (
            f"Text longer than the context: a text needs more than {room} tokens "
            f"(context_length={self.context_length} with start and end tokens). Shorten it, "
            "raise context_length, or pass truncate=True"
        )
        if tf.executing_eagerly():
            long = tf.where(lengths > room)[:, 0].numpy().tolist()
            if long:
                i = long[0]
                raise ValueError(
                    f"{message}: texts[{i}]={texts[i].numpy().decode()!r} has "
                    f"{int(lengths[i])} tokens (rows {long})."
                )
        else:
            tf.debugging.assert_less_equal(
                tf.cast(lengths, tf.int32), tf.constant(room, tf.int32), message=message
            )


class ClipTokenizer(_PackedTokenizer):
    """OpenAI CLIP's byte-level BPE tokenizer, from vocabulary and merges files you supply.

    TensorFlow-only (keras-hub's `CLIPTokenizer` over tensorflow-text, TensorFlow path): use it
    eagerly, in `tf.data.Dataset.map` under any Keras backend, or inside exported graphs. Text is
    lower-cased and whitespace-normalised as in OpenAI's `SimpleTokenizer`; each row is
    `<|startoftext|> tokens <|endoftext|>` padded with 0 to `context_length`, as `clip.tokenize`.

    Args:
        vocabulary: path of a `vocab.json` file (token -> id), or that dict. It must hold
            "<|startoftext|>" and "<|endoftext|>".
        merges: path of a `merges.txt` file (one "a b" merge per line, an optional "#version"
            header), or a list of merges.
        context_length: output length (77 for OpenAI's models).
        truncate: see the class docstring of the base: False raises on texts that do not fit.

    Example:

    ```python
    tokenizer = keras_vt.text.ClipTokenizer("vocab.json", "merges.txt")
    tokenizer(["a photo of a cat"]).shape  # TensorShape([1, 77])
    ```
    """

    def __init__(self, vocabulary, merges, context_length=77, truncate=False):
        super().__init__(context_length, truncate)
        from keras_hub.tokenizers import CLIPTokenizer

        if isinstance(vocabulary, str):
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = json.load(f)
        if isinstance(merges, str):
            with open(merges, encoding="utf-8") as f:
                merges = [line.rstrip("\n") for line in f]
        merges = [m for m in merges if m and not m.startswith("#version")]
        for token in ("<|startoftext|>", "<|endoftext|>"):
            if token not in vocabulary:
                raise ValueError(
                    f"The vocabulary has no {token!r} token: expected OpenAI CLIP's vocab.json "
                    f"(49,408 entries), got {len(vocabulary)} entries."
                )
        self.vocabulary = dict(vocabulary)
        self.merges = list(merges)
        self.tokenizer = CLIPTokenizer(
            vocabulary=self.vocabulary, merges=self.merges, _allow_python_workflow=False
        )
        self.start_token_id = int(self.vocabulary["<|startoftext|>"])
        self.end_token_id = int(self.vocabulary["<|endoftext|>"])

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def _tokenize(self, texts):
        texts = tf.strings.regex_replace(tf.strings.strip(texts), r"\s+", " ")
        return self.tokenizer(tf.strings.lower(texts, encoding="utf-8"))

    def detokenize(self, ids):
        """Strings of token ids (start, end and padding dropped); words end at "</w>"."""
        if not hasattr(self, "_id_to_token"):
            tokens = sorted(self.vocabulary, key=self.vocabulary.get)
            self._id_to_token = tf.constant(tokens)
            chars = _byte_chars()
            self._char_to_byte = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(chars), tf.constant([bytes([b]) for b in range(256)])
                ),
                default_value=b"",
            )
        ids = self._content_ids(ids)
        text = tf.strings.reduce_join(tf.gather(self._id_to_token, ids), axis=-1)
        chars = tf.strings.unicode_split(tf.strings.regex_replace(text, "</w>", " "), "UTF-8")
        raw = tf.ragged.map_flat_values(
            lambda c: tf.where(tf.equal(c, " "), c, self._char_to_byte.lookup(c)), chars
        )
        return tf.strings.strip(tf.strings.reduce_join(raw, axis=-1))

    def get_config(self):
        return {
            "vocabulary": self.vocabulary,
            "merges": self.merges,
            "context_length": self.context_length,
            "truncate": self.truncate,
        }


def _byte_chars():
    """OpenAI's byte -> printable unicode character table of byte-level BPE, in byte order."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def _keep(ids, drop):
    ids = tf.convert_to_tensor(ids)
    keep = tf.ones_like(ids, dtype=tf.bool)
    for token in drop:
        keep = tf.logical_and(keep, tf.not_equal(ids, token))
    return keep


SPECIAL = ("[PAD]", "[UNK]")
START, END = "[START]", "[END]"


class _WordPieceTokenizer(_PackedTokenizer):
    """A `_PackedTokenizer` over a keras-hub `WordPieceTokenizer` (`self.tokenizer`) of the
    token list `self.vocabulary`: the caption and BERT tokenizers."""

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def get_vocabulary(self):
        """The tokens in id order."""
        return list(self.vocabulary)

    def _tokenize(self, texts):
        return self.tokenizer(texts)

    def detokenize(self, ids):
        """Strings of token ids (start, end and padding dropped), word pieces re-joined."""
        ids = self._content_ids(ids)
        return tf.convert_to_tensor(self.tokenizer.detokenize(ids))


class CaptionTokenizer(_WordPieceTokenizer):
    """WordPiece tokenizer over a vocabulary learned from your captions (training from scratch).

    TensorFlow-only (keras-hub's `WordPieceTokenizer` over tensorflow-text, TensorFlow path).
    Lower-cases, splits on whitespace and punctuation, then WordPiece. The vocabulary is laid out
    like CLIP's: "[PAD]" = 0, "[UNK]" = 1, the word pieces, then "[START]" and "[END]" last, so
    the end token has the largest id and CLIP's default end-of-text pooling finds it.

    Build one with `train_caption_tokenizer(captions, ...)`, or from a saved vocabulary list.

    Args:
        vocabulary: list of tokens in id order (as `get_vocabulary()` returns).
        context_length: output length, start and end tokens included.
        truncate: False (default) raises on texts that do not fit; True cuts them.

    Example:

    >>> tokenizer = keras_vt.text.train_caption_tokenizer(
    ...     ["a red circle", "two blue squares"], vocabulary_size=64, context_length=16)
    >>> bool(tokenizer(["a red circle"]).numpy()[0, 0] == tokenizer.start_token_id)
    True
    """

    def __init__(self, vocabulary, context_length=32, truncate=False):
        super().__init__(context_length, truncate)
        from keras_hub.tokenizers import WordPieceTokenizer

        vocabulary = [str(t) for t in vocabulary]
        if vocabulary[:2] != list(SPECIAL) or vocabulary[-2:] != [START, END]:
            raise ValueError(
                "Expected a vocabulary laid out as ['[PAD]', '[UNK]', ..., '[START]', '[END]'] "
                f"(see train_caption_tokenizer), got one starting {vocabulary[:2]} and ending "
                f"{vocabulary[-2:]}."
            )
        self.vocabulary = vocabulary
        self.tokenizer = WordPieceTokenizer(
            vocabulary=vocabulary,
            lowercase=True,
            oov_token="[UNK]",
            _allow_python_workflow=False,
        )
        self.start_token_id = len(vocabulary) - 2
        self.end_token_id = len(vocabulary) - 1

    def get_config(self):
        return {
            "vocabulary": self.vocabulary,
            "context_length": self.context_length,
            "truncate": self.truncate,
        }


def train_caption_tokenizer(captions, vocabulary_size=1000, context_length=32, truncate=False):
    """Learns a WordPiece vocabulary from `captions` and returns a `CaptionTokenizer`.

    TensorFlow-only (tensorflow-text's BERT vocabulary learner through keras-hub's
    `compute_word_piece_vocabulary`).

    Args:
        captions: a list of strings or a `tf.data.Dataset` of strings.
        vocabulary_size: at most this many tokens, the four special ones included.
        context_length, truncate: see `CaptionTokenizer`.

    Example:

    >>> tokenizer = keras_vt.text.train_caption_tokenizer(
    ...     ["a red circle", "two blue squares"], vocabulary_size=64, context_length=8)
    >>> tokenizer.vocabulary_size <= 64
    True
    """
    from keras_hub.tokenizers import compute_word_piece_vocabulary

    if int(vocabulary_size) < 8:
        raise checks.invalid("vocabulary_size", vocabulary_size, "vocabulary_size >= 8")
    if isinstance(captions, tf.data.Dataset):
        data = captions
    else:
        captions = [str(c) for c in captions]
        if not captions:
            raise ValueError(
                "Invalid captions: captions=[]. Expected at least one caption to learn a "
                "vocabulary from."
            )
        data = tf.data.Dataset.from_tensor_slices(captions)
    pieces = compute_word_piece_vocabulary(
        data.batch(1024),
        vocabulary_size - 2,
        lowercase=True,
        reserved_tokens=list(SPECIAL),
    )
    pieces = [p for p in pieces if p not in (START, END)]
    return CaptionTokenizer(pieces + [START, END], context_length, truncate)
