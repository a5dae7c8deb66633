"""The base of every keras_vt model: a functional graph built in `__init__`."""

import functools
import inspect

import keras
import numpy as np

from keras_vt import checks
from keras_vt.precision import enable_channels_last_conv, enable_strided_attention, one_collection


def is_dataset(x):
    """Whether `x` is a `tf.data.Dataset` (or anything with its `element_spec` and `map`)."""
    return hasattr(x, "element_spec") and hasattr(x, "map")


class InputsOnly:
    """Mixin for models whose loss needs no targets (contrastive, ranking): `fit` and `evaluate`
    refuse `y` and pass `x` and `validation_data` through `self._training_inputs(x, argument)`,
    which checks them and returns the model's inputs (datasets may pass through as they are).

    Subclasses name their inputs in `inputs_description` (for the errors) and `inputs_example`.
    """

    inputs_description = "inputs"
    inputs_example = "x"

    def _refuse_targets(self, method, y):
        if y is not None:
            raise ValueError(
                f"Invalid y: {type(self).__name__}.{method} takes {self.inputs_description} as x "
                f"and no targets; got y ({type(y).__name__}). Expected y=None: pass "
                f"model.{method}({self.inputs_example})."
            )

    def fit(self, x=None, y=None, validation_data=None, **kwargs):
        """`keras.Model.fit` on inputs alone; `y` must be None (no targets)."""
        self._refuse_targets("fit", y)
        if validation_data is not None:
            validation_data = self._training_inputs(validation_data, "validation_data")
            if not is_dataset(validation_data):
                validation_data = (validation_data,)
        return super().fit(self._training_inputs(x), validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        """`keras.Model.evaluate` on inputs alone; `y` must be None."""
        self._refuse_targets("evaluate", y)
        return super().evaluate(self._training_inputs(x), **kwargs)


class FunctionalModel(keras.Model):
    """A `keras.Model` subclass whose graph is built in `__init__`, as keras-hub builds models.

    `keras.Model(inputs, outputs, dtype=...)` does not keep its `dtype` argument, so a model
    built under `"mixed_bfloat16"` would serialise as float32. This base records the policy the
    layers were built with, so `get_config`, `from_config` and `.keras` files keep it.
    """

    #: constructor arguments the model keeps as attributes of the same name (`keep_config`);
    #: `get_config` returns them with the dtype policy, the name and `trainable`.
    config_keys = ()

    #: {deprecated argument name: its new name}: the constructor accepts the old name with a
    #: `DeprecationWarning` (`checks.rename_arguments`), the model answers to it as a read-only
    #: alias, and configs saved under it load silently.
    renamed_arguments = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.renamed_arguments or "__init__" not in cls.__dict__:
            return
        init = cls.__init__

        @functools.wraps(init)
        def __init__(self, *args, **kwargs):
            init(self, *args, **checks.rename_arguments(kwargs, cls.renamed_arguments))

        # The constructor's own signature, for Keras' argument capture and the registry.
        __init__.__signature__ = inspect.signature(init)
        cls.__init__ = __init__
        for old, new in cls.renamed_arguments.items():
            if not hasattr(cls, old):
                alias = property(lambda self, new=new: getattr(self, new))
                alias.__doc__ = f"Deprecated name of `{new}`."
                setattr(cls, old, alias)

    def __init__(self, inputs, outputs, name=None, dtype=None, **kwargs):
        enable_channels_last_conv()  # PyTorch: convolutions without Keras' layout copies
        enable_strided_attention()  # PyTorch: CPU attention without Keras' contiguous copies
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        if dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(dtype)

    def keep_config(self, arguments):
        """Keeps `arguments[key]` as `self.key` for every key of `config_keys`.

        Subclasses call it at the end of `__init__` with `locals()`, once the arguments have been
        checked and normalised under their own names. A key that is not among `arguments` keeps
        the attribute a subclass set before calling its parent's `__init__`.
        """
        for key in self.config_keys:
            setattr(self, key, arguments[key] if key in arguments else getattr(self, key))

    def token_id_inputs(self, x, y):
        """(argument, array) pairs of the token ids among `fit`'s data (checked against
        `vocabulary_size`): by default `x["token_ids"]` and `x["caption_ids"]`."""
        if not isinstance(x, dict):
            return []
        return [(f"x[{key!r}]", x[key]) for key in ("token_ids", "caption_ids") if key in x]

    def check_data(self, x, y=None, argument="x"):
        """Checks in-memory data before Keras sees it: no empty batch, integer labels in
        [0, num_classes), token ids in [0, vocabulary_size). Datasets are left alone."""
        checks.check_batch(argument, x)
        num_classes = getattr(self, "num_classes", None)
        if y is not None and isinstance(num_classes, int) and not isinstance(y, dict):
            checks.check_ids("y", y, num_classes, "num_classes")
        vocabulary_size = getattr(self, "vocabulary_size", None)
        if isinstance(vocabulary_size, int):
            for name, ids in self.token_id_inputs(x, y):
                checks.check_ids(name, ids, vocabulary_size, "vocabulary_size")

    def fit(self, x=None, y=None, *args, **kwargs):
        self.check_data(x, y)
        return super().fit(self._replica_ready(x), y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self.check_data(x, y)
        return super().evaluate(self._replica_ready(x), y, *args, **kwargs)

    def _replica_ready(self, x):
        """`x` with its boolean arrays as uint8 when the model trains under a TensorFlow
        distribution strategy, else `x` itself.

        There Keras averages the first batch across replicas to build the model
        (`strategy.reduce("MEAN", ...)`), which fails on a boolean mask ("AddN of bool"). The
        model's boolean inputs cast the numbers back, so what the layers see is unchanged.
        """
        if keras.backend.backend() != "tensorflow" or self._distribute_strategy is None:
            return x

        def as_number(value):
            if isinstance(value, np.ndarray) and value.dtype == bool:
                return value.astype("uint8")
            if (
                keras.ops.is_tensor(value)
                and keras.backend.standardize_dtype(value.dtype) == "bool"
            ):
                return keras.ops.cast(value, "uint8")
            return value

        def element_as_numbers(*element):
            element = keras.tree.map_structure(as_number, element)
            return element[0] if len(element) == 1 else element

        if is_dataset(x):
            return x.map(element_as_numbers)
        return keras.tree.map_structure(as_number, x) if x is not None else x

    def predict(self, x, *args, **kwargs):
        checks.check_batch("x", x)
        return super().predict(x, *args, **kwargs)

    def get_config(self):
        config = {key: getattr(self, key) for key in self.config_keys}
        config.update(
            dtype=keras.dtype_policies.serialize(self.dtype_policy),
            name=self.name,
            trainable=self.trainable,
        )
        quantized = self._quantized_layers()
        if quantized:
            config["quantized_layers"] = quantized
        return config

    def _quantized_layers(self):
        """[index, class name, mode] of every quantised sublayer, in `_flatten_layers` order.

        The layers are rebuilt from the constructor arguments, so a quantised model's config
        records which of them `Model.quantize` turned to int8 (their kernels are int8 variables
        in the `.keras` file); `from_config` quantises the same layers again before the weights
        are loaded. Positions, not names: auto-generated names differ between processes.
        """
        return [
            [i, type(layer).__name__, layer.quantization_mode]
            for i, layer in enumerate(self._flatten_layers(include_self=False))
            if getattr(layer, "quantization_mode", None)
        ]

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for old, new in cls.renamed_arguments.items():
            if old in config and new not in config:
                config[new] = config.pop(old)
        quantized = config.pop("quantized_layers", None)
        model = super().from_config(config, custom_objects=custom_objects)
        if quantized:
            layers = list(model._flatten_layers(include_self=False))
            with one_collection():
                model._quantize_like(layers, quantized)
        return model

    def _quantize_like(self, layers, quantized):
        for index, class_name, mode in quantized:
            layer = layers[index] if index < len(layers) else None
            if type(layer).__name__ != class_name:
                raise ValueError(
                    f"Expected a {class_name} at layer position {index} of the rebuilt "
                    f"{type(self).__name__} (quantized_layers in its config), got "
                    f"{type(layer).__name__}: the config does not describe this model."
                )
            layer.quantize(mode)
