"""Data-parallel training equals one device with the global batch (2 virtual CPU devices).

Each run is a subprocess, since the virtual devices must be configured before the backend starts.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "scripts", "distributed_fit.py")

pytestmark = pytest.mark.single_backend


def run(tmp_path, backend, mode, task):
    out = tmp_path / f"{backend}-{mode}-{task}.npz"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run(
        [sys.executable, SCRIPT, backend, mode, task, str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(np.load(out))


@pytest.mark.parametrize("task", ["classifier", "distiller", "clip", "mmt", "train"])
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_two_replicas_match_one_device(tmp_path, backend, task):
    pytest.importorskip(backend)
    # MMT on TensorFlow: Keras averages the first batch across replicas to build the model, which
    # fails on boolean masks; FunctionalModel.fit passes them as uint8 under a strategy.
    single = run(tmp_path, backend, "single", task)
    parallel = run(tmp_path, backend, "parallel", task)
    np.testing.assert_allclose(parallel["loss"], single["loss"], rtol=1e-5, atol=1e-5)
    keys = [k for k in single if k.startswith("w")]
    assert keys and sorted(keys) == sorted(k for k in parallel if k.startswith("w"))
    for key in keys:
        np.testing.assert_allclose(parallel[key], single[key], atol=1e-5, err_msg=key)
    # The steps really moved the weights (a no-op fit would also "match").
    moved = [np.abs(single[k] - single["i" + k[1:]]).max() for k in keys]
    assert max(moved) > 1e-3, moved


def test_model_parallel_layout_shards_every_large_kernel(tmp_path):
    """Tiny ViT-H/14 and CLIP ViT-L/14 on 4 virtual devices, 2-way model parallel (JAX)."""
    pytest.importorskip("jax")
    out = tmp_path / "model_parallel.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    script = os.path.join(os.path.dirname(__file__), "scripts", "model_parallel.py")
    result = subprocess.run(
        [sys.executable, script, str(out)], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    for name, figures in report.items():
        variables = figures["variables"]
        large = [
            (path, sharded)
            for path, shape, sharded in variables
            if len(shape) >= 2 and (path.endswith("kernel") or "token_embedding" in path)
        ]
        assert len(large) >= (20 if name.startswith("clip") else 10), (name, large)
        assert [path for path, sharded in large if not sharded] == [], name
        # Small tables (class token, positions, norms) stay replicated.
        assert not all(sharded for _, _, sharded in variables), name
        # Sharding changes where the numbers live, not what they are.
        assert figures["output_difference"] < 1e-5, (name, figures["output_difference"])
        assert figures["weight_difference"] < 1e-5, (name, figures["weight_difference"])
