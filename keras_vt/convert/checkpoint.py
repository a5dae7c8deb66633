"""Shared pieces of every converter: reading checkpoints safely and loading them strictly.

Reading never executes pickled code: `.safetensors` files are read with safetensors, `.bin`,
`.pth` and `.pt` files with `torch.load(..., weights_only=True)`. Loading goes through a
`WeightPlan`, which pairs checkpoint keys with model variables and checks the whole checkpoint
before assigning anything: missing keys, unexpected keys and shape mismatches are reported together
in one `ValueError`.
"""

import json
import os

import numpy as np

from keras_vt import checks

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".bin", ".pth", ".pt")
# Checkpoints above this size show progress bars while they are read and assigned.
PROGRESS_BYTES = 100 * 2**20


def to_numpy(tensor):
    """A numpy array from a torch tensor (bfloat16 widened to float32) or any array-like."""
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().cpu()
        if str(tensor.dtype) == "torch.bfloat16":
            tensor = tensor.float()
        return tensor.numpy()
    return np.asarray(tensor)


def module_state(
    source,
    argument="source",
    expected="a PyTorch module or a mapping of parameter names to tensors",
):
    """The parameters of a PyTorch module (its `state_dict()`) or of a mapping of names to
    tensors, as a dict of numpy arrays; anything else is a `ValueError` naming `argument`."""
    if hasattr(source, "state_dict") and callable(source.state_dict):
        source = source.state_dict()
    if not hasattr(source, "items"):
        raise checks.invalid(
            argument, source, expected, problem=f"{argument} of type {type(source).__name__}"
        )
    return {key: to_numpy(value) for key, value in source.items()}


def _progress(iterable, total, desc, show):
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="tensor", disable=not show, leave=False)


def _checkpoint_files(path):
    """The weight files of `path`: a file, or a Hugging Face directory (possibly sharded)."""
    if os.path.isfile(path):
        if not path.endswith(SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES):
            raise ValueError(
                f"Unsupported checkpoint file: path={path!r}. Expected a .safetensors file or a "
                f"PyTorch state dict ({', '.join(PICKLE_SUFFIXES)})."
            )
        return [path]
    if not os.path.isdir(path):
        raise ValueError(f"Checkpoint not found: path={path!r}. Expected a file or a directory.")
    for single, index in (
        ("model.safetensors", "model.safetensors.index.json"),
        ("pytorch_model.bin", "pytorch_model.bin.index.json"),
    ):
        if os.path.isfile(os.path.join(path, single)):
            return [os.path.join(path, single)]
        if os.path.isfile(os.path.join(path, index)):
            with open(os.path.join(path, index)) as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
            return [os.path.join(path, shard) for shard in shards]
    raise ValueError(
        f"No weights in directory {path!r}: expected model.safetensors, pytorch_model.bin or a "
        "sharded index (model.safetensors.index.json) next to config.json."
    )


def load_state_dict(path, progress=None):
    """Reads a checkpoint into a dict of numpy arrays, without executing pickled code.

    Args:
        path: a `.safetensors` file, a PyTorch `.bin`/`.pth`/`.pt` state dict (read with
            `torch.load(weights_only=True)`), or a Hugging Face directory (single or sharded).
        progress: show a progress bar; by default only for checkpoints over 100 MiB.

    Returns:
        dict of parameter name -> numpy array (bfloat16 tensors are widened to float32).

    Example:

    ```python
    state = keras_vt.convert.load_state_dict("vit-base/model.safetensors")
    state["vit.embeddings.cls_token"].shape  # (1, 1, 768)
    ```
    """
    path = os.fspath(path)
    files = _checkpoint_files(path)
    if progress is None:
        progress = sum(os.path.getsize(f) for f in files) > PROGRESS_BYTES
    state = {}
    for file in files:
        if file.endswith(SAFETENSORS_SUFFIXES):
            from safetensors import safe_open

            try:
                import torch  # noqa: F401  (bfloat16 tensors need the torch reader)

                framework = "pt"
            except ImportError:
                framework = "np"
            try:
                with safe_open(file, framework=framework) as reader:
                    keys = list(reader.keys())
                    for key in _progress(keys, len(keys), os.path.basename(file), progress):
                        state[key] = to_numpy(reader.get_tensor(key))
            except Exception as error:  # safetensors raises its own SafetensorError
                if isinstance(error, ValueError):
                    raise
                raise ValueError(
                    f"Invalid checkpoint: {file!r} is not a readable safetensors file ({error}). "
                    "Expected a complete .safetensors file (download it again)."
                ) from None
        else:
            import torch

            try:
                loaded = torch.load(file, map_location="cpu", weights_only=True)
            except Exception as error:
                raise ValueError(
                    f"Could not read {file!r} as a plain state dict with "
                    f"torch.load(weights_only=True) ({error}). Pickled code is never executed: "
                    "save the checkpoint as safetensors, or as a dict of tensors."
                ) from error
            for container in ("state_dict", "model"):
                if isinstance(loaded, dict) and isinstance(loaded.get(container), dict):
                    loaded = loaded[container]
            if not isinstance(loaded, dict):
                raise ValueError(
                    f"Checkpoint {file!r} holds a {type(loaded).__name__}: expected a state dict "
                    "(a mapping of parameter names to tensors)."
                )
            items = list(loaded.items())
            for key, value in _progress(items, len(items), os.path.basename(file), progress):
                state[key] = to_numpy(value)
    return state


def read_hf_config(path):
    """The `config.json` of a Hugging Face checkpoint directory, as a dict."""
    path = os.fspath(path)
    config_path = os.path.join(path, "config.json") if os.path.isdir(path) else path
    if not os.path.isfile(config_path):
        raise ValueError(
            f"No config.json in {path!r}: expected a Hugging Face checkpoint directory "
            "(config.json + model.safetensors or pytorch_model.bin)."
        )
    with open(config_path) as f:
        try:
            config = json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"Invalid config.json: {config_path!r} is not JSON ({error}). Expected a JSON "
                "object (a Hugging Face model config)."
            ) from None
    if not isinstance(config, dict):
        raise ValueError(
            f"Invalid config.json: {config_path!r} holds a {type(config).__name__}. Expected a "
            "JSON object (a Hugging Face model config)."
        )
    return config


def hf_num_labels(config):
    """Classes of a Hugging Face `config.json` dict (`id2label`, as transformers derives them)."""
    if config.get("id2label"):
        return len(config["id2label"])
    return int(config.get("num_labels", 2))


def linear_kernel(weight):
    """torch Linear weight (out, in) -> keras Dense kernel (in, out)."""
    return np.transpose(weight)


def conv_kernel(weight):
    """torch Conv2d weight (out, in, kh, kw) -> keras Conv2D kernel (kh, kw, in, out)."""
    return np.transpose(weight, (2, 3, 1, 0))


class WeightPlan:
    """Which checkpoint tensors go into which model variable, checked as a whole before loading.

    Each entry names one variable, the checkpoint keys that make it, the shape each key must have
    (in the checkpoint's own layout), and a function that turns those arrays into the variable's
    value. `load` reports every missing key, unexpected key and shape mismatch in one `ValueError`
    and assigns nothing unless the whole checkpoint matches.

    Example:

    ```python
    plan = WeightPlan("ViT")
    plan.dense(model.get_layer("head"), "classifier")
    plan.load(state_dict)
    ```
    """

    def __init__(self, description):
        self.description = description
        self.entries = []

    def add(self, variable, keys, shapes, combine=None):
        """`variable` <- `combine(*[state[k] for k in keys])`, each key of the given shape."""
        keys, shapes = tuple(keys), tuple(tuple(int(d) for d in s) for s in shapes)
        if len(keys) != len(shapes):
            raise checks.invalid(
                "shapes", shapes, "one shape per key", problem=f"keys={keys} and shapes={shapes}"
            )
        self.entries.append((variable, keys, shapes, combine))

    def tensor(self, variable, key, shape=None, transform=None):
        """One key, same shape as the variable unless `shape` (checkpoint layout) is given."""
        shape = tuple(variable.shape) if shape is None else shape
        self.add(variable, [key], [shape], transform)

    def dense(self, layer, prefix, separator="."):
        """A keras `Dense` from torch Linear `{prefix}.weight` (out, in) and `{prefix}.bias`.

        `separator="_"` reads raw parameters such as OpenAI's `attn.in_proj_weight`.
        """
        fan_in, fan_out = layer.kernel.shape
        self.tensor(layer.kernel, f"{prefix}{separator}weight", (fan_out, fan_in), linear_kernel)
        if layer.bias is not None:
            self.tensor(layer.bias, f"{prefix}{separator}bias")

    def dense_concat(self, layer, prefixes):
        """A fused keras `Dense` (e.g. q/k/v) from separate torch Linears, outputs concatenated."""
        fan_in, fan_out = layer.kernel.shape
        part = fan_out // len(prefixes)
        self.add(
            layer.kernel,
            [f"{p}.weight" for p in prefixes],
            [(part, fan_in)] * len(prefixes),
            lambda *ws: np.concatenate([linear_kernel(w) for w in ws], axis=1),
        )
        if layer.bias is not None:
            self.add(
                layer.bias,
                [f"{p}.bias" for p in prefixes],
                [(part,)] * len(prefixes),
                lambda *bs: np.concatenate(bs, axis=0),
            )

    def conv(self, layer, prefix):
        """A keras `Conv2D` from torch Conv2d `{prefix}.weight` and `{prefix}.bias`."""
        kh, kw, cin, cout = layer.kernel.shape
        self.tensor(layer.kernel, f"{prefix}.weight", (cout, cin, kh, kw), conv_kernel)
        if layer.bias is not None:
            self.tensor(layer.bias, f"{prefix}.bias")

    def layer_norm(self, layer, prefix):
        """A keras `LayerNormalization` from torch LayerNorm `{prefix}.weight` / `{prefix}.bias`."""
        self.tensor(layer.gamma, f"{prefix}.weight")
        self.tensor(layer.beta, f"{prefix}.bias")

    @property
    def keys(self):
        return {key for _, keys, _, _ in self.entries for key in keys}

    def check(self, state_dict):
        """The problems of loading `state_dict`, as one message; None when it matches."""
        expected = {}
        for _, keys, shapes, _ in self.entries:
            expected.update(zip(keys, shapes))
        missing = sorted(set(expected) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(expected))
        mismatched = [
            f"{key}: checkpoint {tuple(np.shape(state_dict[key]))}, expected {expected[key]}"
            for key in sorted(set(expected) & set(state_dict))
            if tuple(np.shape(state_dict[key])) != expected[key]
        ]
        if not (missing or unexpected or mismatched):
            return None
        parts = []
        for what, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", mismatched),
        ):
            if items:
                parts.append(f"{len(items)} {what}: " + ", ".join(items))
        hint = ""
        if 2 * len(missing) > len(expected):
            hint = (
                f" Only {len(expected) - len(missing)} of {len(expected)} expected keys are "
                "present: is this a checkpoint for another architecture?"
            )
        return (
            f"Checkpoint does not match {self.description}: "
            + "; ".join(parts)
            + "."
            + hint
            + " Nothing was loaded."
        )

    def load(self, state_dict, progress=None):
        """Checks `state_dict` as a whole, then assigns every variable.

        Raises:
            ValueError: listing missing keys, unexpected keys and shape mismatches together;
                no variable is modified in that case.
        """
        problem = self.check(state_dict)
        if problem:
            raise ValueError(problem)
        if progress is None:
            progress = sum(np.asarray(v).nbytes for v in state_dict.values()) > PROGRESS_BYTES
        values = []
        for variable, keys, _, combine in self.entries:
            arrays = [np.asarray(state_dict[k]) for k in keys]
            value = combine(*arrays) if combine is not None else arrays[0]
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    f"Checkpoint keys {list(keys)} give shape {tuple(value.shape)} for variable "
                    f"{variable.path!r} of shape {tuple(variable.shape)}. Nothing was loaded."
                )
            values.append(value)
        for (variable, *_), value in _progress(
            zip(self.entries, values), len(values), "assigning", progress
        ):
            variable.assign(np.asarray(value, order="C").astype(variable.dtype))  # keeps 0-d
