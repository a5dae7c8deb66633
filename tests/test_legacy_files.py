"""`.keras` files saved before the encoder redesign (main, 2026-11-29) still load, same outputs.

The files in tests/data/legacy/ were written by tests/data/legacy/make_legacy.py with the code of
that day, on TensorFlow; this test loads them with today's code, on every backend, and compares
the outputs on the same inputs with the outputs stored next to them. A renamed layer or weight, a
reordered weight list or a changed computation makes it fail.
"""

import os
import sys

import keras
import numpy as np
import pytest

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "legacy")
sys.path.insert(0, HERE)
from make_legacy import MODELS, inputs_for  # noqa: E402

sys.path.remove(HERE)


@pytest.mark.parametrize("key", sorted(MODELS))
def test_legacy_file_loads_with_identical_outputs(key):
    model = keras.saving.load_model(os.path.join(HERE, f"{key}.keras"), compile=False)
    expected = np.load(os.path.join(HERE, f"{key}.npz"))
    outputs = keras.tree.flatten(model(inputs_for(model)))
    assert len(outputs) == len(expected.files)
    for i, output in enumerate(outputs):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(output), expected[f"output_{i}"], rtol=1e-4, atol=1e-5
        )


def test_legacy_weights_load_by_name_into_new_builds():
    """The weight list of a legacy file matches a fresh build's, in order, name and shape."""
    import keras_vt

    for key in ("vit_token", "deit_distilled", "cpvt", "clip_vit"):
        name, overrides = MODELS[key]
        overrides = dict(overrides)
        if not name.startswith("clip"):
            overrides.setdefault("num_classes", 5)
        fresh = keras_vt.create_model(name, tiny=True, **overrides)
        legacy = keras.saving.load_model(os.path.join(HERE, f"{key}.keras"), compile=False)
        assert [w.path for w in fresh.weights] == [w.path for w in legacy.weights], key
        assert [tuple(w.shape) for w in fresh.weights] == [tuple(w.shape) for w in legacy.weights]
