"""The base of every keras_vt model: a functional graph built in `__init__`."""

import keras


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

    def get_config(self):
        config = {key: getattr(self, key) for key in self.config_keys}
        config.update(
            dtype=keras.dtype_policies.serialize(self.dtype_policy),
            name=self.name,
            trainable=self.trainable,
        )
        return config
