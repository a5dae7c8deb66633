"""Throughput of ViT-B/16: keras_vt against keras-hub and Hugging Face transformers, one run.

Measures, in a single invocation and under the same thread settings:

* inference images/s and training steps/s of ViT-B/16 (224 px, float32, random weights) built by
  keras_vt (`keras_vt.create_model("vit_base_patch16_224")`), by keras-hub
  (`ViTBackbone` + `ViTImageClassifier` from their constructors, no preset download) on each Keras
  backend, and by Hugging Face transformers (`ViTForImageClassification(ViTConfig())`, PyTorch);
* the machine's float32 matrix-multiply throughput (large square matmuls, 2 n^3 flops) with numpy,
  each Keras backend and torch; the best median is the roofline each model is compared with;
* each model's achieved FLOP/s, from an analytic FLOP count (`vit_flops`), as a fraction of it.

Every (library, backend) pair runs in its own subprocess, because the Keras backend is fixed per
process; the threads are fixed the same way for all of them (`--threads`). Timing: `--warmup`
untimed calls (the first traces/compiles), then `--repeats` timed calls; we report the median and
the inter-quartile range. Keras models are timed through `predict_on_batch` / `train_on_batch` after
`compile(jit_compile=...)` (XLA on TensorFlow and JAX, as Keras resolves `"auto"`; eager on torch
unless `--torch-compile`); Hugging Face runs in eval mode under `torch.inference_mode()`, and trains
with a real AdamW step. Results: a markdown table printed and written to
`benchmarks/results/throughput.md`, and the raw numbers to `throughput.json`.

Example:

    python benchmarks/throughput.py                 # the full run (several minutes on 2 cores)
    python benchmarks/throughput.py --quick         # batch 2, few repeats: a smoke test
    python benchmarks/throughput.py --backends jax --libraries keras_vt,hf
"""

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

from benchmarks.harness import (  # noqa: E402
    run_worker_process,
    set_threads,
    time_calls,
)

BACKENDS = ("tensorflow", "jax", "torch")
LIBRARIES = ("keras_vt", "keras_hub", "hf")
LIBRARY_NAMES = {
    "keras_vt": "keras_vt",
    "keras_hub": "keras-hub",
    "hf": "HF transformers",
    "matmul": "matmul",
}
# ViT-B/16 at 224 px.
VIT_B16 = dict(image_size=224, patch_size=16, hidden_dim=768, depth=12, num_heads=12, mlp_dim=3072)
NUM_CLASSES = 1000


def vit_flops(
    image_size=224,
    patch_size=16,
    hidden_dim=768,
    depth=12,
    mlp_dim=3072,
    num_classes=NUM_CLASSES,
    class_token=True,
    **_,
):
    """Analytic forward FLOPs per image of a ViT: 2 x the multiply-adds of every matmul/conv.

    With P = (image_size / patch_size)^2 patches, N = P + 1 tokens, width D, MLP width M, depth L:

        patch embedding   P * (3 patch_size^2) * D
        per block         N*D*3D (q, k, v) + N*N*D (Q K^T) + N*N*D (A V) + N*D*D (output)
                          + 2*N*D*M (MLP)
        head              D * num_classes

    Softmax, GELU, LayerNorm, biases and residual additions are not counted (they are O(N D) or
    O(N^2 heads), under 1% here). Returns a dict with the multiply-adds of each part and `flops`.
    """
    patches = (image_size // patch_size) ** 2
    tokens = patches + int(class_token)
    d = hidden_dim
    parts = {
        "patch_embedding": patches * 3 * patch_size**2 * d,
        "qkv": depth * tokens * d * 3 * d,
        "attention_qk": depth * tokens * tokens * d,
        "attention_av": depth * tokens * tokens * d,
        "attention_out": depth * tokens * d * d,
        "mlp": depth * 2 * tokens * d * mlp_dim,
        "head": d * num_classes,
    }
    macs = sum(parts.values())
    return {"macs_by_part": parts, "macs": macs, "flops": 2 * macs}


def matmul_stats(matmul, sizes, repeats, desc):
    """GFLOP/s of `matmul(a, b)` on float32 square matrices, best size by median."""
    rng = np.random.default_rng(0)
    best = None
    per_size = {}
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        call = matmul(a, b)
        stats = time_calls(call, 2, repeats, f"{desc} n={n}")
        flops = 2.0 * n**3
        gflops = flops / stats["median"] / 1e9
        per_size[n] = {"gflops_median": gflops, "gflops_best": flops / stats["min"] / 1e9}
        if best is None or gflops > best["gflops_median"]:
            best = {"n": n, "gflops_median": gflops, "gflops_best": flops / stats["min"] / 1e9}
    return {"best": best, "per_size": per_size}


# --------------------------------------------------------------------------------------------
# Workers (one per subprocess)
# --------------------------------------------------------------------------------------------


def backend_threads(backend, threads):
    """Applies and reports the framework's own thread settings."""
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        return {
            "tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        }
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        return {
            "torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(),
        }
    if backend == "jax":
        import jax

        return {
            "jax_devices": [str(d) for d in jax.devices()],
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "cpu_affinity": sorted(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else None,
        }
    return {}


def images_and_labels(batch, image_size, channels_first=False):
    rng = np.random.default_rng(0)
    shape = (
        (batch, 3, image_size, image_size) if channels_first else (batch, image_size, image_size, 3)
    )
    images = rng.uniform(-1.0, 1.0, size=shape).astype("float32")
    labels = rng.integers(0, NUM_CLASSES, size=(batch,)).astype("int32")
    return images, labels


def build_keras_model(library, image_size):
    import keras

    if library == "keras_vt":
        sys.path.insert(0, str(ROOT))
        import keras_vt

        return keras_vt.create_model("vit_base_patch16_224", image_size=image_size)
    import keras_hub

    config = VIT_B16
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(image_size, image_size, 3),
        patch_size=config["patch_size"],
        num_layers=config["depth"],
        num_heads=config["num_heads"],
        hidden_dim=config["hidden_dim"],
        mlp_dim=config["mlp_dim"],
    )
    model = keras_hub.models.ViTImageClassifier(
        backbone=backbone, num_classes=NUM_CLASSES, activation=None, preprocessor=None
    )
    assert isinstance(model, keras.Model)
    return model


def sync(x):
    """Waits for asynchronous results (JAX dispatch)."""
    if hasattr(x, "block_until_ready"):
        x.block_until_ready()
    return x


def keras_matmul(backend):
    from keras import ops

    def make(a, b):
        a, b = ops.convert_to_tensor(a), ops.convert_to_tensor(b)
        if backend == "jax":
            import jax

            product = jax.jit(lambda x, y: x @ y)
            return lambda: sync(product(a, b))
        if backend == "torch":
            import torch

            return lambda: torch.matmul(a, b)
        return lambda: ops.matmul(a, b)

    return make


def worker_keras(args):
    """keras_vt or keras-hub ViT-B/16 on `args.backend` (KERAS_BACKEND set by the parent)."""
    import keras

    result = {"threads": backend_threads(args.backend, args.threads)}
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy("float32")
    images, labels = images_and_labels(args.batch, args.image_size)
    model = build_keras_model(args.library, args.image_size)
    result["parameters"] = int(model.count_params())
    jit = args.backend != "torch" or args.torch_compile
    model.compile(
        optimizer=keras.optimizers.AdamW(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    result["mode"] = "predict_on_batch/train_on_batch, " + (
        "XLA (jit_compile=True)"
        if args.backend != "torch"
        else ("torch.compile (jit_compile=True)" if jit else "eager (jit_compile=False)")
    )
    tag = f"{args.library}/{args.backend}"
    result["inference"] = time_calls(
        lambda: model.predict_on_batch(images), args.warmup, args.repeats, f"{tag} inference"
    )
    if args.train_repeats:
        result["training"] = time_calls(
            lambda: model.train_on_batch(images, labels),
            args.warmup,
            args.train_repeats,
            f"{tag} training",
        )
    if args.library == "keras_vt":
        result["matmul"] = matmul_stats(
            keras_matmul(args.backend),
            args.matmul_sizes,
            args.matmul_repeats,
            f"matmul {args.backend}",
        )
    return result


def worker_hf(args):
    """Hugging Face transformers ViT-B/16 (PyTorch), plus torch and numpy matmuls."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    result = {"threads": backend_threads("torch", args.threads)}
    torch.manual_seed(0)
    config = ViTConfig(image_size=args.image_size, num_labels=NUM_CLASSES)
    model = ViTForImageClassification(config)
    result["attn_implementation"] = model.config._attn_implementation
    result["parameters"] = int(sum(p.numel() for p in model.parameters()))
    images, labels = images_and_labels(args.batch, args.image_size, channels_first=True)
    pixels, targets = torch.from_numpy(images), torch.from_numpy(labels).long()
    result["mode"] = (
        f"eval + torch.inference_mode(), attn_implementation={result['attn_implementation']}; "
        "train: AdamW step"
    )
    model.eval()

    def infer():
        with torch.inference_mode():
            return model(pixel_values=pixels).logits

    result["inference"] = time_calls(infer, args.warmup, args.repeats, "hf/torch inference")
    if args.train_repeats:
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss = model(pixel_values=pixels, labels=targets).loss
            loss.backward()
            optimizer.step()
            return loss

        result["training"] = time_calls(step, args.warmup, args.train_repeats, "hf/torch training")

    def torch_matmul(a, b):
        a, b = torch.from_numpy(a), torch.from_numpy(b)
        return lambda: torch.matmul(a, b)

    def numpy_matmul(a, b):
        return lambda: a @ b

    result["matmul_torch"] = matmul_stats(
        torch_matmul, args.matmul_sizes, args.matmul_repeats, "matmul torch"
    )
    result["matmul_numpy"] = matmul_stats(
        numpy_matmul, args.matmul_sizes, args.matmul_repeats, "matmul numpy"
    )
    return result


def run_worker(args):
    env_threads = set_threads(args.threads)
    result = worker_hf(args) if args.library == "hf" else worker_keras(args)
    result["env_threads"] = env_threads
    Path(args.worker_output).write_text(json.dumps(result))


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def jobs(args):
    for library in args.libraries:
        if library == "hf":
            yield library, "torch"
        else:
            for backend in args.backends:
                yield library, backend


def worker_argv(args, library, backend):
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--library",
        library,
        "--backend",
        backend,
        "--batch",
        str(args.batch),
        "--image-size",
        str(args.image_size),
        "--warmup",
        str(args.warmup),
        "--repeats",
        str(args.repeats),
        "--train-repeats",
        str(args.train_repeats),
        "--threads",
        str(args.threads),
        "--matmul-repeats",
        str(args.matmul_repeats),
        "--matmul-sizes",
        ",".join(str(n) for n in args.matmul_sizes),
    ]
    if args.torch_compile:
        argv.append("--torch-compile")
    return argv


def run_jobs(args):
    from tqdm import tqdm

    results = {}
    todo = list(jobs(args))
    bar = tqdm(todo, desc="throughput runs", file=sys.stderr, dynamic_ncols=True)
    for library, backend in bar:
        bar.set_postfix_str(f"{library}/{backend}")
        argv = worker_argv(args, library, backend)
        result = run_worker_process(argv, backend, ROOT, verbose=args.verbose)
        if "error" in result:
            tqdm.write(f"{library}/{backend} failed: {result['error']}")
        else:
            result["wall_seconds"] = result.pop("job_seconds")
        results[f"{library}/{backend}"] = result
    return results


def roofline(results):
    """Every measured matmul (library, best median GFLOP/s) and the best of them."""
    rows = []
    for key, result in results.items():
        for field, label in (
            ("matmul", f"keras.ops ({key.split('/')[1]})"),
            ("matmul_torch", "torch"),
            ("matmul_numpy", "numpy"),
        ):
            if field in result:
                best = result[field]["best"]
                rows.append(
                    {
                        "library": label,
                        "n": best["n"],
                        "gflops": best["gflops_median"],
                        "gflops_best": best["gflops_best"],
                        "per_size": result[field]["per_size"],
                    }
                )
    top = max(rows, key=lambda r: r["gflops"]) if rows else None
    return rows, top


def machine_info():
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }
    try:
        info["load_average"] = list(os.getloadavg())
    except OSError:
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def versions():
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("keras", "tensorflow", "jax", "torch", "keras-hub", "transformers", "numpy"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def rate(batch, seconds):
    return batch / seconds if seconds else float("nan")


def report(args, results, flops, started_load, finished_load):
    rows, top = roofline(results)
    peak = top["gflops"] if top else float("nan")
    per_image = flops["flops"]
    lines = [
        f"# ViT-B/16 throughput, {args.image_size} px, batch {args.batch}, float32, "
        f"{args.threads} thread(s)",
        "",
        f"Load average (1/5/15 min) before: {' / '.join(f'{x:.2f}' for x in started_load)}, "
        f"after: {' / '.join(f'{x:.2f}' for x in finished_load)}. "
        f"Median over {args.repeats} inference and {args.train_repeats} training repetitions "
        f"after {args.warmup} warm-up calls; brackets: inter-quartile range.",
        "",
        f"FLOPs per image (forward, 2 x multiply-adds): {per_image / 1e9:.2f} GFLOP "
        f"({flops['macs'] / 1e9:.2f} G multiply-adds); a training step counts 3x the forward.",
        f"Roofline: best median float32 matmul = **{peak:.1f} GFLOP/s** "
        f"({top['library']}, n={top['n']})."
        if top
        else "Roofline: not measured.",
        "",
        "| library | backend | inference img/s [IQR] | vs keras-hub | vs HF | "
        "% roofline (inf.) | train steps/s [IQR] | % roofline (train) | cores busy | mode |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    hf = results.get("hf/torch", {})
    hf_rate = rate(args.batch, hf["inference"]["median"]) if "inference" in hf else None
    table = []
    for key, result in results.items():
        library, backend = key.split("/")
        if "error" in result:
            lines.append(f"| {LIBRARY_NAMES[library]} | {backend} | failed | | | | | | | |")
            continue
        inf = result["inference"]
        images_per_s = rate(args.batch, inf["median"])
        low, high = rate(args.batch, inf["q3"]), rate(args.batch, inf["q1"])
        hub = results.get(f"keras_hub/{backend}", {})
        hub_rate = rate(args.batch, hub["inference"]["median"]) if "inference" in hub else None
        vs_hub = f"{images_per_s / hub_rate:.2f}x" if hub_rate and library != "keras_hub" else ""
        vs_hf = f"{images_per_s / hf_rate:.2f}x" if hf_rate and library != "hf" else ""
        inf_frac = images_per_s * per_image / 1e9 / peak
        row = {
            "library": library,
            "backend": backend,
            "images_per_s": images_per_s,
            "images_per_s_iqr": [low, high],
            "vs_keras_hub": vs_hub,
            "vs_hf": vs_hf,
            "roofline_fraction_inference": inf_frac,
            "mode": result.get("mode"),
            "cpu_per_wall": inf.get("cpu_per_wall"),
        }
        train_cell = frac_cell = ""
        if "training" in result:
            tr = result["training"]
            steps = 1.0 / tr["median"]
            train_frac = steps * 3 * per_image * args.batch / 1e9 / peak
            row.update(
                steps_per_s=steps,
                steps_per_s_iqr=[1 / tr["q3"], 1 / tr["q1"]],
                roofline_fraction_training=train_frac,
            )
            train_cell = f"{steps:.3f} [{1 / tr['q3']:.3f}-{1 / tr['q1']:.3f}]"
            frac_cell = f"{100 * train_frac:.0f}%"
        table.append(row)
        lines.append(
            f"| {LIBRARY_NAMES[library]} | {backend} | {images_per_s:.2f} [{low:.2f}-{high:.2f}] | "
            f"{vs_hub} | {vs_hf} | {100 * inf_frac:.0f}% | {train_cell} | {frac_cell} | "
            f"{inf.get('cpu_per_wall', float('nan')):.2f} | {result.get('mode', '')} |"
        )
    lines += [
        "",
        "Matrix multiply (float32, square, best median over sizes):",
        "",
        "| library | n | GFLOP/s (median) | GFLOP/s (best call) |",
        "|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['library']} | {row['n']} | {row['gflops']:.1f} | {row['gflops_best']:.1f} |"
        )
    lines += summary(table)
    threads = {k: v.get("threads") for k, v in results.items() if "threads" in v}
    env_threads = next((v["env_threads"] for v in results.values() if "env_threads" in v), {})
    lines += [
        "",
        f"Thread settings: {json.dumps(env_threads)}; per framework: {json.dumps(threads)}. "
        "Cores busy: process CPU seconds per wall second during the timed inference calls "
        f"(ideal: {args.threads}; less means the cores were shared with other processes).",
        "",
    ]
    markdown = "\n".join(lines)
    data = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("output",)},
        "machine": machine_info(),
        "load_average_before": started_load,
        "load_average_after": finished_load,
        "versions": versions(),
        "flops_per_image": flops,
        "roofline_gflops": peak,
        "roofline": top,
        "matmul": rows,
        "table": table,
        "raw": results,
    }
    return markdown, data


def summary(table):
    """The acceptance targets, checked on keras_vt's fastest backend."""
    ours = [r for r in table if r["library"] == "keras_vt"]
    hub = [r for r in table if r["library"] == "keras_hub"]
    hf = [r for r in table if r["library"] == "hf"]
    if not ours:
        return []
    best = max(ours, key=lambda r: r["images_per_s"])
    lines = [
        "",
        f"Targets, keras_vt on its fastest backend ({best['backend']}, "
        f"{best['images_per_s']:.2f} img/s):",
        "",
    ]
    checks = []
    if hub:
        same = [r for r in hub if r["backend"] == best["backend"]]
        fastest_hub = max(hub, key=lambda r: r["images_per_s"])
        for label, ref in (
            ("same backend", same[0] if same else None),
            ("keras-hub's fastest backend", fastest_hub),
        ):
            if ref:
                checks.append(
                    (
                        f">= 1.0x keras-hub ({label}: {ref['backend']})",
                        best["images_per_s"] / ref["images_per_s"],
                        1.0,
                        "x",
                    )
                )
    if hf:
        checks.append(
            (
                ">= 1.5x HF transformers (PyTorch)",
                best["images_per_s"] / hf[0]["images_per_s"],
                1.5,
                "x",
            )
        )
    checks.append((">= 80% of the matmul roofline", best["roofline_fraction_inference"], 0.8, "%"))
    for label, value, target, unit in checks:
        shown = f"{100 * value:.0f}%" if unit == "%" else f"{value:.2f}x"
        lines.append(f"- {label}: {shown} ({'met' if value >= target else 'NOT met'})")
    return lines


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="benchmarks/throughput.py",
        description="Inference images/s and training steps/s of ViT-B/16 in keras_vt, keras-hub "
        "and Hugging Face transformers (PyTorch), with the float32 matmul roofline, in one run.",
    )
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help="Keras backends for keras_vt and keras-hub (default: all three).",
    )
    parser.add_argument(
        "--libraries",
        default=",".join(LIBRARIES),
        help="Subset of keras_vt,keras_hub,hf (default: all).",
    )
    parser.add_argument("--batch", type=int, default=8, help="Batch size (default 8).")
    parser.add_argument("--image-size", type=int, default=224, help="Image side (default 224).")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed calls first (default 3).")
    parser.add_argument(
        "--repeats", type=int, default=15, help="Timed inference calls (default 15)."
    )
    parser.add_argument(
        "--train-repeats",
        type=int,
        default=6,
        help="Timed training steps (default 6; 0 skips training).",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count(),
        help="Intra-op threads for every framework (default: all cores).",
    )
    parser.add_argument(
        "--matmul-sizes",
        default="1024,2048,3072",
        help="Square matmul sizes for the roofline (default 1024,2048,3072).",
    )
    parser.add_argument(
        "--matmul-repeats", type=int, default=7, help="Timed matmuls per size (default 7)."
    )
    parser.add_argument(
        "--torch-compile",
        action="store_true",
        help="Keras torch backend with jit_compile=True (torch.compile).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Smoke test: batch 2, 1 warm-up, 3 repeats, 2 training steps, "
        "matmul n=1024,2048; writes throughput_quick.{md,json}.",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="Output path without extension (default benchmarks/results/throughput).",
    )
    parser.add_argument("--verbose", action="store_true", help="Show the workers' stderr.")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--library", help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--worker-output", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.warmup, args.repeats, args.train_repeats = 2, 1, 3, 2
        args.matmul_sizes, args.matmul_repeats = "1024,2048", 3
    args.matmul_sizes = [int(n) for n in str(args.matmul_sizes).split(",") if n]
    if not args.worker:
        args.backends = [b for b in args.backends.split(",") if b]
        args.libraries = [name for name in args.libraries.split(",") if name]
        for backend in args.backends:
            if backend not in BACKENDS:
                parser.error(f"unknown backend {backend!r}: expected some of {BACKENDS}")
        for library in args.libraries:
            if library not in LIBRARIES:
                parser.error(f"unknown library {library!r}: expected some of {LIBRARIES}")
    for name in ("batch", "image_size", "repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.worker:
        run_worker(args)
        return 0
    flops = vit_flops(**dict(VIT_B16, image_size=args.image_size))
    parts = ", ".join(f"{k} {v / 1e6:.1f}M" for k, v in flops["macs_by_part"].items())
    print(
        f"ViT-B/16 @ {args.image_size}: {flops['macs'] / 1e9:.3f} G multiply-adds per image "
        f"({parts}); {flops['flops'] / 1e9:.2f} GFLOP (published: ~17.6 G multiply-adds)."
    )
    started_load = list(os.getloadavg())
    results = run_jobs(args)
    finished_load = list(os.getloadavg())
    markdown, data = report(args, results, flops, started_load, finished_load)
    print(markdown)
    output = (
        Path(args.output)
        if args.output
        else RESULTS / ("throughput_quick" if args.quick else "throughput")
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".md").write_text(markdown)
    output.with_suffix(".json").write_text(json.dumps(data, indent=1))
    print(f"Wrote {output.with_suffix('.md')} and {output.with_suffix('.json')}.")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
