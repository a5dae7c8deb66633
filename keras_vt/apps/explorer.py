"""The apps as Gradio Blocks, and `launch`, behind `keras-vt explore`.

Gradio is imported inside these functions only: `import keras_vt` never needs it.
"""

import os

from keras_vt import checks
from keras_vt.apps.common import ModelBank
from keras_vt.cli import parsed_options

DEFAULT_HOST = "127.0.0.1"
MAX_FILE_SIZE = "8mb"
# Requests waiting beyond this many are refused at once ("queue is full"), not left to pile up;
# one request runs at a time (the models share the CPU).
MAX_QUEUE = 64
CONCURRENCY = 1
TITLE = "keras_vt explorer"


def _gradio():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio

    return gradio


def _bank(bank, model, weights):
    if bank is not None:
        return bank
    return ModelBank(model=model, weights=weights)


def _tabs():
    from keras_vt.apps.attention import attention_tab
    from keras_vt.apps.av_align import av_align_tab
    from keras_vt.apps.captioner import captioner_tab, cnn_attention_tab
    from keras_vt.apps.graph import graph_tab
    from keras_vt.apps.positions import positions_tab
    from keras_vt.apps.retrieval import retrieval_tab

    # tab label: (title of the app alone, the function that builds the tab)
    return {
        "Attention": ("Attention explorer", attention_tab),
        "Positions": ("Positional-encoding explorer", positions_tab),
        "Model graph": ("Model graph", graph_tab),
        "Retrieval": ("Video retrieval (MMT)", retrieval_tab),
        "AV Align": ("AV Align: audio attends over lips", av_align_tab),
        "Captioner": ("Show-Attend-Tell captioner", captioner_tab),
        "Attention in CNNs": ("Attention inside CNNs", cnn_attention_tab),
    }


def _single_app(label, bank, model, weights):
    gr = _gradio()
    bank = _bank(bank, model, weights)
    title, tab = _tabs()[label]
    with gr.Blocks(title=f"keras_vt {title.lower()}") as app:
        gr.Markdown(f"## {title}")
        tab(bank)
    return app


def build_attention_app(bank=None, model=None, weights=None):
    """The attention explorer alone (Blocks)."""
    return _single_app("Attention", bank, model, weights)


def build_positions_app(bank=None, model=None, weights=None):
    """The positional-encoding explorer alone (Blocks)."""
    return _single_app("Positions", bank, model, weights)


def build_graph_app(bank=None, model=None, weights=None):
    """The model graph view alone (Blocks)."""
    return _single_app("Model graph", bank, model, weights)


def build_explorer(bank=None, model=None, weights=None, tabs=None):
    """Every app as a tab of one Blocks (attention, positions, model graph, retrieval, AV Align,
    captioner, attention in CNNs), or only the tab labels in `tabs`."""
    gr = _gradio()
    table = _tabs()
    tabs = list(table) if tabs is None else list(tabs)
    unknown = [label for label in tabs if label not in table]
    if unknown or not tabs:
        raise ValueError(f"Unknown tabs={tabs!r}: expected some of {list(table)}.")
    bank = _bank(bank, model, weights)
    with gr.Blocks(title=TITLE) as app:
        gr.Markdown(f"## {TITLE}: looking inside vision transformers")
        for label in tabs:
            with gr.Tab(label):
                table[label][1](bank)
    return app


APPS = {
    "explorer": build_explorer,
    "attention": build_attention_app,
    "positions": build_positions_app,
    "graph": build_graph_app,
}


def launch(
    host=DEFAULT_HOST,
    port=None,
    model=None,
    weights=None,
    share=False,
    app="explorer",
    max_file_size=MAX_FILE_SIZE,
    block=True,
    quiet=False,
    max_queue=MAX_QUEUE,
):
    """Builds an app and serves it; returns the Gradio Blocks (running).

    Safe defaults: binds 127.0.0.1 (pass host="0.0.0.0" to serve the network), never opens a
    share link unless `share=True`, limits uploads to `max_file_size`; large images are
    downscaled and non-image uploads answered with a message.

    Args:
        host: interface to bind.
        port: port (default: Gradio's first free one from 7860).
        model: a registered model name to add to the embedded default.
        weights: `.weights.h5` (with `model`) or `.keras` file for that model, or a hub
            checkpoint `hf://ORG/NAME[@REVISION]` / `timm/NAME` (see `ModelBank`).
        share: create a public gradio.live link (off by default).
        app: "explorer" (all tabs), "attention", "positions" or "graph".
        block: keep serving until interrupted (False returns at once, for tests).

    Example:

    ```python
    app = keras_vt.apps.launch(port=7861, block=False)
    app.close()
    ```
    """
    if app not in APPS:
        raise checks.unknown("app", app, sorted(APPS))
    _gradio()
    blocks = APPS[app](model=model, weights=weights)
    return serve(blocks, host, port, share, max_file_size, block, quiet, max_queue)


def serve(
    blocks,
    host=DEFAULT_HOST,
    port=None,
    share=False,
    max_file_size=MAX_FILE_SIZE,
    block=True,
    quiet=False,
    max_queue=MAX_QUEUE,
):
    """Serves built Blocks with the safe defaults of `launch`; returns them."""
    checks.check_int("max_queue", max_queue)
    blocks.queue(max_size=max_queue, default_concurrency_limit=CONCURRENCY)
    blocks.launch(
        server_name=host,
        server_port=port,
        share=bool(share),
        max_file_size=max_file_size,
        prevent_thread_lock=not block,
        ssr_mode=False,
        quiet=quiet,
    )
    return blocks


def port_number(text):
    """argparse type of `--port`: an int in [1, 65535] (Gradio's own error is a traceback)."""
    import argparse

    try:
        port = int(text)
    except ValueError:
        port = None
    if port is None or not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port={text!r}: expected an int in [1, 65535]")
    return port


# The `keras-vt explore` options, which `launch` takes under the same names.
EXPLORE_OPTIONS = ("host", "port", "model", "weights", "share", "app", "max_queue")


def add_explore_arguments(parser):
    """Adds the `keras-vt explore` options to an argparse parser."""
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface to bind (127.0.0.1)")
    parser.add_argument(
        "--port", type=port_number, default=None, help="port (first free from 7860)"
    )
    parser.add_argument("--model", default=None, help="a registered model name to explore too")
    parser.add_argument(
        "--weights",
        default=None,
        help=".weights.h5 (with --model) or .keras file, or a hub checkpoint hf://ORG/NAME"
        "[@REVISION] or timm/NAME (downloaded through huggingface_hub's cache, converted once)",
    )
    parser.add_argument(
        "--app", default="explorer", choices=sorted(APPS), help="which app (default: all tabs)"
    )
    parser.add_argument(
        "--share", action="store_true", help="also open a public gradio.live link (off by default)"
    )
    parser.add_argument(
        "--max-queue",
        type=int,
        default=MAX_QUEUE,
        help=f"requests allowed to wait; more are refused (default {MAX_QUEUE})",
    )
    return parser


def explore_command(args):
    """Runs `keras-vt explore` from parsed arguments (the options `add_explore_arguments` adds)."""
    launch(**parsed_options(args, EXPLORE_OPTIONS))
