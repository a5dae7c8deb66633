"""AV Align: the built-in audio-visual task, the model (fusion, masks, heads, AU loss), CTC,
alignment maps, bad input, the noise curriculum. Tiny configurations; runs on every backend."""

import itertools
import os
import tempfile

import keras
import numpy as np
import pytest

import keras_vt
from keras_vt.data import audio_visual
from keras_vt.losses import ctc_sequence_loss
from keras_vt.models.av_align import greedy_decode

BATCH = 6


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.fixture(scope="module")
def data():
    return keras_vt.data.make_audio_visual(BATCH, seed=3, snr_db=10, max_symbols=3)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(1)
    return keras_vt.create_model("av_align_tiny", head="frame", au_loss=True)


# ------------------------------------------------------------------------------------- data
def test_data_is_deterministic_and_consistent(data):
    inputs, labels = data
    again, labels_again = keras_vt.data.make_audio_visual(BATCH, seed=3, snr_db=10, max_symbols=3)
    for key in inputs:
        np.testing.assert_array_equal(inputs[key], again[key])
    for key in labels:
        np.testing.assert_array_equal(labels[key], labels_again[key])
    t_audio, t_video = audio_visual.max_frames(3)
    assert inputs["audio"].shape == (BATCH, t_audio, 32)
    assert inputs["video"].shape == (BATCH, t_video, 16, 16, 1)
    assert labels["au"].shape == (BATCH, t_video, 2)
    # 30 ms audio vs 40 ms video frames: 4 audio frames per 3 video frames.
    np.testing.assert_allclose(
        inputs["audio_mask"].sum(1) / inputs["video_mask"].sum(1), 4 / 3, atol=0.15
    )
    # padding is zero; the alignment points at valid video frames and never goes backwards
    assert not inputs["audio"][~inputs["audio_mask"]].any()
    align = labels["alignment"]
    assert ((align >= 0) == inputs["audio_mask"]).all()
    assert (align < inputs["video_mask"].sum(1, keepdims=True)).all()
    for row in align:
        row = row[row >= 0]
        assert (np.diff(row) >= 0).all()
    # tokens are the symbols of the per-frame labels, in order
    for frames, tokens in zip(labels["frames"], labels["tokens"]):
        runs = [int(k) for k, _ in itertools.groupby(frames) if k]
        assert runs == [int(t) for t in tokens if t]


def test_data_noise_follows_the_snr_and_leaves_the_signal():
    clean, _ = keras_vt.data.make_audio_visual(32, seed=0, snr_db=None)
    ratios = []
    for snr in (10, 0, -5):
        noisy, _ = keras_vt.data.make_audio_visual(32, seed=0, snr_db=snr)
        np.testing.assert_array_equal(noisy["video"], clean["video"])
        noise = noisy["audio"] - clean["audio"]
        speech = np.abs(clean["audio"]).sum(-1) > 0
        signal_power = np.mean(clean["audio"][speech] ** 2)
        noise_power = np.mean(noise[clean["audio_mask"]] ** 2)
        ratios.append(10 * np.log10(signal_power / noise_power))
    np.testing.assert_allclose(ratios, [10, 0, -5], atol=1.0)


def test_data_confusable_pairs_are_complementary():
    spectra = audio_visual.symbol_spectra(32)
    mouths = {s: audio_visual.MOUTHS[v] for s, (_, v) in audio_visual.SYMBOLS.items()}
    for a, b in audio_visual.AUDIO_ONLY_PAIRS:  # same mouth, different sound
        assert mouths[a] == mouths[b]
        assert np.abs(spectra[a] - spectra[b]).max() > 0.3
    for a, b in audio_visual.VIDEO_ONLY_PAIRS:  # same sound, different mouth
        np.testing.assert_array_equal(spectra[a], spectra[b])
        images = audio_visual.render_mouths(np.array([mouths[a], mouths[b]]), 16)
        assert np.abs(images[0] - images[1]).max() > 0.3


@pytest.mark.parametrize("snr", ["10", "loud", float("nan"), True, [0]])
def test_data_rejects_a_non_numeric_snr(snr):
    with pytest.raises(ValueError, match="Invalid snr_db: snr_db=.*Expected a number of decibels"):
        keras_vt.data.make_audio_visual(2, snr_db=snr)


# ------------------------------------------------------------------------------------- model
def test_outputs_and_alignment_maps(model, data):
    inputs, _ = data
    out = model(inputs)
    t_audio, t_video = inputs["audio"].shape[1], inputs["video"].shape[1]
    assert tuple(out["logits"].shape) == (BATCH, t_audio, 9)
    assert tuple(out["au"].shape) == (BATCH, t_video, 2)
    maps = keras_vt.viz.attention_maps(model, inputs)
    # 2 audio + 2 video self-attention blocks, then the align step
    assert len(maps) == 5
    cross = [m for m in maps if m.shape[-2:] == (t_audio, t_video)]
    assert len(cross) == 1 and cross[0].shape == (BATCH, 1, t_audio, t_video)
    np.testing.assert_allclose(cross[0].sum(-1), 1.0, atol=1e-5)
    # the video key padding mask: no weight on padded video frames
    video_pad = ~inputs["video_mask"][:, None, None, :]
    assert np.abs(np.where(video_pad, cross[0], 0)).max() < 1e-6
    # the audio key padding mask: no audio frame attends to padded audio frames
    audio_maps = [m for m in maps if m.shape[-2:] == (t_audio, t_audio)]
    assert len(audio_maps) == 2
    audio_pad = ~inputs["audio_mask"][:, None, None, :]
    for m in audio_maps:
        assert np.abs(np.where(audio_pad, m, 0)).max() < 1e-6


def test_padding_content_does_not_reach_valid_frames(model, data):
    inputs, _ = data
    junk = dict(inputs)
    rng = np.random.default_rng(0)
    for stream in ("audio", "video"):
        pad = ~inputs[f"{stream}_mask"]
        noise = rng.normal(size=inputs[stream].shape).astype("float32") * 5
        junk[stream] = np.where(
            pad.reshape(pad.shape + (1,) * (inputs[stream].ndim - 2)), noise, inputs[stream]
        )
    valid = inputs["audio_mask"]
    want = to_numpy(model(inputs)["logits"])[valid]
    got = to_numpy(model(junk)["logits"])[valid]
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_with_video_masked_out_the_fused_output_is_the_audio_paths(model, data):
    inputs, _ = data
    audio_only = keras_vt.create_model("av_align_tiny", head="frame", modality="audio")
    copied = 0
    for layer in audio_only.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
            copied += 1
    assert copied >= 5
    no_video = dict(inputs, video_mask=np.zeros_like(inputs["video_mask"]))
    want = to_numpy(audio_only(inputs)["logits"])
    np.testing.assert_allclose(to_numpy(model(no_video)["logits"]), want, atol=1e-5)
    # and the video does change the output when it is there
    assert np.abs(to_numpy(model(inputs)["logits"]) - want).max() > 1e-3


def test_fit_lowers_the_frame_and_au_losses(data):
    inputs, labels = data
    keras.utils.set_random_seed(0)
    model = keras_vt.create_model("av_align_tiny", head="frame", au_loss=True)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(inputs, labels, batch_size=BATCH, epochs=4, verbose=0)
    loss = history.history["loss"]
    assert np.isfinite(loss).all() and loss[-1] < loss[0], loss
    assert "frame_accuracy" in history.history


def test_concat_fusion_ctc_round_trips_through_keras_file(data):
    inputs, labels = data
    model = keras_vt.create_model("av_align_tiny", fusion="concat", head="ctc")
    maps = keras_vt.viz.attention_maps(model, inputs)
    cross = [m for m in maps if m.shape[-1] != m.shape[-2]]
    assert len(cross) == 1
    np.testing.assert_allclose(cross[0].sum(-1), 1.0, atol=1e-5)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "av.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
    assert restored.fusion == "concat" and restored.head == "ctc"
    np.testing.assert_allclose(
        to_numpy(restored(inputs)["logits"]), to_numpy(model(inputs)["logits"]), atol=1e-6
    )
    model.compile(optimizer="adam")
    result = model.evaluate(inputs, labels, batch_size=BATCH, verbose=0, return_dict=True)
    want = ctc_sequence_loss(labels["tokens"], model(inputs)["logits"], inputs["audio_mask"])
    np.testing.assert_allclose(result["loss"], float(to_numpy(want)), rtol=1e-4)
    decoded = model.decode(inputs)
    assert len(decoded) == BATCH and all(isinstance(seq, list) for seq in decoded)


def test_video_only_variant_ignores_the_audio(data):
    inputs, _ = data
    model = keras_vt.create_model("av_align_tiny", head="frame", modality="video")
    silent = dict(inputs, audio=np.zeros_like(inputs["audio"]))
    np.testing.assert_allclose(
        to_numpy(model(silent)["logits"]), to_numpy(model(inputs)["logits"]), atol=1e-6
    )


# --------------------------------------------------------------------------------------- CTC
def test_ctc_greedy_decoding_of_a_hand_made_logit_sequence():
    # frames: a a _ b b _ b c  (class 0 = blank) -> a b b c; a second, shorter sequence
    path = [1, 1, 0, 2, 2, 0, 2, 3]
    logits = np.full((2, 8, 4), -5.0, "float32")
    logits[0, np.arange(8), path] = 5.0
    logits[1, np.arange(8), [3, 3, 3, 1, 0, 0, 2, 2]] = 5.0
    assert greedy_decode(logits, [8, 4]) == [[1, 2, 2, 3], [3, 1]]
    with pytest.raises(ValueError, match="lengths"):
        greedy_decode(logits, [8])


def test_ctc_loss_matches_a_brute_force_sum_over_alignments():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1, 4, 3)).astype("float32")
    target = [1, 2]
    logp = logits[0] - np.log(np.exp(logits[0]).sum(-1, keepdims=True))
    total = 0.0
    for path in itertools.product(range(3), repeat=4):
        collapsed = [k for k, _ in itertools.groupby(path) if k != 0]
        if collapsed == target:
            total += np.exp(sum(logp[t, c] for t, c in enumerate(path)))
    got = float(to_numpy(ctc_sequence_loss(np.array([target]), logits, np.ones((1, 4), bool))))
    np.testing.assert_allclose(got, -np.log(total), rtol=1e-4)


# --------------------------------------------------------------------------------- bad input
def test_bad_inputs_raise_value_errors_naming_them(model, data):
    inputs, labels = data
    model.compile(optimizer="adam")
    cases = [
        (dict(inputs, video=inputs["video"][:-1]), labels, "same batch size"),
        (
            dict(inputs, video=inputs["video"][:, :, :12, :12]),
            labels,
            r"frames of shape \(16, 16, 1\)",
        ),
        (dict(inputs, audio_mask=inputs["audio_mask"][:, :-2]), labels, "audio_mask'] of length"),
        (dict(inputs, video_mask=inputs["video_mask"][:, 1:]), labels, "video_mask'] of length"),
        (dict(inputs, audio=inputs["audio"][..., :8]), labels, "32 features"),
        ({"audio": inputs["audio"]}, labels, "dict with keys"),
        (inputs, dict(labels, frames=labels["frames"][:, :5]), r"'frames'\] of shape"),
    ]
    for x, y, message in cases:
        with pytest.raises(ValueError, match=message):
            model.fit(x, y, epochs=1, verbose=0)


def test_labels_longer_than_ctc_allows_raise(data):
    inputs, labels = data
    model = keras_vt.create_model("av_align_tiny", head="ctc")
    short = dict(inputs, audio_mask=inputs["audio_mask"].copy())
    short["audio_mask"][0, 2:] = False  # two valid frames for up to three tokens
    tokens = labels["tokens"].copy()
    tokens[0] = [1, 1, 2]  # needs 4 frames: 3 tokens + a blank between the repeated 1s
    with pytest.raises(ValueError, match=r"tokens'\]\[0\] has 3 tokens.*longer than CTC allows"):
        model.fit(short, dict(labels, tokens=tokens), epochs=1, verbose=0)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(head="attention"), r"Unknown head='attention'. Expected one of \('ctc', 'frame'\)"),
        (dict(fusion="gate"), "Unknown fusion='gate'. Expected one of"),
        (dict(modality="text"), "Unknown modality='text'. Expected one of"),
        (dict(frame_size=2), "Invalid frame_size: frame_size=2. Expected an int >= 4"),
        (dict(num_classes=1), "num_classes >= 2"),
    ],
)
def test_bad_configuration_raises(overrides, message):
    with pytest.raises(ValueError, match=message):
        keras_vt.create_model("av_align_tiny", **overrides)


# ---------------------------------------------------------------------------- noise curriculum
def test_noise_curriculum_moves_from_clean_to_minus_5_db():
    data = keras_vt.training.AudioVisualSequence(8, batch_size=4, seed=1, max_symbols=2)
    curriculum = keras_vt.training.NoiseCurriculum(data)  # clean -> 10 -> 0 -> -5 dB
    model = keras_vt.create_model("av_align_tiny", head="frame", depth=1)
    model.compile(optimizer="adam")
    history = model.fit(data, epochs=5, callbacks=[curriculum], verbose=0)
    np.testing.assert_array_equal(history.history["snr_db"], [np.nan, 10, 0, -5, -5])
    stages = [k for k, _ in itertools.groupby(data.served)]
    assert stages == [None, 10.0, 0.0, -5.0], stages
    # the batches of each stage are the same utterances with that stage's noise
    clean, _ = data.data(None)
    noisy, _ = data.data(-5.0)
    np.testing.assert_array_equal(clean["video"], noisy["video"])
    assert np.abs(clean["audio"] - noisy["audio"]).mean() > 0.1


def test_noise_curriculum_rejects_bad_schedules():
    data = keras_vt.training.AudioVisualSequence(4, batch_size=4)
    with pytest.raises(ValueError, match="schedule as SNRs"):
        keras_vt.training.NoiseCurriculum(data, schedule=(None, "10"))
    with pytest.raises(ValueError, match="epochs_per_stage"):
        keras_vt.training.NoiseCurriculum(data, epochs_per_stage=(1, 2))
    with pytest.raises(ValueError, match="snr_db attribute"):
        keras_vt.training.NoiseCurriculum(object())


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="parameter counts do not depend on the backend; counted once, on TensorFlow",
)
def test_full_size_parameter_count_is_the_sum_of_its_parts():
    model = keras_vt.create_model("av_align")
    d, ffn, classes = 256, 256, 9

    def dense(n_in, n_out):
        return n_in * n_out + n_out

    block = 4 * dense(d, d) + dense(d, ffn) + dense(ffn, d) + 2 * 2 * d  # q,k,v,o; FFN; 2 LN
    frontend = (
        sum(
            dense(9 * c_in, c) + dense(9 * c, c) for c_in, c in zip((1, 8, 16, 32), (8, 16, 32, 64))
        )
        + dense(64, 128)
        + dense(128, d)
    )
    expected = (
        dense(640, d)  # audio input projection (80 log-mel bins x 8 stacked frames)
        + frontend
        + (6 + 6 + 1) * block  # audio stack, video stack, one align block
        + 3 * 2 * d  # final LayerNorms of both stacks and before the head
        + dense(d, classes)
    )
    assert expected == 5_427_841
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == expected
