"""Trains the explorer's embedded default model and writes its sample images.

A `cpvt_mini_convstem_32_gap` (CPVT-GAP, 32 px: a convolutional stem down to an 8x8 token grid,
4 blocks of width 64, a PEG after the first, mean pooling) trained on the built-in shapes data
(10 classes, flat backgrounds) with the quick start's recipe: AdamW with warm-up and cosine
decay, no weight decay on biases and norms, label smoothing 0.1, random flips and 90-degree
rotations, on a CPU. Writes into keras_vt/assets/ (shipped with the package):

- explorer_cpvt_mini.weights.h5 and explorer_cpvt_mini.json (model name, classes, accuracy);
- sample_<class>.png: one 128 px image per class, drawn by the same generator (another seed).

Run from the repository root:

    python examples/train_explorer_default.py            # defaults used for the shipped files
    python examples/train_explorer_default.py --epochs 2 --num-images 2000 --output /tmp/check

The accuracy of the shipped weights and their per-epoch curve are in the JSON file (and
docs/viz.md).
"""

import argparse
import json
import os
import platform
import time

import numpy as np

MODEL = "cpvt_mini_convstem_32_gap"
STEM = "explorer_cpvt_mini"
DISPLAY_NAME = "cpvt_mini (shapes)"
SAMPLE_SIZE = 128


def write_samples(output, seed, num_classes, clutter):
    from PIL import Image

    from keras_vt import data

    images, labels = data.make_shapes(
        8 * num_classes, image_size=SAMPLE_SIZE, seed=seed, clutter=clutter
    )
    paths = []
    for label in range(num_classes):
        index = int(np.flatnonzero(labels == label)[0])
        path = os.path.join(output, f"sample_{data.CLASS_NAMES[label]}.png")
        Image.fromarray(images[index]).save(path, optimize=True)
        paths.append(path)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_output = os.path.join(os.path.dirname(__file__), "..", "keras_vt", "assets")
    parser.add_argument("--output", default=default_output, help="directory to write into")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--num-images", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--warmup-fraction", type=float, default=0.1, help="of all steps")
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="random flips and 90-degree rotations of every batch",
    )
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--depth", type=int, default=None, help="transformer blocks (4)")
    parser.add_argument("--hidden-dim", type=int, default=None, help="token width (64)")
    parser.add_argument("--num-heads", type=int, default=None, help="attention heads (4)")
    parser.add_argument("--mlp-dim", type=int, default=None, help="MLP width (128)")
    parser.add_argument(
        "--clutter",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="cluttered backgrounds (default: flat, so that the maps show the shape clearly)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import keras

    import keras_vt
    from keras_vt import data
    from keras_vt.training.classification import augmented_batches, classification_loss
    from keras_vt.training.schedules import NO_WEIGHT_DECAY

    keras.utils.set_random_seed(args.seed)
    os.makedirs(args.output, exist_ok=True)
    start, cpu_start, load_start = time.time(), time.process_time(), os.getloadavg()[0]
    num_val = args.num_images // 5
    images, labels = data.make_shapes(
        args.num_images + num_val,
        image_size=32,
        seed=args.seed,
        num_classes=args.num_classes,
        clutter=args.clutter,
    )
    overrides = {"num_classes": args.num_classes, "image_size": 32}
    for key in ("depth", "hidden_dim", "num_heads", "mlp_dim"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    model = keras_vt.create_model(MODEL, **overrides)
    x = np.asarray(keras_vt.preprocess(images, model), dtype="float32")
    (x_train, y_train), (x_val, y_val) = (
        (x[: args.num_images], labels[: args.num_images]),
        (x[args.num_images :], labels[args.num_images :]),
    )
    steps = args.epochs * -(-args.num_images // args.batch_size)
    warmup = int(steps * args.warmup_fraction)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, steps - warmup, warmup_target=args.learning_rate, warmup_steps=warmup
    )
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=0.05)
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    model.compile(
        optimizer=optimizer,
        loss=classification_loss(args.num_classes, args.label_smoothing),
        metrics=["accuracy"],
    )
    print(f"{MODEL}: {keras_vt.count_params(model):,} parameters, {args.num_classes} classes")
    train = augmented_batches(x_train, y_train, args.batch_size, args.seed, args.augment)
    history = model.fit(train, epochs=args.epochs, validation_data=(x_val, y_val), verbose=2)
    val_accuracy = model.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]
    minutes = (time.time() - start) / 60
    # A fresh, uncompiled copy: its weights file holds the model only, not the optimizer state.
    shipped = keras_vt.create_model(MODEL, **overrides)
    shipped.set_weights(model.get_weights())
    weights = f"{STEM}.weights.h5"
    shipped.save_weights(os.path.join(args.output, weights))
    manifest = {
        "display_name": DISPLAY_NAME,
        "model": MODEL,
        "overrides": overrides,
        "class_names": list(data.CLASS_NAMES[: args.num_classes]),
        "weights": weights,
        "val_accuracy": round(float(val_accuracy), 4),
        "val_images": int(num_val),
        "training": {
            "script": "examples/train_explorer_default.py",
            "epochs": args.epochs,
            "num_images": args.num_images,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "warmup_fraction": args.warmup_fraction,
            "label_smoothing": args.label_smoothing,
            "augment": args.augment,
            "val_accuracy_per_epoch": [round(float(a), 4) for a in history.history["val_accuracy"]],
            "cpu_minutes": round((time.process_time() - cpu_start) / 60, 1),
            "seed": args.seed,
            "clutter": args.clutter,
            "minutes": round(minutes, 1),
            "load_average": [round(load_start, 2), round(os.getloadavg()[0], 2)],
            "backend": keras.backend.backend(),
        },
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
    }
    with open(os.path.join(args.output, f"{STEM}.json"), "w") as file:
        json.dump(manifest, file, indent=2)
    samples = write_samples(args.output, args.seed + 1000, args.num_classes, args.clutter)
    print(
        f"validation accuracy {val_accuracy:.4f} after {minutes:.1f} min; wrote "
        f"{weights}, {STEM}.json and {len(samples)} samples to {os.path.abspath(args.output)}"
    )


if __name__ == "__main__":
    main()
