"""The `keras-vt` command as a user runs it (in-process through `keras_vt.cli.main`)."""

import keras
import numpy as np
import pytest

import keras_vt
from keras_vt import cli

pytestmark = pytest.mark.single_backend


def test_models_lists_names_parameters_resolution_family(capsys):
    assert cli.main(["models", "vit_tiny_patch16_224"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("vit_tiny_patch16_224"))
    assert row.split() == ["vit_tiny_patch16_224", "5,717,416", "224", "vit"]


def test_models_rejects_a_pattern_without_matches():
    with pytest.raises(SystemExit, match="no registered model matches"):
        cli.main(["models", "nothing*", "--no-params"])


def test_train_on_shapes_saves_a_loadable_model(tmp_path, capsys):
    path = tmp_path / "mini.keras"
    argv = [
        "train",
        "vit_mini_patch4_32",
        "--epochs",
        "1",
        "--num-images",
        "128",
        "--batch-size",
        "32",
        "--output",
        str(path),
        "--set",
        "depth=1",
        "hidden_dim=24",
    ]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "final validation accuracy" in out and "10 classes" in out
    model = keras.saving.load_model(path)
    assert model.depth == 1 and model.num_classes == 10


def test_quick_start_default_trains_the_conv_stem_cpvt(tmp_path, capsys):
    """`keras-vt train` with its defaults trains the two-block convolutional-stem CPVT (here cut
    to one block on 64 images); its BatchNorm statistics are saved and loaded with it."""
    defaults = cli.build_parser().parse_args(["train"])
    assert defaults.model == "cpvt_nano_convstem_32_gap"
    assert keras_vt.models.get_spec(defaults.model).config["depth"] == 2
    path = tmp_path / "quick.keras"
    argv = ["train", "--epochs", "1", "--num-images", "64", "--output", str(path)]
    assert cli.main(argv + ["--set", "depth=1"]) == 0
    assert "cpvt_nano_convstem_32_gap" in capsys.readouterr().out
    model = keras.saving.load_model(path)
    assert model.stem == (32, 64, 64) and model.depth == 1
    moving = [w for w in model.non_trainable_weights if "moving_variance" in w.path]
    assert moving and not all(np.allclose(keras.ops.convert_to_numpy(w), 1.0) for w in moving)


def test_train_on_an_image_folder(tmp_path, capsys):
    images, labels = keras_vt.data.make_shapes(24, image_size=32, num_classes=3)
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = tmp_path / "data" / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        keras.utils.save_img(str(folder / f"{i}.png"), image)
    argv = [
        "train",
        "resnet18",
        "--data",
        str(tmp_path / "data"),
        "--image-size",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--output",
        str(tmp_path / "r.keras"),
        "--set",
        "stem=small",
        "widths=(8,8,8,8)",
    ]
    assert cli.main(argv) == 0
    assert "3 classes" in capsys.readouterr().out


def test_train_reports_bad_arguments(capsys):
    assert cli.main(["train", "vit_mini_patch4_32", "--epochs", "0"]) == 2
    assert "epochs >= 1" in capsys.readouterr().err
