"""What the apps share, without Gradio: the models on offer, safe image reading, samples."""

import dataclasses
import glob
import json
import os

import numpy as np

from keras_vt import checks

ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets")
SAMPLE_PATTERN = "sample_*.png"
MAX_UPLOAD_PIXELS = 40_000_000
MAX_SIDE = 1024
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")


# Headless Debian Chromium for the browser test and the README screenshots (demos/screenshots.py):
# never Playwright's own downloaded browsers, and no background traffic.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
)


def chromium_path():
    """The system Chromium (KERAS_VT_CHROMIUM, /usr/bin/chromium or on PATH), or None."""
    import shutil

    path = os.environ.get("KERAS_VT_CHROMIUM", CHROMIUM)
    return path if os.path.exists(path) else shutil.which("chromium")


class ImageError(ValueError):
    """An upload that cannot be used as an image; the message is meant for the user."""


def read_image(path, max_side=MAX_SIDE, max_pixels=MAX_UPLOAD_PIXELS):
    """Reads an uploaded file as RGB uint8, downscaled so that its longer side is <= `max_side`.

    Raises `ImageError` (a `ValueError`) with a message for the user when the file is not an
    image, is corrupt, or has more than `max_pixels` pixels (decompression bombs).
    """
    from PIL import Image, UnidentifiedImageError

    if path is None:
        raise ImageError("No image: upload one or pick a sample.")
    path = os.fspath(path)
    name = os.path.basename(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(
                    f"{name} is {width}x{height} pixels: more than the {max_pixels:,} this app "
                    "accepts. Use a smaller image."
                )
            image.draft("RGB", (max_side, max_side))
            image = image.convert("RGB")
            image.thumbnail((max_side, max_side))
            return np.asarray(image, dtype="uint8")
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise ImageError(
            f"{name} is not an image this app can read ({error}). Expected a PNG, JPEG, GIF, BMP "
            "or WebP image."
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"{name} could not be decoded as an image ({error}).") from error


def read_upload_or_sample(upload, sample):
    """RGB uint8 of the uploaded file, else of the built-in sample named `sample` (`read_image`:
    an `ImageError` for the user when neither is there or the file is not an image)."""
    path = upload if upload else sample_paths().get(sample)
    if path is None:
        raise ImageError(
            f"No image: upload={upload!r} and sample={sample!r}. Expected an uploaded image or "
            "a sample name."
        )
    return read_image(path)


def center_square(image):
    """The central square crop of an (h, w, 3) image."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return image[top : top + side, left : left + side]


def resize(image, size, resample="bilinear"):
    """PIL resize of an (h, w, 3) uint8 image to `size` = (height, width)."""
    from PIL import Image

    method = {"bilinear": Image.BILINEAR, "nearest": Image.NEAREST, "bicubic": Image.BICUBIC}
    pil = Image.fromarray(np.asarray(image, dtype="uint8"))
    return np.asarray(pil.resize((int(size[1]), int(size[0])), method[resample]))


def sample_paths():
    """{name: path} of the sample images shipped in keras_vt/assets."""
    paths = sorted(glob.glob(os.path.join(ASSETS, SAMPLE_PATTERN)))
    return {os.path.basename(p)[len("sample_") : -len(".png")]: p for p in paths}


def embedded_manifests():
    """The embedded models' manifests (keras_vt/assets/explorer_*.json), by display name."""
    manifests = {}
    for path in sorted(glob.glob(os.path.join(ASSETS, "explorer_*.json"))):
        with open(path) as file:
            manifest = json.load(file)
        manifest["weights_path"] = os.path.join(ASSETS, manifest["weights"])
        manifests[manifest["display_name"]] = manifest
    return manifests


@dataclasses.dataclass
class Entry:
    """A model on offer: how to build it and, once built, the model itself."""

    name: str
    model_name: str = None
    weights: str = None
    overrides: dict = dataclasses.field(default_factory=dict)
    class_names: list = None
    note: str = ""
    model: object = None


class ModelBank:
    """The models an app offers, built lazily and cached.

    By default the embedded models (trained on the built-in shapes data, shipped in
    keras_vt/assets); `model` (a registered name) and `weights` (a `.weights.h5` or `.keras`
    path, or a hub checkpoint `hf://ORG/NAME[@REVISION]` / `timm/NAME`, downloaded, converted and
    cached by `keras_vt.convert.hub`; without `model` its family comes from its `config.json`)
    add one more, which becomes the default choice.

    Example:

    >>> bank = ModelBank()
    >>> bank.names()
    ['cpvt_mini (shapes)']
    """

    def __init__(self, model=None, weights=None, include_embedded=True):
        self.entries = {}
        if model is not None or weights is not None:
            entry = self._user_entry(model, weights)
            self.entries[entry.name] = entry
        if include_embedded:
            for name, manifest in embedded_manifests().items():
                self.entries[name] = Entry(
                    name=name,
                    model_name=manifest["model"],
                    weights=manifest["weights_path"],
                    overrides=dict(manifest.get("overrides", {})),
                    class_names=list(manifest["class_names"]),
                    note=manifest.get("note", ""),
                )
        if not self.entries:
            raise ValueError(
                "No model to explore: no embedded model in keras_vt/assets and no model given "
                "(pass model='vit_tiny_patch16_224' or --model NAME)."
            )

    @staticmethod
    def _user_entry(model, weights):
        from keras_vt.convert.hub import is_hub_name, parse_hub_name
        from keras_vt.models.registry import get_spec

        if is_hub_name(weights):
            parse_hub_name(weights)  # a malformed name is an error now, not at the first request
            if model is not None:
                get_spec(model)
            label = f"{model} ({weights})" if model else weights
            return Entry(name=label, model_name=model, weights=weights)
        if weights is not None:
            weights = checks.check_weights_file(weights)
        if model is None:
            if not weights.endswith(".keras"):
                raise ValueError(
                    f"weights={weights!r} is a '.weights.h5' file: pass the registered model name "
                    "it belongs to as model (--model NAME)."
                )
            return Entry(name=os.path.basename(weights), weights=weights)
        get_spec(model)
        note = "" if weights else "random weights: its maps show the architecture, not learning"
        label = f"{model} ({os.path.basename(weights)})" if weights else f"{model} (random)"
        return Entry(name=label, model_name=model, weights=weights, note=note)

    def names(self):
        return list(self.entries)

    def entry(self, name):
        if name not in self.entries:
            raise checks.unknown("model", name, self.names())
        entry = self.entries[name]
        if entry.model is None:
            entry.model = self._build(entry)
            if entry.class_names is None:
                classes = getattr(entry.model, "num_classes", None) or 0
                entry.class_names = [f"class {i}" for i in range(classes)]
        return entry

    def get(self, name):
        return self.entry(name).model

    @staticmethod
    def _build(entry):
        import keras

        from keras_vt.convert.hub import is_hub_name, load_pretrained
        from keras_vt.models.registry import create_model, load_weights

        if entry.model_name is None:
            if is_hub_name(entry.weights):  # family and size from the checkpoint's config.json
                return load_pretrained(entry.weights)
            return keras.saving.load_model(entry.weights, compile=False)
        model = create_model(entry.model_name, **entry.overrides)
        if entry.weights is not None:
            load_weights(model, entry.weights)
        return model


def model_input(image, model):
    """(display crop as uint8, preprocessed (1, s, s, 3) batch) of an RGB uint8 image."""
    import keras

    from keras_vt.preprocessing import preprocess

    square = center_square(image)
    batch = preprocess(square[None], model)
    return square, np.asarray(keras.ops.convert_to_numpy(batch), dtype="float32")


def image_size_of(model):
    size = getattr(model, "image_size", None) or model.input_shape[1]
    return (size, size) if isinstance(size, int) else tuple(size)
