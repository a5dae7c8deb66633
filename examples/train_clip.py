"""Train a small CLIP on captioned shapes on CPU, then test it zero-shot on held-out combinations.

Eight (colour, shape) pairs never appear in training. They are chosen so that the 8-way test needs
both words: four colours and four shapes, each used by exactly two held-out pairs ("red circle",
"red square", "green square", ...), so colour alone or shape alone narrows the eight down to two
(a 50 % ceiling), never to one. Every held-out colour and shape is seen in training with other
partners. After training, the model classifies images of exactly those pairs from text prompts
alone (`keras_vt.ZeroShotClassifier`, prompt ensembling over the data set's templates), among the 8
held-out pairs (chance 12.5 %) and among all 96 pairs (the compositional figure, chance 1 %), and
retrieves captions of held-in test images (R@1/5/10, median and mean rank, both directions, ties
averaged). The held-in retrieval set is deduplicated: its 1,000 captions are all different (images
are drawn until 1,000 distinct captions are found), so no distractor caption is word for word the
true one.

    KERAS_BACKEND=jax nice -n 5 python examples/train_clip.py

Writes a figure to docs/figures/clip_zero_shot.png, prints a markdown table and writes the figures
with date, machine and load average to benchmarks/results/clip_example.{json,md}.
"""

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import keras
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras_vt  # noqa: E402
from benchmarks.results_io import provenance, write_json  # noqa: E402
from keras_vt import data  # noqa: E402
from keras_vt.text import train_caption_tokenizer  # noqa: E402
from keras_vt.training import training_callbacks  # noqa: E402

# A cycle over four colours and four shapes: each colour and each shape is in exactly two pairs.
HOLDOUT = [
    ("red", "circle"),
    ("red", "square"),
    ("green", "square"),
    ("green", "triangle"),
    ("blue", "triangle"),
    ("blue", "star"),
    ("yellow", "star"),
    ("yellow", "circle"),
]


def single_word_ceilings(pairs):
    """Best 8-way accuracy reachable from the colour alone and from the shape alone.

    A classifier that knows only the colour must guess among the held-out pairs of that colour;
    with balanced test pairs its best accuracy is the mean of 1 / (pairs sharing the colour).
    """
    colours = Counter(c for c, _ in pairs)
    shapes = Counter(s for _, s in pairs)
    return (
        float(np.mean([1 / colours[c] for c, _ in pairs])),
        float(np.mean([1 / shapes[s] for _, s in pairs])),
    )


def unique_captions(num, size, seed, holdout):
    """`num` held-in images whose captions are all different (first occurrence kept)."""
    draw = data.make_captioned_shapes(2 * num, size, seed=seed, holdout=holdout)
    seen, keep = set(), []
    for i, caption in enumerate(draw["captions"]):
        if caption not in seen:
            seen.add(caption)
            keep.append(i)
    if len(keep) < num:
        raise ValueError(f"Only {len(keep)} distinct captions among {2 * num} images, need {num}.")
    keep = np.array(keep[:num])
    duplicates = 2 * num - len(seen)
    return {"images": draw["images"][keep], "captions": [draw["captions"][i] for i in keep]}, {
        "drawn": 2 * num,
        "distinct": len(seen),
        "duplicates_dropped_before_cut": duplicates,
    }


class Deadline(keras.callbacks.Callback):
    """Stops training after the first batch that ends past `deadline` (a `time.time()` value)."""

    def __init__(self, deadline):
        super().__init__()
        self.deadline = deadline

    def on_train_batch_end(self, batch, logs=None):
        if time.time() > self.deadline:
            self.model.stop_training = True


def images_to_inputs(images, model):
    return np.asarray(keras_vt.preprocess(images, model))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=10000, help="training images")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--image-size", type=int, default=48, help="a multiple of 8")
    parser.add_argument(
        "--minutes", type=float, default=14.0, help="wall-clock budget of the whole script"
    )
    parser.add_argument(
        "--reserve", type=float, default=1.5, help="minutes of the budget kept for evaluation"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--figure", default="docs/figures/clip_zero_shot.png")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--backup-dir", default="train_clip.backup", help="backup written after every epoch"
    )
    parser.add_argument("--resume", action="store_true", help="continue a killed run")
    parser.add_argument(
        "--results", default="clip_example", help="name of the file under benchmarks/results/"
    )
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)
    started = provenance()
    start = time.time()
    colour_ceiling, shape_ceiling = single_word_ceilings(HOLDOUT)
    if max(colour_ceiling, shape_ceiling) >= 1.0:
        raise ValueError(
            f"HOLDOUT {HOLDOUT} can be solved from one word; every held-out colour and "
            "shape must belong to two or more held-out pairs."
        )

    size = args.image_size
    train = data.make_captioned_shapes(args.train, size, seed=args.seed, holdout=HOLDOUT)
    heldout = data.make_captioned_shapes(800, size, seed=args.seed + 1, only=HOLDOUT)
    heldin, dedup = unique_captions(1000, size, args.seed + 2, HOLDOUT)
    templates = list(data.caption_templates())
    prompts = [
        t.format(data.shape_phrase(c, s))
        for c in data.COLOUR_NAMES
        for s in data.CLASS_NAMES
        for t in templates
    ]
    tokenizer = train_caption_tokenizer(
        list(train["captions"]) + prompts, vocabulary_size=256, context_length=16
    )
    print(f"data + tokenizer: {time.time() - start:.0f} s, vocabulary {tokenizer.vocabulary_size}")

    clip = keras_vt.create_model(
        "clip_vit_tiny_patch8_64",
        vocabulary_size=tokenizer.vocabulary_size,
        context_length=tokenizer.context_length,
        image_size=size,
    )
    print(f"parameters: {keras_vt.count_params(clip):,}")
    x = images_to_inputs(train["images"], clip)
    ids = np.asarray(tokenizer(train["captions"]))
    steps = args.epochs * (len(x) // args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, steps - steps // 20, alpha=0.01, warmup_target=1e-3, warmup_steps=steps // 20
    )
    clip.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.05))
    history = clip.fit(
        (x, ids),
        batch_size=args.batch_size,
        epochs=args.epochs,
        callbacks=[
            *training_callbacks(args.backup_dir, resume=args.resume),
            Deadline(start + 60 * (args.minutes - args.reserve)),
        ],
        verbose=1,
    )
    train_seconds = time.time() - start

    held_pairs = [f"{c} {s}" for c, s in HOLDOUT]
    all_pairs = [(c, s) for c in data.COLOUR_NAMES for s in data.CLASS_NAMES]
    phrases = [data.shape_phrase(c, s) for c, s in all_pairs]
    classifier = keras_vt.ZeroShotClassifier(clip, phrases, templates, tokenizer)
    xh = images_to_inputs(heldout["images"], clip)
    logits = classifier.predict(xh, batch_size=256, verbose=0)
    truth = np.array([all_pairs.index((a["colour"], a["shape"])) for a in heldout["attributes"]])
    held_index = np.array([all_pairs.index(p) for p in HOLDOUT])
    acc_all = float(np.mean(logits.argmax(-1) == truth))
    held_pred = held_index[logits[:, held_index].argmax(-1)]
    acc_held = float(np.mean(held_pred == truth))
    colour_ok = np.mean(
        [all_pairs[p][0] == all_pairs[t][0] for p, t in zip(logits.argmax(-1), truth)]
    )
    shape_ok = np.mean(
        [all_pairs[p][1] == all_pairs[t][1] for p, t in zip(logits.argmax(-1), truth)]
    )

    xi = images_to_inputs(heldin["images"], clip)
    emb_i = np.asarray(clip.image_encoder.predict(xi, batch_size=256, verbose=0))
    emb_t = np.asarray(
        clip.text_encoder.predict(
            np.asarray(tokenizer(heldin["captions"])), batch_size=256, verbose=0
        )
    )
    retrieval = keras_vt.training.retrieval_metrics(emb_i, emb_t)

    epochs_run = len(history.history["loss"])
    print(
        f"\ndata, tokenizer and {epochs_run} epochs of training: {train_seconds / 60:.1f} min "
        f"(backend {keras.backend.backend()})"
    )
    table = []
    table.append("| metric | value | chance |")
    table.append("|---|---|---|")
    table.append(
        f"| zero-shot, 8 held-out pairs | {100 * acc_held:.1f} % | 12.5 % (one word alone: "
        f"{100 * colour_ceiling:.0f} % colour, {100 * shape_ceiling:.0f} % shape) |"
    )
    table.append(
        f"| zero-shot, all {len(all_pairs)} pairs (held-out images) | {100 * acc_all:.1f} % | "
        f"{100 / len(all_pairs):.1f} % |"
    )
    table.append(
        f"|   colour right / shape right | {100 * colour_ok:.1f} % / {100 * shape_ok:.1f} % | "
        f"12.5 % / {100 / len(data.CLASS_NAMES):.1f} % |"
    )
    for d in ("image_to_text", "text_to_image"):
        r = [100 * retrieval[f"{d}_R@{k}"] for k in (1, 5, 10)]
        table.append(
            f"| {d} R@1/5/10 (1000 held-in pairs, distinct captions) | {r[0]:.1f} / {r[1]:.1f} / {r[2]:.1f} % | "
            f"0.1 / 0.5 / 1.0 % |"
        )
        table.append(
            f"| {d} median / mean rank | {retrieval[f'{d}_median_rank']:.1f} / "
            f"{retrieval[f'{d}_mean_rank']:.1f} | 500.5 |"
        )
    table.append(
        f"| final in-batch image->text accuracy | "
        f"{100 * history.history['image_to_text_accuracy'][-1]:.1f} % | "
        f"{100 / args.batch_size:.1f} % |"
    )
    table.append(f"| final temperature | {history.history['temperature'][-1]:.4f} | init 0.07 |")

    print("\n".join(table))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(11, 4.2))
    ax = fig.add_subplot(1, 3, 1)
    ax.plot(history.history["loss"], label="loss")
    ax.set_xlabel("epoch")
    ax.set_title("contrastive loss")
    ax2 = fig.add_subplot(1, 3, 2)
    ax2.plot(history.history["image_to_text_accuracy"], label="image→text")
    ax2.plot(history.history["text_to_image_accuracy"], label="text→image")
    ax2.set_xlabel("epoch")
    ax2.set_title(f"in-batch accuracy (batch {args.batch_size})")
    ax2.legend()
    grid = fig.add_gridspec(2, 12, left=0.68, right=0.99, wspace=0.1, hspace=0.6)
    for k in range(8):
        i = int(np.flatnonzero(truth == held_index[k])[0])
        axk = fig.add_subplot(grid[k // 4, 3 * (k % 4) : 3 * (k % 4) + 3])
        axk.imshow(heldout["images"][i])
        axk.axis("off")
        guess = all_pairs[int(held_pred[i])]
        ok = guess == all_pairs[truth[i]]
        axk.set_title(" ".join(guess), fontsize=7, color="green" if ok else "red")
    fig.suptitle(
        f"Small CLIP on captioned shapes: zero-shot on held-out pairs {100 * acc_held:.0f} % "
        f"(chance 12.5 %), {', '.join(held_pairs[:3])}, ...",
        fontsize=9,
    )
    fig.savefig(args.figure, dpi=80)
    results = {
        "args": vars(args),
        "holdout": [" ".join(p) for p in HOLDOUT],
        "epochs_run": epochs_run,
        "train_minutes": train_seconds / 60,
        "parameters": keras_vt.count_params(clip),
        "zero_shot_heldout_8way": acc_held,
        "zero_shot_heldout_8way_chance": 1 / len(HOLDOUT),
        "zero_shot_heldout_8way_colour_only_ceiling": colour_ceiling,
        "zero_shot_heldout_8way_shape_only_ceiling": shape_ceiling,
        "zero_shot_compositional_96way": acc_all,
        "zero_shot_compositional_96way_chance": 1 / len(all_pairs),
        "compositional_colour_right": float(colour_ok),
        "compositional_shape_right": float(shape_ok),
        "heldin_retrieval": retrieval,
        "heldin_retrieval_set": dict(
            dedup, size=len(heldin["captions"]), duplicates="deduplicated: captions all distinct"
        ),
        "final_in_batch_image_to_text_accuracy": history.history["image_to_text_accuracy"][-1],
        "final_temperature": history.history["temperature"][-1],
    }
    path = write_json(args.results, results, started, markdown="\n".join(table))
    print(f"figure: {args.figure}; results: {path}; total {(time.time() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
