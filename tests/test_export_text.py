"""Caption-encoder export: a BertEncoder with its WordPiece tokenizer in the graph, served from a
fresh Python process that imports only TensorFlow (and tensorflow-text for the tokenizer ops)."""

import json
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
from keras_vt.export import export_text_encoder  # noqa: E402
from keras_vt.text import BertTokenizer  # noqa: E402

BACKEND = keras.backend.backend()
needs_tf_or_jax = pytest.mark.skipif(
    BACKEND not in ("tensorflow", "jax"), reason="SavedModel export needs TensorFlow or JAX"
)
ATOL = 1e-5
VOCABULARY = "[PAD] [UNK] [CLS] [SEP] a red blue star ring move ##s left then appear , .".split()
CAPTIONS = ["a red star moves left", "then a blue ring appears.", "A zebra"]

SERVE = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    job = json.load(open(sys.argv[1]))
    served = tf.saved_model.load(job["path"])
    results = {}
    for signature, (array, dtype) in job["calls"].items():
        out = served.signatures[signature](tf.constant(np.load(array), dtype=dtype))
        results.update({f"{signature}/{k}": v.numpy() for k, v in out.items()})
    try:
        served.serve(tf.constant([job["too_long"]]))
        results["too_long_error"] = np.array("")
    except tf.errors.InvalidArgumentError as error:
        results["too_long_error"] = np.array(error.message)
    assert "keras_vt" not in sys.modules, "serving must not need keras_vt"
    np.savez(sys.argv[2], **results)
    """
)


def serve_in_fresh_process(tmp_path, path, calls, too_long):
    arrays = {}
    for signature, (array, dtype) in calls.items():
        file = str(tmp_path / f"{signature}.npy")
        np.save(file, array)
        arrays[signature] = (file, dtype)
    job = dict(path=path, calls=arrays, too_long=too_long)
    (tmp_path / "job.json").write_text(json.dumps(job))
    (tmp_path / "serve.py").write_text(SERVE)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, "serve.py", "job.json", "out.npz"],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(np.load(tmp_path / "out.npz"))


def tiny_bert(vocabulary_size=len(VOCABULARY), max_length=12):
    return keras_vt.models.BertEncoder(
        vocabulary_size=vocabulary_size,
        hidden_dim=16,
        depth=2,
        num_heads=2,
        mlp_dim=32,
        max_length=max_length,
    )


@needs_tf_or_jax
def test_caption_encoder_serves_raw_strings(tmp_path):
    bert = tiny_bert()
    tokenizer = BertTokenizer(VOCABULARY, context_length=10)
    path = export_text_encoder(bert, str(tmp_path / "caption_encoder"), tokenizer)
    ids = tokenizer(CAPTIONS).numpy()
    served = serve_in_fresh_process(
        tmp_path,
        path,
        {
            "serve": (np.array([c.encode() for c in CAPTIONS]), "string"),
            "serve_ids": (ids, "int32"),
        },
        too_long="a red star moves left then a blue ring appears",
    )
    expected = bert({"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": ids != 0})
    for signature in ("serve", "serve_ids"):
        np.testing.assert_array_equal(served[f"{signature}/token_ids"], ids)
        for key in ("sequence_output", "pooled_output"):
            np.testing.assert_allclose(
                served[f"{signature}/{key}"],
                keras.ops.convert_to_numpy(expected[key]),
                atol=ATOL,
                rtol=0,
            )
    assert "longer than the context" in str(served["too_long_error"])


@needs_tf_or_jax
def test_bad_arguments(tmp_path):
    tokenizer = BertTokenizer(VOCABULARY, context_length=10)
    with pytest.raises(ValueError, match="vocabulary.*larger than the encoder's"):
        export_text_encoder(tiny_bert(vocabulary_size=5), str(tmp_path / "a"), tokenizer)
    with pytest.raises(ValueError, match="context_length=10 exceeds.*max_length=8"):
        export_text_encoder(tiny_bert(max_length=8), str(tmp_path / "b"), tokenizer)
    image_model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True)
    with pytest.raises(ValueError, match="BERT-style keras.Model"):
        export_text_encoder(image_model, str(tmp_path / "c"), tokenizer)
    with pytest.raises(ValueError, match="tokenizer with bert_inputs"):
        export_text_encoder(tiny_bert(), str(tmp_path / "d"), tokenizer=str.split)


@pytest.mark.skipif(BACKEND != "torch", reason="the refusal is for the PyTorch backend")
def test_torch_backend_says_to_switch(tmp_path):
    tokenizer = BertTokenizer(VOCABULARY, context_length=10)
    with pytest.raises(ValueError, match="KERAS_BACKEND=tensorflow"):
        export_text_encoder(tiny_bert(), str(tmp_path / "x"), tokenizer)
