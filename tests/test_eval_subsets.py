"""The fixed-seed subsets behind the pair- and anchor-count curves (benchmarks/transfer_levers.py): pure
functions on the shipped files, no model."""
from __future__ import annotations

from collections import Counter

import pytest

from crosssteer.directions.pipeline import fit_and_heldout
from crosssteer.directions.prompts import CATEGORIES, load_anchors, load_pairs
from crosssteer.directions.transfer_eval import split_anchors, subset_pairs, subset_texts


def test_pair_subsets_are_stratified_nested_and_fixed():
    fit, _held = fit_and_heldout(load_pairs("default"))
    sizes = {n: subset_pairs(fit, n) for n in (35, 70, 140)}
    for n, subset in sizes.items():
        counts = Counter(p.category for p in subset)
        assert set(counts) == set(CATEGORIES) and abs(len(subset) - n) <= len(CATEGORIES)
        assert max(counts.values()) - min(counts.values()) <= 2, counts
        assert subset == subset_pairs(fit, n)  # the same pairs every run
    assert set(sizes[35]) <= set(sizes[70]) <= set(sizes[140]) <= set(fit)
    assert subset_pairs(fit, len(fit) + 5) == fit
    with pytest.raises(ValueError, match="at least 2 pairs per category"):
        subset_pairs(fit, 10)


def test_anchor_subsets_are_nested_and_never_touch_the_benign_tests():
    align, benign = split_anchors(load_anchors("default"))
    small, large = subset_texts(align, 250), subset_texts(align, 1000)
    assert len(small) == 250 and len(large) == 1000 and set(small) <= set(large) <= set(align)
    assert not set(large) & set(benign)
    assert small == subset_texts(align, 250)
    with pytest.raises(ValueError, match="at least 10"):
        subset_texts(align, 3)
