"""Hugging Face `BertModel` checkpoints -> keras_vt `BertEncoder` (keras-hub's BERT interface).

The layout (`save_pretrained` of `BertModel`; `bert.`-prefixed in the task models):
`embeddings.{word_embeddings, position_embeddings, token_type_embeddings, LayerNorm}`,
`encoder.layer.{i}.{attention.self.{query,key,value}, attention.output.{dense, LayerNorm},
intermediate.dense, output.{dense, LayerNorm}}`, `pooler.dense`. Separate query/key/value
projections become the fused `qkv` Dense of keras_vt's block (outputs concatenated in q, k, v
order); the post-norm block's `norm1` is `attention.output.LayerNorm` and `norm2` is
`output.LayerNorm`. Older checkpoints name LayerNorm parameters `gamma`/`beta`; they are read as
`weight`/`bias`, as transformers does.

Loading is strict (`WeightPlan`): every missing key, unexpected key and shape mismatch is
reported in one `ValueError`, and nothing is assigned unless the whole checkpoint matches. The
heads of task models (`cls.*` of `BertForPreTraining`/`BertForMaskedLM`, `classifier.*`, ...) are
not part of the encoder: they are dropped with a warning. A checkpoint without a pooler (a
`BertForMaskedLM`, or `add_pooling_layer=False`) does not match: pass `pooler="random"` to keep a
freshly initialised pooler instead (its `pooled_output` is then meaningless until trained).

Example:

```python
bert = keras_vt.convert.convert_hf_bert("checkpoints/bert-base-uncased")  # config.json + weights
out = bert({"token_ids": ids, "segment_ids": segments, "padding_mask": mask})
out["sequence_output"]  # == BertModel(ids, attention_mask=mask, token_type_ids=segments)[0]
```
"""

import re
import warnings

import numpy as np

from keras_vt import checks
from keras_vt.convert.checkpoint import WeightPlan, load_state_dict, read_hf_config

# Parts of each BERT layer: keras_vt block attribute path -> Hugging Face key under the layer.
HF_BERT_BLOCK = {
    "norm1": "attention.output.LayerNorm",
    "qkv": ("attention.self.query", "attention.self.key", "attention.self.value"),
    "proj": "attention.output.dense",
    "norm2": "output.LayerNorm",
    "fc1": "intermediate.dense",
    "fc2": "output.dense",
}
# Buffers some checkpoints carry that are not weights.
_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")
POOLER_OPTIONS = ("checkpoint", "random")
# Heads of transformers' BERT task models (beside their `bert.` encoder), dropped on conversion.
TASK_HEADS = ("cls.", "classifier.", "qa_outputs.")


def bert_config_from_hf(config):
    """`BertEncoder` arguments from a Hugging Face BERT `config.json` dict.

    Mapped fields: `vocab_size`, `hidden_size`, `num_hidden_layers`, `num_attention_heads`,
    `intermediate_size`, `max_position_embeddings`, `type_vocab_size`, `layer_norm_eps`,
    `hidden_dropout_prob`, `attention_probs_dropout_prob`. Options keras_vt's BERT does not have
    raise one `ValueError` naming each field: an activation other than exact "gelu", a
    `position_embedding_type` other than "absolute", a decoder or cross-attention configuration.

    Example:

    >>> keras_vt.convert.bert_config_from_hf({"model_type": "bert", "vocab_size": 100,
    ...     "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
    ...     "intermediate_size": 32, "max_position_embeddings": 24})["max_length"]
    24
    """
    problems = []
    if config.get("model_type", "bert") != "bert":
        problems.append(f"model_type={config['model_type']!r} (expected 'bert')")
    act = config.get("hidden_act", "gelu")
    if act != "gelu":
        problems.append(
            f"hidden_act={act!r} (keras_vt's BERT uses exact, erf-based 'gelu', which is what "
            "Hugging Face's 'gelu' means)"
        )
    position = config.get("position_embedding_type", "absolute")
    if position != "absolute":
        problems.append(
            f"position_embedding_type={position!r} (keras_vt's BERT has 'absolute' learned "
            "positions only)"
        )
    for field in ("is_decoder", "add_cross_attention"):
        if config.get(field):
            problems.append(f"{field}=True (keras_vt's BERT is an encoder without cross-attention)")
    missing = [
        key
        for key in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads")
        if key not in config
    ]
    if missing:
        problems.append(f"missing fields {missing}")
    if problems:
        raise ValueError("Unsupported Hugging Face BERT config: " + "; ".join(problems) + ".")
    return dict(
        vocabulary_size=int(config["vocab_size"]),
        hidden_dim=int(config["hidden_size"]),
        depth=int(config["num_hidden_layers"]),
        num_heads=int(config["num_attention_heads"]),
        mlp_dim=int(config.get("intermediate_size", 4 * config["hidden_size"])),
        max_length=int(config.get("max_position_embeddings", 512)),
        num_segments=int(config.get("type_vocab_size", 2)),
        dropout=float(config.get("hidden_dropout_prob", 0.1)),
        attention_dropout=float(config.get("attention_probs_dropout_prob", 0.1)),
        layer_norm_epsilon=float(config.get("layer_norm_eps", 1e-12)),
    )


def plan_hf_bert(model, prefix="", pooler=True, description=None):
    """A `WeightPlan` that fills a keras_vt `BertEncoder` from a Hugging Face BERT state dict.

    Args:
        model: a `keras_vt.models.BertEncoder` (layers `embeddings`, `block{i}`, `pooler`).
        prefix: prepended to every key (`"bert."` for task models such as `BertForMaskedLM`).
        pooler: include the pooler (`pooler.dense`).
        description: what the checkpoint is, for error messages.

    Example:

    >>> bert = keras_vt.models.BertEncoder(vocabulary_size=50, hidden_dim=8, depth=1,
    ...                                    num_heads=2, mlp_dim=16, max_length=8)
    >>> sorted(keras_vt.convert.plan_hf_bert(bert).keys)[:2]
    ['embeddings.LayerNorm.bias', 'embeddings.LayerNorm.weight']
    """
    plan = WeightPlan(description or f"{type(model).__name__} {model.name!r}")
    embeddings = model.get_layer("embeddings")
    plan.tensor(embeddings.token_embedding.embeddings, prefix + "embeddings.word_embeddings.weight")
    plan.tensor(
        embeddings.position_embedding.embeddings, prefix + "embeddings.position_embeddings.weight"
    )
    if embeddings.segment_embedding is not None:
        plan.tensor(
            embeddings.segment_embedding.embeddings,
            prefix + "embeddings.token_type_embeddings.weight",
        )
    plan.layer_norm(embeddings.norm, prefix + "embeddings.LayerNorm")
    depth = sum(1 for layer in model.layers if re.fullmatch(r"block\d+", layer.name))
    for i in range(depth):
        block = model.get_layer(f"block{i}")
        base = f"{prefix}encoder.layer.{i}."
        plan.dense_concat(block.attention.qkv, [base + p for p in HF_BERT_BLOCK["qkv"]])
        plan.dense(block.attention.proj, base + HF_BERT_BLOCK["proj"])
        plan.layer_norm(block.norm1, base + HF_BERT_BLOCK["norm1"])
        plan.dense(block.mlp.fc1, base + HF_BERT_BLOCK["fc1"])
        plan.dense(block.mlp.fc2, base + HF_BERT_BLOCK["fc2"])
        plan.layer_norm(block.norm2, base + HF_BERT_BLOCK["norm2"])
    if pooler:
        plan.dense(model.get_layer("pooler"), prefix + "pooler.dense")
    return plan


def _renamed(state):
    """Legacy LayerNorm names (`gamma`/`beta`) -> `weight`/`bias`; buffers dropped."""
    out = {}
    for key, value in state.items():
        if key.endswith(_BUFFERS):
            continue
        key = re.sub(r"(LayerNorm)\.gamma$", r"\1.weight", key)
        key = re.sub(r"(LayerNorm)\.beta$", r"\1.bias", key)
        out[key] = np.asarray(value)
    return out


def _source(source, progress):
    """(config dict, state dict) from a directory, or from a (config, state dict) pair."""
    if isinstance(source, (tuple, list)) and len(source) == 2:
        config, state = source
        from keras_vt.convert.checkpoint import to_numpy

        return dict(config), _renamed({k: to_numpy(v) for k, v in state.items()})
    return read_hf_config(source), _renamed(load_state_dict(source, progress=progress))


def convert_hf_bert(source, dtype=None, progress=None, pooler="checkpoint"):
    """Builds a keras_vt `BertEncoder` from a local Hugging Face BERT checkpoint directory.

    Args:
        source: a directory with `config.json` and `model.safetensors` (preferred), a
            `pytorch_model.bin` read with `torch.load(weights_only=True)` (pickled code is never
            executed), or shards, as `save_pretrained` writes them; or a `(config_dict,
            state_dict)` pair. `BertModel` and the task models (`BertForMaskedLM`,
            `BertForPreTraining`, `BertForSequenceClassification`, ...) are accepted: their
            heads (`cls.`, `classifier.`, `qa_outputs.`) are dropped with a warning; any other key
            that is not part of the encoder is an error.
        dtype: dtype policy of the Keras model.
        progress: progress bars while reading and assigning; by default for files over 100 MiB.
        pooler: "checkpoint" (default): the pooler must be in the checkpoint. "random": a
            checkpoint without one (`BertForMaskedLM`) loads with a fresh pooler, with a warning.

    Returns:
        A `keras_vt.models.BertEncoder` called on `{"token_ids", "segment_ids", "padding_mask"}`
        and returning `{"sequence_output", "pooled_output"}`, equal to the checkpoint's
        `BertModel(input_ids, attention_mask=padding_mask, token_type_ids=segment_ids)`
        `last_hidden_state` and `pooler_output`. Dropout rates come from the config (they act in
        training only).

    Example:

    ```python
    bert = keras_vt.convert.convert_hf_bert("checkpoints/bert-base-uncased")
    bert.save("bert-base-uncased.keras")
    ```
    """
    from keras_vt.models.text import BertEncoder

    if pooler not in POOLER_OPTIONS:
        raise checks.unknown("pooler", pooler, POOLER_OPTIONS)
    config, state = _source(source, progress)
    kwargs = bert_config_from_hf(config)
    prefix = "bert." if any(k.startswith("bert.") for k in state) else ""
    heads = sorted(k for k in state if prefix and k.startswith(TASK_HEADS))
    if heads:
        warnings.warn(
            f"Not converted (task heads, not part of the BERT encoder): {heads}.", stacklevel=2
        )
        state = {k: v for k, v in state.items() if k not in heads}
    has_pooler = any(k.startswith(prefix + "pooler.") for k in state)
    if pooler == "random" and not has_pooler:
        warnings.warn(
            "The checkpoint has no pooler (pooler.dense): pooled_output comes from a randomly "
            "initialised pooler (pooler='random').",
            stacklevel=2,
        )
    model = BertEncoder(**kwargs, dtype=dtype)
    plan = plan_hf_bert(
        model,
        prefix=prefix,
        pooler=pooler == "checkpoint" or has_pooler,
        description=f"a Hugging Face BERT of config {kwargs}",
    )
    problem = plan.check(state)
    if problem and pooler == "checkpoint" and not has_pooler:
        problem += (
            " The checkpoint has no pooler (e.g. a BertForMaskedLM): pass pooler='random' "
            "to load it with a freshly initialised pooler."
        )
    if problem:
        raise ValueError(problem)
    plan.load(state, progress=progress)
    return model
