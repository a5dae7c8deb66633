"""MMT on the built-in video-caption data: does fusing experts with the transformer help?

Usage: KERAS_BACKEND=jax python benchmarks/mmt_experiment.py [--seeds 3] [--epochs 8]
       [--train-clips 640] [--test-clips 200]

Trains `mmt_tiny`-sized models from scratch with `fit` (bidirectional max-margin ranking loss,
margin 0.05, Adam 1e-3, batch 32, one caption per clip) and reports text-to-video retrieval on
held-out clips (R@1/5/10 in %, median rank; ties averaged) for:

- all experts, the MMT video transformer, `missing_experts="renormalise"` (the default);
- the same with `missing_experts="keep"` (the released code's setting);
- all experts mean-pooled and embedded, no video transformer (`depth=0, pooling="mean"`): the
  paper's ablation in miniature;
- each expert alone: the all-experts model trained and tested with every other expert masked
  out (all its tokens and its [AGG] masked; "renormalise" puts the whole mixture weight on the
  one expert left), which equals a one-expert model up to parameters that receive no gradient
  and shares its compiled step. Training uses the clips that have the expert; at test time a
  clip that misses it has no evidence and scores below every other clip (ranked last).

Each model is compiled once and re-initialised per seed (seed = initial weights, training clips
and their order); the test clips are the same for every run. Mean +- std over
seeds. Writes benchmarks/results/mmt_experiment.{json,md}. JAX compiles fastest here (three
compilations; later seeds train in about 30 s each). With the defaults the script took 18.5
minutes on the shared 2-core machine at load average 20-28 (wall clock; CPU time not recorded); the
defaults were cut from 1,200 clips x 12 epochs to fit that machine.
"""

import argparse
import datetime
import json
import os
import platform
import time

import keras
import numpy as np

import keras_vt
from keras_vt.data import video_captions
from keras_vt.models.mmt import MMT, TINY
from keras_vt.training.callbacks import training_callbacks
from keras_vt.training.retrieval import ranking_metrics

PUBLISHED = (
    "MSR-VTT 1k-A text->video R@1/R@5/R@10/MdR: paper (HowTo100M pre-trained) 26.6/57.1/69.6/4; "
    "released code after two evaluation fixes: from scratch 24.1/56.4/69.6/4, pre-trained "
    "25.8/57.2/69.3/4."
)


def configurations():
    """label -> (model configuration, the one expert kept or None for all)."""
    base = dict(TINY, dropout=0.1)
    configs = {
        "all experts, transformer (renormalise)": (base, None),
        "all experts, mean-pooled, no transformer": (dict(base, depth=0, pooling="mean"), None),
    }
    for name in video_captions.EXPERTS:
        configs[f"{name} only"] = (base, name)
    configs["all experts, transformer (keep)"] = (dict(base, missing_experts="keep"), None)
    return configs


def subset(inputs, only):
    """`inputs` with every expert but `only` masked out (all of them if `only` is None)."""
    if only is None:
        return inputs
    out = dict(inputs)
    for name in video_captions.EXPERTS:
        if name != only:
            out[f"{name}_mask"] = np.zeros_like(inputs[f"{name}_mask"])
    return out


def has_any(inputs, experts):
    return np.stack([inputs[f"{e}_mask"].any(1) for e in experts], 1).any(1)


def reinitialise(model, config, seed):
    keras.utils.set_random_seed(seed)
    model.set_weights(MMT(**config).get_weights())
    if model.optimizer is not None and model.optimizer.built:
        for variable in model.optimizer.variables:  # step count and moments, not the rate
            if "learning_rate" not in variable.path:
                variable.assign(np.zeros(variable.shape, variable.dtype))


def evaluate(model, inputs, ids, only):
    """Text->video and video->text metrics over the test clips (captions x clips)."""
    inputs = subset(inputs, only)
    present = has_any(inputs, model.experts)
    similarity = np.full((len(ids), len(ids)), np.nan)
    kept = {k: v[present] for k, v in inputs.items()}
    scores = np.asarray(keras.ops.convert_to_numpy(model.similarity(kept, ids)), "float64")
    similarity[:, present] = scores
    similarity[:, ~present] = scores.min() - 1.0  # no evidence: below every scored clip
    metrics = {}
    for direction, matrix in (("t2v", similarity), ("v2t", similarity.T)):
        for key, value in ranking_metrics(matrix, ks=(1, 5, 10, 50)).items():
            metrics[f"{direction}_{key}"] = value
    return metrics


def run(args):
    start, load_start = time.time(), os.getloadavg()
    tokenizer = keras_vt.data.VideoCaptionTokenizer(TINY["context_length"])
    test_inputs, test_captions = keras_vt.data.make_video_captions(args.test_clips, seed=99_999)
    test_ids = tokenizer(test_captions)
    results = {}
    models = {}
    for label, (config, only) in configurations().items():
        if args.only and args.only not in label:
            continue
        key = json.dumps(config, sort_keys=True)
        if key not in models:  # one compiled model per configuration
            models[key] = MMT(**config)
            models[key].compile(optimizer=keras.optimizers.Adam(args.learning_rate))
        model = models[key]
        runs = []
        for seed in range(args.seeds):
            t0 = time.time()
            reinitialise(model, config, seed)
            inputs, captions = keras_vt.data.make_video_captions(args.train_clips, seed=1000 + seed)
            inputs = subset(inputs, only)
            keep = has_any(inputs, model.experts)
            # whole batches only: one compiled step shape for every seed (JAX, TensorFlow)
            keep &= np.cumsum(keep) <= (keep.sum() // args.batch_size) * args.batch_size
            x = {k: v[keep] for k, v in inputs.items()}
            x["caption_ids"] = tokenizer(captions)[keep]
            history = model.fit(
                x,
                epochs=args.epochs,
                batch_size=args.batch_size,
                shuffle=True,
                verbose=0,
                callbacks=training_callbacks(),  # stops on a NaN loss, naming the step
            )
            metrics = evaluate(model, test_inputs, test_ids, only)
            metrics["final_train_loss"] = float(history.history["loss"][-1])
            metrics["train_clips"] = int(keep.sum())
            metrics["seconds"] = time.time() - t0
            runs.append(metrics)
            print(
                f"{label:44s} seed {seed}: t2v R@1 {100 * metrics['t2v_R@1']:.1f} "
                f"R@5 {100 * metrics['t2v_R@5']:.1f} MdR {metrics['t2v_median_rank']:.1f} "
                f"({metrics['seconds']:.0f} s)",
                flush=True,
            )
        summary = {}
        for key in runs[0]:
            values = np.array([r[key] for r in runs], "float64")
            summary[key] = {"mean": float(values.mean()), "std": float(values.std())}
        results[label] = {"config": dict(config), "only": only, "runs": runs, "summary": summary}
        if args.partial:  # write what is done so far, in case the run is cut short
            save(report(args, start, load_start, results), args.output)
    return report(args, start, load_start, results)


def report(args, start, load_start, results):
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "backend": keras.backend.backend(),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "wall_seconds": time.time() - start,
        "arguments": vars(args),
        "chance": {"t2v_R@1": 1 / args.test_clips, "t2v_median_rank": (args.test_clips + 1) / 2},
        "published": PUBLISHED,
        "results": results,
    }


def machine():
    text = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}"
    if keras.backend.backend() == "torch":
        import torch

        if torch.cuda.is_available():
            text += f", {torch.cuda.get_device_name(0)} (torch backend on the GPU)"
    return text


def markdown(report):
    lines = [
        f"# MMT experiment ({report['date']})",
        "",
        f"Machine: {report['machine']}; backend {report['backend']}; load average "
        f"{tuple(round(x, 1) for x in report['load_average_start'])} at the start, "
        f"{tuple(round(x, 1) for x in report['load_average_end'])} at the end (a shared machine); "
        f"{report['wall_seconds'] / 60:.1f} minutes. Arguments: {report['arguments']}.",
        "",
        f"Text->video retrieval on {report['arguments']['test_clips']} held-out clips "
        f"(chance R@1 {100 * report['chance']['t2v_R@1']:.2f} %, median rank "
        f"{report['chance']['t2v_median_rank']:.1f}); mean +- std over "
        f"{report['arguments']['seeds']} seeds; ties averaged.",
        "",
        "| configuration | R@1 | R@5 | R@10 | MdR | final train loss |",
        "|---|---|---|---|---|---|",
    ]
    for label, result in report["results"].items():
        s = result["summary"]

        def pct(key):
            return f"{100 * s[key]['mean']:.1f} +- {100 * s[key]['std']:.1f}"

        lines.append(
            f"| {label} | {pct('t2v_R@1')} | {pct('t2v_R@5')} | {pct('t2v_R@10')} | "
            f"{s['t2v_median_rank']['mean']:.1f} +- {s['t2v_median_rank']['std']:.1f} | "
            f"{s['final_train_loss']['mean']:.4f} |"
        )
    lines += ["", f"Published (MSR-VTT, not comparable data): {report['published']}", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--train-clips", type=int, default=640)
    parser.add_argument("--test-clips", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--only", default=None, help="run the configurations containing this")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "results"))
    parser.add_argument("--partial", action="store_true", help="write after each configuration")
    args = parser.parse_args()
    print(save(run(args), args.output))


def save(result, output):
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "mmt_experiment.json"), "w") as f:
        json.dump(result, f, indent=1)
    text = markdown(result)
    with open(os.path.join(output, "mmt_experiment.md"), "w") as f:
        f.write(text)
    return text


if __name__ == "__main__":
    main()
