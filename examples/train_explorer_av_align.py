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

import os

import keras
import numpy as np
from train_explorer_captioner import budget_fit, ship, shipping_parser  # examples/ on sys.path

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
    parser = shipping_parser(__doc__.splitlines()[0], train=1024, budget=180.0)
    parser.add_argument("--epochs-per-stage", type=int, default=5)
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    keras.utils.set_random_seed(args.seed)
    model = keras_vt.create_model("av_align_tiny", **CONFIG)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    data = AudioVisualSequence(args.train, batch_size=args.batch_size, seed=args.seed)
    curriculum = NoiseCurriculum(data, epochs_per_stage=args.epochs_per_stage)
    training = budget_fit(model, args, [data], callbacks=[curriculum])
    manifest = {
        "model": "av_align_tiny",
        "config": CONFIG,
        "training": {
            "script": "examples/train_explorer_av_align.py",
            "train_utterances": args.train,
            "curriculum_epochs_per_stage": args.epochs_per_stage,
            **training,
        },
        "held_out": {
            "utterances": args.test,
            "seed": TEST_SEED,
            "scores": [score(model, args.test, snr) for snr in TEST_SNRS],
        },
    }
    fresh = keras_vt.create_model("av_align_tiny", **CONFIG)
    ship(model, fresh, args.output, STEM, manifest, load_before)


if __name__ == "__main__":
    main()
