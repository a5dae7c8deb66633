"""Retrieval metrics of paired items: recall at K, median and mean rank, both directions (numpy).

Ties are broken by averaging, as the MMT and Collaborative Experts evaluation code does: a query
whose match scores equal to `t` distractors gets the mean of the `t + 1` tied positions, so a
constant similarity matrix scores as chance, not as perfect retrieval.
"""

import numpy as np


def query_ranks(similarity):
    """1-based rank of the match of each query, ties averaged.

    Row i of `similarity` holds query i's scores against every candidate; candidate i is its match.
    The rank is `1 + (#candidates scoring higher) + (#other candidates scoring equal) / 2`, the mean
    of the positions the tied group occupies.

    Example:

    >>> keras_vt.training.retrieval.query_ranks(np.array([[1.0, 1.0], [0.0, 2.0]]))
    array([1.5, 1. ])
    """
    similarity = np.asarray(similarity, dtype="float64")
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(
            "Expected a square (queries, candidates) similarity matrix whose diagonal holds the "
            f"matches, got similarity of shape {similarity.shape}."
        )
    if not np.all(np.isfinite(similarity)):
        raise ValueError("Expected finite similarity scores, got NaN or infinite entries.")
    correct = np.diagonal(similarity)[:, None]
    higher = np.sum(similarity > correct, axis=1)
    tied_others = np.sum(similarity == correct, axis=1) - 1
    return 1.0 + higher + tied_others / 2.0


def ranking_metrics(similarity, ks=(1, 5, 10), prefix=""):
    """R@K (fractions), median and mean rank of the queries in the rows of `similarity`.

    Example:

    >>> metrics = keras_vt.training.retrieval.ranking_metrics(np.eye(3), ks=(1,))
    >>> metrics["R@1"], metrics["median_rank"], metrics["mean_rank"]
    (1.0, 1.0, 1.0)
    >>> keras_vt.training.retrieval.ranking_metrics(np.ones((4, 4)), ks=(1,))["median_rank"]
    2.5
    """
    ranks = query_ranks(similarity)
    metrics = {f"{prefix}R@{k}": float(np.mean(ranks <= k)) for k in ks}
    metrics[f"{prefix}median_rank"] = float(np.median(ranks))
    metrics[f"{prefix}mean_rank"] = float(np.mean(ranks))
    return metrics


def retrieval_metrics(image_embeddings, text_embeddings, ks=(1, 5, 10)):
    """Recall@K, median and mean rank of image->text and text->image retrieval.

    Image i and text i are a pair; every other text (image) of the set is a distractor. The
    embeddings are L2-normalised here, so raw tower features work too. Ties are broken by
    averaging (see `query_ranks`): identical embeddings for every item give chance-level recall.
    Duplicate captions in a set are distinct candidates here; deduplicate the set first if two
    items may share a caption.

    Args:
        image_embeddings: (n, dim) array.
        text_embeddings: (n, dim) array, text i describing image i.
        ks: the K of recall@K.

    Returns:
        A dict with "image_to_text_R@K", "text_to_image_R@K" (fractions in [0, 1]) and
        "{direction}_median_rank", "{direction}_mean_rank" (1 = always first).

    Example:

    >>> x = np.eye(4)
    >>> keras_vt.training.retrieval_metrics(x, x)["image_to_text_R@1"]
    1.0
    >>> keras_vt.training.retrieval_metrics(np.ones((4, 2)), np.ones((4, 2)))["image_to_text_R@1"]
    0.0
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
        metrics.update(ranking_metrics(matrix, ks, prefix=f"{direction}_"))
    return metrics
