"""Trains the explorer's embedded AV Align model (the "AV Align" tab).

`av_align_tiny` with the CTC head and the action-unit loss, on the built-in audio-visual task
with the noise curriculum (clean -> 10 -> 0 -> -5 dB, `keras_vt.training.NoiseCurriculum`), for a
budget of CPU time (3 CPU-minutes of this process by default, checked at the end of each epoch),
then scored on held-out utterances (another seed) at several SNRs with greedy CTC decoding:
symbol error rate (edit distance / true symbols) and exact sequence match. Writes into
keras_vt/assets/ (shipped with the package):

- av_align_shapes.weights.h5: the weights (no optimizer state);
- av_align_shapes.json: the configuration, the measured scores, the date, the machine and its
  load average (the machine may be shared).

Run from the repository root:

    KERAS_BACKEND=jax nice -n 10 python examples/train_explorer_av_align.py
    python examples/train_explorer_av_align.py --budget 10 --train 128 --output /tmp/check
"""

import argparse
import datetime
import json
import os
import platform
import tempfile
import time

import keras
import numpy as np
from train_captioner import TimeBudget  # examples/ is on sys.path when run

import keras_vt
from keras_vt.data import make_audio_visual
from keras_vt.training import AudioVisualSequence, NoiseCurriculum

STEM = "av_align_shapes"
CONFIG = {"head": "ctc", "au_loss": True}
TEST_SEED = 3000
TEST_SNRS = (None, 10.0, 0.0, -5.0)


def edit_distance(a, b):
    """Levenshtein distance between two sequences."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def score(model, num_examples, snr_db):
    inputs, labels = make_audio_visual(num_examples, seed=TEST_SEED, snr_db=snr_db)
    decoded = model.decode(inputs)
    truth = [[int(t) for t in row if t > 0] for row in labels["tokens"]]
    errors = sum(edit_distance(d, t) for d, t in zip(decoded, truth))
    return {
        "snr_db": snr_db,
        "symbol_error_rate": round(errors / sum(len(t) for t in truth), 4),
        "exact_match": round(float(np.mean([d == t for d, t in zip(decoded, truth)])), 4),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_output = os.path.join(os.path.dirname(__file__), "..", "keras_vt", "assets")
    parser.add_argument("--output", default=default_output, help="directory to write into")
    parser.add_argument("--train", type=int, default=1024)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--epochs-per-stage", type=int, default=5)
    parser.add_argument(
        "--budget", type=float, default=180.0, help="CPU seconds of training (all threads)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    keras.utils.set_random_seed(args.seed)
    model = keras_vt.create_model("av_align_tiny", **CONFIG)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    data = AudioVisualSequence(args.train, batch_size=args.batch_size, seed=args.seed)
    budget = TimeBudget(args.budget, clock=time.process_time)
    curriculum = NoiseCurriculum(data, epochs_per_stage=args.epochs_per_stage)
    start, cpu = time.perf_counter(), time.process_time()
    history = model.fit(data, epochs=args.epochs, callbacks=[curriculum, budget], verbose=2)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    scores = [score(model, args.test, snr) for snr in TEST_SNRS]
    os.makedirs(args.output, exist_ok=True)
    weights = os.path.join(args.output, f"{STEM}.weights.h5")
    shipped = keras_vt.create_model("av_align_tiny", **CONFIG)  # no optimizer state saved
    shipped.set_weights(model.get_weights())
    handle, tmp = tempfile.mkstemp(suffix=".weights.h5", dir=args.output)
    os.close(handle)
    shipped.save_weights(tmp)
    os.replace(tmp, weights)
    os.chmod(weights, 0o644)
    manifest = {
        "model": "av_align_tiny",
        "config": CONFIG,
        "weights": os.path.basename(weights),
        "training": {
            "script": "examples/train_explorer_av_align.py",
            "train_utterances": args.train,
            "epochs": budget.epochs,
            "budget_cpu_seconds": args.budget,
            "wall_seconds": round(seconds, 1),
            "cpu_seconds": round(cpu_seconds, 1),
            "final_loss": round(float(history.history["loss"][-1]), 4),
            "curriculum_epochs_per_stage": args.epochs_per_stage,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "seed": args.seed,
            "backend": keras.backend.backend(),
        },
        "held_out": {"utterances": args.test, "seed": TEST_SEED, "scores": scores},
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
