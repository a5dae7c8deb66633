"""Tests of the built-in data sets (keras_vt.data)."""

import numpy as np
import pytest

from keras_vt.data import shapes as S

# ----------------------------------------------------------------------------- make_shapes


@pytest.mark.parametrize("size", [8, 16, 32, 96])
def test_make_shapes_shapes_and_dtypes(size):
    images, labels = S.make_shapes(24, image_size=size, seed=1)
    assert images.shape == (24, size, size, 3)
    assert images.dtype == np.uint8
    assert labels.shape == (24,)
    assert labels.dtype == np.int32
    assert labels.min() >= 0 and labels.max() < 10


def test_make_shapes_is_deterministic():
    a_images, a_labels = S.make_shapes(50, image_size=24, seed=7)
    b_images, b_labels = S.make_shapes(50, image_size=24, seed=7)
    np.testing.assert_array_equal(a_images, b_images)
    np.testing.assert_array_equal(a_labels, b_labels)


def test_make_shapes_seeds_differ():
    a_images, a_labels = S.make_shapes(50, image_size=24, seed=0)
    b_images, b_labels = S.make_shapes(50, image_size=24, seed=1)
    assert not np.array_equal(a_images, b_images)
    assert not np.array_equal(a_labels, b_labels)


@pytest.mark.parametrize("num_classes", [2, 10, len(S.CLASS_NAMES)])
def test_make_shapes_classes_present_and_balanced(num_classes):
    n = 10 * num_classes + 3
    _, labels = S.make_shapes(n, image_size=8, num_classes=num_classes)
    counts = np.bincount(labels, minlength=num_classes)
    assert len(counts) == num_classes
    assert counts.min() >= 10 and counts.max() - counts.min() <= 1


def test_make_shapes_draws_each_class_on_the_image():
    images, labels = S.make_shapes(40, image_size=48, clutter=False)
    # Without clutter the background is flat: the shape is what differs from the corners.
    flat = images.astype(np.int32)
    corner = flat[:, :1, :1, :]
    changed = np.abs(flat - corner).max(axis=-1) > 40
    fraction = changed.mean(axis=(1, 2))
    assert fraction.min() > 0.03, fraction.min()
    assert fraction.max() < 0.6, fraction.max()
    assert np.bincount(labels).min() == 4


def test_make_shapes_clutter_adds_texture():
    clean, _ = S.make_shapes(20, image_size=32, clutter=False)
    busy, _ = S.make_shapes(20, image_size=32, clutter=True)

    # Pixel-to-pixel differences: zero on a flat background, not on a noisy one.
    def roughness(images):
        return np.abs(np.diff(images.astype(np.int32), axis=2)).mean()

    assert roughness(busy) > 2 * roughness(clean)


def test_make_shapes_uses_the_value_range():
    images, _ = S.make_shapes(200, image_size=16)
    assert images.min() < 20 and images.max() > 235


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_images": 0}, "num_images"),
        ({"num_images": 2.5}, "num_images"),
        ({"num_images": 4, "image_size": 7}, "image_size"),
        ({"num_images": 4, "num_classes": 1}, "num_classes"),
        ({"num_images": 4, "num_classes": len(S.CLASS_NAMES) + 1}, "num_classes"),
        ({"num_images": 4, "seed": -1}, "seed"),
    ],
)
def test_make_shapes_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=f"Invalid {name}: {name}=") as info:
        S.make_shapes(**kwargs)
    assert repr(kwargs[name]) in str(info.value)


# ----------------------------------------------------------------------------- shapes_dataset


def test_shapes_dataset_batches_and_range():
    ds = S.shapes_dataset(70, image_size=16, batch_size=32, seed=3)
    batches = list(ds)
    assert [int(b[0].shape[0]) for b in batches] == [32, 32, 6]
    images, labels = batches[0]
    assert tuple(images.shape) == (32, 16, 16, 3)
    assert images.dtype.name == "float32"
    assert labels.dtype.name == "int32"
    values = np.concatenate([b[0].numpy().ravel() for b in batches])
    assert values.min() >= 0.0 and values.max() <= 1.0
    assert values.max() > 0.9


def test_shapes_dataset_matches_make_shapes_without_shuffle():
    images, labels = S.make_shapes(10, image_size=16, seed=2)
    ds = S.shapes_dataset(10, image_size=16, seed=2, batch_size=10, shuffle=False)
    x, y = next(iter(ds))
    np.testing.assert_allclose(x.numpy(), images / 255.0, atol=1e-6)
    np.testing.assert_array_equal(y.numpy(), labels)


def test_shapes_dataset_drop_remainder_and_bad_batch_size():
    ds = S.shapes_dataset(70, image_size=8, batch_size=32, drop_remainder=True)
    assert len(list(ds)) == 2
    with pytest.raises(ValueError, match="Invalid batch_size: batch_size="):
        S.shapes_dataset(10, batch_size=0)


def test_shapes_dataset_feeds_fit():
    import keras

    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, strides=2),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(S.shapes_dataset(64, image_size=16, batch_size=32), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


# ----------------------------------------------------------------------------- captions


def test_captioned_shapes_structure():
    data = S.make_captioned_shapes(30, image_size=32, seed=0)
    assert data["images"].shape == (30, 32, 32, 3)
    assert data["images"].dtype == np.uint8
    assert len(data["captions"]) == len(data["attributes"]) == 30
    assert data["colour_labels"].dtype == np.int32
    assert data["shape_labels"].dtype == np.int32
    for attrs, colour_id, shape_id in zip(
        data["attributes"], data["colour_labels"], data["shape_labels"]
    ):
        assert set(attrs) == {"colour", "shape", "size", "position", "count"}
        assert attrs["colour"] == S.COLOUR_NAMES[colour_id]
        assert attrs["shape"] == S.CLASS_NAMES[shape_id]
        assert attrs["size"] in S.SIZE_NAMES
        assert attrs["position"] in S.POSITION_NAMES
        assert attrs["count"] in (1, 2, 3)


def test_captions_mention_every_attribute():
    data = S.make_captioned_shapes(200, image_size=16, seed=4)
    counts = {1: ("a ", "an "), 2: ("two ",), 3: ("three ",)}
    for caption, attrs in zip(data["captions"], data["attributes"]):
        singular, plural = S._SHAPE_WORDS[attrs["shape"]]
        noun = singular if attrs["count"] == 1 else plural
        phrase = f"{attrs['size']} {attrs['colour']} {noun}"
        assert phrase in caption
        assert caption.startswith(counts[attrs["count"]])
        assert caption.endswith(S._POSITION_PHRASES[attrs["position"]])


def test_captioned_shapes_cover_the_vocabulary():
    data = S.make_captioned_shapes(400, image_size=16, seed=0)
    attrs = data["attributes"]
    assert {a["colour"] for a in attrs} == set(S.COLOUR_NAMES)
    assert {a["shape"] for a in attrs} == set(S.CLASS_NAMES)
    assert {a["size"] for a in attrs} == set(S.SIZE_NAMES)
    assert {a["position"] for a in attrs} == set(S.POSITION_NAMES)
    assert {a["count"] for a in attrs} == {1, 2, 3}


def test_captioned_shapes_count_matches_drawn_objects():
    data = S.make_captioned_shapes(60, image_size=96, seed=5)
    from scipy import ndimage

    for image, attrs in zip(data["images"], data["attributes"]):
        background = np.median(image.reshape(-1, 3), axis=0)
        mask = np.abs(image.astype(np.int32) - background).max(axis=-1) > 60
        # 8-connected components; the tapering tips of a crescent may leave a stray pixel.
        components, _ = ndimage.label(mask, structure=np.ones((3, 3)))
        areas = np.bincount(components.ravel())[1:]
        assert np.sum(areas >= 5) == attrs["count"], attrs


def test_captioned_shapes_draw_the_named_colour():
    data = S.make_captioned_shapes(60, image_size=64, seed=6)
    for image, colour_id in zip(data["images"], data["colour_labels"]):
        background = np.median(image.reshape(-1, 3), axis=0)
        pixels = image.reshape(-1, 3).astype(np.float32)
        far = pixels[np.abs(pixels - background).max(axis=1) > 80] / 255.0
        distances = np.linalg.norm(far.mean(axis=0) - S._COLOUR_RGB, axis=1)
        assert np.argmin(distances) == colour_id


def test_captioned_shapes_deterministic_and_seeded():
    a = S.make_captioned_shapes(12, image_size=16, seed=9)
    b = S.make_captioned_shapes(12, image_size=16, seed=9)
    c = S.make_captioned_shapes(12, image_size=16, seed=10)
    np.testing.assert_array_equal(a["images"], b["images"])
    assert a["captions"] == b["captions"]
    assert not np.array_equal(a["images"], c["images"])
    assert a["captions"] != c["captions"]


def test_holdout_pairs_never_appear_and_only_gives_only_them():
    held = {("red", "circle"), ("blue", "star"), ("white", "l_shape")}
    train = S.make_captioned_shapes(600, image_size=16, seed=0, holdout=held)
    train_pairs = {(a["colour"], a["shape"]) for a in train["attributes"]}
    assert not train_pairs & held
    assert len(train_pairs) == len(S.COLOUR_NAMES) * len(S.CLASS_NAMES) - len(held)

    test = S.make_captioned_shapes(30, image_size=16, seed=1, only=held)
    test_pairs = [(a["colour"], a["shape"]) for a in test["attributes"]]
    assert set(test_pairs) == held
    assert all(test_pairs.count(p) == 10 for p in held)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_images": 0}, "Invalid num_images: num_images=0"),
        ({"num_images": 2, "image_size": 12}, "Invalid image_size: image_size=12"),
        ({"num_images": 2, "holdout": {("mauve", "circle")}}, "'mauve'"),
        ({"num_images": 2, "only": {("red", "blob")}}, "'blob'"),
        ({"num_images": 2, "only": {("red",)}}, "`only`"),
        ({"num_images": 2, "holdout": 5}, "Invalid holdout: holdout=5"),
        ({"num_images": 2, "only": set()}, "Invalid only: only=set()"),
        (
            {"num_images": 2, "holdout": {("red", "circle")}, "only": {("red", "star")}},
            "not both",
        ),
        (
            {
                "num_images": 2,
                "holdout": {(c, s) for c in S.COLOUR_NAMES for s in S.CLASS_NAMES},
            },
            "every",
        ),
    ],
)
def test_captioned_shapes_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        S.make_captioned_shapes(**kwargs)


def test_prompts():
    assert S.class_prompt("red", "circle") == "a photo of a red circle"
    assert S.class_prompt("orange", "star") == "a photo of an orange star"
    assert S.class_prompt("blue", "l_shape", "a drawing of {}") == "a drawing of a blue L-shape"
    assert S.shape_phrase("green", "cross", "small", 3) == "three small green crosses"
    templates = S.caption_templates()
    assert all(t.count("{}") == 1 for t in templates)
    assert len(set(templates)) == len(templates)
    with pytest.raises(ValueError, match="'teal'"):
        S.class_prompt("teal", "circle")
    with pytest.raises(ValueError, match="`size`"):
        S.shape_phrase("red", "circle", size="huge")


# ----------------------------------------------------------------------------- image folders


def _write_folder(root, classes, per_class=3, size=(20, 12)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def test_image_folder_dataset(tmp_path):
    _write_folder(tmp_path, ["cats", "dogs"])
    ds, class_names = S.image_folder_dataset(str(tmp_path), 16, batch_size=4)
    assert class_names == ["cats", "dogs"]
    batches = list(ds)
    assert sum(int(x.shape[0]) for x, _ in batches) == 6
    images, labels = batches[0]
    assert tuple(images.shape[1:]) == (16, 16, 3)
    assert images.dtype.name == "float32"
    assert labels.dtype.name == "int32"
    values = np.concatenate([x.numpy().ravel() for x, _ in batches])
    assert values.min() >= 0.0 and values.max() <= 1.0 and values.max() > 0.5


def test_image_folder_dataset_split(tmp_path):
    _write_folder(tmp_path, ["a", "b"], per_class=5)
    (train, val), class_names = S.image_folder_dataset(
        tmp_path, (8, 10), batch_size=2, validation_split=0.2, subset="both", seed=1
    )
    assert class_names == ["a", "b"]
    n_train = sum(int(x.shape[0]) for x, _ in train)
    n_val = sum(int(x.shape[0]) for x, _ in val)
    assert (n_train, n_val) == (8, 2)
    assert tuple(next(iter(val))[0].shape[1:]) == (8, 10, 3)


def test_image_folder_dataset_bad_input(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match="Invalid directory: directory=.*nowhere"):
        S.image_folder_dataset(str(missing), 16)
    with pytest.raises(ValueError, match="no sub-folders"):
        S.image_folder_dataset(str(tmp_path), 16)
    _write_folder(tmp_path, ["a"])
    with pytest.raises(ValueError, match="Invalid image_size: image_size="):
        S.image_folder_dataset(str(tmp_path), (16,))
    with pytest.raises(ValueError, match="Invalid image_size: image_size="):
        S.image_folder_dataset(str(tmp_path), 0)


def test_import_is_light():
    import subprocess
    import sys

    # Load the renderer's file on its own (keras_vt.data.shapes re-exports the renderer and the
    # sets built on it), with the package root started as the `keras-vt` command starts it: a
    # plain `import keras_vt` imports every model, and with them keras.
    from keras_vt.data import render

    code = (
        "import importlib.util, sys; sys.argv[0] = 'keras-vt'; "
        f"spec = importlib.util.spec_from_file_location('render', {render.__file__!r}); "
        "spec.loader.exec_module(importlib.util.module_from_spec(spec)); "
        "print(any(m in sys.modules for m in ('tensorflow', 'keras')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _image_keys(dataset):
    """The exact bytes of every image of a (images, labels) tf.data dataset, as a list."""
    return [image.tobytes() for x, _ in dataset for image in np.asarray(x)]


def _assert_disjoint_cover(train, val, total):
    assert len(set(train)) == len(train) and len(set(val)) == len(val)  # no image twice
    assert not set(train) & set(val), "an image is in both the training and validation split"
    assert len(train) + len(val) == total


def test_image_folder_dataset_splits_are_disjoint(tmp_path):
    _write_folder(tmp_path, ["a", "b", "c"], per_class=6)
    (train, val), _ = S.image_folder_dataset(
        tmp_path, (12, 20), batch_size=4, validation_split=0.25, subset="both", seed=3
    )
    _assert_disjoint_cover(_image_keys(train), _image_keys(val), 18)
    # Two calls with one subset each (as `keras-vt train` loads a folder) split the same way.
    alone = [
        S.image_folder_dataset(
            tmp_path, (12, 20), batch_size=4, validation_split=0.25, subset=subset, seed=3
        )[0]
        for subset in ("training", "validation")
    ]
    _assert_disjoint_cover(*(_image_keys(d) for d in alone), 18)
    assert sorted(_image_keys(alone[1])) == sorted(_image_keys(val))


def test_training_splits_of_the_shapes_data_are_disjoint():
    from keras_vt.training.classification import _load

    train, val, _ = _load("shapes", 16, num_images=60, batch_size=8, seed=0)
    keys = [[image.tobytes() for image in split[0]] for split in (train, val)]
    _assert_disjoint_cover(*keys, 72)


def test_captioned_splits_are_disjoint():
    """The CLIP example's sets: training (holdout), held-out (only), held-in test (holdout)."""
    holdout = [("red", "circle"), ("red", "square"), ("green", "square"), ("green", "circle")]
    train = S.make_captioned_shapes(64, 16, seed=0, holdout=holdout)
    heldout = S.make_captioned_shapes(16, 16, seed=1, only=holdout)
    heldin = S.make_captioned_shapes(32, 16, seed=2, holdout=holdout)
    keys = [{image.tobytes() for image in d["images"]} for d in (train, heldout, heldin)]
    assert [len(k) for k in keys] == [64, 16, 32]
    assert not keys[0] & keys[1] and not keys[0] & keys[2] and not keys[1] & keys[2]
    pairs = [{(a["colour"], a["shape"]) for a in d["attributes"]} for d in (train, heldout, heldin)]
    assert not pairs[0] & pairs[1] and not pairs[2] & pairs[1]
