"""Positional-encoding explorer: similarity of learned positions, what resampling to another
resolution does, and learned positions versus content-derived ones (PEG) under translation."""

import numpy as np

from keras_vt import checks, viz
from keras_vt.apps.common import image_size_of, model_input, read_image
from keras_vt.apps.common import sample_paths as _sample_paths

SHIFTS = (0, 1, 2, 4, 8, 16)


def _has_table(model):
    try:
        viz.position_layer(model)
    except ValueError:
        return False
    return True


def similarity(bank, model_name, image_size):
    """(mosaic at the trained size, mosaic resampled to `image_size`, status markdown)."""
    try:
        try:
            image_size = int(image_size)
        except (TypeError, ValueError):
            raise checks.invalid("image_size", image_size, "an int (pixels)") from None
        model = bank.get(model_name)
        patch = viz.patch_size_of(model)
        trained = image_size_of(model)
        original = viz.similarity_mosaic(viz.position_similarity(model))
        positions = viz.resampled_positions(model, image_size)
        resampled = viz.similarity_mosaic(viz.position_similarity(positions))
        layer = viz.position_layer(model)
        status = (
            f"**{model_name}**: learned table for {trained[0]}x{trained[1]} px "
            f"({trained[0] // patch}x{trained[1] // patch} patches), resampled "
            f"({getattr(layer, 'interpolation', 'fixed')}) to {image_size}x{image_size} px "
            f"({positions.shape[0]}x{positions.shape[1]} patches). Panel (i, j): cosine "
            "similarity of position (i, j) with every position, -1 (dark) to 1 (yellow)."
        )
        return original, resampled, status
    except ValueError as error:
        return None, None, f"**Cannot show positions:** {error}"


def translation(bank, model_names, sample, direction="horizontal", mode="roll"):
    """(long-form rows of feature change per shift and model, status markdown)."""
    import pandas as pd

    rows, notes = [], []
    columns = ["shift (px)", "relative feature change", "model"]
    try:
        if not model_names:
            raise checks.invalid("model_names", model_names, "at least one model")
        image = read_image(_sample_paths()[sample] if sample in _sample_paths() else sample)
        for name in model_names:
            model = bank.get(name)
            _, batch = model_input(image, model)
            batch = np.concatenate([batch, batch[:, ::-1]], axis=0)
            probe = viz.translation_probe(model, batch, SHIFTS, direction=direction, mode=mode)
            kind = "learned table" if _has_table(model) else "no table (PEG or none)"
            for shift, change in zip(probe["shifts"], probe["feature_change"]):
                rows.append(
                    {
                        "shift (px)": int(shift),
                        "relative feature change": float(change),
                        "model": f"{name}: {kind}",
                    }
                )
            agreement = probe.get("prediction_agreement")
            if agreement is not None:
                notes.append(f"{name}: top-1 unchanged for {agreement.min():.0%} of shifts")
        status = (
            f"Pooled features of the sample (and its mirror image), shifted {direction}ly by "
            f"{', '.join(map(str, SHIFTS))} px ({mode})."
        )
        if notes:
            status += " " + "; ".join(notes) + "."
        if not any(
            bank.entries[n].model_name and "cpvt" in bank.entries[n].model_name
            for n in bank.names()
        ):
            status += (
                " No CPVT model is on offer here: start `keras-vt explore --model cpvt_tiny` "
                "(or a trained CPVT with --weights) to compare learned positions with the PEG."
            )
        return pd.DataFrame(rows, columns=columns), status
    except (ValueError, KeyError) as error:
        return pd.DataFrame(rows, columns=columns), f"**Cannot probe:** {error}"


def positions_tab(bank, default_model=None):
    """Builds the positional-encoding explorer inside the current Gradio context."""
    import gradio as gr

    names = bank.names()
    with_table = [n for n in names if _has_table(bank.get(n))]
    default_model = default_model if default_model in with_table else next(iter(with_table), None)
    patch, trained = 16, (224, 224)
    if default_model is not None:
        model = bank.get(default_model)
        patch, trained = viz.patch_size_of(model), image_size_of(model)
    samples = _sample_paths()
    gr.Markdown("### Learned position embeddings and resampling")
    with gr.Row():
        model = gr.Dropdown(with_table, value=default_model, label="Model with a learned table")
        size = gr.Slider(
            patch * 2,
            trained[0] * 4,
            value=trained[0] * 2,
            step=patch,
            label="Resolution (px) for the resampled table",
        )
        show = gr.Button("Show positions", variant="primary", elem_id="positions-button")
    status = gr.Markdown(elem_id="positions-status")
    with gr.Row():
        original = gr.Image(
            label="At the trained resolution", type="numpy", format="png", elem_id="similarity"
        )
        resampled = gr.Image(label="Resampled", type="numpy", format="png", elem_id="resampled")
    gr.Markdown("### Learned positions versus PEG under translation")
    with gr.Row():
        compare = gr.CheckboxGroup(names, value=names[:2], label="Models")
        sample = gr.Dropdown(list(samples), value=next(iter(samples), None), label="Sample")
        direction = gr.Radio(
            ["horizontal", "vertical", "diagonal"], value="horizontal", label="Direction"
        )
        mode = gr.Radio(["roll", "pad"], value="roll", label="Shift mode")
        probe = gr.Button("Probe translation", elem_id="translation-button")
    curve = gr.LinePlot(
        x="shift (px)",
        y="relative feature change",
        color="model",
        label="Relative change of pooled features",
        elem_id="translation",
    )
    probe_status = gr.Markdown(elem_id="translation-status")

    def on_model(name):
        model = bank.get(name)
        patch, trained = viz.patch_size_of(model), image_size_of(model)
        return gr.update(
            minimum=patch * 2, maximum=trained[0] * 4, step=patch, value=trained[0] * 2
        )

    model.change(on_model, model, size, api_name="position_model")
    show.click(
        lambda name, s: similarity(bank, name, s),
        [model, size],
        [original, resampled, status],
        api_name="similarity",
    )
    probe.click(
        lambda names, s, d, m: translation(bank, names, s, d, m),
        [compare, sample, direction, mode],
        [curve, probe_status],
        api_name="translation",
    )
