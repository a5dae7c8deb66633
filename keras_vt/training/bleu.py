"""Corpus BLEU (Papineni et al., 2002) and exact match for captions, in plain Python."""

import collections
import math

from keras_vt import checks


def _ngrams(words, n):
    return collections.Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def _split(text):
    return text.split() if isinstance(text, str) else list(text)


def corpus_bleu(references, hypotheses, max_order=4):
    """Corpus-level BLEU-1..`max_order`, as the captioning papers report it.

    Clipped n-gram precisions are summed over the corpus; BLEU-n is the geometric mean of the
    precisions of orders 1..n times the brevity penalty `min(1, exp(1 - r / c))`, with `r` the
    summed length of the reference closest in length to each hypothesis and `c` the summed
    hypothesis length. No smoothing: a corpus without any matching n-gram of some order scores 0
    from that order on.

    Args:
        references: per hypothesis, a list of reference captions (strings or word lists).
        hypotheses: captions (strings or word lists), one per item of `references`.
        max_order: highest n-gram order.

    Returns:
        A list `[BLEU-1, ..., BLEU-max_order]` of floats in [0, 1].

    Example:

    >>> corpus_bleu([["a red circle on the left"]], ["a red circle on the left"])
    [1.0, 1.0, 1.0, 1.0]
    >>> [round(b, 3) for b in corpus_bleu([["a red circle"]], ["a blue circle"], max_order=2)]
    [0.667, 0.0]
    """
    if len(references) != len(hypotheses):
        raise ValueError(
            f"Expected one list of references per hypothesis, got {len(references)} reference "
            f"lists for {len(hypotheses)} hypotheses."
        )
    if not hypotheses:
        raise ValueError("Expected at least one hypothesis, got none.")
    max_order = checks.check_int("max_order", max_order)
    matches = [0] * max_order
    totals = [0] * max_order
    hyp_length = ref_length = 0
    for refs, hyp in zip(references, hypotheses):
        if isinstance(refs, str):
            raise ValueError(
                f"Expected a list of reference captions per hypothesis, got the string {refs!r}."
            )
        refs = [_split(r) for r in refs]
        hyp = _split(hyp)
        hyp_length += len(hyp)
        ref_length += min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1]
        for n in range(1, max_order + 1):
            counts = _ngrams(hyp, n)
            best = collections.Counter()
            for r in refs:
                best |= _ngrams(r, n)
            matches[n - 1] += sum(min(c, best[g]) for g, c in counts.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    if hyp_length == 0:
        return [0.0] * max_order
    penalty = 1.0 if hyp_length > ref_length else math.exp(1.0 - ref_length / hyp_length)
    scores, log_sum = [], 0.0
    for n in range(max_order):
        if matches[n] == 0 or totals[n] == 0:
            scores.extend([0.0] * (max_order - n))
            break
        log_sum += math.log(matches[n] / totals[n])
        scores.append(penalty * math.exp(log_sum / (n + 1)))
    return scores


def exact_match(references, hypotheses):
    """Fraction of hypotheses equal (word for word) to one of their references.

    Example:

    >>> exact_match([["a red star"], ["two blue rings"]], ["a red star", "two blue ring"])
    0.5
    """
    if len(references) != len(hypotheses) or not hypotheses:
        raise ValueError(
            f"Expected as many reference lists as hypotheses (at least one), got "
            f"{len(references)} and {len(hypotheses)}."
        )
    hits = sum(_split(h) in [_split(r) for r in refs] for refs, h in zip(references, hypotheses))
    return hits / len(hypotheses)
