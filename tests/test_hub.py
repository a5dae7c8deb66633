"""Pretrained weights by hub name, tested offline on a hub cache the tests populate themselves.

Random-weight Hugging Face models are written with `save_pretrained` into the layout of
huggingface_hub's cache (`models--ORG--NAME/{refs,snapshots/<commit>}`); `create_model(...,
weights="hf://...")` then goes through the real `snapshot_download` with `local_files_only`.
Nothing reaches the network.
"""

import json
import os
import warnings

import keras
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("huggingface_hub")

from test_convert import hf_model, nhwc, pixels, to_numpy  # noqa: E402

import keras_vt  # noqa: E402
from keras_vt.convert import hub  # noqa: E402

SMALL_VIT = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    image_size=32,
    patch_size=8,
    num_labels=5,
)
# The keras_vt overrides that describe the same architecture.
SMALL_VIT_OVERRIDES = dict(
    hidden_dim=32, depth=2, num_heads=2, mlp_dim=64, image_size=32, patch_size=8, num_classes=5
)
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def cache_repo(cache, repo_id, write, commit=COMMIT, ref="main"):
    """Writes a snapshot into huggingface_hub's cache layout; returns the snapshot folder."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    write(snapshot)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / ref).write_text(commit)
    return snapshot


@pytest.fixture(scope="module")
def vit_reference():
    return hf_model("ViTForImageClassification", **SMALL_VIT)


@pytest.fixture
def offline_cache(tmp_path, monkeypatch, vit_reference):
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache_repo(cache, "test-org/tiny-vit", lambda p: vit_reference.save_pretrained(p))
    return cache


def load(weights, cache, **kwargs):
    return hub.convert_from_hub(weights, cache_dir=str(cache), **kwargs)


@pytest.mark.single_backend
def test_hub_checkpoint_matches_transformers_and_is_cached(
    offline_cache, vit_reference, monkeypatch
):
    model, cached = load("hf://test-org/tiny-vit", offline_cache)
    x = pixels(32)
    with torch.no_grad():
        want = vit_reference(torch.from_numpy(x)).logits.numpy()
    np.testing.assert_allclose(to_numpy(model(nhwc(x))), want, atol=1e-4)
    assert cached == str(
        offline_cache / "models--test-org--tiny-vit" / "keras_vt" / f"{COMMIT}.keras"
    )
    assert os.path.exists(cached)
    assert [f for f in os.listdir(os.path.dirname(cached)) if f.startswith(".tmp")] == []
    # The second call loads the cached conversion: converting again would fail here.
    import keras_vt.convert.api as api

    monkeypatch.setattr(api, "convert_checkpoint", lambda *a, **k: pytest.fail("converted twice"))
    again, cached_again = load("hf://test-org/tiny-vit", offline_cache)
    assert cached_again == cached
    np.testing.assert_allclose(to_numpy(again(nhwc(x))), want, atol=1e-4)
    # Revisions: the commit itself resolves to the same snapshot.
    by_commit, _ = load(f"hf://test-org/tiny-vit@{COMMIT}", offline_cache)
    np.testing.assert_allclose(to_numpy(by_commit(nhwc(x))), want, atol=1e-4)


@pytest.mark.single_backend
def test_create_model_with_hub_weights_fine_tunes(offline_cache, vit_reference):
    x = pixels(32)
    with torch.no_grad():
        want = vit_reference(torch.from_numpy(x)).logits.numpy()
    # HF_HUB_OFFLINE=1 (set by the fixture) is honoured without passing local_files_only.
    os.environ["HF_HUB_CACHE"] = str(offline_cache)
    model = keras_vt.create_model(
        "vit_tiny_patch16_224", weights="hf://test-org/tiny-vit", **SMALL_VIT_OVERRIDES
    )
    np.testing.assert_allclose(to_numpy(model(nhwc(x))), want, atol=1e-4)
    # Another number of classes: a new head, everything else from the checkpoint.
    overrides = dict(SMALL_VIT_OVERRIDES, num_classes=3)
    with pytest.warns(UserWarning, match="head"):
        three = keras_vt.create_model(
            "vit_tiny_patch16_224", weights="hf://test-org/tiny-vit", **overrides
        )
    assert tuple(three(nhwc(x)).shape) == (2, 3)
    for new, old in zip(three.weights, model.weights):
        if "head" not in new.path:
            np.testing.assert_array_equal(to_numpy(new), to_numpy(old))
    # Another resolution: the position table is resampled, the logits stay close to the
    # reference run at that resolution with interpolate_pos_encoding.
    overrides = dict(SMALL_VIT_OVERRIDES, image_size=48)
    bigger = keras_vt.create_model(
        "vit_tiny_patch16_224", weights="hf://test-org/tiny-vit", **overrides
    )
    x48 = pixels(48)
    with torch.no_grad():
        want48 = vit_reference(torch.from_numpy(x48), interpolate_pos_encoding=True).logits.numpy()
    np.testing.assert_allclose(to_numpy(bigger(nhwc(x48))), want48, atol=1e-3)
    # A model of another size: a clear error listing the shape mismatches.
    with pytest.raises(ValueError, match="shape mismatches"):
        keras_vt.create_model(
            "vit_tiny_patch16_224",
            weights="hf://test-org/tiny-vit",
            **dict(SMALL_VIT_OVERRIDES, mlp_dim=96),
        )


@pytest.mark.single_backend
def test_hub_errors(offline_cache, tmp_path):
    with pytest.raises(ValueError, match="not in the hub cache"):
        load("hf://test-org/not-cached", offline_cache)
    with pytest.raises(ValueError, match="at revision 'v9'"):
        load("hf://test-org/tiny-vit@v9", offline_cache)
    with pytest.raises(ValueError, match="Unknown weights scheme"):
        hub.parse_hub_name("s3://bucket/model")
    with pytest.raises(ValueError, match="ORG/NAME"):
        hub.parse_hub_name("hf://just-a-name")

    def gpt2(path):
        transformers.GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=11).save_pretrained(path)
        transformers.GPT2Model(
            transformers.GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=11)
        ).save_pretrained(path)

    cache_repo(offline_cache, "test-org/gpt2", gpt2)
    with pytest.raises(ValueError, match="Unsupported model_type='gpt2'.*expected one of"):
        load("hf://test-org/gpt2", offline_cache)

    cache_repo(
        offline_cache, "test-org/no-config", lambda p: (p / "x.safetensors").write_bytes(b"")
    )
    with pytest.raises(ValueError, match="no config.json"):
        load("hf://test-org/no-config", offline_cache)

    def pickle_only(path):
        (path / "config.json").write_text(json.dumps({"model_type": "vit"}))
        (path / "pytorch_model.bin").write_bytes(b"not even read")

    cache_repo(offline_cache, "test-org/pickle-only", pickle_only)
    with pytest.raises(ValueError, match="pickled checkpoints .* are refused"):
        load("hf://test-org/pickle-only", offline_cache)


@pytest.mark.single_backend
def test_unwritable_conversion_cache_leaves_nothing_half_written(offline_cache, recwarn):
    # A file where the cache folder should be: the conversion still returns the model, warns that
    # it could not be cached, and leaves no temporary file.
    blocker = offline_cache / "models--test-org--tiny-vit" / "keras_vt"
    blocker.write_text("not a folder")
    model, cached = load("hf://test-org/tiny-vit", offline_cache)
    assert cached is None and isinstance(model, keras.Model)
    assert any("Could not cache" in str(w.message) for w in recwarn.list)
    repo = offline_cache / "models--test-org--tiny-vit"
    leftovers = [f for _, _, files in os.walk(repo) for f in files if f.startswith(".tmp")]
    assert leftovers == []
    warnings.simplefilter("default")


README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "hub_configs")


def hub_table():
    """Rows (hub name, keras_vt name, parameters) of README's table of known checkpoints."""
    text = open(README, encoding="utf-8").read()
    table = text.split("<!-- hub-table -->")[1].split("<!-- /hub-table -->")[0]
    rows = []
    for line in table.strip().splitlines()[2:]:
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        rows.append((cells[0], cells[1], int(cells[2].replace(",", ""))))
    return rows


def keras_mapping(config):
    from keras_vt.convert import cvt_config_from_hf, hf_clip_config, hf_vit_config

    if config["model_type"] == "clip":
        return hf_clip_config(config)
    if config["model_type"] == "cvt":
        return cvt_config_from_hf(transformers.AutoConfig.for_model(**config))
    return hf_vit_config(config)


def normalise(value):
    if isinstance(value, (list, tuple)):
        return tuple(normalise(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def keras_model(config):
    """The keras_vt model the converters build for a Hugging Face config (random weights)."""
    from keras_vt.convert import cvt_config_from_hf, hf_clip_config, hf_vit_config

    model_type = config["model_type"]
    if model_type == "clip":
        return keras_vt.models.CLIP(**hf_clip_config(config))
    if model_type == "cvt":
        mapped = cvt_config_from_hf(transformers.AutoConfig.for_model(**config))
        return keras_vt.models.CvT(**mapped)
    mapped = hf_vit_config(config)
    if model_type == "deit":
        return keras_vt.models.DistilledDeiT(**mapped)
    return keras_vt.models.VisionTransformer(**mapped)


@pytest.mark.single_backend
@pytest.mark.parametrize("row", hub_table(), ids=lambda row: row[0])
def test_known_checkpoint_configs_convert_with_exact_counts(row):
    hub_name, keras_name, params = row
    repo_id, _, _ = hub.parse_hub_name(hub_name)
    with open(os.path.join(CONFIGS, repo_id.replace("/", "--") + ".json")) as f:
        config = json.load(f)
    architectures = {
        "vit": transformers.ViTForImageClassification,
        "deit": transformers.DeiTForImageClassificationWithTeacher,
        "cvt": transformers.CvtForImageClassification,
        "clip": transformers.CLIPModel,
    }
    with torch.device("meta"):
        reference = architectures[config["model_type"]](transformers.AutoConfig.for_model(**config))
    assert sum(p.numel() for p in reference.parameters()) == params
    from reference import REFERENCE_PARAMS

    assert REFERENCE_PARAMS[keras_name] == params  # asserted on built models by test_models.py
    spec = keras_vt.models.get_spec(keras_name)
    if params > 100_000_000:
        # Building these takes 20-30 s each; test_models.py builds `keras_name` at full size and
        # asserts its count, so here the converter's mapping must give the registered sizes.
        mapped = keras_mapping(config)
        sizes = {k: v for k, v in spec.config.items() if k in mapped}
        assert sizes and all(normalise(mapped[k]) == normalise(v) for k, v in sizes.items())
        return
    model = keras_model(config)
    assert keras_vt.count_params(model) == params
    assert spec.cls.__name__ in (
        type(model).__name__,
        "DeiT",  # facebook/deit-* without teacher are ViTs; keras_vt's DeiT is the same graph
    )


@pytest.mark.single_backend
def test_train_fine_tunes_from_hub_weights(offline_cache, tmp_path):
    from keras_vt.training.classification import train_classifier

    os.environ["HF_HUB_CACHE"] = str(offline_cache)
    overrides = {k: v for k, v in SMALL_VIT_OVERRIDES.items() if k not in ("num_classes",)}
    overrides.pop("image_size")
    with pytest.warns(UserWarning, match="head"):
        result = train_classifier(
            "vit_tiny_patch16_224",
            image_size=32,
            epochs=1,
            batch_size=32,
            num_images=64,
            weights="hf://test-org/tiny-vit",
            overrides=overrides,
            output=str(tmp_path / "tuned.keras"),
            verbose=0,
        )
    assert result["num_classes"] == 10 and os.path.exists(tmp_path / "tuned.keras")


@pytest.mark.single_backend
def test_explorer_loads_hub_weights(offline_cache, vit_reference):
    """`keras-vt explore --weights hf://...` (issue 17): the explorer's model bank loads the
    checkpoint through the hub cache (family and size from its config.json), and the attention
    tab explains with it; with --model the checkpoint must fit that model."""
    import argparse

    from keras_vt.apps import attention, common
    from keras_vt.apps.explorer import add_explore_arguments

    name = "hf://test-org/tiny-vit"
    args = add_explore_arguments(argparse.ArgumentParser()).parse_args(["--weights", name])
    bank = common.ModelBank(model=args.model, weights=args.weights)
    assert bank.names()[0] == name
    x = pixels(32)
    with torch.no_grad():
        want = vit_reference(torch.from_numpy(x)).logits.numpy()
    np.testing.assert_allclose(to_numpy(bank.get(name)(nhwc(x))), want, atol=1e-4)
    picture, top, _, status = attention.explain(bank, name, None, "circle", 2, "mean", "rollout")
    assert picture is not None and len(top) == SMALL_VIT["num_labels"], status
    assert "grid 4x4" in status
    mismatched = common.ModelBank(model="vit_tiny_patch16_224", weights=name)
    with pytest.raises(ValueError, match="does not fit"):
        mismatched.get(mismatched.names()[0])
    with pytest.raises(ValueError, match="ORG/NAME"):
        common.ModelBank(weights="hf://no-organisation")


@pytest.mark.single_backend
def test_download_from_a_local_hub_endpoint(tmp_path, monkeypatch, vit_reference):
    """The online path (issue 17): `HF_ENDPOINT` names a hub served on 127.0.0.1 by the test
    (tests/hub_server.py); `hf://` and `timm/` names download through huggingface_hub's HTTP
    client, revisions resolve, nothing is fetched twice, the conversion is cached, and once the
    endpoint is gone HF_HUB_OFFLINE=1 serves the same model from the cache."""
    from hub_server import add_repo, serve
    from safetensors.numpy import save_file
    from test_convert import load_state_dict, save, timm_state_from_hf

    root = tmp_path / "remote"
    add_repo(root, "test-org/tiny-vit", vit_reference.save_pretrained, COMMIT, ("main", "v1"))
    # timm's converter infers the heads from 64-wide heads, as real timm ViTs have.
    timm_reference = hf_model(
        "ViTForImageClassification", seed=5, **dict(SMALL_VIT, hidden_size=128)
    )
    state = load_state_dict(save(timm_reference, tmp_path / "hf"))

    def timm_repo(path):
        (path / "config.json").write_text(json.dumps({"architecture": "vit_tiny_patch16_224"}))
        save_file(
            timm_state_from_hf(state, SMALL_VIT["num_hidden_layers"]), path / "model.safetensors"
        )

    add_repo(root, "timm/tiny-vit", timm_repo, "f" * 40)
    server = serve(root)
    cache = tmp_path / "cache"
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    x = pixels(32)
    with torch.no_grad():
        want = vit_reference(torch.from_numpy(x)).logits.numpy()
    try:
        model, cached = load("hf://test-org/tiny-vit@v1", cache, local_files_only=False)
        np.testing.assert_allclose(to_numpy(model(nhwc(x))), want, atol=1e-4)
        fetched = sorted(server.downloads)
        assert "test-org/tiny-vit/model.safetensors" in fetched
        assert not any(name.endswith(".bin") for name in fetched)
        assert cached.endswith(f"{COMMIT}.keras")
        # main is the same commit: its files are in the cache, its conversion too.
        _, again = load("hf://test-org/tiny-vit", cache, local_files_only=False)
        assert again == cached and sorted(server.downloads) == fetched
        with pytest.raises(ValueError, match="Revision 'v9' does not exist"):
            load("hf://test-org/tiny-vit@v9", cache, local_files_only=False)
        with pytest.raises(ValueError, match="not found on the hub"):
            load("hf://test-org/missing", cache, local_files_only=False)
        # timm/NAME: a timm state dict on the same hub (heads inferred from the widths).
        timm_model, _ = load("timm/tiny-vit", cache, local_files_only=False)
        with torch.no_grad():
            want_timm = timm_reference(torch.from_numpy(x)).logits.numpy()
        np.testing.assert_allclose(to_numpy(timm_model(nhwc(x))), want_timm, atol=1e-4)
    finally:
        server.shutdown()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline, _ = load("hf://test-org/tiny-vit@v1", cache)
    np.testing.assert_allclose(to_numpy(offline(nhwc(x))), want, atol=1e-4)
