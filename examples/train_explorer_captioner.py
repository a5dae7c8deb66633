"""Trains the explorer's embedded Show-Attend-Tell captioner (the "Captioner" tab).

The small configuration of `examples/train_captioner.py` (soft attention, 32 px, a 3-stage
ResNet encoder) trained with teacher forcing on the built-in captioned shapes for a budget of
CPU time (3 CPU-minutes of this process by default, checked at the end of each epoch), then
scored on held-out images (another seed) with greedy decoding: corpus BLEU-1..4 and exact match
(`keras_vt.training.bleu`). Writes into keras_vt/assets/ (shipped with the package):

- captioner_shapes.weights.h5: the weights;
- captioner_shapes.json: the model configuration, the measured scores, the date, the machine
  and its load average (the machine may be shared).

Run from the repository root:

    KERAS_BACKEND=jax nice -n 10 python examples/train_explorer_captioner.py
    python examples/train_explorer_captioner.py --budget 10 --train 200 --output /tmp/check
"""

import argparse
import datetime
import json
import os
import platform
import tempfile
import time

import keras
from train_captioner import MODEL, TimeBudget, load  # examples/ is on sys.path when run

import keras_vt
from keras_vt.training.bleu import corpus_bleu, exact_match

STEM = "captioner_shapes"  # not explorer_*: those are the attention tab's classifiers


def shipping_parser(description, train, budget):
    """The options the explorer's shipped-model scripts share."""
    parser = argparse.ArgumentParser(description=description)
    default_output = os.path.join(os.path.dirname(__file__), "..", "keras_vt", "assets")
    parser.add_argument("--output", default=default_output, help="directory to write into")
    parser.add_argument("--train", type=int, default=train, help="training examples")
    parser.add_argument("--test", type=int, default=300, help="held-out examples")
    parser.add_argument("--epochs", type=int, default=200, help="at most")
    parser.add_argument(
        "--budget", type=float, default=budget, help="CPU seconds of training (all threads)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def budget_fit(model, args, data, callbacks=(), **kwargs):
    """`model.fit` until `args.budget` CPU seconds have passed (at an epoch's end); returns the
    manifest's "training" entries."""
    budget = TimeBudget(args.budget, clock=time.process_time)
    start, cpu = time.perf_counter(), time.process_time()
    history = model.fit(
        *data, epochs=args.epochs, callbacks=[*callbacks, budget], verbose=2, **kwargs
    )
    return {
        "epochs": budget.epochs,
        "budget_cpu_seconds": args.budget,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "final_loss": round(float(history.history["loss"][-1]), 4),
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "backend": keras.backend.backend(),
    }


def ship(model, fresh, output, stem, manifest, load_before):
    """Writes `model`'s weights through `fresh` (the same architecture, never compiled: no
    optimizer state in the file) and the manifest, both atomically, as `output/stem.*`."""
    os.makedirs(output, exist_ok=True)
    weights = os.path.join(output, f"{stem}.weights.h5")
    fresh.set_weights(model.get_weights())
    handle, tmp = tempfile.mkstemp(suffix=".weights.h5", dir=output)
    os.close(handle)
    fresh.save_weights(tmp)
    os.replace(tmp, weights)
    os.chmod(weights, 0o644)
    manifest = {
        **manifest,
        "weights": os.path.basename(weights),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "load_average": [
            [round(x, 2) for x in load_before],
            [round(x, 2) for x in os.getloadavg()],
        ],
    }
    path = os.path.join(output, f"{stem}.json")
    with open(path + ".tmp", "w") as file:
        json.dump(manifest, file, indent=2)
    os.replace(path + ".tmp", path)
    print(json.dumps(manifest["held_out"]), f"{os.path.getsize(weights) / 2**20:.2f} MB")


def main(argv=None):
    parser = shipping_parser(__doc__.splitlines()[0], train=3000, budget=180.0)
    parser.add_argument("--image-size", type=int, default=32)
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    keras.utils.set_random_seed(args.seed)
    config = dict(MODEL, image_size=args.image_size, attention="soft", seed=args.seed)
    model = keras_vt.create_model("show_attend_tell", **config)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    train = load(args.train, args.image_size, seed=1000)
    test = load(args.test, args.image_size, seed=2000)
    training = budget_fit(
        model, args, [(train[0], model.tokenize(train[1]))], batch_size=args.batch_size
    )
    hypotheses = model.detokenize(model.generate(test[0]))
    references = [[c.lower()] for c in test[1]]
    bleu = corpus_bleu(references, hypotheses)
    manifest = {
        "display_name": "show_attend_tell (captioned shapes)",
        "model": "show_attend_tell",
        "config": {k: v for k, v in config.items() if k != "seed"},
        "preprocessing": "images / 127.5 - 1",
        "training": {
            "script": "examples/train_explorer_captioner.py",
            "train_images": args.train,
            **training,
        },
        "held_out": {
            "images": args.test,
            "seed": 2000,
            "bleu_1_4": [round(b, 4) for b in bleu],
            "exact_match": round(exact_match(references, hypotheses), 4),
            "examples": [[r[0], h] for r, h in zip(references[:5], hypotheses[:5])],
        },
    }
    fresh = keras_vt.create_model("show_attend_tell", **config)
    ship(model, fresh, args.output, STEM, manifest, load_before)


if __name__ == "__main__":
    main()
