"""Diversity statistics of prompt sets (backs `crosssteer prompts stats`): counts, lengths, exact and
near duplicates, distinct-n, and how close each pair's safe twin stays to its unsafe prompt.

Pure Python.
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Any, Iterable, Mapping, Sequence

from .prompts import CATEGORIES, SPLITS, PromptPair

NEAR_DUPLICATE_JACCARD = 0.8



def normalize_text(text: str) -> str:
    """Lowercase, punctuation stripped, whitespace collapsed: the key for duplicate detection."""
    return " ".join(re.sub(r"[^\w\s]", "", text.lower()).split())


def _words(text: str) -> list[str]:
    return normalize_text(text).split()


def _jaccard(a: frozenset, b: frozenset) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _length_stats(texts: Sequence[str]) -> dict[str, float]:
    lengths = [len(_words(t)) for t in texts]
    if not lengths:
        return {"min": 0, "mean": 0.0, "max": 0}
    return {"min": min(lengths), "mean": sum(lengths) / len(lengths), "max": max(lengths)}


def _exact_duplicates(texts: Sequence[str], examples: int = 10) -> dict[str, Any]:
    """Surplus copies after normalisation, plus the most repeated texts with their counts."""
    counts = Counter(normalize_text(t) for t in texts)
    repeated = sorted(((n, key) for key, n in counts.items() if n > 1), key=lambda item: (-item[0], item[1]))
    return {
        "count": len(texts) - len(counts),
        "groups": sum(1 for n, _ in repeated),
        "examples": [{"text": key, "count": n} for n, key in repeated[:examples]],
    }


def count_near_duplicates(texts: Sequence[str], threshold: float = NEAR_DUPLICATE_JACCARD) -> int:
    """Pairs of distinct (after normalisation) texts whose word-Jaccard is >= threshold.

    Exact all-pairs join with prefix filtering: tokens are ordered rarest-first and two sets with
    Jaccard >= t must share a token among their first |x| - ceil(t|x|) + 1, so only sets meeting in
    an inverted index of those prefixes are compared. Near-linear on real prompt sets.
    """
    distinct = {normalize_text(t) for t in texts}
    # distinct texts with the same word set (other order, repeated words) are near-duplicates of each
    # other; the join below runs over the word sets and weighs each match by the texts behind it
    by_set = Counter(frozenset(key.split()) for key in distinct if key)
    found = sum(n * (n - 1) // 2 for n in by_set.values())
    sets = sorted(by_set, key=len)
    frequency = Counter(token for s in sets for token in s)
    index: dict[str, list[int]] = defaultdict(list)
    ordered: list[frozenset] = []
    for current in sets:  # ascending size: every indexed set is no larger than `current`
        tokens = sorted(current, key=lambda tok: (frequency[tok], tok))
        prefix = len(tokens) - math.ceil(threshold * len(tokens) - 1e-9) + 1
        seen: set[int] = set()
        for token in tokens[:prefix]:
            for other in index[token]:
                if other in seen:
                    continue
                seen.add(other)
                candidate = ordered[other]
                if len(candidate) >= threshold * len(current) and _jaccard(current, candidate) >= threshold:
                    found += by_set[current] * by_set[candidate]
        position = len(ordered)
        ordered.append(current)
        for token in tokens[:prefix]:
            index[token].append(position)
    return found


def _distinct_n(texts: Sequence[str]) -> dict[str, float]:
    unigrams: Counter = Counter()
    bigrams: Counter = Counter()
    for text in texts:
        words = _words(text)
        unigrams.update(words)
        bigrams.update(zip(words, words[1:]))
    total1, total2 = sum(unigrams.values()), sum(bigrams.values())
    return {
        "distinct_1": len(unigrams) / total1 if total1 else 0.0,
        "distinct_2": len(bigrams) / total2 if total2 else 0.0,
    }


def _text_group_stats(texts: Sequence[str], near_groups: Iterable[Sequence[str]]) -> dict[str, Any]:
    return {
        "words": _length_stats(texts),
        "exact_duplicates": _exact_duplicates(texts),
        "near_duplicates": sum(count_near_duplicates(group) for group in near_groups),
        **_distinct_n(texts),
    }


def prompt_stats(pairs: Sequence[PromptPair] | None = None, anchors: Sequence[str] | None = None) -> dict:
    """Counts, lengths, duplicates and diversity of a pair set and/or an anchor set (plain dict)."""
    stats: dict[str, Any] = {}
    if pairs is not None:
        by_category: dict[str, list[PromptPair]] = defaultdict(list)
        for pair in pairs:
            by_category[pair.category].append(pair)
        twin_jaccard = [_jaccard(frozenset(_words(p.unsafe)), frozenset(_words(p.safe))) for p in pairs]
        per_category = {}
        for category in [c for c in CATEGORIES if c in by_category] + sorted(set(by_category) - set(CATEGORIES)):
            members = by_category[category]
            jac = [_jaccard(frozenset(_words(p.unsafe)), frozenset(_words(p.safe))) for p in members]
            per_category[category] = {
                "total": len(members),
                **{split: sum(1 for p in members if p.split == split) for split in SPLITS},
                "twin_jaccard_mean": sum(jac) / len(jac),
            }
        groups = list(by_category.values())
        stats["pairs"] = {
            "count": len(pairs),
            "per_category": per_category,
            "per_split": {split: sum(1 for p in pairs if p.split == split) for split in SPLITS},
            "unsafe": _text_group_stats([p.unsafe for p in pairs], ([p.unsafe for p in g] for g in groups)),
            "safe": _text_group_stats([p.safe for p in pairs], ([p.safe for p in g] for g in groups)),
            "twin_jaccard_mean": sum(twin_jaccard) / len(twin_jaccard) if twin_jaccard else 0.0,
        }
    if anchors is not None:
        anchors = list(anchors)
        stats["anchors"] = {"count": len(anchors), **_text_group_stats(anchors, [anchors])}
    return stats


def format_stats(stats: Mapping[str, Any]) -> str:
    """A plain-text report of `prompt_stats` output, for the CLI."""
    out: list[str] = []

    def group(title: str, g: Mapping[str, Any]) -> None:
        w, dup = g["words"], g["exact_duplicates"]
        out.append(
            f"  {title:<8} words min/mean/max {w['min']}/{w['mean']:.1f}/{w['max']}  "
            f"exact duplicates {dup['count']}  near duplicates {g['near_duplicates']}  "
            f"distinct-1 {g['distinct_1']:.3f}  distinct-2 {g['distinct_2']:.3f}"
        )
        for example in dup["examples"][:5]:
            out.append(f"           x{example['count']}  {example['text'][:80]}")

    if "pairs" in stats:
        p = stats["pairs"]
        split_text = ", ".join(f"{k} {v}" for k, v in p["per_split"].items())
        out.append(f"pairs: {p['count']} ({split_text})")
        out.append(f"  {'category':<18}{'total':>7}{'fit':>7}{'heldout':>9}{'twin J':>9}")
        for category, row in p["per_category"].items():
            out.append(
                f"  {category:<18}{row['total']:>7}{row['fit']:>7}{row['heldout']:>9}{row['twin_jaccard_mean']:>9.2f}"
            )
        group("unsafe", p["unsafe"])
        group("safe", p["safe"])
        out.append(f"  mean safe/unsafe word-Jaccard {p['twin_jaccard_mean']:.3f}")
    if "anchors" in stats:
        a = stats["anchors"]
        out.append(f"anchors: {a['count']}")
        group("anchors", a)
    return "\n".join(out)
