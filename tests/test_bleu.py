"""Corpus BLEU and exact match, checked against values computed by hand."""

import math

import pytest

from keras_vt.training.bleu import corpus_bleu, exact_match


def test_identical_captions_score_one():
    refs = [["a red circle on the left"], ["two small blue stars at the top"]]
    hyps = ["a red circle on the left", "two small blue stars at the top"]
    assert corpus_bleu(refs, hyps) == pytest.approx([1.0] * 4)
    assert exact_match(refs, hyps) == 1.0


def test_brevity_penalty():
    # Every n-gram matches, but the hypothesis has 2 words for a 6-word reference: exp(1 - 6/2).
    bleu = corpus_bleu([["the cat is on the mat"]], ["the cat"], max_order=2)
    assert bleu == pytest.approx([math.exp(-2.0)] * 2)


def test_clipped_counts_and_geometric_mean():
    # "the" is clipped to its single reference count: p1 = 1/4 (no brevity penalty, 4 > 2).
    assert corpus_bleu([["the cat"]], ["the the the the"], max_order=1) == pytest.approx([0.25])
    # p1 = 4/5, p2 = 2/4 ("a red", "red circle"); c = 5 < r = 6: penalty exp(1 - 6/5).
    bleu = corpus_bleu([["a red circle on the left"]], ["a red circle at left"], max_order=2)
    penalty = math.exp(1 - 6 / 5)
    assert bleu == pytest.approx([penalty * 0.8, penalty * math.sqrt(0.8 * 0.5)])


def test_corpus_level_sums_before_dividing():
    refs = [["a b c d"], ["e f"]]
    hyps = ["a b c d", "e g"]  # p1 = 5/6, p2 = 3/4, c = r = 6
    assert corpus_bleu(refs, hyps, max_order=2) == pytest.approx([5 / 6, math.sqrt(5 / 6 * 3 / 4)])


def test_closest_reference_length_and_multiple_references():
    refs = [["a b c d e f g", "a b c"]]
    assert corpus_bleu(refs, ["a b c"], max_order=1) == pytest.approx([1.0])


def test_bad_input():
    with pytest.raises(ValueError, match="one list of references per hypothesis"):
        corpus_bleu([["a"]], ["a", "b"])
    with pytest.raises(ValueError, match="max_order=0"):
        corpus_bleu([["a"]], ["a"], max_order=0)
    with pytest.raises(ValueError, match="list of reference captions"):
        corpus_bleu(["a b"], ["a b"])
