"""Explorer latency and the cost of attention maps, ViT-S/16 at 224 px on the CPU.

1. The attention explorer's answer time (`keras_vt.apps.attention.explain`: read and preprocess
   the image, one forward pass with maps, the chosen map, the overlay, top-5 and mean attention
   distance of every head) after warm-up, for raw maps and rollout; optionally the same through
   HTTP with gradio_client (`--client`). Target: <= 1 s.
2. `keras_vt.viz.attention_maps` on a batch against a plain compiled forward pass
   (`predict_on_batch`, fused attention) of the same batch. Target: <= 1.5x.

Weights are random (timing does not depend on them). Run:

    python benchmarks/explorer_latency.py [--repeats 10] [--batch 8] [--client]
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

MODEL = "vit_small_patch16_224"


def timed(function, repeats, label):
    times = []
    for _ in tqdm(range(repeats), desc=label, leave=False):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.mean(times), statistics.stdev(times) if len(times) > 1 else 0.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--client", action="store_true", help="also time HTTP round trips")
    parser.add_argument(
        "--output",
        default=None,
        help="JSON file for the results (default benchmarks/results/explorer_latency_<backend>)",
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.results_io import provenance, write_json

    started = provenance()

    import keras

    from keras_vt import viz
    from keras_vt.apps import attention
    from keras_vt.apps.common import ModelBank, sample_paths

    bank = ModelBank(model=MODEL, include_embedded=False)
    name = bank.names()[0]
    model = bank.get(name)
    sample = next(iter(sample_paths()))
    results = {"model": MODEL, "backend": keras.backend.backend(), "cpus": os.cpu_count()}

    for method in ("raw", "rollout"):

        def answer(method=method):
            picture, _, _, status = attention.explain(
                bank, name, None, sample, 12, "mean", method, 0.0
            )
            if picture is None:
                raise RuntimeError(status)

        answer()  # warm-up: builds and traces the inspector
        mean, std = timed(answer, args.repeats, f"explain {method}")
        results[f"explain_{method}_s"] = (mean, std)

    images = np.random.default_rng(0).normal(size=(args.batch, 224, 224, 3)).astype("float32")
    forward = lambda: model.predict_on_batch(images)  # noqa: E731
    with_maps = lambda: viz.attention_maps(model, images)  # noqa: E731
    forward(), with_maps()
    results["forward_s"] = timed(forward, args.repeats, "forward")
    results["attention_maps_s"] = timed(with_maps, args.repeats, "attention_maps")
    results["maps_over_forward"] = results["attention_maps_s"][0] / results["forward_s"][0]
    results["batch"] = args.batch

    if args.client:
        from gradio_client import Client

        from keras_vt.apps.explorer import build_attention_app, serve

        blocks = serve(build_attention_app(bank=bank), port=7990, block=False, quiet=True)
        client = Client(blocks.local_url, verbose=False)
        for method in ("raw", "rollout"):
            call = lambda method=method: client.predict(  # noqa: E731
                name, None, sample, 12, "mean", method, 0.0, api_name="/explain"
            )
            call()
            results[f"http_{method}_s"] = timed(call, args.repeats, f"http {method}")
        blocks.close()

    print(f"\n{MODEL}, 224 px, backend {results['backend']}, {results['cpus']} CPUs")
    print("| measurement | mean ± std |")
    print("|---|---|")
    for key, value in results.items():
        if key.endswith("_s"):
            print(f"| {key[:-2]} | {value[0] * 1000:.0f} ± {value[1] * 1000:.0f} ms |")
    print(
        f"| attention_maps / forward (batch {args.batch}) | {results['maps_over_forward']:.2f}x |"
    )
    if args.output:
        with open(args.output, "w") as file:
            json.dump(dict(results, provenance=started), file, indent=2)
    else:
        write_json(f"explorer_latency_{results['backend']}", {"results": results}, started)


if __name__ == "__main__":
    main()
