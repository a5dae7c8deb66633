"""The `keras-vt` command: `keras-vt models`, `keras-vt train`, ...

Run `keras-vt --help` for the list of subcommands and `keras-vt SUBCOMMAND --help` for each.

Everything heavy is imported inside the subcommands: `--help` and `models` import neither Keras
nor a backend (`keras_vt/__init__.py` defers its imports while the command starts, and
`keras-vt models` reads `keras_vt.model_table`), so they answer at once. Unless `--verbose` is
given, the C++ log lines that TensorFlow, XLA and absl write straight to the stderr file
descriptor (`I0000 ... cudart_stub.cc ...`, `E0000 ... failed call to cuInit ...`) are filtered
out of the command's output; Python's own warnings and errors still show.
"""

import argparse
import ast
import os
import re
import sys
import threading

# A C++ log line of absl / TensorFlow / XLA ("I0000 00:00:1795975783.471942    5916 port.cc:153]
# ..."), or absl's notice that such lines go to stderr before it is initialised.
_NATIVE_LOG = re.compile(
    rb"^(?:[IWEF]\d{4} [\d:.]+\s+\d+ [^\s:]+:\d+\]"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called)"
)


def _quiet_environment():
    """Environment variables that make TensorFlow and XLA log less (set before any import)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("GLOG_minloglevel", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


class NativeLogFilter:
    """Context manager dropping absl/TensorFlow C++ log lines from the stderr file descriptor.

    TensorFlow 2.21 prints some lines (`cuInit` errors on CPU machines, oneDNN notices) however
    `TF_CPP_MIN_LOG_LEVEL` is set, from C++ straight to file descriptor 2. Inside the context,
    fd 2 is a pipe read by a thread that passes every other line through to the real stderr, as
    it arrives.

    Example:

    >>> with NativeLogFilter():
    ...     pass
    """

    def __init__(self, enabled=True):
        self.enabled = enabled
        self.dropped = 0

    def __enter__(self):
        if not self.enabled:
            return self
        try:
            sys.stderr.flush()
            self._saved = os.dup(2)
        except (OSError, ValueError):  # no real stderr (embedded interpreters)
            self.enabled = False
            return self
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self._thread = threading.Thread(target=self._pump, args=(read,), daemon=True)
        self._thread.start()
        return self

    def _pump(self, read):
        with os.fdopen(read, "rb") as pipe:
            for line in pipe:
                if _NATIVE_LOG.match(line):
                    self.dropped += 1
                else:
                    os.write(self._saved, line)

    def __exit__(self, *exc):
        if not self.enabled:
            return False
        try:
            sys.stderr.flush()
        except ValueError:
            pass
        os.dup2(self._saved, 2)  # closes the pipe's last write end: the pump sees EOF
        self._thread.join(timeout=5)
        os.close(self._saved)
        return False


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
    """Prints a table of registered models: name, parameters, resolution, family.

    The rows come from `keras_vt.model_table` (no model is built, Keras is not imported);
    `--build` builds each matching model and counts its parameters instead.
    """
    import fnmatch

    from keras_vt.model_table import MODELS, table_row

    names = sorted(name for name in MODELS if fnmatch.fnmatch(name, args.pattern))
    if not names:
        raise SystemExit(
            f"keras-vt: no registered model matches pattern={args.pattern!r}. Expected a "
            "shell-style pattern such as 'vit_*' (keras-vt models lists them all)."
        )
    rows = []
    for name in names:
        params, size, family = table_row(name) if args.build else MODELS[name]
        params = f"{params:,}" if args.params and params is not None else ""
        rows.append((name, params, "any" if size is None else f"{size}", family))
    header = ("name", "parameters", "resolution", "family")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(4)]
    line = "  ".join("{:<%d}" % w for w in widths)
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))


def parsed_options(args, names):
    """The options `names` of parsed `args` as keyword arguments (each argparse destination is
    the keyword of the function the command calls).

    Example:

    >>> parsed_options(argparse.Namespace(epochs=3, seed=0, verbose=False), ("epochs", "seed"))
    {'epochs': 3, 'seed': 0}
    """
    return {name: getattr(args, name) for name in names}


# `keras-vt train` options that `train_classifier` takes as they are parsed.
TRAIN_OPTIONS = (
    "data",
    "image_size",
    "epochs",
    "batch_size",
    "learning_rate",
    "num_images",
    "seed",
    "output",
    "warmup_epochs",
    "label_smoothing",
    "weights",
    "backup_dir",
    "resume",
    "distribute",
)


def train_command(args):
    """Trains a registered model on the built-in shapes data or a folder of class sub-folders."""
    from keras_vt.training.classification import train_classifier

    result = train_classifier(
        args.model,
        overrides=_parse_overrides(args.set),
        augment=args.augment and args.data == "shapes",
        **parsed_options(args, TRAIN_OPTIONS),
    )
    print(
        f"final validation accuracy: {result['val_accuracy']:.4f} "
        f"({result['num_classes']} classes, {result['val_images']} validation images; "
        f"{result['seconds']:.0f} s wall, {result['cpu_seconds']:.0f} s CPU)"
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


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default, except where there is none to show."""

    def _get_help_string(self, action):
        if (action.default is None or action.default is False) and action.option_strings:
            return action.help
        return super()._get_help_string(action)


def _subparser(sub, name, help):
    p = sub.add_parser(name, help=help, description=help, formatter_class=_HelpFormatter)
    p.add_argument(
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show TensorFlow/absl C++ log lines",
    )
    return p


def build_parser():
    """The `keras-vt` argument parser (imports nothing heavy).

    Example:

    >>> build_parser().parse_args(["train", "--epochs", "3"]).epochs
    3
    """
    parser = argparse.ArgumentParser(
        prog="keras-vt",
        description="Vision transformers for Keras 3: models, training, tools.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow/absl C++ log lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _subparser(sub, "models", "list registered models with their parameter counts")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'vit_*'")
    p.add_argument(
        "--no-params", dest="params", action="store_false", help="leave out the parameter counts"
    )
    p.add_argument(
        "--build",
        action="store_true",
        help="build each matching full-size model and count its parameters (slow) instead of "
        "reading the table",
    )
    p.set_defaults(func=models_command)

    p = _subparser(sub, "train", "train a model on built-in data or an image folder")
    p.add_argument(
        "model",
        nargs="?",
        default="cpvt_nano_convstem_32_gap",
        help="registered model name (the default: a two-block CPVT-GAP with a convolutional stem)",
    )
    p.add_argument(
        "--data", default="shapes", help="'shapes' (built-in) or a folder of class folders"
    )
    p.add_argument("--image-size", type=int, default=None, help="input side (default: model's)")
    p.add_argument("--epochs", type=int, default=14, help="passes over the training images")
    p.add_argument("--batch-size", type=int, default=64, help="images per optimiser step")
    p.add_argument(
        "--learning-rate", type=float, default=2e-3, help="peak learning rate (AdamW, cosine)"
    )
    p.add_argument("--num-images", type=int, default=10000, help="built-in data: training images")
    p.add_argument(
        "--warmup-epochs", type=int, default=1, help="linear warm-up before the cosine decay"
    )
    p.add_argument(
        "--label-smoothing", type=float, default=0.1, help="of the cross-entropy targets (DeiT)"
    )
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="built-in data: random flips and 90-degree rotations of every batch",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the initialisation")
    p.add_argument("--output", default="model.keras", help="where to save the trained .keras file")
    p.add_argument(
        "--weights",
        default=None,
        help="start from these weights: a .keras / .weights.h5 file or a hub name hf://ORG/NAME "
        "(new head when the class count differs, positions resampled)",
    )
    p.add_argument(
        "--backup-dir",
        default=None,
        help="folder of the backup written after every epoch (default: OUTPUT.backup; removed "
        "once the model is saved)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue a killed run from its backup (same arguments); without a backup, start",
    )
    p.add_argument(
        "--distribute",
        action="store_true",
        help="data-parallel on every local device (JAX: keras.distribution.DataParallel; "
        "TensorFlow: tf.distribute.MirroredStrategy); --batch-size is the global batch",
    )
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="model overrides, e.g. depth=6")
    p.set_defaults(func=train_command)

    p = _subparser(
        sub, "convert", "convert a HF / timm / OpenAI checkpoint (local or hub) to .keras"
    )
    p.add_argument(
        "src",
        help="Hugging Face directory (config.json + weights), a state dict, or a hub name "
        "hf://ORG/NAME[@REVISION] / timm/NAME (downloaded through huggingface_hub's cache)",
    )
    p.add_argument("dst", help="the .keras file to write")
    p.add_argument(
        "--image-size", type=int, default=None, help="build at another resolution (default: same)"
    )
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="converter options")
    p.set_defaults(func=convert_command)

    p = _subparser(sub, "export", "export a model as a SavedModel taking raw uint8 images")
    p.add_argument("model", help="a .keras file or a registered model name")
    p.add_argument("path", help="directory of the SavedModel")
    p.add_argument("--logits", action="store_true", help="serve logits instead of probabilities")
    p.add_argument("--tiny", action="store_true", help="model name: small test configuration")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="model name: overrides")
    p.set_defaults(func=export_command)

    sub.add_parser(
        "bench",
        add_help=False,
        help="every family at float32, bfloat16 and int8 against keras-hub and Hugging Face "
        "(benchmarks/bench.py; `keras-vt bench --help` for its options)",
    )

    from keras_vt.apps.explorer import add_explore_arguments

    p = _subparser(sub, "explore", "open the Gradio explorer (attention, positions, model graph)")
    add_explore_arguments(p)
    p.set_defaults(func=explore_command)
    return parser


def bench(argv):
    """Runs benchmarks/bench.py of the source checkout with `argv`; returns its exit code."""
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"
    if not script.exists():
        print(
            f"keras-vt: error: the benchmark script {script} is not installed with the package; "
            "run `keras-vt bench` from a source checkout (pip install -e '.[bench]').",
            file=sys.stderr,
        )
        return 2
    return runpy.run_path(str(script), run_name="keras_vt_bench")["main"](argv)


def main(argv=None):
    """Runs the `keras-vt` command with `argv` (default: `sys.argv[1:]`); returns the exit code.

    Example:

    >>> main(["models", "vit_tiny_patch16_224"])  # doctest: +NORMALIZE_WHITESPACE
    name                  parameters  resolution  family
    --------------------  ----------  ----------  ------
    vit_tiny_patch16_224  5,717,416   224         vit
    0
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    verbose = "--verbose" in argv
    if not verbose:
        _quiet_environment()
    if argv[:1] == ["bench"]:
        with NativeLogFilter(enabled=not verbose):
            return bench(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        with NativeLogFilter(enabled=not verbose):
            args.func(args)
    except ValueError as error:
        print(f"keras-vt: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `keras-vt models | head`: the reader left; stop quietly, as Unix tools do.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the interpreter closes it at exit
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
