"""AV Align tab: a built-in audio-visual utterance (or a user's pair of .npy arrays) at a chosen
noise level; the audio-to-video alignment map (true alignment dashed), the mouth frames as an
animated GIF and the CTC-decoded symbols.

The model is `av_align_tiny` (CTC head), answering in about a second on a CPU, trained by
`examples/train_explorer_av_align.py` (`assets/av_align_shapes.{json,weights.h5}`; the manifest
records its held-out symbol error rates). Without those files the tab runs it with random
weights and says so: random maps show the architecture and the padding masks, not an alignment
that was learned.
"""

import json
import os
import tempfile

import numpy as np

from keras_vt import checks, viz
from keras_vt.apps.common import ASSETS

MODEL = "av_align_tiny"
MANIFEST = os.path.join(ASSETS, "av_align_shapes.json")
NUM_EXAMPLES = 16
EXAMPLE_SEED = 2000
SNR_RANGE = (-10, 30)
USER_NOISE_SEED = 0
GIF_SIDE = 96


def load_array(path, argument):
    """A float32 array from a user's `.npy` file (no pickles); ValueError with a message."""
    if path is None:
        raise ValueError(f"No {argument} array: upload a .npy file.")
    name = os.path.basename(os.fspath(path))
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{argument}={name!r} is not a .npy array file ({error}).") from error
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{argument}={name!r} holds {array.dtype} values: expected numbers.")
    if not np.isfinite(array).all():
        raise ValueError(f"{argument}={name!r} holds NaN or infinite values: expected finite.")
    return array.astype("float32")


def add_noise(audio, snr_db, seed=USER_NOISE_SEED):
    """`audio` (frames, bins) plus white Gaussian noise at `snr_db` dB (None: unchanged)."""
    if snr_db is None:
        return audio
    power = float(np.mean(audio**2)) or 1.0
    noise = np.random.default_rng(seed).normal(size=audio.shape).astype("float32")
    return audio + np.sqrt(power / 10.0 ** (snr_db / 10.0)) * noise


class AVDemo:
    """`av_align_tiny` (CTC head) and the built-in utterances it is shown on.

    Args:
        model: an `AVAlign` with a CTC head (taken as trained); by default `av_align_tiny` as
            the manifest describes it, with its weights when they are shipped, else random
            weights (`trained` is False).
        manifest: path of the JSON manifest written by `examples/train_explorer_av_align.py`.

    Example:

    ```python
    demo = AVDemo()
    result = demo.run(*demo.example(0, snr_db=0))
    result["decoded"], result["alignment"].shape
    ```
    """

    def __init__(self, model=None, manifest=MANIFEST):
        from keras_vt.models import create_model

        self.manifest = None
        self.trained = model is not None
        if model is None:
            config = {}
            if manifest and os.path.exists(manifest):
                with open(manifest) as file:
                    self.manifest = json.load(file)
                config = self.manifest["config"]
            model = create_model(MODEL, **config)
            if self.manifest is not None:
                weights = os.path.join(os.path.dirname(manifest), self.manifest["weights"])
                if os.path.exists(weights):
                    model.load_weights(weights)
                    self.trained = True
        if model.head != "ctc":
            raise checks.invalid("head", model.head, "an AV Align model with head='ctc'")
        self.model = model
        self.directory = tempfile.mkdtemp(prefix="keras_vt_av_align_")

    @property
    def note(self):
        """What the weights are, for the status line."""
        if not self.trained:
            return (
                "random (untrained) weights: the map shows the architecture and the masks, not "
                "a learned alignment, and the symbols are arbitrary"
            )
        if self.manifest is None:
            return ""
        training = self.manifest["training"]
        rates = ", ".join(
            f"{_snr_label(r['snr_db'])} {100 * r['symbol_error_rate']:.0f} %"
            for r in self.manifest["held_out"]["scores"]
        )
        return (
            f"trained {training['cpu_seconds']:.0f} CPU-seconds (AU loss, noise curriculum); "
            f"held-out symbol error rate {rates}"
        )

    def example(self, index, snr_db=None):
        """(inputs, labels) of built-in utterance `index` (batch of 1) at `snr_db` dB."""
        from keras_vt.data import make_audio_visual

        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise checks.invalid("index", index, "an int")
        if not 0 <= index < NUM_EXAMPLES:
            raise checks.invalid("index", index, f"index in [0, {NUM_EXAMPLES - 1}]")
        inputs, labels = make_audio_visual(
            NUM_EXAMPLES,
            seed=EXAMPLE_SEED,
            snr_db=snr_db,
            audio_bins=self.model.audio_features,
            frame_size=self.model.frame_size,
        )
        pick = slice(int(index), int(index) + 1)
        return {k: v[pick] for k, v in inputs.items()}, {k: v[pick] for k, v in labels.items()}

    def user_pair(self, audio_path, video_path, snr_db=None):
        """(inputs, None) from a user's audio (frames, bins) and video (frames, side, side[, 1])
        `.npy` arrays, every frame valid; white noise at `snr_db` dB is added to the audio."""
        audio = load_array(audio_path, "audio")
        video = load_array(video_path, "video")
        bins, side = self.model.audio_features, self.model.frame_size
        if audio.ndim != 2 or audio.shape[1] != bins or audio.shape[0] < 1:
            raise ValueError(
                f"audio has shape {audio.shape}: expected (frames, {bins}) spectrogram frames."
            )
        if video.ndim == 3:
            video = video[..., None]
        if video.ndim != 4 or video.shape[1:] != (side, side, 1) or video.shape[0] < 1:
            raise ValueError(
                f"video has shape {video.shape}: expected (frames, {side}, {side}) or "
                f"(frames, {side}, {side}, 1) grey mouth frames."
            )
        inputs = {
            "audio": add_noise(audio, snr_db)[None],
            "audio_mask": np.ones((1, audio.shape[0]), bool),
            "video": video[None],
            "video_mask": np.ones((1, video.shape[0]), bool),
        }
        self.model.check_inputs(inputs, "inputs")
        return inputs, None

    def run(self, inputs, labels=None):
        """The model on one example: dict with `logits` (audio frames, classes), `decoded`
        (CTC greedy symbols), `alignment` (valid audio frames, valid video frames; the
        align step's attention, heads averaged, rows summing to 1), `true` (the true alignment,
        or None) and `tokens` (the true symbols, or None)."""
        from keras_vt.models.av_align import greedy_decode

        outputs, maps = viz.attention_maps(self.model, inputs, return_outputs=True)
        # A dict, one array, or (with the AU head) a list of outputs: the logits are the
        # (batch, audio frames, classes) one.
        found = list(outputs.values()) if isinstance(outputs, dict) else outputs
        found = found if isinstance(found, (list, tuple)) else [found]
        expected = (inputs["audio"].shape[1], self.model.num_classes)
        logits = next(np.asarray(o) for o in found if tuple(np.shape(o))[1:] == expected)
        n_audio = int(inputs["audio_mask"][0].sum())
        n_video = int(inputs["video_mask"][0].sum())
        cross = [
            m for m in maps if m.shape[2:] == (inputs["audio"].shape[1], inputs["video"].shape[1])
        ]
        alignment = cross[-1][0].mean(axis=0)[:n_audio, :n_video]
        decoded = greedy_decode(np.asarray(logits), np.array([n_audio]))[0]
        tokens = true = None
        if labels is not None:
            tokens = [int(t) for t in labels["tokens"][0] if t > 0]
            true = labels["alignment"][0][:n_audio]
        return {
            "logits": np.asarray(logits)[0][:n_audio],
            "decoded": [int(s) for s in decoded],
            "alignment": alignment,
            "true": true,
            "tokens": tokens,
        }

    def figure(self, inputs, result, name):
        """PNG path: the (noisy) audio frames above the alignment map."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n_audio = result["alignment"].shape[0]
        figure, (top, bottom) = plt.subplots(
            2, 1, figsize=(5.5, 6.5), gridspec_kw={"height_ratios": [1, 2]}
        )
        top.imshow(inputs["audio"][0][:n_audio].T, aspect="auto", origin="lower", cmap="magma")
        top.set_title("audio frames (30 ms) as heard, noise included", fontsize=10)
        top.set_ylabel("bin")
        title = "align step: audio -> video attention" + ("" if self.trained else " (untrained)")
        viz.plot_alignment(result["alignment"], result["true"], title=title, axis=bottom)
        figure.tight_layout()
        path = os.path.join(self.directory, name)
        figure.savefig(path, dpi=90)
        plt.close(figure)
        return path

    def gif(self, inputs, name):
        """Path of an animated GIF of the valid mouth frames (40 ms each)."""
        from PIL import Image

        frames = inputs["video"][0][: int(inputs["video_mask"][0].sum()), ..., 0]
        frames = np.clip(frames, 0.0, 1.0) * 255
        images = [
            Image.fromarray(f.astype("uint8")).resize((GIF_SIDE, GIF_SIDE), Image.NEAREST)
            for f in frames
        ]
        path = os.path.join(self.directory, name)
        images[0].save(path, save_all=True, append_images=images[1:], duration=40, loop=0)
        return path


def _snr_label(snr_db):
    return "clean audio" if snr_db is None else f"SNR {snr_db:g} dB"


def _snr(clean, snr_db):
    if clean:
        return None
    try:
        value = float(snr_db)
    except (TypeError, ValueError):
        raise checks.invalid("snr_db", snr_db, "a number of decibels") from None
    if not SNR_RANGE[0] <= value <= SNR_RANGE[1]:
        raise checks.invalid("snr_db", value, f"snr_db in {list(SNR_RANGE)} dB")
    return value


def align(demo, example, snr_db, clean, audio_file=None, video_file=None):
    """(figure PNG, mouth GIF, predictions markdown, status markdown) for one request; problems
    come back in the status line, not as exceptions."""
    try:
        snr = _snr(clean, snr_db)
        if audio_file or video_file:
            inputs, labels = demo.user_pair(audio_file, video_file, snr)
            source = "your arrays"
        else:
            inputs, labels = demo.example(int(example), snr)
            source = f"built-in utterance {int(example)}"
        result = demo.run(inputs, labels)
    except ValueError as error:
        return None, None, "", f"**Cannot align:** {error}"
    stem = f"{abs(hash((source, snr))) % 10**8}"
    figure = demo.figure(inputs, result, f"align_{stem}.png")
    gif = demo.gif(inputs, f"mouth_{stem}.gif")
    decoded = " ".join(map(str, result["decoded"])) or "(nothing: only blanks)"
    lines = [f"**Predicted symbols (CTC greedy):** {decoded}"]
    if result["tokens"] is not None:
        truth = " ".join(map(str, result["tokens"]))
        lines.append(f"**True symbols:** {truth}")
    predictions = "\n\n".join(lines)
    noise = _snr_label(snr)
    n_audio, n_video = result["alignment"].shape
    status = (
        f"**{MODEL}** on {source}, {noise}: {n_audio} audio frames attend over {n_video} "
        "video frames."
    )
    if demo.note:
        status += f" Note: {demo.note}."
    return figure, gif, predictions, status


def av_align_tab(bank=None, demo=None):
    """Builds the AV Align tab inside the current Gradio context (`bank` is unused: the tab
    has its own model, built at the first request unless `demo` is given)."""
    import gradio as gr

    state = {"demo": demo}

    def on_align(*args):
        if state["demo"] is None:
            state["demo"] = AVDemo()
        return align(state["demo"], *args)

    gr.Markdown(
        "AV Align (Sterpu et al., 2020) on the built-in audio-visual task: every audio frame "
        "(30 ms) attends over the mouth frames (40 ms, shown with a random lag). Symbols 1/2 "
        "and 3/4 differ only in sound, 5/6 and 7/8 only on the lips. Or upload a pair of .npy "
        "arrays: audio (frames, 32) and video (frames, 16, 16)."
    )
    with gr.Row():
        with gr.Column(scale=1):
            example = gr.Slider(0, NUM_EXAMPLES - 1, value=0, step=1, label="Built-in utterance")
            snr = gr.Slider(*SNR_RANGE, value=10, step=1, label="Audio SNR (dB)")
            clean = gr.Checkbox(value=False, label="Clean audio (no noise)")
            audio_file = gr.File(label="...or your audio .npy (frames, 32)", type="filepath")
            video_file = gr.File(label="...and video .npy (frames, 16, 16)", type="filepath")
            run = gr.Button("Align", variant="primary", elem_id="av-button")
        with gr.Column(scale=2):
            status = gr.Markdown(elem_id="av-status")
            predictions = gr.Markdown(elem_id="av-predictions")
            with gr.Row():
                figure = gr.Image(label="Alignment", type="filepath", elem_id="av-alignment")
                mouth = gr.Image(label="Mouth frames", type="filepath", elem_id="av-mouth")
    run.click(
        on_align,
        [example, snr, clean, audio_file, video_file],
        [figure, mouth, predictions, status],
        api_name="av_align",
    )
