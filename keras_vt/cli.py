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
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ValueError as error:
        print(f"keras-vt: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
