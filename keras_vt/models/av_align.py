"""AV Align: audio-visual speech recognition where the audio encoder attends over the lips
[Sterpu, Saam & Harte, ICMI 2018; TASLP 2020; Interspeech 2020 (Taris)].

A video front-end (a small per-frame CNN) and a video encoder turn mouth frames into a sequence;
an audio encoder turns spectrogram frames into another, at a different rate. The AV Align step is
one cross-attention block whose queries are the audio frames and whose keys/values are the video
frames: every acoustic frame learns a soft alignment to the lip frames and fuses their context,
as a residual add (the Transformer version, default) or as `W[h; c]` (the LSTM paper). A head
reads the fused audio-rate sequence: per-frame classification or CTC (greedy decoding). An
optional action-unit head (sigmoid on the video encoder, masked MSE, weight 10) forces the visual
encoder to learn, the remedy the TASLP paper found for the model's tendency to ignore the video.

Size table (the Transformer configuration of the official TF2 code, georgesterpu/Taris):

| name          | hidden | layers per stack | heads | FFN | align layers | LN eps | video front-end |
|---------------|--------|------------------|-------|-----|--------------|--------|-----------------|
| av_align      | 256    | 6                | 1     | 256 | 1            | 1e-6   | 8/16/32/64 -> 128 |
| av_align_tiny | 32     | 2                | 1     | 64  | 1            | 1e-6   | 8/16 -> 32        |

Inputs are a dict: `"audio"` (batch, audio frames, audio_features), `"audio_mask"` (batch, audio
frames) bool, `"video"` (batch, video frames, frame_size, frame_size, channels), `"video_mask"`
(batch, video frames) bool; see `keras_vt.data.make_audio_visual`.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_vt import checks, layers
from keras_vt.layers.base import Layer
from keras_vt.layers.padding import zero_pad
from keras_vt.losses import (
    ctc_sequence_loss,
    masked_mean_squared_error,
    masked_sparse_categorical_crossentropy,
)
from keras_vt.models.base import FunctionalModel
from keras_vt.models.common import array_shape, output_dtype
from keras_vt.models.registry import register

HEADS = ("ctc", "frame")
FUSIONS = ("add", "concat")
MODALITIES = ("av", "audio", "video")
INPUT_KEYS = ("audio", "audio_mask", "video", "video_mask")


@keras.saving.register_keras_serializable(package="keras_vt")
class SinusoidalPositions(Layer):
    """Adds the fixed 1-D sin-cos timing signal of "Attention is all you need" to (batch, t, d).

    Works for any sequence length (no table to resample).

    Example:

    >>> layer = keras_vt.models.av_align.SinusoidalPositions()
    >>> tuple(layer(np.zeros((2, 7, 16))).shape)
    (2, 7, 16)
    """

    config_keys = ("temperature",)

    def __init__(self, temperature=10000.0, **kwargs):
        super().__init__(**kwargs)
        self.temperature = float(temperature)

    def call(self, x):
        dim = x.shape[-1]
        half = dim // 2
        positions = ops.cast(ops.arange(ops.shape(x)[1]), "float32")[:, None]
        omega = ops.exp(
            -math.log(self.temperature) * ops.cast(ops.arange(half), "float32") / max(half, 1)
        )
        angles = positions * omega[None]
        table = ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)
        if dim % 2:
            table = zero_pad(table, ((0, 0), (0, 1)))
        return x + ops.cast(table[None], x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="keras_vt")
class MergeFrames(Layer):
    """(batch, time, h, w, c) -> (batch * time, h, w, c), so a 2-D CNN runs on every frame.

    Example:

    >>> tuple(keras_vt.models.av_align.MergeFrames()(np.zeros((2, 3, 8, 8, 1))).shape)
    (6, 8, 8, 1)
    """

    def call(self, x):
        return ops.reshape(x, (-1,) + tuple(x.shape[2:]))

    def compute_output_shape(self, input_shape):
        return (None,) + tuple(input_shape[2:])


@keras.saving.register_keras_serializable(package="keras_vt")
class SplitFrames(Layer):
    """Called on `[features (batch * time, d), reference (batch, time, ...)]` -> (batch, time, d).

    Example:

    >>> tuple(keras_vt.models.av_align.SplitFrames()([np.zeros((6, 4)), np.zeros((2, 3, 8))]).shape)
    (2, 3, 4)
    """

    def call(self, inputs):
        features, reference = inputs
        shape = ops.shape(reference)
        return ops.reshape(features, (shape[0], shape[1], features.shape[-1]))

    def compute_output_shape(self, input_shape):
        features, reference = input_shape
        return (reference[0], reference[1], features[-1])


@keras.saving.register_keras_serializable(package="keras_vt")
class ZeroFeatures(Layer):
    """Zeros of the input's shape: the video-only variant keeps the audio stream's timing only.

    Example:

    >>> float(keras.ops.sum(keras_vt.models.av_align.ZeroFeatures()(np.ones((1, 3, 2)))))
    0.0
    """

    def call(self, x):
        return ops.zeros_like(x)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="keras_vt")
class VideoGate(Layer):
    """Called on `[fused, audio, video_mask]`: `fused` where the example has any unmasked video
    frame, `audio` where its video is masked out entirely (the audio path, unchanged).

    Example:

    >>> gate = keras_vt.models.av_align.VideoGate()
    >>> out = gate([np.ones((2, 3, 4)), np.zeros((2, 3, 4)), np.array([[1, 0], [0, 0]], bool)])
    >>> keras.ops.convert_to_numpy(out)[:, 0, 0].tolist()
    [1.0, 0.0]
    """

    def call(self, inputs):
        fused, audio, video_mask = inputs
        present = ops.any(ops.cast(video_mask, "bool"), axis=1)[:, None, None]
        return ops.where(present, fused, audio)

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package="keras_vt")
class AlignmentAttention(layers.MultiHeadCrossAttention):
    """`MultiHeadCrossAttention` whose probabilities `keras_vt.viz.attention_maps` collects: the
    audio-to-video attention of the LSTM paper's `W[h; c]` fusion (`fusion="concat"`).

    Example:

    >>> layer = keras_vt.models.av_align.AlignmentAttention(num_heads=1)
    >>> tuple(layer(np.zeros((2, 7, 8)), context=np.zeros((2, 5, 8))).shape)
    (2, 7, 8)
    """

    returns_attention_scores = True


def video_frontend(video, filters, frontend_dim, hidden_dim, dtype=None, name="frontend"):
    """The per-frame CNN: for each stage a stride-2 conv and a residual conv (ReLU), global
    average pooling, a `frontend_dim` bottleneck, then a projection to `hidden_dim`."""
    x = MergeFrames(dtype=dtype, name=f"{name}_merge")(video)
    for i, width in enumerate(filters):
        x = keras.layers.Conv2D(
            width,
            3,
            strides=2,
            padding="same",
            activation="relu",
            dtype=dtype,
            name=f"{name}_conv{i}",
        )(x)
        y = keras.layers.Conv2D(width, 3, padding="same", dtype=dtype, name=f"{name}_res{i}")(x)
        x = keras.layers.Add(dtype=dtype, name=f"{name}_add{i}")([x, y])
        x = keras.layers.ReLU(dtype=dtype, name=f"{name}_relu{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(dtype=dtype, name=f"{name}_pool")(x)
    x = keras.layers.Dense(frontend_dim, activation="relu", dtype=dtype, name=f"{name}_fc")(x)
    x = SplitFrames(dtype=dtype, name=f"{name}_split")([x, video])
    return keras.layers.Dense(hidden_dim, dtype=dtype, name=f"{name}_proj")(x)


def encoder_stack(x, mask, depth, name, dtype=None, **block_kwargs):
    """Scaled input, sin-cos timing signal, `depth` pre-LN self-attention blocks with a key
    padding mask, final LayerNorm (the Taris encoder)."""
    dim = x.shape[-1]
    x = keras.layers.Rescaling(math.sqrt(dim), dtype=dtype, name=f"{name}_scale")(x)
    x = SinusoidalPositions(dtype=dtype, name=f"{name}_positions")(x)
    for i in range(depth):
        x = layers.TransformerBlock(dtype=dtype, name=f"{name}_block{i}", **block_kwargs)(
            x, mask=mask
        )
    return keras.layers.LayerNormalization(
        epsilon=block_kwargs["layer_norm_epsilon"], dtype=dtype, name=f"{name}_norm"
    )(x)


def greedy_decode(logits, lengths=None, blank=0):
    """Greedy CTC decoding (best path, repeats merged, blanks dropped) of (batch, time, classes)
    logits; `lengths` (batch,) valid frames (all by default). Returns a list of int lists.

    Example:

    >>> logits = np.log(np.eye(4)[[1, 1, 0, 2, 2, 0, 2, 3]] + 1e-3)[None]
    >>> keras_vt.models.av_align.greedy_decode(logits)
    [[1, 2, 2, 3]]
    """
    shape = array_shape(logits)
    if len(shape) != 3:
        raise checks.invalid_shape("logits", shape, "logits of shape (batch, time, classes)")
    if lengths is None:
        lengths = np.full((shape[0],), shape[1], "int32")
    lengths = np.asarray(lengths).astype("int32").reshape(-1)
    if lengths.shape[0] != shape[0]:
        raise ValueError(
            f"Expected one length per sequence, got lengths with shape {lengths.shape} for "
            f"logits with batch size {shape[0]}."
        )
    decoded, _ = ops.ctc_decode(
        ops.convert_to_tensor(logits, "float32"),
        ops.convert_to_tensor(lengths),
        strategy="greedy",
        mask_index=blank,
    )
    decoded = np.asarray(ops.convert_to_numpy(decoded))[0]
    return [[int(t) for t in row if t >= 0 and t != blank] for row in decoded]


@keras.saving.register_keras_serializable(package="keras_vt")
class AVAlign(FunctionalModel):
    """AV Align: audio encoder queries the video encoder through one cross-attention block.

    Called on the dict of `keras_vt.data.make_audio_visual` inputs, it returns a dict:
    `"logits"` (batch, audio frames, num_classes) and, with `au_loss=True`, `"au"` (batch, video
    frames, 2) sigmoid action-unit predictions. `fit(inputs, labels)` takes the data's labels
    dict (`"frames"` for `head="frame"`, `"tokens"` for `head="ctc"`, `"au"` for the AU loss)
    and minimises, in `compute_loss`: masked per-frame cross-entropy, or CTC over the valid
    audio frames (class 0 is the blank), plus `au_loss_weight` x masked MSE of the AU head.

    The align step is `keras_vt.layers.TransformerBlock(attention="cross")`: audio +=
    CrossAttention(LN(audio) -> video, video key padding mask); audio += FFN(LN(audio)) (Taris).
    `fusion="concat"` instead forms `W[h; c]` from the audio encoder output h and the attention
    context c (the LSTM paper). An example whose video is masked out entirely gets the audio
    encoder's output unchanged, so the model then equals its audio-only path.

    Args:
        num_classes: output classes including the blank / silence class 0 (data: 9).
        audio_features: features per audio frame.
        frame_size: side of the square video frames; `video_channels` their channels.
        hidden_dim, depth, num_heads, mlp_dim, layer_norm_epsilon: the encoder stacks
            (`depth` blocks per stack), pre-LN, ReLU FFN. `num_layers`, `depth`'s name before
            the one-name-per-concept rename, is still accepted with a `DeprecationWarning`.
        align_layers: cross-attention blocks of the align step (1 in the paper).
        frontend_filters, frontend_dim: the per-frame CNN (stride-2 stages) and its bottleneck.
        head: "ctc" (sequence output, greedy decoding) or "frame" (per audio frame classes).
        fusion: "add" (residual, Transformer) or "concat" (`W[h; c]`, LSTM paper).
        modality: "av", "audio" (no video path) or "video" (the audio stream only gives timing:
            its features are zeroed, the video reaches the head through the align step).
        au_loss: add the action-unit head and loss; `au_loss_weight` its weight (10).
        dropout: dropout in the blocks.

    Example:

    >>> inputs, labels = keras_vt.data.make_audio_visual(4, seed=0)
    >>> model = keras_vt.create_model("av_align_tiny", head="frame", au_loss=True)
    >>> outputs = model(inputs)
    >>> tuple(outputs["logits"].shape), tuple(outputs["au"].shape)
    ((4, 47, 9), (4, 36, 2))
    >>> model.compile(optimizer="adam")
    >>> history = model.fit(inputs, labels, batch_size=4, epochs=1, verbose=0)
    """

    config_keys = (
        "num_classes",
        "audio_features",
        "frame_size",
        "video_channels",
        "hidden_dim",
        "depth",
        "num_heads",
        "mlp_dim",
        "layer_norm_epsilon",
        "align_layers",
        "frontend_filters",
        "frontend_dim",
        "head",
        "fusion",
        "modality",
        "au_loss",
        "au_loss_weight",
        "dropout",
    )
    renamed_arguments = {"num_layers": "depth"}

    def __init__(
        self,
        num_classes=9,
        audio_features=640,
        frame_size=36,
        video_channels=1,
        hidden_dim=256,
        depth=6,
        num_heads=1,
        mlp_dim=256,
        layer_norm_epsilon=1e-6,
        align_layers=1,
        frontend_filters=(8, 16, 32, 64),
        frontend_dim=128,
        head="ctc",
        fusion="add",
        modality="av",
        au_loss=False,
        au_loss_weight=10.0,
        dropout=0.0,
        dtype=None,
        name=None,
        **kwargs,
    ):
        for arg, value, choices in (
            ("head", head, HEADS),
            ("fusion", fusion, FUSIONS),
            ("modality", modality, MODALITIES),
        ):
            checks.check_choice(arg, value, choices)
        checks.check_int("num_classes", num_classes)
        if num_classes < 2:
            raise checks.invalid(
                "num_classes", num_classes, "num_classes >= 2 (class 0 is the blank)"
            )
        checks.check_int("audio_features", audio_features)
        checks.check_transformer(
            hidden_dim,
            num_heads,
            mlp_dim,
            depth,
            rates=dict(dropout=dropout),
            epsilon=layer_norm_epsilon,
        )
        checks.check_int("align_layers", align_layers)
        checks.check_int("video_channels", video_channels)
        checks.check_int("frontend_dim", frontend_dim)
        frontend_filters = tuple(int(f) for f in frontend_filters)
        if not frontend_filters:
            raise checks.invalid("frontend_filters", (), "at least one front-end stage")
        if (
            isinstance(frame_size, bool)
            or not isinstance(frame_size, int)
            or frame_size < 2 ** len(frontend_filters)
        ):
            raise checks.invalid(
                "frame_size",
                frame_size,
                f"an int >= {2 ** len(frontend_filters)} (the front-end halves it {len(frontend_filters)} times)",
            )
        au_loss = bool(au_loss) and modality != "audio"
        au_loss_weight = float(au_loss_weight)

        audio = keras.Input((None, audio_features), name="audio")
        audio_mask = keras.Input((None,), dtype="bool", name="audio_mask")
        video = keras.Input((None, frame_size, frame_size, video_channels), name="video")
        video_mask = keras.Input((None,), dtype="bool", name="video_mask")
        block = dict(
            num_heads=num_heads,
            mlp_dim=mlp_dim,
            layer_norm_epsilon=layer_norm_epsilon,
            activation="relu",
            dropout=dropout,
            norm="pre",
        )
        a = audio
        if modality == "video":
            a = ZeroFeatures(dtype=dtype, name="audio_zeros")(a)
        a = keras.layers.Dense(hidden_dim, dtype=dtype, name="audio_proj")(a)
        a = encoder_stack(a, audio_mask, depth, "audio_encoder", dtype, **block)
        outputs = {}
        if modality != "audio":
            v = video_frontend(video, frontend_filters, frontend_dim, hidden_dim, dtype)
            v = encoder_stack(v, video_mask, depth, "video_encoder", dtype, **block)
            fused = a
            for i in range(align_layers):
                if fusion == "add":
                    fused = layers.TransformerBlock(
                        attention="cross", dtype=dtype, name=f"align{i}", **block
                    )(fused, context=v, mask=video_mask)
                else:
                    h = keras.layers.LayerNormalization(
                        epsilon=layer_norm_epsilon, dtype=dtype, name=f"align{i}_norm"
                    )(fused)
                    c = AlignmentAttention(num_heads, dtype=dtype, name=f"align{i}")(
                        h, context=v, mask=video_mask
                    )
                    hc = keras.layers.Concatenate(dtype=dtype, name=f"align{i}_concat")([fused, c])
                    fused = keras.layers.Dense(hidden_dim, dtype=dtype, name=f"align{i}_fuse")(hc)
            a = VideoGate(dtype=dtype, name="video_gate")([fused, a, video_mask])
            if au_loss:
                outputs["au"] = keras.layers.Dense(
                    2, activation="sigmoid", dtype=output_dtype(dtype), name="au_head"
                )(v)
        a = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="head_norm"
        )(a)
        outputs["logits"] = keras.layers.Dense(num_classes, dtype=output_dtype(dtype), name="head")(
            a
        )
        inputs = {
            "audio": audio,
            "audio_mask": audio_mask,
            "video": video,
            "video_mask": video_mask,
        }
        super().__init__(inputs, outputs, name=name, dtype=dtype, **kwargs)
        self.frame_accuracy = keras.metrics.Mean(name="frame_accuracy")
        self.keep_config(locals())

    # ----------------------------------------------------------------------------- checks
    def check_inputs(self, inputs, argument="x"):
        """Raises a `ValueError` unless `inputs` is a dict of the four arrays with agreeing
        batch sizes and frame counts and the model's frame and feature sizes."""
        if not isinstance(inputs, dict) or any(k not in inputs for k in INPUT_KEYS):
            got = f"keys {sorted(inputs)}" if isinstance(inputs, dict) else type(inputs).__name__
            raise checks.invalid(
                argument,
                inputs,
                f"a dict with keys {list(INPUT_KEYS)} (see keras_vt.data.make_audio_visual)",
                problem=f"got {got}",
            )
        shapes = {k: array_shape(inputs[k]) for k in INPUT_KEYS}
        expected_ranks = {"audio": 3, "audio_mask": 2, "video": 5, "video_mask": 2}
        for key, rank in expected_ranks.items():
            if len(shapes[key]) != rank:
                raise checks.invalid_shape(
                    f"{argument}[{key!r}]", shapes[key], f"{argument}[{key!r}] of rank {rank}"
                )
        batches = {k: s[0] for k, s in shapes.items()}
        if len(set(batches.values()) - {None}) > 1:
            raise ValueError(
                f"Expected audio and video inputs of the same batch size, got batch sizes "
                f"{batches} in {argument}."
            )
        if shapes["audio"][-1] != self.audio_features:
            raise checks.invalid_shape(
                f"{argument}['audio']",
                shapes["audio"],
                f"{argument}['audio'] with {self.audio_features} features per frame (audio_features)",
            )
        frame = (self.frame_size, self.frame_size, self.video_channels)
        if tuple(shapes["video"][2:]) != frame:
            raise ValueError(
                f"Expected {argument}['video'] frames of shape {frame} (frame_size="
                f"{self.frame_size}, video_channels={self.video_channels}), got video with "
                f"shape {shapes['video']}; the front-end takes {self.frame_size}-pixel frames."
            )
        for stream in ("audio", "video"):
            want, got = shapes[stream][1], shapes[f"{stream}_mask"][1]
            if want is not None and got is not None and want != got:
                raise checks.invalid_shape(
                    f"{argument}['{stream}_mask']",
                    shapes[stream + "_mask"],
                    f"{argument}['{stream}_mask'] of length {want} (one entry per {stream} frame)",
                )

    def check_labels(self, inputs, labels, argument="y"):
        """Raises a `ValueError` unless `labels` holds what the head needs: `"frames"` one label
        per audio frame, `"tokens"` sequences that fit the valid audio frames (CTC needs one
        frame per token plus one blank between repeated tokens), `"au"` for the AU loss."""
        if not isinstance(labels, dict):
            raise checks.invalid(
                argument,
                labels,
                "the labels dict of keras_vt.data.make_audio_visual",
                problem=f"{argument} of type {type(labels).__name__}",
            )
        key = "tokens" if self.head == "ctc" else "frames"
        needed = [key] + (["au"] if self.au_loss else [])
        missing = [k for k in needed if k not in labels]
        if missing:
            raise checks.invalid(
                argument,
                None,
                f"{argument} with keys {needed} for head={self.head!r}{' and au_loss=True' if self.au_loss else ''}",
                problem=f"got keys {sorted(labels)}",
            )
        audio_shape = array_shape(inputs["audio"])
        if self.head == "frame" and array_shape(labels["frames"])[:2] != audio_shape[:2]:
            raise checks.invalid_shape(
                f"{argument}['frames']",
                array_shape(labels["frames"]),
                f"{argument}['frames'] of shape {audio_shape[:2]} (one label per audio frame)",
            )
        if self.head == "frame":
            checks.check_ids(
                f"{argument}['frames']", labels["frames"], self.num_classes, "num_classes"
            )
        if self.au_loss:
            want = tuple(array_shape(inputs["video"])[:2]) + (2,)
            if tuple(array_shape(labels["au"])) != want:
                raise checks.invalid_shape(
                    f"{argument}['au']",
                    array_shape(labels["au"]),
                    f"{argument}['au'] of shape {want} (lips part, jaw drop per video frame)",
                )
        if self.head == "ctc":
            tokens = np.asarray(labels["tokens"])
            if tokens.ndim != 2 or tokens.shape[0] != audio_shape[0]:
                raise checks.invalid_shape(
                    f"{argument}['tokens']",
                    tokens.shape,
                    f"{argument}['tokens'] of shape (batch={audio_shape[0]}, max tokens)",
                )
            mask = np.asarray(inputs["audio_mask"]).astype(bool)
            frames = mask.sum(axis=1)
            lengths = (tokens > 0).sum(axis=1)
            repeats = ((tokens[:, 1:] == tokens[:, :-1]) & (tokens[:, 1:] > 0)).sum(axis=1)
            needed_frames = lengths + repeats
            bad = np.flatnonzero(needed_frames > frames)
            if bad.size:
                i = int(bad[0])
                raise ValueError(
                    f"{argument}['tokens'][{i}] has {int(lengths[i])} tokens "
                    f"({int(repeats[i])} repeats), longer than CTC allows for its "
                    f"{int(frames[i])} valid audio frames: expected at most {int(frames[i])} "
                    "frames' worth (tokens + repeats)."
                )
            if tokens.size and (tokens.min() < 0 or tokens.max() >= self.num_classes):
                raise ValueError(
                    f"Expected {argument}['tokens'] in [0, {self.num_classes}) (0 = padding), got "
                    f"values in [{tokens.min()}, {tokens.max()}]."
                )

    # ----------------------------------------------------------------------------- training
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        logits = y_pred["logits"]
        audio_mask = ops.cast(x["audio_mask"], "bool")
        if self.head == "frame":
            frames = y["frames"]
            loss = masked_sparse_categorical_crossentropy(frames, logits, audio_mask)
            hits = ops.cast(ops.equal(ops.argmax(logits, -1), ops.cast(frames, "int32")), "float32")
            weights = ops.cast(audio_mask, "float32")
            self.frame_accuracy.update_state(
                ops.sum(hits * weights) / ops.maximum(ops.sum(weights), 1.0)
            )
        else:
            loss = ctc_sequence_loss(y["tokens"], logits, audio_mask)
        if self.au_loss:
            loss = loss + self.au_loss_weight * masked_mean_squared_error(
                y["au"], y_pred["au"], x["video_mask"]
            )
        if self.losses:
            loss = loss + ops.sum(self.losses)
        return loss

    def fit(self, x=None, y=None, validation_data=None, **kwargs):
        """`keras.Model.fit` on `(inputs, labels)` dicts, checked first (`check_inputs`,
        `check_labels`) when they are arrays."""
        if isinstance(x, dict):
            self.check_inputs(x)
            if y is not None:
                self.check_labels(x, y)
        if isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
            self.check_inputs(validation_data[0], "validation_data[0]")
            self.check_labels(*validation_data, argument="validation_data[1]")
        return super().fit(x, y, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        """`keras.Model.evaluate`, with the same checks as `fit`."""
        if isinstance(x, dict):
            self.check_inputs(x)
            if y is not None:
                self.check_labels(x, y)
        return super().evaluate(x, y, **kwargs)

    def predict(self, x, **kwargs):
        """`keras.Model.predict`, with the input checks of `fit`."""
        if isinstance(x, dict):
            self.check_inputs(x)
        return super().predict(x, **kwargs)

    def decode(self, inputs, batch_size=64):
        """Greedy CTC decoding (head="ctc") or per-frame argmax with repeats and silence
        removed (head="frame"): a list of symbol lists, one per example."""
        self.check_inputs(inputs, "inputs")
        logits = self.predict(inputs, batch_size=batch_size, verbose=0)["logits"]
        lengths = np.asarray(inputs["audio_mask"]).sum(axis=1)
        return greedy_decode(logits, lengths)


# AVAlign's defaults are the paper's sizes (6 layers of width 256, 640 audio features, 36 px
# frames, four front-end stages); the registered name adds nothing to them.
AV_ALIGN_CONFIG = {}
AV_ALIGN_TINY = dict(
    hidden_dim=32,
    depth=2,
    mlp_dim=64,
    audio_features=32,
    frame_size=16,
    frontend_filters=(8, 16),
    frontend_dim=32,
)
register("av_align", AVAlign, family="av_align", config=AV_ALIGN_CONFIG, tiny=AV_ALIGN_TINY)
register("av_align_tiny", AVAlign, family="av_align", config=dict(AV_ALIGN_CONFIG, **AV_ALIGN_TINY))
