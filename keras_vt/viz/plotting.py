"""Pictures: heat-map overlays (numpy), matplotlib figures and model graphs.

matplotlib, pydot and Graphviz are imported only when a function here needs them.
"""

import os

import numpy as np

from keras_vt import checks
from keras_vt.layers.position import resample_grid


def _colormap(name):
    import matplotlib

    return matplotlib.colormaps[name]


def _image_uint8(image):
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise checks.invalid_shape("image", image.shape, "image of shape (height, width, 3)")
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if image.dtype == np.uint8:
        return image
    image = image.astype("float64")
    low, high = float(image.min()), float(image.max())
    if low >= 0.0 and high <= 1.0:
        return np.round(image * 255).astype("uint8")
    if low >= 0.0 and high <= 255.0:
        return np.round(image).astype("uint8")
    return np.round((image - low) / max(high - low, 1e-12) * 255).astype("uint8")


def upsample(heatmap, size):
    """Bilinear resize of a (height, width) map to `size` = (height, width), numpy."""
    heatmap = np.asarray(heatmap, dtype="float64")
    if heatmap.ndim != 2:
        raise checks.invalid_shape("heatmap", heatmap.shape, "heatmap of shape (height, width)")
    return resample_grid(heatmap[..., None], tuple(size), "bilinear")[..., 0]


def overlay(image, heatmap, alpha=0.5, cmap="inferno", normalize=True):
    """Blends a coloured heat map (e.g. from `attention_grid`) over an image.

    Args:
        image: (height, width, 3) uint8, or floats in [0, 1] or [0, 255] (other ranges are
            min-max scaled, e.g. normalised model inputs).
        heatmap: (grid_height, grid_width) map, upsampled bilinearly to the image size.
        alpha: weight of the heat map, in [0, 1].
        cmap: a matplotlib colormap name.
        normalize: min-max scale the heat map to [0, 1] first.

    Returns:
        (height, width, 3) uint8.

    Example:

    >>> image = np.zeros((32, 32, 3), "uint8")
    >>> keras_vt.viz.overlay(image, np.eye(4)).shape
    (32, 32, 3)
    """
    if not 0.0 <= alpha <= 1.0:
        raise checks.invalid("alpha", alpha, "alpha in [0, 1]")
    image = _image_uint8(image)
    heat = upsample(heatmap, image.shape[:2])
    if normalize:
        low, span = heat.min(), heat.max() - heat.min()
        heat = (heat - low) / span if span > 0 else np.zeros_like(heat)
    colours = _colormap(cmap)(np.clip(heat, 0.0, 1.0))[..., :3] * 255.0
    blended = (1.0 - alpha) * image.astype("float64") + alpha * colours
    return np.round(blended).astype("uint8")


def similarity_mosaic(similarity, cell=None, gap=1, cmap="viridis"):
    """The (h, w, h, w) similarities as one picture: panel (i, j) shows similarity[i, j].

    A numpy rendering of the ViT paper's Fig. 7 (centre), colours from -1 to 1.

    Args:
        similarity: output of `position_similarity`.
        cell: pixels per grid cell inside a panel (default: about 320 pixels in all).
        gap: white pixels between panels.

    Returns:
        (height, width, 3) uint8.

    Example:

    >>> similarity = np.ones((2, 2, 2, 2))
    >>> keras_vt.viz.similarity_mosaic(similarity, cell=4, gap=1).shape
    (19, 19, 3)
    """
    similarity = np.asarray(similarity, dtype="float64")
    if similarity.ndim != 4 or similarity.shape[:2] != similarity.shape[2:]:
        raise checks.invalid_shape(
            "similarity", similarity.shape, "similarity of shape (h, w, h, w)"
        )
    gh, gw = similarity.shape[:2]
    cell = cell or max(1, 320 // (max(gh, gw) ** 2))
    colours = _colormap(cmap)((np.clip(similarity, -1.0, 1.0) + 1.0) / 2.0)[..., :3]
    panels = np.repeat(np.repeat(colours, cell, axis=2), cell, axis=3)
    ph, pw = gh * cell, gw * cell
    mosaic = np.ones((gh * (ph + gap) + gap, gw * (pw + gap) + gap, 3))
    for i in range(gh):
        for j in range(gw):
            top, left = gap + i * (ph + gap), gap + j * (pw + gap)
            mosaic[top : top + ph, left : left + pw] = panels[i, j]
    return np.round(mosaic * 255).astype("uint8")


def plot_position_similarity(similarity, title=None):
    """A grid of small images: panel (i, j) shows similarity[i, j] (ViT paper, Fig. 7 centre).

    Returns a matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    similarity = np.asarray(similarity)
    if similarity.ndim != 4:
        raise checks.invalid_shape(
            "similarity", similarity.shape, "similarity of shape (h, w, h, w)"
        )
    gh, gw = similarity.shape[:2]
    figure, axes = plt.subplots(gh, gw, figsize=(min(8, 0.5 * gw + 1), min(8, 0.5 * gh + 1)))
    axes = np.asarray(axes).reshape(gh, gw)
    for i in range(gh):
        for j in range(gw):
            axes[i, j].imshow(similarity[i, j], vmin=-1, vmax=1, cmap="viridis")
            axes[i, j].set_axis_off()
    figure.suptitle(title or "Cosine similarity of position embeddings")
    figure.subplots_adjust(wspace=0.05, hspace=0.05)
    return figure


def plot_attention_distance(distance, patch_size=None, image_size=None, title=None):
    """Mean attention distance per head against depth (ViT paper, Fig. 7 right).

    Returns a matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    distance = np.asarray(distance)
    if distance.ndim != 2:
        raise checks.invalid_shape("distance", distance.shape, "distance of shape (layers, heads)")
    figure, axis = plt.subplots(figsize=(5, 3.5))
    layers = np.arange(1, distance.shape[0] + 1)
    for head in range(distance.shape[1]):
        axis.scatter(layers, distance[:, head], s=14, label=f"head {head}")
    axis.set_xlabel("layer")
    axis.set_ylabel("mean attention distance (pixels)")
    if image_size:
        axis.set_ylim(0, float(np.max(image_size)))
    if distance.shape[1] <= 8:
        axis.legend(fontsize=7, ncol=2)
    axis.set_title(title or "Mean attention distance per head")
    figure.tight_layout()
    return figure


def plot_alignment(alignment, true=None, title=None, axis=None):
    """An audio-to-video attention map (AV Align) with the true alignment drawn over it.

    Args:
        alignment: (audio frames, video frames) attention probabilities of one example, cut to
            its valid frames (e.g. head-averaged `keras_vt.viz.attention_maps(av_model, x)[-1][0]`).
        true: optional (audio frames,) video frame of each audio frame's instant (the data's
            `labels["alignment"]`), drawn dashed; the attention argmax is drawn as dots.
        axis: a matplotlib Axes to draw into (a new Figure when None).

    Returns the matplotlib Figure.

    Example:

    >>> figure = keras_vt.viz.plot_alignment(np.full((6, 4), 0.25), true=[0, 0, 1, 2, 2, 3])
    >>> figure.axes[0].get_xlabel()
    'video frame (40 ms)'
    """
    import matplotlib.pyplot as plt

    alignment = np.asarray(alignment, "float32")
    if alignment.ndim != 2 or 0 in alignment.shape:
        raise checks.invalid_shape(
            "alignment", alignment.shape, "alignment of shape (audio frames, video frames)"
        )
    if axis is None:
        figure, axis = plt.subplots(figsize=(5.5, 4.5))
    else:
        figure = axis.figure
    rows = np.arange(alignment.shape[0])
    axis.imshow(alignment, aspect="auto", origin="lower", cmap="viridis")
    if true is not None:
        true = np.asarray(true)[: alignment.shape[0]]
        axis.plot(true, rows[: len(true)], "r--", lw=1.5, label="true alignment")
    axis.plot(alignment.argmax(-1), rows, "w.", ms=4, label="attention argmax")
    axis.set_xlim(-0.5, alignment.shape[1] - 0.5)
    axis.set_xlabel("video frame (40 ms)")
    axis.set_ylabel("audio frame (30 ms)")
    axis.set_title(title or "audio -> video attention", fontsize=10)
    axis.legend(loc="upper left", fontsize=8)
    return figure


def plot_translation(probes, metric="feature_change", title=None):
    """Curves of `translation_probe` results, `probes` = {label: result}. Returns a Figure."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3.5))
    for label, probe in probes.items():
        if metric not in probe:
            raise ValueError(f"Probe {label!r} has no {metric!r}: it has {sorted(probe)}.")
        axis.plot(probe["shifts"], probe[metric], marker="o", label=label)
    axis.set_xlabel("shift (pixels)")
    axis.set_ylabel(metric.replace("_", " "))
    axis.legend(fontsize=8)
    axis.set_title(title or "Response to translated inputs")
    figure.tight_layout()
    return figure


GRAPH_FORMATS = (".png", ".svg")


def check_graphviz():
    """Raises an `ImportError` saying what to install unless pydot and Graphviz's `dot` work."""
    try:
        import pydot
    except ImportError as error:
        raise ImportError(
            "plot_model_graph needs pydot and Graphviz: `pip install pydot` and install Graphviz's "
            "`dot` program (`apt-get install graphviz`, `brew install graphviz` or "
            "`conda install graphviz`)."
        ) from error
    try:
        pydot.Dot.create(pydot.Dot())
    except Exception as error:  # pydot reports a missing `dot` with various exception types
        raise ImportError(
            "plot_model_graph found pydot but not Graphviz's `dot` program: install it "
            "(`apt-get install graphviz`, `brew install graphviz` or `conda install graphviz`) "
            f"and make sure `dot` is on PATH ({error})."
        ) from error


def plot_model_graph(model, path, show_shapes=True, expand_nested=False, dpi=96, **kwargs):
    """Draws `model`'s layer graph with `keras.utils.plot_model` to a PNG or SVG file.

    Args:
        model: a built Keras model.
        path: output file ending in ".png" or ".svg".
        show_shapes: annotate edges with tensor shapes.
        expand_nested: draw the inside of nested models.
        dpi: resolution of PNG output.
        **kwargs: passed on to `keras.utils.plot_model` (e.g. `show_layer_names`, `rankdir`).

    Returns:
        The path written.

    Raises:
        ImportError: pydot or Graphviz is missing (the message says how to install them).

    Example:

    >>> model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True)
    >>> keras_vt.viz.plot_model_graph(model, "vit.svg")
    'vit.svg'
    """
    import keras

    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    if extension not in GRAPH_FORMATS:
        raise checks.invalid("path", path, f"path ending in one of {GRAPH_FORMATS}")
    check_graphviz()
    keras.utils.plot_model(
        model,
        to_file=path,
        show_shapes=show_shapes,
        expand_nested=expand_nested,
        dpi=dpi,
        **kwargs,
    )
    return path
