"""`convert_checkpoint`: one entry point that picks the converter from the checkpoint itself.

Hugging Face directories are dispatched on `model_type` in their `config.json`; single state-dict
files (timm, OpenAI CLIP) on their key names. Families add their converters with
`register_hf_converter` and `register_state_dict_converter`.
"""

import os

from keras_vt import checks

HF_CONVERTERS = {}
STATE_DICT_CONVERTERS = []


def register_hf_converter(model_type, convert):
    """Registers `convert(directory, **kwargs) -> keras.Model` for a Hugging Face `model_type`."""
    HF_CONVERTERS[model_type] = convert


def register_state_dict_converter(name, matches, convert):
    """Registers `convert(state_dict, **kwargs)` for state dicts where `matches(keys)` is true."""
    STATE_DICT_CONVERTERS.append((name, matches, convert))


def _check_options(convert, options, what):
    """Raises a `ValueError` for options `convert` does not take (instead of its TypeError)."""
    import inspect

    parameters = inspect.signature(convert).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = sorted(set(parameters) - {"directory", "state", "state_dict", "progress", "path"})
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"Unknown option(s) for {what}: {unknown}. Expected some of {accepted}.")


def convert_checkpoint(src, dst=None, progress=None, **kwargs):
    """Converts a local checkpoint to a keras_vt model, and writes it to `dst` (`.keras`) if given.

    Args:
        src: a Hugging Face directory (`config.json` + `model.safetensors` / `pytorch_model.bin`),
            or a single state-dict file (`.safetensors`, `.pth`, `.bin`) in timm layout.
        dst: optional `.keras` path; the written file loads with `keras.saving.load_model` once
            keras_vt is imported.
        progress: progress bars while reading and assigning; by default for files over 100 MiB.
        **kwargs: passed to the converter, e.g. `image_size`, `include_top`, `dtype`.

    Returns:
        The converted `keras.Model`.

    Example:

    ```python
    model = keras_vt.convert.convert_checkpoint("checkpoints/vit-base", "vit-base.keras")
    ```
    """
    from keras_vt.convert.checkpoint import load_state_dict, read_hf_config

    src = os.fspath(src)
    if not os.path.exists(src):
        raise checks.invalid(
            "src", src, "a Hugging Face directory or a state-dict file", f"src={src!r} not found"
        )
    if dst is not None and not os.fspath(dst).endswith(".keras"):
        raise checks.invalid("dst", os.fspath(dst), "dst to end with '.keras'")
    if dst is not None:
        checks.check_output_path("dst", dst)
    if os.path.isdir(src):
        config = read_hf_config(src)
        model_type = config.get("model_type")
        if model_type not in HF_CONVERTERS:
            raise ValueError(
                f"No converter for Hugging Face model_type={model_type!r} in {src!r}: expected "
                f"one of {sorted(HF_CONVERTERS)}."
            )
        _check_options(HF_CONVERTERS[model_type], kwargs, f"model_type={model_type!r}")
        model = HF_CONVERTERS[model_type](src, progress=progress, **kwargs)
    else:
        state = load_state_dict(src, progress=progress)
        for name, matches, convert in STATE_DICT_CONVERTERS:
            if matches(set(state)):
                _check_options(convert, kwargs, f"a {name} state dict")
                model = convert(state, progress=progress, **kwargs)
                break
        else:
            raise ValueError(
                f"Unrecognised state dict in {src!r} (first keys: {sorted(state)[:6]}): expected "
                f"one of {[name for name, _, _ in STATE_DICT_CONVERTERS]}. Hugging Face "
                "checkpoints are converted from their directory (with config.json)."
            )
    if dst is not None:
        from keras_vt.convert.hub import save_atomic  # a kill never truncates a good file

        save_atomic(model, dst)
    return model
