"""keras_vt: the vision-transformer lineage as first-class Keras 3 models."""

import importlib as _importlib
import os as _os
import sys as _sys

__version__ = "0.1.0"


def _command_start():
    """True while the `keras-vt` command (or `python -m keras_vt...`) imports this package.

    The command imports what each subcommand needs itself, so that `keras-vt --help` and
    `keras-vt models` load no backend; everywhere else `import keras_vt` imports everything (which
    also registers every class with Keras, for `keras.saving.load_model`).
    """
    argv0 = (getattr(_sys, "argv", None) or [""])[0]
    return _os.path.basename(argv0) in ("keras-vt", "keras-vt.exe", "-m")


def _import_all():
    from keras_vt import (
        convert,
        data,
        export,
        layers,
        losses,
        metrics,
        models,
        precision,
        training,
        viz,
    )
    from keras_vt.models import create_model, list_models
    from keras_vt.models.zero_shot import ZeroShotClassifier
    from keras_vt.preprocessing import count_params, preprocess

    globals().update(
        {k: v for k, v in locals().items() if k not in ("k", "v")},
    )


_SUBMODULES = ("convert", "data", "export", "layers", "losses", "metrics", "models", "training")
_SUBMODULES += ("checks", "precision", "viz")


def __getattr__(name):
    # Reached only for names not imported yet: after a deferred start (see `_command_start`).
    if name in _SUBMODULES:
        return _importlib.import_module(f"keras_vt.{name}")
    if name.startswith("__"):
        raise AttributeError(name)
    _import_all()
    if name in globals():
        return globals()[name]
    raise AttributeError(f"module 'keras_vt' has no attribute {name!r}")


if not _command_start():
    _import_all()
