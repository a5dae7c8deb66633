"""MMT export: the video encoder and the caption encoder (raw strings in, tokenizer in the graph)
as two SavedModels, reloaded and served in a fresh Python process that imports only TensorFlow
(and tensorflow-text); the retrieval scores computed from the served outputs equal
`model.similarity`."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

import keras_vt  # noqa: E402
from keras_vt.export import export_mmt  # noqa: E402
from keras_vt.models.mmt import mixture_similarity  # noqa: E402
from keras_vt.text import BertTokenizer  # noqa: E402

BACKEND = keras.backend.backend()
needs_tf_or_jax = pytest.mark.skipif(
    BACKEND not in ("tensorflow", "jax"), reason="SavedModel export needs TensorFlow or JAX"
)
ATOL = 1e-5

SERVE = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    video_path, caption_path, inputs, out = sys.argv[1:5]
    data = dict(np.load(inputs))
    video = tf.saved_model.load(video_path).signatures["serve"]
    caption = tf.saved_model.load(caption_path)
    features = {k: tf.constant(v) for k, v in data.items() if k != "captions"}
    results = {f"video/{k}": v.numpy() for k, v in video(**features).items()}
    served = caption.signatures["serve"](tf.constant(data["captions"]))
    results.update({f"caption/{k}": v.numpy() for k, v in served.items()})
    assert "keras_vt" not in sys.modules, "serving must not need keras_vt"
    np.savez(out, **results)
    """
)


@pytest.fixture(scope="module")
def mmt():
    model = keras_vt.create_model("mmt_tiny")
    tokenizer = BertTokenizer(
        keras_vt.data.VideoCaptionTokenizer(model.context_length).vocabulary, model.context_length
    )
    return model, tokenizer


@needs_tf_or_jax
def test_video_and_caption_encoders_serve_without_keras_vt(mmt, tmp_path):
    model, tokenizer = mmt
    inputs, captions = keras_vt.data.make_video_captions(6, seed=3)
    ids = keras_vt.data.VideoCaptionTokenizer(model.context_length)(captions)
    # the WordPiece tokenizer over the built-in vocabulary gives the built-in tokenizer's ids
    np.testing.assert_array_equal(tokenizer(captions).numpy(), ids)
    video_path, caption_path = export_mmt(model, str(tmp_path / "mmt"), tokenizer)
    np.savez(tmp_path / "inputs.npz", captions=np.array([c.encode() for c in captions]), **inputs)
    (tmp_path / "serve.py").write_text(SERVE)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, "serve.py", video_path, caption_path, "inputs.npz", "out.npz"],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    served = dict(np.load(tmp_path / "out.npz"))

    def numpy(x):
        return np.asarray(keras.ops.convert_to_numpy(x))

    np.testing.assert_allclose(
        served["video/embeddings"], numpy(model.encode_video(inputs)), atol=ATOL, rtol=0
    )
    embeddings, weights = model.encode_text(ids)
    np.testing.assert_array_equal(served["caption/token_ids"], ids)
    np.testing.assert_allclose(served["caption/embeddings"], numpy(embeddings), atol=ATOL, rtol=0)
    np.testing.assert_allclose(served["caption/weights"], numpy(weights), atol=ATOL, rtol=0)
    # Some built-in clips miss experts: `available` carries it, and the scores agree.
    assert not served["video/available"].all()
    scores = mixture_similarity(
        served["caption/embeddings"],
        served["caption/weights"],
        served["video/embeddings"],
        served["video/available"],
    )
    np.testing.assert_allclose(
        numpy(scores), numpy(model.similarity(inputs, ids)), atol=ATOL, rtol=0
    )


@needs_tf_or_jax
def test_bad_arguments(mmt, tmp_path):
    model, tokenizer = mmt
    vocabulary = tokenizer.get_vocabulary()
    with pytest.raises(ValueError, match="context_length=40 exceeds the model's"):
        export_mmt(model, str(tmp_path / "a"), BertTokenizer(vocabulary, context_length=40))
    bigger = BertTokenizer(vocabulary + ["zebra"], model.context_length)
    with pytest.raises(ValueError, match="larger than the model's"):
        export_mmt(model, str(tmp_path / "b"), bigger)
    tiny_bert = keras_vt.create_model("bert_base_uncased", tiny=True)
    with pytest.raises(ValueError, match="Expected an MMT model"):
        export_mmt(tiny_bert, str(tmp_path / "c"), tokenizer)


@pytest.mark.skipif(BACKEND != "torch", reason="the refusal is for the PyTorch backend")
def test_torch_backend_says_to_switch(mmt, tmp_path):
    model, tokenizer = mmt
    with pytest.raises(ValueError, match="KERAS_BACKEND=tensorflow"):
        export_mmt(model, str(tmp_path / "x"), tokenizer)
