"""Is keras_vt's ViT a slow learner, or is something wrong? Train the same ViT in Hugging Face /
PyTorch and in keras_vt, on the same batches with the same optimiser and schedule, and compare.

Three runs of one small ViT (patch 4 on 32 px shapes, flat backgrounds, 10 classes):

- `hf`: transformers' `ViTForImageClassification` (its own initialisation), trained with
  `torch.optim.AdamW` and the warm-up + cosine schedule computed step by step;
- `keras_vt_same_init`: that very model at step 0, converted to keras_vt
  (`keras_vt.convert.convert_hf_vit`), trained with `keras.optimizers.AdamW` on the same batches
  and learning rates. Its loss must follow the `hf` curve (any gap is a keras_vt defect: in the
  model, the loss, the optimiser or the schedule);
- `keras_vt`: `keras_vt.create_model` with keras_vt's own initialisation (timm's), same training.
  Any gap to `hf` is the initialisation's.

Prints the training-loss curves (mean over every `--log-every` steps) and the held-out accuracy,
and writes them with date, machine and load average to `benchmarks/results/<--output>.json`
(default `vit_vs_hf`). Run from the repository root:

    python benchmarks/vit_vs_hf_curves.py --steps 300
"""

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.results_io import provenance, write_json  # noqa: E402


def lr_at(step, peak, warmup, total):
    """Linear warm-up from 0, then cosine decay to 0 (keras `CosineDecay` with warm-up)."""
    if step < warmup:
        return peak * step / warmup
    progress = min(step - warmup, total - warmup) / max(total - warmup, 1)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--num-val", type=int, default=1000)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--clutter", action="store_true", help="cluttered backgrounds")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--mlp", type=int, default=128)
    parser.add_argument("--output", default="vit_vs_hf", help="results/<output>.json")
    args = parser.parse_args(argv)
    started = provenance()

    import keras
    import torch
    import transformers

    import keras_vt
    from keras_vt.convert import convert_hf_vit

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    n_train = args.steps * args.batch_size
    images, labels = keras_vt.data.make_shapes(
        n_train + args.num_val, 32, seed=0, clutter=args.clutter
    )
    x = ((images.astype("float32") / 255.0 - 0.5) / 0.5).astype("float32")  # ViT: inception
    x_train, y_train = x[:n_train], labels[:n_train].astype("int64")
    x_val, y_val = x[n_train:], labels[n_train:]
    config = transformers.ViTConfig(
        hidden_size=args.hidden,
        num_hidden_layers=args.depth,
        num_attention_heads=args.heads,
        intermediate_size=args.mlp,
        image_size=32,
        patch_size=4,
        num_labels=10,
        layer_norm_eps=1e-6,
    )
    torch.manual_seed(0)
    hf = transformers.ViTForImageClassification(config).train()
    keras.utils.set_random_seed(0)
    state = {k: v.detach().clone() for k, v in hf.state_dict().items()}
    same_init = convert_hf_vit((dict(config.to_dict(), model_type="vit"), state))
    own_init = keras_vt.create_model(
        "vit_mini_patch4_32",
        num_classes=10,
        hidden_dim=args.hidden,
        depth=args.depth,
        num_heads=args.heads,
        mlp_dim=args.mlp,
        layer_norm_epsilon=1e-6,
    )
    steps, warmup, peak = args.steps, args.warmup, args.learning_rate
    curves, accuracy, seconds = {}, {}, {}

    def batches():
        for step in range(steps):
            take = slice(step * args.batch_size, (step + 1) * args.batch_size)
            yield step, x_train[take], y_train[take]

    # Hugging Face / PyTorch.
    start = time.process_time()
    optimizer = torch.optim.AdamW(hf.parameters(), lr=0.0, weight_decay=args.weight_decay, eps=1e-7)
    losses = []
    for step, xb, yb in batches():
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, peak, warmup, steps)
        pixels = torch.from_numpy(np.ascontiguousarray(xb.transpose(0, 3, 1, 2)))
        loss = hf(pixel_values=pixels, labels=torch.from_numpy(yb)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    hf.eval()
    with torch.no_grad():
        logits = hf(pixel_values=torch.from_numpy(x_val.transpose(0, 3, 1, 2))).logits.numpy()
    curves["hf"], accuracy["hf"] = losses, float(np.mean(logits.argmax(-1) == y_val))
    seconds["hf"] = time.process_time() - start

    class Schedule(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = keras.ops.cast(step, "float32")
            warm = peak * step / warmup
            progress = keras.ops.minimum(step - warmup, steps - warmup) / max(steps - warmup, 1)
            cosine = peak * 0.5 * (1.0 + keras.ops.cos(math.pi * progress))
            return keras.ops.where(step < warmup, warm, cosine)

    for name, model in (("keras_vt_same_init", same_init), ("keras_vt", own_init)):
        start = time.process_time()
        model.compile(
            optimizer=keras.optimizers.AdamW(
                Schedule(), weight_decay=args.weight_decay, epsilon=1e-7
            ),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        losses = []
        for _, xb, yb in batches():
            losses.append(float(model.train_on_batch(xb, yb)))
        logits = np.asarray(model.predict(x_val, batch_size=256, verbose=0))
        curves[name], accuracy[name] = losses, float(np.mean(logits.argmax(-1) == y_val))
        seconds[name] = time.process_time() - start

    every = args.log_every
    print(f"mean training loss per {every} steps (batch {args.batch_size}, peak lr {peak}):")
    print("step   " + "  ".join(f"{name:>18}" for name in curves))
    for i in range(0, steps, every):
        row = [np.mean(curve[i : i + every]) for curve in curves.values()]
        print(f"{i + every:<6} " + "  ".join(f"{v:18.4f}" for v in row))
    print("held-out accuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in accuracy.items()))
    print("CPU seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    path = write_json(
        args.output,
        dict(
            args=vars(args),
            backend=keras.backend.backend(),
            held_out_accuracy=accuracy,
            cpu_seconds={k: round(v, 1) for k, v in seconds.items()},
            loss_per_step={k: [round(v, 4) for v in c] for k, c in curves.items()},
        ),
        started,
    )
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
