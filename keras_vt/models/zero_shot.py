"""Zero-shot classification with a CLIP model: classes described by text prompts."""

import keras
import numpy as np
from keras import ops

from keras_vt import checks


def class_embeddings(clip, class_names, templates, tokenizer):
    """(num_classes, embed_dim) prompt-ensembled class embeddings, as CLIP's zero-shot recipe.

    For each class, every template is filled with the class name, tokenized and encoded; the
    text embeddings are L2-normalised, averaged over the templates and re-normalised.
    """
    if not class_names:
        raise checks.invalid("class_names", class_names, "at least one class name")
    if isinstance(templates, str):
        templates = [templates]
    if not templates or any("{}" not in t for t in templates):
        raise checks.invalid(
            "templates",
            templates,
            "a non-empty list of strings with one '{}' slot for the class name, e.g. 'a photo of a {}.'",
        )
    rows = []
    for name in class_names:
        ids = np.asarray(tokenizer([t.format(name) for t in templates]))
        emb = np.asarray(ops.convert_to_numpy(clip.encode_text(ids)), dtype="float64")
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        mean = emb.mean(axis=0)
        rows.append(mean / np.linalg.norm(mean))
    return np.stack(rows).astype("float32")


class ZeroShotClassifier(keras.Model):
    """Classifies images by their similarity to text prompts of each class (CLIP zero-shot).

    The class embeddings are computed once, at construction, with prompt ensembling (see
    `class_embeddings`). The model maps preprocessed images to logits
    `scale * normalise(image_encoder(images)) @ class_embeddings.T`, where `scale` is 100 as in
    CLIP's zero-shot evaluation (`logit_scale=100.0`, the default), the CLIP model's learned,
    clamped scale (`logit_scale="learned"`), or any positive number. The scale changes the
    softmax probabilities, never the predicted class.

    Args:
        clip: a `keras_vt` CLIP model.
        class_names: list of class names, inserted into the templates.
        templates: list of prompt templates with one "{}" slot, e.g. ["a photo of {}."].
        tokenizer: a callable from a list of strings to (batch, clip.context_length) token ids,
            e.g. a `keras_vt.text.ClipTokenizer` or `CaptionTokenizer`.
        logit_scale: 100.0, "learned", or a positive float.

    Example:

    ```python
    classifier = keras_vt.ZeroShotClassifier(
        clip, ["cat", "dog"], ["a photo of a {}.", "a drawing of a {}."], tokenizer)
    classifier.predict(images).argmax(-1)
    ```
    """

    def __init__(self, clip, class_names, templates, tokenizer, logit_scale=100.0, name=None):
        if logit_scale == "learned":
            scale = float(ops.convert_to_numpy(clip.scale()))
        elif isinstance(logit_scale, (int, float)) and logit_scale > 0:
            scale = float(logit_scale)
        else:
            raise checks.invalid("logit_scale", logit_scale, "a positive number or 'learned'")
        classes = class_embeddings(clip, list(class_names), templates, tokenizer)
        images = keras.Input(clip.image_encoder.input.shape[1:], name="images")
        features = keras.layers.UnitNormalization(name="normalize")(clip.image_encoder(images))
        head = keras.layers.Dense(len(class_names), use_bias=False, trainable=False, name="classes")
        logits = head(features)
        head.kernel.assign(scale * classes.T)
        super().__init__(inputs=images, outputs=logits, name=name or "zero_shot_classifier")
        self.class_names = list(class_names)
        self.templates = list(templates) if not isinstance(templates, str) else [templates]
        self.logit_scale = scale
        self.class_embeddings = classes
        self.image_size = clip.image_size
        self.normalization = clip.normalization
