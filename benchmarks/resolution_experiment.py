"""CPVT and CvT in miniature: resolution, translation and small data, on the built-in shapes.

Three questions from the CPVT and CvT papers, asked of small (CPU-sized) models trained from
scratch on `keras_vt.data.make_shapes` (10 classes), `--seeds` seeds each, mean ± std reported
whatever the outcome:

1. Resolution. Train at 32 px, evaluate at 32, 48 and 64 px (test images rendered at that size)
   with no fine-tuning: ViT with a learned position table (resampled bicubically to the new grid
   when the weights are loaded, as DeiT does) against CPVT (PEG after block 0), CPVT-GAP and CvT,
   which run at any size from the same weights.
2. Translation. Shift the 32-px test images by k pixels (down and right, the vacated strip filled
   with the edge pixels) and measure the relative change of the pooled features
   ||f(x) - f(shift(x))|| / ||f(x)|| and the share of predictions that change: learned
   positions (ViT) against the PEG (CPVT-GAP) and CvT. The patch size is 4, so k = 4 moves the
   image by exactly one token.
3. Small data. Train on `--small` images only (the same number of optimisation steps as with the
   full set) and compare CvT, CPVT and ViT of similar size (also shown with the full set, from
   part 1) with a ResNet-18 (small stem, widths
   divided by 8, 8/16/32/64, so that it has a similar parameter count and trains on a CPU in the
   same budget).

Results: `benchmarks/results/resolution_experiment.{json,md}` and the figure
`docs/figures/cpvt_cvt_resolution.png`.

Example:

    KERAS_BACKEND=tensorflow python benchmarks/resolution_experiment.py          # the full run
    KERAS_BACKEND=tensorflow python benchmarks/resolution_experiment.py --quick  # smoke test
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import keras_vt  # noqa: E402
from benchmarks.results_io import finish, provenance  # noqa: E402
from keras_vt.data import make_shapes  # noqa: E402
from keras_vt.models import CPVT, CvT, ResNet, VisionTransformer  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
FIGURE = ROOT / "docs" / "figures" / "cpvt_cvt_resolution.png"
NUM_CLASSES = 10
TRAIN_SIZE = 32
EVAL_SIZES = (32, 48, 64)
SHIFTS = (1, 2, 4, 8)

# CPU-sized configurations of similar parameter count (~0.1-0.17M), patch 4 at 32 px (8x8 grid).
TRANSFORMER = dict(patch_size=4, hidden_dim=64, depth=3, num_heads=2, mlp_dim=128)
MODELS = {
    "ViT (learned positions)": lambda n: VisionTransformer(
        image_size=32, num_classes=n, **TRANSFORMER
    ),
    "CPVT": lambda n: CPVT(image_size=32, num_classes=n, **TRANSFORMER),
    "CPVT-GAP": lambda n: CPVT(image_size=32, num_classes=n, pooling="gap", **TRANSFORMER),
    # CvT: stem 3/2/1 so that the last stage has a 4x4 map at 32 px (CvT-13: 14x14 at 224).
    "CvT": lambda n: CvT(
        image_size=32,
        num_classes=n,
        hidden_dims=(24, 48, 64),
        num_heads=(1, 2, 2),
        depths=(1, 1, 1),
        patch_sizes=(3, 3, 3),
        patch_strides=(2, 2, 2),
        patch_paddings=(1, 1, 1),
    ),
    "ResNet-18 (small stem, 1/8 width)": lambda n: ResNet(
        depths=(2, 2, 2, 2), widths=(8, 16, 32, 64), stem="small", image_size=32, num_classes=n
    ),
}
RESOLUTION_MODELS = ("ViT (learned positions)", "CPVT", "CPVT-GAP", "CvT")
TRANSLATION_MODELS = ("ViT (learned positions)", "CPVT-GAP", "CvT")
SMALL_DATA_MODELS = ("ViT (learned positions)", "CPVT", "CvT", "ResNet-18 (small stem, 1/8 width)")

# Published reference points (ImageNet top-1, from shared REFERENCE.md).
PAPERS = (
    "CPVT paper (ImageNet, DeiT-Ti size): trained at 224 and tested at 384 with no fine-tuning, "
    "DeiT-Ti 72.2 -> 71.2, CPVT-Ti 73.4 -> 74.2; CPVT-Ti-GAP 74.9. "
    "CvT paper: CvT-13 81.6 (20M), CvT-21 82.5 (32M), no position embedding."
)


def build(name, num_classes, seed):
    keras.utils.set_random_seed(seed)
    return MODELS[name](num_classes)


def to_inputs(images):
    return (images.astype("float32") / 255.0 - 0.5) / 0.25


def train(model, x, y, epochs, batch_size):
    # No XLA: every model runs at several input sizes, and compile time would dominate.
    model.compile(
        jit_compile=False,
        optimizer=keras.optimizers.AdamW(2e-3, weight_decay=0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=2)
    return model


def at_resolution(model, size, tmp):
    """The model at `size` px: itself when resolution-free, else ViT rebuilt with resampled table."""
    if not isinstance(model, VisionTransformer) or size == model.image_size:
        return model
    path = os.path.join(tmp, "vit.weights.h5")
    model.save_weights(path)
    config = dict(model.get_config(), image_size=size)
    resized = VisionTransformer.from_config(config)
    resized.load_weights(path)
    return resized


def accuracy(model, x, y):
    logits = model.predict(x, batch_size=250, verbose=0)
    return float(np.mean(np.argmax(logits, -1) == y))


def pooled(model):
    return keras.Model(model.input, model.get_layer("head").input)


def shift(images, k):
    padded = np.pad(images, ((0, 0), (k, 0), (k, 0), (0, 0)), mode="edge")
    return padded[:, : images.shape[1], : images.shape[2]]


def translation_probe(model, x):
    features = pooled(model)
    f0 = features.predict(x, batch_size=250, verbose=0)
    p0 = np.argmax(model.predict(x, batch_size=250, verbose=0), -1)
    rows = {}
    for k in SHIFTS:
        xs = shift(x, k)
        fk = features.predict(xs, batch_size=250, verbose=0)
        pk = np.argmax(model.predict(xs, batch_size=250, verbose=0), -1)
        change = np.linalg.norm(fk - f0, axis=-1) / np.linalg.norm(f0, axis=-1)
        rows[k] = {"feature_change": float(np.mean(change)), "flips": float(np.mean(pk != p0))}
    return rows


def mean_std(values):
    return float(np.mean(values)), float(np.std(values))


def fmt(values, scale=100.0, digits=1):
    m, s = mean_std(values)
    return f"{scale * m:.{digits}f} ± {scale * s:.{digits}f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--small-seeds", type=int, default=3, help="seeds of the small-data part")
    parser.add_argument("--quick", action="store_true", help="1 seed, tiny data: a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.train, args.small, args.test, args.epochs = 1, 128, 64, 64, 1
        args.small_seeds = 1
    started = provenance()
    start = time.perf_counter()

    train_x, train_y = make_shapes(args.train, TRAIN_SIZE, seed=1000, num_classes=NUM_CLASSES)
    train_x = to_inputs(train_x)
    tests = {}
    for size in EVAL_SIZES:
        x, y = make_shapes(args.test, size, seed=2000 + size, num_classes=NUM_CLASSES)
        tests[size] = (to_inputs(x), y)
    small_epochs = max(1, round(args.epochs * args.train / args.small))

    results = {"resolution": {}, "translation": {}, "small_data": {}, "params": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for name in RESOLUTION_MODELS:
                print(
                    f"\n== seed {seed}: {name}, {args.train} images at {TRAIN_SIZE} px", flush=True
                )
                model = train(
                    build(name, NUM_CLASSES, seed), train_x, train_y, args.epochs, args.batch_size
                )
                results["params"][name] = keras_vt.count_params(model)
                for size in EVAL_SIZES:
                    acc = accuracy(at_resolution(model, size, tmp), *tests[size])
                    results["resolution"].setdefault(name, {}).setdefault(size, []).append(acc)
                if name in TRANSLATION_MODELS:
                    probe = translation_probe(model, tests[TRAIN_SIZE][0])
                    for k, row in probe.items():
                        for key, value in row.items():
                            slot = results["translation"].setdefault(name, {}).setdefault(k, {})
                            slot.setdefault(key, []).append(value)
                if name in SMALL_DATA_MODELS:
                    results["small_data"].setdefault(name, {}).setdefault(args.train, []).append(
                        accuracy(model, *tests[TRAIN_SIZE])
                    )
            for name in SMALL_DATA_MODELS if seed < args.small_seeds else ():
                print(f"\n== seed {seed}: {name}, {args.small} images x {small_epochs} epochs")
                model = train(
                    build(name, NUM_CLASSES, seed),
                    train_x[: args.small],
                    train_y[: args.small],
                    small_epochs,
                    args.batch_size,
                )
                results["params"][name] = keras_vt.count_params(model)
                results["small_data"].setdefault(name, {}).setdefault(args.small, []).append(
                    accuracy(model, *tests[TRAIN_SIZE])
                )
    results["seconds"] = time.perf_counter() - start
    results["args"] = vars(args)
    results["backend"] = keras.backend.backend()
    results["provenance"] = finish(started)
    report(results, args)


def report(results, args):
    lines = [
        f"Backend {results['backend']}, {args.seeds} seeds, {args.train} training images at "
        f"{TRAIN_SIZE} px, {args.epochs} epochs, {args.test} test images per size; "
        f"{results['seconds'] / 60:.1f} min in all. Accuracy in %, mean ± std over seeds.",
        "",
        "| model | params | " + " | ".join(f"test {s} px" for s in EVAL_SIZES) + " |",
        "|---|---|" + "---|" * len(EVAL_SIZES),
    ]
    for name, by_size in results["resolution"].items():
        cells = " | ".join(fmt(by_size[s]) for s in EVAL_SIZES)
        lines.append(f"| {name} | {results['params'][name]:,} | {cells} |")
    lines += [
        "",
        "Translation probe (32 px test images shifted by k px): relative change of the pooled "
        "features (%) / share of predictions that change (%).",
        "",
        "| model | " + " | ".join(f"k = {k}" for k in SHIFTS) + " |",
        "|---|" + "---|" * len(SHIFTS),
    ]
    for name, by_k in results["translation"].items():
        cells = " | ".join(
            f"{fmt(by_k[k]['feature_change'])} / {fmt(by_k[k]['flips'])}" for k in SHIFTS
        )
        lines.append(f"| {name} | {cells} |")
    sizes = sorted({n for rows in results["small_data"].values() for n in rows})
    lines += [
        "",
        f"Small data (accuracy at 32 px; the same number of optimisation steps for each size; "
        f"{args.small_seeds} seed(s) at {args.small} images).",
        "",
        "| model | params | " + " | ".join(f"{n} images" for n in sizes) + " |",
        "|---|---|" + "---|" * len(sizes),
    ]
    for name, by_n in results["small_data"].items():
        cells = " | ".join(fmt(by_n[n]) if n in by_n else "—" for n in sizes)
        lines.append(f"| {name} | {results['params'][name]:,} | {cells} |")
    p = results["provenance"]
    lines += [
        "",
        PAPERS,
        "",
        f"{p['date']}, {p['machine']['cpu']} ({p['machine']['cpu_count']} cores), load average "
        f"{p['load_average_start']} -> {p['load_average_end']}; `{p['command']}`.",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "resolution_experiment.md").write_text(text + "\n")
    (RESULTS / "resolution_experiment.json").write_text(json.dumps(results, indent=1))
    figure(results, sizes)


def figure(results, sizes):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for name, by_size in results["resolution"].items():
        means = [100 * np.mean(by_size[s]) for s in EVAL_SIZES]
        stds = [100 * np.std(by_size[s]) for s in EVAL_SIZES]
        axes[0].errorbar(EVAL_SIZES, means, yerr=stds, marker="o", capsize=3, label=name)
    axes[0].set(
        xlabel="test resolution (px); trained at 32",
        ylabel="accuracy (%)",
        title="Resolution, no fine-tuning",
        xticks=EVAL_SIZES,
    )
    for name, by_k in results["translation"].items():
        means = [100 * np.mean(by_k[k]["feature_change"]) for k in SHIFTS]
        stds = [100 * np.std(by_k[k]["feature_change"]) for k in SHIFTS]
        axes[1].errorbar(SHIFTS, means, yerr=stds, marker="o", capsize=3, label=name)
    axes[1].set(
        xlabel="shift k (px); patch = 4 px",
        ylabel="pooled-feature change (%)",
        title="Translation probe",
        xticks=SHIFTS,
    )
    names = list(results["small_data"])
    width = 0.8 / len(sizes)
    for i, n in enumerate(sizes):
        means = [100 * np.mean(results["small_data"][m].get(n, [np.nan])) for m in names]
        stds = [100 * np.std(results["small_data"][m].get(n, [np.nan])) for m in names]
        axes[2].bar(
            np.arange(len(names)) + i * width,
            means,
            width,
            yerr=stds,
            capsize=3,
            label=f"{n} images",
        )
    axes[2].set_xticks(np.arange(len(names)) + width * (len(sizes) - 1) / 2)
    axes[2].set_xticklabels([m.split(" (")[0] for m in names])
    axes[2].set(ylabel="accuracy at 32 px (%)", title="Small data")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=80)


if __name__ == "__main__":
    main()
