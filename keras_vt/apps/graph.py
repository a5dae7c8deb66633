"""Model graph view: the chosen model's layer graph, drawn by Graphviz through Keras."""

import os
import tempfile

from keras_vt import checks, viz

FORMATS = ("png", "svg")


def model_graph(bank, model_name, file_format="png", expand_nested=False, directory=None):
    """(PNG path to show or None, file path to download or None, status markdown)."""
    try:
        if file_format not in FORMATS:
            raise checks.unknown("file_format", file_format, FORMATS)
        model = bank.get(model_name)
        directory = directory or tempfile.mkdtemp(prefix="keras_vt_graph_")
        stem = os.path.join(directory, f"{model.name}{'_nested' if expand_nested else ''}")
        png = viz.plot_model_graph(model, stem + ".png", expand_nested=bool(expand_nested))
        download = png
        if file_format == "svg":
            download = viz.plot_model_graph(model, stem + ".svg", expand_nested=bool(expand_nested))
        layers = len(model.layers)
        status = f"**{model_name}**: {layers} top-level layers, {model.count_params():,} weights."
        return png, download, status
    except (ValueError, ImportError) as error:
        return None, None, f"**Cannot draw the graph:** {error}"


def graph_tab(bank, default_model=None):
    """Builds the model graph view inside the current Gradio context."""
    import gradio as gr

    names = bank.names()
    with gr.Row():
        model = gr.Dropdown(names, value=default_model or names[0], label="Model")
        file_format = gr.Radio(list(FORMATS), value="png", label="Download format")
        nested = gr.Checkbox(value=False, label="Expand nested layers")
        draw = gr.Button("Draw graph", variant="primary", elem_id="graph-button")
    status = gr.Markdown(elem_id="graph-status")
    picture = gr.Image(label="Model graph", type="filepath", height=640, elem_id="graph")
    download = gr.File(label="Download")
    draw.click(
        lambda name, f, n: model_graph(bank, name, f, n),
        [model, file_format, nested],
        [picture, download, status],
        api_name="graph",
    )
