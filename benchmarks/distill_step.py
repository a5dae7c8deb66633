"""Cost of a distillation training step against a student step plus a teacher forward pass.

Usage: python benchmarks/distill_step.py [--batch-size 32] [--image-size 64] [--steps 10]
       [--mode hard]   (KERAS_BACKEND picks the backend)

Times over `--steps` interleaved rounds (one of each per round, after two warm-up calls), median
and minimum (the minimum is the least disturbed by other processes on a shared machine):
  student:  `Distiller(student, None, mode="none").train_on_batch` (same student and loss
            machinery, no teacher),
  teacher:  `teacher.predict_on_batch` (inference forward pass),
  distill:  `Distiller(student, teacher, mode).train_on_batch`,
  overhead: `predict_on_batch` of an identity model on the same batch (one call's dispatch and
            host transfer, no compute).
The distillation step is one call; student step + teacher forward are two. Summing the two
separately timed calls charges the denominator one extra call's dispatch overhead, which flatters
the ratio, so the corrected ratio subtracts it:
  ratio = distill / (student + teacher - overhead),
and the uncorrected ratio distill / (student + teacher) is reported next to it, as is the paired
per-round median of the same ratio. Acceptance (issue 3): distill <= 1.15 x (student + teacher).
Results: `benchmarks/results/distill_step_<backend>.{json,md}` with date, machine and load average.
Student: DeiT-Ti distilled (192 wide, 12 blocks) at `--image-size` with patch 8;
teacher: ResNet-18 (imagenet stem) at the same size, 10 classes.
"""

import argparse
import statistics
import sys
from pathlib import Path

import keras
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras_vt  # noqa: E402
from benchmarks.results_io import provenance, write_json  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/harness.py
from harness import interleaved_times  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--mode", default="hard", choices=["hard", "soft"])
    args = parser.parse_args()
    started = provenance()

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch_size, args.image_size, args.image_size, 3)).astype("float32")
    y = rng.integers(0, 10, size=(args.batch_size,))
    student = keras_vt.create_model(
        "deit_tiny_distilled_patch16_224", num_classes=10, image_size=args.image_size, patch_size=8
    )
    teacher = keras_vt.create_model("resnet18", num_classes=10, image_size=args.image_size)

    plain = keras_vt.training.Distiller(student, None, mode="none")
    plain.compile(optimizer=keras.optimizers.AdamW(1e-4))
    distiller = keras_vt.training.Distiller(student, teacher, mode=args.mode)
    distiller.compile(optimizer=keras.optimizers.AdamW(1e-4))
    identity = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.Identity()])

    times = interleaved_times(
        {
            "student step": lambda: plain.train_on_batch(x, y),
            "teacher forward": lambda: teacher.predict_on_batch(x),
            "distill step": lambda: distiller.train_on_batch(x, y),
            "call overhead": lambda: identity.predict_on_batch(x),
        },
        args.steps,
    )
    lines = [
        f"backend {keras.backend.backend()}, batch {args.batch_size}, {args.image_size} px, "
        f"mode {args.mode}, {args.steps} interleaved rounds",
        "",
        "| call | median ms | min ms |",
        "|---|---|---|",
    ]
    for name, values in times.items():
        lines.append(
            f"| {name} | {1000 * statistics.median(values):.1f} | {1000 * min(values):.1f} |"
        )
    lines += ["", "| ratio | median | min |", "|---|---|---|"]
    ratios = {}
    for corrected in (True, False):
        key = (
            "distill / (student + teacher - overhead)"
            if corrected
            else ("distill / (student + teacher)")
        )
        ratios[key] = {}
        for stat in (statistics.median, min):
            denominator = stat(times["student step"]) + stat(times["teacher forward"])
            if corrected:
                denominator -= stat(times["call overhead"])
            ratios[key][stat.__name__] = stat(times["distill step"]) / denominator
        lines.append(f"| {key} | {ratios[key]['median']:.3f} | {ratios[key]['min']:.3f} |")
    paired = [
        d / (s + t - o)
        for d, s, t, o in zip(
            times["distill step"],
            times["student step"],
            times["teacher forward"],
            times["call overhead"],
        )
    ]
    ratios["paired per-round, corrected"] = {"median": statistics.median(paired)}
    lines.append(f"| paired per-round ratio, corrected | {statistics.median(paired):.3f} | |")
    verdict = ratios["distill / (student + teacher - overhead)"]["median"]
    lines.append(
        f"\nAcceptance (corrected median ratio <= 1.15): {'pass' if verdict <= 1.15 else 'FAIL'} "
        f"({verdict:.3f})."
    )
    print("\n".join(lines))
    results = {
        "args": vars(args),
        "backend": keras.backend.backend(),
        "times_s": times,
        "ratios": ratios,
    }
    path = write_json(f"distill_step_{keras.backend.backend()}", results, started, "\n".join(lines))
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
