"""The independent evaluation set and the category-vocabulary anchors, read through the pack's loaders.

`directions/data/independent/` (pairs and benign captions) was written by hand for evaluation only and
chose nothing; `directions/data/category_vocab_anchors.jsonl` is benign text that uses the categories'
own words. These tests check their shape and counts, that they repeat neither themselves nor the
shipped sets (exact or word-Jaccard >= 0.8), and that they are more varied than the shipped anchors.
They look at text only: no model, embedding or direction is computed here.
"""
from __future__ import annotations

import fnmatch
import itertools
import json
import tomllib
from pathlib import Path

import pytest

from crosssteer.directions import prompt_stats as S
from crosssteer.directions import prompts as P

ROOT = Path(__file__).resolve().parent.parent
INDEPENDENT_PAIRS = P.DATA_DIR / "independent" / "pairs.jsonl"
INDEPENDENT_CAPTIONS = P.DATA_DIR / "independent" / "captions.jsonl"
VOCAB_ANCHORS = P.DATA_DIR / "category_vocab_anchors.jsonl"
NEW_FILES = (INDEPENDENT_PAIRS, INDEPENDENT_CAPTIONS, VOCAB_ANCHORS)


@pytest.fixture(scope="module")
def sets():
    """Every text group, new and shipped, loaded by the pack's own loaders."""
    independent = P.load_pairs(INDEPENDENT_PAIRS, min_per_category=30)
    shipped = P.load_pairs("default")
    return {
        "independent unsafe": [p.unsafe for p in independent],
        "independent safe": [p.safe for p in independent],
        "independent captions": P.load_anchors(INDEPENDENT_CAPTIONS),
        "category vocabulary anchors": P.load_anchors(VOCAB_ANCHORS),
        "shipped unsafe": [p.unsafe for p in shipped],
        "shipped safe": [p.safe for p in shipped],
        "shipped anchors": P.load_anchors("templates"),  # "default" holds the vocabulary anchors too
    }


def test_independent_pairs_cover_every_category_and_are_all_held_out():
    pairs = P.load_pairs(INDEPENDENT_PAIRS, min_per_category=30)
    assert {p.category for p in pairs} == set(P.CATEGORIES)
    assert len(pairs) >= 210
    # the loader knows "fit" and "heldout" only; every independent pair is held out, none may be fitted on
    fit, heldout = P.shipped_split(pairs)
    assert fit == [] and len(heldout) == len(pairs)
    lengths = [len(S.normalize_text(text).split()) for p in pairs for text in (p.unsafe, p.safe)]
    assert min(lengths) >= 3 and max(lengths) <= 60
    for lineno, line in enumerate(INDEPENDENT_PAIRS.read_text(encoding="utf-8").splitlines(), start=1):
        record = json.loads(line)
        assert set(record) == {"category", "unsafe", "safe", "split"}, f"line {lineno}: {sorted(record)}"
        assert record["category"] in P.CATEGORIES, f"line {lineno}: not the canonical category name"


def test_independent_captions_load_as_anchors():
    captions = P.load_anchors(INDEPENDENT_CAPTIONS)
    assert len(captions) >= 600
    lines = INDEPENDENT_CAPTIONS.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(captions)  # the loader dropped no exact duplicate
    assert all(set(json.loads(line)) == {"text"} for line in lines)


def test_category_vocabulary_anchors_load_and_spread_evenly_over_the_categories():
    anchors = P.load_anchors(VOCAB_ANCHORS)  # the anchor loader reads "text" and ignores "category"
    records = [json.loads(line) for line in VOCAB_ANCHORS.read_text(encoding="utf-8").splitlines()]
    assert len(anchors) == len(records) >= 500
    assert all(set(r) == {"text", "category"} for r in records)
    counts = {c: sum(r["category"] == c for r in records) for c in P.CATEGORIES}
    assert sum(counts.values()) == len(records), "an anchor names a category that is not one of the seven"
    assert min(counts.values()) >= 70 and max(counts.values()) - min(counts.values()) <= 5, counts


@pytest.mark.parametrize("name", ["independent unsafe", "independent safe", "independent captions",
                                  "category vocabulary anchors"])
def test_no_exact_or_near_duplicates_within_a_new_set(sets, name):
    texts = sets[name]
    keys = [S.normalize_text(t) for t in texts]
    assert len(set(keys)) == len(keys), f"{name}: exact duplicates after normalisation"
    assert S.count_near_duplicates(texts) == 0, _near_examples(texts, texts)


NEW_GROUPS = ("independent unsafe", "independent safe", "independent captions", "category vocabulary anchors")
ALL_GROUPS = NEW_GROUPS + ("shipped unsafe", "shipped safe", "shipped anchors")
CROSS = [(a, b) for a, b in itertools.combinations(ALL_GROUPS, 2)
         if (a in NEW_GROUPS or b in NEW_GROUPS)
         # an independent pair's two sides are a minimal edit of each other by design
         and {a, b} != {"independent unsafe", "independent safe"}]


@pytest.mark.parametrize("first,second", CROSS)
def test_no_exact_or_near_duplicates_across_sets(sets, first, second):
    a, b = sets[first], sets[second]
    shared = {S.normalize_text(t) for t in a} & {S.normalize_text(t) for t in b}
    assert not shared, f"{first} and {second} share {sorted(shared)[:5]}"
    # with no text in common, the near-duplicate pairs of the union are those inside each part plus those across
    across = S.count_near_duplicates(a + b) - S.count_near_duplicates(a) - S.count_near_duplicates(b)
    assert across == 0, _near_examples(a, b)


def _near_examples(a, b, limit=5):
    """Up to `limit` (text, text) pairs with word-Jaccard >= the threshold, for the failure message."""
    found = []
    words_b = [(t, frozenset(S.normalize_text(t).split())) for t in b]
    for text in a:
        words = frozenset(S.normalize_text(text).split())
        for other, other_words in words_b:
            if other != text and S._jaccard(words, other_words) >= S.NEAR_DUPLICATE_JACCARD:
                found.append((text, other))
                if len(found) == limit:
                    return found
    return found


@pytest.mark.parametrize("name", NEW_GROUPS)
def test_new_sets_are_more_varied_than_the_shipped_anchors(sets, name):
    """distinct-2 falls as a set grows, so the shipped anchors are compared at the new set's size
    (an evenly spaced sample), which is harder to beat than their full-set figure of 0.24."""
    texts = sets[name]
    shipped = sets["shipped anchors"]
    step = len(shipped) / len(texts)
    sample = [shipped[int(i * step)] for i in range(len(texts))]
    new = S.prompt_stats(anchors=texts)["anchors"]["distinct_2"]
    old = S.prompt_stats(anchors=sample)["anchors"]["distinct_2"]
    assert new > old, f"{name}: distinct-2 {new:.3f} is not above the shipped anchors' {old:.3f}"


def test_new_files_are_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["crosssteer"]
    for path in NEW_FILES:
        relative = path.relative_to(ROOT).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) and pattern.count("/") == relative.count("/")
                   for pattern in patterns), f"{relative} is not matched by [tool.setuptools.package-data]"
