"""One test of one layer's Keras contract, in the spirit of keras-hub's `run_layer_test`.

`run_layer_test(cls, init_kwargs, input_data, expected_output_shape, ...)` builds the layer from
its constructor arguments and checks, on the current backend:

- serialisation: `get_config` -> `from_config` and `keras.saving.serialize_keras_object` ->
  JSON -> `deserialize_keras_object` give the same config (and the same class);
- a symbolic call (Keras tensors) and an eager call give `expected_output_shape`, float outputs
  in the layer's compute dtype, and the expected numbers of trainable and non-trainable weights;
- a clone from the config, given the same weights, gives the same outputs;
- inside a tiny functional model, a `.keras` save/load round trip gives identical outputs;
- `training=True` calls run, and two `train_on_batch` steps (on the mean square distance of the float
  outputs from 1) move every trainable weight;
- under the "mixed_bfloat16" policy the layer runs, computes in bfloat16 (first output), keeps
  float32 variables and hands the policy to every sub-layer;
- `supports_masking` is as declared; with `mask_input`, a key padding mask over that input makes
  the outputs at real positions independent of the padded tokens' values.

`input_data` is one array (the first call argument) or a dict of arrays by call-argument name;
`call_kwargs` are further, non-tensor call arguments (a grid size, a flag).
"""

import json
import os

import keras
import numpy as np
from keras import ops, tree

MIXED = "mixed_bfloat16"


def to_numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def _shapes(outputs):
    return tree.map_structure(lambda t: tuple(t.shape), outputs)


def _is_float(dtype):
    return "float" in keras.backend.standardize_dtype(dtype)


def _as_inputs(input_data):
    """The call's tensor arguments as a dict (one array: the layer's first call argument)."""
    if isinstance(input_data, dict):
        return dict(input_data)
    return {None: input_data}


def _call(layer, inputs, **kwargs):
    if None in inputs:
        return layer(inputs[None], **kwargs)
    return layer(**inputs, **kwargs)


def _config_json(layer):
    return json.dumps(layer.get_config(), sort_keys=True, default=str)


def check_serialization(layer):
    """get_config/from_config and serialize/deserialize_keras_object (through JSON) round trips."""
    cls = type(layer)
    config = _config_json(layer)
    assert _config_json(cls.from_config(layer.get_config())) == config
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is cls, f"deserialised a {type(revived).__name__}, not a {cls.__name__}"
    assert _config_json(revived) == config


def check_outputs(layer, outputs, expected_output_shape, what):
    assert _shapes(outputs) == expected_output_shape, f"{what} output shapes"
    for tensor in tree.flatten(outputs):
        if _is_float(tensor.dtype):
            assert keras.backend.standardize_dtype(tensor.dtype) == layer.compute_dtype, what


def check_weight_counts(layer, trainable, non_trainable):
    assert layer.built
    assert len(layer.trainable_weights) == trainable, [w.path for w in layer.trainable_weights]
    assert len(layer.non_trainable_weights) == non_trainable, [
        w.path for w in layer.non_trainable_weights
    ]


def assert_same(got, want, atol=1e-6):
    for g, w in zip(tree.flatten(got), tree.flatten(want), strict=True):
        np.testing.assert_allclose(to_numpy(g), to_numpy(w), atol=atol, rtol=0)


class _FitModel(keras.Model):
    """The layer alone, trained on the mean square distance of its float outputs from 1 (a loss
    that reaches every output, with a gradient at zero outputs too)."""

    def __init__(self, layer, call_kwargs):
        super().__init__()
        self.layer = layer
        self.call_kwargs = call_kwargs

    def call(self, inputs, training=None):
        inputs = inputs if isinstance(inputs, dict) else {None: inputs}
        return _call(self.layer, inputs, training=training, **self.call_kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        floats = [t for t in tree.flatten(y_pred) if _is_float(t.dtype)]
        return sum(ops.mean(ops.square(ops.cast(t, "float32") - 1.0)) for t in floats)


def check_training(cls, init_kwargs, inputs, call_kwargs, expected_output_shape, frozen):
    """training=True calls run; two training steps move every trainable weight not in `frozen`
    (two: a weight initialised to zero, such as NonLocalBlock's BatchNorm scale, blocks the
    gradient of the weights before it in the first step)."""
    layer = cls(**init_kwargs)
    outputs = _call(layer, inputs, training=True, **call_kwargs)
    assert _shapes(outputs) == expected_output_shape, "training=True output shapes"
    before = {w.path: to_numpy(w) for w in layer.trainable_weights}
    if not before:
        return
    model = _FitModel(layer, call_kwargs)
    # Eager steps on TensorFlow (tracing costs more than two steps); one jitted step on JAX,
    # whose eager mode compiles every op on its own.
    eagerly = keras.backend.backend() != "jax"
    model.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=eagerly)
    x = inputs[None] if None in inputs else inputs
    for _ in range(2):
        model.train_on_batch(x)
    still = [
        path
        for path, value in before.items()
        if path.rsplit("/", 1)[-1] not in frozen
        and np.array_equal(value, to_numpy(_weight(layer, path)))
    ]
    assert still == [], f"trainable weights that training did not move: {still}"


def _weight(layer, path):
    return next(w for w in layer.trainable_weights if w.path == path)


def check_mixed_precision(cls, init_kwargs, inputs, call_kwargs):
    layer = cls(**{**init_kwargs, "dtype": MIXED})
    outputs = tree.flatten(_call(layer, inputs, **call_kwargs))
    first = outputs[0]
    assert keras.backend.standardize_dtype(first.dtype) == "bfloat16", first.dtype
    for tensor in outputs:
        if _is_float(tensor.dtype):
            assert np.isfinite(to_numpy(ops.cast(tensor, "float32"))).all()
    for weight in layer.weights:
        if _is_float(weight.dtype):
            assert keras.backend.standardize_dtype(weight.dtype) == "float32", weight.path
    wrong = [
        sub.name
        for sub in layer._flatten_layers(include_self=False)
        if sub.dtype_policy.name != MIXED
    ]
    assert wrong == [], f"sub-layers not given the layer's dtype policy: {wrong}"


def check_key_padding_mask(layer, inputs, call_kwargs, mask_input):
    """Padded tokens of `mask_input` (the last two) do not change the outputs at real tokens."""
    data = inputs[mask_input]
    batch, length = data.shape[:2]
    mask = np.ones((batch, length), bool)
    mask[:, -2:] = False
    changed = dict(inputs)
    changed[mask_input] = data.copy()
    changed[mask_input][:, -2:] = np.random.default_rng(1).normal(size=data[:, -2:].shape)
    first, second = (
        tree.flatten(_call(layer, x, mask=mask, **call_kwargs))[0] for x in (inputs, changed)
    )
    first, second = to_numpy(first), to_numpy(second)
    if mask_input == next(iter(inputs)):  # self-attention: compare the real queries only
        first, second = first[:, :-2], second[:, :-2]
    np.testing.assert_allclose(first, second, atol=1e-5)
    assert layer.compute_mask(data, mask) is None  # attention consumes the mask


def run_layer_test(
    cls,
    init_kwargs,
    input_data,
    expected_output_shape,
    *,
    tmp_path,
    call_kwargs=None,
    expected_num_trainable_weights=0,
    expected_num_non_trainable_weights=0,
    supports_masking=False,
    mask_input=False,
    frozen_in_training=(),
    run_training_check=True,
    run_mixed_precision_check=True,
):
    """Checks one layer's Keras contract (see the module docstring); `tmp_path` is pytest's.

    `mask_input`: the input (its name, or None for a single array input) whose tokens a key
    padding mask covers; False for no mask check. `frozen_in_training`: names of trainable
    weights that training is not expected to move.
    """
    call_kwargs = dict(call_kwargs or {})
    inputs = _as_inputs(input_data)
    counts = (expected_num_trainable_weights, expected_num_non_trainable_weights)

    check_serialization(cls(**init_kwargs))

    symbolic = {name: keras.KerasTensor(x.shape, x.dtype) for name, x in inputs.items()}
    layer = cls(**init_kwargs)
    check_outputs(layer, _call(layer, symbolic, **call_kwargs), expected_output_shape, "symbolic")
    check_weight_counts(layer, *counts)

    layer = cls(**init_kwargs)
    outputs = _call(layer, inputs, **call_kwargs)
    check_outputs(layer, outputs, expected_output_shape, "eager")
    check_weight_counts(layer, *counts)
    assert layer.supports_masking == supports_masking

    clone = cls.from_config(layer.get_config())
    _call(clone, inputs, **call_kwargs)
    clone.set_weights(layer.get_weights())
    assert_same(_call(clone, inputs, **call_kwargs), outputs)

    symbolic = {
        name: keras.Input(x.shape[1:], dtype=x.dtype, name=name or "inputs")
        for name, x in inputs.items()
    }
    model_outputs = _call(cls(**init_kwargs), symbolic, **call_kwargs)
    model = keras.Model({name or "inputs": t for name, t in symbolic.items()}, model_outputs)
    path = os.path.join(str(tmp_path), f"{cls.__name__}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[-1]) is cls
    feed = {name or "inputs": x for name, x in inputs.items()}
    assert_same(loaded(feed), model(feed), atol=0)

    if mask_input is not False:
        check_key_padding_mask(layer, inputs, call_kwargs, mask_input)
    if run_training_check:
        check_training(
            cls, init_kwargs, inputs, call_kwargs, expected_output_shape, set(frozen_in_training)
        )
    if run_mixed_precision_check:
        check_mixed_precision(cls, init_kwargs, inputs, call_kwargs)
