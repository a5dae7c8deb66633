"""A user's own images, one sub-folder per class, with the conventions of the built-in sets."""

import os

import numpy as np

from keras_vt import checks

# --------------------------------------------------------------------------------------------
# User images
# --------------------------------------------------------------------------------------------


def image_folder_dataset(
    directory, image_size, batch_size=32, validation_split=None, subset=None, seed=0
):
    """Loads a folder of images, one sub-folder per class, as a `tf.data.Dataset`.

    A thin wrapper over `keras.utils.image_dataset_from_directory` with the conventions of
    `shapes_dataset`: images resized to `image_size` (bilinear), float32 in `[0, 1]`, labels
    int32 class indices (sub-folders in alphabetical order), shuffled with `seed`.

    Args:
        directory: path to a folder that holds one sub-folder of images per class.
        image_size: output size, an int or a `(height, width)` pair.
        batch_size: images per batch, >= 1.
        validation_split: optional fraction in (0, 1) of the images to hold out.
        subset: with `validation_split`, `"training"`, `"validation"` or `"both"`.
        seed: seed of the shuffling and of the split.

    Returns:
        `(dataset, class_names)`; with `subset="both"`, `dataset` is a
        `(training, validation)` pair.

    Example:

    ```python
    train, class_names = image_folder_dataset(
        "flowers/", 224, validation_split=0.1, subset="training"
    )
    ```
    """
    if not os.path.isdir(directory):
        raise checks.invalid("directory", directory, "an existing folder")
    has_class_folder = any(
        entry.is_dir() and not entry.name.startswith(".") for entry in os.scandir(directory)
    )
    if not has_class_folder:
        raise checks.invalid(
            "directory",
            directory,
            "a folder holding one sub-folder of images per class",
            problem=f"directory={directory!r} has no sub-folders",
        )
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    if (
        not isinstance(image_size, (tuple, list))
        or len(image_size) != 2
        or any(_not_positive_int(s) for s in image_size)
    ):
        raise checks.invalid(
            "image_size", image_size, "a positive int or a (height, width) pair of them"
        )
    batch_size = checks.check_int("batch_size", batch_size)
    _check_images_decode(directory)
    import keras

    loaded = keras.utils.image_dataset_from_directory(
        directory,
        labels="inferred",
        label_mode="int",
        image_size=tuple(int(s) for s in image_size),
        batch_size=batch_size,
        shuffle=True,
        seed=seed,
        validation_split=validation_split,
        subset=subset,
    )
    if subset == "both":
        class_names = list(loaded[0].class_names)
        dataset = tuple(_unit_range(ds) for ds in loaded)
    else:
        class_names = list(loaded.class_names)
        dataset = _unit_range(loaded)
    return dataset, class_names


IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # what Keras' loader reads


def image_problem(path):
    """Why the image file at `path` cannot be decoded (None when it looks whole).

    Checks the signature of every format Keras' loader reads and, for PNG (chunk CRCs up to
    IEND) and JPEG (end-of-image marker), that the file is complete: the damage that otherwise
    stops training with a TensorFlow traceback at the batch that holds the file.

    Example:

    >>> image_problem(keras_vt.apps.common.sample_paths()["circle"]) is None
    True
    """
    import struct
    import zlib

    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        offset = 8
        while offset + 12 <= len(data):
            (length,) = struct.unpack(">I", data[offset : offset + 4])
            kind = data[offset + 4 : offset + 8]
            end = offset + 12 + length
            if end > len(data):
                return f"PNG truncated in chunk {kind.decode('latin-1')!r}"
            (crc,) = struct.unpack(">I", data[end - 4 : end])
            if zlib.crc32(data[offset + 4 : end - 4]) != crc:
                return f"PNG chunk {kind.decode('latin-1')!r} fails its CRC"
            if kind == b"IEND":
                return None
            offset = end
        return "PNG truncated (no IEND chunk)"
    if data.startswith(b"\xff\xd8"):
        # an end-of-image marker anywhere: cameras append trailers after it
        return None if b"\xff\xd9" in data[2:] else "JPEG truncated (no end-of-image marker)"
    if data.startswith((b"GIF87a", b"GIF89a", b"BM")):
        return None
    return "not a PNG, JPEG, GIF or BMP file"


def _check_images_decode(directory):
    """Raises a `ValueError` naming the image files of `directory`'s class folders that cannot be
    decoded, before any training."""
    bad = []
    for root, _, files in sorted(os.walk(directory)):
        for name in sorted(files):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                path = os.path.join(root, name)
                problem = image_problem(path)
                if problem:
                    bad.append(f"{path!r} ({problem})")
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise ValueError(
            f"Invalid directory: directory={directory!r} holds {len(bad)} image file(s) that "
            f"cannot be decoded: {shown}. Expected readable images: remove or replace them."
        )


def _not_positive_int(value):
    return not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1


def _unit_range(ds):
    import tensorflow as tf

    return ds.map(lambda x, y: (x / 255.0, y), num_parallel_calls=tf.data.AUTOTUNE)
