"""Builds tiny ViT-H/14 and CLIP ViT-L/14 configurations under `model_parallel` on 4 virtual CPU
devices (2-way model parallel), reports which weights are sharded, and checks a forward pass and
one training step against the same model on one device (run by tests/test_distribute.py).

Usage: python model_parallel.py OUT.json
"""

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_vt  # noqa: E402
from keras_vt.training.distribute import model_parallel  # noqa: E402

report = {}
for name in ("vit_huge_patch14_224", "clip_vit_l14"):
    inputs = [np.random.default_rng(0).normal(size=(4, 28, 28, 3)).astype("float32")]
    if name.startswith("clip"):
        inputs.append(np.random.default_rng(1).integers(1, 64, size=(4, 16)).astype("int32"))
    results = []
    for distribution in (None, model_parallel(model_parallelism=2)):
        keras.distribution.set_distribution(distribution)
        keras.utils.set_random_seed(0)
        config = dict(image_size=28) if name.startswith("vit") else {}
        model = keras_vt.create_model(name, tiny=True, **config)
        out = model(inputs if len(inputs) > 1 else inputs[0])
        out = out["image_embeddings"] if isinstance(out, dict) else out
        if name.startswith("vit"):
            model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
            model.fit(inputs[0], np.zeros((4, 1000), "float32"), batch_size=4, verbose=0)
        else:
            model.compile(optimizer=keras.optimizers.SGD(0.1))
            model.fit(tuple(inputs), batch_size=4, verbose=0)
        results.append(
            dict(
                out=keras.ops.convert_to_numpy(out),
                weights=[keras.ops.convert_to_numpy(w) for w in model.weights],
                # A list, not a dict: CLIP's two towers share variable paths (block0/...).
                variables=[
                    (w.path, list(w.shape), not w.value.sharding.is_fully_replicated)
                    for w in model.weights
                ],
            )
        )
    single, parallel = results
    report[name] = dict(
        variables=parallel["variables"],
        output_difference=float(np.abs(single["out"] - parallel["out"]).max()),
        weight_difference=max(
            float(np.abs(a - b).max()) for a, b in zip(single["weights"], parallel["weights"])
        ),
    )
with open(sys.argv[1], "w") as f:
    json.dump(report, f)
