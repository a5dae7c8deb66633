"""A synchronised audio-visual "speech" task for AV Align, generated offline with numpy.

Each example is a short sequence of symbols (1..`NUM_SYMBOLS`; 0 is silence / the CTC blank),
spoken with random durations and pauses and rendered twice:

- **audio**: spectrogram-like frames every 30 ms (`audio_bins` bins, two formant bumps and an
  onset ramp per symbol), with additive babble + white noise at a chosen SNR;
- **video**: mouth-like grey images every 40 ms (an opening, a lip ring and a chin line whose
  shapes follow the symbol's lips-part / jaw-drop / width), shown with a random lag of the audio.

The symbol set is confusable in complementary ways: symbols 1/2 and 3/4 look the same and differ
only in their sound; symbols 5/6 and 7/8 sound the same and differ only in the mouth. Audio alone
therefore tops out below 100 % even when clean (and degrades with noise), video alone too; only
fusion recovers every symbol. The per-video-frame articulation targets (stand-ins for the action
units AU25 "lips part" and AU26 "jaw drop", in [0, 1] as the paper's clipped AU / 3) and the true
audio-to-video alignment come with the labels.
"""

import math
import numbers

import numpy as np

from keras_vt import checks

NUM_SYMBOLS = 8
NUM_CLASSES = NUM_SYMBOLS + 1  # class 0: silence (per-frame labels) and the CTC blank
AUDIO_STEP_MS = 30
VIDEO_STEP_MS = 40
# symbol id -> (audio class, video class). 1/2 and 3/4 share a mouth; 5/6 and 7/8 share a sound.
SYMBOLS = {1: (0, 0), 2: (1, 0), 3: (2, 1), 4: (3, 1), 5: (4, 2), 6: (4, 3), 7: (5, 4), 8: (5, 5)}
AUDIO_ONLY_PAIRS = ((1, 2), (3, 4))
VIDEO_ONLY_PAIRS = ((5, 6), (7, 8))
# audio class -> (formant 1, formant 2) as fractions of the band
FORMANTS = ((0.15, 0.55), (0.15, 0.75), (0.3, 0.6), (0.3, 0.85), (0.45, 0.7), (0.6, 0.9))
# video class -> (lips part = AU25 stand-in, jaw drop = AU26 stand-in, mouth width)
MOUTHS = (
    (0.9, 0.8, 0.5),
    (0.2, 0.1, 0.9),
    (0.5, 0.2, 0.3),
    (0.05, 0.0, 0.6),
    (0.6, 0.6, 0.75),
    (0.3, 0.5, 0.4),
)
REST_MOUTH = (0.0, 0.0, 0.55)
SYMBOL_MS = (150, 240)
PAUSE_MS = (30, 90)
MAX_LAG_MS = 80


def _check_snr(snr_db):
    if snr_db is None:
        return None
    if isinstance(snr_db, bool) or not isinstance(snr_db, numbers.Real) or math.isnan(snr_db):
        raise checks.invalid(
            "snr_db", snr_db, "a number of decibels (e.g. 10, 0, -5) or None for clean audio"
        )
    return float(snr_db)


def max_frames(max_symbols):
    """(audio frames, video frames) that hold the longest utterance of `max_symbols` symbols."""
    duration = PAUSE_MS[1] + max_symbols * (SYMBOL_MS[1] + PAUSE_MS[1])
    return math.ceil(duration / AUDIO_STEP_MS), math.ceil(duration / VIDEO_STEP_MS)


def symbol_spectra(audio_bins):
    """(NUM_SYMBOLS + 1, audio_bins) clean spectrum of each class (row 0: silence, zeros)."""
    bins = np.linspace(0.0, 1.0, audio_bins)
    width = 1.5 / audio_bins + 0.03
    table = np.zeros((NUM_CLASSES, audio_bins), "float32")
    for symbol, (audio_class, _) in SYMBOLS.items():
        f1, f2 = FORMANTS[audio_class]
        bump = np.exp(-0.5 * ((bins - f1) / width) ** 2) + 0.7 * np.exp(
            -0.5 * ((bins - f2) / width) ** 2
        )
        table[symbol] = bump
    return table


def render_mouths(params, frame_size, rng=None, noise=0.05):
    """Grey mouth images (..., frame_size, frame_size, 1) from (..., 3) lips/jaw/width params."""
    params = np.asarray(params, "float32")
    lips, jaw, width = (params[..., i, None, None] for i in range(3))
    axis = np.linspace(-1.0, 1.0, frame_size, dtype="float32")
    y, x = np.meshgrid(axis, axis, indexing="ij")
    half_w = 0.25 + 0.45 * width
    half_h = 0.03 + 0.35 * lips
    cy = 0.1 * jaw
    sharp = frame_size / 3.0
    inner = ((x / half_w) ** 2 + ((y - cy) / half_h) ** 2) - 1.0
    outer = ((x / (half_w + 0.15)) ** 2 + ((y - cy) / (half_h + 0.15)) ** 2) - 1.0
    opening = 1.0 / (1.0 + np.exp(np.clip(sharp * inner, -30, 30)))
    ring = 1.0 / (1.0 + np.exp(np.clip(sharp * outer, -30, 30)))
    chin_y = 0.55 + 0.4 * jaw
    chin = np.exp(-0.5 * ((y - chin_y) / 0.08) ** 2)
    image = 0.5 + 0.35 * ring - 0.75 * opening - 0.25 * chin
    if rng is not None and noise:
        image = image + rng.normal(0.0, noise, size=image.shape)
    return image.astype("float32")[..., None]


def _noise_frames(rng, shape, spectra):
    """Babble (random mixtures of the symbols' spectra) plus white noise, unit mean power."""
    n, t, bins = shape
    mix = rng.random((n, t, NUM_CLASSES)) ** 3
    babble = mix @ spectra
    noise = babble + 0.5 * rng.random((n, t, bins))
    return noise / np.sqrt(np.mean(noise**2))


def make_audio_visual(
    num_examples,
    seed=0,
    snr_db=None,
    min_symbols=2,
    max_symbols=4,
    audio_bins=32,
    frame_size=16,
    max_lag_ms=MAX_LAG_MS,
):
    """The synchronised audio-visual symbol task: `(inputs, labels)` numpy dicts.

    Deterministic in `seed` (the clean signals and lags depend on `seed` only, so the same seed at
    two SNRs gives the same utterances with different noise). Generating 1,000 examples takes well
    under a second.

    Args:
        num_examples: number of utterances.
        seed: random seed.
        snr_db: signal-to-noise ratio of the audio in dB (babble + white noise, e.g. 10, 0, -5);
            None for clean audio.
        min_symbols, max_symbols: symbols per utterance.
        audio_bins: spectrogram bins per audio frame.
        frame_size: side of the square mouth images.
        max_lag_ms: the video lags the audio by a uniform random lag in [-max_lag_ms, max_lag_ms].

    Returns:
        `inputs`: `"audio"` (n, audio frames, audio_bins) float32, `"audio_mask"` (n, audio frames)
        bool, `"video"` (n, video frames, frame_size, frame_size, 1) float32, `"video_mask"`
        (n, video frames) bool. `labels`: `"frames"` (n, audio frames) int32 per-audio-frame symbol
        (0 = silence), `"tokens"` (n, max_symbols) int32 symbol sequence padded with 0,
        `"au"` (n, video frames, 2) float32 lips-part / jaw-drop targets, `"alignment"`
        (n, audio frames) int32: the video frame showing each audio frame's instant (-1 on padding),
        and `"lag_ms"` (n,) float32.

    Example:

    >>> inputs, labels = keras_vt.data.make_audio_visual(4, seed=0, snr_db=0)
    >>> inputs["audio"].shape, inputs["video"].shape, labels["tokens"].shape
    ((4, 47, 32), (4, 36, 16, 16, 1), (4, 4))
    """
    num_examples = checks.check_int("num_examples", num_examples)
    snr_db = _check_snr(snr_db)
    min_symbols = checks.check_int("min_symbols", min_symbols)
    max_symbols = checks.check_int("max_symbols", max_symbols, min_symbols)
    audio_bins = checks.check_int("audio_bins", audio_bins, 4)
    frame_size = checks.check_int("frame_size", frame_size, 8)
    if isinstance(max_lag_ms, bool) or not isinstance(max_lag_ms, numbers.Real) or max_lag_ms < 0:
        raise checks.invalid("max_lag_ms", max_lag_ms, "a number >= 0")
    rng = np.random.default_rng(seed)
    t_audio, t_video = max_frames(max_symbols)
    spectra = symbol_spectra(audio_bins)
    mouths = np.asarray((REST_MOUTH,) + tuple(MOUTHS[SYMBOLS[s][1]] for s in SYMBOLS), "float32")

    frames = np.zeros((num_examples, t_audio), "int32")
    onset = np.zeros((num_examples, t_audio), "float32")
    tokens = np.zeros((num_examples, max_symbols), "int32")
    audio_len = np.zeros(num_examples, "int32")
    video_len = np.zeros(num_examples, "int32")
    lags = rng.uniform(-max_lag_ms, max_lag_ms, num_examples).astype("float32")
    # Per-millisecond timelines (symbol and time since its start), sampled at both frame rates.
    timelines = []
    for n in range(num_examples):
        count = int(rng.integers(min_symbols, max_symbols + 1))
        symbols = rng.integers(1, NUM_SYMBOLS + 1, count)
        tokens[n, :count] = symbols
        line = []
        line.append(np.zeros(int(rng.integers(*PAUSE_MS, endpoint=True)), "int32"))
        for s in symbols:
            line.append(np.full(int(rng.integers(*SYMBOL_MS, endpoint=True)), s, "int32"))
            line.append(np.zeros(int(rng.integers(*PAUSE_MS, endpoint=True)), "int32"))
        line = np.concatenate(line)
        timelines.append(line)
        audio_len[n] = math.ceil(len(line) / AUDIO_STEP_MS)
        video_len[n] = math.ceil(len(line) / VIDEO_STEP_MS)
        starts = np.zeros(len(line), "float32")
        change = np.flatnonzero(np.diff(line, prepend=-1))
        for a, b in zip(change, list(change[1:]) + [len(line)]):
            starts[a:b] = np.arange(b - a)
        centres = np.minimum(
            np.arange(audio_len[n]) * AUDIO_STEP_MS + AUDIO_STEP_MS // 2, len(line) - 1
        )
        frames[n, : audio_len[n]] = line[centres]
        onset[n, : audio_len[n]] = np.minimum(starts[centres] / 60.0, 1.0)

    audio_mask = np.arange(t_audio)[None] < audio_len[:, None]
    video_mask = np.arange(t_video)[None] < video_len[:, None]
    envelope = np.where(frames > 0, 0.4 + 0.6 * onset, 0.0)[..., None]
    clean = spectra[frames] * envelope
    if snr_db is None:
        audio = clean
    else:
        signal_power = np.sum(clean**2, axis=(1, 2)) / np.maximum(
            np.sum(frames > 0, axis=1) * audio_bins, 1
        )
        noise = _noise_frames(np.random.default_rng([seed, 7919]), clean.shape, spectra)
        scale = np.sqrt(signal_power / 10.0 ** (snr_db / 10.0))[:, None, None]
        audio = clean + scale * noise
    audio = np.where(audio_mask[..., None], audio, 0.0).astype("float32")

    # Video frame j shows the instant j * 40 + 20 - lag of the audio timeline (mouth shapes
    # interpolated over 40 ms, coarticulation); the audio frame i is seen in video frame
    # floor((i * 30 + 15 + lag) / 40).
    params = np.zeros((num_examples, t_video, 3), "float32")
    params[:] = REST_MOUTH
    alignment = np.full((num_examples, t_audio), -1, "int32")
    kernel = np.ones(VIDEO_STEP_MS, "float32") / VIDEO_STEP_MS
    for n, line in enumerate(timelines):
        trace = mouths[line]  # (ms, 3)
        trace = np.stack([np.convolve(trace[:, k], kernel, mode="same") for k in range(3)], 1)
        times = np.arange(video_len[n]) * VIDEO_STEP_MS + VIDEO_STEP_MS // 2 - lags[n]
        inside = (times >= 0) & (times < len(line))
        index = np.clip(times, 0, len(line) - 1).astype("int64")
        params[n, : video_len[n]] = np.where(inside[:, None], trace[index], REST_MOUTH)
        audio_times = np.arange(audio_len[n]) * AUDIO_STEP_MS + AUDIO_STEP_MS // 2 + lags[n]
        alignment[n, : audio_len[n]] = np.clip(
            np.floor(audio_times / VIDEO_STEP_MS), 0, video_len[n] - 1
        )
    video = render_mouths(params, frame_size, rng=np.random.default_rng([seed, 104729]))
    video = np.where(video_mask[:, :, None, None, None], video, 0.0).astype("float32")
    au = np.where(video_mask[..., None], params[..., :2], 0.0).astype("float32")

    inputs = {
        "audio": audio,
        "audio_mask": audio_mask,
        "video": video,
        "video_mask": video_mask,
    }
    labels = {
        "frames": frames,
        "tokens": tokens,
        "au": au,
        "alignment": alignment,
        "lag_ms": lags,
    }
    return inputs, labels
