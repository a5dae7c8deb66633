"""Synthetic shape images, generated offline and deterministically.

Every shape is a signed-distance function (negative inside, positive outside, in the shape's
own units, where the shape fits in the unit disc). Rendering evaluates that function on the
pixel grid of a whole batch at once, after moving the grid into each image's shape frame
(translation, rotation, scale), and turns the distance in pixels into coverage with a
one-pixel ramp, which gives anti-aliased edges at any resolution.

Two generators share that renderer:

- `make_shapes`: one shape per image on a cluttered background, labelled by class. A small,
  learnable-but-not-trivial classification set (`shapes_dataset` wraps it in `tf.data`).
- `make_captioned_shapes`: one to three identical objects per image on a plain background,
  with compositional English captions ("two small red circles at the top left"), for
  contrastive image-text training and zero-shot evaluation on held-out colour-shape pairs.

`image_folder_dataset` loads a user's own images with the same conventions.
"""

import math
import os

import numpy as np

CLASS_NAMES = (
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "ring",
    "hexagon",
    "crescent",
    "arrow",
    "l_shape",
    "heart",
    "ellipse",
)
"""Names of the shape classes, in label order."""

COLOUR_NAMES = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "white")
"""Names of the colours used by `make_captioned_shapes`."""

SIZE_NAMES = ("small", "large")
"""Object sizes used by `make_captioned_shapes`."""

POSITION_NAMES = (
    "top left",
    "top",
    "top right",
    "left",
    "centre",
    "right",
    "bottom left",
    "bottom",
    "bottom right",
)
"""Regions of the image (a 3 x 3 grid, row by row) used by `make_captioned_shapes`."""

_COLOUR_RGB = np.array(
    [
        (0.90, 0.12, 0.10),  # red
        (1.00, 0.55, 0.05),  # orange
        (0.97, 0.90, 0.10),  # yellow
        (0.10, 0.72, 0.20),  # green
        (0.10, 0.85, 0.90),  # cyan
        (0.15, 0.30, 0.95),  # blue
        (0.62, 0.20, 0.80),  # purple
        (0.97, 0.97, 0.97),  # white
    ],
    dtype=np.float32,
)

_SHAPE_WORDS = {name: (name, name + "s") for name in CLASS_NAMES}
_SHAPE_WORDS["cross"] = ("cross", "crosses")
_SHAPE_WORDS["l_shape"] = ("L-shape", "L-shapes")

_POSITION_PHRASES = {
    "top left": "at the top left",
    "top": "at the top",
    "top right": "at the top right",
    "left": "on the left",
    "centre": "in the centre",
    "right": "on the right",
    "bottom left": "at the bottom left",
    "bottom": "at the bottom",
    "bottom right": "at the bottom right",
}
_COUNT_WORDS = ("a", "two", "three")

_TEMPLATES = (
    "a photo of {}",
    "a picture of {}",
    "an image of {}",
    "a drawing of {}",
    "a rendering of {}",
    "{}",
)

# Pixels (height x width) evaluated per chunk: bounds memory at every resolution.
_CHUNK_PIXELS = 1 << 17


# --------------------------------------------------------------------------------------------
# Signed-distance functions. Arguments u, v are float32 arrays of any (equal) shape holding
# coordinates in the shape's frame; each returns the signed distance in the same units.
# Composite shapes use min for union and max(a, -b) for difference; their distances are exact
# near the boundary, which is all the anti-aliasing needs.
# --------------------------------------------------------------------------------------------


def _half_planes(vertices):
    """Outward unit normals and offsets (K, 3) of a convex polygon, either winding."""
    p = np.asarray(vertices, dtype=np.float64)
    q = np.roll(p, -1, axis=0)
    area2 = np.sum(p[:, 0] * q[:, 1] - q[:, 0] * p[:, 1])
    edge = q - p
    normal = np.stack([edge[:, 1], -edge[:, 0]], axis=1) * np.sign(area2)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    offset = np.sum(normal * p, axis=1)
    return np.concatenate([normal, offset[:, None]], axis=1).astype(np.float32)


def _regular_polygon(num_sides, radius, phase=0.0):
    angles = phase + 2.0 * np.pi * np.arange(num_sides) / num_sides
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def _rectangle(x0, x1, y0, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _convex(u, v, planes):
    d = planes[0, 0] * u + planes[0, 1] * v - planes[0, 2]
    for nx, ny, c in planes[1:]:
        np.maximum(d, nx * u + ny * v - c, out=d)
    return d


def _disc(u, v, cx, cy, r):
    return np.sqrt((u - cx) ** 2 + (v - cy) ** 2) - r


def _union(u, v, pieces):
    d = _convex(u, v, pieces[0])
    for planes in pieces[1:]:
        np.minimum(d, _convex(u, v, planes), out=d)
    return d


def _star_pieces(points=5, outer=1.0, inner=0.45, overlap=1.3):
    """Convex pieces of a star: the inner polygon and one triangle per point.

    Each point's triangle runs on past the inner vertices along the star's edges (by
    `overlap`), so that neighbouring pieces overlap rather than touch: touching pieces would
    leave a half-covered seam along their shared edge.
    """
    phase = -np.pi / 2
    step = np.pi / points
    pieces = [_half_planes(_regular_polygon(points, inner, phase + step))]
    for k in range(points):
        tip_angle = phase + 2 * k * step
        tip = np.array([np.cos(tip_angle), np.sin(tip_angle)]) * outer
        triangle = [tip]
        for side in (-step, step):
            base = np.array([np.cos(tip_angle + side), np.sin(tip_angle + side)]) * inner
            triangle.append(tip + overlap * (base - tip))
        pieces.append(_half_planes(triangle))
    return pieces


_SQUARE = _half_planes(_rectangle(-0.66, 0.66, -0.66, 0.66))
_TRIANGLE = _half_planes(_regular_polygon(3, 1.0, -np.pi / 2))
_HEXAGON = _half_planes(_regular_polygon(6, 0.9))
_STAR = _star_pieces()
_CROSS = [
    _half_planes(_rectangle(-0.9, 0.9, -0.27, 0.27)),
    _half_planes(_rectangle(-0.27, 0.27, -0.9, 0.9)),
]
_ARROW = [
    _half_planes(_rectangle(-0.95, 0.05, -0.18, 0.18)),
    _half_planes([(0.0, -0.55), (0.95, 0.0), (0.0, 0.55)]),
]
_L_SHAPE = [
    _half_planes(_rectangle(-0.45, 0.0, -0.85, 0.6)),
    _half_planes(_rectangle(-0.45, 0.75, 0.15, 0.6)),
]
# A heart: a diamond with two discs on its upper edges (the point is at +v).
_HEART_D, _HEART_C = 0.68, 0.07
_HEART = _half_planes(
    [
        (0.0, _HEART_C + _HEART_D),
        (_HEART_D, _HEART_C),
        (0.0, _HEART_C - _HEART_D),
        (-_HEART_D, _HEART_C),
    ]
)


def _sdf_heart(u, v):
    r = _HEART_D / math.sqrt(2.0)
    lobe_v = _HEART_C - _HEART_D / 2
    d = _convex(u, v, _HEART)
    np.minimum(d, _disc(u, v, -_HEART_D / 2, lobe_v, r), out=d)
    np.minimum(d, _disc(u, v, _HEART_D / 2, lobe_v, r), out=d)
    return d


def _sdf_ellipse(u, v, a=0.95, b=0.5):
    # First-order distance f / |grad f| for f = |(u/a, v/b)| - 1.
    k0 = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    k1 = np.sqrt((u / (a * a)) ** 2 + (v / (b * b)) ** 2) + 1e-6
    return (k0 - 1.0) * k0 / k1


_SDF = {
    "circle": lambda u, v: _disc(u, v, 0.0, 0.0, 0.85),
    "square": lambda u, v: _convex(u, v, _SQUARE),
    "triangle": lambda u, v: _convex(u, v, _TRIANGLE),
    "star": lambda u, v: _union(u, v, _STAR),
    "cross": lambda u, v: _union(u, v, _CROSS),
    "ring": lambda u, v: np.abs(np.sqrt(u * u + v * v) - 0.68) - 0.2,
    "hexagon": lambda u, v: _convex(u, v, _HEXAGON),
    "crescent": lambda u, v: np.maximum(_disc(u, v, 0.15, 0, 0.9), -_disc(u, v, 0.53, 0, 0.72)),
    "arrow": lambda u, v: _union(u, v, _ARROW),
    "l_shape": lambda u, v: _union(u, v, _L_SHAPE),
    "heart": _sdf_heart,
    "ellipse": _sdf_ellipse,
}
_SDF_BY_ID = tuple(_SDF[name] for name in CLASS_NAMES)


# --------------------------------------------------------------------------------------------
# Rendering. Images are built channels-first, (n, 3, H, W), so that per-pixel arithmetic runs
# over long contiguous rows, and are returned channels-last.
# --------------------------------------------------------------------------------------------


def _grid(image_size):
    """Pixel-centre coordinates in [-1, 1]: x (1, 1, W) and y (1, H, 1)."""
    c = ((np.arange(image_size, dtype=np.float32) + 0.5) / image_size) * 2.0 - 1.0
    return c[None, None, :], c[None, :, None]


def _coverage(shape_ids, cx, cy, scale, angle, image_size):
    """Anti-aliased coverage in [0, 1], (n, H, W), of one shape per image.

    `cx`, `cy` are centres and `scale` the radius of the shape frame, in units of half the
    image; `angle` rotates the shape (radians).
    """
    x, y = _grid(image_size)
    pixels_per_unit = image_size / 2.0
    alpha = np.empty((len(shape_ids), image_size, image_size), dtype=np.float32)
    for sid in np.unique(shape_ids):
        idx = np.flatnonzero(shape_ids == sid)
        cos = np.cos(angle[idx])[:, None, None]
        sin = np.sin(angle[idx])[:, None, None]
        inv = (1.0 / scale[idx])[:, None, None]
        dx = x - cx[idx][:, None, None]
        dy = y - cy[idx][:, None, None]
        u = (cos * inv) * dx + (sin * inv) * dy
        v = (cos * inv) * dy - (sin * inv) * dx
        d = _SDF_BY_ID[sid](u, v)
        d *= (scale[idx] * pixels_per_unit)[:, None, None]
        np.clip(0.5 - d, 0.0, 1.0, out=d)
        alpha[idx] = d
    return alpha


def _composite(image, alpha, colour):
    """In place: image (n, 3, H, W) <- blend towards colour (n, 3) by alpha (n, H, W)."""
    image += alpha[:, None] * (colour[:, :, None, None] - image)


def _gradient_background(c0, c1, direction, image_size):
    """Linear colour gradient from c0 to c1 along a direction angle, (n, 3, H, W)."""
    x, y = _grid(image_size)
    t = 0.5 + 0.5 * (np.cos(direction)[:, None, None] * x + np.sin(direction)[:, None, None] * y)
    np.clip(t, 0.0, 1.0, out=t)
    return c0[:, :, None, None] + t[:, None] * (c1 - c0)[:, :, None, None]


def _smooth_noise(rng, n, image_size, cells=4):
    """Low-frequency noise, (n, 3, H, W): a random cells x cells grid, bilinearly upsampled."""
    pos = (np.arange(image_size, dtype=np.float32) + 0.5) / image_size * (cells - 1)
    lower = np.minimum(pos.astype(np.int64), cells - 2)
    frac = pos - lower
    weights = np.zeros((image_size, cells), dtype=np.float32)
    weights[np.arange(image_size), lower] = 1.0 - frac
    weights[np.arange(image_size), lower + 1] = frac
    grid = rng.standard_normal((n, 3, cells, cells), dtype=np.float32)
    # A contiguous right-hand factor keeps matmul on its fast (BLAS) path.
    return weights @ grid @ np.ascontiguousarray(weights.T)


def _to_uint8(image):
    """Float (n, 3, H, W) in [0, 1] (clipped, in place) to uint8 (n, H, W, 3)."""
    np.clip(image, 0.0, 1.0, out=image)
    image *= 255.0
    image += 0.5
    return image.astype(np.uint8).transpose(0, 2, 3, 1)


def _balanced(rng, n, num_values):
    """n shuffled values in [0, num_values), each used equally often (up to one)."""
    cycles = -(-n // num_values)
    values = np.concatenate([rng.permutation(num_values) for _ in range(cycles)])[:n]
    rng.shuffle(values)
    return values.astype(np.int32)


def _chunks(num_images, image_size):
    step = max(1, _CHUNK_PIXELS // (image_size * image_size))
    for start in range(0, num_images, step):
        yield slice(start, min(start + step, num_images))


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


def _check_int(name, value, minimum, maximum=None):
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not is_int or value < minimum or (maximum is not None and value > maximum):
        expected = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(
            f"Expected `{name}` to be an integer {expected}; received {name}={value!r}."
        )
    return int(value)


def _check_pairs(name, pairs):
    try:
        items = [tuple(p) for p in pairs]
    except TypeError:
        raise ValueError(
            f"Expected `{name}` to be a collection of (colour, shape) pairs; "
            f"received {name}={pairs!r}."
        ) from None
    checked = set()
    for item in items:
        if len(item) != 2:
            raise ValueError(
                f"Expected every entry of `{name}` to be a (colour, shape) pair; "
                f"received {item!r} in {name}={pairs!r}."
            )
        colour, shape = item
        if colour not in COLOUR_NAMES:
            raise ValueError(
                f"Unknown colour {colour!r} in `{name}`; expected one of {COLOUR_NAMES}."
            )
        if shape not in CLASS_NAMES:
            raise ValueError(f"Unknown shape {shape!r} in `{name}`; expected one of {CLASS_NAMES}.")
        checked.add((colour, shape))
    return checked


# --------------------------------------------------------------------------------------------
# Classification set
# --------------------------------------------------------------------------------------------


def make_shapes(num_images, image_size=32, seed=0, num_classes=10, clutter=True):
    """Generates a labelled data set of shape images.

    Each image shows one shape of class `labels[i]` (see `CLASS_NAMES`; the first
    `num_classes` classes are used) at a random position, scale, rotation and colour, with
    anti-aliased edges. With `clutter=True` the background is a random colour gradient with
    low-contrast smooth and per-pixel noise, and a few faint blobs and line segments that are
    not class shapes; with `clutter=False` it is a flat random colour. Classes are exactly
    balanced (up to `num_images % num_classes`) and shuffled. The same arguments always give
    the same arrays.

    Args:
        num_images: number of images, >= 1.
        image_size: height and width in pixels, >= 8.
        seed: non-negative integer seed.
        num_classes: number of classes, between 2 and `len(CLASS_NAMES)`.
        clutter: whether to draw the cluttered background.

    Returns:
        `(images, labels)`: uint8 array `(num_images, image_size, image_size, 3)` and int32
        array `(num_images,)` of class indices into `CLASS_NAMES`.

    Example:

    >>> images, labels = make_shapes(100, image_size=32, seed=0)
    >>> images.shape, images.dtype, labels.dtype
    ((100, 32, 32, 3), dtype('uint8'), dtype('int32'))
    >>> CLASS_NAMES[labels[0]] in CLASS_NAMES
    True
    """
    n = _check_int("num_images", num_images, 1)
    size = _check_int("image_size", image_size, 8)
    seed = _check_int("seed", seed, 0)
    num_classes = _check_int("num_classes", num_classes, 2, len(CLASS_NAMES))
    rng = np.random.default_rng(seed)
    f32 = np.float32

    labels = _balanced(rng, n, num_classes)
    scale = rng.uniform(0.35, 0.75, n).astype(f32)
    cx = (rng.uniform(-1.0, 1.0, n) * (1.0 - scale)).astype(f32)
    cy = (rng.uniform(-1.0, 1.0, n) * (1.0 - scale)).astype(f32)
    angle = rng.uniform(0.0, 2 * np.pi, n).astype(f32)
    c0 = rng.uniform(0.0, 1.0, (n, 3)).astype(f32)
    if clutter:
        c1 = np.clip(c0 + rng.normal(0.0, 0.2, (n, 3)), 0.0, 1.0).astype(f32)
    else:
        c1 = c0
    direction = rng.uniform(0.0, 2 * np.pi, n).astype(f32)
    colour = _contrasting_colours(rng, (c0 + c1) / 2)
    if clutter:
        noise_std = rng.uniform(0.01, 0.05, n).astype(f32)
        texture_std = rng.uniform(0.0, 0.06, n).astype(f32)
        blobs = _distractor_params(rng, n, slots=3, radius=(0.04, 0.1))
        lines = _distractor_params(rng, n, slots=2, radius=(0.015, 0.035))

    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for sl in _chunks(n, size):
        m = sl.stop - sl.start
        image = _gradient_background(c0[sl], c1[sl], direction[sl], size)
        if clutter:
            image += texture_std[sl, None, None, None] * _smooth_noise(rng, m, size)
            _draw_blobs(image, blobs, sl, size)
            _draw_lines(image, lines, sl, size)
        alpha = _coverage(labels[sl], cx[sl], cy[sl], scale[sl], angle[sl], size)
        _composite(image, alpha, colour[sl])
        if clutter:
            noise = rng.standard_normal(image.shape, dtype=f32)
            noise *= noise_std[sl, None, None, None]
            image += noise
        images[sl] = _to_uint8(image)
    return images, labels


def _contrasting_colours(rng, background, min_distance=0.5, tries=20):
    """Random colours at least `min_distance` (RGB Euclidean) from each background colour."""
    colour = rng.uniform(0.0, 1.0, background.shape).astype(np.float32)
    for _ in range(tries):
        close = np.linalg.norm(colour - background, axis=1) < min_distance
        if not close.any():
            return colour
        colour[close] = rng.uniform(0.0, 1.0, (int(close.sum()), 3))
    close = np.linalg.norm(colour - background, axis=1) < min_distance
    colour[close] = np.round(1.0 - background[close])
    return colour


def _distractor_params(rng, n, slots, radius):
    """Per image and slot: presence, centre, angle, length, radius, colour and opacity."""
    f32 = np.float32
    return {
        "present": rng.random((slots, n)) < 0.5,
        "x": rng.uniform(-0.9, 0.9, (slots, n)).astype(f32),
        "y": rng.uniform(-0.9, 0.9, (slots, n)).astype(f32),
        "angle": rng.uniform(0.0, np.pi, (slots, n)).astype(f32),
        "length": rng.uniform(0.3, 0.9, (slots, n)).astype(f32),
        "radius": rng.uniform(*radius, (slots, n)).astype(f32),
        "colour": rng.uniform(0.0, 1.0, (slots, n, 3)).astype(f32),
        "opacity": rng.uniform(0.3, 0.7, (slots, n)).astype(f32),
    }


def _draw_blobs(image, params, sl, image_size):
    x, y = _grid(image_size)
    for k in range(params["present"].shape[0]):
        weight = (params["present"][k, sl] * params["opacity"][k, sl])[:, None, None]
        dx = x - params["x"][k, sl, None, None]
        dy = y - params["y"][k, sl, None, None]
        d = np.sqrt(dx * dx + dy * dy) - params["radius"][k, sl, None, None]
        alpha = np.clip(0.5 - d * (image_size / 2.0), 0.0, 1.0) * weight
        _composite(image, alpha, params["colour"][k, sl])


def _draw_lines(image, params, sl, image_size):
    x, y = _grid(image_size)
    for k in range(params["present"].shape[0]):
        weight = (params["present"][k, sl] * params["opacity"][k, sl])[:, None, None]
        ex = (np.cos(params["angle"][k, sl]) * params["length"][k, sl])[:, None, None]
        ey = (np.sin(params["angle"][k, sl]) * params["length"][k, sl])[:, None, None]
        # Segment from (x0, y0) to (x0 + ex, y0 + ey), centred on the slot's centre.
        wx = x - (params["x"][k, sl, None, None] - ex / 2)
        wy = y - (params["y"][k, sl, None, None] - ey / 2)
        t = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        d = np.sqrt((wx - t * ex) ** 2 + (wy - t * ey) ** 2) - params["radius"][k, sl, None, None]
        alpha = np.clip(0.5 - d * (image_size / 2.0), 0.0, 1.0) * weight
        _composite(image, alpha, params["colour"][k, sl])


def shapes_dataset(
    num_images,
    image_size=32,
    seed=0,
    batch_size=32,
    shuffle=True,
    num_classes=10,
    clutter=True,
    drop_remainder=False,
):
    """A batched `tf.data.Dataset` over `make_shapes`.

    Yields `(images, labels)`: images float32 in `[0, 1]`, shape
    `(batch, image_size, image_size, 3)` (model-specific normalisation is the model's
    preprocessing, not the data set's), labels int32 `(batch,)`. The images are generated once,
    in memory. The data set feeds `model.fit` under every Keras backend (tf.data is only the
    input pipeline).

    Args:
        num_images: number of images, >= 1.
        image_size: height and width in pixels, >= 8.
        seed: seed of the images and of the shuffling order.
        batch_size: images per batch, >= 1.
        shuffle: whether to reshuffle the images every epoch.
        num_classes: number of classes, between 2 and `len(CLASS_NAMES)`.
        clutter: whether to draw the cluttered background.
        drop_remainder: whether to drop the last, smaller batch.

    Returns:
        A `tf.data.Dataset`.

    Example:

    >>> ds = shapes_dataset(1000, image_size=32, batch_size=64)
    >>> images, labels = next(iter(ds))
    >>> images.shape, labels.shape
    (TensorShape([64, 32, 32, 3]), TensorShape([64]))
    """
    batch_size = _check_int("batch_size", batch_size, 1)
    images, labels = make_shapes(num_images, image_size, seed, num_classes, clutter)
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(_uint8_to_unit, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _uint8_to_unit(images, labels):
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 255.0, labels


# --------------------------------------------------------------------------------------------
# Captioned set
# --------------------------------------------------------------------------------------------


def shape_phrase(colour, shape, size=None, count=1):
    """The noun phrase for `count` objects, e.g. "a red circle" or "two small blue stars".

    Example:

    >>> shape_phrase("orange", "l_shape", size="large", count=2)
    'two large orange L-shapes'
    """
    _check_pairs("(colour, shape)", [(colour, shape)])
    count = _check_int("count", count, 1, 3)
    if size is not None and size not in SIZE_NAMES:
        raise ValueError(f"Unknown size {size!r} in `size`; expected one of {SIZE_NAMES} or None.")
    words = [_COUNT_WORDS[count - 1]]
    if size is not None:
        words.append(size)
    words.append(colour)
    words.append(_SHAPE_WORDS[shape][0 if count == 1 else 1])
    if words[0] == "a" and words[1][0] in "aeiou":
        words[0] = "an"
    return " ".join(words)


def caption_templates():
    """Prompt templates for zero-shot classification of captioned shapes.

    Each template has one `{}` slot for a noun phrase with its article (see `shape_phrase`),
    so that "a photo of {}" reads "a photo of an orange star".

    Example:

    >>> [t.format(shape_phrase("red", "circle")) for t in caption_templates()][0]
    'a photo of a red circle'
    """
    return _TEMPLATES


def class_prompt(colour, shape, template="a photo of {}"):
    """The prompt text of a (colour, shape) class, e.g. "a photo of a red circle".

    Example:

    >>> class_prompt("orange", "star")
    'a photo of an orange star'
    """
    return template.format(shape_phrase(colour, shape))


def make_captioned_shapes(num_images, image_size=64, seed=0, holdout=None, only=None):
    """Generates images of one to three shapes with compositional captions.

    Each image holds `count` (1 to 3) identical objects: one colour (`COLOUR_NAMES`), one shape
    (`CLASS_NAMES`) and one size (`SIZE_NAMES`), grouped in one region of a 3 x 3 grid over the
    image (`POSITION_NAMES`), on a dark, low-contrast grey background. Each object is rotated
    independently. The caption names every attribute, e.g. "two small red circles at the top
    left" or "a large blue star on the right". (Colour, shape) pairs are balanced; the other
    attributes are uniform. The same arguments always give the same outputs.

    Use `holdout` to leave (colour, shape) pairs out of a training set, and `only` to generate
    exactly those pairs for a zero-shot test set.

    Args:
        num_images: number of images, >= 1.
        image_size: height and width in pixels, >= 16.
        seed: non-negative integer seed.
        holdout: optional collection of `(colour, shape)` pairs that never appear.
        only: optional collection of `(colour, shape)` pairs, the only ones that appear.
            Cannot be combined with `holdout`.

    Returns:
        A dict with
        - `"images"`: uint8 `(num_images, image_size, image_size, 3)`;
        - `"captions"`: list of `num_images` strings;
        - `"attributes"`: list of dicts with keys `"colour"`, `"shape"`, `"size"`,
          `"position"` (str) and `"count"` (int);
        - `"colour_labels"`, `"shape_labels"`: int32 `(num_images,)` indices into
          `COLOUR_NAMES` and `CLASS_NAMES`.

    Example:

    >>> data = make_captioned_shapes(8, holdout={("red", "circle")})
    >>> data["images"].shape
    (8, 64, 64, 3)
    >>> isinstance(data["captions"][0], str)
    True
    """
    n = _check_int("num_images", num_images, 1)
    size = _check_int("image_size", image_size, 16)
    seed = _check_int("seed", seed, 0)
    if holdout is not None and only is not None:
        raise ValueError(
            "Pass either `holdout` or `only`, not both; "
            f"received holdout={holdout!r} and only={only!r}."
        )
    pairs = [(c, s) for c in COLOUR_NAMES for s in CLASS_NAMES]
    if holdout is not None:
        excluded = _check_pairs("holdout", holdout)
        pairs = [p for p in pairs if p not in excluded]
        if not pairs:
            raise ValueError(f"`holdout` excludes every (colour, shape) pair: holdout={holdout!r}.")
    if only is not None:
        included = _check_pairs("only", only)
        if not included:
            raise ValueError(f"Expected `only` to hold at least one pair; received only={only!r}.")
        pairs = [p for p in pairs if p in included]

    rng = np.random.default_rng(seed)
    f32 = np.float32
    pair_index = _balanced(rng, n, len(pairs))
    colour_id = np.array([COLOUR_NAMES.index(pairs[i][0]) for i in pair_index], dtype=np.int32)
    shape_id = np.array([CLASS_NAMES.index(pairs[i][1]) for i in pair_index], dtype=np.int32)
    count = rng.integers(1, 4, n)
    size_id = rng.integers(0, 2, n)
    position_id = rng.integers(0, 9, n)

    # Object radius (shape-frame scale) in units of half the image.
    radius = np.where(size_id == 0, rng.uniform(0.12, 0.15, n), rng.uniform(0.22, 0.28, n))
    gap = rng.uniform(0.06, 0.14, n)
    # Distance of each object from the group centre: no two objects overlap.
    spread = np.select(
        [count == 2, count == 3], [radius + gap / 2, (2 * radius + gap) / np.sqrt(3)]
    )
    extent = spread + radius + 0.02
    group_x = (position_id % 3 - 1) * 0.62 + rng.uniform(-0.06, 0.06, n)
    group_y = (position_id // 3 - 1) * 0.62 + rng.uniform(-0.06, 0.06, n)
    group_x = np.clip(group_x, extent - 1, 1 - extent)
    group_y = np.clip(group_y, extent - 1, 1 - extent)
    turn = rng.uniform(0.0, 2 * np.pi, n)
    slot_angle = turn[None, :] + np.array([0.0, 2 / 3, 4 / 3])[:, None] * np.pi
    slot_angle[1] = np.where(count == 2, turn + np.pi, slot_angle[1])
    obj_x = (group_x + spread * np.cos(slot_angle)).astype(f32)
    obj_y = (group_y + spread * np.sin(slot_angle)).astype(f32)
    obj_angle = rng.uniform(0.0, 2 * np.pi, (3, n)).astype(f32)
    radius = radius.astype(f32)

    jitter = rng.uniform(-0.06, 0.06, (n, 3))
    colour = np.clip(_COLOUR_RGB[colour_id] + jitter, 0.0, 1.0).astype(f32)
    grey = rng.uniform(0.05, 0.35, n)
    c0 = np.clip(grey[:, None] + rng.uniform(-0.03, 0.03, (n, 3)), 0.0, 1.0).astype(f32)
    c1 = np.clip(c0 + rng.uniform(-0.08, 0.08, (n, 1)), 0.0, 1.0).astype(f32)
    direction = rng.uniform(0.0, 2 * np.pi, n).astype(f32)
    noise_std = rng.uniform(0.0, 0.025, n).astype(f32)

    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for sl in _chunks(n, size):
        image = _gradient_background(c0[sl], c1[sl], direction[sl], size)
        for k in range(3):
            drawn = np.flatnonzero(count[sl] > k) + sl.start
            if drawn.size == 0:
                continue
            alpha = _coverage(
                shape_id[drawn],
                obj_x[k, drawn],
                obj_y[k, drawn],
                radius[drawn],
                obj_angle[k, drawn],
                size,
            )
            local = drawn - sl.start
            image[local] += alpha[:, None] * (colour[drawn, :, None, None] - image[local])
        noise = rng.standard_normal(image.shape, dtype=f32)
        noise *= noise_std[sl, None, None, None]
        image += noise
        images[sl] = _to_uint8(image)

    attributes = [
        {
            "colour": COLOUR_NAMES[colour_id[i]],
            "shape": CLASS_NAMES[shape_id[i]],
            "size": SIZE_NAMES[size_id[i]],
            "position": POSITION_NAMES[position_id[i]],
            "count": int(count[i]),
        }
        for i in range(n)
    ]
    captions = [
        shape_phrase(a["colour"], a["shape"], a["size"], a["count"])
        + " "
        + _POSITION_PHRASES[a["position"]]
        for a in attributes
    ]
    return {
        "images": images,
        "captions": captions,
        "attributes": attributes,
        "colour_labels": colour_id,
        "shape_labels": shape_id,
    }


# --------------------------------------------------------------------------------------------
# User images
# --------------------------------------------------------------------------------------------


def image_folder_dataset(
    directory, image_size, batch_size=32, validation_split=None, subset=None, seed=0
):
    """Loads a folder of images, one sub-folder per class, as a `tf.data.Dataset`.

    A thin wrapper over `keras.utils.image_dataset_from_directory` with the conventions of
    `shapes_dataset`: images resized to `image_size` (bilinear), float32 in `[0, 1]`, labels
    int32 class indices (sub-folders in alphabetical order), shuffled with `seed`.

    Args:
        directory: path to a folder that holds one sub-folder of images per class.
        image_size: output size, an int or a `(height, width)` pair.
        batch_size: images per batch, >= 1.
        validation_split: optional fraction in (0, 1) of the images to hold out.
        subset: with `validation_split`, `"training"`, `"validation"` or `"both"`.
        seed: seed of the shuffling and of the split.

    Returns:
        `(dataset, class_names)`; with `subset="both"`, `dataset` is a
        `(training, validation)` pair.

    Example:

    ```python
    train, class_names = image_folder_dataset(
        "flowers/", 224, validation_split=0.1, subset="training"
    )
    ```
    """
    if not os.path.isdir(directory):
        raise ValueError(
            f"Expected `directory` to be an existing folder; received directory={directory!r}."
        )
    has_class_folder = any(
        entry.is_dir() and not entry.name.startswith(".") for entry in os.scandir(directory)
    )
    if not has_class_folder:
        raise ValueError(
            "Expected `directory` to hold one sub-folder of images per class; "
            f"received directory={directory!r}, which has no sub-folders."
        )
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    if (
        not isinstance(image_size, (tuple, list))
        or len(image_size) != 2
        or any(_not_positive_int(s) for s in image_size)
    ):
        raise ValueError(
            "Expected `image_size` to be a positive int or a (height, width) pair of them; "
            f"received image_size={image_size!r}."
        )
    batch_size = _check_int("batch_size", batch_size, 1)
    import keras

    loaded = keras.utils.image_dataset_from_directory(
        directory,
        labels="inferred",
        label_mode="int",
        image_size=tuple(int(s) for s in image_size),
        batch_size=batch_size,
        shuffle=True,
        seed=seed,
        validation_split=validation_split,
        subset=subset,
    )
    if subset == "both":
        class_names = list(loaded[0].class_names)
        dataset = tuple(_unit_range(ds) for ds in loaded)
    else:
        class_names = list(loaded.class_names)
        dataset = _unit_range(loaded)
    return dataset, class_names


def _not_positive_int(value):
    return not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1


def _unit_range(ds):
    import tensorflow as tf

    return ds.map(lambda x, y: (x / 255.0, y), num_parallel_calls=tf.data.AUTOTUNE)
