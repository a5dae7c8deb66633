"""Retrieval tab: type a caption, see MMT's top-5 clips, the caption's mixture weights and the
video transformer's attention between expert tokens.

The model is a `mmt_tiny` trained on 256 built-in clips (`keras_vt.data.make_video_captions`,
seed 0, 8 epochs), shipped as `assets/mmt_tiny_retrieval.weights.h5` (written by
`RetrievalDemo.train(...).model.save_weights`); when those weights do not load (a changed
architecture), the tab trains the same model itself at its first search (minutes on a busy CPU).
Nothing is downloaded. The gallery is 64 other clips (seed 1), whose raw frames are kept and shown
as animated GIFs. Captions are tokenised with the built-in
`keras_vt.data.VideoCaptionTokenizer` (no tensorflow-text needed): unknown words become [UNK], and a
caption longer than the context is reported, not cut.
"""

import os
import tempfile

import keras
import numpy as np

from keras_vt import checks, viz

TOP_K = 5
EMBEDDED_WEIGHTS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "assets",
    "mmt_tiny_retrieval.weights.h5",
)
GIF_SIDE = 96
FRAME_MS = 250


class RetrievalDemo:
    """A trained MMT and a gallery of clips (features, captions, raw frames) to search.

    Build one with `RetrievalDemo.train(...)`, or pass a trained model and data.

    Args:
        model: an `MMT` (e.g. `keras_vt.create_model("mmt_tiny")`, trained).
        inputs: dict of expert inputs of the gallery clips (`make_video_captions`).
        captions: their captions (shown as labels).
        frames: uint8 (clips, frames, height, width, 3) raw frames.

    Example:

    ```python
    demo = RetrievalDemo.train(num_clips=64, epochs=1)
    demo.search("a red square moves left")["clips"]  # the top-5 clip indices
    ```
    """

    def __init__(self, model, inputs, captions, frames):
        from keras_vt.data import VideoCaptionTokenizer

        self.model = model
        self.inputs = inputs
        self.captions = list(captions)
        self.frames = np.asarray(frames)
        if len(self.captions) != len(self.frames):
            raise ValueError(
                f"Expected one caption per clip, got {len(self.captions)} captions and "
                f"{len(self.frames)} clips of frames."
            )
        self.tokenizer = VideoCaptionTokenizer(model.context_length)
        self.video = np.asarray(keras.ops.convert_to_numpy(model.encode_video(inputs)))
        self.available = np.asarray(
            keras.ops.convert_to_numpy(model.video_encoder(inputs, training=False)["available"])
        )
        self.directory = tempfile.mkdtemp(prefix="keras_vt_retrieval_")
        self.history = None

    @classmethod
    def train(cls, num_clips=256, gallery=64, epochs=8, batch_size=32, seed=0):
        """Trains `mmt_tiny` on `num_clips` built-in clips; the gallery is `gallery` other clips.

        Returns:
            A `RetrievalDemo` whose `history` is the Keras training history.
        """
        from keras_vt.data import VideoCaptionTokenizer, make_video_captions
        from keras_vt.models import create_model

        num_clips = checks.check_int("num_clips", num_clips, TOP_K)
        gallery = checks.check_int("gallery", gallery, TOP_K)
        keras.utils.set_random_seed(seed)
        model = create_model("mmt_tiny")
        train_inputs, train_captions = make_video_captions(num_clips, seed=seed)
        ids = VideoCaptionTokenizer(model.context_length)(train_captions)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        history = model.fit(
            {**train_inputs, "caption_ids": ids}, epochs=epochs, batch_size=batch_size, verbose=0
        )
        inputs, captions, frames = make_video_captions(gallery, seed=seed + 1, return_frames=True)
        demo = cls(model, inputs, captions, frames)
        demo.history = history.history
        return demo

    @classmethod
    def embedded(cls, gallery=64, seed=1, weights=EMBEDDED_WEIGHTS):
        """`mmt_tiny` with the shipped weights, searching `gallery` built-in clips of `seed`.

        Raises:
            ValueError: the weights are missing or do not fit the current `mmt_tiny`.
        """
        from keras_vt.data import make_video_captions
        from keras_vt.models import create_model

        model = create_model("mmt_tiny")
        try:
            model.load_weights(weights)
        except (OSError, ValueError) as error:
            raise ValueError(
                f"The retrieval weights {weights!r} do not load into mmt_tiny ({error})."
            ) from error
        inputs, captions, frames = make_video_captions(gallery, seed=seed, return_frames=True)
        return cls(model, inputs, captions, frames)

    @property
    def experts(self):
        return list(self.model.experts)

    def search(self, caption, k=TOP_K):
        """The top-`k` clips for `caption`.

        Returns:
            dict with `clips` (indices, best first), `scores`, `weights` (the caption's mixture
            weights per expert, summing to 1), `attention` ((experts + 1, experts + 1), the video
            transformer's last-layer attention of the best clip between token groups: the video
            [CLS] and each expert's [AGG] + temporal tokens; rows sum to 1, NaN rows for missing
            experts) and `groups` (its row/column names).
        """
        if not isinstance(caption, str) or not caption.strip():
            raise checks.invalid("caption", caption, "a non-empty caption")
        ids = self.tokenizer([caption])
        embeddings, weights = self.model.encode_text(ids)
        from keras_vt.models.mmt import mixture_similarity

        keep = self.model.missing_experts == "keep"
        scores = mixture_similarity(
            embeddings, weights, self.video, None if keep else self.available
        )
        scores = np.asarray(keras.ops.convert_to_numpy(scores))[0]
        order = np.argsort(-scores, kind="stable")[:k]
        return {
            "clips": order,
            "scores": scores[order],
            "weights": np.asarray(keras.ops.convert_to_numpy(weights))[0],
            "attention": self.expert_attention(int(order[0])),
            "groups": ["[CLS]"] + self.experts,
        }

    def expert_attention(self, clip):
        """(experts + 1, experts + 1) last-layer attention of `clip` between token groups."""
        single = {key: value[clip : clip + 1] for key, value in self.inputs.items()}
        maps = viz.attention_maps(self.model, single)
        probs = np.asarray(maps[-1])[0].mean(axis=0)  # (tokens, tokens), head mean
        experts = self.experts
        group = [0] + [1 + i for i in range(len(experts))]  # [CLS], then each expert's [AGG]
        valid = [True] + [bool(single[f"{e}_mask"][0].any()) for e in experts]
        for i, expert in enumerate(experts):
            mask = single[f"{expert}_mask"][0]
            group += [1 + i] * len(mask)
            valid += [bool(m) for m in mask]
        group, valid = np.array(group), np.array(valid)
        if len(group) != probs.shape[0]:
            raise ValueError(
                f"The video transformer has {probs.shape[0]} tokens, expected {len(group)}."
            )
        size = len(experts) + 1
        out = np.full((size, size), np.nan)
        for g in range(size):
            rows = (group == g) & valid
            if rows.any():
                per_key = probs[rows]
                out[g] = [per_key[:, group == h].sum(axis=1).mean() for h in range(size)]
        return out

    def gif(self, clip):
        """Path of an animated GIF of `clip`'s raw frames (upscaled, nearest neighbour)."""
        from PIL import Image

        path = os.path.join(self.directory, f"clip{clip}.gif")
        if not os.path.exists(path):
            images = [
                Image.fromarray(frame).resize((GIF_SIDE, GIF_SIDE), Image.NEAREST)
                for frame in self.frames[clip]
            ]
            images[0].save(path, save_all=True, append_images=images[1:], duration=FRAME_MS, loop=0)
        return path


def _figure_path(directory, name, draw):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.2, 3.2), dpi=100)
    draw(figure, axis)
    figure.tight_layout()
    path = os.path.join(directory, name)
    figure.savefig(path)
    plt.close(figure)
    return path


def weights_chart(demo, weights, name="weights.png"):
    """PNG path: a bar chart of the caption's mixture weights per expert."""

    def draw(figure, axis):
        axis.bar(demo.experts, weights, color="#4c78a8")
        axis.set_ylim(0, 1)
        axis.set_ylabel("mixture weight")
        axis.set_title("caption's weight per expert")

    return _figure_path(demo.directory, name, draw)


def attention_chart(demo, attention, groups, name="attention.png"):
    """PNG path: the expert-to-expert attention matrix as a heat map."""

    def draw(figure, axis):
        image = axis.imshow(np.nan_to_num(attention), vmin=0, vmax=1, cmap="viridis")
        axis.set_xticks(range(len(groups)), groups, rotation=45, ha="right")
        axis.set_yticks(range(len(groups)), groups)
        axis.set_xlabel("attended tokens (keys)")
        axis.set_ylabel("attending tokens")
        axis.set_title("last video layer, heads averaged")
        figure.colorbar(image, ax=axis)

    return _figure_path(demo.directory, name, draw)


def retrieve(demo, caption):
    """(gallery [(GIF path, label)], weights PNG, attention PNG, status markdown)."""
    try:
        found = demo.search(caption)
    except ValueError as error:
        return [], None, None, f"**Cannot search:** {error}"
    clips, scores = found["clips"], found["scores"]
    gallery = [
        (demo.gif(int(c)), f"#{r + 1} ({s:.3f}): {demo.captions[int(c)]}")
        for r, (c, s) in enumerate(zip(clips, scores))
    ]
    stem = f"{abs(hash(caption)) % 10**8}"
    weights = weights_chart(demo, found["weights"], f"weights_{stem}.png")
    missing = np.isnan(found["attention"]).all(axis=1)
    groups = [g + (" (missing)" if m else "") for g, m in zip(found["groups"], missing)]
    attention = attention_chart(demo, found["attention"], groups, f"attention_{stem}.png")
    top = ", ".join(f"{e} {w:.2f}" for e, w in zip(demo.experts, found["weights"]))
    status = (
        f"**Top {len(clips)} of {len(demo.captions)} clips** for '{caption}'. "
        f"Mixture weights: {top}. Best clip: '{demo.captions[int(clips[0])]}'."
    )
    return gallery, weights, attention, status


def default_demo():
    """The shipped model (`RetrievalDemo.embedded`), or one trained now if it does not load."""
    try:
        return RetrievalDemo.embedded()
    except ValueError as error:
        import warnings

        warnings.warn(f"{error} Training mmt_tiny instead.", stacklevel=2)
        return RetrievalDemo.train()


EXAMPLE = "a red square moves left slowly beeping once"


def retrieval_tab(bank=None, demo=None):
    """Builds the Retrieval tab inside the current Gradio context.

    `bank` (the image models of the other tabs) is unused: the tab has its own MMT, loaded at
    the first search (`default_demo()`) unless `demo` is given, so building the explorer stays
    fast.
    """
    import gradio as gr

    state = {"demo": demo}

    def search_caption(text):
        if state["demo"] is None:
            state["demo"] = default_demo()
        return retrieve(state["demo"], text)

    example = EXAMPLE
    gr.Markdown(
        "MMT (Gabeur et al., 2020) on the built-in video-caption set: a `mmt_tiny` trained on "
        "256 built-in clips searches 64 held-out clips. Type a caption with the built-in words "
        "(colours, shapes, directions, speeds, beeps, numbers on screen)."
    )
    with gr.Row():
        caption = gr.Textbox(value=example, label="Caption", elem_id="retrieval-caption")
        search = gr.Button("Search", variant="primary", elem_id="retrieval-button")
    status = gr.Markdown(elem_id="retrieval-status")
    clips = gr.Gallery(label="Top 5 clips", columns=5, height=260, elem_id="retrieval-clips")
    with gr.Row():
        weights = gr.Image(label="Mixture weights", type="filepath", elem_id="retrieval-weights")
        attention = gr.Image(
            label="Attention between expert tokens", type="filepath", elem_id="retrieval-attention"
        )
    search.click(
        search_caption,
        [caption],
        [clips, weights, attention, status],
        api_name="retrieve",
    )


def build_retrieval_app(demo=None):
    """The Retrieval tab alone, as Gradio Blocks (`demo`: a `RetrievalDemo`, by default the
    shipped model loaded at the first search).

    Example:

    ```python
    keras_vt.apps.retrieval.build_retrieval_app().launch()
    ```
    """
    import gradio as gr

    with gr.Blocks(title="keras_vt video retrieval (MMT)") as app:
        gr.Markdown("## Video retrieval (MMT)")
        retrieval_tab(demo=demo)
    return app
