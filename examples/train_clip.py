"""Train a small CLIP on captioned shapes on CPU, then test it zero-shot on held-out combinations.

Eight (colour, shape) pairs never appear in training ("red circle", "blue star", ...). After
training, the model classifies images of exactly those pairs from text prompts alone
(`keras_vt.ZeroShotClassifier`, prompt ensembling over the data set's templates), among the 8
held-out pairs (chance 12.5 %) and among all 96 pairs (chance 1 %), and retrieves captions of
held-in test images (R@1/5/10, median rank, both directions).

    KERAS_BACKEND=jax python examples/train_clip.py

Writes a figure to docs/figures/clip_zero_shot.png and prints a markdown table.
"""

import argparse
import time

import keras
import numpy as np

import keras_vt
from keras_vt import data
from keras_vt.text import train_caption_tokenizer

HOLDOUT = [
    ("red", "circle"),
    ("orange", "square"),
    ("yellow", "triangle"),
    ("green", "star"),
    ("cyan", "cross"),
    ("blue", "ring"),
    ("purple", "hexagon"),
    ("white", "heart"),
]


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
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)
    start = time.time()

    size = args.image_size
    train = data.make_captioned_shapes(args.train, size, seed=args.seed, holdout=HOLDOUT)
    heldout = data.make_captioned_shapes(800, size, seed=args.seed + 1, only=HOLDOUT)
    heldin = data.make_captioned_shapes(1000, size, seed=args.seed + 2, holdout=HOLDOUT)
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
        callbacks=[Deadline(start + 60 * (args.minutes - args.reserve))],
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
    print("| metric | value | chance |")
    print("|---|---|---|")
    print(f"| zero-shot, 8 held-out pairs | {100 * acc_held:.1f} % | 12.5 % |")
    print(
        f"| zero-shot, all {len(all_pairs)} pairs (held-out images) | {100 * acc_all:.1f} % | "
        f"{100 / len(all_pairs):.1f} % |"
    )
    print(
        f"|   colour right / shape right | {100 * colour_ok:.1f} % / {100 * shape_ok:.1f} % | "
        f"12.5 % / {100 / len(data.CLASS_NAMES):.1f} % |"
    )
    for d in ("image_to_text", "text_to_image"):
        r = [100 * retrieval[f"{d}_R@{k}"] for k in (1, 5, 10)]
        print(
            f"| {d} R@1/5/10 (1000 held-in pairs) | {r[0]:.1f} / {r[1]:.1f} / {r[2]:.1f} % | "
            f"0.1 / 0.5 / 1.0 % |"
        )
        print(f"| {d} median rank | {retrieval[f'{d}_median_rank']:.0f} | 500 |")
    print(
        f"| final in-batch image->text accuracy | "
        f"{100 * history.history['image_to_text_accuracy'][-1]:.1f} % | "
        f"{100 / args.batch_size:.1f} % |"
    )
    print(f"| final temperature | {history.history['temperature'][-1]:.4f} | init 0.07 |")

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
    print(f"figure: {args.figure}; total {(time.time() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
