"""Pretrained weights by hub name: `hf://ORG/NAME[@REVISION]` and `timm/NAME`.

The download goes through `huggingface_hub` (its cache, `HF_HUB_OFFLINE` / `local_files_only`,
revisions, the token from `HF_TOKEN` or the user's login, `HF_ENDPOINT` for a mirror, its progress
bars); only configuration files and safetensors weights are fetched, so a repository that holds
nothing but a pickled `pytorch_model.bin` is refused without being downloaded or unpickled. The architecture comes from
`config.json` (`model_type` for Hugging Face repositories; timm repositories hold a timm state
dict) and the weights go through the same strict conversion as local checkpoints
(`convert_checkpoint`). The converted model is cached beside the download, in
`<hub cache>/models--ORG--NAME/keras_vt/<commit>.keras`, so the second call costs a load, not a
conversion; it is written atomically (a temporary file renamed into place).

Example:

```python
model = keras_vt.create_model("vit_base_patch16_224", weights="hf://google/vit-base-patch16-224")
clip = keras_vt.convert.load_pretrained("hf://openai/clip-vit-base-patch32")
```
"""

import os
import re
import tempfile
import warnings

from keras_vt import checks

SCHEMES = ("hf://", "timm/")
# Files a conversion may need; pickles (*.bin, *.pth, *.pt) are never downloaded.
ALLOW_PATTERNS = [
    "config.json",
    "preprocessor_config.json",
    "open_clip_config.json",
    "*.safetensors",
    "*.safetensors.index.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
]
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def is_hub_name(weights):
    """True when `weights` names a hub checkpoint (`hf://...` or `timm/...`), not a local path."""
    return isinstance(weights, str) and weights.startswith(SCHEMES) and not os.path.exists(weights)


def parse_hub_name(weights):
    """`"hf://ORG/NAME@REV"` -> `("ORG/NAME", "REV", "hf")`; `"timm/NAME"` -> `("timm/NAME", None,
    "timm")`.

    Example:

    >>> keras_vt.convert.hub.parse_hub_name("hf://google/vit-base-patch16-224@main")
    ('google/vit-base-patch16-224', 'main', 'hf')
    >>> keras_vt.convert.hub.parse_hub_name("timm/vit_tiny_patch16_224.augreg_in21k")
    ('timm/vit_tiny_patch16_224.augreg_in21k', None, 'timm')
    """
    if not isinstance(weights, str):
        raise checks.invalid("weights", weights, "a string")
    if weights.startswith("hf://"):
        body, kind = weights[len("hf://") :], "hf"
    elif weights.startswith("timm/"):
        body, kind = weights, "timm"
    else:
        scheme = weights.split("://")[0] + "://" if "://" in weights else weights
        raise ValueError(
            f"Unknown weights scheme in weights={weights!r} ({scheme!r}): expected "
            "'hf://ORG/NAME[@REVISION]', 'timm/NAME[@REVISION]' or a local path."
        )
    repo_id, _, revision = body.partition("@")
    if not _REPO.match(repo_id) or (_ and not revision):
        raise checks.invalid(
            "weights", weights, "a hub repository 'ORG/NAME' with an optional '@REVISION'"
        )
    return repo_id, revision or None, kind


def _offline():
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def download(weights, cache_dir=None, local_files_only=None, token=None):
    """Downloads (or finds in the cache) the files a conversion needs; returns the snapshot path.

    Args:
        weights: `hf://ORG/NAME[@REVISION]` or `timm/NAME[@REVISION]`.
        cache_dir: the hub cache (default: huggingface_hub's, `HF_HUB_CACHE` / `HF_HOME`).
        local_files_only: never reach the network; by default true when `HF_HUB_OFFLINE` is set.
        token: access token (default: `HF_TOKEN` or the stored login, as huggingface_hub reads).
    """
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import (
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError as error:
        raise ImportError(
            "Hub weights need huggingface_hub: `pip install huggingface_hub` (or the `convert` "
            "extra)."
        ) from error
    repo_id, revision, _ = parse_hub_name(weights)
    if cache_dir is None:
        # huggingface_hub reads these once, at import; read them at call time as well.
        home = os.environ.get("HF_HOME")
        cache_dir = os.environ.get("HF_HUB_CACHE") or (os.path.join(home, "hub") if home else None)
    if local_files_only is None:
        local_files_only = _offline()
    try:
        path = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            allow_patterns=ALLOW_PATTERNS,
            token=token,
            # A mirror or a private hub: `HF_ENDPOINT`, read at call time like the cache above.
            endpoint=os.environ.get("HF_ENDPOINT") or None,
        )
    except RevisionNotFoundError as error:
        raise ValueError(
            f"Revision {revision!r} does not exist in {repo_id!r} (weights={weights!r}): expected "
            "a branch, tag or commit of the repository."
        ) from error
    except RepositoryNotFoundError as error:
        raise ValueError(
            f"Repository {repo_id!r} not found on the hub (weights={weights!r}); check the name, "
            "or set HF_TOKEN for a private or gated repository."
        ) from error
    except LocalEntryNotFoundError as error:
        where = "in the hub cache" + (f" {cache_dir!r}" if cache_dir else "")
        raise ValueError(
            f"weights={weights!r} is not {where} and the hub cannot be reached (offline: "
            f"HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE')!r}, local_files_only="
            f"{local_files_only}): expected a cached snapshot of {repo_id!r}"
            + (f" at revision {revision!r}" if revision else "")
            + "; download it once online."
        ) from error
    return path


def _snapshot_parts(path):
    """(repository cache folder, commit) of a snapshot path `.../models--O--N/snapshots/<commit>`."""
    path = os.path.realpath(path)
    snapshots, commit = os.path.split(path)
    if os.path.basename(snapshots) == "snapshots":
        return os.path.dirname(snapshots), commit
    return None, None


def _safetensors_files(path):
    return sorted(f for f in os.listdir(path) if f.endswith(".safetensors"))


def convert_from_hub(
    weights,
    dst=None,
    cache_dir=None,
    local_files_only=None,
    token=None,
    use_cache=True,
    progress=None,
):
    """Downloads and converts a hub checkpoint; returns `(model, path_of_cached_keras_file)`.

    The conversion of a snapshot is cached as `.keras` beside it; the second call loads it.

    Args:
        weights: `hf://ORG/NAME[@REVISION]` or `timm/NAME[@REVISION]`.
        dst: also write the model to this `.keras` path.
        cache_dir, local_files_only, token: see `download`.
        use_cache: read and write the converted-model cache.
        progress: progress bars of the conversion (see `convert_checkpoint`).
    """
    import keras

    from keras_vt.convert.api import HF_CONVERTERS, convert_checkpoint
    from keras_vt.convert.checkpoint import read_hf_config

    repo_id, _, kind = parse_hub_name(weights)
    if dst is not None and not os.fspath(dst).endswith(".keras"):
        raise checks.invalid("dst", os.fspath(dst), "dst to end with '.keras'")
    snapshot = download(weights, cache_dir, local_files_only, token)
    if not os.path.exists(os.path.join(snapshot, "config.json")):
        raise ValueError(
            f"Repository {repo_id!r} (weights={weights!r}) has no config.json: expected a "
            "Hugging Face or timm model repository."
        )
    files = _safetensors_files(snapshot)
    if not files:
        raise ValueError(
            f"Repository {repo_id!r} (weights={weights!r}) has no safetensors weights: expected "
            "model.safetensors; pickled checkpoints (pytorch_model.bin) are refused, since "
            "unpickling can execute code."
        )
    repo_dir, commit = _snapshot_parts(snapshot)
    cached = None
    if use_cache and repo_dir is not None:
        cached = os.path.join(repo_dir, "keras_vt", f"{commit}.keras")
        if os.path.exists(cached):
            model = keras.saving.load_model(cached, compile=False)
            if dst is not None:
                save_atomic(model, dst)
            return model, cached
    if kind == "timm":
        if len(files) != 1:
            raise ValueError(
                f"Expected one safetensors file in the timm repository {repo_id!r}, got {files}."
            )
        model = convert_checkpoint(os.path.join(snapshot, files[0]), progress=progress)
    else:
        model_type = read_hf_config(snapshot).get("model_type")
        if model_type not in HF_CONVERTERS:
            raise ValueError(
                f"Unsupported model_type={model_type!r} in {repo_id!r} (weights={weights!r}): "
                f"expected one of {sorted(HF_CONVERTERS)}."
            )
        model = convert_checkpoint(snapshot, progress=progress)
    if cached is not None:
        try:
            os.makedirs(os.path.dirname(cached), exist_ok=True)
            save_atomic(model, cached)
        except OSError as error:
            warnings.warn(
                f"Could not cache the converted model at {cached!r} ({error}); the next call "
                "converts again.",
                stacklevel=2,
            )
            cached = None
    if dst is not None:
        save_atomic(model, dst)
    return model, cached


def save_atomic(model, path):
    """Saves `model` to `path` (`.keras`) through a temporary file renamed into place, so a kill
    during saving never leaves a truncated file where a good one was."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"Expected an existing folder for {path!r}, got no folder {folder!r}.")
    handle, tmp = tempfile.mkstemp(suffix=".keras", prefix=".tmp-", dir=folder)
    os.close(handle)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_pretrained(weights, **kwargs):
    """The converted keras_vt model of a hub checkpoint (see `convert_from_hub`)."""
    return convert_from_hub(weights, **kwargs)[0]


def transfer_weights(source, target):
    """Copies `source`'s weights into `target` by variable path; returns the skipped paths.

    Position tables of another grid are resampled (through `PositionEmbedding`'s loader). Head
    weights (`head`, `head_dist`, ...) whose shape differs are left as initialised, for
    fine-tuning with another number of classes; any other mismatch, and any target weight missing
    from the source, is an error naming it.
    """
    from keras_vt.layers import PositionEmbedding

    if type(source) is not type(target):
        raise ValueError(
            f"The checkpoint converts to a {type(source).__name__}, but the model to load into is "
            f"a {type(target).__name__}: expected a model name of the same family."
        )
    by_path = {v.path: v for v in source.weights}
    positions = {
        layer.embeddings.path: layer
        for layer in target._flatten_layers(include_self=False)
        if isinstance(layer, PositionEmbedding)
    }
    missing, mismatched, skipped, pending = [], [], [], []
    for variable in target.weights:
        value = by_path.get(variable.path)
        if value is None:
            missing.append(variable.path)
            continue
        if tuple(value.shape) == tuple(variable.shape):
            pending.append((variable, value))
        elif variable.path in positions:
            pending.append((variable, positions[variable.path], value))
        elif any(part.startswith("head") for part in variable.path.split("/")[:-1]):
            skipped.append(variable.path)
        else:
            mismatched.append(f"{variable.path}: {tuple(value.shape)} -> {tuple(variable.shape)}")
    if missing or mismatched:
        raise ValueError(
            "The checkpoint does not fit the model: "
            + (f"missing weights {missing[:8]}; " if missing else "")
            + (f"shape mismatches {mismatched[:8]}" if mismatched else "")
        )
    import keras

    for item in pending:
        if len(item) == 2:
            item[0].assign(item[1].value)
        else:
            _, layer, value = item
            layer.load_own_variables({"0": keras.ops.convert_to_numpy(value.value)})
    if skipped:
        warnings.warn(
            f"New, randomly initialised head weights (the checkpoint's have another shape): "
            f"{skipped}.",
            stacklevel=2,
        )
    return skipped
