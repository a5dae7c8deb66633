"""Caption encoders as SavedModels taking raw strings: a BERT encoder with its tokenizer in the graph.

TensorFlow-only (TensorFlow ops around the model, written through `keras.export.ExportArchive`);
works from the TensorFlow and JAX backends, as `keras_vt.export.export_saved_model`. The written
SavedModel needs TensorFlow and `import tensorflow_text` (which registers the tokenizer's ops) to
serve, not keras_vt:

```python
import tensorflow as tf, tensorflow_text  # noqa: F401
served = tf.saved_model.load("exported/caption_encoder")
served.serve(tf.constant(["a red star moves left"]))["pooled_output"]
```
"""

import os

import keras

from keras_vt.export.saved_model import (
    _tf,
    _trackables,
    backend_kwargs,
    check_backend,
    text_functions,
)

BERT_INPUTS = ("token_ids", "segment_ids", "padding_mask")
BERT_OUTPUTS = ("sequence_output", "pooled_output")


def _check_encoder(encoder, tokenizer):
    inputs = getattr(encoder, "input", None) if isinstance(encoder, keras.Model) else None
    if not isinstance(inputs, dict) or not set(BERT_INPUTS) <= set(inputs):
        raise ValueError(
            f"Expected a BERT-style keras.Model called on {set(BERT_INPUTS)} "
            f"(keras_vt.models.BertEncoder), got encoder of type {type(encoder).__name__}."
        )
    if not callable(getattr(tokenizer, "bert_inputs", None)):
        raise ValueError(
            f"Expected a tokenizer with bert_inputs (keras_vt.text.BertTokenizer), got tokenizer "
            f"of type {type(tokenizer).__name__}."
        )
    vocabulary = getattr(encoder, "vocabulary_size", None)
    if vocabulary is not None and tokenizer.vocabulary_size > int(vocabulary):
        raise ValueError(
            f"The tokenizer's vocabulary ({tokenizer.vocabulary_size} tokens) is larger than the "
            f"encoder's (vocabulary_size={vocabulary}): ids would fall outside its embedding."
        )
    max_length = getattr(encoder, "max_length", None)
    if max_length is not None and tokenizer.context_length > int(max_length):
        raise ValueError(
            f"The tokenizer's context_length={tokenizer.context_length} exceeds the encoder's "
            f"max_length={max_length} positions."
        )


def add_bert_endpoints(archive, encoder, tokenizer, name="serve"):
    """Adds `{name}` (raw strings) and `{name}_ids` (token ids) endpoints for a BERT encoder.

    `{name}`: strings (batch,) -> tokenised in the graph (`tokenizer`, carried inside the
    SavedModel) -> `{"sequence_output": (batch, context, hidden), "pooled_output": (batch,
    hidden), "token_ids": (batch, context)}`. `{name}_ids`: int32 token ids (batch, context) with
    [PAD] = 0 -> the same, one segment and the padding mask derived from the ids. Captions longer
    than the tokenizer's context fail with an `InvalidArgumentError` unless it truncates.

    Returns:
        The `{name}` `tf.function`.

    Example:

    ```python
    archive = keras.export.ExportArchive()
    add_bert_endpoints(archive, bert, keras_vt.text.BertTokenizer("bert-dir", context_length=30))
    archive.write_out("exported/bert")
    ```
    """
    tf = _tf()
    _check_encoder(encoder, tokenizer)
    archive.track(encoder)
    for resource in _trackables(tokenizer):
        archive.track(resource)
    context = int(tokenizer.context_length)

    def encode(token_ids, segment_ids, padding_mask):
        out = encoder(
            {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask},
            training=False,
        )
        return {key: out[key] for key in BERT_OUTPUTS}

    model_fn = archive.add_endpoint(
        f"{name}_inputs",
        encode,
        input_signature=[
            keras.InputSpec(shape=(None, context), dtype="int32"),
            keras.InputSpec(shape=(None, context), dtype="int32"),
            keras.InputSpec(shape=(None, context), dtype="bool"),
        ],
        **backend_kwargs(),
    )

    def outputs(ids):
        ids = tf.ensure_shape(tf.cast(ids, tf.int32), (None, context))
        out = model_fn(ids, tf.zeros_like(ids), tf.not_equal(ids, tokenizer.pad_token_id))
        result = {key: tf.cast(out[key], tf.float32) for key in BERT_OUTPUTS}
        result["token_ids"] = ids
        return result

    serve, serve_ids = text_functions(tokenizer, context, outputs)
    archive.add_endpoint(name, serve)
    archive.add_endpoint(f"{name}_ids", serve_ids)
    return serve


def export_text_encoder(encoder, path, tokenizer, verbose=False):
    """Writes a BERT caption encoder as a SavedModel whose `serve` signature takes raw strings.

    TensorFlow-only; from the TensorFlow and JAX backends (PyTorch: a `ValueError` saying to
    switch). The tokenizer (e.g. `keras_vt.text.BertTokenizer` over a converted checkpoint's
    `vocab.txt`) runs inside the graph; serving needs `import tensorflow_text`, not keras_vt.

    Signatures:
        `serve` (also `serving_default`): `text`, strings (batch,) ->
            `{"sequence_output", "pooled_output", "token_ids"}`.
        `serve_ids`: int32 token ids (batch, context_length) -> the same.
        `serve_inputs`: the encoder's three inputs (token ids, segment ids, padding mask).

    Args:
        encoder: a `keras_vt.models.BertEncoder` (e.g. from `keras_vt.convert.convert_hf_bert`).
        path: directory of the SavedModel.
        tokenizer: a `keras_vt.text.BertTokenizer` whose vocabulary fits the encoder's.
        verbose: print the endpoints.

    Returns:
        `path`.

    Example:

    ```python
    bert = keras_vt.convert.convert_hf_bert("checkpoints/bert-base-uncased")
    tokenizer = keras_vt.text.BertTokenizer("checkpoints/bert-base-uncased", context_length=30)
    keras_vt.export.export_text_encoder(bert, "exported/bert", tokenizer)
    ```
    """
    check_backend()
    archive = keras.export.ExportArchive()
    serve = add_bert_endpoints(archive, encoder, tokenizer)
    archive.add_endpoint("serving_default", serve)
    path = os.fspath(path)
    archive.write_out(path, verbose=verbose)
    return path
