"""Direction estimation on synthetic geometry with planted directions (no models)."""
from __future__ import annotations

import itertools

import pytest
import torch

from crosssteer.directions.estimate import (
    METHODS,
    DirectionError,
    DirectionSet,
    auroc,
    category_top1,
    direction_from_pairs,
    estimate_directions,
    layer_scan,
    separation,
)
from crosssteer.directions.prompts import CATEGORIES

D = 64


def unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm()


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


def planted_pairs(direction: torch.Tensor, n: int, seed: int, shift: float = 3.0, noise: float = 0.5, spread: float = 0.5):
    """Unsafe prompts ~ N(0, spread^2 I); each safe twin = unsafe + shift * direction + noise."""
    g = torch.Generator().manual_seed(seed)
    unsafe = spread * torch.randn(n, direction.shape[0], generator=g)
    safe = unsafe + shift * direction + noise * torch.randn(n, direction.shape[0], generator=g)
    return unsafe, safe


def orthonormal(k: int, d: int = D, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, k, generator=g))
    return q.T  # [k, d], rows orthonormal


# ------------------------------------------------------------------------------------------ direction


@pytest.mark.parametrize("method", METHODS)
def test_planted_direction_is_recovered(method):
    truth = orthonormal(1)[0]
    unsafe, safe = planted_pairs(truth, 200, seed=1)
    d = direction_from_pairs(unsafe, safe, method)
    assert d.shape == (D,) and d.dtype == torch.float32
    assert abs(float(d.norm()) - 1) < 1e-5
    assert cosine(d, truth) > 0.95, f"{method}: cosine {cosine(d, truth):.3f}"


@pytest.mark.parametrize("method", METHODS)
def test_direction_points_from_unsafe_to_safe(method):
    truth = orthonormal(1, seed=3)[0]
    unsafe, safe = planted_pairs(truth, 50, seed=2)
    d = direction_from_pairs(unsafe, safe, method)
    assert float((safe @ d).mean()) > float((unsafe @ d).mean())
    assert separation(d, unsafe, safe) > 0.95


def test_probe_is_deterministic():
    truth = orthonormal(1)[0]
    unsafe, safe = planted_pairs(truth, 60, seed=4)
    assert torch.equal(direction_from_pairs(unsafe, safe, "probe"), direction_from_pairs(unsafe, safe, "probe"))


def test_pca_sign_follows_the_mean_difference():
    truth = orthonormal(1)[0]
    unsafe, safe = planted_pairs(truth, 200, seed=5)
    # swapping the roles must flip the direction, not leave the sign to the SVD
    assert cosine(direction_from_pairs(safe, unsafe, "pca"), truth) < -0.95


@pytest.mark.parametrize("method", METHODS)
def test_identical_embeddings_give_a_zero_direction_error(method):
    x = torch.randn(10, D)
    with pytest.raises(DirectionError, match="the safe and unsafe prompts embed identically: the direction is zero"):
        direction_from_pairs(x, x.clone(), method)


def test_nan_embeddings_are_refused():
    x = torch.randn(10, D)
    y = x + 1
    y[3, 5] = float("nan")
    with pytest.raises(DirectionError, match="embeddings contain NaN"):
        direction_from_pairs(x, y)


def test_bad_shapes_and_method_are_refused():
    with pytest.raises(DirectionError, match="differ in shape"):
        direction_from_pairs(torch.randn(10, D), torch.randn(9, D))
    with pytest.raises(DirectionError, match="at least 2"):
        direction_from_pairs(torch.randn(1, D), torch.randn(1, D))
    with pytest.raises(DirectionError, match="2-D"):
        direction_from_pairs(torch.randn(D), torch.randn(D))
    with pytest.raises(DirectionError, match="unknown direction method 'svm'"):
        direction_from_pairs(torch.randn(5, D), torch.randn(5, D), "svm")


# ------------------------------------------------------------------------------------------------ auroc


def brute_force_auroc(pos: torch.Tensor, neg: torch.Tensor) -> float:
    total = 0.0
    for p, n in itertools.product(pos.tolist(), neg.tolist()):
        total += 1.0 if p > n else 0.5 if p == n else 0.0
    return total / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(5))
def test_auroc_matches_brute_force_with_ties(seed):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randint(0, 6, (37,), generator=g).float()  # few distinct values: many ties
    neg = torch.randint(0, 5, (23,), generator=g).float()
    assert auroc(pos, neg) == pytest.approx(brute_force_auroc(pos, neg), abs=1e-12)
    cont_pos, cont_neg = torch.randn(50, generator=g) + 0.3, torch.randn(41, generator=g)
    assert auroc(cont_pos, cont_neg) == pytest.approx(brute_force_auroc(cont_pos, cont_neg), abs=1e-12)


def test_auroc_extremes():
    assert auroc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 1.0
    assert auroc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 0.0
    assert auroc(torch.ones(4), torch.ones(3)) == 0.5
    with pytest.raises(DirectionError):
        auroc(torch.tensor([]), torch.tensor([1.0]))


# --------------------------------------------------------------------------------- per category


def planted_categories(n_per: int, seed: int, cats=CATEGORIES):
    truth = orthonormal(len(cats), seed=10)
    unsafe, safe, labels = [], [], []
    for k, c in enumerate(cats):
        u, s = planted_pairs(truth[k], n_per, seed=seed + k, shift=3.0, noise=0.5)
        unsafe.append(u)
        safe.append(s)
        labels += [c] * n_per
    return torch.cat(unsafe), torch.cat(safe), labels, {c: truth[k] for k, c in enumerate(cats)}


def test_per_category_directions_are_recovered():
    unsafe, safe, labels, truth = planted_categories(40, seed=100)
    h_unsafe, h_safe, h_labels, _ = planted_categories(10, seed=200)
    result = estimate_directions(unsafe, safe, labels, heldout=(h_unsafe, h_safe, h_labels))
    assert isinstance(result, DirectionSet)
    assert list(result.vectors) == ["global", *CATEGORIES]
    for c in CATEGORIES:
        assert cosine(result.vectors[c], truth[c]) > 0.95, c
        assert result.stats[c] == {"auroc": pytest.approx(1.0), "n_fit": 40, "n_heldout": 10}
    # the global direction is the common part of all categories' shifts
    mean_truth = unit(torch.stack(list(truth.values())).sum(0))
    assert cosine(result.vectors["global"], mean_truth) > 0.95
    assert result.stats["global"]["n_fit"] == 40 * len(CATEGORIES)
    assert result.stats["global"]["n_heldout"] == 10 * len(CATEGORIES)
    # global mixes seven orthogonal shifts, so it separates each pair less sharply than a category does
    assert result.stats["global"]["auroc"] > 0.8


def test_small_categories_are_skipped_and_order_follows_categories():
    unsafe, safe, labels, _ = planted_categories(6, seed=7, cats=("shocking", "violence", "sexual"))
    labels[:3] = ["hate"] * 3  # leaves 3 "shocking" and 3 "hate" pairs: both under min_pairs
    result = estimate_directions(unsafe, safe, labels, method="pca", min_pairs=4)
    assert list(result.vectors) == ["global", "sexual", "violence"]  # CATEGORIES order, not input order
    assert result.stats["sexual"]["n_fit"] == 6
    assert result.stats["global"] == {"auroc": None, "n_fit": 18, "n_heldout": 0}
    assert list(estimate_directions(unsafe, safe, labels, per_category=False).vectors) == ["global"]


def test_unknown_category_and_label_count_are_refused():
    unsafe, safe = planted_pairs(orthonormal(1)[0], 8, seed=1)
    with pytest.raises(DirectionError, match="unknown categories \\['gore'\\]"):
        estimate_directions(unsafe, safe, ["gore"] * 8)
    with pytest.raises(DirectionError, match="7 category labels for 8 prompt pairs"):
        estimate_directions(unsafe, safe, ["hate"] * 7)


def test_category_top1_on_separated_categories():
    truth = orthonormal(len(CATEGORIES), seed=11)
    g = torch.Generator().manual_seed(12)
    vectors = {"global": unit(truth.sum(0))} | {c: truth[k] for k, c in enumerate(CATEGORIES)}
    labels = [c for c in CATEGORIES for _ in range(15)]
    # an unsafe prompt of category k sits 4 benign spreads toward "unsafe" along its own direction
    unsafe = torch.randn(len(labels), D, generator=g) * 0.5
    unsafe -= 4.0 * torch.stack([truth[CATEGORIES.index(c)] for c in labels])
    benign = torch.randn(300, D, generator=g) * 0.5
    for reference in (benign, None):
        result = category_top1(vectors, unsafe, labels, reference_z=reference)
        assert result["labels"] == list(CATEGORIES)
        assert result["top1"] > 0.97
        assert sum(map(sum, result["confusion"])) == len(labels)
        assert len(result["confusion"]) == len(CATEGORIES) and all(len(r) == len(CATEGORIES) for r in result["confusion"])


def test_category_top1_deviation_undoes_the_collapse_onto_one_category():
    """Every unsafe prompt carries a large common "unsafe" component and a small one of its own category;
    the shocking vector holds three times the others' share of the common part, so plain scores call
    nearly everything shocking (the collapse seen in the real confusion matrices). Scored by their
    deviations from the global direction, the categories come apart."""
    basis = orthonormal(len(CATEGORIES) + 1, seed=21)
    common, own = basis[0], basis[1:]
    share = {c: 3.0 if c == "shocking" else 1.0 for c in CATEGORIES}
    vectors = {"global": common} | {c: unit(share[c] * common + own[k]) for k, c in enumerate(CATEGORIES)}
    g = torch.Generator().manual_seed(22)
    labels = [c for c in CATEGORIES for _ in range(20)]
    unsafe = torch.randn(len(labels), D, generator=g) * 0.3
    unsafe -= 8.0 * common + 1.5 * torch.stack([own[CATEGORIES.index(c)] for c in labels])
    benign = torch.randn(300, D, generator=g) * 0.5
    plain = category_top1(vectors, unsafe, labels, reference_z=benign)
    predicted_shocking = sum(row[CATEGORIES.index("shocking")] for row in plain["confusion"])
    assert plain["top1"] < 0.3 and predicted_shocking > 0.8 * len(labels)
    deviation = category_top1(vectors, unsafe, labels, reference_z=benign, deviation_from=vectors["global"])
    assert deviation["top1"] > 0.9
    with pytest.raises(DirectionError, match="parallel to the global direction"):
        category_top1({"global": common, "hate": common, "sexual": own[0]}, unsafe, labels, deviation_from=common)


def test_category_top1_leaves_out_prompts_without_a_vector():
    truth = orthonormal(2, seed=13)
    vectors = {"global": unit(truth.sum(0)), "hate": truth[0], "violence": truth[1]}
    labels = ["hate"] * 5 + ["violence"] * 5 + ["shocking"] * 3
    unsafe = torch.randn(13, D) * 0.1
    unsafe[:5] -= 3 * truth[0]
    unsafe[5:10] -= 3 * truth[1]
    result = category_top1(vectors, unsafe, labels)
    assert result["labels"] == ["hate", "violence"]
    assert sum(map(sum, result["confusion"])) == 10
    assert result["top1"] == 1.0


# ------------------------------------------------------------------------------------------- layers


def test_layer_scan_picks_the_layer_with_the_signal():
    truth = orthonormal(1)[0]
    layers = {}
    for layer, shift in ((2, 0.0), (5, 3.0), (9, 0.5)):
        fit = planted_pairs(truth, 60, seed=layer, shift=shift)
        held = planted_pairs(truth, 30, seed=layer + 50, shift=shift)
        layers[layer] = (*fit, *held)
    best, table = layer_scan(layers, "mean_diff")  # layer 2's twins differ by noise only
    assert best == 5
    assert set(table) == {2, 5, 9}
    assert table[5] > 0.99 and table[5] > max(table[2], table[9])


def test_layer_scan_ties_go_to_the_earlier_layer():
    truth = orthonormal(1)[0]
    pairs = (*planted_pairs(truth, 20, seed=1, shift=10.0), *planted_pairs(truth, 10, seed=2, shift=10.0))
    best, table = layer_scan({12: pairs, 4: pairs, 8: pairs})
    assert table == {4: 1.0, 8: 1.0, 12: 1.0}
    assert best == 4
    with pytest.raises(DirectionError, match="no layers"):
        layer_scan({})
