"""Bad input, everywhere, as one table (issue 14, item 2).

Every case feeds one public entry point (`create_model` and its overrides for every family, the
layer constructors, `preprocess`, `fit`/`predict` inputs, `Distiller`, tokenizers, `resize`,
converters, export, every CLI subcommand, the Gradio endpoints) something wrong, and expects a
`ValueError` (the CLI: an error exit with a message, no traceback; a Gradio endpoint: a
"Cannot ..." status) whose text names the argument, the offending value and what was expected.

"Before any backend op": each call runs under `no_backend_ops()`, which replaces every
`keras.ops` function (the package's only way to a backend) and weight creation with a trap that
raises `BackendOpCalled` (not a `ValueError`, so it fails the case). Files, models and data a
case needs are made first, outside the trap, by its `prepare(tmp_path)`.

The property-based tests at the end draw config overrides and input shapes for every family:
a build either succeeds with the expected output shape or raises a `ValueError`.
"""

import contextlib
import io
import json
import traceback

import keras
import numpy as np
import pytest

import keras_vt
import keras_vt.text
from keras_vt import cli, layers
from keras_vt.convert import convert_checkpoint
from keras_vt.export import export
from keras_vt.models.resolution import resize
from keras_vt.training import Distiller

BACKEND = keras.backend.backend()


@pytest.fixture(autouse=True)
def _fresh_session():
    """conftest's fixture without its garbage collection (most of this file's time otherwise)."""
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session(free_memory=False)


class BackendOpCalled(Exception):
    """A backend op ran before the error: not a ValueError, so the case fails."""


_TRAP_MODULES = (keras.ops, keras.ops.image, keras.ops.nn, keras.ops.numpy, keras.ops.linalg)


@contextlib.contextmanager
def no_backend_ops():
    """Every `keras.ops` function and weight creation raise `BackendOpCalled` inside."""

    def trap(name):
        def op(*args, **kwargs):
            raise BackendOpCalled(f"{name} ran before the error")

        return op

    patch = pytest.MonkeyPatch()
    for module in _TRAP_MODULES:
        for name in dir(module):
            value = getattr(module, name)
            if not name.startswith("_") and callable(value) and not isinstance(value, type):
                patch.setattr(module, name, trap(f"keras.ops.{name}"))
    patch.setattr(keras.Variable, "__init__", trap("creating a weight"))
    try:
        yield
    finally:
        patch.undo()


# --------------------------------------------------------------------------------------------
# Helpers the cases share
# --------------------------------------------------------------------------------------------


def run_cli(argv):
    """`keras-vt ARGV` in-process; an error exit becomes a ValueError with its message."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main(argv)
        except SystemExit as exit:
            code = exit.code
    text = err.getvalue() + (code if isinstance(code, str) else "")
    assert "Traceback" not in text, text
    if code not in (0, None):
        raise ValueError(f"exit {code}: {text}")


def status_error(result):
    """A Gradio endpoint's "**Cannot ...**" status (its last output) as a ValueError."""
    status = result[-1]
    if isinstance(status, str) and status.startswith("**Cannot"):
        raise ValueError(status)
    return result


def tiny(name, **overrides):
    return keras_vt.create_model(name, tiny=True, **overrides)


def build(name, **overrides):
    """prepare(): {'model': a tiny `name`}."""
    return lambda tmp_path: {"model": tiny(name, **overrides), "tmp": tmp_path}


def images(batch=2, size=32, dtype="uint8"):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (batch, size, size, 3)).astype(dtype)


def compiled(name, **overrides):
    def prepare(tmp_path):
        model = tiny(name, **overrides)
        model.compile(
            optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
        return {"model": model, "tmp": tmp_path}

    return prepare


def image_folder(tmp_path, corrupt=False):
    """Two class folders of small PNGs; with `corrupt`, one PNG cut short."""
    import tensorflow as tf

    for c, name in enumerate(("circle", "square")):
        folder = tmp_path / "images" / name
        folder.mkdir(parents=True)
        for i in range(3):
            png = tf.io.encode_png(np.full((8, 8, 3), 40 * (c + i), "uint8")).numpy()
            (folder / f"{i}.png").write_bytes(png)
    if corrupt:
        path = tmp_path / "images" / "square" / "1.png"
        path.write_bytes(path.read_bytes()[:30])
    return str(tmp_path / "images")


def folder_with_corrupt_png(tmp_path):
    return {"folder": image_folder(tmp_path, corrupt=True), "tmp": tmp_path}


def hf_directory(tmp_path, config=None, weights=b"not a safetensors file"):
    """A Hugging Face style folder: config.json (`config`) + a model.safetensors."""
    directory = tmp_path / "hf"
    directory.mkdir()
    if config is None:
        config = {"model_type": "vit", "architectures": ["ViTForImageClassification"]}
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "model.safetensors").write_bytes(weights)
    return {"src": str(directory), "tmp": tmp_path}


def saved_keras(tmp_path):
    path = tmp_path / "vit.keras"
    tiny("vit_mini_patch4_32", num_classes=3).save(path)
    return {"path": str(path), "tmp": tmp_path}


def bank(tmp_path):
    from keras_vt.apps.common import ModelBank

    pytest.importorskip("PIL")
    return {"bank": ModelBank(), "tmp": tmp_path}


def text_file(tmp_path, name="notes.txt", text="hello"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def layer_call(layer, shape):
    """prepare(): a layer and a numpy input of `shape` (the call is what is tested)."""
    return lambda tmp_path: {"layer": layer(), "x": np.zeros(shape, "float32")}


# --------------------------------------------------------------------------------------------
# The table: (id, call, argument, value, prepare)
# --------------------------------------------------------------------------------------------

#: create_model overrides per family: (model name, overrides, argument, value as written).
OVERRIDES = [
    # ViT
    ("vit_tiny_patch16_224", dict(hiden_dim=64), "hiden_dim", "hidden_dim"),
    ("vit_tiny_patch16_224", dict(depth=0), "depth", "0"),
    ("vit_tiny_patch16_224", dict(depth=-1), "depth", "-1"),
    ("vit_tiny_patch16_224", dict(depth=2.5), "depth", "2.5"),
    ("vit_tiny_patch16_224", dict(depth=True), "depth", "True"),
    ("vit_tiny_patch16_224", dict(patch_size=0), "patch_size", "0"),
    ("vit_tiny_patch16_224", dict(patch_size=-16), "patch_size", "-16"),
    ("vit_tiny_patch16_224", dict(hidden_dim=0), "hidden_dim", "0"),
    ("vit_tiny_patch16_224", dict(num_heads=0), "num_heads", "0"),
    ("vit_tiny_patch16_224", dict(num_heads=3), "num_heads", "3"),
    ("vit_tiny_patch16_224", dict(mlp_dim=0), "mlp_dim", "0"),
    ("vit_tiny_patch16_224", dict(image_size=30), "image_size", "30"),
    ("vit_tiny_patch16_224", dict(image_size=0), "image_size", "0"),
    ("vit_tiny_patch16_224", dict(image_size=(32,)), "image_size", "(32,)"),
    ("vit_tiny_patch16_224", dict(num_classes=0), "num_classes", "0"),
    ("vit_tiny_patch16_224", dict(num_classes=-1), "num_classes", "-1"),
    ("vit_tiny_patch16_224", dict(num_classes="10"), "num_classes", "'10'"),
    ("vit_tiny_patch16_224", dict(pooling="max"), "pooling", "'max'"),
    ("vit_tiny_patch16_224", dict(dropout=1.5), "dropout", "1.5"),
    ("vit_tiny_patch16_224", dict(attention_dropout=-0.1), "attention_dropout", "-0.1"),
    ("vit_tiny_patch16_224", dict(drop_path_rate=2.0), "drop_path_rate", "2.0"),
    ("vit_tiny_patch16_224", dict(layer_norm_epsilon=0), "layer_norm_epsilon", "0"),
    ("vit_tiny_patch16_224", dict(interpolation="cubic"), "interpolation", "'cubic'"),
    ("vit_tiny_patch16_224", dict(positions="rotary"), "positions", "'rotary'"),
    # DeiT
    ("deit_tiny_patch16_224", dict(depth=0), "depth", "0"),
    ("deit_tiny_patch16_224", dict(patch_size=0), "patch_size", "0"),
    ("deit_tiny_distilled_patch16_224", dict(num_classes=0), "num_classes", "0"),
    ("deit_tiny_distilled_patch16_224", dict(image_size=33), "image_size", "33"),
    ("deit_tiny_patch16_224", dict(pooling="cls"), "pooling", "'cls'"),
    # CPVT
    ("cpvt_tiny", dict(depth=0), "depth", "0"),
    ("cpvt_tiny", dict(depth=-1), "depth", "-1"),
    ("cpvt_tiny", dict(patch_size=0), "patch_size", "0"),
    ("cpvt_tiny", dict(peg_positions=(5,)), "peg_positions", "(5,)"),
    ("cpvt_tiny", dict(peg_positions=()), "peg_positions", "()"),
    ("cpvt_tiny", dict(peg_kernel_size=0), "peg_kernel_size", "0"),
    ("cpvt_tiny", dict(depht=2), "depht", "depth"),
    # CvT
    ("cvt_13", dict(depths=(0, 1, 1)), "depths", "(0, 1, 1)"),
    ("cvt_13", dict(depths=(1, 1)), "depths", "(1, 1)"),
    ("cvt_13", dict(hidden_dims=(16, 32)), "num_heads", "(1, 2, 3)"),  # 2 stages, 3 heads
    ("cvt_13", dict(num_heads=(0, 2, 3)), "num_heads", "(0, 2, 3)"),
    ("cvt_13", dict(mlp_ratio=0), "mlp_ratio", "0"),
    ("cvt_13", dict(image_size=0), "image_size", "0"),
    ("cvt_13", dict(depth=2), "depth", "depths"),
    # CLIP
    ("clip_vit_b32", dict(vision_patch_size=0), "vision_patch_size", "0"),
    ("clip_vit_b32", dict(vision_layers=0), "vision_layers", "0"),
    ("clip_vit_b32", dict(text_layers=-1), "text_layers", "-1"),
    ("clip_vit_b32", dict(embed_dim=0), "embed_dim", "0"),
    ("clip_vit_b32", dict(context_length=0), "context_length", "0"),
    ("clip_vit_b32", dict(vocabulary_size=0), "vocabulary_size", "0"),
    ("clip_vit_b32", dict(image_size=33), "image_size", "33"),
    ("clip_vit_b32", dict(text_heads=3), "text_heads", "3"),
    ("clip_vit_b32", dict(patch_size=16), "patch_size", "vision_patch_size"),
    # MMT (depth=0 is documented: no video transformer)
    ("mmt_tiny", dict(depth=-1), "depth", "-1"),
    ("mmt_tiny", dict(hidden_dim=0), "hidden_dim", "0"),
    ("mmt_tiny", dict(num_heads=3), "num_heads", "3"),
    ("mmt_tiny", dict(embed_dim=0), "embed_dim", "0"),
    ("mmt_tiny", dict(pooling="sum"), "pooling", "'sum'"),
    ("mmt_tiny", dict(experts={}), "experts", "{}"),
    ("mmt_tiny", dict(margin=-1.0), "margin", "-1.0"),
    # AV Align
    ("av_align_tiny", dict(num_classes=0), "num_classes", "0"),
    ("av_align_tiny", dict(depth=0), "depth", "0"),
    ("av_align_tiny", dict(fusion="sum"), "fusion", "'sum'"),
    ("av_align_tiny", dict(modality="smell"), "modality", "'smell'"),
    ("av_align_tiny", dict(num_heads=0), "num_heads", "0"),
    ("av_align_tiny", dict(dropout=1.0), "dropout", "1.0"),
    # Show, Attend and Tell
    ("show_attend_tell", dict(attention="medium"), "attention", "'medium'"),
    ("show_attend_tell", dict(context_length=0), "context_length", "0"),
    ("show_attend_tell", dict(hidden_dim=0), "hidden_dim", "0"),
    ("show_attend_tell", dict(dropout=1.5), "dropout", "1.5"),
    ("show_attend_tell", dict(image_size=0), "image_size", "0"),
    ("show_attend_tell", dict(encoder="vgg99"), "encoder", "'vgg99'"),
    # CNN attention ResNets
    ("resnet18", dict(depths=()), "depths", "()"),
    ("resnet18", dict(depths=(1, 0, 1, 1)), "depths", "(1, 0, 1, 1)"),
    ("resnet18", dict(widths=(8, 16)), "widths", "(8, 16)"),
    ("resnet18", dict(block="wide"), "block", "'wide'"),
    ("resnet18", dict(attention_layer="magic"), "attention_layer", "'magic'"),
    ("resnet18", dict(inserted_attention="magic"), "inserted_attention", "'magic'"),
    ("resnet18", dict(stem="huge"), "stem", "'huge'"),
    ("resnet18", dict(num_classes=0), "num_classes", "0"),
    ("resnet18", dict(attention_heads=0, attention_layer="augmented"), "attention_heads", "0"),
    # BERT
    ("bert_base_uncased", dict(depth=0), "depth", "0"),
    ("bert_base_uncased", dict(depth=-1), "depth", "-1"),
    ("bert_base_uncased", dict(vocabulary_size=0), "vocabulary_size", "0"),
    ("bert_base_uncased", dict(max_length=0), "max_length", "0"),
    ("bert_base_uncased", dict(num_heads=3), "num_heads", "3"),
    ("bert_base_uncased", dict(num_segments=-1), "num_segments", "-1"),
]


def _override_case(name, overrides, argument, value):
    key = ",".join(f"{k}={v!r}" for k, v in overrides.items())
    return (
        f"create_model-{name}-{key}",
        lambda env: tiny(name, **overrides),
        argument,
        value,
        None,
    )


CASES = [_override_case(*row) for row in OVERRIDES] + [
    # --- create_model itself
    (
        "create_model-unknown-name",
        lambda env: keras_vt.create_model("vit_tiny"),
        "name",
        "'vit_tiny'",
        None,
    ),
    ("create_model-name-None", lambda env: keras_vt.create_model(None), "name", "None", None),
    (
        "create_model-missing-weights",
        lambda env: tiny("vit_mini_patch4_32", weights=str(env / "missing.weights.h5")),
        "weights",
        "missing.weights.h5",
        None,
    ),
    (
        "create_model-weights-wrong-suffix",
        lambda env: keras_vt.create_model("vit_mini_patch4_32", weights=text_file(env, "w.bin")),
        "weights",
        "w.bin",
        None,
    ),
    # --- layer constructors
    (
        "PatchEmbedding-patch_size=0",
        lambda env: layers.PatchEmbedding(0, 32),
        "patch_size",
        "0",
        None,
    ),
    (
        "PatchEmbedding-hidden_dim=-1",
        lambda env: layers.PatchEmbedding(4, -1),
        "hidden_dim",
        "-1",
        None,
    ),
    (
        "MultiHeadSelfAttention-num_heads=0",
        lambda env: layers.MultiHeadSelfAttention(0),
        "num_heads",
        "0",
        None,
    ),
    (
        "MultiHeadSelfAttention-dropout=1.5",
        lambda env: layers.MultiHeadSelfAttention(2, dropout=1.5),
        "dropout",
        "1.5",
        None,
    ),
    (
        "MultiHeadCrossAttention-key_dim=0",
        lambda env: layers.MultiHeadCrossAttention(2, key_dim=0),
        "key_dim",
        "0",
        None,
    ),
    ("TransformerBlock-mlp_dim=0", lambda env: layers.TransformerBlock(2, 0), "mlp_dim", "0", None),
    (
        "TransformerBlock-norm=mid",
        lambda env: layers.TransformerBlock(2, 8, norm="mid"),
        "norm",
        "'mid'",
        None,
    ),
    (
        "TransformerBlock-drop_path=-0.5",
        lambda env: layers.TransformerBlock(2, 8, drop_path=-0.5),
        "drop_path",
        "-0.5",
        None,
    ),
    ("MLP-hidden_dim=0", lambda env: layers.MLP(0), "hidden_dim", "0", None),
    ("DropPath-rate=1.0", lambda env: layers.DropPath(1.0), "rate", "1.0", None),
    ("ClassToken-num_tokens=0", lambda env: layers.ClassToken(0), "num_tokens", "0", None),
    (
        "PositionEmbedding-grid_size=0",
        lambda env: layers.PositionEmbedding(0),
        "grid_size",
        "0",
        None,
    ),
    (
        "PositionEmbedding-interpolation=cubic",
        lambda env: layers.PositionEmbedding(4, interpolation="cubic"),
        "interpolation",
        "'cubic'",
        None,
    ),
    (
        "SinCosPositionEmbedding2D-temperature=0",
        lambda env: layers.SinCosPositionEmbedding2D(4, temperature=0),
        "temperature",
        "0",
        None,
    ),
    (
        "PositionEncodingGenerator-kernel_size=2",
        lambda env: layers.PositionEncodingGenerator(kernel_size=2),
        "kernel_size",
        "2",
        None,
    ),
    (
        "ConvTokenEmbedding-strides=0",
        lambda env: layers.ConvTokenEmbedding(8, 3, 0),
        "strides",
        "0",
        None,
    ),
    (
        "ConvProjectionAttention-kv_stride=0",
        lambda env: layers.ConvProjectionAttention(2, kv_stride=0),
        "kv_stride",
        "0",
        None,
    ),
    (
        "ConvProjectionAttention-scale=depth",
        lambda env: layers.ConvProjectionAttention(2, scale="depth"),
        "scale",
        "'depth'",
        None,
    ),
    (
        "ConvTransformerBlock-num_heads=0",
        lambda env: layers.ConvTransformerBlock(0, 8),
        "num_heads",
        "0",
        None,
    ),
    (
        "AttentionPool2D-num_heads=0",
        lambda env: layers.AttentionPool2D(4, 0),
        "num_heads",
        "0",
        None,
    ),
    (
        "AttentionAugmentedConv2D-filters=0",
        lambda env: layers.AttentionAugmentedConv2D(0),
        "filters",
        "0",
        None,
    ),
    (
        "AxialAttention1D-axis=depth",
        lambda env: layers.AxialAttention1D(axis="depth"),
        "axis",
        "'depth'",
        None,
    ),
    (
        "AxialAttention-num_heads=0",
        lambda env: layers.AxialAttention(num_heads=0),
        "num_heads",
        "0",
        None,
    ),
    (
        "LocalSelfAttention2D-kernel_size=0",
        lambda env: layers.LocalSelfAttention2D(8, kernel_size=0),
        "kernel_size",
        "0",
        None,
    ),
    (
        "LocalSelfAttention2D-padding=full",
        lambda env: layers.LocalSelfAttention2D(16, num_heads=2, padding="full"),
        "padding",
        "'full'",
        None,
    ),
    (
        "DoubleAttention-num_descriptors=0",
        lambda env: layers.DoubleAttention(num_descriptors=0),
        "num_descriptors",
        "0",
        None,
    ),
    (
        "NonLocalBlock-inter_channels=0",
        lambda env: layers.NonLocalBlock(inter_channels=0),
        "inter_channels",
        "0",
        None,
    ),
    (
        "SpatialSoftAttention-units=0",
        lambda env: layers.SpatialSoftAttention(0),
        "units",
        "0",
        None,
    ),
    (
        "SpatialHardAttention-units=-2",
        lambda env: layers.SpatialHardAttention(-2),
        "units",
        "-2",
        None,
    ),
    (
        "TextEmbedding-vocabulary_size=0",
        lambda env: layers.TextEmbedding(0, 16, 8),
        "vocabulary_size",
        "0",
        None,
    ),
    (
        "TextEmbedding-max_length=0",
        lambda env: layers.TextEmbedding(10, 0, 8),
        "max_length",
        "0",
        None,
    ),
    # --- layer calls on the wrong shape (checked before the layer builds)
    (
        "PatchEmbedding-call-rank3",
        lambda env: env["layer"](env["x"]),
        "images",
        "(8, 8, 3)",
        layer_call(lambda: layers.PatchEmbedding(4, 8), (8, 8, 3)),
    ),
    (
        "PatchEmbedding-call-not-divisible",
        lambda env: env["layer"](env["x"]),
        "patch_size",
        "4",
        layer_call(lambda: layers.PatchEmbedding(4, 8), (1, 10, 8, 3)),
    ),
    # --- preprocess
    (
        "preprocess-images-in-0-1",
        lambda env: keras_vt.preprocess(images(dtype="float32") / 255.0, env["model"]),
        "value_range",
        "(0, 255)",
        build("vit_mini_patch4_32"),
    ),
    (
        "preprocess-uint8-with-range-0-1",
        lambda env: keras_vt.preprocess(images(), env["model"], value_range=(0, 1)),
        "value_range",
        "(0, 1)",
        build("vit_mini_patch4_32"),
    ),
    (
        "preprocess-model-name-string",
        lambda env: keras_vt.preprocess(images(), "vit_mini_patch4_32"),
        "model",
        "'vit_mini_patch4_32'",
        None,
    ),
    (
        "preprocess-model-None",
        lambda env: keras_vt.preprocess(images(), None),
        "model",
        "None",
        None,
    ),
    (
        "preprocess-one-channel",
        lambda env: keras_vt.preprocess(np.zeros((1, 32, 32, 1), "uint8"), env["model"]),
        "images",
        "1",
        build("vit_mini_patch4_32"),
    ),
    (
        "preprocess-value_range-reversed",
        lambda env: keras_vt.preprocess(images(), env["model"], value_range=(255, 0)),
        "value_range",
        "(255, 0)",
        build("vit_mini_patch4_32"),
    ),
    # --- fit / predict / evaluate data
    (
        "fit-label-beyond-num_classes",
        lambda env: env["model"].fit(
            images(4, 8, "float32"), np.array([0, 1, 7, 2]), epochs=1, verbose=0
        ),
        "y",
        "7",
        compiled("vit_mini_patch4_32", num_classes=3),
    ),
    (
        "fit-negative-label",
        lambda env: env["model"].fit(
            images(4, 8, "float32"), np.array([0, -1, 1, 2]), epochs=1, verbose=0
        ),
        "y",
        "-1",
        compiled("vit_mini_patch4_32", num_classes=3),
    ),
    (
        "evaluate-label-beyond-num_classes",
        lambda env: env["model"].evaluate(images(2, 8, "float32"), np.array([0, 3]), verbose=0),
        "y",
        "3",
        compiled("vit_mini_patch4_32", num_classes=3),
    ),
    (
        "predict-empty-batch",
        lambda env: env["model"].predict(np.zeros((0, 8, 8, 3), "float32"), verbose=0),
        "x",
        "(0, 8, 8, 3)",
        build("vit_mini_patch4_32", num_classes=3),
    ),
    (
        "fit-empty-batch",
        lambda env: env["model"].fit(np.zeros((0, 8, 8, 3)), np.zeros((0,), "int32"), verbose=0),
        "x",
        "(0, 8, 8, 3)",
        compiled("vit_mini_patch4_32", num_classes=3),
    ),
    (
        "bert-fit-token-id-beyond-vocabulary",
        lambda env: env["model"].fit(
            {
                "token_ids": np.full((2, 8), 1000),
                "segment_ids": np.zeros((2, 8), "int32"),
                "padding_mask": np.ones((2, 8), "int32"),
            },
            np.zeros((2, 8, 32)),
            verbose=0,
        ),
        "token_ids",
        "1000",
        compiled("bert_base_uncased"),
    ),
    (
        "clip-fit-token-id-beyond-vocabulary",
        lambda env: env["model"].fit((images(2, 32, "float32"), np.full((2, 16), 64)), verbose=0),
        "token_ids",
        "64",
        compiled("clip_vit_b32"),
    ),
    (
        "clip-fit-with-y",
        lambda env: env["model"].fit(
            (images(2, 32, "float32"), np.zeros((2, 16), "int32")), np.zeros(2), verbose=0
        ),
        "y",
        "targets",
        compiled("clip_vit_b32"),
    ),
    (
        "clip-fit-length-mismatch",
        lambda env: env["model"].fit(
            (images(3, 32, "float32"), np.zeros((2, 16), "int32")), verbose=0
        ),
        "x",
        "3 images",
        compiled("clip_vit_b32"),
    ),
    (
        "clip-fit-wrong-context-length",
        lambda env: env["model"].fit(
            (images(2, 32, "float32"), np.zeros((2, 9), "int32")), verbose=0
        ),
        "token_ids",
        "(2, 9)",
        compiled("clip_vit_b32"),
    ),
    (
        "captioner-fit-token-id-beyond-vocabulary",
        lambda env: env["model"].fit((images(2, 32, "float32"), np.full((2, 10), 50)), verbose=0),
        "x[1]",
        "50",
        compiled("show_attend_tell"),
    ),
    (
        "mmt-fit-with-y",
        lambda env: env["model"].fit({}, np.zeros(2), verbose=0),
        "y",
        "targets",
        compiled("mmt_tiny"),
    ),
    (
        "mmt-fit-caption-id-beyond-vocabulary",
        lambda env: env["model"].fit(mmt_inputs(env["model"], caption=46), verbose=0),
        "caption_ids",
        "46",
        compiled("mmt_tiny"),
    ),
    (
        "av_align-fit-label-beyond-num_classes",
        lambda env: env["model"].fit(
            av_inputs(env["model"]), {"tokens": np.full((2, 1), 9)}, verbose=0
        ),
        "tokens",
        "9",
        compiled("av_align_tiny"),
    ),
    # --- Distiller
    (
        "Distiller-mode",
        lambda env: Distiller(env["model"], mode="medium"),
        "mode",
        "'medium'",
        build("deit_tiny_distilled_patch16_224"),
    ),
    (
        "Distiller-alpha",
        lambda env: Distiller(env["model"], env["model"], alpha=1.5),
        "alpha",
        "1.5",
        build("deit_tiny_distilled_patch16_224"),
    ),
    (
        "Distiller-temperature",
        lambda env: Distiller(env["model"], env["model"], temperature=0),
        "temperature",
        "0",
        build("deit_tiny_distilled_patch16_224"),
    ),
    ("Distiller-student-not-a-model", lambda env: Distiller("deit_tiny"), "student", "str", None),
    (
        "Distiller-fit-label-beyond-num_classes",
        lambda env: env["distiller"].fit(images(2, 32, "float32"), np.array([0, 12]), verbose=0),
        "y",
        "12",
        lambda tmp: distiller(),
    ),
    # --- tokenizers
    (
        "CaptionTokenizer-context_length=2",
        lambda env: keras_vt.text.CaptionTokenizer(CAPTION_VOCABULARY, context_length=2),
        "context_length",
        "2",
        None,
    ),
    (
        "BertTokenizer-missing-vocabulary",
        lambda env: keras_vt.text.BertTokenizer(str(env / "vocab.txt")),
        "vocab.txt",
        "vocab.txt",
        None,
    ),
    (
        "CaptionTokenizer-vocabulary-layout",
        lambda env: keras_vt.text.CaptionTokenizer(["a", "b"]),
        "vocabulary",
        "['a', 'b']",
        None,
    ),
    (
        "CaptionTokenizer-texts-2d",
        lambda env: keras_vt.text.CaptionTokenizer(CAPTION_VOCABULARY, context_length=8)(
            [["a red circle"]]
        ),
        "texts",
        "(1, 1)",
        None,
    ),
    (
        "train_caption_tokenizer-no-captions",
        lambda env: keras_vt.text.train_caption_tokenizer([]),
        "captions",
        "[]",
        None,
    ),
    (
        "train_caption_tokenizer-vocabulary_size=4",
        lambda env: keras_vt.text.train_caption_tokenizer(["a red circle"], vocabulary_size=4),
        "vocabulary_size",
        "4",
        None,
    ),
    # --- resize
    ("resize-not-a-model", lambda env: resize("vit_mini_patch4_32", 64), "model", "str", None),
    (
        "resize-image_size-not-divisible",
        lambda env: resize(env["model"], 30),
        "image_size",
        "30",
        build("vit_tiny_patch16_224"),
    ),
    (
        "resize-image_size-0",
        lambda env: resize(env["model"], 0),
        "image_size",
        "0",
        build("vit_tiny_patch16_224"),
    ),
    (
        "resize-model-without-image_size",
        lambda env: resize(env["model"], 64),
        "image_size",
        "Sequential",
        lambda tmp: {"model": keras.Sequential([keras.layers.Dense(2)])},
    ),
    # --- converters
    (
        "convert-missing-source",
        lambda env: convert_checkpoint(str(env / "nothing")),
        "src",
        "nothing",
        None,
    ),
    (
        "convert-corrupt-safetensors",
        lambda env: convert_checkpoint(env["src"]),
        "safetensors",
        "model.safetensors",
        hf_directory,
    ),
    (
        "convert-config-json-is-a-list",
        lambda env: convert_checkpoint(env["src"]),
        "config.json",
        "list",
        lambda tmp: hf_directory(tmp, config=[1, 2]),
    ),
    (
        "convert-unknown-model_type",
        lambda env: convert_checkpoint(env["src"]),
        "model_type",
        "'pixelcnn'",
        lambda tmp: hf_directory(tmp, config={"model_type": "pixelcnn"}),
    ),
    (
        "convert-dst-folder-missing",
        lambda env: convert_checkpoint(env["src"], str(env["tmp"] / "no" / "m.keras")),
        "dst",
        "m.keras",
        hf_directory,
    ),
    (
        "convert-unknown-option",
        lambda env: convert_checkpoint(env["src"], depht=2),
        "depht",
        "depht",
        hf_directory,
    ),
    # --- export
    (
        "export-unwritable-path",
        lambda env: export(env["path"], "/proc/keras_vt_export"),
        "path",
        "/proc/keras_vt_export",
        saved_keras,
    ),
    (
        "export-path-parent-missing",
        lambda env: export(env["path"], str(env["tmp"] / "no" / "such" / "dir")),
        "path",
        "such",
        saved_keras,
    ),
    (
        "export-unknown-model",
        lambda env: export("vit_nope", str(env / "out")),
        "name",
        "'vit_nope'",
        None,
    ),
    (
        "export-missing-keras-file",
        lambda env: export(str(env / "gone.keras"), str(env / "out")),
        "model",
        "gone.keras",
        None,
    ),
    (
        "export-bad-override",
        lambda env: export("vit_mini_patch4_32", str(env / "out"), depth=0),
        "depth",
        "0",
        None,
    ),
    (
        "export-activation",
        lambda env: export(env["path"], str(env["tmp"] / "out"), activation="sigmoidal"),
        "activation",
        "'sigmoidal'",
        saved_keras,
    ),
    # --- CLI (main(argv) in-process)
    ("cli-no-subcommand", lambda env: run_cli([]), "COMMAND", "required", None),
    ("cli-unknown-subcommand", lambda env: run_cli(["fly"]), "COMMAND", "'fly'", None),
    (
        "cli-models-no-match",
        lambda env: run_cli(["models", "nothing*"]),
        "pattern",
        "'nothing*'",
        None,
    ),
    (
        "cli-train-unknown-model",
        lambda env: run_cli(["train", "vit_nope"]),
        "name",
        "'vit_nope'",
        None,
    ),
    (
        "cli-train-epochs-0",
        lambda env: run_cli(["train", "vit_mini_patch4_32", "--epochs", "0"]),
        "epochs",
        "0",
        None,
    ),
    (
        "cli-train-epochs-not-int",
        lambda env: run_cli(["train", "--epochs", "two"]),
        "--epochs",
        "'two'",
        None,
    ),
    (
        "cli-train-batch-size-0",
        lambda env: run_cli(["train", "--batch-size", "0"]),
        "batch_size",
        "0",
        None,
    ),
    (
        "cli-train-learning-rate-negative",
        lambda env: run_cli(["train", "--learning-rate", "-1"]),
        "learning_rate",
        "-1",
        None,
    ),
    (
        # 1e4 is a legal (if absurd) rate: it trains into a NaN, which stops the run with a message
        # (tests/test_reliability.py); NaN itself is refused up front.
        "cli-train-learning-rate-nan",
        lambda env: run_cli(["train", "--learning-rate", "nan"]),
        "learning_rate",
        "nan",
        None,
    ),
    (
        "cli-train-label-smoothing",
        lambda env: run_cli(["train", "--label-smoothing", "1.5"]),
        "label_smoothing",
        "1.5",
        None,
    ),
    (
        "cli-train-set-typo",
        lambda env: run_cli(["train", "vit_mini_patch4_32", "--set", "depht=2"]),
        "depht",
        "depth",
        None,
    ),
    (
        "cli-train-set-depth-0",
        lambda env: run_cli(["train", "vit_mini_patch4_32", "--set", "depth=0"]),
        "depth",
        "0",
        None,
    ),
    (
        "cli-train-set-num_classes",
        lambda env: run_cli(["train", "vit_mini_patch4_32", "--set", "num_classes=5"]),
        "num_classes",
        "5",
        None,
    ),
    (
        "cli-train-set-no-equals",
        lambda env: run_cli(["train", "--set", "depth"]),
        "--set",
        "'depth'",
        None,
    ),
    (
        "cli-train-missing-output-folder",
        lambda env: run_cli(
            ["train", "vit_mini_patch4_32", "--output", str(env / "no" / "m.keras")]
        ),
        "output",
        "m.keras",
        None,
    ),
    (
        "cli-train-missing-data-folder",
        lambda env: run_cli(["train", "vit_mini_patch4_32", "--data", str(env / "nowhere")]),
        "directory",
        "nowhere",
        None,
    ),
    (
        "image_folder_dataset-corrupt-png",
        lambda env: keras_vt.data.image_folder_dataset(env["folder"], 8),
        "directory",
        "1.png",
        folder_with_corrupt_png,
    ),
    (
        "cli-train-corrupt-png",
        lambda env: run_cli(
            [
                "train",
                "vit_mini_patch4_32",
                "--data",
                env["folder"],
                "--epochs",
                "1",
                "--output",
                str(env["tmp"] / "m.keras"),
            ]
        ),
        "directory",
        "1.png",
        folder_with_corrupt_png,
    ),
    (
        "cli-train-image-size-0",
        lambda env: run_cli(["train", "vit_mini_patch4_32", "--image-size", "0"]),
        "image_size",
        "0",
        None,
    ),
    (
        "cli-train-missing-weights",
        lambda env: run_cli(["train", "vit_mini_patch4_32", "--weights", str(env / "w.keras")]),
        "weights",
        "w.keras",
        None,
    ),
    (
        "cli-convert-missing-source",
        lambda env: run_cli(["convert", str(env / "nothing"), str(env / "m.keras")]),
        "src",
        "nothing",
        None,
    ),
    (
        "cli-convert-corrupt-safetensors",
        lambda env: run_cli(["convert", env["src"], str(env["tmp"] / "m.keras")]),
        "safetensors",
        "model.safetensors",
        hf_directory,
    ),
    (
        "cli-convert-config-json-list",
        lambda env: run_cli(["convert", env["src"], str(env["tmp"] / "m.keras")]),
        "config.json",
        "list",
        lambda tmp: hf_directory(tmp, config=["vit"]),
    ),
    (
        "cli-convert-missing-output-folder",
        lambda env: run_cli(["convert", env["src"], str(env["tmp"] / "no" / "m.keras")]),
        "dst",
        "m.keras",
        hf_directory,
    ),
    (
        "cli-export-unwritable-path",
        lambda env: run_cli(["export", env["path"], "/proc/keras_vt_export"]),
        "path",
        "/proc/keras_vt_export",
        saved_keras,
    ),
    (
        "cli-export-unknown-model",
        lambda env: run_cli(["export", "vit_nope", str(env / "o")]),
        "name",
        "'vit_nope'",
        None,
    ),
    (
        "cli-export-set-typo",
        lambda env: run_cli(
            ["export", "vit_mini_patch4_32", str(env / "o"), "--set", "hiden_dim=8"]
        ),
        "hiden_dim",
        "hidden_dim",
        None,
    ),
    (
        "cli-explore-port-99999",
        lambda env: run_cli(["explore", "--port", "99999"]),
        "--port",
        "99999",
        None,
    ),
    ("cli-explore-port-0", lambda env: run_cli(["explore", "--port", "-1"]), "--port", "-1", None),
    (
        "cli-explore-unknown-model",
        lambda env: run_cli(["explore", "--model", "vit_nope"]),
        "name",
        "'vit_nope'",
        None,
    ),
    (
        "cli-explore-missing-weights",
        lambda env: run_cli(["explore", "--weights", str(env / "w.keras")]),
        "weights",
        "w.keras",
        None,
    ),
    # --- Gradio endpoint functions
    (
        "gradio-explain-unknown-model",
        lambda env: status_error(
            explain(env["bank"], "vit_nope", None, "circle", 1, "mean", "raw")
        ),
        "model",
        "'vit_nope'",
        bank,
    ),
    (
        "gradio-explain-non-image-upload",
        lambda env: status_error(
            explain(
                env["bank"], env["bank"].names()[0], text_file(env["tmp"]), None, 1, "mean", "raw"
            )
        ),
        "notes.txt",
        "notes.txt",
        bank,
    ),
    (
        "gradio-explain-no-image",
        lambda env: status_error(
            explain(env["bank"], env["bank"].names()[0], None, None, 1, "mean", "raw")
        ),
        "upload",
        "None",
        bank,
    ),
    (
        "gradio-similarity-unknown-model",
        lambda env: status_error(similarity(env["bank"], "vit_nope", 64)),
        "model",
        "'vit_nope'",
        bank,
    ),
    (
        "gradio-similarity-image_size-text",
        lambda env: status_error(similarity(env["bank"], env["bank"].names()[0], "big")),
        "image_size",
        "'big'",
        bank,
    ),
    (
        "gradio-translation-no-model",
        lambda env: status_error(translation(env["bank"], [], "circle")),
        "model_names",
        "[]",
        bank,
    ),
    (
        "gradio-graph-unknown-model",
        lambda env: status_error(model_graph(env["bank"], "vit_nope")),
        "model",
        "'vit_nope'",
        bank,
    ),
]


CAPTION_VOCABULARY = ["[PAD]", "[UNK]", "a", "red", "circle", "[START]", "[END]"]


def mmt_inputs(model, caption=0, batch=2, frames=3):
    inputs = {}
    for expert, dim in model.experts.items():
        inputs[expert] = np.zeros((batch, frames, dim), "float32")
        inputs[f"{expert}_mask"] = np.ones((batch, frames), "float32")
        inputs[f"{expert}_times"] = np.zeros((batch, frames), "float32")
    inputs["caption_ids"] = np.full((batch, model.context_length), caption)
    return inputs


def av_inputs(model, batch=2, steps=4):
    spec = {i.name: i.shape for i in model.inputs}
    return {
        name: (np.ones if name.endswith("_mask") else np.zeros)(
            (batch,) + tuple(steps if s is None else s for s in shape[1:]), "float32"
        )
        for name, shape in spec.items()
    }


def distiller():
    student = tiny("deit_tiny_distilled_patch16_224", num_classes=10)
    teacher = tiny("vit_tiny_patch16_224", num_classes=10)
    model = Distiller(student, teacher)
    model.compile(optimizer="adam")
    return {"distiller": model}


def explain(*args):
    from keras_vt.apps.attention import explain

    return explain(*args)


def similarity(*args):
    from keras_vt.apps.positions import similarity

    return similarity(*args)


def translation(*args):
    from keras_vt.apps.positions import translation

    return translation(*args)


def model_graph(*args):
    from keras_vt.apps.graph import model_graph

    return model_graph(*args)


@pytest.mark.parametrize(
    "call, argument, value, prepare", [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_bad_input_names_argument_value_and_expectation(call, argument, value, prepare, tmp_path):
    env = prepare(tmp_path) if prepare else tmp_path
    with no_backend_ops(), pytest.raises(ValueError) as info:
        call(env)
    message = str(info.value)
    assert argument in message, message
    assert value in message, message
    # argparse's own errors show the usage line: that is what was expected
    assert any(word in message for word in ("xpect", "did you mean", "usage:")), message


def test_the_table_has_at_least_150_cases():
    assert len(CASES) >= 150
    assert len({c[0] for c in CASES}) == len(CASES)


def test_predict_on_an_empty_batch_leaves_the_model_usable(tmp_path):
    model = tiny("vit_mini_patch4_32", num_classes=3)
    with pytest.raises(ValueError, match="empty batch"):
        model.predict(np.zeros((0, 8, 8, 3), "float32"), verbose=0)
    assert model.predict(np.zeros((2, 8, 8, 3), "float32"), verbose=0).shape == (2, 3)
    model.save(tmp_path / "m.keras")
    assert keras.saving.load_model(tmp_path / "m.keras").count_params() == model.count_params()


@pytest.mark.parametrize("image_size", [32, 64])
def test_resize_keeps_each_clip_tower_its_own_weights(image_size):
    """The towers share 26 of CLIP's variable paths; each must get its own tower's weights."""
    clip = tiny("clip_vit_b32")
    resized = resize(clip, image_size)
    for tower in ("image_encoder", "text_encoder"):
        before, after = clip.get_layer(tower), resized.get_layer(tower)
        for old, new in zip(before.weights, after.weights):
            if "pos_embed" in old.path and tower == "image_encoder" and image_size != 32:
                continue  # resampled to the new grid
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(old), keras.ops.convert_to_numpy(new), err_msg=old.path
            )


# --------------------------------------------------------------------------------------------
# Property-based: config overrides and input shapes of every family
# --------------------------------------------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

PROPERTY = hypothesis.settings(
    max_examples=6,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure reproduces
    suppress_health_check=list(hypothesis.HealthCheck),
)


def _checked(error):
    """A ValueError raised by keras_vt's checks or by Keras' input-shape check (both before any
    backend op); anything else, or a ValueError from inside a backend, fails the property."""
    frame = traceback.extract_tb(error.__traceback__)[-1].filename
    assert "keras_vt" in frame or frame.endswith("input_spec.py"), (frame, error)


def build_or_reject(name, overrides):
    """The tiny model with `overrides`, or None after a ValueError from keras_vt."""
    try:
        return tiny(name, **overrides)
    except ValueError as error:
        _checked(error)
        return None


def call_or_reject(model, inputs):
    try:
        return model(inputs)
    except ValueError as error:
        _checked(error)
        return None


def shapes(outputs):
    return [tuple(t.shape) for t in keras.tree.flatten(outputs)]


sizes = st.sampled_from


@pytest.mark.single_backend
@pytest.mark.parametrize(
    "name",
    [
        "vit_tiny_patch16_224",
        "deit_tiny_patch16_224",
        "deit_tiny_distilled_patch16_224",
        "cpvt_tiny",
    ],
)
@PROPERTY
@hypothesis.given(
    overrides=st.fixed_dictionaries(
        {},
        optional=dict(
            hidden_dim=sizes([-8, 0, 8, 12]),
            num_heads=st.integers(-1, 4),
            depth=st.integers(-1, 2),
            mlp_dim=sizes([0, 8]),
            patch_size=st.integers(-1, 8),
            image_size=st.integers(-1, 16),
            num_classes=st.integers(-1, 3),
        ),
    ),
    batch=st.integers(1, 2),
    side=st.integers(1, 20),
)
def test_vision_transformers_build_or_reject(name, overrides, batch, side):
    model = build_or_reject(name, overrides)
    if model is None:
        return
    num_classes = overrides.get("num_classes", 1000)
    size = model.image_size if isinstance(model.image_size, int) else model.image_size[0]
    for s in (size, side):  # the model's own size, then any size
        out = call_or_reject(model, np.zeros((batch, s, s, 3), "float32"))
        if out is not None:
            assert set(shapes(out)) == {(batch, num_classes)}


@pytest.mark.single_backend
@PROPERTY
@hypothesis.given(
    depths=st.tuples(*[st.integers(-1, 2)] * 3),
    hidden_dims=sizes([(8, 16, 24), (8, 16), (0, 8, 8), (6, 12, 18)]),
    num_heads=sizes([(1, 2, 3), (2, 2, 2), (1, 1, 0)]),
    side=st.integers(1, 40),
)
def test_cvt_builds_or_rejects(depths, hidden_dims, num_heads, side):
    overrides = dict(depths=depths, hidden_dims=hidden_dims, num_heads=num_heads, num_classes=3)
    model = build_or_reject("cvt_13", overrides)
    if model is not None:
        out = call_or_reject(model, np.zeros((2, side, side, 3), "float32"))
        assert out is None or shapes(out) == [(2, 3)]


@pytest.mark.single_backend
@PROPERTY
@hypothesis.given(
    depths=st.tuples(*[st.integers(-1, 2)] * 4),
    widths=sizes([(8, 16, 32, 64), (4, 8, 8, 8), (0, 8, 8, 8), (8, 8)]),
    image_size=sizes([0, 8, 16, 32]),
    num_classes=st.integers(0, 3),
)
def test_resnets_build_or_reject(depths, widths, image_size, num_classes):
    overrides = dict(depths=depths, widths=widths, image_size=image_size, num_classes=num_classes)
    model = build_or_reject("resnet18", overrides)
    if model is not None:
        out = call_or_reject(model, np.zeros((1, image_size, image_size, 3), "float32"))
        assert out is None or shapes(out) == [(1, num_classes)]


@pytest.mark.single_backend
@PROPERTY
@hypothesis.given(
    overrides=st.fixed_dictionaries(
        {},
        optional=dict(
            vision_width=sizes([0, 8, 16]),
            vision_heads=st.integers(0, 3),
            vision_layers=st.integers(-1, 1),
            vision_patch_size=sizes([0, 4, 8, 16]),
            image_size=sizes([0, 16, 32]),
            text_width=sizes([8, 16]),
            text_heads=st.integers(1, 3),
            text_layers=st.integers(0, 1),
            embed_dim=sizes([0, 8]),
            context_length=sizes([0, 4, 8]),
            vocabulary_size=sizes([0, 16]),
        ),
    ),
    batch=st.integers(1, 2),
)
def test_clip_builds_or_rejects(overrides, batch):
    model = build_or_reject("clip_vit_b32", overrides)
    if model is None:
        return
    size = model.image_size if isinstance(model.image_size, int) else model.image_size[0]
    ids = np.zeros((batch, model.context_length), "int32")
    out = call_or_reject(model, {"images": np.zeros((batch, size, size, 3)), "token_ids": ids})
    assert out is not None
    embed_dim = overrides.get("embed_dim", 16)
    assert shapes(out) == [(batch, embed_dim), (batch, embed_dim)]


@pytest.mark.single_backend
@PROPERTY
@hypothesis.given(
    overrides=st.fixed_dictionaries(
        {},
        optional=dict(
            hidden_dim=sizes([0, 8, 12]),
            num_heads=st.integers(0, 3),
            depth=st.integers(-1, 1),
            vocabulary_size=sizes([0, 20]),
            max_length=sizes([0, 4, 16]),
        ),
    ),
    length=st.integers(1, 20),
)
def test_bert_builds_or_rejects(overrides, length):
    model = build_or_reject("bert_base_uncased", overrides)
    if model is None:
        return
    inputs = {
        "token_ids": np.ones((2, length), "int32"),
        "segment_ids": np.zeros((2, length), "int32"),
        "padding_mask": np.ones((2, length), "int32"),
    }
    out = call_or_reject(model, inputs)
    if out is not None:
        width = overrides.get("hidden_dim", 32)
        assert shapes(out) == [(2, width), (2, length, width)]


@pytest.mark.single_backend
@PROPERTY
@hypothesis.given(
    overrides=st.fixed_dictionaries(
        {},
        optional=dict(
            hidden_dim=sizes([0, 8, 12]),
            num_heads=st.integers(0, 3),
            depth=st.integers(-1, 1),
            embed_dim=sizes([0, 8]),
        ),
    ),
    frames=st.integers(1, 4),
)
def test_mmt_builds_or_rejects(overrides, frames):
    model = build_or_reject("mmt_tiny", overrides)
    if model is None:
        return
    out = call_or_reject(model, mmt_inputs(model, frames=frames))
    assert out is not None
    embed_dim = overrides.get("embed_dim", 32)
    assert out["video_embeddings"].shape[0] == 2 and out["video_embeddings"].shape[-1] == embed_dim
    assert tuple(out["text_embeddings"].shape)[::2] == (2, embed_dim)


@pytest.mark.single_backend
@PROPERTY
@hypothesis.given(
    overrides=st.fixed_dictionaries(
        {},
        optional=dict(
            hidden_dim=sizes([0, 8, 12]),
            num_heads=st.integers(0, 3),
            depth=st.integers(-1, 1),
            num_classes=st.integers(0, 5),
        ),
    ),
    steps=st.integers(1, 6),
)
def test_av_align_builds_or_rejects(overrides, steps):
    model = build_or_reject("av_align_tiny", overrides)
    if model is None:
        return
    out = call_or_reject(model, av_inputs(model, steps=steps))
    if out is not None:
        logits = out["logits"]
        assert logits.shape[0] == 2 and logits.shape[-1] == model.num_classes


@pytest.mark.single_backend
@PROPERTY
@hypothesis.given(
    overrides=st.fixed_dictionaries(
        {},
        optional=dict(
            hidden_dim=sizes([0, 8]),
            embed_dim=sizes([0, 8]),
            attention_dim=sizes([0, 8]),
            context_length=st.integers(0, 6),
            attention=sizes(["soft", "hard", "medium"]),
            image_size=sizes([0, 16, 32]),
        ),
    ),
)
def test_captioner_builds_or_rejects(overrides):
    model = build_or_reject("show_attend_tell", overrides)
    if model is None:
        return
    size = overrides.get("image_size", 32)
    out = call_or_reject(model, np.zeros((2, size, size, 3), "float32"))
    assert out is not None and shapes(out)[0][0] == 2
