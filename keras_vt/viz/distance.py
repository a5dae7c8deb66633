"""Mean attention distance per layer and head (ViT paper, Fig. 7)."""

import numpy as np

from keras_vt import checks


def _grid(grid, argument="grid"):
    grid = (grid, grid) if isinstance(grid, (int, np.integer)) else tuple(grid)
    if len(grid) != 2 or min(int(g) for g in grid) < 1:
        raise checks.invalid(argument, grid, "(height, width) of positive ints")
    return int(grid[0]), int(grid[1])


def _per_layer(value, layers, argument, convert):
    if isinstance(value, list):
        if len(value) != layers:
            raise ValueError(
                f"Expected {argument} as one value (a tuple for a grid) or a list of {layers} "
                f"values, one per layer; got the list {value!r}."
            )
        return [convert(v, argument) for v in value]
    return [convert(value, argument)] * layers


def _patch(patch_size, argument):
    if not isinstance(patch_size, (int, float, np.integer)) or patch_size <= 0:
        raise checks.invalid(argument, patch_size, "a positive number")
    return float(patch_size)


def _key_positions(query_grid, keys):
    """Centres of the key tokens in query-grid units; keys may be subsampled by a stride."""
    gh, gw = query_grid
    for stride in range(1, max(gh, gw) + 1):
        kh, kw = -(-gh // stride), -(-gw // stride)
        if kh * kw == keys:
            y, x = np.meshgrid(np.arange(kh) * stride, np.arange(kw) * stride, indexing="ij")
            return np.stack([y.ravel(), x.ravel()], axis=-1).astype("float64")
    return None


def mean_attention_distance(maps, grid, patch_size, num_prefix_tokens=None):
    """Mean attention distance in pixels, per layer and head.

    For each head: Σⱼ aᵢⱼ · ‖pᵢ − pⱼ‖ (pixel distance between patch centres), averaged over the
    query patches and the batch; prefix tokens (class, distillation) are dropped from queries
    and keys, and the remaining weights are not renormalised (as in the ViT paper's analysis).
    Short distances mean local, convolution-like heads; long ones global heads.

    Args:
        maps: list of (batch, heads, queries, keys) maps from `keras_vt.viz.attention_maps`.
        grid: (height, width) patch grid of the queries, or a list of grids, one per layer
            (multi-stage models such as CvT). Keys subsampled by a stride (CvT's convolutional
            projections) are placed on every stride-th patch.
        patch_size: pixels per patch side, or a list, one per layer.
        num_prefix_tokens: tokens before the grid (inferred as queries - height * width).

    Returns:
        (layers, heads) float32 distances in pixels; when layers have different numbers of
        heads the array is padded with NaN.

    Example:

    >>> model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True, image_size=64)
    >>> maps = keras_vt.viz.attention_maps(model, np.zeros((1, 64, 64, 3)))
    >>> keras_vt.viz.mean_attention_distance(maps, grid=(4, 4), patch_size=16).shape
    (2, 2)
    """
    if isinstance(maps, np.ndarray) and maps.ndim == 4:
        maps = [maps]
    if not isinstance(maps, (list, tuple)) or not maps:
        raise checks.invalid(
            "maps",
            maps,
            "a non-empty list of (batch, heads, queries, keys) arrays",
            problem=f"maps of type {type(maps).__name__}",
        )
    grids = _per_layer(grid, len(maps), "grid", _grid)
    patches = _per_layer(patch_size, len(maps), "patch_size", _patch)
    heads = max(np.shape(m)[1] for m in maps)
    result = np.full((len(maps), heads), np.nan, dtype="float64")
    for index, (attention, (gh, gw), patch) in enumerate(zip(maps, grids, patches)):
        attention = np.asarray(attention, dtype="float64")
        if attention.ndim != 4:
            raise checks.invalid_shape(
                f"maps[{index}]",
                attention.shape,
                f"maps[{index}] of shape (batch, heads, queries, keys)",
            )
        queries, keys = attention.shape[2:]
        prefix = queries - gh * gw if num_prefix_tokens is None else int(num_prefix_tokens)
        key_positions = _key_positions((gh, gw), keys - prefix) if prefix >= 0 else None
        if prefix < 0 or queries - prefix != gh * gw or key_positions is None:
            raise ValueError(
                f"maps[{index}] of shape {attention.shape} does not fit grid={(gh, gw)} with "
                f"num_prefix_tokens={num_prefix_tokens}: expected prefix + {gh * gw} queries "
                "and keys on the same grid (or on a strided subgrid)."
            )
        y, x = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        query_positions = np.stack([y.ravel(), x.ravel()], axis=-1).astype("float64")
        distance = np.linalg.norm(query_positions[:, None] - key_positions[None], axis=-1)
        weights = attention[:, :, prefix:, prefix:]
        per_query = (weights * (distance * patch)).sum(axis=-1)
        result[index, : attention.shape[1]] = per_query.mean(axis=(0, 2))
    return result.astype("float32")
