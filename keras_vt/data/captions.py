"""The captioned shapes set: one to three identical objects per image on a plain background, with
compositional English captions ("two small red circles at the top left"), for contrastive
image-text training and zero-shot evaluation on held-out colour-shape pairs.
"""

import numpy as np

from keras_vt import checks
from keras_vt.data.render import (
    CLASS_NAMES,
    COLOUR_NAMES,
    POSITION_NAMES,
    SIZE_NAMES,
    _balanced,
    _check_pairs,
    _chunks,
    _coverage,
    _gradient_background,
    _to_uint8,
)

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
    count = checks.check_int("count", count, 1, 3)
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
    n = checks.check_int("num_images", num_images)
    size = checks.check_int("image_size", image_size, 16)
    seed = checks.check_int("seed", seed, 0)
    if holdout is not None and only is not None:
        raise checks.invalid(
            "only",
            only,
            "either holdout or only, not both",
            problem=f"holdout={holdout!r} and only={only!r}",
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
            raise checks.invalid("only", only, "at least one (colour, shape) pair")
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
