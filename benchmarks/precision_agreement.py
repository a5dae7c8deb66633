"""Accuracy cost of bfloat16 and int8 on a trained model, on the current Keras backend.

The explorer's embedded model (`cpvt_mini_convstem_32_gap`, trained on the built-in shapes to
92 %) is built three times with the same weights: float32, `dtype="bfloat16"` and
`keras_vt.precision.quantize` (int8). On 2,000 freshly generated images (a seed training never
used) we report top-1 agreement with float32, accuracy, and the max and mean absolute logit
difference. Results: benchmarks/results/precision_agreement_<backend>.json/.md.

    KERAS_BACKEND=tensorflow python benchmarks/precision_agreement.py
"""

import sys
from pathlib import Path

import keras
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras_vt  # noqa: E402
from benchmarks.results_io import provenance, write_json  # noqa: E402
from keras_vt.apps.common import embedded_manifests  # noqa: E402


def main(num_images=2000):
    started = provenance()
    manifest = embedded_manifests()["cpvt_mini (shapes)"]
    build = dict(weights=manifest["weights_path"], **manifest["overrides"])
    images, labels = keras_vt.data.make_shapes(
        num_images, image_size=manifest["overrides"]["image_size"], seed=2027, clutter=False
    )
    models = {
        "float32": keras_vt.create_model(manifest["model"], **build),
        "bfloat16": keras_vt.create_model(manifest["model"], dtype="bfloat16", **build),
        "int8": keras_vt.precision.quantize(keras_vt.create_model(manifest["model"], **build)),
    }
    x = keras_vt.preprocess(images, models["float32"])
    logits = {
        k: np.asarray(m.predict(x, batch_size=200, verbose=0), np.float32)
        for k, m in models.items()
    }
    ref = logits["float32"]
    rows, lines = (
        {},
        [
            "| precision | top-1 agreement | accuracy | max abs logit diff | mean abs diff |",
            "|---|---|---|---|---|",
        ],
    )
    for k, y in logits.items():
        rows[k] = {
            "agreement": float((y.argmax(-1) == ref.argmax(-1)).mean()),
            "accuracy": float((y.argmax(-1) == labels).mean()),
            "max_abs_diff": float(np.abs(y - ref).max()),
            "mean_abs_diff": float(np.abs(y - ref).mean()),
        }
        r = rows[k]
        lines.append(
            f"| {k} | {100 * r['agreement']:.2f} % | {100 * r['accuracy']:.2f} % | "
            f"{r['max_abs_diff']:.4f} | {r['mean_abs_diff']:.4f} |"
        )
    backend = keras.backend.backend()
    markdown = (
        f"# Precision agreement, {manifest['model']}, {num_images} images, {backend}\n\n"
        + "\n".join(lines)
    )
    print(markdown)
    write_json(
        f"precision_agreement_{backend}",
        {"rows": rows, "num_images": num_images},
        started,
        markdown,
    )


if __name__ == "__main__":
    main()
