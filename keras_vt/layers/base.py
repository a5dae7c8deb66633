"""The base of keras_vt's layers: a config made of the constructor's arguments."""

import keras


class Layer(keras.layers.Layer):
    """A `keras.layers.Layer` whose `get_config` adds the attributes named in `config_keys`.

    Each layer keeps its constructor arguments as attributes of the same name and lists them once
    in `config_keys`; initializers are serialised. A subclass extends its parent's tuple.

    Example:

    >>> class Scale(keras_vt.layers.base.Layer):
    ...     config_keys = ("factor",)
    ...     def __init__(self, factor=2.0, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.factor = factor
    ...     def call(self, x):
    ...         return x * self.factor
    >>> Scale(3.0).get_config()["factor"]
    3.0
    """

    config_keys = ()

    def get_config(self):
        config = super().get_config()
        for key in self.config_keys:
            value = getattr(self, key)
            if isinstance(value, keras.initializers.Initializer):
                value = keras.initializers.serialize(value)
            config[key] = value
        return config


class AttentionLayer(Layer):
    """A `Layer` whose `mask` call argument is an attention mask, not a Keras input mask.

    Keras hands a layer's `mask` argument the input's propagated mask and warns when the layer
    does not "support masking"; attention layers consume the mask themselves and emit none.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None
