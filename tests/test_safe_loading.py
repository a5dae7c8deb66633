"""Safe loading, proven: malicious pickles are refused by every converter and execute nothing;
`.keras` files with a `Lambda` layer are refused (Keras safe_mode) on every loading path unless
the user opts in (`keras.config.enable_unsafe_deserialization()`)."""

import json
import os

import keras
import numpy as np
import pytest

from keras_vt import cli
from keras_vt.convert import convert_checkpoint
from keras_vt.convert.clip import convert_openai_clip
from keras_vt.models import create_model
from keras_vt.models.registry import load_weights

torch = pytest.importorskip("torch")


class Payload:
    """Unpickling it runs `exec`, which writes the marker file: the attack."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('executed')",))


def malicious(path, marker, keys):
    """A torch.save'd state dict with real tensors under `keys` plus the payload."""
    state = {key: torch.zeros(2, 2) for key in keys}
    state["payload"] = Payload(str(marker))
    torch.save(state, path)
    return path


def hf_directory(folder, marker):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "vit", "hidden_size": 32}))
    malicious(folder / "pytorch_model.bin", marker, ["vit.embeddings.cls_token"])
    return folder


@pytest.mark.parametrize(
    "kind, convert",
    [
        ("hf_pytorch_model_bin", lambda path: convert_checkpoint(path)),
        ("timm_state_dict", lambda path: convert_checkpoint(path)),
        ("openai_clip_state_dict", lambda path: convert_openai_clip(path)),
        ("cli_convert", lambda path: cli.main(["convert", str(path), str(path) + ".keras"])),
    ],
)
def test_malicious_pickles_are_refused_and_execute_nothing(tmp_path, kind, convert):
    marker = tmp_path / "executed.txt"
    if kind in ("hf_pytorch_model_bin", "cli_convert"):
        source = hf_directory(tmp_path / "checkpoint", marker)
    elif kind == "timm_state_dict":
        source = malicious(tmp_path / "vit.pth", marker, ["cls_token", "patch_embed.proj.weight"])
    else:
        source = malicious(tmp_path / "ViT-B-32.pt", marker, ["visual.conv1.weight"])
    if kind == "cli_convert":
        assert convert(source) == 2
    else:
        with pytest.raises(ValueError, match="Pickled code is never executed"):
            convert(source)
    assert not marker.exists()
    # The payload is real: plain torch.load (weights_only=False) would have run it.
    file = source / "pytorch_model.bin" if source.is_dir() else source
    torch.load(file, weights_only=False)
    assert marker.read_text() == "executed"


@pytest.fixture
def lambda_file(tmp_path):
    """A .keras file of a model with a Lambda layer whose code writes a marker when it runs."""
    marker = tmp_path / "lambda-ran.txt"
    # Self-contained (the path a constant of its code: Keras saves no closure or default), so that
    # it also runs once loaded unsafely.
    code = f"lambda x: (open({str(marker)!r}, 'w').write('ran'), x * 1.0)[1]"
    payload = keras.layers.Lambda(eval(code), name="payload")
    model = keras.Sequential([keras.Input((8, 8, 3)), payload])
    file = tmp_path / "lambda.keras"
    model.save(file)
    if marker.exists():
        marker.unlink()  # saving traced the layer once; only loading matters here
    return file, marker


def test_lambda_keras_files_are_refused_on_every_loading_path(tmp_path, lambda_file, capfd):
    from keras_vt.apps.common import ModelBank

    file, marker = lambda_file
    paths = {
        "create_model(weights=...)": lambda: create_model(
            "vit_mini_patch4_32", tiny=True, weights=file
        ),
        "registry.load_weights": lambda: load_weights(
            create_model("vit_mini_patch4_32", tiny=True), file
        ),
        "explorer ModelBank": lambda: ModelBank(weights=file, include_embedded=False).get(
            os.path.basename(file)
        ),
    }
    for name, load in paths.items():
        with pytest.raises(ValueError, match="Lambda"):
            load()
        assert not marker.exists(), name
    assert cli.main(["export", str(file), str(tmp_path / "saved")]) == 2
    assert "Lambda" in capfd.readouterr().err
    assert not marker.exists() and not (tmp_path / "saved").exists()


def test_an_explicit_opt_in_loads_the_lambda_file(lambda_file):
    from keras.src.backend.common import global_state

    from keras_vt.apps.common import ModelBank

    file, marker = lambda_file
    keras.config.enable_unsafe_deserialization()
    try:
        model = ModelBank(weights=file, include_embedded=False).get(os.path.basename(file))
        model(np.zeros((1, 8, 8, 3), "float32"))
    finally:
        global_state.set_global_attribute("safe_mode_saving", None)
    assert marker.read_text() == "ran"  # trusted by the user, so it ran
