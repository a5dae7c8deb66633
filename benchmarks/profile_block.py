"""Where does a ViT-B/16 block spend its time? Per-component timings on the current Keras backend.

Times, on (batch, 197, 768) tokens, each piece of a keras_vt `TransformerBlock` compiled the way the
throughput benchmark runs it (XLA through `jax.jit` / `tf.function(jit_compile=True)`, eager
`torch.no_grad()` on torch): LayerNorm, the q/k/v projection, the fused attention
(`keras.ops.dot_product_attention`) against the explicit einsum-softmax-einsum path, the output
projection, the two MLP matmuls, exact and tanh GELU, and the whole `TransformerBlock` layer. Each
line prints median milliseconds, achieved GFLOP/s where the piece has a matmul FLOP count, and its
share of the sum of the parts.

Example:

    KERAS_BACKEND=jax python benchmarks/profile_block.py --batch 8 --repeats 10
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/harness.py
from harness import time_calls  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.results_io import provenance, write_json  # noqa: E402


def compiled(fn):
    """`fn` compiled as the Keras backend compiles a predict step; returns a synchronous call."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        jitted = jax.jit(fn)
        return lambda *a: jax.block_until_ready(jitted(*a))
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    import torch

    def call(*a):
        with torch.no_grad():
            return fn(*a)

    return call


def median_ms(fn, args, warmup, repeats):
    """Median and IQR, in milliseconds, of `fn(*args)` (the shared harness's `time_calls`)."""
    stats = time_calls(lambda: fn(*args), warmup, repeats, progress=False)
    return 1e3 * stats["median"], 1e3 * stats["iqr"]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="benchmarks/profile_block.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=197)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    started = provenance()

    import keras
    from keras import ops
    from tqdm import tqdm

    from keras_vt.layers import TransformerBlock, attend

    b, n, d, h = args.batch, args.tokens, args.dim, args.heads
    hd, m = d // h, 4 * d
    rng = np.random.default_rng(0)

    def tensor(*shape):
        return ops.convert_to_tensor(rng.standard_normal(shape).astype("float32") * 0.05)

    x = tensor(b, n, d)
    q, k, v = tensor(b, n, h, hd), tensor(b, n, h, hd), tensor(b, n, h, hd)
    w_qkv, b_qkv = tensor(d, 3 * d), tensor(3 * d)
    w_proj, w_fc1, w_fc2 = tensor(d, d), tensor(d, m), tensor(m, d)
    hidden = tensor(b, n, m)
    gamma, beta = tensor(d), tensor(d)
    scale = hd**-0.5
    norm = keras.layers.LayerNormalization(epsilon=1e-6)
    norm.build((None, n, d))

    def layer_norm_ops(t):
        mean = ops.mean(t, axis=-1, keepdims=True)
        var = ops.mean(ops.square(t - mean), axis=-1, keepdims=True)
        return (t - mean) * ops.rsqrt(var + 1e-6) * gamma + beta

    block = TransformerBlock(num_heads=h, mlp_dim=m)
    block.build((None, n, d))

    pieces = [
        ("LayerNormalization layer", lambda t: norm(t), (x,), 0),
        ("LayerNorm in ops (mean/var)", layer_norm_ops, (x,), 0),
        (
            "q/k/v projection (matmul)",
            lambda t: ops.matmul(t, w_qkv) + b_qkv,
            (x,),
            2 * b * n * d * 3 * d,
        ),
        (
            "attention fused (dot_product_attention)",
            lambda a, c, e: ops.dot_product_attention(a, c, e, scale=scale),
            (q, k, v),
            4 * b * n * n * d,
        ),
        (
            "attention explicit (einsum/softmax)",
            lambda a, c, e: attend(a, c, e, scale, fused=False)[0],
            (q, k, v),
            4 * b * n * n * d,
        ),
        ("output projection (matmul)", lambda t: ops.matmul(t, w_proj), (x,), 2 * b * n * d * d),
        ("MLP fc1 (matmul)", lambda t: ops.matmul(t, w_fc1), (x,), 2 * b * n * d * m),
        ("GELU exact (erf)", lambda t: keras.activations.gelu(t, approximate=False), (hidden,), 0),
        ("GELU tanh", lambda t: keras.activations.gelu(t, approximate=True), (hidden,), 0),
        ("MLP fc2 (matmul)", lambda t: ops.matmul(t, w_fc2), (hidden,), 2 * b * n * m * d),
        (
            "TransformerBlock (whole)",
            lambda t: block(t),
            (x,),
            2 * b * n * d * 12 * d + 4 * b * n * n * d,
        ),
    ]
    rows = []
    for name, fn, inputs, flops in tqdm(
        pieces, desc=f"profile {keras.backend.backend()}", file=sys.stderr, leave=False
    ):
        ms, iqr = median_ms(compiled(fn), inputs, args.warmup, args.repeats)
        rows.append((name, ms, iqr, flops))
    # Sum of the parts of one block as keras_vt runs it (fused attention, exact GELU, layer LN).
    in_block = {
        "LayerNormalization layer": 2,
        "q/k/v projection (matmul)": 1,
        "attention fused (dot_product_attention)": 1,
        "output projection (matmul)": 1,
        "MLP fc1 (matmul)": 1,
        "GELU exact (erf)": 1,
        "MLP fc2 (matmul)": 1,
    }
    total = sum(ms * in_block.get(name, 0) for name, ms, _, _ in rows)
    lines = [
        f"backend={keras.backend.backend()} batch={b} tokens={n} dim={d} heads={h} "
        f"threads/load: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}",
        "",
        "| piece | median ms [IQR] | GFLOP/s | share of block parts |",
        "|---|---|---|---|",
    ]
    table = []
    for name, ms, iqr, flops in rows:
        rate = f"{flops / ms / 1e6:.1f}" if flops else ""
        share = f"{100 * ms * in_block[name] / total:.0f}%" if name in in_block else ""
        lines.append(f"| {name} | {ms:.2f} [{iqr:.2f}] | {rate} | {share} |")
        table.append(dict(piece=name, median_ms=ms, iqr_ms=iqr, flops=flops))
    lines.append(f"Sum of the block's parts: {total:.1f} ms")
    print("\n" + "\n".join(lines))
    write_json(
        f"profile_block_{keras.backend.backend()}",
        {"args": vars(args), "rows": table, "block_parts_ms": total},
        started,
        "\n".join(lines),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
