"""The first ten minutes (issue 15): the built-in task stays fixed, the command answers at once and
quietly, its model table matches the models, and the explorer's embedded model is right."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

import keras_vt
from keras_vt import data
from keras_vt.model_table import MODELS

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# sha256 of the uint8 images: the quick start's task must not change under anyone's feet.
SHAPES_CHECKSUMS = [
    (
        dict(num_images=16, image_size=32, seed=0),
        "fe458ffe7751b0a6130f647e00b68e03ef6b0af231dd088073f8027451263c70",
        [2, 9, 0, 5, 3, 3, 6, 4, 8, 2, 6, 9, 0, 1, 7, 4],
    ),
    (
        dict(num_images=10, image_size=32, seed=7, clutter=False),
        "e3e6a91518fea0ffb1ec7cb038e9d074447d1fd9855611af760c12d7f5ae96e5",
        [3, 7, 5, 1, 9, 0, 6, 2, 8, 4],
    ),
    (
        dict(num_images=6, image_size=64, seed=3, num_classes=12),
        "a6a9c266495db1ccb03b481429468fee74cc9325d4e9c044410df7a381aff3ad",
        [0, 10, 11, 1, 2, 7],
    ),
]


@pytest.mark.parametrize("arguments, checksum, labels", SHAPES_CHECKSUMS)
def test_make_shapes_returns_the_same_images_for_a_seed(arguments, checksum, labels):
    images, got = data.make_shapes(**arguments)
    assert got.tolist() == labels
    assert hashlib.sha256(images.tobytes()).hexdigest() == checksum


# ------------------------------------------------------------------------------------------
# The command. Run as a user runs it: a script named keras-vt, as pip writes it.
# ------------------------------------------------------------------------------------------


def run_command(tmp_path, *argv, importtime=False):
    script = tmp_path / "keras-vt"
    script.write_text("import sys\nfrom keras_vt.cli import main\nsys.exit(main())\n")
    env = dict(os.environ, PYTHONPATH=REPOSITORY + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for name in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND"):
        env.pop(name, None)
    python = [sys.executable] + (["-X", "importtime"] if importtime else [])
    return subprocess.run(
        python + [str(script), *argv], capture_output=True, text=True, env=env, timeout=300
    )


def imported_modules(stderr):
    """Top-level module names from `python -X importtime` output."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.mark.single_backend
@pytest.mark.parametrize(
    "argv", [("--help",), ("train", "--help"), ("convert", "--help"), ("models",)]
)
def test_help_and_models_import_no_backend(tmp_path, argv):
    result = run_command(tmp_path, *argv, importtime=True)
    assert result.returncode == 0, result.stderr[-2000:]
    modules = imported_modules(result.stderr)
    assert "numpy" in modules or "argparse" in modules  # the importtime report was read
    assert not modules & {"keras", "tensorflow", "jax", "torch"}, sorted(modules)


@pytest.mark.single_backend
@pytest.mark.parametrize(
    "argv, options",
    [
        (("train",), ("--epochs", "--batch-size", "--learning-rate", "--seed", "--num-images")),
        (("bench",), ("--models", "--precisions", "--batch", "--repeats", "--threads")),
    ],
)
def test_every_option_shows_its_default(tmp_path, argv, options):
    result = run_command(tmp_path, *argv, "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    for option in options:
        text = result.stdout.split(option, 2)[-1].split("\n  --", 1)[0]
        assert "(default: " in " ".join(text.split()), (option, text)


@pytest.mark.single_backend
def test_models_into_a_closed_pipe_exits_quietly(tmp_path):
    """`keras-vt models | head -1`: the reader leaves early; no BrokenPipeError traceback."""
    script = tmp_path / "keras-vt"
    script.write_text("import sys\nfrom keras_vt.cli import main\nsys.exit(main())\n")
    env = dict(os.environ, PYTHONPATH=REPOSITORY + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = f"{sys.executable} {script} models | head -1"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, env=env
    )
    assert result.stdout.startswith("name"), result.stdout
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr


NATIVE_LOG_MARKERS = ("cuInit", "absl::InitializeLog", "cudart_stub", "port.cc", "I0000", "E0000")


@pytest.mark.single_backend
def test_commands_print_no_native_log_lines(tmp_path):
    argv = ("export", "vit_tiny_patch16_224", str(tmp_path / "saved"), "--tiny")
    quiet = run_command(tmp_path, *argv)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    output = quiet.stdout + quiet.stderr
    assert "saved:" in quiet.stdout
    assert not [m for m in NATIVE_LOG_MARKERS if m in output], output[-2000:]


def test_cli_models_prints_the_table(capsys):
    from keras_vt import cli

    assert cli.main(["models", "vit_tiny_patch16_224"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("vit_t"))
    assert row.split() == ["vit_tiny_patch16_224", "5,717,416", "224", "vit"]


# ------------------------------------------------------------------------------------------
# The model table against the registry and against built models.
# ------------------------------------------------------------------------------------------


def test_model_table_lists_every_registered_model():
    from keras_vt.models import get_spec

    registered = keras_vt.list_models()
    assert sorted(MODELS) == registered, (
        "keras_vt/model_table.py is stale: run `python -m keras_vt.model_table --write`"
    )
    for name in registered:
        spec = get_spec(name)
        assert MODELS[name][1:] == (spec.image_size, spec.family), name


def test_model_table_agrees_with_the_reference_counts():
    from reference import REFERENCE_PARAMS

    for name, count in REFERENCE_PARAMS.items():
        assert MODELS[name][0] == count, name


# A representative subset, one per family (the small ones: building is the cost).
@pytest.mark.single_backend
@pytest.mark.parametrize(
    "name", ["vit_tiny_patch16_224", "deit_tiny_distilled_patch16_224", "cpvt_tiny_gap", "resnet18"]
)
def test_model_table_counts_match_built_models(name):
    import keras

    model = keras_vt.create_model(name)
    assert keras_vt.count_params(model) == MODELS[name][0]
    keras.backend.clear_session()


# ------------------------------------------------------------------------------------------
# The explorer's embedded model, on freshly generated images of the kind it was trained on.
# ------------------------------------------------------------------------------------------


def test_explorer_model_accuracy_is_as_stated():
    """The embedded model's stated accuracy holds on freshly generated images of its kind
    (what the manifest, README and docs/viz.md state is what the model does)."""
    from keras_vt.apps.common import embedded_manifests

    manifest = embedded_manifests()["cpvt_mini (shapes)"]
    model = keras_vt.create_model(
        manifest["model"], weights=manifest["weights_path"], **manifest["overrides"]
    )
    training = manifest["training"]
    # A seed the training script never uses (it draws `seed`, and `seed + 1000` for samples).
    images, labels = data.make_shapes(
        400,
        image_size=manifest["overrides"]["image_size"],
        seed=training["seed"] + 4242,
        num_classes=len(manifest["class_names"]),
        clutter=training["clutter"],
    )
    logits = model.predict(keras_vt.preprocess(images, model), batch_size=100, verbose=0)
    accuracy = float((np.asarray(logits).argmax(-1) == labels).mean())
    # 400 images: the binomial standard error is at most 0.025; 0.08 is over 3 of them.
    assert abs(accuracy - manifest["val_accuracy"]) < 0.08, (accuracy, manifest["val_accuracy"])
