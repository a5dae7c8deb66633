"""Depthwise convolution: Keras' `ops.depthwise_conv` against the shifted sum of
`keras_vt.layers.DepthwiseConv2D`, per CvT-13 projection shape and for the whole CvT-13.

Both ways run interleaved in one process (`harness.interleaved_times`), so that load from other
processes hits them alike; the backend is the Keras backend of the run (KERAS_BACKEND). On JAX
each function is jitted (as Keras' JAX trainer does); on TensorFlow both the graph (no XLA, what
Keras' `jit_compile="auto"` gives on CPU) and XLA are timed; on PyTorch eager.

    KERAS_BACKEND=jax python benchmarks/depthwise.py             # results/depthwise_jax.{json,md}
    KERAS_BACKEND=jax python benchmarks/depthwise.py --no-model  # the layer shapes only
"""

import argparse
import os
import sys
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import interleaved_times, summarize  # noqa: E402
from results_io import finish, provenance, write_json  # noqa: E402

# CvT-13 at 224 px: (grid side, width, stride) of its q (stride 1) and k/v (stride 2) projections.
CVT13_SHAPES = [(56, 64, 1), (56, 64, 2), (28, 192, 1), (28, 192, 2), (14, 384, 1), (14, 384, 2)]


def compiled(fn):
    """`fn` as the backend runs it in a model: jitted on JAX, a graph on TensorFlow."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return {"": jax.jit(fn)}
    if backend == "tensorflow":
        import tensorflow as tf

        return {" (graph)": tf.function(fn), " (XLA)": tf.function(fn, jit_compile=True)}
    return {"": fn}


def _run(fn, x):
    import keras

    return keras.ops.convert_to_numpy(fn(x))


def layer_rows(batch, rounds):
    from keras_vt.layers import DepthwiseConv2D

    rows = []
    for side, width, stride in CVT13_SHAPES:
        x = np.random.default_rng(0).normal(size=(batch, side, side, width)).astype("float32")
        fns = {}
        for implementation in ("conv", "shifts"):
            layer = DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)
            layer.build(x.shape)
            layer.implementation = implementation
            for suffix, fn in compiled(layer.call).items():
                fns[implementation + suffix] = partial(_run, fn, x)
        times = interleaved_times(fns, rounds, progress=False)
        row = {"shape": f"{batch}x{side}x{side}x{width}, stride {stride}"}
        row.update({name: summarize(t)["median"] * 1e3 for name, t in times.items()})
        rows.append(row)
        print(row, flush=True)
    return rows


def model_rows(batch, rounds):
    import keras_vt
    from keras_vt.layers import DepthwiseConv2D

    def built(implementation, weights=None):
        model = keras_vt.create_model("cvt_13")
        if weights is not None:
            model.set_weights(weights)
        for layer in model._flatten_layers(include_self=False):
            if isinstance(layer, DepthwiseConv2D):
                layer.implementation = implementation
        return model

    # One model per way, same weights, so that interleaving never retraces.
    conv = built("conv")
    shifts = built("shifts", conv.get_weights())
    x = np.random.default_rng(0).normal(size=(batch, 224, 224, 3)).astype("float32")
    fns = {"conv": lambda: conv.predict_on_batch(x), "shifts": lambda: shifts.predict_on_batch(x)}
    difference = float(np.abs(fns["conv"]() - fns["shifts"]()).max())
    times = interleaved_times(fns, rounds, progress=False)
    row = {"model": f"cvt_13, batch {batch}, 224 px", "max |logit difference|": difference}
    for name, t in times.items():
        median = summarize(t)["median"]
        row[f"{name} ms"] = median * 1e3
        row[f"{name} images/s"] = batch / median
    print(row, flush=True)
    return [row]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8, help="images per call")
    parser.add_argument("--rounds", type=int, default=7, help="timed calls of each way")
    parser.add_argument("--no-model", action="store_true", help="time the layer shapes only")
    args = parser.parse_args(argv)
    started = provenance()
    import keras

    backend = keras.backend.backend()
    results = {
        "args": vars(args),
        "backend": backend,
        "layers": layer_rows(args.batch, args.rounds),
    }
    if not args.no_model:
        results["model"] = model_rows(args.batch, args.rounds)
    ended = finish(started)
    lines = [
        f"Depthwise 3x3 convolution on {backend}: Keras' ops.depthwise_conv vs keras_vt's shifted "
        f"sum, median ms of {args.rounds} interleaved calls; {ended['date']}, load average "
        f"{ended['load_average_start']} -> {ended['load_average_end']}.",
        "",
    ]
    names = [k for k in results["layers"][0] if k != "shape"]
    lines += ["| shape | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for row in results["layers"]:
        lines.append(f"| {row['shape']} | " + " | ".join(f"{row[n]:.2f}" for n in names) + " |")
    for row in results.get("model", []):
        parts = [f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in row.items()]
        lines += ["", "; ".join(parts)]
    write_json(f"depthwise_{backend}", results, started, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
