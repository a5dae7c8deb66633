"""The `keras-vt` command: `keras-vt models`, `keras-vt train`, ...

Run `keras-vt --help` for the list of subcommands and `keras-vt SUBCOMMAND --help` for each.
"""

import argparse
import ast
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _parse_overrides(items):
    """['depth=6', 'pooling=gap'] -> {'depth': 6, 'pooling': 'gap'}."""
    overrides = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"keras-vt: --set expects KEY=VALUE, got {item!r}")
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value
    return overrides


def models_command(args):
    """Prints a table of registered models: name, parameters, resolution, family."""
    import keras
    from keras.utils import Progbar

    import keras_vt
    from keras_vt.models import get_spec

    names = keras_vt.list_models(args.pattern)
    if not names:
        raise SystemExit(f"keras-vt: no registered model matches {args.pattern!r}")
    rows = []
    progress = Progbar(len(names), unit_name="model") if args.params else None
    for name in names:
        spec = get_spec(name)
        params = ""
        if args.params:
            params = f"{keras_vt.count_params(keras_vt.create_model(name)):,}"
            keras.backend.clear_session()
            progress.add(1)
        size = spec.image_size
        rows.append((name, params, "any" if size is None else f"{size}", spec.family))
    header = ("name", "parameters", "resolution", "family")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(4)]
    line = "  ".join("{:<%d}" % w for w in widths)
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))


def train_command(args):
    """Trains a registered model on the built-in shapes data or a folder of class sub-folders."""
    from keras_vt.training.classification import train_classifier

    result = train_classifier(
        args.model,
        data=args.data,
        image_size=args.image_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        num_images=args.num_images,
        seed=args.seed,
        output=args.output,
        overrides=_parse_overrides(args.set),
    )
    print(
        f"final validation accuracy: {result['val_accuracy']:.4f} "
        f"({result['num_classes']} classes, {result['val_images']} validation images)"
    )
    print(f"saved: {result['output']}")


def convert_command(args):
    """Converts a local checkpoint (HF directory or timm state dict) to a .keras file."""
    from keras_vt.convert import convert_checkpoint
    from keras_vt.convert.hub import convert_from_hub, download, is_hub_name

    overrides = _parse_overrides(args.set)
    if args.image_size is not None:
        overrides["image_size"] = args.image_size
    if is_hub_name(args.src) and not overrides:
        model, _ = convert_from_hub(args.src, args.dst)
    else:
        source = download(args.src) if is_hub_name(args.src) else args.src
        model = convert_checkpoint(source, args.dst, **overrides)
    print(f"saved: {args.dst} ({type(model).__name__}, {model.count_params():,} parameters)")


def export_command(args):
    """Writes a SavedModel whose `serve` signature takes raw uint8 images."""
    from keras_vt.export import export

    path = export(
        args.model,
        args.path,
        tiny=args.tiny,
        activation=None if args.logits else "softmax",
        **_parse_overrides(args.set),
    )
    print(f"saved: {path} (signatures: serve, serving_default, serve_normalized)")


def explore_command(args):
    """Opens the Gradio explorer: attention maps, positional encodings, model graph."""
    from keras_vt.apps.explorer import explore_command as run

    run(args)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-vt", description="Vision transformers for Keras 3: models, training, tools."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list registered models with their parameter counts")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'vit_*'")
    p.add_argument(
        "--no-params",
        dest="params",
        action="store_false",
        help="skip building each model to count its parameters (fast)",
    )
    p.set_defaults(func=models_command)

    p = sub.add_parser("train", help="train a model on built-in data or an image folder")
    p.add_argument("model", nargs="?", default="vit_mini_patch4_32", help="registered model name")
    p.add_argument(
        "--data", default="shapes", help="'shapes' (built-in) or a folder of class folders"
    )
    p.add_argument("--image-size", type=int, default=None, help="input side in pixels")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--num-images", type=int, default=10000, help="built-in data: training images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="model.keras", help="where to save the trained .keras file")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="model overrides, e.g. depth=6")
    p.set_defaults(func=train_command)

    p = sub.add_parser("convert", help="convert a HF / timm checkpoint (local or hub) to .keras")
    p.add_argument(
        "src",
        help="Hugging Face directory (config.json + weights), timm state dict, or a hub name "
        "hf://ORG/NAME[@REVISION] / timm/NAME (downloaded through huggingface_hub's cache)",
    )
    p.add_argument("dst", help="the .keras file to write")
    p.add_argument("--image-size", type=int, default=None, help="build at another resolution")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="converter options")
    p.set_defaults(func=convert_command)

    p = sub.add_parser("export", help="export a model as a SavedModel taking raw uint8 images")
    p.add_argument("model", help="a .keras file or a registered model name")
    p.add_argument("path", help="directory of the SavedModel")
    p.add_argument("--logits", action="store_true", help="serve logits instead of probabilities")
    p.add_argument("--tiny", action="store_true", help="model name: small test configuration")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="model name: overrides")
    p.set_defaults(func=export_command)

    sub.add_parser(
        "bench",
        add_help=False,
        help="ViT-B/16 throughput against keras-hub and Hugging Face (benchmarks/throughput.py; "
        "`keras-vt bench --help` for its options)",
    )

    from keras_vt.apps.explorer import add_explore_arguments

    p = sub.add_parser(
        "explore", help="open the Gradio explorer (attention, positions, model graph)"
    )
    add_explore_arguments(p)
    p.set_defaults(func=explore_command)
    return parser


def bench(argv):
    """Runs benchmarks/throughput.py of the source checkout with `argv`; returns its exit code."""
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"
    if not script.exists():
        print(
            f"keras-vt: error: the benchmark script {script} is not installed with the package; "
            "run `keras-vt bench` from a source checkout (pip install -e '.[bench]').",
            file=sys.stderr,
        )
        return 2
    return runpy.run_path(str(script), run_name="keras_vt_bench")["main"](argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        return bench(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ValueError as error:
        print(f"keras-vt: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
