"""Bring your own checkpoint: convert -> fine-tune -> export -> serve, entirely offline.

    python examples/bring_your_own_checkpoint.py --checkpoint path/to/hf-vit-dir --workdir byoc
    python examples/bring_your_own_checkpoint.py --workdir byoc     # stand-in random checkpoint

`--checkpoint` is a local Hugging Face ViT / DeiT directory (config.json + model.safetensors, as
`save_pretrained` writes it) or a timm ViT/DeiT state dict file. Without it, a small randomly
initialised Hugging Face ViT is saved first as a stand-in (needs transformers and torch), so the
whole path runs on a CPU in about a minute. Nothing is downloaded.

Steps:
1. convert: `keras_vt.convert.convert_checkpoint(src, "converted.keras", num_classes=10)` keeps
   the backbone and puts a fresh 10-class head on it;
2. fine-tune on the built-in shapes data with `model.fit`, save `finetuned.keras`;
3. export a SavedModel whose `serve` signature takes raw uint8 images of any size;
4. serve it from a fresh Python process that imports only TensorFlow, and compare its
   probabilities with the Keras model's.
"""

import argparse
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np

import keras_vt

SERVE = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf

    served = tf.saved_model.load(sys.argv[1])
    images = np.load(sys.argv[2])                      # uint8, any height and width
    probabilities = served.serve(tf.constant(images))["probabilities"].numpy()
    np.save(sys.argv[3], probabilities)
    print("served by a process without keras_vt:", "keras_vt" not in sys.modules)
    """
)


def stand_in_checkpoint(directory):
    """A small random Hugging Face ViT saved with save_pretrained (a stand-in for a download)."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    config = ViTConfig(
        image_size=32,
        patch_size=4,
        hidden_size=96,
        num_hidden_layers=4,
        num_attention_heads=3,
        intermediate_size=384,
        num_labels=1000,
    )
    ViTForImageClassification(config).save_pretrained(directory)
    return directory


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="HF directory or timm state dict (default: stand-in)")
    parser.add_argument("--workdir", default="byoc")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--num-images", type=int, default=2000)
    args = parser.parse_args(argv)
    os.makedirs(args.workdir, exist_ok=True)
    path = lambda name: os.path.join(args.workdir, name)  # noqa: E731

    source = args.checkpoint or stand_in_checkpoint(path("hf-vit"))

    # 1. Convert: architecture from the checkpoint's config, a fresh head for our 10 classes.
    model = keras_vt.convert.convert_checkpoint(source, path("converted.keras"), num_classes=10)
    print(
        f"converted {source} -> {path('converted.keras')}: {type(model).__name__}, "
        f"{keras_vt.count_params(model):,} parameters, image_size {model.image_size}"
    )

    # 2. Fine-tune with model.fit on the built-in shapes data (raw uint8 -> preprocess).
    images, labels = keras_vt.data.make_shapes(args.num_images, image_size=48, seed=0)
    held_images, held_labels = keras_vt.data.make_shapes(500, image_size=48, seed=1)
    model.compile(
        optimizer=keras.optimizers.AdamW(3e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(keras_vt.preprocess(images, model), labels, epochs=args.epochs, batch_size=64)
    _, accuracy = model.evaluate(keras_vt.preprocess(held_images, model), held_labels, verbose=0)
    print(f"held-out accuracy after {args.epochs} epochs: {accuracy:.3f}")
    model.save(path("finetuned.keras"))

    # 3. Export: the serve signature resizes and normalises raw uint8 images in the graph.
    keras_vt.export.export(path("finetuned.keras"), path("served"))

    # 4. Serve from a plain TensorFlow process and compare with Keras on the same preprocessing.
    np.save(path("requests.npy"), held_images[:8])
    with open(path("serve.py"), "w") as f:
        f.write(SERVE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [
            sys.executable,
            path("serve.py"),
            path("served"),
            path("requests.npy"),
            path("served_probabilities.npy"),
        ],
        check=True,
        env=env,
    )
    served = np.load(path("served_probabilities.npy"))
    mean, std = keras_vt.preprocessing.normalization_constants(model)
    x = keras_vt.export.serving_preprocess(held_images[:8], (model.image_size,) * 2, mean, std)
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(model(np.asarray(x))))
    print(
        f"max |served - keras| = {np.abs(served - expected).max():.2e}; "
        f"served predictions {served.argmax(-1).tolist()}, labels {held_labels[:8].tolist()}"
    )


if __name__ == "__main__":
    main()
