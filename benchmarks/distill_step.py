"""Cost of a distillation training step against a student step plus a teacher forward pass.

Usage: python benchmarks/distill_step.py [--batch-size 32] [--image-size 64] [--steps 10]
       [--mode hard]   (KERAS_BACKEND picks the backend)

Times over `--steps` interleaved rounds (one of each per round, after two warm-up calls), median
and minimum (the minimum is the least disturbed by other processes on a shared machine):
  student:  `Distiller(student, None, mode="none").train_on_batch` (same student and loss
            machinery, no teacher),
  teacher:  `teacher.predict_on_batch` (inference forward pass),
  distill:  `Distiller(student, teacher, mode).train_on_batch`.
Acceptance (issue 3): distill <= 1.15 x (student + teacher).
Student: DeiT-Ti distilled (192 wide, 12 blocks) at `--image-size` with patch 8;
teacher: ResNet-18 (imagenet stem) at the same size, 10 classes.
"""

import argparse
import statistics
import sys
from pathlib import Path

import keras
import numpy as np

import keras_vt

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/harness.py
from harness import interleaved_times  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--mode", default="hard", choices=["hard", "soft"])
    args = parser.parse_args()

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

    times = interleaved_times(
        {
            "student step": lambda: plain.train_on_batch(x, y),
            "teacher forward": lambda: teacher.predict_on_batch(x),
            "distill step": lambda: distiller.train_on_batch(x, y),
        },
        args.steps,
    )
    print(
        f"backend {keras.backend.backend()}, batch {args.batch_size}, {args.image_size} px, "
        f"mode {args.mode}, {args.steps} interleaved rounds"
    )
    print(f"{'':16s} {'median ms':>10s} {'min ms':>10s}")
    for name, values in times.items():
        print(f"{name:16s} {1000 * statistics.median(values):10.1f} {1000 * min(values):10.1f}")
    for stat in (statistics.median, min):
        ratio = stat(times["distill step"]) / (
            stat(times["student step"]) + stat(times["teacher forward"])
        )
        verdict = "pass" if ratio <= 1.15 else "FAIL"
        print(
            f"ratio distill / (student + teacher), {stat.__name__:6s} = {ratio:.3f} "
            f"(acceptance <= 1.15: {verdict})"
        )


if __name__ == "__main__":
    main()
