"""Train a CNN teacher, then distil it into a DeiT student through the distillation token.

Usage:
    python examples/distill_deit.py                 # built-in shapes data, 32 px
    python examples/distill_deit.py --data DIR      # a folder with one sub-folder per class
    python examples/distill_deit.py --quick         # a smoke run (tiny models, few images)

Trains (1) a ResNet-18-layout teacher, (2) a DeiT student on labels alone, (3) a distilled
DeiT student (`--mode hard` or `soft`) with DeiT's augmentation (RandAugment, random erasing,
Mixup/CutMix, label smoothing) and optimiser (AdamW, warm-up, cosine), and prints a comparison
table. The trained student is saved to `--output` (a normal `.keras` model).
"""

import argparse

import keras
import numpy as np

import keras_vt
from keras_vt.preprocessing import normalization_constants
from keras_vt.training import augment, schedules, training_callbacks


def load(args):
    if args.data is None:
        x, y = keras_vt.data.make_shapes(args.num_images + args.num_images // 5, args.image_size)
        split = args.num_images
        return (x[:split], y[:split]), (x[split:], y[split:]), list(keras_vt.data.CLASS_NAMES)
    train, names = keras_vt.data.image_folder_dataset(
        args.data, args.image_size, 256, validation_split=0.2, subset="training", seed=0
    )
    val, _ = keras_vt.data.image_folder_dataset(
        args.data, args.image_size, 256, validation_split=0.2, subset="validation", seed=0
    )

    def to_numpy(ds):
        xs, ys = zip(*[(np.asarray(a), np.asarray(b)) for a, b in ds])
        return (np.concatenate(xs) * 255).astype("uint8"), np.concatenate(ys)

    return to_numpy(train), to_numpy(val), names


def normalise(images, model):
    mean, std = normalization_constants(model)
    return ((images / 255.0 - np.float32(mean)) / np.float32(std)).astype("float32")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="image folder (default: built-in shapes)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--num-images", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--teacher-epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--mode", default="hard", choices=["hard", "soft"])
    parser.add_argument("--output", default="deit_distilled.keras")
    parser.add_argument(
        "--resume", action="store_true", help="continue killed runs from OUTPUT.*.backup"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny models, 1 epoch")
    args = parser.parse_args()
    if args.quick:
        args.num_images, args.epochs, args.teacher_epochs = 256, 1, 1

    (x_train, y_train), (x_val, y_val), class_names = load(args)
    num_classes = len(class_names)
    student_config = dict(num_classes=num_classes, image_size=args.image_size, patch_size=4)
    student_config.update(
        dict(hidden_dim=32, depth=2, num_heads=2, mlp_dim=64)
        if args.quick
        else dict(hidden_dim=192, depth=6, num_heads=3, mlp_dim=768, drop_path_rate=0.1)
    )
    teacher = keras_vt.create_model(
        "resnet18",
        tiny=args.quick,
        num_classes=num_classes,
        image_size=args.image_size,
        stem="small",
    )
    steps = max(len(x_train) // args.batch_size, 1)

    print(f"== teacher: resnet18 ({keras_vt.count_params(teacher):,} parameters)")
    teacher.compile(
        optimizer=schedules.deit_optimizer(
            args.batch_size, steps, args.teacher_epochs, warmup_epochs=1, base_learning_rate=4e-3
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    teacher.fit(
        normalise(x_train, teacher), y_train, batch_size=args.batch_size, epochs=args.teacher_epochs
    )

    results = {"CNN teacher": teacher.evaluate(normalise(x_val, teacher), y_val, verbose=0)[1]}
    for label, mode in (
        ("DeiT, labels only", "none"),
        (f"DeiT, {args.mode} distillation", args.mode),
    ):
        print(f"== student: {label}")
        student = keras_vt.create_model("deit_tiny_distilled_patch16_224", **student_config)
        data = augment.deit_dataset(
            x_train, y_train, num_classes, args.batch_size, model=student, seed=0
        )
        distiller = keras_vt.training.Distiller(
            student,
            None if mode == "none" else teacher,
            mode=mode,
            alpha=0.5 if mode != "soft" else 0.1,
            temperature=1.0 if mode != "soft" else 3.0,
        )
        distiller.compile(
            optimizer=schedules.deit_optimizer(
                args.batch_size, steps, args.epochs, warmup_epochs=min(5, args.epochs // 4)
            )
        )
        # A backup after every epoch (resume with --resume) and a stop on a NaN loss.
        backup = f"{args.output}.{mode}.backup"
        distiller.fit(
            data, epochs=args.epochs, callbacks=training_callbacks(backup, resume=args.resume)
        )
        predictions = student.predict(normalise(x_val, student), verbose=0).argmax(-1)
        results[label] = float(np.mean(predictions == y_val))
    student.save(args.output)

    print(f"\n| model | validation accuracy ({len(y_val)} images) |\n|---|---|")
    for label, value in results.items():
        print(f"| {label} | {100 * value:.1f}% |")
    print(f"\nsaved the distilled student to {args.output}")


if __name__ == "__main__":
    main()
