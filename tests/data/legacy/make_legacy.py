"""Writes the legacy `.keras` files of tests/test_legacy_files.py (run once, with the code of the day).

One tiny model per distinct architecture, saved with the code of commit bbc4cd7 (main on
2026-11-29, before the encoder redesign), with a fixed input and the output it gave. The test
loads each file with today's code and checks that the outputs have not changed.

    KERAS_BACKEND=tensorflow python tests/data/legacy/make_legacy.py
"""

import os
import zipfile

import keras
import numpy as np

import keras_vt

HERE = os.path.dirname(os.path.abspath(__file__))
# Smaller than the registry's tiny configurations, to keep the files small (random weights do
# not compress): 4 px patches of 8 px images, width 16.
SMALL = dict(hidden_dim=16, mlp_dim=32, patch_size=4, image_size=8)
MODELS = {
    "vit_token": ("vit_tiny_patch16_224", SMALL),
    "vit_gap": ("vit_tiny_patch16_224", dict(SMALL, pooling="gap", include_top=False)),
    "deit": ("deit_tiny_patch16_224", SMALL),
    "deit_distilled": ("deit_tiny_distilled_patch16_224", SMALL),
    "cpvt": ("cpvt_tiny", SMALL),
    "cpvt_gap": ("cpvt_tiny_gap", dict(SMALL, peg_positions=(0, 1))),
    "cvt": ("cvt_13", dict(embed_dims=(8, 16, 16), num_heads=(1, 2, 2), image_size=16)),
    "clip_vit": (
        "clip_vit_b16",
        dict(vision_width=16, vision_patch_size=4, image_size=8, text_width=16, embed_dim=8),
    ),
    "clip_rn50": ("clip_rn50", dict(vision_width=4, text_width=16, embed_dim=8, image_size=32)),
    "aa_resnet": ("aa_resnet26", dict(widths=(4, 8, 8, 8), image_size=16)),
}


def inputs_for(model, seed=0):
    rng = np.random.default_rng(seed)
    size = model.image_size
    h, w = (size, size) if isinstance(size, int) else size
    images = rng.normal(size=(2, h, w, 3)).astype("float32")
    if hasattr(model, "context_length"):
        ids = rng.integers(0, model.vocabulary_size, size=(2, model.context_length))
        return images, ids.astype("int32")
    return images


def recompress(path):
    """Re-zips a `.keras` file with deflate (Keras stores it uncompressed); contents unchanged."""
    with zipfile.ZipFile(path) as source:
        items = [(info.filename, source.read(info.filename)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for filename, data in items:
            target.writestr(filename, data)


def main():
    for key, (name, overrides) in MODELS.items():
        keras.utils.set_random_seed(0)
        overrides = dict(overrides)
        if not name.startswith("clip"):
            overrides.setdefault("num_classes", 5)
        model = keras_vt.create_model(name, tiny=True, **overrides)
        x = inputs_for(model)
        out = keras.tree.flatten(model(x))
        arrays = {f"output_{i}": keras.ops.convert_to_numpy(o) for i, o in enumerate(out)}
        path = os.path.join(HERE, f"{key}.keras")
        model.save(path)
        recompress(path)
        np.savez(os.path.join(HERE, f"{key}.npz"), **arrays)
        print(key, name, [a.shape for a in arrays.values()])


if __name__ == "__main__":
    main()
