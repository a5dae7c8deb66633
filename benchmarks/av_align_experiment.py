"""AV Align's findings on the built-in audio-visual task, at CPU scale, 3 seeds, mean +- std.

Usage: KERAS_BACKEND=jax python benchmarks/av_align_experiment.py [--seeds 3]
           [--train-examples 512] [--epochs-per-stage 3] [--test-examples 128]

Four variants of the same tiny model (`av_align_tiny`, per-frame head), each trained with the
noise curriculum (clean -> 10 -> 0 -> -5 dB, `--epochs-per-stage` epochs each,
`keras_vt.training.NoiseCurriculum`):

1. audio-only, 2. video-only (the audio stream gives timing only), 3. AV Align, 4. AV Align with
the action-unit loss (weight 10).

Per test SNR (clean, 10, 0, -5 dB): per-frame accuracy over the valid audio frames (silence is a
class) and, for the symbol frames alone, the share of the confusable pairs' frames that are right.
The video ablation: AV models evaluated with the video replaced by zeros, and with the videos
shuffled across the test set (each utterance gets another's lips). Alignment quality on the
clean test set: the share of valid audio frames whose attention argmax lies within +-1 video
frame of the true alignment, and monotonicity (the share of consecutive audio frames whose
argmax does not move backwards). Writes benchmarks/results/av_align_experiment.{json,md} and
docs/figures/av_align_alignment.png.

Each variant is compiled once; the seeds re-initialise its weights (a fresh model built under
the seed) and zero its optimiser state, so XLA compiles each variant's functions once.

Measured with the defaults (JAX): 1.8 min on the 2-core machine with nothing else running
(2026-12-03); 21.1 min at load average 25-28 (2026-11-29). `--train-examples 256
--epochs-per-stage 2` for a quicker look.
"""

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path

import keras
import numpy as np

import keras_vt
from keras_vt.data import audio_visual
from keras_vt.training.callbacks import training_callbacks
from keras_vt.viz import plot_alignment

ROOT = Path(__file__).resolve().parents[1]
SNRS = (None, 10.0, 0.0, -5.0)
VARIANTS = {
    "audio-only": dict(modality="audio"),
    "video-only": dict(modality="video"),
    "AV Align": dict(modality="av"),
    "AV Align + AU loss": dict(modality="av", au_loss=True),
}
DATA = dict(max_symbols=3)


def snr_name(snr):
    return "clean" if snr is None else f"{snr:g} dB"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--train-examples", type=int, default=512)
    parser.add_argument("--test-examples", type=int, default=128)
    parser.add_argument("--epochs-per-stage", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument(
        "--figure", default=str(ROOT / "docs" / "figures" / "av_align_alignment.png")
    )
    args = parser.parse_args(argv)
    for name in ("seeds", "train_examples", "test_examples", "epochs_per_stage", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; expected some of {list(VARIANTS)}")
    return args


def frame_scores(logits, inputs, labels):
    """(accuracy over valid audio frames, accuracy on the confusable symbols' frames)."""
    predicted = logits.argmax(-1)
    mask = inputs["audio_mask"]
    frames = labels["frames"]
    right = (predicted == frames) & mask
    confusable = mask & np.isin(
        frames,
        [s for pair in audio_visual.AUDIO_ONLY_PAIRS + audio_visual.VIDEO_ONLY_PAIRS for s in pair],
    )
    return right.sum() / mask.sum(), right[confusable].sum() / max(confusable.sum(), 1)


def pair_scores(logits, inputs, labels):
    """Accuracy on the frames of symbols told apart only by audio, and only by video."""
    predicted = logits.argmax(-1)
    mask = inputs["audio_mask"]
    frames = labels["frames"]
    out = {}
    for name, pairs in (
        ("audio_pairs", audio_visual.AUDIO_ONLY_PAIRS),
        ("video_pairs", audio_visual.VIDEO_ONLY_PAIRS),
    ):
        sel = mask & np.isin(frames, [s for p in pairs for s in p])
        out[name] = float(((predicted == frames) & sel).sum() / max(sel.sum(), 1))
    return out


def alignment_quality(cross, inputs, labels):
    """(share within +-1 video frame of the true alignment, monotonicity) over valid frames."""
    argmax = cross.mean(1).argmax(-1)  # heads averaged -> (batch, audio frames)
    mask = inputs["audio_mask"]
    true = labels["alignment"]
    within = (np.abs(argmax - true) <= 1) & mask
    steps = mask[:, 1:] & mask[:, :-1]
    forward = (np.diff(argmax, axis=1) >= 0) & steps
    return float(within.sum() / mask.sum()), float(forward.sum() / steps.sum())


def fresh_weights(config, seed):
    keras.utils.set_random_seed(seed)
    model = keras_vt.create_model("av_align_tiny", **config)
    return model.get_weights()


def reset_optimizer(optimizer):
    """Zeroes the step count and the moment estimates (a fresh Adam), keeping the learning rate."""
    for variable in optimizer.variables:
        if "learning_rate" in variable.path:
            continue
        variable.assign(np.zeros(variable.shape, variable.dtype))


def run(args):
    test = {
        snr: keras_vt.data.make_audio_visual(args.test_examples, seed=10_000, snr_db=snr, **DATA)
        for snr in SNRS
    }
    rng = np.random.default_rng(0)
    shuffle = rng.permutation(args.test_examples)
    results = {}
    figure_data = None
    timings = {}
    for variant in args.variants:
        config = dict(head="frame", **VARIANTS[variant])
        keras.utils.set_random_seed(0)
        model = keras_vt.create_model("av_align_tiny", **config)
        model.compile(optimizer=keras.optimizers.Adam(args.learning_rate, clipnorm=1.0))
        per_seed = []
        started = time.time()
        for seed in range(args.seeds):
            model.set_weights(fresh_weights(config, 1 + seed))
            if model.optimizer.built:
                reset_optimizer(model.optimizer)
            data = keras_vt.training.AudioVisualSequence(
                args.train_examples, batch_size=args.batch_size, seed=seed, **DATA
            )
            curriculum = keras_vt.training.NoiseCurriculum(data, SNRS, args.epochs_per_stage)
            history = model.fit(
                data,
                epochs=curriculum.total_epochs,
                callbacks=[*training_callbacks(), curriculum],  # stops on a NaN loss
                verbose=0,
            )
            row = {"final_train_loss": float(history.history["loss"][-1])}
            for snr, (inputs, labels) in test.items():
                logits = model.predict(inputs, batch_size=128, verbose=0)["logits"]
                accuracy, _ = frame_scores(logits, inputs, labels)
                row[snr_name(snr)] = {
                    "accuracy": float(accuracy),
                    **pair_scores(logits, inputs, labels),
                }
                if config["modality"] == "av":
                    for ablation, video in (
                        ("zeros", np.zeros_like(inputs["video"])),
                        ("shuffled", inputs["video"][shuffle]),
                    ):
                        changed = dict(inputs, video=video)
                        if ablation == "shuffled":
                            changed["video_mask"] = inputs["video_mask"][shuffle]
                        ablated = model.predict(changed, batch_size=128, verbose=0)["logits"]
                        row[snr_name(snr)][f"accuracy_video_{ablation}"] = float(
                            frame_scores(ablated, changed, labels)[0]
                        )
            if config["modality"] == "av":
                inputs, labels = test[None]
                maps = keras_vt.viz.attention_maps(model, inputs, batch_size=128)
                t_audio, t_video = inputs["audio"].shape[1], inputs["video"].shape[1]
                cross = next(m for m in maps if m.shape[-2:] == (t_audio, t_video))
                within, monotonic = alignment_quality(cross, inputs, labels)
                row["alignment_within_1"] = within
                row["alignment_monotonic"] = monotonic
                if (
                    variant == "AV Align + AU loss"
                    and seed == 0
                    or (figure_data is None and seed == 0)
                ):
                    figure_data = (
                        variant,
                        cross[0, 0],
                        labels["alignment"][0],
                        inputs["audio_mask"][0],
                        inputs["video_mask"][0],
                    )
            per_seed.append(row)
            print(
                f"{variant} seed {seed}: "
                + ", ".join(f"{snr_name(s)} {row[snr_name(s)]['accuracy']:.3f}" for s in SNRS),
                flush=True,
            )
        timings[variant] = time.time() - started
        results[variant] = per_seed
    return results, figure_data, timings


def mean_std(values):
    values = np.asarray(values, "float64")
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def summarise(results):
    table = {}
    for variant, rows in results.items():
        entry = {}
        for snr in SNRS:
            key = snr_name(snr)
            for metric in rows[0][key]:
                entry[f"{key}/{metric}"] = mean_std([r[key][metric] for r in rows])
        for metric in ("alignment_within_1", "alignment_monotonic", "final_train_loss"):
            if metric in rows[0]:
                entry[metric] = mean_std([r[metric] for r in rows])
        table[variant] = entry
    return table


def fmt(pair, percent=True):
    mean, std = pair
    return f"{100 * mean:.1f} ± {100 * std:.1f}" if percent else f"{mean:.3f} ± {std:.3f}"


def markdown(args, table, timings, meta):
    lines = [
        "# AV Align experiment (built-in audio-visual task)",
        "",
        f"{meta['date']}, {meta['machine']}, backend {meta['backend']}, load average at start "
        f"{meta['load_start']}, at end {meta['load_end']} (shared machine). Wall time "
        f"{meta['wall_minutes']:.1f} min.",
        "",
        f"`python benchmarks/av_align_experiment.py --seeds {args.seeds} --train-examples "
        f"{args.train_examples} --epochs-per-stage {args.epochs_per_stage}`: `av_align_tiny` "
        "(hidden 32, 2 layers per stack, 1 head), per-frame head, curriculum clean -> 10 -> 0 -> "
        f"-5 dB; {args.seeds} seeds, mean ± std (sample); test set of {args.test_examples} "
        "utterances per SNR.",
        "",
        "## Frame accuracy (%) per test SNR",
        "",
        "| model | " + " | ".join(snr_name(s) for s in SNRS) + " |",
        "|---|" + "---|" * len(SNRS),
    ]
    for variant, entry in table.items():
        lines.append(
            f"| {variant} | "
            + " | ".join(fmt(entry[f"{snr_name(s)}/accuracy"]) for s in SNRS)
            + " |"
        )
    if "audio-only" in table:
        lines += ["", "Relative error reduction vs audio-only (error = 1 - frame accuracy):", ""]
        lines.append("| model | " + " | ".join(snr_name(s) for s in SNRS) + " |")
        lines.append("|---|" + "---|" * len(SNRS))
        for variant, entry in table.items():
            if variant == "audio-only":
                continue
            cells = []
            for s in SNRS:
                base = 1 - table["audio-only"][f"{snr_name(s)}/accuracy"][0]
                err = 1 - entry[f"{snr_name(s)}/accuracy"][0]
                cells.append(f"{100 * (base - err) / max(base, 1e-9):+.0f} %")
            lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Confusable pairs (%): frames of symbols that differ only in audio / only in video",
        "",
        "| model | " + " | ".join(f"{snr_name(s)} audio-pairs / video-pairs" for s in SNRS) + " |",
        "|---|" + "---|" * len(SNRS),
    ]
    for variant, entry in table.items():
        lines.append(
            f"| {variant} | "
            + " | ".join(
                f"{100 * entry[f'{snr_name(s)}/audio_pairs'][0]:.0f} / {100 * entry[f'{snr_name(s)}/video_pairs'][0]:.0f}"
                for s in SNRS
            )
            + " |"
        )
    av = [v for v in table if f"{snr_name(None)}/accuracy_video_zeros" in table[v]]
    if av:
        lines += [
            "",
            "## Video ablation at test (frame accuracy %, intact / video zeroed / videos shuffled)",
            "",
            "| model | " + " | ".join(snr_name(s) for s in SNRS) + " |",
            "|---|" + "---|" * len(SNRS),
        ]
        for variant in av:
            e = table[variant]
            lines.append(
                f"| {variant} | "
                + " | ".join(
                    f"{100 * e[f'{snr_name(s)}/accuracy'][0]:.1f} / {100 * e[f'{snr_name(s)}/accuracy_video_zeros'][0]:.1f} / {100 * e[f'{snr_name(s)}/accuracy_video_shuffled'][0]:.1f}"
                    for s in SNRS
                )
                + " |"
            )
        lines += [
            "",
            "## Alignment quality (clean test set)",
            "",
            "| model | argmax within ±1 video frame of the truth (%) | monotonic steps (%) |",
            "|---|---|---|",
        ]
        for variant in av:
            e = table[variant]
            lines.append(
                f"| {variant} | {fmt(e['alignment_within_1'])} | {fmt(e['alignment_monotonic'])} |"
            )
    lines += [
        "",
        "Training wall time per variant (all seeds): "
        + ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings.items())
        + ".",
    ]
    return "\n".join(lines) + "\n"


def draw_figure(figure_data, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variant, cross, true, audio_mask, video_mask = figure_data
    n_audio, n_video = int(audio_mask.sum()), int(video_mask.sum())
    fig = plot_alignment(
        cross[:n_audio, :n_video],
        true[:n_audio],
        title=f"{variant}:\naudio -> video attention, clean test utterance",
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    load_start = tuple(round(x, 2) for x in os.getloadavg())
    started = time.time()
    results, figure_data, timings = run(args)
    table = summarise(results)
    meta = dict(
        date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs ({platform.platform()})",
        backend=keras.backend.backend(),
        load_start=load_start,
        load_end=tuple(round(x, 2) for x in os.getloadavg()),
        wall_minutes=(time.time() - started) / 60,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(args, table, timings, meta)
    (out / "av_align_experiment.md").write_text(text)
    (out / "av_align_experiment.json").write_text(
        json.dumps(
            dict(meta=meta, args=vars(args), summary=table, per_seed=results, timings=timings),
            indent=1,
        )
    )
    if figure_data is not None:
        draw_figure(figure_data, args.figure)
    print(text)


if __name__ == "__main__":
    main()
