"""Show-Attend-Tell on the built-in captioned shapes: soft vs hard attention, several seeds.

Trains `show_attend_tell` (a small configuration, below) with teacher forcing for each attention
kind and seed under a per-run time budget, captions held-out images greedily, and reports
corpus BLEU-1..4 and exact match. Writes `benchmarks/results/captioner.json` and `.md` with the
date, the machine and its load average (the machine may be shared: timings are not comparable
across runs).

    KERAS_BACKEND=jax python examples/train_captioner.py            # ~12 min on 2 CPU cores
    KERAS_BACKEND=jax python examples/train_captioner.py --quick    # a smoke run, ~2 min
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import time

import keras
import numpy as np

import keras_vt
from keras_vt.data import make_captioned_shapes
from keras_vt.training.bleu import corpus_bleu, exact_match

MODEL = {
    "context_length": 10,
    "encoder": "resnet18",
    "encoder_config": {"depths": (1, 1, 1), "widths": (16, 32, 64), "stem": "small"},
    "embed_dim": 32,
    "hidden_dim": 96,
    "attention_dim": 48,
}


class TimeBudget(keras.callbacks.Callback):
    """Stops training after the epoch during which `seconds` have passed on `clock` (wall
    time by default; `time.process_time` counts this process's CPU seconds instead)."""

    def __init__(self, seconds, clock=time.perf_counter):
        super().__init__()
        self.seconds = seconds
        self.clock = clock
        self.epochs = 0

    def on_train_begin(self, logs=None):
        self.start = self.clock()

    def on_epoch_end(self, epoch, logs=None):
        self.epochs = epoch + 1
        if self.clock() - self.start > self.seconds:
            self.model.stop_training = True


def load(num_images, image_size, seed):
    data = make_captioned_shapes(num_images, image_size=image_size, seed=seed)
    images = data["images"].astype("float32") / 127.5 - 1.0
    return images, data["captions"]


def run(attention, seed, train, test, args):
    keras.utils.set_random_seed(seed)
    model = keras_vt.create_model(
        "show_attend_tell", image_size=args.image_size, attention=attention, seed=seed, **MODEL
    )
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    ids = model.tokenize(train[1])
    budget = TimeBudget(args.budget)
    start = time.perf_counter()
    history = model.fit(
        (train[0], ids),
        batch_size=args.batch_size,
        epochs=args.epochs,
        callbacks=[budget],
        verbose=0,
    )
    seconds = time.perf_counter() - start
    words = model.generate(test[0], max_length=model.context_length - 1)
    hypotheses = model.detokenize(words)
    references = [[c.lower()] for c in test[1]]
    bleu = corpus_bleu(references, hypotheses)
    return {
        "attention": attention,
        "seed": seed,
        "epochs": budget.epochs,
        "train_seconds": round(seconds, 1),
        "final_loss": float(history.history["loss"][-1]),
        "bleu": [round(b, 4) for b in bleu],
        "exact_match": round(exact_match(references, hypotheses), 4),
        "examples": [[r[0], h] for r, h in zip(references[:3], hypotheses[:3])],
        "parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
    }


def summary(results):
    rows = []
    for attention in sorted({r["attention"] for r in results}, reverse=True):
        runs = [r for r in results if r["attention"] == attention]
        cols = [[r["bleu"][i] for r in runs] for i in range(4)] + [[r["exact_match"] for r in runs]]
        cells = []
        for values in cols:
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{100 * statistics.mean(values):.1f} ± {100 * sd:.1f}")
        epochs = statistics.mean(r["epochs"] for r in runs)
        rows.append(f"| {attention} | {len(runs)} | {epochs:.1f} | " + " | ".join(cells) + " |")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--budget", type=float, default=100.0, help="seconds of training per run")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--attention", nargs="+", default=["soft", "hard"])
    parser.add_argument("--quick", action="store_true", help="a smoke run (tiny data, 1 seed)")
    parser.add_argument("--out", default="benchmarks/results/captioner")
    parser.add_argument(
        "--from-log",
        help="write the results files from the JSON lines an interrupted run printed (partial)",
    )
    args = parser.parse_args()
    if args.quick:
        args.train, args.test, args.budget, args.seeds = 200, 50, 10.0, [0]

    load_before = os.getloadavg()
    start = time.perf_counter()
    results = []
    if args.from_log:
        with open(args.from_log) as f:
            results = [json.loads(line) for line in f if line.startswith('{"attention"')]
        for r in results:
            r.setdefault("examples", [])
    else:
        train = load(args.train, args.image_size, seed=1000)
        test = load(args.test, args.image_size, seed=2000)  # held-out images (another seed)
        for seed in args.seeds:
            for attention in args.attention:
                result = run(attention, seed, train, test, args)
                print(json.dumps(result), flush=True)
                results.append(result)
    record = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPU cores",
        "backend": keras.backend.backend(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "wall_seconds": None if args.from_log else round(time.perf_counter() - start, 1),
        "partial_from_log": args.from_log,
        "config": {**MODEL, **{k: v for k, v in vars(args).items() if k != "out"}},
        "results": results,
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(record, f, indent=1)
    lines = [
        f"# Show-Attend-Tell on captioned shapes ({record['date']})",
        "",
        f"{record['machine']}, backend {record['backend']}, load average "
        f"{record['load_average_before']} -> {record['load_average_after']} (shared machine), "
        + (
            f"Partial: summarised from the runs that finished ({args.from_log}); the load "
            "average is the one at summary time. "
            if args.from_log
            else f"{record['wall_seconds']:.0f} s in all. "
        )
        + f"{args.train} training / {args.test} held-out "
        f"images at {args.image_size} px, {args.budget:.0f} s of training per run, greedy "
        "decoding, one reference caption per image. Mean ± standard deviation over seeds.",
        "",
        "| attention | seeds | epochs | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | exact match |",
        "|---|---|---|---|---|---|---|---|",
        *summary(results),
        "",
        "Examples (reference -> generated), first seed:",
        "",
    ]
    for r in results[: len(args.attention)]:
        lines += [f"- {r['attention']}: {ref!r} -> {hyp!r}" for ref, hyp in r["examples"]]
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
