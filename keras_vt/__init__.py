"""keras_vt: the vision-transformer lineage as first-class Keras 3 models."""

__version__ = "0.1.0"
