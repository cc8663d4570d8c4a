"""Alignment between a source LLM's space and a target text encoder's space, fitted on benign anchors only.

The same benign prompts are embedded on both sides (source X [N, Ds], target Y [N, Dt]). A light map
z_source -> z_target (alignment_maps.py) is fitted between the two *standardized* spaces (see
`space.Standardizer`) and measured on held-out anchors; a safety direction found in the source is pushed
through the map's linear part (for an affine map the bias cancels) and its magnitude is calibrated with
target anchor statistics. No unsafe prompt touches the target.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from .alignment_maps import MAP_CLASSES, METHODS, AlignmentError, AlignmentMap, normalized
from .space import Standardizer

MIN_ANCHORS = 16
CALIBRATION_ANCHORS = 512
RANDOM_PAIRS = 256


# --------------------------------------------------------------------------------------------- fitting


@dataclass
class FitReport:
    """Held-out quality of an alignment. Metrics are None when no anchors were held out."""

    heldout_r2: float | None  # 1 - SSE/SST over all target dims in z space
    retrieval_top1: float | None  # share of held-out anchors whose mapped embedding finds its own target
    retrieval_chance: float | None  # 1 / n_heldout
    # Mean cosine between transport(z_s(a) - z_s(b)) and z_t(a) - z_t(b) over random held-out pairs: what
    # any benign direction reaches through this map; compare a transported-vs-native cosine with it.
    random_direction_cosine: float | None
    n_fit: int
    n_heldout: int
    lam: float | None  # ridge penalty (ridge, svd, mlp)
    rank: int | None  # rank of the map (svd) or PCA dimensions (procrustes)
    seconds: float
    method: str


@dataclass
class AlignmentFit:
    """A fitted map with the standardizers it lives between and what is needed to calibrate magnitudes."""

    map: AlignmentMap
    source: Standardizer
    target: Standardizer
    report: FitReport
    calibration_anchors: torch.Tensor  # [M <= 512, Dt] target z-coords, float16
    # what the source side was embedded with ({"layer": int, "pooling": str}, as far as known): a direction
    # from another layer or pooling is refused when it is transported
    source_side: dict = field(default_factory=dict)
    n_extra_samples: int = 0  # extra rows (e.g. word states) that joined the map's fit, none of held-out anchors

    @property
    def method(self) -> str:
        return self.map.method


def _anchor_matrix(anchors: Any, side: str) -> torch.Tensor:
    if not isinstance(anchors, torch.Tensor) or anchors.ndim != 2:
        shape = tuple(anchors.shape) if isinstance(anchors, torch.Tensor) else type(anchors).__name__
        raise AlignmentError(f"{side} anchors must be a 2-D tensor [N, D] (one embedding per prompt), got {shape}")
    if not (anchors.is_floating_point() or anchors.dtype in (torch.int32, torch.int64)):
        raise AlignmentError(f"{side} anchors must hold numbers, got dtype {anchors.dtype}")
    x = anchors.detach().to("cpu", torch.float32)
    bad_rows = (~torch.isfinite(x)).any(dim=1)
    if bad_rows.any():
        first = int(bad_rows.nonzero()[0])
        raise AlignmentError(
            f"{side} anchors contain NaN or infinite values in {int(bad_rows.sum())} row(s) (first: row {first}): "
            "check the encoder's dtype (float16 overflows) and drop or re-embed those prompts"
        )
    return x


def _heldout_report(amap: AlignmentMap, z_s: torch.Tensor, z_t: torch.Tensor, seed: int) -> dict[str, float | None]:
    n = z_s.shape[0]
    if n < 2:
        return {"heldout_r2": None, "retrieval_top1": None, "retrieval_chance": None, "random_direction_cosine": None}
    pred = amap.predict(z_s)
    sst = float(((z_t - z_t.mean(0)) ** 2).sum())
    r2 = 1 - float(((z_t - pred) ** 2).sum()) / sst if sst > 0 else None
    sims = F.normalize(pred, dim=1) @ F.normalize(z_t, dim=1).T
    top1 = float((sims.argmax(dim=1) == torch.arange(n)).float().mean())
    generator = torch.Generator().manual_seed(seed + 2)
    a = torch.randint(n, (RANDOM_PAIRS,), generator=generator)
    b = (a + torch.randint(1, n, (RANDOM_PAIRS,), generator=generator)) % n  # never a itself
    moved = (z_s[a] - z_s[b]) @ amap.linear().T
    native = z_t[a] - z_t[b]
    random_cos = float(F.cosine_similarity(moved, native, dim=1, eps=1e-12).mean())
    return {"heldout_r2": r2, "retrieval_top1": top1, "retrieval_chance": 1 / n, "random_direction_cosine": random_cos}


def fit_alignment(
    source_anchors: torch.Tensor,
    target_anchors: torch.Tensor,
    method: str = "ridge",
    heldout_fraction: float = 0.2,
    seed: int = 0,
    extra_samples: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    extra_weight: float | str = 1.0,
    **options: Any,
) -> AlignmentFit:
    """Fit a map source -> target on benign anchors (row i on both sides is the same prompt).

    A random `heldout_fraction` of the anchors is kept out of the fit (standardizers included) to measure
    the report; `options` go to the method (ridge: lam, folds; svd: lam, rank, folds; procrustes: k_max;
    whitened: shrink, folds; mlp: lam, folds, hidden, max_steps, lr, weight_decay, patience; procrustes_ridge:
    lam, folds, k_max; procrustes_lowrank: lam, rank, folds, k_max; cca: shrink, rank, folds).

    `extra_samples` (source [W, Ds], target [W, Dt], anchor [W]: the row of the anchor each comes from, e.g.
    its words' states, word_states.py) join the map's fit only (ridge): those of held-out anchors are
    dropped, they are z-scored with the anchors' standardizers, the report is measured on held-out anchors
    as without them, and the penalty's folds keep each anchor's samples with it. Each counts `extra_weight`
    times a mean sample ("balanced": all of them together count as much as the anchors).
    """
    started = time.perf_counter()
    if method not in MAP_CLASSES:
        raise AlignmentError(f"unknown alignment method {method!r}: use one of {', '.join(METHODS)}")
    x = _anchor_matrix(source_anchors, "source")
    y = _anchor_matrix(target_anchors, "target")
    n = x.shape[0]
    if y.shape[0] != n:
        raise AlignmentError(
            f"the source has {n} anchor embeddings but the target has {y.shape[0]}: embed the same prompts, "
            "in the same order, on both sides"
        )
    if n < MIN_ANCHORS:
        raise AlignmentError(
            f"fitting an alignment needs at least {MIN_ANCHORS} benign anchors; 1,000+ recommended (got {n})"
        )
    if not 0 <= heldout_fraction <= 0.5:
        raise AlignmentError(f"heldout_fraction must be between 0 and 0.5, got {heldout_fraction}")

    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_heldout = 0 if heldout_fraction == 0 else max(2, round(n * heldout_fraction))
    heldout, fitted = order[:n_heldout], order[n_heldout:]
    source, target = Standardizer.fit(x[fitted]), Standardizer.fit(y[fitted])
    z_s, z_t, n_extra = source.z(x[fitted]), target.z(y[fitted]), 0
    if extra_samples is not None:
        z_s, z_t, options["groups"], n_extra = _joined_samples(z_s, z_t, fitted, n, source, target, method,
                                                               extra_samples, extra_weight)
    amap = MAP_CLASSES[method].fit(z_s, z_t, seed=seed, **options)

    metrics = _heldout_report(amap, source.z(x[heldout]), target.z(y[heldout]), seed)
    rank = amap.info.get("rank")
    report = FitReport(
        **metrics,
        n_fit=int(fitted.numel()),
        n_heldout=n_heldout,
        lam=amap.info.get("lam"),
        rank=int(rank) if rank is not None else None,
        seconds=time.perf_counter() - started,
        method=method,
    )
    calibration = target.z(y[torch.cat([heldout, fitted])[:CALIBRATION_ANCHORS]]).to(torch.float16)
    return AlignmentFit(map=amap, source=source, target=target, report=report, calibration_anchors=calibration,
                        n_extra_samples=n_extra)


def _joined_samples(z_s: torch.Tensor, z_t: torch.Tensor, fitted: torch.Tensor, n: int, source: Standardizer,
                    target: Standardizer, method: str, extra: tuple, weight: float | str):
    """(z_s, z_t, groups, n_extra): the fit anchors followed by the extra samples of fit anchors, in
    z-coordinates, each extra row scaled by sqrt(weight) (weighted least squares); groups: the fit anchor
    of every row, for the penalty's folds."""
    if method != "ridge":
        raise AlignmentError(f"extra samples join a ridge map only, not {method!r}: its folds keep an anchor's "
                             "samples together")
    xs, xt, anchor = extra
    xs, xt = _anchor_matrix(xs, "source extra"), _anchor_matrix(xt, "target extra")
    anchor = torch.as_tensor(anchor, dtype=torch.long)
    if not xs.shape[0] == xt.shape[0] == anchor.shape[0] or (anchor.numel() and not 0 <= int(anchor.min()) <= int(anchor.max()) < n):
        raise AlignmentError(f"extra samples need as many source rows ({xs.shape[0]}), target rows ({xt.shape[0]}) "
                             f"and anchor rows ({anchor.shape[0]}), each anchor row one of the {n} anchors")
    fit_row = torch.full((n,), -1, dtype=torch.long)
    fit_row[fitted] = torch.arange(fitted.numel())
    keep = fit_row[anchor] >= 0  # the samples of held-out anchors stay out
    n_extra = int(keep.sum())
    w = fitted.numel() / max(n_extra, 1) if weight == "balanced" else float(weight)
    if not w > 0:
        raise AlignmentError(f"extra_weight must be positive or 'balanced', got {weight!r}")
    scale = w ** 0.5
    groups = torch.cat([torch.arange(fitted.numel()), fit_row[anchor[keep]]])
    return (torch.cat([z_s, source.z(xs[keep]) * scale]), torch.cat([z_t, target.z(xt[keep]) * scale]), groups,
            n_extra)


# ------------------------------------------------------------------------------------ transport, calibrate


def _transport_one(d_s: Any, fit: AlignmentFit, name: str | None) -> torch.Tensor:
    return fit.map.transport(_checked_source_vector(d_s, fit, name)).to(d_s.device)


def _checked_source_vector(d_s: Any, fit: AlignmentFit, name: str | None) -> torch.Tensor:
    """d_s as a float32 CPU unit vector, after checking it fits the alignment's source."""
    label = f"direction {name!r}: " if name is not None else ""
    if not isinstance(d_s, torch.Tensor) or d_s.ndim != 1:
        shape = tuple(d_s.shape) if isinstance(d_s, torch.Tensor) else type(d_s).__name__
        raise AlignmentError(f"{label}a direction is a 1-D tensor [D], got {shape}")
    if d_s.shape[0] != fit.source.width:
        raise AlignmentError(
            f"{label}this direction is {d_s.shape[0]} wide but the alignment was fitted on a {fit.source.width}-wide "
            "source: extract the direction with the same source model and layer"
        )
    d = d_s.detach().to("cpu", torch.float32)
    if not torch.isfinite(d).all() or d.norm() < 1e-12:
        raise AlignmentError(f"{label}the direction is zero or not finite: re-extract it")
    return d / d.norm()


def transport_covector(w_s: torch.Tensor, fit: AlignmentFit) -> torch.Tensor:
    """A source scoring covector [Ds] (a probe's weights: score = z_s @ w_s) as a unit target covector [Dt].

    A covector is not a displacement: w_t must score mapped points as w_s scored their sources,
    w_t @ (W z_s) = w_s @ z_s, so w_t = pinv(W)^T w_s (least squares, minimal norm). Singular values under
    COVECTOR_RTOL of the largest are cut: the map's weakest directions would otherwise dominate w_t.
    """
    d = _checked_source_vector(w_s, fit, None)
    inverse_t = torch.linalg.pinv(fit.map.linear().to(torch.float64), rtol=COVECTOR_RTOL).T  # [Dt, Ds]
    return normalized((inverse_t @ d.to(torch.float64)).to(torch.float32), "the transported covector").to(w_s.device)


COVECTOR_RTOL = 1e-2


def transport(d_s: torch.Tensor, fit: AlignmentFit) -> torch.Tensor:
    """A source direction [Ds] (source z-coords) as a unit target direction [Dt] (target z-coords)."""
    return _transport_one(d_s, fit, None)


def transport_vectors(vectors: dict[str, torch.Tensor], fit: AlignmentFit) -> dict[str, torch.Tensor]:
    """`transport` for each named direction (e.g. 'global' and one per category)."""
    return {name: _transport_one(vector, fit, name) for name, vector in vectors.items()}


def calibrate(d_t: torch.Tensor, anchors_z: torch.Tensor) -> tuple[float, float]:
    """(center, unit): mean and std of the benign anchor scores anchors_z @ d_t; unit floored at 1e-6.

    With steering delta = alpha * unit * (std * d_t), alpha = 1 moves a prompt by one benign spread.
    """
    if d_t.ndim != 1 or anchors_z.ndim != 2 or anchors_z.shape[1] != d_t.shape[0]:
        raise AlignmentError(
            f"calibration needs a direction [D] and anchors [M, D] of the same width, got {tuple(d_t.shape)} "
            f"and {tuple(anchors_z.shape)}: use the calibration anchors of the alignment that made this direction"
        )
    if anchors_z.shape[0] < 2:
        raise AlignmentError("calibration needs at least 2 anchors to measure a spread")
    scores = anchors_z.detach().to("cpu", torch.float32) @ d_t.detach().to("cpu", torch.float32)
    return float(scores.mean()), max(float(scores.std()), 1e-6)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of two vectors (0.0 when either is zero)."""
    a64, b64 = a.detach().reshape(-1).to("cpu", torch.float64), b.detach().reshape(-1).to("cpu", torch.float64)
    if a64.numel() != b64.numel():
        raise AlignmentError(f"cannot compare a {a64.numel()}-wide vector with a {b64.numel()}-wide one")
    norms = float(a64.norm() * b64.norm())
    return float(a64 @ b64) / norms if norms > 0 else 0.0
