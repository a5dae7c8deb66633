"""The redesign's seams: one encoder, one checks dialect, data modules split by seam.

- `keras_vt.data.shapes` still exports the generators, and they give byte-identical data
  (digests recorded with the code before the split, main of 2026-11-29).
- The shared encoder builds every positions / patch-embedding / prefix configuration, and
  `positions="sincos"` is selectable from `create_model`.
- Families never import each other, and `models/` never imports `training/`.
- Validation errors name the argument, the value and what was expected.
"""

import ast
import hashlib
import os
import re

import keras
import numpy as np
import pytest

import keras_vt
from keras_vt import checks
from keras_vt.models import encoder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _digest(value):
    h = hashlib.sha256()
    for key in sorted(value) if isinstance(value, dict) else range(len(value)):
        v = value[key]
        h.update(np.asarray(v).tobytes() if not isinstance(v, (list, tuple)) else repr(v).encode())
    return h.hexdigest()


def test_shapes_data_is_byte_identical_after_the_split():
    from keras_vt.data import shapes

    assert shapes.make_shapes is keras_vt.data.classification.make_shapes
    assert shapes.image_folder_dataset is keras_vt.data.folders.image_folder_dataset
    assert _digest(shapes.make_shapes(8, 16, seed=3)) == (
        "b33781e913cf8a191d50ef6b90ddcf0e53a9d515c6196fc8bcd6b59992724bfd"
    )
    assert _digest(shapes.make_captioned_shapes(4, 16, seed=1)) == (
        "83d29f00b0491feaa16939da4c581a9a1a7639b63e7c687fa5886f47da84beb4"
    )


@pytest.mark.parametrize(
    "options, tokens",
    [
        (dict(positions="learned", num_prefix_tokens=1), 1 + 16),
        (dict(positions="sincos", num_prefix_tokens=2), 2 + 16),
        (dict(positions=None, num_prefix_tokens=0, pre_norm=True), 16),
        (dict(positions="peg", patch_embedding="conv", peg_positions=(0, 1)), 1 + 16),
        (
            dict(positions=None, patch_embedding="convolutional", patch_stride=4, patch_padding=2),
            1 + 5 * 5,  # CvT's overlapping embedding: (16 + 2 * 2 - 4) // 4 + 1 = 5 per side
        ),
    ],
)
def test_encoder_configurations(options, tokens):
    images = keras.Input((16, 16, 3))
    x = encoder.vit_encoder(images, 4, 8, depth=2, num_heads=2, mlp_dim=16, **options)
    model = keras.Model(images, x)
    out = model(np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32"))
    assert tuple(out.shape) == (2, tokens, 8)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(out)))


def test_sincos_positions_from_create_model():
    model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True, positions="sincos")
    learned = keras_vt.create_model("vit_tiny_patch16_224", tiny=True)
    assert isinstance(model.get_layer("pos_embed"), keras_vt.layers.SinCosPositionEmbedding2D)
    # The fixed table has no weights: one (1, tokens, width) table fewer than the learned model.
    assert len(learned.weights) - len(model.weights) == 1
    assert model.get_config()["positions"] == "sincos"
    clone = model.__class__.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-6
    )


def test_encoder_rejects_bad_arguments_before_building():
    images = keras.Input((16, 16, 3))
    with pytest.raises(ValueError, match=r"Unknown positions='rope'\. Expected one of"):
        encoder.vit_encoder(images, 4, 8, 1, 2, 16, positions="rope")
    with pytest.raises(ValueError, match="Invalid num_prefix_tokens: num_prefix_tokens=3"):
        encoder.vit_encoder(images, 4, 8, 1, 2, 16, num_prefix_tokens=3)
    with pytest.raises(ValueError, match="positions='learned' needs a fixed image size"):
        encoder.vit_encoder(keras.Input((None, None, 3)), 4, 8, 1, 2, 16)
    with pytest.raises(ValueError, match=r"peg_positions=\(0, 5\) has positions \[5\]"):
        encoder.vit_encoder(images, 4, 8, 2, 2, 16, positions="peg", peg_positions=(0, 5))
    with pytest.raises(ValueError, match="Unknown positions='peg'"):
        keras_vt.create_model("vit_tiny_patch16_224", tiny=True, positions="peg")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: checks.check_int("depth", 0), "Invalid depth: depth=0. Expected an int >= 1."),
        (lambda: checks.check_int("depth", True), "Invalid depth: depth=True."),
        (
            lambda: checks.check_ints("depths", (1, 0), length=2),
            "Invalid depths: depths=(1, 0). Expected a list of 2 of ints >= 1.",
        ),
        (
            lambda: checks.check_image_size(50, 16),
            "Invalid image_size: image_size=50 is not divisible by patch_size=16. "
            "Expected a multiple of 16 (e.g. 48).",
        ),
        (
            lambda: checks.check_num_classes(0),
            "Invalid num_classes: num_classes=0. Expected an int >= 1",
        ),
        (lambda: checks.check_choice("pooling", "max", ("token",)), "Unknown pooling='max'."),
    ],
)
def test_one_validation_dialect(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


# The dialects the checks module replaced: "Expected X, got arg=value." and Keras'
# "Expected `arg` to be X; received arg=value." An error that names an argument and its value
# goes through `checks.invalid` / `checks.unknown` instead.
RETIRED_DIALECTS = (
    r"^Expected .*(, got|; got|; received) [^ ]*=",
    r"received \S+=",
    r"^Unknown \S+=.*: expected one of",
)


def _value_error_messages(path):
    """(line, message template) of each `raise ValueError(<string>)` in a source file."""
    tree = ast.parse(open(path).read())
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
            continue
        if getattr(node.exc.func, "id", None) != "ValueError" or not node.exc.args:
            continue
        message = node.exc.args[0]
        if isinstance(message, ast.JoinedStr):
            yield (
                node.lineno,
                "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in message.values),
            )
        elif isinstance(message, ast.Constant) and isinstance(message.value, str):
            yield node.lineno, message.value


def _python_files(root):
    for folder, _, files in os.walk(root):
        yield from (os.path.join(folder, name) for name in files if name.endswith(".py"))


def test_no_error_message_in_a_retired_dialect():
    found = []
    for path in _python_files(os.path.join(ROOT, "keras_vt")):
        for line, message in _value_error_messages(path):
            if any(re.search(p, message) for p in RETIRED_DIALECTS):
                found.append(f"{os.path.relpath(path, ROOT)}:{line}: {message}")
    assert not found, "\n".join(found)


def test_checks_invalid_and_unknown_wording():
    assert str(checks.invalid("alpha", 2.0, "a number in [0, 1]")) == (
        "Invalid alpha: alpha=2.0. Expected a number in [0, 1]."
    )
    assert str(checks.invalid("x", None, "a dict", problem="got list")) == (
        "Invalid x: got list. Expected a dict."
    )
    assert str(checks.unknown("scale", "row", ("width", "head"), "or a float")) == (
        "Unknown scale='row'. Expected one of ('width', 'head') or a float."
    )


def test_check_int_one_rule_for_every_integer_argument():
    assert checks.check_int("depth", np.int64(3)) == 3
    assert type(checks.check_int("depth", np.int64(3))) is int
    assert checks.check_int("stride", None, allow_none=True) is None
    for bad in (True, 2.0, "2", 0, None):
        with pytest.raises(ValueError, match=r"^Invalid depth: depth=.*\. Expected an int >= 1\.$"):
            checks.check_int("depth", bad)
    with pytest.raises(ValueError, match=r"Expected an int in \[1, 3\]\.$"):
        checks.check_int("count", 4, 1, 3)
    with pytest.raises(ValueError, match=r"Expected an int >= 1 or None\.$"):
        checks.check_int("stride", 0, allow_none=True)
    with pytest.raises(ValueError, match=r"Expected a positive odd int\.$"):
        checks.check_int("kernel_size", 0, expected="a positive odd int")
    # No module keeps an integer check of its own.
    pattern = re.compile(
        r"isinstance\((\w+), bool\) or not isinstance\(\1, "
        r"(int|numbers\.Integral|\(int, np\.integer\))\) or \1 <"
    )
    for path in _python_files(os.path.join(ROOT, "keras_vt")):
        if path.endswith(os.path.join("keras_vt", "checks.py")):
            continue
        assert not pattern.search(open(path).read()), path


def test_checks_old_location_is_the_same_module():
    from keras_vt.layers import checks as old

    assert old is checks is keras_vt.checks


FAMILIES = ("vit", "deit", "cpvt", "cvt", "clip", "cnn")


def _imports(path):
    tree = ast.parse(open(path).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            for alias in node.names:
                yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_families_do_not_import_each_other_nor_training():
    models = os.path.join(ROOT, "keras_vt", "models")
    for family in FAMILIES:
        found = set(_imports(os.path.join(models, f"{family}.py")))
        others = {f"keras_vt.models.{f}" for f in FAMILIES if f != family}
        assert not found & others, (family, found & others)
    for name in os.listdir(models):
        if name.endswith(".py"):
            found = set(_imports(os.path.join(models, name)))
            assert not any(m.startswith("keras_vt.training") for m in found), name


def test_benchmarks_share_one_timing_harness():
    import runpy

    bench = os.path.join(ROOT, "benchmarks")
    harness = runpy.run_path(os.path.join(bench, "harness.py"))
    calls = []
    stats = harness["time_calls"](lambda: calls.append(1), warmup=2, repeats=5, progress=False)
    assert len(calls) == 7 and stats["n"] == 5 and stats["q1"] <= stats["median"] <= stats["q3"]
    times = harness["interleaved_times"]({"a": lambda: None}, rounds=3, progress=False)
    assert len(times["a"]) == 3
    scripts = [n for n in os.listdir(bench) if n.endswith(".py") and n != "harness.py"]
    for script in scripts:
        source = open(os.path.join(bench, script)).read()
        for helper in ("time_calls", "summarize", "set_threads", "limit_cpus", "interleaved_times"):
            assert f"def {helper}(" not in source, (script, helper)
        if "--worker-output" in source:  # runs workers: through the harness's runner
            assert "run_worker_process" in source and "subprocess.run" not in source, script
    for script in ("distill_step.py", "profile_block.py"):
        source = open(os.path.join(bench, script)).read()
        assert "from harness import" in source, script
