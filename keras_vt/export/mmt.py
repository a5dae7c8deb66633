"""MMT's two encoders as two SavedModels: the video encoder (expert features in) and the caption
encoder (raw strings in, its WordPiece tokenizer in the graph).

TensorFlow-only (TensorFlow ops around the model, written through `keras.export.ExportArchive`);
works from the TensorFlow and JAX backends. Serving needs TensorFlow (and `import
tensorflow_text` for the caption encoder's tokenizer ops), not keras_vt. The two halves can be
deployed apart: clips are embedded offline into an index, captions online; the retrieval score
is `keras_vt.models.mmt.mixture_similarity` of their outputs (a weighted sum of per-expert dot
products), simple enough to compute in any serving stack.
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


def _check(model, tokenizer):
    for part in ("video_encoder", "text_encoder", "experts", "context_length"):
        if not hasattr(model, part):
            raise ValueError(
                f"Expected an MMT model (keras_vt.create_model('mmt_tiny')) with `{part}`, got "
                f"model of type {type(model).__name__}."
            )
    if not callable(getattr(tokenizer, "get_vocabulary", None)) or not hasattr(
        tokenizer, "context_length"
    ):
        raise ValueError(
            f"Expected a TensorFlow tokenizer with a vocabulary and a context_length "
            f"(keras_vt.text.BertTokenizer), got tokenizer of type {type(tokenizer).__name__}."
        )
    if tokenizer.context_length > model.context_length:
        raise ValueError(
            f"The tokenizer's context_length={tokenizer.context_length} exceeds the model's "
            f"context_length={model.context_length}."
        )
    if tokenizer.vocabulary_size > model.vocabulary_size:
        raise ValueError(
            f"The tokenizer's vocabulary ({tokenizer.vocabulary_size} tokens) is larger than the "
            f"model's (vocabulary_size={model.vocabulary_size}): ids would fall outside it."
        )


def video_signature(model):
    """TensorSpecs of the video encoder's inputs: per expert `E`, `E` (clips, tokens, width)
    float32, `E_mask` (clips, tokens) bool and `E_times` (clips, tokens) float32 seconds."""
    tf = _tf()
    spec = {}
    for expert, width in model.experts.items():
        spec[expert] = tf.TensorSpec((None, None, int(width)), tf.float32, name=expert)
        spec[f"{expert}_mask"] = tf.TensorSpec((None, None), tf.bool, name=f"{expert}_mask")
        spec[f"{expert}_times"] = tf.TensorSpec((None, None), tf.float32, name=f"{expert}_times")
    return spec


def _video_backend_kwargs(model):
    """jax2tf needs to know that an expert's features, mask and times share their token axis
    (and that every input shares the clip axis); TensorFlow needs nothing."""
    kwargs = backend_kwargs()
    if "jax2tf_kwargs" in kwargs:
        shapes = {}
        for i, (expert, width) in enumerate(model.experts.items()):
            shapes[expert] = f"(clips, t{i}, {int(width)})"
            shapes[f"{expert}_mask"] = shapes[f"{expert}_times"] = f"(clips, t{i})"
        kwargs["jax2tf_kwargs"] = {**kwargs["jax2tf_kwargs"], "polymorphic_shapes": [shapes]}
    return kwargs


def export_mmt(model, path, tokenizer, verbose=False):
    """Writes an MMT model's video and caption encoders as `path/video` and `path/caption`.

    Signatures of `path/video`:
        `serve` (also `serving_default`): per expert `E` the keyword inputs `E` (clips, tokens,
            width) float32, `E_mask` (clips, tokens) bool and `E_times` (clips, tokens) float32
            -> `{"embeddings": (clips, experts, embed_dim), "available": (clips, experts)}`
            (`model.encode_video`; `available` is what `missing_experts="renormalise"` needs).

    Signatures of `path/caption`:
        `serve` (also `serving_default`): `text`, raw strings (captions,) -> tokenised in the
            graph by `tokenizer` (carried in the SavedModel) -> `{"embeddings": (captions,
            experts, embed_dim), "weights": (captions, experts), "token_ids": ...}`
            (`model.encode_text`). Captions longer than the context fail (InvalidArgumentError)
            unless the tokenizer truncates.
        `serve_ids`: int32 token ids (captions, context_length) -> the same.

    Args:
        model: an `MMT` (e.g. `keras_vt.create_model("mmt_tiny")`, trained).
        path: directory; the two SavedModels are written under it.
        tokenizer: the caption tokenizer, e.g. `keras_vt.text.BertTokenizer` over the caption
            encoder's vocabulary (for `mmt_tiny` on the built-in data:
            `BertTokenizer(keras_vt.data.VideoCaptionTokenizer().vocabulary, model.context_length)`,
            which gives the same ids on the built-in captions).
        verbose: print the endpoints.

    Returns:
        `(video_path, caption_path)`.

    Example:

    ```python
    video_path, caption_path = keras_vt.export.export_mmt(mmt, "exported/mmt", tokenizer)
    caption = tf.saved_model.load(caption_path)
    caption.serve(tf.constant(["a red square moves left"]))["weights"]  # (1, experts)
    ```
    """
    tf = _tf()
    check_backend()
    _check(model, tokenizer)
    path = os.fspath(path)
    video_path, caption_path = os.path.join(path, "video"), os.path.join(path, "caption")

    video = keras.export.ExportArchive()
    video.track(model.video_encoder)
    spec = video_signature(model)
    keys = list(spec)
    video_fn = video.add_endpoint(
        "serve_structured",
        lambda inputs: model.video_encoder(inputs, training=False),
        input_signature=[
            {k: keras.InputSpec(shape=s.shape, dtype=s.dtype.name) for k, s in spec.items()}
        ],
        **_video_backend_kwargs(model),
    )

    @tf.function(input_signature=[spec[k] for k in keys])
    def serve_video(*tensors):
        out = video_fn(dict(zip(keys, tensors)))
        return {k: tf.cast(out[k], tf.float32) for k in ("embeddings", "available")}

    video.add_endpoint("serve", serve_video)
    video.add_endpoint("serving_default", serve_video)
    video.write_out(video_path, verbose=verbose)

    caption = keras.export.ExportArchive()
    caption.track(model.text_encoder)
    for resource in _trackables(tokenizer):
        caption.track(resource)
    context = int(tokenizer.context_length)
    text_fn = caption.add_endpoint(
        "serve_structured",
        lambda ids: model.text_encoder(ids, training=False),
        input_signature=[keras.InputSpec(shape=(None, context), dtype="int32")],
        **backend_kwargs(),
    )

    def encode(ids):
        ids = tf.ensure_shape(tf.cast(ids, tf.int32), (None, context))
        out = text_fn(ids)
        return {
            "embeddings": tf.cast(out["embeddings"], tf.float32),
            "weights": tf.cast(out["weights"], tf.float32),
            "token_ids": ids,
        }

    serve_text, serve_ids = text_functions(tokenizer, context, encode)
    caption.add_endpoint("serve", serve_text)
    caption.add_endpoint("serving_default", serve_text)
    caption.add_endpoint("serve_ids", serve_ids)
    caption.write_out(caption_path, verbose=verbose)
    return video_path, caption_path
