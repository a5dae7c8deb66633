"""Cost of attention inside a CNN versus resolution: global, local (k = 7), axial, and a 3x3 conv.

For square feature maps of side 16..128 (N = side² positions) and a width of 64 channels, times one
image's forward pass (JAX, jit-compiled, best of `--repeats` after a warm-up) and reads XLA's
compiled memory footprint (arguments + outputs + temporaries, `memory_analysis()`), for

- global self-attention: `NonLocalBlock(sub_sample=False)` (every position attends to every
  position), expected O(N²);
- local self-attention: `LocalSelfAttention2D(64, kernel_size=7, num_heads=8)`, O(N k²);
- axial attention: `AxialAttention(64, num_heads=8)` (height then width), O(N (H + W)) = O(N^1.5);
- a 3x3 convolution with 64 filters, O(N).

Fits the slope of log(time) and log(memory) against log(N) per layer and writes
`benchmarks/results/attention_cost.{json,md}` and `docs/figures/attention_cost.png`. Sizes whose
attention matrix would exceed `--max-matrix-mb` are skipped and listed as skipped. One run, on a
possibly shared machine: the load average is recorded with the results.

    KERAS_BACKEND=jax python benchmarks/attention_cost.py
"""

import argparse
import datetime
import json
import os
import platform
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_vt import layers as L  # noqa: E402

WIDTH = 64
EXPECTED = {"global": 2.0, "local_k7": 1.0, "axial": 1.5, "conv3x3": 1.0}


def make(kind):
    if kind == "global":
        return L.NonLocalBlock(sub_sample=False)
    if kind == "local_k7":
        return L.LocalSelfAttention2D(WIDTH, kernel_size=7, num_heads=8)
    if kind == "axial":
        return L.AxialAttention(WIDTH, num_heads=8)
    return keras.layers.Conv2D(WIDTH, 3, padding="same")


def attention_matrix_mb(kind, side):
    n = side * side
    keys = {"global": n, "local_k7": 49, "axial": side, "conv3x3": 0}[kind]
    heads = {"global": 1, "local_k7": 8, "axial": 8, "conv3x3": 0}[kind]
    return 4 * n * keys * heads / 2**20


def measure(kind, side, repeats):
    import jax

    layer = make(kind)
    x = np.random.default_rng(0).normal(size=(1, side, side, WIDTH)).astype("float32")
    layer(x)  # build
    fn = jax.jit(lambda images: layer(images))
    compiled = fn.lower(x).compile()
    memory = compiled.memory_analysis()
    peak = memory.temp_size_in_bytes + memory.argument_size_in_bytes
    peak += memory.output_size_in_bytes
    fn(x).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x).block_until_ready()
        times.append(time.perf_counter() - start)
    return min(times), peak


def slope(sizes, values):
    n = np.array([s * s for s in sizes], dtype="float64")
    return float(np.polyfit(np.log(n), np.log(np.array(values, dtype="float64")), 1)[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-matrix-mb", type=float, default=512.0)
    parser.add_argument("--out", default="benchmarks/results/attention_cost")
    parser.add_argument("--figure", default="docs/figures/attention_cost.png")
    args = parser.parse_args()
    if keras.backend.backend() != "jax":
        raise SystemExit("Run with KERAS_BACKEND=jax (XLA's memory analysis is read).")

    load_before = os.getloadavg()
    results, skipped = {}, []
    for kind in EXPECTED:
        results[kind] = {"sizes": [], "seconds": [], "bytes": []}
        for side in args.sizes:
            mb = attention_matrix_mb(kind, side)
            if mb > args.max_matrix_mb:
                skipped.append(f"{kind} at {side}x{side} (attention matrix {mb:.0f} MB)")
                continue
            seconds, peak = measure(kind, side, args.repeats)
            results[kind]["sizes"].append(side)
            results[kind]["seconds"].append(seconds)
            results[kind]["bytes"].append(int(peak))
            print(f"{kind:9s} {side:4d}x{side:<4d} {1e3 * seconds:9.2f} ms {peak / 2**20:9.1f} MB")
    for kind, r in results.items():
        r["time_slope"] = slope(r["sizes"], r["seconds"]) if len(r["sizes"]) > 1 else None
        r["memory_slope"] = slope(r["sizes"], r["bytes"]) if len(r["sizes"]) > 1 else None
        r["expected_slope"] = EXPECTED[kind]
    record = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPU cores",
        "backend": keras.backend.backend(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "width": WIDTH,
        "skipped": skipped,
        "results": results,
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(record, f, indent=1)

    header = "| layer | " + " | ".join(f"{s}x{s}" for s in args.sizes)
    lines = [
        f"# Attention cost versus resolution ({record['date']})",
        "",
        f"{record['machine']}, JAX on CPU, one image, {WIDTH} channels, best of {args.repeats}; "
        f"load average {record['load_average_before']} -> {record['load_average_after']} "
        "(shared machine). N = side² positions; slopes fitted on log-log over the measured sizes.",
        "",
        header + " | time slope | memory slope | expected |",
        "|---" * (len(args.sizes) + 4) + "|",
    ]
    for kind, r in results.items():
        cells = []
        for s in args.sizes:
            if s in r["sizes"]:
                i = r["sizes"].index(s)
                cells.append(f"{1e3 * r['seconds'][i]:.1f} ms / {r['bytes'][i] / 2**20:.0f} MB")
            else:
                cells.append("skipped")
        ts = "-" if r["time_slope"] is None else f"{r['time_slope']:.2f}"
        ms = "-" if r["memory_slope"] is None else f"{r['memory_slope']:.2f}"
        lines.append(f"| {kind} | " + " | ".join(cells) + f" | {ts} | {ms} | {EXPECTED[kind]} |")
    if skipped:
        lines += ["", "Skipped: " + "; ".join(skipped) + "."]
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for kind, r in results.items():
        n = [s * s for s in r["sizes"]]
        axes[0].loglog(n, r["seconds"], "o-", label=f"{kind} (slope {r['time_slope']:.2f})")
        axes[1].loglog(n, np.array(r["bytes"]) / 2**20, "o-", label=kind)
    axes[0].set(xlabel="positions N", ylabel="seconds per image", title="time")
    axes[1].set(xlabel="positions N", ylabel="MB (XLA footprint)", title="memory")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(args.figure) or ".", exist_ok=True)
    fig.savefig(args.figure, dpi=100)


if __name__ == "__main__":
    main()
