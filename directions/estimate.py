"""Safety directions from prompt pairs whose embeddings are already computed and standardized.

Every function here works in z-coordinates of one embedding space (see space.py): a direction is a
unit vector [D] pointing from UNSAFE to SAFE, and the score of an embedding is `z @ d` (higher = safer).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from .prompts import CATEGORIES

METHODS = ("mean_diff", "pca", "probe")
GLOBAL = "global"
MIN_CATEGORY_FIT_PAIRS = 4  # a category with fewer fit pairs gets no vector of its own

# Logistic-probe settings: the L2 penalty (on the mean loss, in z-coordinates where every feature has unit
# spread) keeps the weights finite when the classes separate perfectly, as they usually do with D >> N;
# weaker penalties chase noise dimensions (cosine to a planted direction drops from ~0.99 to ~0.9 at 1e-2).
# Full-batch LBFGS on the CPU in float64 is deterministic.
_PROBE_L2 = 1e-1
_PROBE_MAX_ITER = 500


class DirectionError(ValueError):
    """The prompt embeddings cannot give a meaningful direction."""


# --------------------------------------------------------------------------------------------- fitting


def _check_pairs(unsafe_z: torch.Tensor, safe_z: torch.Tensor, what: str = "pairs", min_n: int = 2) -> None:
    if not isinstance(unsafe_z, torch.Tensor) or not isinstance(safe_z, torch.Tensor):
        raise DirectionError("unsafe_z and safe_z must be torch tensors [N, D]")
    if unsafe_z.ndim != 2 or safe_z.ndim != 2:
        raise DirectionError(
            f"{what}: embeddings must be 2-D [N, D], got unsafe {tuple(unsafe_z.shape)} and safe {tuple(safe_z.shape)}"
        )
    if unsafe_z.shape != safe_z.shape:
        raise DirectionError(
            f"{what}: unsafe {tuple(unsafe_z.shape)} and safe {tuple(safe_z.shape)} embeddings differ in shape: "
            "each unsafe prompt needs exactly one safe twin, embedded by the same model and layer"
        )
    if unsafe_z.shape[0] < min_n:
        raise DirectionError(f"{what}: need at least {min_n} prompt pairs, got {unsafe_z.shape[0]}")
    if unsafe_z.shape[1] < 1:
        raise DirectionError(f"{what}: embeddings have zero width")
    for name, t in (("unsafe", unsafe_z), ("safe", safe_z)):
        if not torch.isfinite(t).all():
            raise DirectionError(
                f"{what}: embeddings contain NaN or infinite values ({name} prompts): the model overflowed "
                "(try float32 / bfloat16 instead of float16) or the standardizer has a zero std"
            )


def _fit_probe(unsafe: torch.Tensor, safe: torch.Tensor) -> torch.Tensor:
    """Weights of an L2-regularised logistic regression, safe = 1, unsafe = 0."""
    x = torch.cat([unsafe, safe]).to("cpu", torch.float64)
    y = torch.cat([torch.zeros(unsafe.shape[0]), torch.ones(safe.shape[0])]).to(torch.float64)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [w, b], lr=1.0, max_iter=_PROBE_MAX_ITER, tolerance_grad=1e-10, tolerance_change=1e-14,
        history_size=20, line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y) + 0.5 * _PROBE_L2 * (w @ w)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return w.detach()


def direction_from_pairs(unsafe_z: torch.Tensor, safe_z: torch.Tensor, method: str = "mean_diff") -> torch.Tensor:
    """Unit direction [D] (float32, on the inputs' device) pointing from unsafe to safe.

    - mean_diff: mean of (safe - unsafe).
    - pca: top right-singular vector of the UNcentered difference matrix, so the mean shift counts;
      its sign is chosen so the mean difference projects positively.
    - probe: L2-regularised logistic regression (safe = 1), weights normalised.
    """
    if method not in METHODS:
        raise DirectionError(f"unknown direction method {method!r}: choose one of {', '.join(METHODS)}")
    _check_pairs(unsafe_z, safe_z)
    device = unsafe_z.device
    unsafe = unsafe_z.detach().to("cpu", torch.float64)
    safe = safe_z.detach().to("cpu", torch.float64)
    diffs = safe - unsafe
    if not diffs.any():
        raise DirectionError(
            "the safe and unsafe prompts embed identically: the direction is zero "
            "(check that the two prompt lists differ and that the layer is not the embedding of a constant prompt)"
        )
    mean_diff = diffs.mean(dim=0)

    if method == "mean_diff":
        d = mean_diff
    elif method == "pca":
        d = torch.linalg.svd(diffs, full_matrices=False).Vh[0]
        if mean_diff @ d < 0:
            d = -d
    else:
        d = _fit_probe(unsafe, safe)

    norm = d.norm()
    if not torch.isfinite(norm) or norm <= 1e-12 * max(1.0, float(diffs.abs().max())):
        raise DirectionError(
            f"the safe and unsafe prompts embed identically: the direction is zero ({method}: the pair "
            "differences cancel out); use more or more clearly contrasting prompt pairs"
        )
    return (d / norm).to(device=device, dtype=torch.float32)


# ------------------------------------------------------------------------------------------ evaluation


def auroc(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """P(a positive score > a negative score), ties counting half (Mann-Whitney U via ranks, O(N log N))."""
    pos = torch.as_tensor(positive).detach().reshape(-1).to("cpu", torch.float64)
    neg = torch.as_tensor(negative).detach().reshape(-1).to("cpu", torch.float64)
    if pos.numel() == 0 or neg.numel() == 0:
        raise DirectionError("AUROC needs at least one positive and one negative score")
    if not (torch.isfinite(pos).all() and torch.isfinite(neg).all()):
        raise DirectionError("AUROC scores contain NaN or infinite values")
    values, inverse, counts = torch.unique(torch.cat([pos, neg]), sorted=True, return_inverse=True, return_counts=True)
    # tied values share the mean of the 1-based ranks their group occupies
    ends = torch.cumsum(counts, 0).to(torch.float64)
    mid_ranks = ends - (counts.to(torch.float64) - 1) / 2
    ranks = mid_ranks[inverse]
    n_pos, n_neg = pos.numel(), neg.numel()
    u = ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def separation(direction: torch.Tensor, unsafe_z: torch.Tensor, safe_z: torch.Tensor) -> float:
    """AUROC of safe scores against unsafe scores along `direction` (1.0 = perfectly separated)."""
    d = direction.detach().to(torch.float32)
    return auroc(safe_z.to(torch.float32).to(d.device) @ d, unsafe_z.to(torch.float32).to(d.device) @ d)


@dataclass(eq=False)
class DirectionSet:
    """Directions estimated in one space: "global" first, then categories in CATEGORIES order.

    stats[name] = {"auroc": held-out AUROC or None, "n_fit": int, "n_heldout": int}.
    """

    vectors: dict[str, torch.Tensor] = field(default_factory=dict)
    stats: dict[str, dict] = field(default_factory=dict)


def _check_categories(categories: Sequence[str], n: int, what: str) -> list[str]:
    labels = [str(c) for c in categories]
    if len(labels) != n:
        raise DirectionError(f"{what}: got {len(labels)} category labels for {n} prompt pairs: give one label per pair")
    unknown = sorted(set(labels) - set(CATEGORIES))
    if unknown:
        raise DirectionError(f"{what}: unknown categories {unknown}: use the names in {', '.join(CATEGORIES)}")
    return labels


def estimate_directions(
    unsafe_z: torch.Tensor,
    safe_z: torch.Tensor,
    categories: Sequence[str],
    method: str = "mean_diff",
    heldout: tuple[torch.Tensor, torch.Tensor, Sequence[str]] | None = None,
    per_category: bool = True,
    min_pairs: int = MIN_CATEGORY_FIT_PAIRS,
) -> DirectionSet:
    """A global direction from all pairs plus one per category that has at least `min_pairs` fit pairs.

    Held-out AUROC is measured for each vector on the held-out pairs of its category (global: all of them);
    it is None where there are no held-out pairs.
    """
    _check_pairs(unsafe_z, safe_z, "fit pairs")
    labels = _check_categories(categories, unsafe_z.shape[0], "fit pairs")
    if heldout is not None:
        h_unsafe, h_safe, h_categories = heldout
        _check_pairs(h_unsafe, h_safe, "held-out pairs", min_n=1)
        if h_unsafe.shape[1] != unsafe_z.shape[1]:
            raise DirectionError(
                f"held-out embeddings are {h_unsafe.shape[1]} wide but the fit embeddings are {unsafe_z.shape[1]} wide: "
                "embed both with the same model, layer and pooling"
            )
        h_labels = _check_categories(h_categories, h_unsafe.shape[0], "held-out pairs")

    def heldout_stats(direction: torch.Tensor, category: str | None) -> tuple[float | None, int]:
        if heldout is None:
            return None, 0
        keep = [i for i, c in enumerate(h_labels) if category is None or c == category]
        if not keep:
            return None, 0
        idx = torch.tensor(keep, device=h_unsafe.device)
        return separation(direction, h_unsafe[idx], h_safe[idx]), len(keep)

    result = DirectionSet()
    d = direction_from_pairs(unsafe_z, safe_z, method)
    score, n_held = heldout_stats(d, None)
    result.vectors[GLOBAL] = d
    result.stats[GLOBAL] = {"auroc": score, "n_fit": int(unsafe_z.shape[0]), "n_heldout": n_held}

    if per_category:
        for category in CATEGORIES:
            keep = [i for i, c in enumerate(labels) if c == category]
            if len(keep) < max(2, min_pairs):
                continue
            idx = torch.tensor(keep, device=unsafe_z.device)
            try:
                d = direction_from_pairs(unsafe_z[idx], safe_z[idx], method)
            except DirectionError as exc:
                raise DirectionError(f"category {category!r}: {exc}") from exc
            score, n_held = heldout_stats(d, category)
            result.vectors[category] = d
            result.stats[category] = {"auroc": score, "n_fit": len(keep), "n_heldout": n_held}
    return result


def category_top1(
    vectors: Mapping[str, torch.Tensor],
    unsafe_z: torch.Tensor,
    categories: Sequence[str],
    reference_z: torch.Tensor | None = None,
    deviation_from: torch.Tensor | None = None,
) -> dict:
    """How often an unsafe prompt's most unsafe-looking category vector is its own category.

    With `deviation_from` (the global direction), each category vector is first replaced by its part
    orthogonal to it: what tells the categories apart, without the share of "unsafe in general" that
    they all carry in different amounts (which otherwise lets the vector with the most of it win for
    every unsafe prompt).

    The safe twin is unknown at use time, so each unsafe prompt is judged by its own scores: along each
    category vector k, s_k = (z @ d_k - center_k) / unit_k, where center_k / unit_k are the mean / std of
    scores over `reference_z` (benign prompts; the given unsafe prompts when None). The predicted category is
    argmin_k s_k (directions point toward safe, so the lowest relative score is the most unsafe).
    Prompts whose category has no vector are left out. "global" is never a candidate.

    Returns {"top1": share correct, "labels": [K names], "confusion": [[K x K counts]] (row = true)}.
    """
    names = [n for n in vectors if n != GLOBAL]
    if not names:
        raise DirectionError("category_top1 needs at least one category vector (only 'global' was given)")
    if unsafe_z.ndim != 2 or len(categories) != unsafe_z.shape[0]:
        raise DirectionError(
            f"category_top1: got {len(categories)} labels for unsafe embeddings of shape {tuple(unsafe_z.shape)}: "
            "give [N, D] embeddings and one label per prompt"
        )
    device = unsafe_z.device
    d = torch.stack([vectors[n].detach().to(device, torch.float32) for n in names], dim=1)  # [D, K]
    if deviation_from is not None:
        g = deviation_from.detach().to(device, torch.float32).flatten()
        if g.shape[0] != d.shape[0] or not g.norm() > 0:
            raise DirectionError(f"category_top1: deviation_from must be a non-zero [{d.shape[0]}] vector")
        g = g / g.norm()
        d = d - g[:, None] * (g @ d)[None, :]
        if not (d.norm(dim=0) > 1e-6).all():
            raise DirectionError("category_top1: a category vector is parallel to the global direction")
    if d.shape[0] != unsafe_z.shape[1]:
        raise DirectionError(
            f"category_top1: the vectors are {d.shape[0]} wide but the embeddings are {unsafe_z.shape[1]} wide"
        )
    reference = unsafe_z if reference_z is None else reference_z
    if reference.ndim != 2 or reference.shape[0] < 2 or reference.shape[1] != d.shape[0]:
        raise DirectionError(
            f"category_top1: reference embeddings must be [N >= 2, {d.shape[0]}], got {tuple(reference.shape)}"
        )
    ref_scores = reference.detach().to(device, torch.float32) @ d
    center = ref_scores.mean(dim=0)
    unit = ref_scores.std(dim=0).clamp_min(1e-12)

    keep = [i for i, c in enumerate(categories) if c in names]
    if not keep:
        raise DirectionError(f"category_top1: none of the prompts belongs to a category with a vector ({names})")
    idx = torch.tensor(keep, device=device)
    relative = (unsafe_z[idx].detach().to(torch.float32) @ d - center) / unit
    predicted = relative.argmin(dim=1).tolist()
    confusion = [[0] * len(names) for _ in names]
    for i, p in zip(keep, predicted, strict=True):
        confusion[names.index(categories[i])][p] += 1
    correct = sum(confusion[k][k] for k in range(len(names)))
    return {"top1": correct / len(keep), "labels": names, "confusion": confusion}


def layer_scan(
    pairs_by_layer: Mapping[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]],
    method: str = "mean_diff",
) -> tuple[int, dict[int, float]]:
    """Pick the layer whose global direction separates held-out pairs best.

    pairs_by_layer[layer] = (fit_unsafe_z, fit_safe_z, heldout_unsafe_z, heldout_safe_z).
    Returns (best layer, {layer: held-out AUROC}); ties go to the earlier layer.
    """
    if not pairs_by_layer:
        raise DirectionError("layer_scan got no layers: embed the prompts at one or more layers first")
    table: dict[int, float] = {}
    best: int | None = None
    for layer in sorted(pairs_by_layer):
        fit_unsafe, fit_safe, held_unsafe, held_safe = pairs_by_layer[layer]
        try:
            d = direction_from_pairs(fit_unsafe, fit_safe, method)
            _check_pairs(held_unsafe, held_safe, "held-out pairs", min_n=1)
            table[layer] = separation(d, held_unsafe, held_safe)
        except DirectionError as exc:
            raise DirectionError(f"layer {layer}: {exc}") from exc
        if best is None or table[layer] > table[best]:
            best = layer
    return best, table
