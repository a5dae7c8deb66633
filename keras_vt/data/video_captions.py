"""Built-in video-caption data for MMT: clips of moving shapes, template captions, and experts.

Each clip lasts `DURATION` seconds on a 32 x 32 canvas. A primary object (one of `COLOURS` x
`SHAPES`) moves in one of four directions, slowly or quickly, and bounces off the walls; half of
the clips add a second object that appears or leaves mid-clip; some show a digit in a corner for
a second or two. The caption names all of it, from templates:

    "a red square moves left quickly then a blue circle appears beeping twice the number seven
    on screen"

Four experts are derived from each clip, each with its own width, rate and time stamps, and each
informative about only part of the caption, so that a retrieval model has to fuse them:

| expert | tokens | rate | width | what it sees |
|---|---|---|---|---|
| `appearance` | 12 | 2 per second | 16 | colours and shapes of the visible objects (not which moves where) |
| `audio` | 24 | 4 per second | 12 | a tone per bounce, its pitch set by the bouncing object's colour |
| `motion` | 6 | 1 per second | 10 | displacement per second (directions, speeds), not colours |
| `ocr` | 4 | 1 per second while shown | 14 | the digit on screen and where |

All features carry noise. Some clips miss some experts (`E + "_mask"` all False): the audio
track of about 20 % of clips and the appearance features of about 10 % were "not extracted",
OCR misses about 15 % of the digits shown, and a clip without a digit has no OCR tokens at all.
The motion expert is always present, so no clip misses every expert.

`VideoCaptionTokenizer` turns the captions into [CLS] ... [SEP] word ids over a fixed vocabulary, so
that `keras_vt.create_model("mmt_tiny")` trains on this data without tensorflow-text.
"""

import numpy as np

from keras_vt import checks

DURATION = 6.0
"""Length of every clip, in seconds."""

FRAME_RATE = 2
"""Frames per second of the raw frames and of the appearance expert."""

CANVAS = 32
"""Height and width of the raw frames, in pixels."""

COLOURS = ("red", "green", "blue", "yellow", "purple", "white")
"""Object colours, in the order of the appearance and audio channels."""

SHAPES = ("square", "circle", "triangle", "cross")
"""Object shapes."""

DIRECTIONS = ("left", "right", "up", "down")
"""Initial directions of motion."""

SPEEDS = ("slowly", "quickly")
"""Speed words; 3 and 9 pixels per second."""

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
"""The digits shown on screen, as the caption spells them."""

EXPERTS = {"appearance": 16, "audio": 12, "motion": 10, "ocr": 14}
"""Expert name -> feature width of `make_video_captions` (the `mmt_tiny` configuration)."""

EXPERT_TOKENS = {"appearance": 12, "audio": 24, "motion": 6, "ocr": 4}
"""Expert name -> number of tokens per clip (valid or padding)."""

_RGB = np.array(
    [
        [0.9, 0.15, 0.1],
        [0.1, 0.8, 0.2],
        [0.15, 0.3, 0.95],
        [0.95, 0.9, 0.1],
        [0.6, 0.2, 0.8],
        [0.95, 0.95, 0.95],
    ],
    dtype=np.float32,
)
_VELOCITY = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])  # (x, y); y downwards
_SPEED = np.array([3.0, 9.0])
_RADIUS = 4.0
_STEP = 0.25  # simulation step = audio frame, seconds
_COUNT_WORDS = {1: "once", 2: "twice", 3: "three times"}
_TEMPLATE_WORDS = (
    "then appears while leaves silently beeping once twice three times many the number on screen"
).split()

_FONT = {  # 3 x 5 bitmaps, rows top to bottom
    0: "111101101101111",
    1: "010110010010111",
    2: "111001111100111",
    3: "111001111001111",
    4: "101101111001001",
    5: "111100111001111",
    6: "111100111101111",
    7: "111001010010010",
    8: "111101111101111",
    9: "111101111001111",
}


def _simulate(rng, n, steps):
    """Positions (n, steps, 2) of an object moving straight, reflected at the walls, and a
    bounce flag per step. Also returns the direction and speed ids."""
    direction = rng.integers(0, 4, n)
    speed = rng.integers(0, 2, n)
    low, high = _RADIUS, CANVAS - _RADIUS
    position = rng.uniform(low + 2, high - 2, (n, 2))
    velocity = _VELOCITY[direction] * _SPEED[speed][:, None]
    positions = np.empty((n, steps, 2))
    bounces = np.zeros((n, steps), bool)
    for k in range(steps):
        position = position + velocity * _STEP
        for axis in range(2):
            over, under = position[:, axis] > high, position[:, axis] < low
            position[over, axis] = 2 * high - position[over, axis]
            position[under, axis] = 2 * low - position[under, axis]
            hit = over | under
            velocity[hit, axis] *= -1
            bounces[:, k] |= hit
        positions[:, k] = position
    return positions, bounces, direction, speed


def make_video_captions(num_clips, seed=0, return_frames=False):
    """Generates clips of moving shapes, their captions and four experts' features.

    The same arguments always give the same outputs (numpy only, no network, about a second
    per thousand clips on one CPU core; rendering frames costs more).

    Args:
        num_clips: number of clips, >= 1.
        seed: non-negative integer seed.
        return_frames: also return the raw frames, uint8 (clips, 12, 32, 32, 3) at
            `FRAME_RATE` frames per second, for display.

    Returns:
        `(inputs, captions)`, or `(inputs, captions, frames)` with `return_frames=True`.
        `inputs` is a dict of numpy arrays, per expert `E` of `EXPERTS`: `inputs[E]` float32
        (clips, tokens, width), `inputs[E + "_mask"]` bool (clips, tokens) (False: padding or a
        missing expert) and `inputs[E + "_times"]` float32 (clips, tokens), each token's centre
        time in seconds. `captions` is a list of `num_clips` strings.

    Example:

    >>> inputs, captions = keras_vt.data.make_video_captions(4, seed=0)
    >>> inputs["motion"].shape, inputs["motion_mask"].shape, len(captions)
    ((4, 6, 10), (4, 6), 4)
    >>> sorted(k for k in inputs if not k.endswith(("_mask", "_times")))
    ['appearance', 'audio', 'motion', 'ocr']
    """
    n = checks.check_int("num_clips", num_clips)
    seed = checks.check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    steps = int(DURATION / _STEP)
    step_times = (np.arange(steps) + 0.5) * _STEP

    # --- the clip: two objects, an appear/leave event, a digit ---------------------------------
    colour = np.stack([rng.integers(0, 6, n), rng.integers(0, 6, n)], 1)
    shape = np.stack([rng.integers(0, 4, n), rng.integers(0, 4, n)], 1)
    same = (colour[:, 0] == colour[:, 1]) & (shape[:, 0] == shape[:, 1])
    colour[same, 1] = (colour[same, 1] + 1) % 6
    path0, bounce0, direction, speed = _simulate(rng, n, steps)
    path1, bounce1, _, _ = _simulate(rng, n, steps)
    second = rng.random(n) < 0.5
    appears = rng.random(n) < 0.5  # else the second object leaves
    event_time = rng.uniform(1.5, 4.5, n)
    visible1 = second[:, None] & np.where(
        appears[:, None],
        step_times[None] >= event_time[:, None],
        step_times[None] < event_time[:, None],
    )
    visible = np.stack([np.ones((n, steps), bool), visible1], 1)  # (n, 2, steps)
    paths = np.stack([path0, path1], 1)  # (n, 2, steps, 2)
    bounce = np.stack([bounce0, bounce1], 1) & visible
    num_bounces = bounce.sum((1, 2))
    has_digit = rng.random(n) < 0.6
    digit = rng.integers(0, 10, n)
    digit_start = rng.uniform(0.0, DURATION - 2.0, n)
    digit_length = rng.uniform(1.0, 2.0, n)
    corner = rng.integers(0, 4, n)

    # --- captions -------------------------------------------------------------------------------
    captions = []
    for i in range(n):
        words = [f"a {COLOURS[colour[i, 0]]} {SHAPES[shape[i, 0]]} moves"]
        words.append(f"{DIRECTIONS[direction[i]]} {SPEEDS[speed[i]]}")
        if second[i]:
            event = "then a {} {} appears" if appears[i] else "while a {} {} leaves"
            words.append(event.format(COLOURS[colour[i, 1]], SHAPES[shape[i, 1]]))
        b = int(num_bounces[i])
        words.append("silently" if b == 0 else "beeping " + _COUNT_WORDS.get(b, "many times"))
        if has_digit[i]:
            words.append(f"the number {DIGITS[digit[i]]} on screen")
        captions.append(" ".join(words))

    f32 = np.float32
    inputs = {}

    # --- appearance: per frame, colour and shape histograms of the visible objects -------------
    frames = int(DURATION * FRAME_RATE)
    frame_steps = (np.arange(frames) * (steps // frames)) + (steps // frames) // 2
    vis_f = visible[:, :, frame_steps].astype(f32)  # (n, 2, frames)
    feats = np.zeros((n, frames, 16), f32)
    for o in range(2):
        feats[:, :, :6] += vis_f[:, o, :, None] * np.eye(6, dtype=f32)[colour[:, o]][:, None]
        feats[:, :, 6:10] += vis_f[:, o, :, None] * np.eye(4, dtype=f32)[shape[:, o]][:, None]
    feats += rng.normal(0.0, 0.25, feats.shape).astype(f32)
    inputs["appearance"] = feats
    inputs["appearance_mask"] = np.repeat((rng.random(n) >= 0.1)[:, None], frames, 1)
    inputs["appearance_times"] = np.tile(
        ((np.arange(frames) + 0.5) / FRAME_RATE).astype(f32), (n, 1)
    )

    # --- audio: a tone per bounce, pitch by the bouncing object's colour, over a hum ------------
    feats = np.abs(rng.normal(0.0, 0.2, (n, steps, 12))).astype(f32)
    hum = rng.integers(8, 12, n)
    feats[np.arange(n), :, hum] += 0.5
    for o in range(2):
        tone = np.eye(12, dtype=f32)[colour[:, o] + 1]  # channels 1..6
        feats += bounce[:, o, :, None] * 1.5 * tone[:, None]
    inputs["audio"] = feats
    inputs["audio_mask"] = np.repeat((rng.random(n) >= 0.2)[:, None], steps, 1)
    inputs["audio_times"] = np.tile(step_times.astype(f32), (n, 1))

    # --- motion: per second, direction histogram weighted by speed, per visible object ---------
    seconds = int(DURATION)
    per = steps // seconds
    feats = np.zeros((n, seconds, 10), f32)
    for s in range(seconds):
        a, b = s * per, (s + 1) * per - 1
        for o in range(2):
            seen = visible[:, o, a] & visible[:, o, b]
            delta = (paths[:, o, b] - paths[:, o, a]) / ((b - a) * _STEP)
            # direction histogram: -x, +x, -y, +y components of the velocity
            hist = np.stack([-delta[:, 0], delta[:, 0], -delta[:, 1], delta[:, 1]], 1)
            feats[:, s, :4] += seen[:, None] * np.maximum(hist, 0.0) / 9.0
            moved = np.linalg.norm(delta, axis=1)
            feats[:, s, 4] += seen * (moved < 6.0)
            feats[:, s, 5] += seen * (moved >= 6.0)
        feats[:, s, 6] = visible[:, :, a : b + 1].any(2).sum(1)  # objects moving this second
    feats += rng.normal(0.0, 0.15, feats.shape).astype(f32)
    inputs["motion"] = feats
    inputs["motion_mask"] = np.ones((n, seconds), bool)
    inputs["motion_times"] = np.tile((np.arange(seconds) + 0.5).astype(f32), (n, 1))

    # --- ocr: one detection per second while a digit is shown ----------------------------------
    tokens = EXPERT_TOKENS["ocr"]
    feats = np.zeros((n, tokens, 14), f32)
    mask = np.zeros((n, tokens), bool)
    times = np.zeros((n, tokens), f32)
    read = has_digit & (rng.random(n) >= 0.15)
    for k in range(tokens):
        t = digit_start + 0.5 + k
        valid = read & (t < digit_start + digit_length + 0.5) & (t < DURATION)
        feats[:, k, :10] = np.eye(10, dtype=f32)[digit] * rng.uniform(0.6, 1.0, (n, 1))
        feats[:, k, 10] = rng.uniform(0.5, 1.0, n)
        feats[:, k, 11] = corner % 2
        feats[:, k, 12] = corner // 2
        feats[:, k] += rng.normal(0.0, 0.1, (n, 14)).astype(f32)
        feats[~valid, k] = 0.0
        mask[:, k], times[:, k] = valid, np.where(valid, t, 0.0)
    inputs["ocr"], inputs["ocr_mask"], inputs["ocr_times"] = feats, mask, times

    inputs = {k: inputs[k] for k in sorted(inputs)}
    if not return_frames:
        return inputs, captions
    video = _render(
        n,
        frame_steps,
        paths,
        visible,
        colour,
        shape,
        has_digit,
        digit,
        digit_start,
        digit_length,
        corner,
    )
    return inputs, captions, video


def _render(n, frame_steps, paths, visible, colour, shape, has_digit, digit, start, length, corner):
    """uint8 frames (n, frames, CANVAS, CANVAS, 3) of the simulated clips."""
    frames = len(frame_steps)
    yy, xx = np.mgrid[0:CANVAS, 0:CANVAS] + 0.5
    video = np.full((n, frames, CANVAS, CANVAS, 3), 0.08, np.float32)
    for f, k in enumerate(frame_steps):
        for o in range(2):
            cx = paths[:, o, k, 0][:, None, None]
            cy = paths[:, o, k, 1][:, None, None]
            dx, dy = np.abs(xx[None] - cx), np.abs(yy[None] - cy)
            r = _RADIUS
            masks = np.stack(
                [
                    (dx <= r) & (dy <= r),
                    dx**2 + dy**2 <= r**2,
                    (yy[None] - cy <= r) & (dx <= (yy[None] - cy + r) / 2),
                    ((dx <= r) & (dy <= r / 3)) | ((dy <= r) & (dx <= r / 3)),
                ],
                1,
            )[np.arange(n), shape[:, o]]
            masks &= visible[:, o, k][:, None, None]
            video[:, f][masks] = np.repeat(_RGB[colour[:, o]][:, None, None], CANVAS, 1).repeat(
                CANVAS, 2
            )[masks]
        t = (frame_steps[f] + 0.5) * _STEP
        shown = has_digit & (t >= start) & (t < start + length)
        for i in np.flatnonzero(shown):
            glyph = np.array([int(c) for c in _FONT[int(digit[i])]], bool).reshape(5, 3)
            y0 = 1 if corner[i] // 2 == 0 else CANVAS - 6
            x0 = 1 if corner[i] % 2 == 0 else CANVAS - 4
            video[i, f, y0 : y0 + 5, x0 : x0 + 3][glyph] = 1.0
    return (video * 255).round().astype(np.uint8)


class VideoCaptionTokenizer:
    """Word-level tokenizer of the built-in captions: a fixed vocabulary, [CLS] ... [SEP].

    Ids: 0 = [PAD], 1 = [UNK], 2 = [CLS], 3 = [SEP], then the words of `make_video_captions`'
    templates. Words outside the vocabulary become [UNK]. A caption longer than
    `context_length` (with [CLS] and [SEP]) raises a `ValueError` unless `truncate=True`.
    (The WordPiece tokenizer of `keras_vt.text` serves real captions; this one needs no
    tensorflow-text.)

    Args:
        context_length: length of every returned id sequence, >= 3.

    Example:

    >>> tokenizer = keras_vt.data.VideoCaptionTokenizer(context_length=8)
    >>> tokenizer(["a red square moves left"])
    array([[ 2,  4,  5, 11, 15, 16,  3,  0]], dtype=int32)
    >>> tokenizer.detokenize(tokenizer(["a red square moves left"]))
    ['a red square moves left']
    """

    special_tokens = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
    pad_id, unknown_id, cls_id, sep_id = 0, 1, 2, 3

    def __init__(self, context_length=24):
        self.context_length = checks.check_int("context_length", context_length, 3)
        words = ["a", *COLOURS, *SHAPES, "moves", *DIRECTIONS, *SPEEDS, *_TEMPLATE_WORDS, *DIGITS]
        vocabulary = list(self.special_tokens) + list(dict.fromkeys(words))
        self.vocabulary = tuple(vocabulary)
        self.index = {w: i for i, w in enumerate(self.vocabulary)}

    @property
    def vocabulary_size(self):
        """Number of ids (special tokens included)."""
        return len(self.vocabulary)

    def __call__(self, captions, truncate=False):
        """int32 (captions, context_length) ids of a string or a list of strings."""
        if isinstance(captions, str):
            captions = [captions]
        captions = list(captions)
        ids = np.zeros((len(captions), self.context_length), np.int32)
        for row, caption in enumerate(captions):
            if not isinstance(caption, str) or not caption.strip():
                raise checks.invalid(f"captions[{row}]", caption, "a non-empty caption string")
            words = caption.lower().replace(",", " ").split()
            tokens = [self.cls_id] + [self.index.get(w, self.unknown_id) for w in words]
            tokens.append(self.sep_id)
            if len(tokens) > self.context_length:
                if not truncate:
                    raise ValueError(
                        f"Caption {row} has {len(tokens)} tokens with [CLS] and [SEP], more than "
                        f"context_length={self.context_length}: captions[{row}]={caption!r}. "
                        "Pass truncate=True to cut it, or a larger context_length."
                    )
                tokens = tokens[: self.context_length - 1] + [self.sep_id]
            ids[row, : len(tokens)] = tokens
        return ids

    def detokenize(self, ids):
        """Captions (list of str) of an id array, special tokens dropped."""
        ids = np.asarray(ids)
        return [
            " ".join(self.vocabulary[i] for i in row if i >= len(self.special_tokens))
            for row in ids.reshape(-1, ids.shape[-1])
        ]
