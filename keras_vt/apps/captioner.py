"""Captioner tab (Show, Attend and Tell: an image in; its caption and each word's attention over
the image out) and the "Attention in CNNs" tab (an attention ResNet's maps, layer by layer).

The captioner is the small `show_attend_tell` trained on the built-in captioned shapes by
`examples/train_explorer_captioner.py` (`assets/captioner_shapes.{json,weights.h5}`; the
manifest records its held-out BLEU and exact match). Without those files the tab runs the same
configuration with random weights and says so. The attention ResNets are tiny, random-weight
configurations of the registered models: their maps show how each layer attends (which keys
a position can see, how the maps are shaped), not anything learned.
"""

import json
import os

import numpy as np

from keras_vt import checks, viz
from keras_vt.apps.common import (
    ASSETS,
    ImageError,
    center_square,
    model_input,
    read_image,
    read_upload_or_sample,
    resize,
    sample_paths,
)

CAPTIONER_MANIFEST = os.path.join(ASSETS, "captioner_shapes.json")
# The configuration of examples/train_captioner.py, used when no manifest is shipped.
CAPTIONER_CONFIG = {
    "image_size": 32,
    "context_length": 10,
    "encoder": "resnet18",
    "encoder_config": {"depths": [1, 1, 1], "widths": [16, 32, 64], "stem": "small"},
    "embed_dim": 32,
    "hidden_dim": 96,
    "attention_dim": 48,
    "attention": "soft",
}
NUM_SAMPLES = 8
SAMPLE_SEED = 2000  # the held-out seed of the training script
DISPLAY_SIDE = 192
CNN_MODELS = ("aa_resnet26", "nonlocal_resnet50", "a2_resnet50", "sasa_resnet26", "axial_resnet26s")


def read_manifest(manifest=CAPTIONER_MANIFEST):
    """(manifest dict or None, the captioner's configuration) of a shipped captioner."""
    if manifest and os.path.exists(manifest):
        with open(manifest) as file:
            found = json.load(file)
        return found, dict(found["config"])
    return None, dict(CAPTIONER_CONFIG)


def held_out_samples(image_size):
    """[(label "i: caption", uint8 image)] of the held-out captioned shapes the tab offers."""
    from keras_vt.data import make_captioned_shapes

    data = make_captioned_shapes(NUM_SAMPLES, image_size=image_size, seed=SAMPLE_SEED)
    return [(f"{i}: {c}", im) for i, (c, im) in enumerate(zip(data["captions"], data["images"]))]


def _is_square(n):
    return int(round(np.sqrt(n))) ** 2 == n


def _side(n):
    return int(round(np.sqrt(n)))


class CaptionerDemo:
    """The explorer's captioner and the held-out images it offers.

    Args:
        manifest: path of the JSON manifest (model configuration, weights file, scores); when
            it or its weights are missing, `CAPTIONER_CONFIG` with random weights.

    Example:

    ```python
    demo = CaptionerDemo()
    words, maps = demo.caption(demo.samples[0][1])  # maps: (words, grid, grid)
    ```
    """

    def __init__(self, manifest=CAPTIONER_MANIFEST):
        from keras_vt.models import create_model

        self.manifest, config = read_manifest(manifest)
        self.model = create_model("show_attend_tell", **config)
        self.trained = False
        if self.manifest is not None:
            weights = os.path.join(os.path.dirname(manifest), self.manifest["weights"])
            if os.path.exists(weights):
                self.model.load_weights(weights)
                self.trained = True
        self.samples = held_out_samples(self.model.image_size)

    @property
    def note(self):
        if not self.trained:
            return "random (untrained) weights: the caption and maps are arbitrary"
        held = self.manifest["held_out"]
        bleu = held["bleu_1_4"]
        return (
            f"trained {self.manifest['training']['cpu_seconds']:.0f} CPU-seconds on "
            f"{self.manifest['training']['train_images']} built-in captioned shapes; on "
            f"{held['images']} held-out images BLEU-1 {100 * bleu[0]:.1f}, BLEU-4 "
            f"{100 * bleu[3]:.1f}, exact match {100 * held['exact_match']:.1f} %"
        )

    def caption(self, image):
        """(words, (words, grid_h, grid_w) attention maps) of an RGB uint8 image (any size:
        centre-cropped and resized to the model's input)."""
        size = self.model.image_size
        square = resize(center_square(image), (size, size), "bilinear")
        batch = square[None].astype("float32") / 127.5 - 1.0
        (ids, features), maps = viz.attention_maps(self.model, batch, return_outputs=True)
        grid = np.asarray(features).shape[1:3]
        alphas = maps[-1][0, 0]  # (words, locations)
        words = self.model.detokenize(ids)[0].split()
        count = len(words) + 1 if len(words) < alphas.shape[0] else len(words)  # + <end>
        words = (words + ["<end>"])[:count]
        return words, alphas[:count].reshape(count, *grid)


def caption_image(demo, upload, sample):
    """(gallery of (overlay, word), caption markdown, status markdown); problems come back in
    the status line."""
    try:
        if upload:
            image, reference = read_image(upload), None
        else:
            found = dict(demo.samples)
            if sample not in found:
                raise ImageError(f"Unknown sample {sample!r}: pick one of the list or upload.")
            image, reference = found[sample], sample.split(": ", 1)[1]
        words, maps = demo.caption(image)
    except ValueError as error:
        return [], "", f"**Cannot caption:** {error}"
    display = resize(center_square(image), (DISPLAY_SIDE, DISPLAY_SIDE), "bicubic")
    gallery = [(viz.overlay(display, m, alpha=0.6), w) for w, m in zip(words, maps)]
    text = f"**Caption:** {' '.join(w for w in words if w != '<end>')}"
    if reference is not None:
        text += f"\n\n**Reference:** {reference}"
    grid = maps.shape[1:]
    status = (
        f"**show_attend_tell** ({demo.model.attention} attention): {len(words)} words, each "
        f"attending over a {grid[0]}x{grid[1]} feature grid. Note: {demo.note}."
    )
    return gallery, text, status


def render_map(probs, display):
    """(uint8 picture, description) of one CNN attention map (heads, queries, keys).

    Keys that are positions of a grid (global or pooled self-attention, A^2's gather) are laid
    over the image; local windows, axial passes and A^2's descriptors are drawn on their own,
    for the centre position.
    """
    import matplotlib

    heads, queries, keys = probs.shape
    mean = probs.mean(axis=0)
    centre = (_side(queries) // 2) * _side(queries) + _side(queries) // 2
    if _is_square(queries) and (keys == queries or queries == 4 * keys):
        picture = viz.overlay(display, mean[centre].reshape(_side(keys), _side(keys)), alpha=0.6)
        what = "the centre position's attention over the grid"
    elif queries < keys and _is_square(keys):
        picture = viz.overlay(display, mean.mean(axis=0).reshape(_side(keys), _side(keys)), 0.6)
        what = f"mean over {queries} gathering descriptors, over the grid"
    else:
        row = mean[centre if _is_square(queries) else 0]
        heat = row.reshape(_side(keys), _side(keys)) if _is_square(keys) else row[None]
        shape = (DISPLAY_SIDE if heat.shape[0] > 1 else DISPLAY_SIDE // 4, DISPLAY_SIDE)
        heat = viz.upsample(heat / max(heat.max(), 1e-12), shape)
        colours = matplotlib.colormaps["viridis"](np.clip(heat, 0, 1))[..., :3]
        picture = np.round(colours * 255).astype("uint8")
        what = "the centre position's weights over its keys (window, row/column or descriptors)"
    return picture, f"{heads} head(s), {queries} queries x {keys} keys: {what}"


class CNNAttentionDemo:
    """Tiny random-weight attention ResNets from the registry, built at first use."""

    def __init__(self, names=CNN_MODELS):
        self.names = list(names)
        self.models = {}

    def get(self, name):
        from keras_vt.models import create_model

        if name not in self.names:
            raise checks.unknown("model", name, self.names)
        if name not in self.models:
            self.models[name] = create_model(name, tiny=True)
        return self.models[name]


def cnn_maps(demo, name, upload, sample):
    """(gallery of (map picture, label), status markdown) for one request."""
    try:
        image = read_upload_or_sample(upload, sample)
        model = demo.get(name)
        square, batch = model_input(image, model)
        maps = viz.attention_maps(model, batch)
    except ValueError as error:
        return [], f"**Cannot show maps:** {error}"
    display = resize(square, (DISPLAY_SIDE, DISPLAY_SIDE), "bicubic")
    gallery = []
    for index, probs in enumerate(maps):
        picture, what = render_map(probs[0], display)
        gallery.append((picture, f"map {index + 1}/{len(maps)}: {what}"))
    status = (
        f"**{name}** (tiny configuration, {model.count_params():,} parameters, input "
        f"{batch.shape[1]}x{batch.shape[2]} px): {len(maps)} attention maps, in depth order. "
        "Note: random (untrained) weights: the maps show each layer's reach and shape, not "
        "what a trained network looks at."
    )
    return gallery, status


def captioner_tab(bank=None, demo=None):
    """Builds the Captioner tab inside the current Gradio context (`bank` is unused; the
    captioner is loaded at the first request unless `demo` is given)."""
    import gradio as gr

    state = {"demo": demo}

    def on_caption(upload, sample):
        if state["demo"] is None:
            state["demo"] = CaptionerDemo()
        return caption_image(state["demo"], upload, sample)

    gr.Markdown(
        "Show, Attend and Tell (Xu et al., 2015) on the built-in captioned shapes: pick a "
        "held-out image or upload one; see the greedy caption and where each word looked."
    )
    size = read_manifest()[1]["image_size"] if demo is None else demo.model.image_size
    choices = [label for label, _ in held_out_samples(size)]
    with gr.Row():
        with gr.Column(scale=1):
            upload = gr.File(label="Upload an image (PNG, JPEG, ...)", type="filepath")
            sample = gr.Dropdown(choices, value=choices[0], label="...or a held-out image")
            run = gr.Button("Caption", variant="primary", elem_id="caption-button")
        with gr.Column(scale=2):
            status = gr.Markdown(elem_id="caption-status")
            text = gr.Markdown(elem_id="caption-text")
            words = gr.Gallery(
                label="Attention per word", columns=5, height=300, elem_id="caption-words"
            )
    run.click(on_caption, [upload, sample], [words, text, status], api_name="caption")


def cnn_attention_tab(bank=None, demo=None):
    """Builds the "Attention in CNNs" tab inside the current Gradio context."""
    import gradio as gr

    demo = demo or CNNAttentionDemo()
    samples = sample_paths()
    gr.Markdown(
        "Attention inside convolutional networks: non-local blocks, double attention (A^2), "
        "attention-augmented convolution, local self-attention (SASA) and axial attention, in "
        "tiny random-weight ResNets from the registry; every attention layer's map."
    )
    with gr.Row():
        with gr.Column(scale=1):
            name = gr.Dropdown(demo.names, value=demo.names[0], label="Attention ResNet")
            upload = gr.File(label="Upload an image (PNG, JPEG, ...)", type="filepath")
            sample = gr.Dropdown(
                list(samples), value=next(iter(samples), None), label="...or a built-in sample"
            )
            run = gr.Button("Show maps", variant="primary", elem_id="cnn-button")
        with gr.Column(scale=2):
            status = gr.Markdown(elem_id="cnn-status")
            gallery = gr.Gallery(label="Maps per layer", columns=4, height=360, elem_id="cnn-maps")

    def on_maps(*args):
        return cnn_maps(demo, *args)

    run.click(on_maps, [name, upload, sample], [gallery, status], api_name="cnn_attention")
