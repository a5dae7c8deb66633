"""Train a DeiT at low resolution, then fine-tune it at a higher one (positions resampled).

Usage:
    python examples/finetune_higher_resolution.py                # shapes data, 16 -> 32 px
    python examples/finetune_higher_resolution.py --data DIR --low 112 --high 224
    python examples/finetune_higher_resolution.py --quick        # a smoke run

DeiT's recipe: train at 224 px, then `keras_vt.models.resize(model, 384)` (bicubic resampling of
the patch positions, class/distillation entries kept) and fine-tune briefly with a small learning
rate and almost no weight decay. Prints the high-resolution accuracy of the low-resolution model
evaluated as is (positions resampled, no fine-tuning) and after fine-tuning, next to a model
trained at the high resolution from scratch for the same number of epochs.
"""

import argparse

import keras
import numpy as np

import keras_vt
from keras_vt.preprocessing import normalization_constants


def normalise(images, model, size):
    mean, std = normalization_constants(model)
    x = keras.ops.image.resize(
        images.astype("float32") / 255.0, (size, size), interpolation="bicubic", antialias=True
    )
    return ((keras.ops.convert_to_numpy(x) - np.float32(mean)) / np.float32(std)).astype("float32")


def load(args):
    if args.data is None:
        x, y = keras_vt.data.make_shapes(args.num_images + args.num_images // 5, args.high)
        split = args.num_images
        return (x[:split], y[:split]), (x[split:], y[split:]), len(keras_vt.data.CLASS_NAMES)
    (train, val), names = keras_vt.data.image_folder_dataset(
        args.data, args.high, 256, validation_split=0.2, subset="both", seed=0
    )

    def to_numpy(ds):
        xs, ys = zip(*[(np.asarray(a), np.asarray(b)) for a, b in ds])
        return (np.concatenate(xs) * 255).astype("uint8"), np.concatenate(ys)

    return to_numpy(train), to_numpy(val), len(names)


def accuracy(model, x, y):
    return float(np.mean(model.predict(x, batch_size=256, verbose=0).argmax(-1) == y))


def fit(model, x, y, epochs, batch_size, learning_rate, weight_decay):
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=batch_size, epochs=epochs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="image folder (default: built-in shapes)")
    parser.add_argument("--low", type=int, default=16)
    parser.add_argument("--high", type=int, default=32)
    parser.add_argument("--patch-size", type=int, default=4)
    parser.add_argument("--num-images", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny model, 1 epoch")
    args = parser.parse_args()
    if args.quick:
        args.num_images, args.epochs, args.finetune_epochs = 256, 1, 1

    (x_train, y_train), (x_val, y_val), num_classes = load(args)
    config = dict(num_classes=num_classes, patch_size=args.patch_size)
    config.update(
        dict(hidden_dim=32, depth=2, num_heads=2, mlp_dim=64)
        if args.quick
        else dict(hidden_dim=192, depth=6, num_heads=3, mlp_dim=768)
    )

    def create(size):
        return keras_vt.create_model("deit_tiny_distilled_patch16_224", image_size=size, **config)

    low = create(args.low)
    print(f"== training at {args.low} px for {args.epochs} epochs")
    fit(low, normalise(x_train, low, args.low), y_train, args.epochs, args.batch_size, 1e-3, 0.05)
    results = {
        f"trained at {args.low} px, tested at {args.low} px": low.evaluate(
            normalise(x_val, low, args.low), y_val, verbose=0
        )[1]
    }

    high = keras_vt.models.resize(low, args.high)
    x_val_high = normalise(x_val, high, args.high)
    results[f"same model at {args.high} px, positions resampled"] = accuracy(
        high, x_val_high, y_val
    )
    print(f"== fine-tuning at {args.high} px for {args.finetune_epochs} epochs")
    fit(
        high,
        normalise(x_train, high, args.high),
        y_train,
        args.finetune_epochs,
        args.batch_size,
        1e-4,
        1e-8,
    )
    results[f"fine-tuned at {args.high} px"] = accuracy(high, x_val_high, y_val)

    scratch = create(args.high)
    print(f"== training at {args.high} px from scratch for {args.epochs} epochs")
    fit(
        scratch,
        normalise(x_train, scratch, args.high),
        y_train,
        args.epochs,
        args.batch_size,
        1e-3,
        0.05,
    )
    results[f"trained at {args.high} px from scratch"] = accuracy(scratch, x_val_high, y_val)

    print(f"\n| model | validation accuracy ({len(y_val)} images) |\n|---|---|")
    for label, value in results.items():
        print(f"| {label} | {100 * value:.1f}% |")


if __name__ == "__main__":
    main()
