"""Retrieval metrics of paired embeddings: recall at K and median rank, both directions (numpy)."""

import numpy as np


def _ranks(similarity):
    """1-based rank of the matching column i in each row i of a square similarity matrix."""
    correct = np.diagonal(similarity)[:, None]
    return 1 + np.sum(similarity > correct, axis=1)


def retrieval_metrics(image_embeddings, text_embeddings, ks=(1, 5, 10)):
    """Recall@K and median rank of image->text and text->image retrieval.

    Image i and text i are a pair; every other text (image) of the set is a distractor. The
    embeddings are L2-normalised here, so raw tower features work too. Ties count against the
    query (a distractor scoring equal to the match ranks above it is not counted; strictly
    greater scores are).

    Args:
        image_embeddings: (n, dim) array.
        text_embeddings: (n, dim) array, text i describing image i.
        ks: the K of recall@K.

    Returns:
        A dict with "image_to_text_R@K", "text_to_image_R@K" (fractions in [0, 1]) and
        "image_to_text_median_rank", "text_to_image_median_rank" (1 = always first).

    Example:

    >>> x = np.eye(4)
    >>> keras_vt.training.retrieval_metrics(x, x)["image_to_text_R@1"]
    1.0
    """
    images = np.asarray(image_embeddings, dtype="float64")
    texts = np.asarray(text_embeddings, dtype="float64")
    if images.ndim != 2 or texts.ndim != 2 or images.shape != texts.shape:
        raise ValueError(
            "Expected paired (n, dim) image_embeddings and text_embeddings of the same shape, got "
            f"image_embeddings {images.shape} and text_embeddings {texts.shape}."
        )
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    similarity = images @ texts.T
    metrics = {}
    for direction, matrix in (("image_to_text", similarity), ("text_to_image", similarity.T)):
        ranks = _ranks(matrix)
        for k in ks:
            metrics[f"{direction}_R@{k}"] = float(np.mean(ranks <= k))
        metrics[f"{direction}_median_rank"] = float(np.median(ranks))
    return metrics
