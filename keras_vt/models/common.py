"""Helpers that several model families share: size tables, argument groups, classifier heads.

Families import from here (and from `keras_vt.layers`, `keras_vt.models.encoder`), never from
each other.
"""

import keras
import numpy as np
from keras import ops

from keras_vt import checks

# ViT's sizes, shared by DeiT and CPVT. name: (hidden_dim, mlp_dim, num_heads, depth); head
# dimension 64 throughout.
VIT_SIZES = {
    "tiny": (192, 768, 3, 12),
    "small": (384, 1536, 6, 12),
    "base": (768, 3072, 12, 12),
    "large": (1024, 4096, 16, 24),
    "huge": (1280, 5120, 16, 32),
}
# The small configuration of the ViT-like families' tests.
TINY_ENCODER = dict(hidden_dim=32, depth=2, num_heads=2, mlp_dim=64)

# Constructor arguments shared by the ViT-like models (ViT, DeiT, CPVT), for their `config_keys`.
ENCODER_KEYS = ("image_size", "patch_size", "hidden_dim", "depth", "num_heads", "mlp_dim")
TRAINING_KEYS = ("dropout", "attention_dropout", "drop_path_rate", "layer_norm_epsilon")
INIT_KEYS = ("head_initializer", "interpolation", "token_initializer", "position_initializer")


def array_shape(x):
    """The shape of an array, tensor or nested list, as a tuple (None for unknown dimensions)."""
    return tuple(x.shape) if hasattr(x, "shape") else tuple(np.shape(x))


def concrete_values(x):
    """`x` as numpy when it holds values (eager), None when it is symbolic or traced.

    Input checks use it to test values where they exist and shapes only inside `fit`,
    `tf.function` or `jax.jit`.
    """
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple)):
        return np.asarray(x)
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except Exception:
        return None


def output_dtype(dtype):
    """The head computes in the policy's variable dtype, so mixed policies return float32 logits.

    Example:

    >>> keras_vt.models.common.output_dtype("mixed_bfloat16")
    'float32'
    """
    return keras.dtype_policies.get(dtype).variable_dtype if dtype is not None else None


def linear_head(num_classes, initializer=None, dtype=None, name="head"):
    """The classifier: a Dense layer, truncated-normal(0.02) weights, float32 logits when mixed.

    Example:

    >>> tuple(keras_vt.models.common.linear_head(10)(np.zeros((2, 32))).shape)
    (2, 10)
    """
    return keras.layers.Dense(
        num_classes,
        kernel_initializer=initializer or keras.initializers.TruncatedNormal(stddev=0.02),
        dtype=output_dtype(dtype),
        name=name,
    )


def classify(features, include_top, num_classes, dropout=0.0, initializer=None, dtype=None):
    """Dropout ("head_drop") and the linear head on pooled `features`; the features without top.

    Example:

    >>> features = keras.Input((32,))
    >>> keras_vt.models.common.classify(features, True, num_classes=10).shape
    (None, 10)
    """
    if not include_top:
        return features
    x = keras.layers.Dropout(dropout, dtype=dtype, name="head_drop")(features)
    return linear_head(num_classes, initializer, dtype)(x)


class MaxValue(keras.constraints.Constraint):
    """Clips a variable to at most `max_value` after every optimiser step.

    Example:

    >>> clamp = keras_vt.models.common.MaxValue(2.0)
    >>> keras.ops.convert_to_numpy(clamp(np.array([1.0, 3.0], "float32"))).tolist()
    [1.0, 2.0]
    """

    def __init__(self, max_value):
        self.max_value = float(max_value)

    def __call__(self, w):
        return ops.minimum(w, ops.cast(self.max_value, w.dtype))

    def get_config(self):
        return {"max_value": self.max_value}


class AuxiliaryHeads:
    """Mixin for a functional model whose graph ends in several heads over the same classes.

    In training (`training=True`) the model returns every head's logits, as a tuple (for a
    trainer that gives each head its own target, e.g. `keras_vt.training.Distiller`); otherwise
    their combination, `self.combine(*logits)`. With plain `compile` + `fit`, every head learns
    the labels: the compiled loss is applied to the heads' logits stacked along the batch axis
    (the mean over heads), and the compiled metrics see the combined output. The subclass says
    whether its heads are present (`has_auxiliary_heads`) and how to combine them (`combine`).

    Example (DeiT's distilled model is one):

    >>> model = keras_vt.create_model("deit_tiny_distilled_patch16_224", tiny=True)
    >>> isinstance(model, keras_vt.models.common.AuxiliaryHeads), model.has_auxiliary_heads
    (True, True)
    """

    has_auxiliary_heads = True

    def combine(self, *logits):
        raise NotImplementedError

    def call(self, inputs, training=None, mask=None):
        outputs = super().call(inputs, training=training, mask=mask)
        if not self.has_auxiliary_heads:
            return outputs
        return tuple(outputs) if training else self.combine(*outputs)

    def compute_output_spec(self, inputs, training=None, mask=None):
        outputs = super().compute_output_spec(inputs, training=training, mask=mask)
        if not self.has_auxiliary_heads:
            return outputs
        return tuple(outputs) if training else outputs[0]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Compiled loss; in training, applied to every head with the same targets."""
        if isinstance(y_pred, (list, tuple)) and y is not None:
            if keras.tree.is_nested(y) or keras.tree.is_nested(sample_weight):
                raise ValueError(
                    f"Invalid y: a model with {len(y_pred)} heads trained with `fit` expects one "
                    f"target tensor for all heads, got y of type {type(y).__name__}. Expected one "
                    "tensor of labels."
                )
            heads = len(y_pred)
            y_pred = ops.concatenate(list(y_pred), axis=0)
            y = ops.concatenate([y] * heads, axis=0)
            if sample_weight is not None:
                sample_weight = ops.concatenate([sample_weight] * heads, axis=0)
        return super().compute_loss(x, y, y_pred, sample_weight, training=training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Compiled metrics on the inference output (in training: the heads combined)."""
        if isinstance(y_pred, (list, tuple)):
            y_pred = self.combine(*y_pred)
        return super().compute_metrics(x, y, y_pred, sample_weight)


def check_mlp(mlp_dim, width, activation):
    """The MLP width of a tower (None: 4 x `width`), checked with its `activation`.

    Real checkpoints use other ratios than 4 (open_clip's ViT-bigG-14: 4.9231), and exact GELU
    as well as QuickGELU (open_clip's models trained on LAION).

    Example:

    >>> keras_vt.models.common.check_mlp(None, 64, "quick_gelu")
    256
    """
    from keras_vt.layers.transformer import get_activation

    if mlp_dim is None:
        mlp_dim = 4 * int(width)
    mlp_dim = checks.check_int("mlp_dim", mlp_dim, expected="an int >= 1 (or None: 4 x width)")
    get_activation(activation)
    return mlp_dim
