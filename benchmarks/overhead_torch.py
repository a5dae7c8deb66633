"""The fixed cost of a forward pass on PyTorch: keras_vt (Keras' PyTorch backend) against Hugging Face.

Issue 16's PyTorch rows lose most on the small models (DeiT-S, CLIP B/32) and least on ViT-B/16,
while the operators themselves take about the same time on both sides
(`profile_torch.py`). This measures what is left: a DeiT-S-shaped model (12 blocks, distilled,
two heads) at width 32 on a 32 px image, so that the arithmetic is negligible and a forward pass
is nearly all per-layer and per-operation work, keras_vt against `DeiTForImageClassification
WithTeacher` of the same shape; and single calls of the pieces (a Keras `Dense` layer against
`torch.matmul`, Keras' `LayerNormalization` against `torch.nn.functional.layer_norm`,
`keras.ops.matmul`). Calls alternate between the sides, many per timed sample.

    KERAS_BACKEND=torch python benchmarks/overhead_torch.py

Results: `benchmarks/results/overhead_torch.{json,md}`.
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.harness import interleaved_times, set_threads, summarize  # noqa: E402
from benchmarks.results_io import provenance, write_json  # noqa: E402

WIDTH, MLP, HEADS, DEPTH, IMAGE = 32, 64, 2, 12, 32
# The one shape, in keras_vt's argument names, and Hugging Face's name for each.
SIZES = dict(image_size=IMAGE, hidden_dim=WIDTH, depth=DEPTH, num_heads=HEADS, mlp_dim=MLP)
HF_NAMES = dict(
    image_size="image_size",
    hidden_dim="hidden_size",
    depth="num_hidden_layers",
    num_heads="num_attention_heads",
    mlp_dim="intermediate_size",
)


def forward_calls():
    """{name: fn} of one forward pass of each side, batch 1."""
    import torch
    import transformers as tr

    import keras_vt

    hf_sizes = {HF_NAMES[k]: v for k, v in SIZES.items()}
    config = tr.DeiTConfig(**hf_sizes, patch_size=16, num_labels=10)
    hf = tr.DeiTForImageClassificationWithTeacher(config).eval()
    model = keras_vt.create_model("deit_small_distilled_patch16_224", **SIZES, num_classes=10)
    x = torch.zeros(1, IMAGE, IMAGE, 3)
    pixels = torch.zeros(1, 3, IMAGE, IMAGE)

    def keras_vt_forward():
        with torch.no_grad():
            return model(x, training=False)

    def hf_forward():
        with torch.inference_mode():
            return hf(pixel_values=pixels)

    return {"keras_vt forward": keras_vt_forward, "HF forward": hf_forward}


def piece_calls():
    """{name: fn} of single calls of Keras layers and ops against the PyTorch op they run."""
    import keras
    import torch

    x = torch.randn(1, 6, WIDTH)
    dense = keras.layers.Dense(3 * WIDTH)
    dense.build(tuple(x.shape))
    kernel = dense.kernel.value
    norm = keras.layers.LayerNormalization(epsilon=1e-6)
    norm.build(tuple(x.shape))
    gamma, beta = norm.gamma.value, norm.beta.value

    def no_grad(fn):
        def call():
            with torch.no_grad():
                return fn()

        return call

    return {
        "keras Dense layer": no_grad(lambda: dense(x)),
        "torch.matmul + add": no_grad(lambda: torch.matmul(x, kernel) + dense.bias.value),
        "keras.ops.matmul": no_grad(lambda: keras.ops.matmul(x, kernel)),
        "torch.matmul": no_grad(lambda: torch.matmul(x, kernel)),
        "keras LayerNormalization layer": no_grad(lambda: norm(x)),
        "torch layer_norm": no_grad(
            lambda: torch.nn.functional.layer_norm(x, (WIDTH,), gamma, beta, 1e-6)
        ),
    }


def repeated(fn, times):
    def call():
        for _ in range(times):
            fn()

    return call


def measure(calls, per_sample, rounds):
    """Median microseconds of one call of each of `calls`, `per_sample` calls per timed sample."""
    times = interleaved_times(
        {name: repeated(fn, per_sample) for name, fn in calls.items()}, rounds, warmup=2
    )
    return {
        name: {**summarize([1e6 * s / per_sample for s in seconds]), "unit": "us per call"}
        for name, seconds in times.items()
    }


def markdown(forward, pieces):
    k, h = forward["keras_vt forward"]["median"], forward["HF forward"]["median"]
    lines = [
        "# The fixed cost of a forward pass on PyTorch",
        "",
        f"A DeiT-S-shaped model ({DEPTH} blocks, distilled, width {WIDTH}, {IMAGE} px, batch 1): "
        f"arithmetic negligible, so the time is per-layer and per-operation work.",
        "",
        "| call | median µs | IQR µs |",
        "|---|---|---|",
    ]
    for results in (forward, pieces):
        for name, s in results.items():
            lines.append(f"| {name} | {s['median']:.1f} | {s['iqr']:.1f} |")
    lines += ["", f"keras_vt / HF forward: {k / h:.1f}x the time ({k - h:.0f} µs more per pass)."]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=15, help="timed samples per call")
    p.add_argument("--threads", type=int, default=2, help="threads")
    args = p.parse_args(argv)
    if os.environ["KERAS_BACKEND"] != "torch":
        p.error(f"KERAS_BACKEND must be torch, got {os.environ['KERAS_BACKEND']!r}")
    started = provenance()
    set_threads(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    forward = measure(forward_calls(), per_sample=10, rounds=args.rounds)
    pieces = measure(piece_calls(), per_sample=200, rounds=args.rounds)
    text = markdown(forward, pieces)
    print(text)
    write_json("overhead_torch", {"forward": forward, "pieces": pieces}, started, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
