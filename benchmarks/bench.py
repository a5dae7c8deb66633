"""`keras-vt bench`: every family at float32, bfloat16 and int8, against keras-hub and Hugging Face.

In one run, with random weights, on this machine's CPU:

* inference images/s (texts/s for CLIP's text tower) and training images/s, and the peak resident
  memory of the process, for ViT-B/16, DeiT-S distilled (trained with a ResNet-50 teacher), CPVT-S,
  CvT-13 and CLIP ViT-B/32 (image tower, text tower; training is the contrastive step);
* built by keras_vt on each Keras backend, by keras-hub (ViT, DeiT, CLIP) and by Hugging Face
  transformers in PyTorch (ViT, DeiT, CvT, CLIP), each at its own best setting per precision:
    - keras (keras_vt, keras-hub): float32 with XLA on TensorFlow and JAX; on PyTorch inference
      and training each both eager and `jit_compile=True` (Keras' `torch.compile`), the faster
      kept;
      bfloat16 = `dtype="bfloat16"` (weights and activations), TensorFlow *without* XLA (oneDNN's
      bfloat16 kernels; XLA on CPU does not use the bf16 units), XLA on JAX;
      int8 = `keras_vt.precision.quantize` (Keras int8 + torch's CPU int8 matmul; on PyTorch with
      `compile=True`, each int8 Dense one compiled kernel) for keras_vt,
      `Model.quantize("int8")` for keras-hub; training in float32 and `mixed_bfloat16`;
    - Hugging Face: float32, `model.to(torch.bfloat16)`, `torch.ao` dynamic int8 of every
      `nn.Linear`; eval mode under `torch.inference_mode()`, eager and under `torch.compile`,
      the faster kept (every timed setting is in the JSON); training in float32 and under
      `torch.autocast("cpu", torch.bfloat16)` with AdamW, the step eager and under
      `torch.compile`, the faster kept;
* the machine's float32, bfloat16 and int8 matmul rooflines (best of each framework, n = 2048)
  and each model's fraction of the roofline of its precision (FLOPs counted once per model by
  `torch.utils.flop_counter` on keras_vt's model under PyTorch: matmuls, convolutions, attention).

Every job (library, backend, model, precision) runs in its own subprocess, so the Keras backend and
the peak memory are its own; threads are fixed alike for all (`--threads`). Timing through
`benchmarks/harness.py` (warm-up calls, then the median and IQR of timed calls). Results:
`benchmarks/results/bench.json` and `bench.md` (the README's table), with provenance; `--quick`
is a smoke run (tiny batch, two models, few repeats).

    keras-vt bench                       # the whole run (long: about an hour on 2 cores)
    keras-vt bench --models vit_b16 --precisions float32,bfloat16
    python benchmarks/bench.py --quick
"""

import argparse
import collections
import functools
import json
import os
import resource
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.harness import run_worker_process, set_threads, time_calls  # noqa: E402
from benchmarks.results_io import footer, provenance, write_atomic, write_json  # noqa: E402

BACKENDS = ("tensorflow", "jax", "torch")
PRECISIONS = ("float32", "bfloat16", "int8")
# model key -> (keras_vt name, libraries that have it, input kind)
MODELS = {
    "vit_b16": ("vit_base_patch16_224", ("keras_vt", "keras_hub", "hf"), "image"),
    "deit_s_distilled": (
        "deit_small_distilled_patch16_224",
        ("keras_vt", "keras_hub", "hf"),
        "image",
    ),
    "cpvt_s": ("cpvt_small_gap", ("keras_vt",), "image"),
    "cvt_13": ("cvt_13", ("keras_vt", "hf"), "image"),
    "clip_b32_image": ("clip_vit_b32", ("keras_vt", "keras_hub", "hf"), "image"),
    "clip_b32_text": ("clip_vit_b32", ("keras_vt", "keras_hub", "hf"), "text"),
}
NUM_CLASSES = 1000
IMAGE_SIZE = 224
CONTEXT = 77
VOCAB = 49408


# --------------------------------------------------------------------------------------------
# Inputs and models
# --------------------------------------------------------------------------------------------


def batch_inputs(kind, batch, channels_first=False):
    rng = np.random.default_rng(0)
    if kind == "text":
        return rng.integers(1, VOCAB - 1, size=(batch, CONTEXT)).astype("int32")
    shape = (
        (batch, 3, IMAGE_SIZE, IMAGE_SIZE) if channels_first else (batch, IMAGE_SIZE, IMAGE_SIZE, 3)
    )
    return rng.uniform(-1.0, 1.0, size=shape).astype("float32")


def keras_model(library, key, dtype):
    """The inference model of `key` (a keras.Model taking one array) under `dtype`."""
    import keras

    name, _, kind = MODELS[key]
    if library == "keras_vt":
        import keras_vt

        model = keras_vt.create_model(name, dtype=dtype)
        if key.startswith("clip"):
            model = model.image_encoder if kind == "image" else model.text_encoder
        return model
    import keras_hub

    if key == "vit_b16":
        backbone = keras_hub.models.ViTBackbone(
            image_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
            patch_size=16,
            num_layers=12,
            num_heads=12,
            hidden_dim=768,
            mlp_dim=3072,
            dtype=dtype,
        )
        return keras_hub.models.ViTImageClassifier(
            backbone=backbone,
            num_classes=NUM_CLASSES,
            activation=None,
            preprocessor=None,
            dtype=dtype,
        )
    if key == "deit_s_distilled":
        backbone = keras_hub.models.DeiTBackbone(
            image_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
            patch_size=16,
            num_layers=12,
            num_heads=6,
            hidden_dim=384,
            intermediate_dim=1536,
            dtype=dtype,
        )
        return keras_hub.models.DeiTImageClassifier(
            backbone=backbone, num_classes=NUM_CLASSES, preprocessor=None, dtype=dtype
        )
    vision = keras_hub.models.CLIPVisionEncoder(
        patch_size=32,
        hidden_dim=768,
        num_layers=12,
        num_heads=12,
        intermediate_dim=3072,
        intermediate_activation="quick_gelu",
        image_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
        dtype=dtype,
    )
    text = keras_hub.models.CLIPTextEncoder(
        vocabulary_size=VOCAB,
        embedding_dim=512,
        hidden_dim=512,
        num_layers=12,
        num_heads=8,
        intermediate_dim=2048,
        intermediate_activation="quick_gelu",
        max_sequence_length=CONTEXT,
        dtype=dtype,
    )
    if kind == "image":
        return vision
    inputs = keras.Input((CONTEXT,), dtype="int32")
    return keras.Model(inputs, text({"token_ids": inputs}))


def keras_training(library, key, batch, policy):
    """(compiled model, x, y) for one training step of `key` under dtype policy `policy`."""
    import keras

    keras.config.set_dtype_policy(policy)
    try:
        if key.startswith("clip"):
            if library != "keras_vt":
                return None
            import keras_vt

            model = keras_vt.create_model("clip_vit_b32")
            model.compile(optimizer=keras.optimizers.AdamW(1e-5))
            return model, (batch_inputs("image", batch), batch_inputs("text", batch)), None
        model = keras_model(library, key, None)
        labels = np.random.default_rng(1).integers(0, NUM_CLASSES, size=(batch,))
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if library == "keras_vt" and key == "deit_s_distilled":
            import keras_vt

            teacher = keras_vt.create_model("resnet50")
            model = keras_vt.training.Distiller(model, teacher, mode="hard")
            model.compile(optimizer=keras.optimizers.AdamW(1e-4))
        else:
            model.compile(optimizer=keras.optimizers.AdamW(1e-4), loss=loss)
        return model, batch_inputs("image", batch), labels
    finally:
        keras.config.set_dtype_policy("float32")


def as_fit_passes(data):
    """`data` (NumPy arrays, nested) as `fit` and `predict` hand it to the step function: on
    PyTorch Keras' data adapter gives tensors, while `train_on_batch` and `predict_on_batch` pass
    NumPy arrays through, and a NumPy array inside `torch.compile` breaks the graph at every
    layer call that reads its dtype (a two-block distilled DeiT's training step: 20 breaks and
    10 graphs, against 1 break, at `backward`, and 4 graphs with tensors). Elsewhere unchanged."""
    import keras

    if keras.backend.backend() != "torch":
        return data
    return keras.tree.map_structure(
        lambda a: keras.ops.convert_to_tensor(a) if isinstance(a, np.ndarray) else a, data
    )


def keras_jit(backend, precision, choice="auto"):
    """The compile setting each precision runs best with on each backend (see module docstring),
    unless `choice` (`--jit`) is "on" or "off". On PyTorch "auto" is None: inference is timed
    eager and under `torch.compile` (`jit_compile=True`) and the faster kept (`time_settings`),
    and so is training (`time_training`)."""
    if choice != "auto":
        return choice == "on"
    if backend == "torch":
        return None
    if backend == "tensorflow" and precision == "bfloat16":
        return False
    return True


def worker_keras(args):

    result = {}
    key, precision = args.model, args.precision
    kind = MODELS[key][2]
    dtype = "bfloat16" if precision == "bfloat16" else "float32"
    model = keras_model(args.library, key, dtype)
    if precision == "int8":
        if args.library == "keras_vt":
            import keras_vt

            keras_vt.precision.quantize(model, compile=args.backend == "torch")
        else:
            model.quantize("int8")
    jit = keras_jit(args.backend, precision, args.jit)
    fused = precision == "int8" and args.library == "keras_vt" and args.backend == "torch"
    x = as_fit_passes(batch_inputs(kind, args.batch))

    def setting(compiled):
        def prepare():  # called just before this setting is timed
            model.compile(jit_compile=compiled)  # a new predict function, compiled or not
            return lambda: model.predict_on_batch(x)

        name = f"{dtype}{' + int8' if precision == 'int8' else ''}, jit_compile={compiled}"
        return name + (", int8 Dense compiled (quantize(compile=True))" if fused else ""), prepare

    result.update(time_settings([setting(c) for c in jit_choices(jit)], args))
    if args.train_repeats and precision != "int8" and kind == "image":
        policy = "mixed_bfloat16" if precision == "bfloat16" else "float32"

        def training(compiled):
            def prepare():  # a fresh model: jit_compile is read when the train function is made
                made = keras_training(args.library, key, args.batch, policy)
                if made is None:
                    return None
                model, (x, y) = made[0], as_fit_passes(made[1:])
                model.jit_compile = compiled
                return lambda: model.train_on_batch(*((x,) if y is None else (x, y)))

            return f"{policy}, AdamW, jit_compile={compiled}", prepare

        result.update(time_training(training, keras_jit(args.backend, precision, args.jit), args))
    return result


def time_settings(settings, args, kind="inference"):
    """Times each (name, prepare) of `settings` in turn: `prepare()` sets the setting up just
    before its timing and returns the call to time (`time_calls`, warm-up included, so a
    compiled setting's compilation is its first call), or None where the setting does not apply
    (then nothing is returned). Keeps the fastest as `kind` (`inference` or `training`) and its
    name as `setting` (`training_setting`); every setting's timing stays under
    `{kind}_by_setting`, and the error of a setting that failed while another ran under
    `failed_settings` (`failed_training_settings`)."""
    warmup, repeats = (
        (args.warmup, args.repeats) if kind == "inference" else (2, args.train_repeats)
    )
    timed, failed = {}, {}
    for name, prepare in settings:
        try:
            call = prepare()
            if call is None:
                return {}
            timed[name] = time_calls(call, warmup, repeats, f"{args.tag} {kind}")
        except Exception as error:  # a setting that cannot run (e.g. a compiler error) is reported
            if len(settings) == 1:
                raise
            failed[name] = f"{type(error).__name__}: {str(error)[-300:]}"
    if not timed:
        raise RuntimeError(f"no setting ran: {failed}")
    best = min(timed, key=lambda name: timed[name]["median"])
    prefix = "" if kind == "inference" else f"{kind}_"
    result = {f"{prefix}setting": best, kind: timed[best], f"{kind}_by_setting": timed}
    return result | ({f"failed_{prefix}settings": failed} if failed else {})


def jit_choices(jit):
    """The compile settings to time: eager and compiled where `jit` is None (PyTorch's "auto"),
    else the one setting."""
    return (False, True) if jit is None else (jit,)


def time_training(training, jit, args):
    """`time_settings` over the training step `training(compiled)` for `jit_choices(jit)`."""
    return time_settings([training(c) for c in jit_choices(jit)], args, kind="training")


def hf_model(key):
    import transformers as tr

    if key == "vit_b16":
        return tr.ViTForImageClassification(tr.ViTConfig(num_labels=NUM_CLASSES))
    if key == "deit_s_distilled":
        config = tr.DeiTConfig(
            hidden_size=384,
            num_hidden_layers=12,
            num_attention_heads=6,
            intermediate_size=1536,
            num_labels=NUM_CLASSES,
        )
        return tr.DeiTForImageClassificationWithTeacher(config)
    if key == "cvt_13":
        return tr.CvtForImageClassification(tr.CvtConfig(num_labels=NUM_CLASSES))
    config = tr.CLIPConfig()
    return tr.CLIPModel(config)


def hf_training_step(key, model, x, precision, batch):
    """One Hugging Face training step of `key` (AdamW, cross-entropy; DeiT-S distilled with a
    ResNet-50 teacher's hard labels; CLIP with its contrastive loss) as a function; bfloat16
    runs under `torch.autocast`."""
    import torch

    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    labels = torch.from_numpy(np.random.default_rng(1).integers(0, NUM_CLASSES, batch))
    teacher = None
    if key == "deit_s_distilled":
        import transformers as tr

        teacher = tr.ResNetForImageClassification(tr.ResNetConfig(num_labels=NUM_CLASSES)).eval()
    texts = torch.from_numpy(batch_inputs("text", batch)).long()

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", torch.bfloat16, enabled=precision == "bfloat16"):
            if key.startswith("clip"):
                loss = model(input_ids=texts, pixel_values=x, return_loss=True).loss
            elif teacher is not None:
                with torch.no_grad():
                    hard = teacher(pixel_values=x).logits.argmax(-1)
                out = model(pixel_values=x)
                ce = torch.nn.functional.cross_entropy
                loss = 0.5 * ce(out.cls_logits, labels) + 0.5 * ce(out.distillation_logits, hard)
            else:
                loss = torch.nn.functional.cross_entropy(model(pixel_values=x).logits, labels)
        loss.backward()
        optimizer.step()

    return step


def worker_hf(args):
    import torch

    key, precision = args.model, args.precision
    kind = MODELS[key][2]
    torch.manual_seed(0)
    model = hf_model(key).eval()
    x = torch.from_numpy(batch_inputs(kind, args.batch, channels_first=True))
    if kind == "text":
        x = x.long()

    def forward(m, inputs):
        if key.startswith("clip"):
            return (
                m.get_image_features(pixel_values=inputs)
                if kind == "image"
                else (m.get_text_features(input_ids=inputs))
            )
        return m(pixel_values=inputs).logits

    infer_model, inputs = model, x
    if precision == "bfloat16":
        infer_model = hf_model(key).eval().to(torch.bfloat16)
        inputs = x if kind == "text" else x.to(torch.bfloat16)
    elif precision == "int8":
        infer_model = torch.ao.quantization.quantize_dynamic(
            hf_model(key).eval(), {torch.nn.Linear}, dtype=torch.qint8
        )
    base = f"{precision} ({'model.to(bfloat16)' if precision == 'bfloat16' else 'torch.ao dynamic int8' if precision == 'int8' else 'eval'}), inference_mode"

    def setting(compiled):
        def prepare():
            # The whole forward compiled (CLIP's get_*_features included, which compiling the
            # module would leave eager).
            run = functools.partial(forward, infer_model)
            run = torch.compile(run) if compiled else run

            def infer():
                with torch.inference_mode():
                    return run(inputs)

            return infer

        return f"{base}{', torch.compile' if compiled else ', eager'}", prepare

    jit = {"auto": None, "on": True, "off": False}[args.jit]
    result = time_settings([setting(c) for c in jit_choices(jit)], args)
    if args.train_repeats and precision != "int8" and kind == "image":
        base = "float32" if precision == "float32" else "autocast bfloat16"

        def training(compiled):
            def prepare():  # a fresh model and optimizer for each setting
                torch.manual_seed(0)
                step = hf_training_step(key, hf_model(key), x, precision, args.batch)
                return torch.compile(step) if compiled else step

            return f"{base}, AdamW, {'torch.compile' if compiled else 'eager'}", prepare

        result.update(time_training(training, jit, args))
    return result


def worker_matmul(args):
    """float32, bfloat16 and int8 square matmuls on `args.backend`'s framework: GFLOP/s."""
    n, out = args.matmul_size, {}
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, n)).astype("float32")
    i8 = rng.integers(-100, 100, size=(n, n)).astype("int8")
    flops = 2.0 * n**3

    def rate(fn, label):
        stats = time_calls(fn, 2, args.matmul_repeats, label, progress=False)
        return flops / stats["median"] / 1e9

    if args.backend == "torch":
        import torch

        t = torch.from_numpy(a)
        b = t.to(torch.bfloat16)
        q = torch.from_numpy(i8)
        out["float32"] = rate(lambda: t @ t, "torch f32")
        out["bfloat16"] = rate(lambda: b @ b, "torch bf16")
        out["int8"] = rate(lambda: torch._int_mm(q, q), "torch int8")
    elif args.backend == "tensorflow":
        import tensorflow as tf

        t = tf.constant(a)
        b = tf.cast(t, tf.bfloat16)
        xla = tf.function(lambda u, v: u @ v, jit_compile=True)
        q = tf.constant(i8)
        qmm = tf.function(
            lambda u, v: tf.linalg.matmul(u, v, output_type=tf.int32), jit_compile=True
        )
        out["float32"] = rate(lambda: xla(t, t).numpy(), "tf f32")
        out["bfloat16"] = rate(lambda: (b @ b).numpy(), "tf bf16 (oneDNN)")
        out["int8"] = rate(lambda: qmm(q, q).numpy(), "tf int8 (XLA)")
    else:
        import jax
        import jax.numpy as jnp

        t = jnp.asarray(a)
        b = t.astype(jnp.bfloat16)
        q = jnp.asarray(i8)
        mm = jax.jit(lambda u, v: u @ v)
        bmm = jax.jit(lambda u, v: jnp.matmul(u, v, preferred_element_type=jnp.float32))
        qmm = jax.jit(lambda u, v: jnp.matmul(u, v, preferred_element_type=jnp.int32))
        out["float32"] = rate(lambda: mm(t, t).block_until_ready(), "jax f32")
        out["bfloat16"] = rate(lambda: bmm(b, b).block_until_ready(), "jax bf16")
        out["int8"] = rate(lambda: qmm(q, q).block_until_ready(), "jax int8")
    return {"matmul": out}


def worker_flops(args):
    """Forward FLOPs per example of every model key (keras_vt's model under PyTorch)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    out = {}
    for key in args.models:
        model = keras_model("keras_vt", key, "float32")
        x = torch.from_numpy(batch_inputs(MODELS[key][2], 1))
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            model(x, training=False)
        out[key] = int(counter.get_total_flops())
    return {"flops": out}


def run_worker(args):
    settings = set_threads(args.threads)
    if args.library == "matmul":
        result = worker_matmul(args)
    elif args.library == "flops":
        result = worker_flops(args)
    elif args.library == "hf":
        import torch

        torch.set_num_threads(args.threads)
        result = worker_hf(args)
    else:
        result = worker_keras(args)
    result["threads"] = settings
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.worker_output).write_text(json.dumps(result))


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def jobs(args):
    yield "flops", "torch", None, None
    for backend in args.backends:
        yield "matmul", backend, None, None
    if "torch" not in args.backends and "hf" in args.libraries:
        yield "matmul", "torch", None, None
    for key in args.models:
        for precision in args.precisions:
            for library in MODELS[key][1]:
                if library not in args.libraries:
                    continue
                backends = args.backends
                if library == "hf":
                    backends = ("torch",)
                elif library == "keras_hub":
                    backends = [b for b in args.backends if b in args.hub_backends]
                for backend in backends:
                    yield library, backend, key, precision


def run_job(args, library, backend, key, precision):
    tag = "/".join(filter(None, (library, backend, key, precision)))
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--library",
        library,
        "--backend",
        backend,
        "--tag",
        tag,
    ]
    if key:
        argv += ["--model", key, "--precision", precision]
    argv += ["--jit", args.jit]
    for name in (
        "batch",
        "warmup",
        "repeats",
        "train_repeats",
        "threads",
        "matmul_size",
        "matmul_repeats",
    ):
        argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    argv += ["--models", ",".join(args.models)]
    return run_worker_process(argv, backend, ROOT, verbose=args.verbose)


def rate(batch, stats):
    return batch / stats["median"] if stats else None


Row = collections.namedtuple(
    "Row", "key precision library backend inference training rss setting error"
)


def job_rows(batch, results):
    """One `Row` per timed job of `results` (images/s from the medians; `error` set if it failed)."""
    rows = []
    for tag, result in results.items():
        parts = tag.split("/")
        if len(parts) != 4:
            continue
        library, backend, key, precision = parts
        if "error" in result:
            rows.append(Row(key, precision, library, backend, None, None, None, None, "error"))
            continue
        rows.append(
            Row(
                key,
                precision,
                library,
                backend,
                rate(batch, result["inference"]),
                rate(batch, result.get("training")),
                result["peak_rss_mb"],
                "; training: ".join(
                    filter(None, (result.get("setting", ""), result.get("training_setting")))
                ),
                "",
            )
        )
    return rows


def report(args, results):
    flops = results.get("flops/torch", {}).get("flops", {})
    roof = {}
    for tag, result in results.items():
        if tag.startswith("matmul/"):
            for precision, gflops in result.get("matmul", {}).items():
                if gflops > roof.get(precision, (0, ""))[0]:
                    roof[precision] = (gflops, tag.split("/")[1])
    lines = [
        f"# keras-vt bench: batch {args.batch}, {IMAGE_SIZE} px, {args.threads} threads",
        "",
        "Rooflines (best square matmul, n = %d): " % args.matmul_size
        + ", ".join(f"{p} {g:.0f} GFLOP/s ({b})" for p, (g, b) in roof.items()),
        "",
        "| model | precision | library | backend | inference /s | vs HF best | % roofline "
        "| training img/s | peak RSS MB | setting |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = job_rows(args.batch, results)
    summary = {}
    for key in args.models:
        hf_best = max((r[4] or 0 for r in rows if r[0] == key and r[2] == "hf"), default=0)
        for r in rows:
            if r[0] != key:
                continue
            key_, precision, library, backend, inference, training, rss, setting, err = r
            if err:
                lines.append(f"| {key} | {precision} | {library} | {backend} | failed | | | | | |")
                continue
            fraction = ""
            if key in flops and precision in roof:
                fraction = f"{100 * inference * flops[key] / 1e9 / roof[precision][0]:.0f}%"
            vs = f"{inference / hf_best:.2f}x" if hf_best else ""
            train = f"{training:.2f}" if training else ""
            lines.append(
                f"| {key} | {precision} | {library} | {backend} | {inference:.2f} | {vs} | "
                f"{fraction} | {train} | {rss:.0f} | {setting} |"
            )
        best = {}
        for r in rows:
            if r[0] == key and not r[8]:
                best.setdefault(
                    r[2],
                    max(
                        (s for s in rows if s[0] == key and s[2] == r[2] and not s[8]),
                        key=lambda s: s[4],
                    ),
                )
        summary[key] = {
            lib: {"inference": b[4], "precision": b[1], "backend": b[3]} for lib, b in best.items()
        }
    lines += ["", "Best setting of each library per model (inference):", ""]
    for key, libs in summary.items():
        parts = [
            f"{lib} {b['inference']:.2f}/s ({b['precision']}, {b['backend']})"
            for lib, b in libs.items()
        ]
        ratio = ""
        if "keras_vt" in libs and "hf" in libs:
            ratio = (
                f" — keras_vt/HF = {libs['keras_vt']['inference'] / libs['hf']['inference']:.2f}x"
            )
        lines.append(f"- {key}: " + "; ".join(parts) + ratio)
    lines += ["", *compact(args, rows)]
    table = goals(args, rows)
    if table:
        lines += [
            "",
            "Issue 16's goals, from this run:",
            "",
            "| goal | measured | met |",
            "|---|---|---|",
        ]
        lines += [
            f"| {goal} | {measured} | {'yes' if met else 'no' if met is not None else 'n/a'} |"
            for goal, measured, met in table
        ]
    return "\n".join(lines), {
        "rooflines": roof,
        "flops": flops,
        "best": summary,
        "goals": [{"goal": g, "measured": m, "met": ok} for g, m, ok in table],
    }


def compact(args, rows):
    """The README's table: per model and precision, each library's fastest backend (inference
    images/s, and training images/s of that precision's training setting)."""
    libraries = [lib for lib in ("keras_vt", "keras_hub", "hf") if lib in args.libraries]
    names = {"keras_vt": "keras_vt", "keras_hub": "keras-hub", "hf": "HF"}
    lines = [
        "Per model and precision: each library's inference images/s on its fastest backend "
        "(named) and, in brackets, its best training images/s at that precision on any backend "
        "(bfloat16 training is mixed precision):",
        "",
        "| model | precision | "
        + " | ".join(names[lib] for lib in libraries)
        + " | keras_vt / HF |",
        "|---|---|" + "---|" * (len(libraries) + 1),
    ]
    for key in args.models:
        for precision in args.precisions:
            cells, fastest = [], {}
            for lib in libraries:
                mine = [r for r in rows if r[:3] == (key, precision, lib) and not r[8] and r[4]]
                if not mine:
                    cells.append("")
                    continue
                r = max(mine, key=lambda r: r[4])
                fastest[lib] = r[4]
                train = max((m[5] or 0 for m in mine), default=0)
                cells.append(f"{r[4]:.2f} ({r[3]})" + (f" [{train:.2f}]" if train else ""))
            if not fastest:
                continue
            ratio = (
                f"{fastest['keras_vt'] / fastest['hf']:.2f}x"
                if "keras_vt" in fastest and "hf" in fastest
                else ""
            )
            lines.append(f"| {key} | {precision} | " + " | ".join(cells) + f" | {ratio} |")
    return lines


def goals(args, rows):
    """Issue 16's goals as (goal, what this run measured, met: True/False/None if not measured),
    from the run's `job_rows`."""

    def best(what, **where):
        """(highest `what` images/s among the rows matching `where`, "precision backend")."""
        found = [
            r
            for r in rows
            if not r.error
            and getattr(r, what)
            and all(getattr(r, k) == v for k, v in where.items())
        ]
        if not found:
            return None, None
        r = max(found, key=lambda r: getattr(r, what))
        return getattr(r, what), f"{r.precision} {r.backend}"

    def ratio(goal, mine, theirs, target):
        (a, a_set), (b, b_set) = mine, theirs
        if a is None or b is None:
            return goal, "not measured in this run", None
        return goal, f"{a:.2f} ({a_set}) / {b:.2f} ({b_set}) = {a / b:.2f}x", a / b >= target

    out = []
    if "vit_b16" in args.models:
        mine = best("inference", library="keras_vt", key="vit_b16")
        hf = best("inference", library="hf", key="vit_b16")
        out.append(ratio("ViT-B/16 inference, keras_vt best >= 1.1x HF best", mine, hf, 1.1))
        out.append(
            ratio(
                "ViT-B/16 inference, keras_vt best >= 1.1x keras-hub best",
                mine,
                best("inference", library="keras_hub", key="vit_b16"),
                1.1,
            )
        )
        if mine[0] is not None:
            precision = mine[1].split()[0]
            on = sorted(
                (r.backend, r.inference)
                for r in rows
                if (r.library, r.key, r.precision) == ("keras_vt", "vit_b16", precision)
                and not r.error
            )
            fast = [rate for _, rate in on if rate >= 1.1 * (hf[0] or 0)]
            out.append(
                (
                    f"ViT-B/16 best setting ({precision}) >= 1.1x HF best on two Keras backends",
                    ", ".join(f"{backend} {rate:.2f}" for backend, rate in on),
                    len(fast) >= 2,
                )
            )
    for key in args.models:
        if MODELS[key][2] != "image" or "int8" not in args.precisions:
            continue
        int8 = best("inference", library="keras_vt", key=key, precision="int8")
        out.append(
            ratio(
                f"{key} int8 faster than keras_vt float32",
                int8,
                best("inference", library="keras_vt", key=key, precision="float32"),
                1.0 + 1e-9,
            )
        )
        if "hf" in MODELS[key][1]:
            out.append(
                ratio(
                    f"{key} int8 >= 1.0x HF dynamic int8",
                    int8,
                    best("inference", library="hf", key=key, precision="int8"),
                    1.0,
                )
            )
    for key, name, target in (
        ("vit_b16", "ViT-B/16 training step", 1.1),
        ("deit_s_distilled", "DeiT-S distilled training step", 1.1),
        ("clip_b32_image", "CLIP ViT-B/32 contrastive step", 1.1),
    ):
        if key in args.models:
            out.append(
                ratio(
                    f"{name} >= {target}x HF best",
                    best("training", library="keras_vt", key=key),
                    best("training", library="hf", key=key),
                    target,
                )
            )
    if "cvt_13" in args.models:
        hf = best("inference", library="hf", key="cvt_13", precision="float32")
        for backend in args.backends:
            out.append(
                ratio(
                    f"CvT-13 float32 on {backend} >= 1.0x HF float32",
                    best(
                        "inference",
                        library="keras_vt",
                        key="cvt_13",
                        precision="float32",
                        backend=backend,
                    ),
                    hf,
                    1.0,
                )
            )
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="keras-vt bench",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated model keys")
    p.add_argument("--precisions", default=",".join(PRECISIONS), help="comma-separated precisions")
    p.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated Keras backends")
    p.add_argument(
        "--libraries", default="keras_vt,keras_hub,hf", help="comma-separated libraries to compare"
    )
    p.add_argument(
        "--hub-backends",
        default="tensorflow",
        help="Keras backends keras-hub runs on (its fastest at every precision in earlier runs: "
        "TensorFlow; see benchmarks/results/bench_vit_b16.md and throughput.md)",
    )
    p.add_argument(
        "--jit",
        choices=("auto", "on", "off"),
        default="auto",
        help="compilation of the jobs: auto = XLA for float32 and int8 on TensorFlow and JAX, "
        "none for bfloat16 on TensorFlow; on PyTorch (keras_vt, Hugging Face) inference timed "
        "both eager and under torch.compile, the faster kept, training likewise; on/off = the same "
        "for every job",
    )
    p.add_argument("--batch", type=int, default=8, help="images (or captions) per call")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls before timing")
    p.add_argument("--repeats", type=int, default=5, help="timed inference calls")
    p.add_argument("--train-repeats", type=int, default=3, help="timed training steps")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads per worker")
    p.add_argument("--matmul-size", type=int, default=2048, help="n of the n x n roofline matmul")
    p.add_argument("--matmul-repeats", type=int, default=5, help="timed roofline matmuls")
    p.add_argument("--quick", action="store_true", help="smoke run: batch 2, ViT-B/16 and CvT-13")
    p.add_argument("--output", default="bench", help="results/<output>.json and .md")
    p.add_argument("--verbose", action="store_true", help="show the workers' output")
    p.add_argument(
        "--report",
        metavar="JSON",
        help="write the markdown of an earlier run's results JSON again (no timing)",
    )
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("library", "backend", "model", "precision", "tag", "worker_output"):
        p.add_argument(f"--{hidden.replace('_', '-')}", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name, allowed in (
        ("models", MODELS),
        ("precisions", PRECISIONS),
        ("backends", BACKENDS),
        ("hub_backends", BACKENDS),
        ("libraries", ("keras_vt", "keras_hub", "hf")),
    ):
        values = [v for v in getattr(args, name).split(",") if v]
        unknown = [v for v in values if v not in allowed]
        if unknown and not args.worker:
            p.error(
                f"--{name.replace('_', '-')}: unknown {unknown}; expected some of {list(allowed)}"
            )
        setattr(args, name, values)
    for name in ("batch", "repeats", "threads", "matmul_size"):
        if getattr(args, name) < 1:
            p.error(
                f"--{name.replace('_', '-')}: expected a positive integer, got {getattr(args, name)}"
            )
    if args.quick:
        args.batch, args.repeats, args.train_repeats, args.matmul_repeats = 2, 2, 1, 2
        if args.models == list(MODELS):
            args.models = ["vit_b16", "cvt_13"]
    return args


def rewrite_report(path):
    """Rebuilds `<results>.md` from `path`, a results JSON of this script, keeping its provenance."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"keras-vt bench: error: --report: no such file {str(path)!r}")
    data = json.loads(path.read_text())
    if "jobs" not in data or "settings" not in data:
        raise SystemExit(
            f"keras-vt bench: error: --report: {str(path)!r} is not a results file of this "
            "benchmark (expected 'jobs' and 'settings')"
        )
    args = argparse.Namespace(**data["settings"])
    markdown, _ = report(args, data["jobs"])
    write_atomic(path.with_suffix(".md"), markdown.rstrip() + footer(data["provenance"]))
    print(markdown)
    return 0


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0
    if args.report:
        return rewrite_report(args.report)
    from tqdm import tqdm

    started = provenance()
    results = {}
    todo = list(jobs(args))
    bar = tqdm(todo, desc="bench", file=sys.stderr, dynamic_ncols=True)
    for library, backend, key, precision in bar:
        tag = "/".join(filter(None, (library, backend, key, precision)))
        bar.set_postfix_str(tag)
        results[tag] = run_job(args, library, backend, key, precision)
        if "error" in results[tag]:
            tqdm.write(f"{tag} failed: {results[tag]['error'][-400:]}")
    markdown, summary = report(args, results)
    print(markdown)
    write_json(
        args.output,
        {"summary": summary, "jobs": results, "settings": vars(args)},
        started,
        markdown,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
