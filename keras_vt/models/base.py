"""The base of every keras_vt model: a functional graph built in `__init__`."""

import keras

from keras_vt.layers import checks


class FunctionalModel(keras.Model):
    """A `keras.Model` subclass whose graph is built in `__init__`, as keras-hub builds models.

    `keras.Model(inputs, outputs, dtype=...)` does not keep its `dtype` argument, so a model
    built under `"mixed_bfloat16"` would serialise as float32. This base records the policy the
    layers were built with, so `get_config`, `from_config` and `.keras` files keep it.
    """

    #: constructor arguments the model keeps as attributes of the same name (`keep_config`);
    #: `get_config` returns them with the dtype policy, the name and `trainable`.
    config_keys = ()

    def __init__(self, inputs, outputs, name=None, dtype=None, **kwargs):
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
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self.check_data(x, y)
        return super().evaluate(x, y, *args, **kwargs)

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
        return config
