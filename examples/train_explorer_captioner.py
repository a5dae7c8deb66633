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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_output = os.path.join(os.path.dirname(__file__), "..", "keras_vt", "assets")
    parser.add_argument("--output", default=default_output, help="directory to write into")
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument(
        "--budget", type=float, default=180.0, help="CPU seconds of training (all threads)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    keras.utils.set_random_seed(args.seed)
    config = dict(MODEL, image_size=args.image_size, attention="soft", seed=args.seed)
    model = keras_vt.create_model("show_attend_tell", **config)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    train = load(args.train, args.image_size, seed=1000)
    test = load(args.test, args.image_size, seed=2000)
    budget = TimeBudget(args.budget, clock=time.process_time)
    start, cpu = time.perf_counter(), time.process_time()
    history = model.fit(
        (train[0], model.tokenize(train[1])),
        batch_size=args.batch_size,
        epochs=args.epochs,
        callbacks=[budget],
        verbose=2,
    )
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    hypotheses = model.detokenize(model.generate(test[0]))
    references = [[c.lower()] for c in test[1]]
    bleu = corpus_bleu(references, hypotheses)
    os.makedirs(args.output, exist_ok=True)
    weights = os.path.join(args.output, f"{STEM}.weights.h5")
    handle, tmp = tempfile.mkstemp(suffix=".weights.h5", dir=args.output)
    os.close(handle)
    shipped = keras_vt.create_model("show_attend_tell", **config)  # no optimizer state saved
    shipped.set_weights(model.get_weights())
    shipped.save_weights(tmp)
    os.replace(tmp, weights)
    manifest = {
        "display_name": "show_attend_tell (captioned shapes)",
        "model": "show_attend_tell",
        "config": {k: v for k, v in config.items() if k != "seed"},
        "weights": os.path.basename(weights),
        "preprocessing": "images / 127.5 - 1",
        "training": {
            "script": "examples/train_explorer_captioner.py",
            "train_images": args.train,
            "epochs": budget.epochs,
            "budget_cpu_seconds": args.budget,
            "wall_seconds": round(seconds, 1),
            "cpu_seconds": round(cpu_seconds, 1),
            "final_loss": round(float(history.history["loss"][-1]), 4),
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "seed": args.seed,
            "backend": keras.backend.backend(),
        },
        "held_out": {
            "images": args.test,
            "seed": 2000,
            "bleu_1_4": [round(b, 4) for b in bleu],
            "exact_match": round(exact_match(references, hypotheses), 4),
            "examples": [[r[0], h] for r, h in zip(references[:5], hypotheses[:5])],
        },
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "load_average": [
            [round(x, 2) for x in load_before],
            [round(x, 2) for x in os.getloadavg()],
        ],
    }
    path = os.path.join(args.output, f"{STEM}.json")
    with open(path + ".tmp", "w") as file:
        json.dump(manifest, file, indent=2)
    os.replace(path + ".tmp", path)
    print(json.dumps(manifest["held_out"]), f"{os.path.getsize(weights) / 2**20:.2f} MB")


if __name__ == "__main__":
    main()
