"""What positional encodings do: similarity of learned positions, resampling, translation."""

import keras
import numpy as np

from keras_vt import checks
from keras_vt.layers.patching import PatchEmbedding, check_images
from keras_vt.layers.position import PositionEmbedding, SinCosPositionEmbedding2D

SHIFT_DIRECTIONS = ("horizontal", "vertical", "diagonal")
SHIFT_MODES = ("roll", "pad")


def _layers(model):
    return list(model._flatten_layers(include_self=False, recursive=True))


def position_layer(model, name=None):
    """The model's position table layer (`PositionEmbedding` or `SinCosPositionEmbedding2D`).

    Raises a `ValueError` for models without one (CPVT's PEG derives positions from the image
    content with a convolution; CvT has none): use `translation_probe` for those.
    """
    if not isinstance(model, keras.Model):
        raise checks.invalid(
            "model", model, "a keras.Model", problem=f"model of type {type(model).__name__}"
        )
    tables = [
        layer
        for layer in _layers(model)
        if isinstance(layer, (PositionEmbedding, SinCosPositionEmbedding2D))
        and (name is None or layer.name == name)
    ]
    if not tables:
        wanted = f" named {name!r}" if name is not None else ""
        raise ValueError(
            f"Model {model.name!r} ({type(model).__name__}) has no position table{wanted} "
            "(a keras_vt PositionEmbedding or SinCosPositionEmbedding2D layer). Models with "
            "conditional positions (CPVT's PEG) or none (CvT) have no table to compare; use "
            "keras_vt.viz.translation_probe to see how they respond to shifted inputs."
        )
    return tables[0]


def _table_grid(layer):
    """(height, width, dim) grid part of a position layer's table, as numpy."""
    if isinstance(layer, PositionEmbedding):
        table = np.asarray(keras.ops.convert_to_numpy(layer.embeddings))[0]
    else:
        if not layer.built:
            raise ValueError(
                f"Position layer {layer.name!r} is not built yet: call the model once."
            )
        table = np.asarray(layer.table)[0]
    gh, gw = layer.grid_size
    return table[layer.num_prefix_tokens :].reshape(gh, gw, -1)


def patch_size_of(model):
    """The patch size of `model` (its `patch_size` attribute or its `PatchEmbedding` layer)."""
    size = getattr(model, "patch_size", None)
    if isinstance(size, int):
        return size
    for layer in _layers(model):
        if isinstance(layer, PatchEmbedding):
            return layer.patch_size
    raise ValueError(f"Model {model.name!r} has no patch size (no PatchEmbedding layer).")


def position_similarity(model, layer_name=None):
    """Cosine similarity of every position embedding with every other (ViT paper, Fig. 7).

    Args:
        model: a model with a learned (or fixed sin-cos) position table, or a (height, width,
            dim) array of position embeddings (e.g. from `resampled_positions`).
        layer_name: which position layer, when the model has several.

    Returns:
        (height, width, height, width) float32: entry [i, j, k, l] is the cosine similarity of
        the embedding of patch (i, j) with that of patch (k, l); [i, j] is one small image.

    Example:

    >>> model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True, image_size=64)
    >>> keras_vt.viz.position_similarity(model).shape
    (4, 4, 4, 4)
    """
    if isinstance(model, keras.Model):
        grid = _table_grid(position_layer(model, layer_name))
    else:
        grid = np.asarray(model, dtype="float64")
        if grid.ndim != 3:
            raise ValueError(
                f"Expected a keras.Model or a (height, width, dim) position grid, got an array "
                f"of shape {grid.shape}."
            )
    gh, gw, dim = grid.shape
    flat = grid.reshape(gh * gw, dim).astype("float64")
    norms = np.linalg.norm(flat, axis=-1, keepdims=True)
    flat = flat / np.where(norms > 0, norms, 1.0)
    return (flat @ flat.T).reshape(gh, gw, gh, gw).astype("float32")


def resampled_positions(model, image_size, layer_name=None):
    """The model's learned position grid resampled as for inputs of `image_size` pixels.

    Uses the layer's own interpolation (what loading the weights into a model of that size
    does); pass the result to `position_similarity` to see what interpolation keeps.

    Args:
        model: a model with a learned `PositionEmbedding` table.
        image_size: new input size, int or (height, width), divisible by the patch size.

    Returns:
        (grid_height, grid_width, dim) float32, prefix tokens dropped.

    Example:

    >>> model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True, image_size=64)
    >>> keras_vt.viz.resampled_positions(model, 96).shape
    (6, 6, 32)
    """
    from keras_vt.models.vit import image_grid

    layer = position_layer(model, layer_name)
    if not isinstance(layer, PositionEmbedding):
        raise ValueError(
            f"Position layer {layer.name!r} of model {model.name!r} is a fixed sin-cos table, "
            "computed for any grid rather than resampled."
        )
    grid = image_grid(image_size, patch_size_of(model))
    table = layer.resampled(grid)[0, layer.num_prefix_tokens :]
    return table.reshape(grid[0], grid[1], -1).astype("float32")


def shift_images(images, pixels, direction="horizontal", mode="roll"):
    """Images translated by `pixels` (right and/or down), numpy.

    `mode="roll"` wraps the content around (nothing is lost); `mode="pad"` fills the uncovered
    border with zeros (the mean colour for normalised inputs).
    """
    if direction not in SHIFT_DIRECTIONS:
        raise checks.unknown("direction", direction, SHIFT_DIRECTIONS)
    if mode not in SHIFT_MODES:
        raise checks.unknown("mode", mode, SHIFT_MODES)
    images = np.asarray(images)
    dy = pixels if direction in ("vertical", "diagonal") else 0
    dx = pixels if direction in ("horizontal", "diagonal") else 0
    shifted = np.roll(images, (dy, dx), axis=(1, 2))
    if mode == "pad":
        if dy:
            shifted[:, :dy] = 0
        if dx:
            shifted[:, :, :dx] = 0
    return shifted


def _feature_model(model):
    """(model returning [pooled features, logits or None], whether it has a head)."""
    head = next((layer for layer in model.layers if layer.name == "head"), None)
    if isinstance(head, keras.layers.Dense) and len(head._inbound_nodes) == 1:
        return keras.Model(model.input, [head.input, model.output]), True
    return keras.Model(model.input, [model.output]), False


def translation_probe(
    model, images, shifts=(0, 1, 2, 4, 8, 16), direction="horizontal", mode="roll", batch_size=None
):
    """How much a model's pooled features and predictions change when its inputs are shifted.

    A model with learned absolute positions sees a shifted object at other positions; a model
    whose positions come from the content (CPVT's PEG, CNNs with global pooling) is close to
    translation-equivariant and its pooled features barely change. Works for any image model.

    Args:
        model: an image model; the input of its final `Dense` layer named "head" is taken as
            the pooled features (its outputs otherwise).
        images: (batch, height, width, 3) preprocessed images.
        shifts: shifts in pixels (0 is the reference and is always included).
        direction: "horizontal", "vertical" or "diagonal".
        mode: "roll" (content wraps around) or "pad" (zeros enter).
        batch_size: optional chunking of the forward passes.

    Returns:
        dict of numpy arrays over `shifts`: "shifts"; "feature_change", the mean relative L2
        change ‖f(shifted) − f(x)‖ / ‖f(x)‖ of the pooled features; "feature_similarity", their
        mean cosine similarity; "prediction_agreement", the fraction of images whose top-1
        class is unchanged (only for models with a head).

    Example:

    >>> model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True, num_classes=5)
    >>> probe = keras_vt.viz.translation_probe(model, np.random.rand(2, 32, 32, 3), (0, 4))
    >>> float(probe["feature_change"][0])
    0.0
    """
    check_images(tuple(np.shape(images)))
    shifts = sorted({0, *(int(s) for s in shifts)})
    if min(shifts) < 0:
        raise checks.invalid("shifts", shifts, "non-negative shifts in pixels")
    probe, has_head = _feature_model(model)

    def run(x):
        step = len(x) if batch_size is None else batch_size
        parts = [probe.predict_on_batch(x[i : i + step]) for i in range(0, len(x), step)]
        return [
            np.concatenate([np.asarray(keras.ops.convert_to_numpy(p[k])) for p in parts])
            for k in range(len(parts[0]))
        ]

    images = np.asarray(images, dtype="float32")
    reference = run(images)
    base = reference[0].reshape(len(images), -1).astype("float64")
    change, similarity, agreement = [], [], []
    for pixels in shifts:
        result = run(shift_images(images, pixels, direction, mode)) if pixels else reference
        feats = result[0].reshape(len(images), -1).astype("float64")
        norm = np.linalg.norm(base, axis=-1)
        change.append(np.mean(np.linalg.norm(feats - base, axis=-1) / np.maximum(norm, 1e-12)))
        cosine = np.sum(feats * base, axis=-1) / np.maximum(
            norm * np.linalg.norm(feats, axis=-1), 1e-12
        )
        similarity.append(np.mean(cosine))
        if has_head:
            agreement.append(np.mean(result[1].argmax(-1) == reference[1].argmax(-1)))
    probe_result = {
        "shifts": np.asarray(shifts),
        "feature_change": np.asarray(change, dtype="float32"),
        "feature_similarity": np.asarray(similarity, dtype="float32"),
    }
    if has_head:
        probe_result["prediction_agreement"] = np.asarray(agreement, dtype="float32")
    return probe_result
