"""Inference throughput of CvT-13 and CPVT-S next to ViT-S/16, with Hugging Face's CvT-13, one run.

224 px, batch 8, float32, random weights, inference only. In a single invocation and under the
same thread settings it times:

* keras_vt `cvt_13`, `cpvt_small` and `vit_small_patch16_224` (the ViT of CPVT-S's size) on each
  requested Keras backend, through `predict_on_batch` after `compile(jit_compile="auto")` (XLA
  on TensorFlow and JAX, eager on torch);
* Hugging Face transformers `CvtForImageClassification(CvtConfig())` (CvT-13, PyTorch, eval mode,
  `torch.inference_mode()`).

Timing as `benchmarks/throughput.py`: `--warmup` untimed calls (the first traces/compiles), then
`--repeats` timed calls; images/s from the median, with the inter-quartile range. Every
(library, backend) pair runs in its own subprocess (the Keras backend is fixed per process), with
`--threads` intra-op threads for all. Results: a markdown table printed and written to
`benchmarks/results/throughput_cvt.md`, raw numbers to `throughput_cvt.json`.

Example:

    python benchmarks/throughput_cvt.py                      # all backends (several minutes)
    python benchmarks/throughput_cvt.py --quick              # batch 2, few repeats: smoke test
    python benchmarks/throughput_cvt.py --backends jax
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.harness import run_worker_process, set_threads, time_calls  # noqa: E402
from benchmarks.results_io import provenance, write_json  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
BACKENDS = ("tensorflow", "jax", "torch")
KERAS_MODELS = ("vit_small_patch16_224", "cpvt_small", "cvt_13")


def worker_keras(args):
    import keras

    import keras_vt

    images = np.random.default_rng(0).normal(size=(args.batch, 224, 224, 3)).astype("float32")
    rows = []
    for name in args.models.split(","):
        keras.utils.set_random_seed(0)
        model = keras_vt.create_model(name)
        model.compile(jit_compile="auto")
        parameters = keras_vt.count_params(model)
        stats = time_calls(
            lambda: model.predict_on_batch(images),
            args.warmup,
            args.repeats,
            f"{name} [{keras.backend.backend()}]",
        )
        rows.append(
            dict(
                library="keras_vt",
                backend=keras.backend.backend(),
                model=name,
                parameters=parameters,
                cpus=args.cpus,
                **stats,
            )
        )
        keras.backend.clear_session()
    return rows


def worker_hf(args):
    import torch
    from transformers import CvtConfig, CvtForImageClassification

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = CvtForImageClassification(CvtConfig()).eval()
    parameters = sum(p.numel() for p in model.parameters())
    images = torch.randn(args.batch, 3, 224, 224)

    def call():
        with torch.inference_mode():
            model(images)

    stats = time_calls(call, args.warmup, args.repeats, "HF CvT-13 [torch]")
    return [
        dict(
            library="HF transformers",
            backend="torch",
            model="cvt_13",
            parameters=parameters,
            cpus=args.cpus,
            **stats,
        )
    ]


def run_worker(kind, backend, args):
    argv = [sys.executable, __file__, "--worker", kind] + [
        f"--{key}={value}"
        for key, value in vars(args).items()
        if key not in ("worker", "worker_output", "backends", "quick", "cpus") and value is not None
    ]
    rows = run_worker_process(argv, backend, ROOT)
    if "error" in rows:
        raise RuntimeError(f"worker {kind}/{backend} failed: {rows['error']}")
    return rows


def table(rows, batch):
    lines = [
        f"| model | library | backend | parameters | images/s (batch {batch}) | "
        "ms / batch (median ± IQR) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['library']} | {r['backend']} | {r.get('parameters', 0):,} | "
            f"{batch / r['median']:.1f} | "
            f"{1e3 * r['median']:.0f} ± {1e3 * r['iqr']:.0f} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--models", default=",".join(KERAS_MODELS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="batch 2, 1 warm-up, 3 repeats")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker-output", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.cpus = set_threads(args.threads)["cpu_affinity"]
    if args.worker:
        rows = worker_keras(args) if args.worker == "keras" else worker_hf(args)
        Path(args.worker_output).write_text(json.dumps(rows))
        return
    if args.quick:
        args.batch, args.warmup, args.repeats = 2, 1, 3
    started = provenance()
    rows = []
    for backend in args.backends.split(","):
        rows += run_worker("keras", backend, args)
    rows += run_worker("hf", "torch", args)
    text = table(rows, args.batch)
    print(text)
    header = (
        f"CvT-13 / CPVT-S / ViT-S/16 inference, 224 px, float32, batch {args.batch}, "
        f"{args.threads} threads (CPUs {args.cpus}); median of {args.repeats} after "
        f"{args.warmup} warm-up calls. keras_vt's cvt_13 and Hugging Face's "
        "CvtForImageClassification(CvtConfig()) are the same architecture; their parameter "
        "counts are in the table.\n\n"
    )
    write_json("throughput_cvt", {"args": vars(args), "rows": rows}, started, header + text)


if __name__ == "__main__":
    main()
