"""Where the time goes on PyTorch: keras_vt against Hugging Face, operator by operator.

The profile behind the README's reasons for issue 16's unmet goals. For each case it builds
keras_vt's model (Keras' PyTorch backend) and Hugging Face's (random weights, batch 8, 224 px),
warms both up, then records one inference call of each with `torch.profiler` and writes the
operators that take the most self CPU time, side by side, with each model's total:

* `vit_b16_int8`: keras_vt `quantize(model, compile=True)` against HF `torch.ao` dynamic int8;
* `vit_b16_bfloat16`: keras_vt `dtype="bfloat16"` against HF `model.to(torch.bfloat16)`;
* `cvt_13_float32`: keras_vt CvT-13 against `CvtForImageClassification`;
* `deit_s_int8`: DeiT-S distilled, keras_vt `quantize(model, compile=True)` against HF's
  `DeiTForImageClassificationWithTeacher` under `torch.ao` dynamic int8;
* `deit_s_train_bfloat16`: one training step of DeiT-S distilled with a ResNet-50 teacher under
  bfloat16, each library at the setting `bench.py` measures (keras_vt `Distiller` under
  `mixed_bfloat16` with AdamW, `train_on_batch`; HF `torch.autocast` with AdamW, the same step as
  `bench.py`'s `hf_training_step`).

A profile adds overhead to every operator, so its totals are above the timed figures of
`bench.py`; the shares are what it is for. Results: `benchmarks/results/profile_torch.{md,json}`.

    KERAS_BACKEND=torch python benchmarks/profile_torch.py
    KERAS_BACKEND=torch python benchmarks/profile_torch.py --cases cvt_13_float32 --top 12
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.harness import set_threads  # noqa: E402
from benchmarks.results_io import provenance, write_json  # noqa: E402

CASES = ("vit_b16_int8", "vit_b16_bfloat16", "cvt_13_float32", "deit_s_train_bfloat16")
CASES += ("deit_s_int8",)


def build(case):
    """(keras_vt call, HF call) for `case`, both on the same random batch."""
    import torch
    import transformers as tr

    import keras_vt

    if case == "deit_s_train_bfloat16":
        return build_training("deit_s_distilled", "bfloat16")
    x = np.random.default_rng(0).uniform(-1, 1, (8, 224, 224, 3)).astype("float32")
    pixels = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    torch.manual_seed(0)
    if case.startswith("vit_b16"):
        hf = tr.ViTForImageClassification(tr.ViTConfig(num_labels=1000)).eval()
        name = "vit_base_patch16_224"
    elif case.startswith("deit_s"):
        from benchmarks import bench

        hf = bench.hf_model("deit_s_distilled").eval()
        name = "deit_small_distilled_patch16_224"
    else:
        hf = tr.CvtForImageClassification(tr.CvtConfig(num_labels=1000)).eval()
        name = "cvt_13"
    if case.endswith("int8"):
        model = keras_vt.precision.quantize(keras_vt.create_model(name), compile=True)
        hf = torch.ao.quantization.quantize_dynamic(hf, {torch.nn.Linear}, dtype=torch.qint8)
    elif case.endswith("bfloat16"):
        model = keras_vt.create_model(name, dtype="bfloat16")
        hf, pixels = hf.to(torch.bfloat16), pixels.to(torch.bfloat16)
    else:
        model = keras_vt.create_model(name)

    def run_hf():
        with torch.inference_mode():
            return hf(pixel_values=pixels).logits

    return (lambda: model.predict_on_batch(x)), run_hf


def build_training(key, precision, batch=8):
    """(keras_vt training step, HF training step) of `key`, as `bench.py` times them."""
    import torch

    from benchmarks import bench

    policy = "mixed_bfloat16" if precision == "bfloat16" else "float32"
    model, x, y = bench.keras_training("keras_vt", key, batch, policy)
    torch.manual_seed(0)
    hf = bench.hf_model(key)
    pixels = torch.from_numpy(bench.batch_inputs("image", batch, channels_first=True))
    hf_step = bench.hf_training_step(key, hf, pixels, precision, batch)
    return (lambda: model.train_on_batch(x) if y is None else model.train_on_batch(x, y)), hf_step


def profile(fn, warmup, top):
    """Total and the `top` operators by self CPU time of one call of `fn` (after warm-up)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    for _ in range(warmup):
        fn()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events) / 1e3
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    rows = [
        {"op": e.key, "ms": e.self_cpu_time_total / 1e3, "calls": e.count} for e in events[:top]
    ]
    return {"total_ms": total, "ops": rows}


def markdown(results, top):
    lines = ["# Where the time goes on PyTorch: keras_vt against Hugging Face", ""]
    for case, sides in results.items():
        lines += [
            f"## {case}",
            "",
            f"Self CPU time of one call (batch 8, 224 px), profiled: keras_vt "
            f"{sides['keras_vt']['total_ms']:.0f} ms, Hugging Face {sides['hf']['total_ms']:.0f} ms.",
            "",
            "| keras_vt op | ms | calls | share | HF op | ms | calls | share |",
            "|---|---|---|---|---|---|---|---|",
        ]
        mine, theirs = sides["keras_vt"], sides["hf"]
        for i in range(top):
            cells = []
            for side in (mine, theirs):
                if i < len(side["ops"]):
                    r = side["ops"][i]
                    share = 100 * r["ms"] / side["total_ms"]
                    cells += [f"`{r['op']}`", f"{r['ms']:.1f}", str(r["calls"]), f"{share:.0f} %"]
                else:
                    cells += ["", "", "", ""]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", default=",".join(CASES), help="comma-separated cases")
    p.add_argument("--top", type=int, default=12, help="operators listed per side")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls before the profile")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads")
    p.add_argument("--name", default="profile_torch", help="results/<name>.{json,md}")
    args = p.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        p.error(f"--cases: unknown {unknown}; expected some of {list(CASES)}")
    if os.environ["KERAS_BACKEND"] != "torch":
        p.error(f"KERAS_BACKEND must be torch, got {os.environ['KERAS_BACKEND']!r}")
    started = provenance()
    set_threads(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    results = {}
    for case in cases:
        keras_call, hf_call = build(case)
        results[case] = {
            "keras_vt": profile(keras_call, args.warmup, args.top),
            "hf": profile(hf_call, args.warmup, args.top),
        }
    text = markdown(results, args.top)
    print(text)
    write_json(args.name, {"cases": results}, started, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
