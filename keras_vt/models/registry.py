"""Name -> builder registry, in the spirit of timm's `create_model`.

Each model family registers its named configurations at import time:

```python
register("vit_tiny_patch16_224", VisionTransformer, family="vit",
         config=dict(patch_size=16, hidden_dim=192, depth=12, num_heads=3, mlp_dim=768),
         tiny=dict(hidden_dim=32, depth=2, num_heads=2, mlp_dim=64, image_size=32))
```

`config` is what the name means (the paper's size table row); `tiny` is a small override that
keeps the family's structure (used by the shared test base and for CPU experiments).
"""

import dataclasses
import difflib
import fnmatch

from keras_vt import checks


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str
    cls: type
    family: str
    config: dict
    tiny: dict

    @property
    def image_size(self):
        return self.config.get("image_size", getattr(self.cls, "default_image_size", None))


_REGISTRY = {}


def register(name, cls, family, config=None, tiny=None):
    """Registers `name` as `cls(**config)`; `tiny` shrinks it for tests and CPU runs."""
    if name in _REGISTRY:
        raise ValueError(f"Model name {name!r} is already registered.")
    _REGISTRY[name] = ModelSpec(name, cls, family, dict(config or {}), dict(tiny or {}))


def get_spec(name):
    """Returns the `ModelSpec` of `name`, or raises a `ValueError` suggesting close names."""
    if not isinstance(name, str) or name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=5, cutoff=0.5)
        hint = f" Did you mean one of {close}?" if close else ""
        raise ValueError(
            f"Unknown model name: name={name!r}. Expected one of keras_vt.list_models().{hint}"
        )
    return _REGISTRY[name]


def list_models(pattern="*", family=None):
    """Registered model names matching a shell-style `pattern`, sorted.

    Example:

    >>> keras_vt.list_models("deit_*distilled*")[:2]
    ['deit_base_distilled_patch16_224', 'deit_base_distilled_patch16_384']
    """
    return sorted(
        name
        for name, spec in _REGISTRY.items()
        if fnmatch.fnmatch(name, pattern) and (family is None or spec.family == family)
    )


def accepted_arguments(cls):
    """The keyword arguments `cls(...)` accepts: its constructor's (and its bases' while they
    forward `**kwargs`), plus Keras' `name`, `dtype` and `trainable`."""
    import inspect

    names = {"name", "dtype", "trainable"}
    for klass in cls.__mro__:
        if klass.__module__.startswith("keras.") or klass.__module__ == "keras_vt.models.base":
            break  # keras.Model's own (inputs, outputs, ...) are built by the family
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters.values()
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        names.update(p.name for p in parameters if p.kind in kinds)
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    names.discard("self")
    return names


def check_overrides(spec, overrides):
    """Raises a `ValueError` for an override the model's constructor does not take."""
    accepted = accepted_arguments(spec.cls)
    unknown = sorted(set(overrides) - accepted)
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, sorted(accepted), n=3, cutoff=0.6)
            hints.append(f"{key!r}" + (f" (did you mean {close}?)" if close else ""))
        raise ValueError(
            f"Unknown override(s) for {spec.name!r} ({spec.cls.__name__}): {', '.join(hints)}. "
            f"Expected some of {sorted(accepted)}."
        )


def create_model(name, weights=None, tiny=False, **overrides):
    """Builds the registered model `name`, with keyword `overrides` of its configuration.

    Args:
        name: a registered name, see `keras_vt.list_models()`.
        weights: optional path to a `.weights.h5` file or a `.keras` file whose weights are loaded
            into the new model, or a hub checkpoint `"hf://ORG/NAME[@REVISION]"` / `"timm/NAME"`
            (downloaded through huggingface_hub's cache, converted, cached; see
            `keras_vt.convert.hub`). Learned position tables saved at another resolution are
            resampled; a classifier of another size is re-initialised (fine-tuning).
        tiny: apply the family's small test configuration before `overrides`.
        **overrides: constructor arguments, at least `num_classes`, `image_size`, `include_top`
            and `dtype`.

    Example:

    >>> model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True, num_classes=10)
    >>> tuple(model(np.zeros((1, 32, 32, 3))).shape)
    (1, 10)
    """

    spec = get_spec(name)
    # Deprecated names become the new ones before the family's configuration is merged in.
    checks.rename_arguments(overrides, getattr(spec.cls, "renamed_arguments", {}))
    check_overrides(spec, overrides)
    if weights is not None:
        checks.check_weights_file(weights)  # before building: no weight created in vain
    config = dict(spec.config)
    if tiny:
        config.update(spec.tiny)
    config.update(overrides)
    model = spec.cls(**config)
    if weights is not None:
        load_weights(model, weights)
    return model


def load_weights(model, path):
    """Loads weights from a `.weights.h5` or `.keras` file into `model`.

    Layers with learned position tables resample a table saved at another grid size
    (see `keras_vt.layers.PositionEmbedding`), so weights trained at 224 px load into a 384 px model.
    """
    import os
    import tempfile

    import keras

    path = checks.check_weights_file(path)
    if path.startswith(("hf://", "timm/")) and not os.path.exists(path):
        # Hub checkpoints: downloaded, converted and cached by keras_vt.convert.hub (imported
        # here, at call time, because the converters build on the model families).
        from keras_vt.convert.hub import load_pretrained, transfer_weights

        transfer_weights(load_pretrained(path), model)
        return model
    if path.endswith(".weights.h5"):
        model.load_weights(path)
    else:  # .keras
        source = keras.saving.load_model(path, compile=False)
        with tempfile.TemporaryDirectory() as tmp:
            weights_path = os.path.join(tmp, "source.weights.h5")
            source.save_weights(weights_path)
            model.load_weights(weights_path)
    return model
