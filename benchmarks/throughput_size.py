"""Throughput against image size (tokens) for ViT-S/16, CPVT-S and CvT-13, float32 and bfloat16,
with the share of the time spent in the attention core (issue 16, item 5).

For every model, precision and image size (random weights, `create_model(name, image_size=s)`):

* **images/s**: `predict_on_batch` of a batch of `--batch` images, median of `--repeats` timed
  calls after `--warmup` untimed ones (`benchmarks/harness.py`);
* **attention share**: one eager forward pass records the (query, key, value) shapes of every call
  of `keras_vt.layers.attend`, the attention core that every keras_vt attention layer routes
  through (QKᵀ, softmax, ·V; not the q/k/v/output projections, which are dense matmuls or, in
  CvT, convolutions). The core alone is then timed at each recorded shape (8 cores chained in one
  compiled call, so that the call overhead is not counted as attention), under the same precision
  and compile setting as the model, and the sum over the calls is divided by the model's time. An estimate: the core runs outside the model, so fusion across its boundary is
  not counted.

Each precision runs in its own subprocess, on the setting that is fastest for it on a CPU (see
README "bfloat16 and int8"): float32 on TensorFlow with XLA (`jit_compile=True`), bfloat16
(`dtype="bfloat16"`) on TensorFlow without XLA (oneDNN's bfloat16 kernels). Results:
`benchmarks/results/throughput_size.{json,md}` and the figure `docs/figures/throughput_size.png`.

    python benchmarks/throughput_size.py                  # about 10 minutes on 2 cores
    python benchmarks/throughput_size.py --quick          # smoke run: two sizes, one repeat
"""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.harness import run_worker_process, set_threads, time_calls  # noqa: E402
from benchmarks.results_io import provenance, write_json  # noqa: E402

MODELS = {"vit_s16": "vit_small_patch16_224", "cpvt_s": "cpvt_small_gap", "cvt_13": "cvt_13"}
PRECISIONS = {"float32": True, "bfloat16": False}  # precision -> jit_compile on TensorFlow
FIGURE = ROOT / "docs" / "figures" / "throughput_size.png"


def record_attention_shapes(model, x):
    """Shapes (query, key, value, scale) of every `attend` call in one eager forward pass."""
    import keras_vt.layers.attention as attention

    original, calls, patched = attention.attend, [], []

    def recording(query, key, value, scale, *args, **kwargs):
        calls.append((tuple(query.shape), tuple(key.shape), tuple(value.shape), float(scale)))
        return original(query, key, value, scale, *args, **kwargs)

    for module in list(sys.modules.values()):
        if (
            module is not None
            and module.__name__.startswith("keras_vt")
            and (getattr(module, "attend", None) is original)
        ):
            module.attend = recording
            patched.append(module)
    try:
        model(x, training=False)
    finally:
        for module in patched:
            module.attend = original
    return calls


def attention_seconds(calls, dtype, jit_compile, warmup, repeats, chain=8):
    """Seconds of the attention core alone, summed over `calls`, under the model's setting.

    Each distinct shape is timed as `chain` cores applied one after another inside one compiled
    call (each output is the next query), so the per-call overhead of `predict_on_batch` (about a
    millisecond, as much as a small core) is spread over `chain` cores instead of counted in full.
    """
    import keras

    from keras_vt.layers import attend

    def chained(tensors, scale):
        q, k, v = tensors
        for _ in range(chain):
            q = attend(q, k, v, scale)[0]
        return q

    total, cache = 0.0, {}
    for q_shape, k_shape, v_shape, scale in calls:
        signature = (q_shape, k_shape, v_shape, scale)
        if q_shape[-1] != v_shape[-1]:
            raise ValueError(f"chaining needs value width == query width, got {signature}")
        if signature not in cache:
            q, k, v = (keras.Input(s[1:], batch_size=s[0], dtype=dtype) for s in signature[:3])
            core = keras.layers.Lambda(lambda t, s=scale: chained(t, s), dtype=dtype)
            model = keras.Model([q, k, v], core([q, k, v]))
            model.compile(jit_compile=jit_compile)
            rng = np.random.default_rng(0)
            inputs = [rng.normal(size=s).astype("float32") for s in signature[:3]]
            if dtype == "bfloat16":
                inputs = [keras.ops.cast(t, "bfloat16") for t in inputs]
            stats = time_calls(
                lambda m=model, i=inputs: m.predict_on_batch(i), warmup, repeats, progress=False
            )
            cache[signature] = stats["median"] / chain
        total += cache[signature]
    return total


def worker(args):
    set_threads(args.threads)
    import keras
    import tensorflow as tf

    import keras_vt

    tf.get_logger().setLevel("ERROR")  # one retrace warning per new model, expected here
    precision, jit = args.precision, PRECISIONS[args.precision]
    out = []
    for key in args.models:
        for size in args.sizes:
            keras.utils.set_random_seed(0)
            model = keras_vt.create_model(MODELS[key], image_size=size, dtype=precision)
            x = np.random.default_rng(0).uniform(-1, 1, (args.batch, size, size, 3))
            x = x.astype("float32")
            calls = record_attention_shapes(model, x)
            model.compile(jit_compile=jit)
            stats = time_calls(
                lambda m=model: m.predict_on_batch(x),
                args.warmup,
                args.repeats,
                f"{precision} {key} {size}px",
            )
            core = attention_seconds(calls, precision, jit, args.warmup, args.repeats)
            out.append(
                {
                    "model": key,
                    "precision": precision,
                    "image_size": size,
                    "tokens": [c[0][1] for c in calls],
                    "seconds": stats["median"],
                    "iqr": stats["iqr"],
                    "images_per_second": args.batch / stats["median"],
                    "attention_seconds": core,
                    "attention_share": core / stats["median"],
                    "attention_calls": len(calls),
                }
            )
            keras.backend.clear_session()
    Path(args.worker_output).write_text(json.dumps(out))


def run_precision(args, precision):
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", "--precision", precision]
    for name in ("batch", "warmup", "repeats", "threads"):
        argv += [f"--{name}", str(getattr(args, name))]
    argv += ["--models", ",".join(args.models), "--sizes", ",".join(map(str, args.sizes))]
    rows = run_worker_process(argv, "tensorflow", ROOT, verbose=True)
    if "error" in rows:
        raise SystemExit(f"throughput_size: the {precision} worker failed: {rows['error']}")
    return rows


def markdown(args, rows):
    lines = [
        f"# Throughput against image size: batch {args.batch}, TensorFlow, {args.threads} threads",
        "",
        "float32 with XLA, bfloat16 without XLA (oneDNN). images/s (median) and, in brackets, the "
        "attention core's share of the time (QKᵀ, softmax, ·V timed alone at the model's shapes). "
        "Tokens: the final stage's (ViT/CPVT: (size/16)²; CvT-13: stage 1 has 16x as many).",
        "",
        "| model | precision | " + " | ".join(f"{s} px" for s in args.sizes) + " |",
        "|---|---|" + "---|" * len(args.sizes),
    ]
    for key in args.models:
        for precision in PRECISIONS:
            cells = []
            for size in args.sizes:
                row = next(
                    (
                        r
                        for r in rows
                        if (r["model"], r["precision"], r["image_size"]) == (key, precision, size)
                    ),
                    None,
                )
                cells.append(
                    f"{row['images_per_second']:.2f} ({100 * row['attention_share']:.0f} %)"
                    if row
                    else ""
                )
            lines.append(f"| {key} | {precision} | " + " | ".join(cells) + " |")
    tokens = {s: (s // 16) ** 2 for s in args.sizes}
    lines += ["", "Tokens at /16: " + ", ".join(f"{s} px = {n}" for s, n in tokens.items()) + "."]
    return "\n".join(lines)


def figure(args, rows):
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {"vit_s16": "C0", "cpvt_s": "C1", "cvt_13": "C2"}
    for key in args.models:
        for precision, style in (("float32", "-"), ("bfloat16", "--")):
            mine = sorted(
                (r for r in rows if r["model"] == key and r["precision"] == precision),
                key=lambda r: r["image_size"],
            )
            if not mine:
                continue
            tokens = [(r["image_size"] // 16) ** 2 for r in mine]
            label = f"{key} {precision}"
            left.plot(
                tokens,
                [r["images_per_second"] for r in mine],
                style,
                marker="o",
                color=colors[key],
                label=label,
            )
            right.plot(
                tokens,
                [100 * r["attention_share"] for r in mine],
                style,
                marker="o",
                color=colors[key],
                label=label,
            )
    for axis in (left, right):
        axis.set_xscale("log")
        axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        axis.set_xticks([(s // 16) ** 2 for s in args.sizes])
        axis.set_xticklabels([f"{(s // 16) ** 2}\n{s}px" for s in args.sizes])
        axis.set_xlabel("tokens at /16 (image size)")
        axis.grid(alpha=0.3)
    left.set_yscale("log")
    left.set_ylabel("images / s (batch %d)" % args.batch)
    left.set_title("Throughput against image size (TensorFlow, 2-core CPU)")
    right.set_ylabel("attention core, % of the forward time")
    right.set_title("Attention share (solid float32 XLA, dashed bfloat16)")
    right.legend(fontsize=8)
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    temporary = FIGURE.with_name(f".{FIGURE.name}.tmp{os.getpid()}.png")
    fig.savefig(temporary, dpi=110)
    os.replace(temporary, FIGURE)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated model keys")
    p.add_argument("--sizes", default="112,160,224,288,384", help="comma-separated image sizes")
    p.add_argument("--precisions", default=",".join(PRECISIONS), help="float32 and/or bfloat16")
    p.add_argument("--batch", type=int, default=4, help="images per call")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls (the first compiles)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads")
    p.add_argument("--quick", action="store_true", help="smoke run: 2 sizes, 1 repeat, batch 2")
    p.add_argument("--output", default="throughput_size", help="results/<output>.json and .md")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--precision", help=argparse.SUPPRESS)
    p.add_argument("--worker-output", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        p.error(f"--models: unknown {unknown}; expected some of {list(MODELS)}")
    args.precisions = [m for m in args.precisions.split(",") if m]
    unknown = [m for m in args.precisions if m not in PRECISIONS]
    if unknown:
        p.error(f"--precisions: unknown {unknown}; expected some of {list(PRECISIONS)}")
    try:
        args.sizes = [int(s) for s in args.sizes.split(",") if s]
    except ValueError:
        p.error(f"--sizes: expected comma-separated integers, got {args.sizes!r}")
    bad = [s for s in args.sizes if s < 32 or s % 16]
    if bad:
        p.error(f"--sizes: expected multiples of 16 from 32 up, got {bad}")
    if args.quick:
        args.sizes, args.repeats, args.batch = args.sizes[:2], 1, 2
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    started = provenance()
    rows = []
    for precision in args.precisions:
        rows += run_precision(args, precision)
    text = markdown(args, rows)
    print(text)
    figure(args, rows)
    write_json(args.output, {"rows": rows, "settings": vars(args)}, started, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
