"""The shape renderer behind the built-in data sets: names, signed-distance functions, rendering.

Every shape is a signed-distance function (negative inside, positive outside, in the shape's
own units, where the shape fits in the unit disc). Rendering evaluates that function on the
pixel grid of a whole batch at once, after moving the grid into each image's shape frame
(translation, rotation, scale), and turns the distance in pixels into coverage with a
one-pixel ramp, which gives anti-aliased edges at any resolution.
"""

import math

import numpy as np

from keras_vt import checks

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


def _check_pairs(name, pairs):
    try:
        items = [tuple(p) for p in pairs]
    except TypeError:
        raise checks.invalid(name, pairs, "a collection of (colour, shape) pairs") from None
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
