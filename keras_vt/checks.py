"""One validation dialect: every configuration error names the argument, its value and what was
expected, in the same words, and is raised before any backend op.

    Invalid depth: depth=0. Expected an int >= 1.
    Unknown pooling='max'. Expected one of ('token', 'gap').
    Invalid image_size: image_size=50 is not divisible by patch_size=16. Expected a multiple of 16
    (e.g. 48).

Models and layers call these helpers instead of writing their own `raise ValueError(...)`.
"""

import numbers
import warnings


def invalid(argument, value, expected, problem=None):
    """The `ValueError` of the house style: `Invalid {argument}: {problem}. Expected {expected}.`

    `problem` defaults to `argument=value`.

    Example:

    >>> str(keras_vt.checks.invalid("depth", 0, "an int >= 1"))
    'Invalid depth: depth=0. Expected an int >= 1.'
    """
    problem = f"{argument}={value!r}" if problem is None else problem
    return ValueError(f"Invalid {argument}: {problem}. Expected {expected}.")


def invalid_shape(argument, shape, expected):
    """The `ValueError` for an array of the wrong shape: `Invalid {argument}: got shape ...`.

    Example:

    >>> str(keras_vt.checks.invalid_shape("tokens", (2, 3), "tokens of shape (b, n, c)"))
    'Invalid tokens: got shape (2, 3). Expected tokens of shape (b, n, c).'
    """
    shape = tuple(shape) if shape is not None else None
    return invalid(argument, shape, expected, problem=f"got shape {shape}")


def rename_arguments(kwargs, renames):
    """`kwargs` with each deprecated name of `renames` ({old: new}) given under its new name.

    Warns (`DeprecationWarning`) for each old name found; an old name given together with its new
    name is an error naming both. Changes and returns `kwargs`.

    Example:

    >>> keras_vt.checks.rename_arguments({"depth": 2}, {"num_layers": "depth"})
    {'depth': 2}
    """
    for old, new in renames.items():
        if old not in kwargs:
            continue
        value = kwargs.pop(old)
        if new in kwargs:
            raise invalid(
                old,
                value,
                f"only {new}, its new name",
                f"got {old}={value!r} (deprecated) and {new}={kwargs[new]!r}",
            )
        warnings.warn(
            f"The argument {old}={value!r} is deprecated; pass {new}={value!r} instead.",
            DeprecationWarning,
            stacklevel=3,
        )
        kwargs[new] = value
    return kwargs


def check_int(argument, value, minimum=1, maximum=None, allow_none=False, expected=None):
    """`value` as an int in [minimum, maximum] (bools and floats rejected), else a `ValueError`.

    NumPy integers are accepted and returned as Python ints; `allow_none=True` lets `None`
    through (returned as is); `expected` replaces the default description of what is accepted.

    Example:

    >>> keras_vt.checks.check_int("depth", 12)
    12
    >>> str(keras_vt.checks.check_int("stride", None, allow_none=True))
    'None'
    """
    if value is None and allow_none:
        return None
    bad = isinstance(value, bool) or not isinstance(value, numbers.Integral)
    if bad or value < minimum or (maximum is not None and value > maximum):
        if expected is None:
            expected = (
                f"an int >= {minimum}" if maximum is None else f"an int in [{minimum}, {maximum}]"
            )
            expected += " or None" if allow_none else ""
        raise invalid(argument, value, expected)
    return int(value)


def check_ints(argument, value, minimum=1, length=None):
    """`value` as a non-empty tuple of ints >= `minimum` (of `length` items if given).

    Example:

    >>> keras_vt.checks.check_ints("depths", [3, 4, 6, 3], length=4)
    (3, 4, 6, 3)
    """
    count = "a non-empty list" if length is None else f"a list of {length}"
    expected = f"{count} of ints >= {minimum}"
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) == 0:
        raise invalid(argument, value, expected)
    if length is not None and len(value) != length:
        raise invalid(argument, value, expected)
    for v in value:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
            raise invalid(argument, value, expected)
    return tuple(int(v) for v in value)


def check_choice(argument, value, choices):
    """`value` if it is one of `choices`, else `Unknown argument=value. Expected one of ...`.

    Example:

    >>> keras_vt.checks.check_choice("pooling", "gap", ("token", "gap"))
    'gap'
    """
    if value not in choices:
        raise unknown(argument, value, choices)
    return value


def unknown(argument, value, choices, extra=None):
    """The `ValueError` for a value outside a set: `Unknown argument=value. Expected one of ...`.

    `extra` (e.g. "or a float") follows the choices.

    Example:

    >>> str(keras_vt.checks.unknown("pooling", "max", ("token", "gap")))
    "Unknown pooling='max'. Expected one of ('token', 'gap')."
    """
    extra = f" {extra}" if extra else ""
    return ValueError(f"Unknown {argument}={value!r}. Expected one of {tuple(choices)}{extra}.")


def check_num_classes(num_classes):
    """`num_classes` as an int >= 1.

    Example:

    >>> keras_vt.checks.check_num_classes(10)
    10
    """
    return check_int("num_classes", num_classes)


def check_image_size(image_size, multiple=1, argument="image_size", multiple_name="patch_size"):
    """`image_size` (an int or (height, width)) as positive ints, multiples of `multiple`.

    Example:

    >>> keras_vt.checks.check_image_size(224, 16)
    (224, 224)
    """
    check_int(multiple_name, multiple)
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or any(
        isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in size
    ):
        raise invalid(argument, image_size, "a positive int or (height, width)")
    size = (int(size[0]), int(size[1]))
    if any(s % multiple for s in size):
        example = max(1, round(size[0] / multiple)) * multiple
        raise invalid(
            argument,
            image_size,
            f"a multiple of {multiple} (e.g. {example})",
            f"{argument}={image_size!r} is not divisible by {multiple_name}={multiple}",
        )
    return size


def image_grid(image_size, patch_size):
    """(height, width) patch grid of `image_size`, checking divisibility by `patch_size`.

    Example:

    >>> keras_vt.checks.image_grid((224, 160), 16)
    (14, 10)
    """
    height, width = check_image_size(image_size, patch_size)
    return height // patch_size, width // patch_size


def _values(x):
    """`x` as a numpy array when it holds values (numpy, lists, eager tensors); None otherwise
    (symbolic or traced tensors, datasets, generators)."""
    import numpy as np

    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple)):
        try:
            return np.asarray(x)
        except ValueError:
            return None
    if hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "__array__"):
        try:
            return np.asarray(x)
        except Exception:  # symbolic / traced tensors cannot be read
            return None
    return None


def check_ids(argument, ids, size, what="the number of classes"):
    """Checks that integer `ids` (labels, token ids) held in an array lie in [0, size).

    Backends index with them without checking (JAX clamps or gives NaN), so `fit` checks them
    first. Arrays that are not integer (one-hot or soft targets) and tensors without values
    (symbolic, traced) are left alone.

    Example:

    >>> keras_vt.checks.check_ids("y", [0, 2, 1], 3)
    """
    import numpy as np

    values = _values(ids)
    if values is None or values.size == 0 or not np.issubdtype(values.dtype, np.integer):
        return
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= size:
        bad = high if high >= size else low
        raise invalid(
            argument,
            bad,
            f"values in [0, {size}) ({what} is {size})",
            f"{argument} holds {bad} (values in [{low}, {high}])",
        )


def check_batch(argument, x):
    """Raises for an empty batch (0 samples) in any array of `x` (a nested structure).

    Keras' `predict` on 0 samples fails inside its loop and leaves the model unusable, so the
    models check first.

    Example:

    >>> keras_vt.checks.check_batch("x", {"images": np.zeros((2, 8, 8, 3))})
    """
    import keras

    for leaf in keras.tree.flatten(x) if isinstance(x, (dict, list, tuple)) else [x]:
        shape = getattr(leaf, "shape", None)
        if shape is not None and len(shape) and shape[0] == 0:
            raise invalid(
                argument,
                f"an array of shape {tuple(shape)}",
                "at least one sample",
                f"{argument} is an empty batch (shape {tuple(shape)})",
            )


def check_rate(argument, value, maximum=1.0):
    """`value` as a float in [0, maximum) (dropout and drop-path rates).

    Example:

    >>> keras_vt.checks.check_rate("dropout", 0.1)
    0.1
    """
    bad = isinstance(value, bool) or not isinstance(value, numbers.Real)
    if bad or not 0.0 <= value < maximum:
        raise invalid(argument, value, f"a float in [0, {maximum:g})")
    return float(value)


def check_positive(argument, value):
    """`value` as a float > 0 (epsilons, temperatures, scales).

    Example:

    >>> keras_vt.checks.check_positive("layer_norm_epsilon", 1e-6)
    1e-06
    """
    bad = isinstance(value, bool) or not isinstance(value, numbers.Real)
    if bad or not value > 0:
        raise invalid(argument, value, "a number > 0")
    return float(value)


def check_heads(num_heads, width, heads_name="num_heads", width_name="hidden_dim"):
    """`num_heads` as an int >= 1 that divides `width` (each head gets width // num_heads).

    Example:

    >>> keras_vt.checks.check_heads(12, 768)
    12
    """
    check_int(width_name, width)
    check_int(heads_name, num_heads)
    if width % num_heads:
        raise invalid(
            heads_name,
            num_heads,
            f"a divisor of {width_name}={width}",
            f"{width_name}={width} is not divisible by {heads_name}={num_heads}",
        )
    return int(num_heads)


def check_transformer(
    hidden_dim, num_heads, mlp_dim, depth=None, rates=None, epsilon=None, names=None
):
    """Checks a transformer stack's sizes (`names` renames the arguments, e.g. for CLIP's
    `vision_width`): widths and depth ints >= 1, heads dividing the width, `rates` ({argument:
    value}) in [0, 1), `epsilon` (layer_norm_epsilon) > 0.

    Example:

    >>> keras_vt.checks.check_transformer(64, 4, 128, depth=2, epsilon=1e-6)
    """
    names = dict(
        dict(hidden_dim="hidden_dim", num_heads="num_heads", mlp_dim="mlp_dim", depth="depth"),
        **(names or {}),
    )
    check_heads(num_heads, hidden_dim, names["num_heads"], names["hidden_dim"])
    if mlp_dim is not None:
        check_int(names["mlp_dim"], mlp_dim)
    if depth is not None:
        check_int(names["depth"], depth)
    for argument, value in (rates or {}).items():
        check_rate(argument, value)
    if epsilon is not None:
        check_positive(
            "layer_norm_epsilon" if "epsilon" not in names else names["epsilon"], epsilon
        )


def check_output_path(argument, path):
    """Raises unless `path` can be written: its folder exists and is writable (checked before
    hours of training or converting, not after).

    Example:

    >>> keras_vt.checks.check_output_path("output", "model.keras")
    """
    import os

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise invalid(
            argument,
            path,
            "a path in an existing folder",
            f"the folder of {argument}={path!r} does not exist",
        )
    import tempfile

    try:  # a real write: os.access says yes to root on read-only places such as /proc
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        raise invalid(
            argument,
            path,
            "a path in a writable folder",
            f"the folder of {argument}={path!r} is not writable",
        ) from None


def check_weights_file(path, argument="weights"):
    """`path` (str) if it names an existing `.keras` / `.weights.h5` file or a hub checkpoint
    (`hf://...`, `timm/...`), else a `ValueError`.

    Example:

    >>> keras_vt.checks.check_weights_file("hf://google/vit-base-patch16-224")
    'hf://google/vit-base-patch16-224'
    """
    import os

    path = os.fspath(path)
    if path.startswith(("hf://", "timm/")) and not os.path.exists(path):
        return path
    if not path.endswith((".keras", ".weights.h5")):
        raise invalid(argument, path, "a '.keras' or '.weights.h5' file, or hf://ORG/NAME")
    if not os.path.isfile(path):
        raise invalid(
            argument,
            path,
            "an existing '.keras' or '.weights.h5' file",
            f"{argument}={path!r} not found",
        )
    return path
