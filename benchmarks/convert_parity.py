"""Numerical parity of the converters with Hugging Face transformers, on the current backend.

    KERAS_BACKEND=jax python benchmarks/convert_parity.py

For each converter, a small random Hugging Face model (eager attention, every parameter perturbed)
is saved with `save_pretrained`, converted with `keras_vt.convert.convert_checkpoint`, and both are
run on the same random pixels; the script prints the largest absolute difference of the logits
(or backbone features) and of the attention probabilities, at the checkpoint's resolution and at
another one (`interpolate_pos_encoding=True` against our model built at that size). Nothing is
downloaded. The tests (tests/test_convert.py) assert these stay below 1e-4.
"""

import os
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np
import torch
import transformers
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras_vt  # noqa: E402
from benchmarks.results_io import provenance, write_json  # noqa: E402
from keras_vt.convert import convert_checkpoint  # noqa: E402

SMALL = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=128,
    image_size=32,
    patch_size=8,
    num_labels=5,
)
ODD = dict(
    hidden_size=48,
    num_hidden_layers=5,
    num_attention_heads=3,
    intermediate_size=100,
    image_size=40,
    patch_size=8,
    num_labels=7,
)
CASES = [
    ("ViTForImageClassification", SMALL, "logits"),
    ("ViTForImageClassification", ODD, "logits"),
    ("ViTModel", SMALL, "cls"),
    ("DeiTForImageClassificationWithTeacher", SMALL, "logits"),
    ("DeiTForImageClassification", SMALL, "logits"),
    ("DeiTModel", SMALL, "mean2"),
]


def reference(cls, config, seed=0):
    torch.manual_seed(seed)
    family = cls.split("For")[0].removesuffix("Model")
    model = getattr(transformers, cls)._from_config(
        getattr(transformers, family + "Config")(**config), attn_implementation="eager"
    )
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model.eval()


def hf_output(model, x, kind, **kwargs):
    with torch.no_grad():
        out = model(torch.from_numpy(x), output_attentions=True, **kwargs)
    if kind == "logits":
        value = out.logits
    elif kind == "cls":
        value = out.last_hidden_state[:, 0]
    else:
        value = out.last_hidden_state[:, :2].mean(1)
    return value.numpy(), [a.numpy() for a in out.attentions]


def differences(model, hf, x, kind, **kwargs):
    expected, attentions = hf_output(hf, x, kind, **kwargs)
    nhwc = np.transpose(x, (0, 2, 3, 1))
    ours = keras.ops.convert_to_numpy(model(nhwc))
    maps = keras_vt.viz.attention_maps(model, nhwc)
    attention = max(float(np.abs(a - b).max()) for a, b in zip(maps, attentions))
    return float(np.abs(ours - expected).max()), attention


def main():
    started = provenance()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (cls, config, kind) in enumerate(tqdm(CASES, desc="converters")):
            hf = reference(cls, config, seed=i)
            directory = os.path.join(tmp, f"case{i}")
            hf.save_pretrained(directory)
            size = config["image_size"]
            x = np.random.default_rng(i).normal(size=(2, 3, size, size)).astype("float32")
            model = convert_checkpoint(directory)
            out, attention = differences(model, hf, x, kind)
            larger = size + 2 * config["patch_size"]
            x = np.random.default_rng(i).normal(size=(2, 3, larger, larger)).astype("float32")
            model = convert_checkpoint(directory, image_size=larger)
            out_l, attention_l = differences(model, hf, x, kind, interpolate_pos_encoding=True)
            shape = "h{hidden_size} L{num_hidden_layers} H{num_attention_heads} p{patch_size}"
            rows.append(
                (cls, shape.format(**config), size, out, attention, larger, out_l, attention_l)
            )
    lines = [
        f"backend: {keras.backend.backend()}",
        "| source | config | px | max abs diff output | attention | px | output | attention |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for cls, shape, size, out, att, larger, out_l, att_l in rows:
        lines.append(
            f"| {cls} | {shape} | {size} | {out:.1e} | {att:.1e} | {larger} | {out_l:.1e} "
            f"| {att_l:.1e} |"
        )
    print("\n".join(lines))
    keys = ("source", "config", "px", "output", "attention", "px_resized", "output_resized")
    table = [dict(zip(keys + ("attention_resized",), row)) for row in rows]
    name = f"convert_parity_{keras.backend.backend()}"
    write_json(name, {"rows": table}, started, "\n".join(lines))


if __name__ == "__main__":
    main()
