"""BERT conversion: parity with transformers' `BertModel` on random weights, and strict loading.

Reference models are built from small random configurations (nothing is downloaded), perturbed so
that every parameter (biases, LayerNorm, token types) matters, saved with `save_pretrained`, then
converted from the directory; `sequence_output` and `pooled_output` must equal transformers'
`last_hidden_state` and `pooler_output` to 1e-4, with padded rows in the batch.
"""

import json
import os

import keras
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import keras_vt  # noqa: E402
from keras_vt.convert import bert_config_from_hf, convert_checkpoint, convert_hf_bert  # noqa: E402

ATOL = 1e-4
CONFIGS = {
    "base_like": dict(
        vocab_size=97,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=24,
    ),
    "three_segments_eps": dict(
        vocab_size=61,
        hidden_size=24,
        num_hidden_layers=3,
        num_attention_heads=3,
        intermediate_size=40,
        max_position_embeddings=16,
        type_vocab_size=3,
        layer_norm_eps=1e-5,
    ),
    "one_segment": dict(
        vocab_size=40,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=48,
        max_position_embeddings=12,
        type_vocab_size=1,
    ),
}


def perturb(module, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return module.eval()


def hf_bert(cls="BertModel", seed=0, **config):
    torch.manual_seed(seed)
    hf_config = transformers.BertConfig(**config)
    model = getattr(transformers, cls)._from_config(hf_config, attn_implementation="eager")
    return perturb(model, seed)


def batch(config, seed=1):
    """Token ids, segment ids and a padding mask with rows of different lengths."""
    rng = np.random.default_rng(seed)
    length = min(config["max_position_embeddings"], 10)
    ids = rng.integers(1, config["vocab_size"], size=(3, length)).astype("int32")
    segments = rng.integers(0, config.get("type_vocab_size", 2), size=(3, length)).astype("int32")
    mask = np.ones((3, length), bool)
    mask[1, length - 3 :] = False
    mask[2, 2:] = False
    ids[~mask] = 0
    segments[~mask] = 0
    return {"token_ids": ids, "segment_ids": segments, "padding_mask": mask}


def hf_outputs(model, inputs):
    with torch.no_grad():
        out = model(
            input_ids=torch.from_numpy(inputs["token_ids"].astype("int64")),
            token_type_ids=torch.from_numpy(inputs["segment_ids"].astype("int64")),
            attention_mask=torch.from_numpy(inputs["padding_mask"].astype("int64")),
        )
    return out.last_hidden_state.numpy(), out.pooler_output.numpy()


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def converted(request, tmp_path_factory):
    config = CONFIGS[request.param]
    reference = hf_bert(seed=len(request.param), **config)
    path = tmp_path_factory.mktemp(request.param)
    reference.save_pretrained(path)
    return config, reference, str(path), convert_hf_bert(str(path))


def test_directory_is_safetensors(converted):
    _, _, path, _ = converted
    assert os.path.isfile(os.path.join(path, "model.safetensors"))


def test_parity_with_transformers(converted):
    config, reference, _, model = converted
    inputs = batch(config)
    sequence, pooled = hf_outputs(reference, inputs)
    out = model(inputs)
    np.testing.assert_allclose(numpy(out["sequence_output"]), sequence, atol=ATOL, rtol=0)
    np.testing.assert_allclose(numpy(out["pooled_output"]), pooled, atol=ATOL, rtol=0)
    # The padding matters: the unpadded row-2 prefix alone gives the same real-token outputs.
    short = {k: v[2:3, :2] for k, v in inputs.items()}
    np.testing.assert_allclose(
        numpy(model(short)["sequence_output"])[0], sequence[2, :2], atol=ATOL, rtol=0
    )


def test_config_is_mapped(converted):
    config, _, path, model = converted
    expected = bert_config_from_hf(json.load(open(os.path.join(path, "config.json"))))
    assert expected["vocabulary_size"] == config["vocab_size"]
    assert expected["num_segments"] == config.get("type_vocab_size", 2)
    assert expected["layer_norm_epsilon"] == config.get("layer_norm_eps", 1e-12)
    for key, value in expected.items():
        assert model.get_config()[key] == value, key


def test_cli_and_keras_file(tmp_path):
    from keras_vt.cli import main

    config = CONFIGS["base_like"]
    reference = hf_bert(seed=3, **config)
    reference.save_pretrained(tmp_path / "bert")
    out = tmp_path / "bert.keras"
    assert main(["convert", str(tmp_path / "bert"), str(out)]) == 0
    model = keras.saving.load_model(out)
    assert isinstance(model, keras_vt.models.BertEncoder)
    inputs = batch(config, seed=4)
    sequence, pooled = hf_outputs(reference, inputs)
    np.testing.assert_allclose(numpy(model(inputs)["sequence_output"]), sequence, atol=ATOL, rtol=0)
    np.testing.assert_allclose(numpy(model(inputs)["pooled_output"]), pooled, atol=ATOL, rtol=0)


def test_task_model_heads_dropped_and_pooler_option(tmp_path):
    config = CONFIGS["one_segment"]
    masked_lm = hf_bert("BertForMaskedLM", seed=5, **config)  # "bert." prefix, no pooler
    masked_lm.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="pooler='random'"), pytest.warns(UserWarning, match="cls"):
        convert_hf_bert(str(tmp_path))
    with pytest.warns(UserWarning, match="randomly initialised pooler"):
        model = convert_checkpoint(str(tmp_path), pooler="random")
    inputs = batch(config, seed=6)
    with torch.no_grad():
        sequence = masked_lm.bert(
            input_ids=torch.from_numpy(inputs["token_ids"].astype("int64")),
            token_type_ids=torch.from_numpy(inputs["segment_ids"].astype("int64")),
            attention_mask=torch.from_numpy(inputs["padding_mask"].astype("int64")),
        ).last_hidden_state.numpy()
    np.testing.assert_allclose(numpy(model(inputs)["sequence_output"]), sequence, atol=ATOL, rtol=0)


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("hidden_act", "gelu_new", "hidden_act='gelu_new'"),
        ("hidden_act", "relu", "hidden_act='relu'"),
        ("position_embedding_type", "relative_key", "position_embedding_type='relative_key'"),
        ("is_decoder", True, "is_decoder=True"),
    ],
)
def test_unsupported_config_is_named(field, value, match):
    config = {"model_type": "bert", **CONFIGS["base_like"], field: value}
    with pytest.raises(ValueError, match=match):
        bert_config_from_hf(config)


def test_mismatched_checkpoint_loads_nothing(tmp_path):
    config = CONFIGS["base_like"]
    hf_bert(seed=7, **config).save_pretrained(tmp_path)
    with open(tmp_path / "config.json") as f:
        hf_config = json.load(f)
    hf_config["num_hidden_layers"] = 3  # the weights have two layers
    hf_config["intermediate_size"] = 80
    with open(tmp_path / "config.json", "w") as f:
        json.dump(hf_config, f)
    with pytest.raises(ValueError) as error:
        convert_hf_bert(str(tmp_path))
    message = str(error.value)
    assert "missing keys" in message and "encoder.layer.2." in message
    assert "shape mismatches" in message and "intermediate.dense.weight" in message
    assert "Nothing was loaded" in message


def test_unexpected_keys_are_errors(tmp_path):
    config = CONFIGS["one_segment"]
    model = hf_bert(seed=8, **config)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    state["encoder.extra.weight"] = np.zeros((2, 2), "float32")
    with pytest.raises(ValueError, match="unexpected keys: encoder.extra.weight"):
        convert_hf_bert(({"model_type": "bert", **config}, state))


def test_pickles_are_refused(tmp_path):
    import pickle

    config = CONFIGS["one_segment"]
    with open(tmp_path / "config.json", "w") as f:
        json.dump({"model_type": "bert", **config}, f)
    with open(tmp_path / "pytorch_model.bin", "wb") as f:
        pickle.dump(object(), f)  # not a torch zip: torch.load(weights_only=True) refuses it
    with pytest.raises(ValueError, match="Pickled code is never executed"):
        convert_hf_bert(str(tmp_path))
