"""The data adapter of models trained on (images, token_ids) pairs without targets (CLIP).

`fit` and `evaluate` take 2-tuples `(images, token_ids)` (never read as `(x, y)`), dicts with
those keys, or datasets of either, and check them before any backend op.
"""

import numpy as np

from keras_vt import checks, layers
from keras_vt.models.base import InputsOnly, is_dataset
from keras_vt.models.text_encoder import check_token_ids


class PairedInputs(InputsOnly):
    """Mixin for a `keras.Model` with `vocabulary_size` and `context_length` trained on pairs.

    Example:

    >>> clip = keras_vt.create_model("clip_vit_b32", tiny=True)
    >>> isinstance(clip, keras_vt.models.paired.PairedInputs)
    True
    """

    inputs_description = "(images, token_ids) pairs"
    inputs_example = "(images, token_ids)"

    def _training_inputs(self, x, argument="x"):
        """Training data as model inputs: 2-tuples (images, token_ids) are pairs, never (x, y)."""
        if is_dataset(x):
            spec = x.element_spec
            if isinstance(spec, tuple) and len(spec) == 2:
                return x.map(lambda images, token_ids: ((images, token_ids),))
            return x
        if isinstance(x, dict):
            images, token_ids = x.get("images"), x.get("token_ids")
        elif isinstance(x, (tuple, list)) and len(x) == 2:
            images, token_ids = x
        else:
            raise checks.invalid(
                argument,
                x,
                "(images, token_ids) pairs, a dict with keys 'images' and 'token_ids', or a dataset of those",
                problem=f"{argument} of type {type(x).__name__}",
            )
        if images is None or token_ids is None:
            raise checks.invalid(
                argument,
                x,
                f"{argument} with keys 'images' and 'token_ids'",
                problem=f"got keys {list(x)}",
            )
        layers.check_images(
            tuple(np.shape(images)) if not hasattr(images, "shape") else tuple(images.shape),
            argument=f"{argument} images",
        )
        check_token_ids(
            token_ids, self.vocabulary_size, self.context_length, f"{argument} token_ids"
        )
        if len(images) != len(token_ids):
            raise ValueError(
                f"Expected as many images as texts in {argument}, got {len(images)} images and "
                f"{len(token_ids)} token sequences."
            )
        return (images, token_ids)
