"""Attention explorer: an image in; its attention (raw, rollout or flow), predictions and the
mean attention distance of every head out."""

import numpy as np

from keras_vt import checks, viz
from keras_vt.apps.common import image_size_of, model_input, read_upload_or_sample, resize
from keras_vt.apps.common import sample_paths as _sample_paths

METHODS = ("raw", "rollout", "flow")
FUSIONS = ("mean", "max", "min")
DISPLAY_SIDE = 320
FLOW_WORK = {"scipy": 3e10, "networkx": 5e8}  # about 5 s per answer at most


def flow_solver():
    try:
        import scipy.sparse.csgraph  # noqa: F401
    except ImportError:
        return "networkx"
    return "scipy"


def model_info(model):
    """(layers, heads, prefix tokens, grid) of a transformer, from one look at its maps."""
    size = image_size_of(model)
    maps = viz.attention_maps(model, np.zeros((1, *size, 3), "float32"))
    patch = viz.patch_size_of(model)
    grid = (size[0] // patch, size[1] // patch)
    return len(maps), maps[-1].shape[1], maps[-1].shape[2] - grid[0] * grid[1], grid


def head_choices(heads):
    return [*FUSIONS, *(str(h) for h in range(heads))]


def _select_heads(maps, head):
    """(maps restricted to one head when `head` is an index, head fusion)."""
    if head in FUSIONS:
        return maps, head
    index = int(head)
    if not 0 <= index < maps[0].shape[1]:
        raise ValueError(f"Head {index} does not exist: the model has {maps[0].shape[1]} heads.")
    return [m[:, index : index + 1] for m in maps], "mean"


def joint_map(maps, layer, head, method, discard_ratio, grid, num_prefix):
    """The (grid_h, grid_w) map the explorer shows, in [0, 1]."""
    if method not in METHODS:
        raise checks.unknown("method", method, METHODS)
    if not 1 <= layer <= len(maps):
        raise checks.invalid("layer", layer, f"layer in [1, {len(maps)}]")
    chosen, fusion = _select_heads(maps[:layer], head)
    query = 0 if num_prefix else "mean"
    if method == "raw":
        attention = viz.fuse_heads(chosen[-1], fusion)
    elif method == "rollout":
        outputs = [0] if num_prefix else None
        attention = viz.attention_rollout(
            chosen, fusion, discard_ratio, min(num_prefix, 1), output_tokens=outputs
        )
    else:
        outputs = [0] if num_prefix else None
        solver = flow_solver()
        attention = viz.attention_flow(
            chosen,
            fusion,
            discard_ratio,
            min(num_prefix, 1),
            output_tokens=outputs,
            solver=solver,
            max_work=FLOW_WORK[solver],
        )
        if not num_prefix:
            query = "mean"
    return viz.attention_grid(attention, grid, query=query, num_prefix_tokens=num_prefix)[0]


def top_predictions(logits, class_names, k=5):
    """{class name: probability} of the k most probable classes."""
    logits = np.asarray(logits, dtype="float64").reshape(-1)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    order = np.argsort(-probs)[:k]
    names = class_names or [f"class {i}" for i in range(len(probs))]
    return {names[i]: float(probs[i]) for i in order}


def distance_table(distance):
    """Long-form rows (layer, head, distance) for a scatter plot."""
    import pandas as pd

    rows = [
        {"layer": layer + 1, "head": f"head {head}", "distance (px)": float(value)}
        for layer, per_head in enumerate(distance)
        for head, value in enumerate(per_head)
        if np.isfinite(value)
    ]
    return pd.DataFrame(rows, columns=["layer", "head", "distance (px)"])


def explain(bank, model_name, upload, sample, layer, head, method, discard_ratio=0.0):
    """Everything the attention explorer shows for one request.

    Returns:
        (overlay uint8 image or None, {class: probability}, distance rows (DataFrame), status
        markdown). Problems (a non-image upload, a flow too large) come back as a status
        message, not an exception.
    """
    try:
        image = read_upload_or_sample(upload, sample)
        entry = bank.entry(model_name)
        model = entry.model
        square, batch = model_input(image, model)
        logits, maps = viz.attention_maps(model, batch, return_outputs=True)
        size = image_size_of(model)
        patch = viz.patch_size_of(model)
        grid = (size[0] // patch, size[1] // patch)
        num_prefix = maps[-1].shape[2] - grid[0] * grid[1]
        layer = int(min(max(int(layer), 1), len(maps)))
        heat = joint_map(maps, layer, head, method, float(discard_ratio), grid, num_prefix)
        display = resize(square, (DISPLAY_SIDE, DISPLAY_SIDE), "bicubic")
        picture = viz.overlay(display, heat, alpha=0.55)
        distance = viz.mean_attention_distance(maps, grid, patch, num_prefix_tokens=num_prefix)
        predictions = top_predictions(logits, entry.class_names) if logits.ndim == 2 else {}
        status = (
            f"**{model_name}**: {method} attention of layer {layer}/{len(maps)}, head {head}; "
            f"input {size[0]}x{size[1]} px, grid {grid[0]}x{grid[1]}."
        )
        if entry.note:
            status += f" Note: {entry.note}."
        return picture, predictions, distance_table(distance), status
    except ValueError as error:
        return None, {}, distance_table(np.zeros((0, 0))), f"**Cannot explain:** {error}"


def attention_tab(bank, default_model=None):
    """Builds the attention explorer's components inside the current Gradio context."""
    import gradio as gr

    names = bank.names()
    default_model = default_model or names[0]
    layers, heads, _, _ = model_info(bank.get(default_model))
    samples = _sample_paths()
    with gr.Row():
        with gr.Column(scale=1):
            model = gr.Dropdown(names, value=default_model, label="Model")
            # No file_types filter: the app reads the file itself and answers a non-image
            # with a message in the status line.
            upload = gr.File(label="Upload an image (PNG, JPEG, ...)", type="filepath")
            sample = gr.Dropdown(
                list(samples),
                value=next(iter(samples), None),
                label="...or a built-in sample",
            )
            method = gr.Radio(list(METHODS), value="rollout", label="Method")
            layer = gr.Slider(1, layers, value=layers, step=1, label="Layer (rollout/flow: up to)")
            head = gr.Dropdown(head_choices(heads), value="mean", label="Head (or fusion)")
            discard = gr.Slider(0.0, 0.95, value=0.0, step=0.05, label="Discard ratio")
            run = gr.Button("Explain", variant="primary", elem_id="explain-button")
        with gr.Column(scale=2):
            picture = gr.Image(
                label="Attention overlay", type="numpy", format="png", elem_id="overlay"
            )
            status = gr.Markdown(elem_id="status")
            with gr.Row():
                predictions = gr.Label(num_top_classes=5, label="Top-5", elem_id="top5")
                distance = gr.ScatterPlot(
                    x="layer",
                    y="distance (px)",
                    color="head",
                    label="Mean attention distance per head",
                    elem_id="distance",
                )

    def on_model(name):
        layers, heads, _, _ = model_info(bank.get(name))
        return (
            gr.update(maximum=layers, value=layers),
            gr.update(choices=head_choices(heads), value="mean"),
        )

    def on_explain(*args):
        return explain(bank, *args)

    model.change(on_model, model, [layer, head], api_name="model_info")
    run.click(
        on_explain,
        [model, upload, sample, layer, head, method, discard],
        [picture, predictions, distance, status],
        api_name="explain",
    )
