"""Alignment maps: a light map z_source -> z_target between two standardized spaces (see
`space.Standardizer`), fitted on benign anchors; a safety direction is pushed through its linear part.

Methods (all return an `AlignmentMap` whose `linear()` is a [Dt, Ds] matrix in z-coordinates):
- ridge: least squares with an L2 penalty chosen by 5-fold cross-validation.
- svd: reduced-rank regression: the ridge map restricted to the top-r directions of its fitted values.
- procrustes: a scaled orthogonal map (through PCA subspaces when the widths differ).
- whitened: Procrustes between the whitened spaces, the target's covariance put back.
- mlp: ridge plus a small residual MLP; its linear part is the mean Jacobian over the fit anchors.
- procrustes_ridge: ridge shrunk toward the procrustes map (an identity-like prior) instead of toward zero.
- procrustes_lowrank: the procrustes map plus a low-rank correction (reduced-rank ridge of its residual).
- cca: regularized CCA, the top-k canonical pairs weighted by their canonical correlations.

The numbers are computed in map_solvers.py; stored maps are float32.
"""
from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from .map_solvers import (cca_cv, cca_weight, fold_ids, gelu_slope, rank_and_lam_cv, rank_cv, reduced_rank_ridge,
                          ridge_cv, ridge_solve, top_right_vectors, train_residual_mlp, whitened_weight)

METHODS = ("ridge", "svd", "procrustes", "whitened", "mlp", "procrustes_ridge", "procrustes_lowrank", "cca")
RANK_GRID = (8, 16, 32, 64, 128)
# CCA's number of canonical pairs: up to the full width, where an unshrunk CCA is least squares.
CCA_RANK_GRID = (8, 16, 32, 64, 128, 256, 512)
# Shrinkage of the whitened map's covariances toward the identity (share of the identity's weight).
SHRINK_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)


class AlignmentError(ValueError):
    """An alignment cannot be fitted or used as asked; the message says what to change."""


def _owned(t: torch.Tensor) -> torch.Tensor:
    """A float32 CPU copy in freshly allocated memory: tensors loaded from a file can sit at unaligned
    addresses, where BLAS picks other kernels and results differ in the last bit from the fitted map."""
    return t.detach().to("cpu", torch.float32).clone(memory_format=torch.contiguous_format)


def normalized(v: torch.Tensor, what: str) -> torch.Tensor:
    """v / |v|, refusing a vector the map sent to zero (or to NaN)."""
    norm = v.norm()
    if not torch.isfinite(norm) or norm < 1e-12:
        raise AlignmentError(
            f"{what} is zero after the map: the direction lies outside what the benign anchors span; "
            "fit the alignment on more, and more varied, anchors"
        )
    return v / norm


class AlignmentMap:
    """A map z_source [.., Ds] -> z_target [.., Dt]; the base class is a plain linear map W [Dt, Ds].

    Subclasses fit one method each; `AlignmentMap.from_state` rebuilds any of them from `state()`.
    """

    method: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}  # the options `fit` accepts
    tensor_names: ClassVar[tuple[str, ...]] = ("weight",)  # what `state()` saves

    def __init__(self, weight: torch.Tensor, info: dict[str, Any] | None = None):
        self.weight = _owned(weight)
        self.info = dict(info or {})

    @property
    def source_width(self) -> int:
        return int(self.weight.shape[1])

    @property
    def target_width(self) -> int:
        return int(self.weight.shape[0])

    @classmethod
    def _options(cls, options: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(options) - set(cls.defaults))
        if unknown:
            valid = ", ".join(sorted(cls.defaults)) or "none"
            raise AlignmentError(
                f"unknown option(s) {', '.join(unknown)} for method {cls.method!r}: valid options are {valid}"
            )
        return {**cls.defaults, **options}

    @classmethod
    def fit(cls, z_s: torch.Tensor, z_t: torch.Tensor, seed: int = 0, **options: Any) -> AlignmentMap:
        """Fit on standardized anchors z_s [N, Ds], z_t [N, Dt]."""
        raise NotImplementedError(f"{cls.__name__} cannot be fitted; use one of {METHODS}")

    def _check_source(self, z_s: torch.Tensor) -> torch.Tensor:
        if z_s.shape[-1] != self.source_width:
            raise AlignmentError(
                f"the input is {z_s.shape[-1]} wide but the alignment maps a {self.source_width}-wide source"
            )
        return z_s.to("cpu", torch.float32)  # no detach: predict stays differentiable (torch.func Jacobians)

    def predict(self, z_s: torch.Tensor) -> torch.Tensor:
        """Map source z-coordinates [N, Ds] to target z-coordinates [N, Dt]."""
        return self._check_source(z_s) @ self.weight.T

    def linear(self) -> torch.Tensor:
        """The map's effective linear part [Dt, Ds] in z-coordinates."""
        return self.weight

    def transport(self, d_s: torch.Tensor) -> torch.Tensor:
        """normalize(linear @ d_s): a source direction [Ds] as a unit target direction [Dt]."""
        return normalized(self.linear() @ self._check_source(d_s), "the transported direction")

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Plainly named tensors and JSON-able metadata; `AlignmentMap.from_state` inverts this."""
        return {"weight": self.weight.clone()}, {"method": self.method, **self.info}

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> AlignmentMap:
        """Rebuild a map saved with `state()`; the class comes from meta['method']."""
        method = meta.get("method")
        if method not in MAP_CLASSES:
            raise AlignmentError(
                f"saved alignment has unknown method {method!r}: expected one of {', '.join(METHODS)}"
            )
        map_class = MAP_CLASSES[method]
        weight = tensors.get("weight")
        if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
            raise AlignmentError(
                "saved alignment has no 2-D 'weight' tensor [Dt, Ds]: the file is damaged, save it again"
            )
        if not issubclass(map_class, cls):
            raise AlignmentError(f"saved alignment is a {method!r} map, not a {cls.__name__}")
        missing = sorted(set(map_class.tensor_names) - set(tensors))
        if missing:
            raise AlignmentError(
                f"saved {method!r} alignment lacks tensor(s) {', '.join(missing)}: the file is incomplete, save it again"
            )
        return map_class._from_tensors(tensors, {k: v for k, v in meta.items() if k != "method"})

    @classmethod
    def _from_tensors(cls, tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> AlignmentMap:
        return cls(tensors["weight"], info)


class RidgeMap(AlignmentMap):
    """W = argmin ||Z_s W^T - Z_t||^2 + lam ||W||^2, lam by k-fold cross-validation unless given (`groups`:
    a group id per row that keeps a group's rows in one fold, see map_solvers.fold_ids)."""

    method = "ridge"
    defaults: ClassVar[dict[str, Any]] = {"lam": None, "folds": 5, "groups": None}

    @classmethod
    def fit(cls, z_s: torch.Tensor, z_t: torch.Tensor, seed: int = 0, **options: Any) -> RidgeMap:
        opts = cls._options(options)
        lam = _checked_lam(opts["lam"]) if opts["lam"] is not None else ridge_cv(z_s, z_t, int(opts["folds"]), seed,
                                                                                 opts["groups"])
        return cls(ridge_solve(z_s, z_t, lam), {"lam": lam})


class ReducedRankMap(AlignmentMap):
    """Reduced-rank regression: W_r = V_r V_r^T W, V_r the top-r right singular vectors of Z_s W^T."""

    method = "svd"
    defaults: ClassVar[dict[str, Any]] = {"lam": None, "rank": None, "folds": 5}

    @classmethod
    def fit(cls, z_s: torch.Tensor, z_t: torch.Tensor, seed: int = 0, **options: Any) -> ReducedRankMap:
        opts = cls._options(options)
        lam = _checked_lam(opts["lam"]) if opts["lam"] is not None else ridge_cv(z_s, z_t, int(opts["folds"]), seed)
        rank = _reduced_rank(opts, z_s, z_t, lam, seed)
        weight, rank = reduced_rank_ridge(z_s, z_t, lam, rank)
        return cls(weight, {"lam": lam, "rank": rank})


class ProcrustesMap(AlignmentMap):
    """z_t ~ s * V_t R V_s^T z_s with R orthogonal, in k = min(Ds, Dt, N-1, k_max) PCA dimensions."""

    method = "procrustes"
    defaults: ClassVar[dict[str, Any]] = {"k_max": 256}

    @classmethod
    def fit(cls, z_s: torch.Tensor, z_t: torch.Tensor, seed: int = 0, **options: Any) -> ProcrustesMap:
        opts = cls._options(options)
        s64, t64 = z_s.to(torch.float64), z_t.to(torch.float64)
        (n, ds), dt = s64.shape, t64.shape[1]
        k = min(ds, dt, n - 1, int(opts["k_max"]))
        if k == ds == dt:
            # Same width and enough anchors: rotate the full spaces, no reduction needed.
            basis_s = basis_t = torch.eye(k, dtype=torch.float64)
        else:
            basis_s, basis_t = top_right_vectors(s64)[:, :k], top_right_vectors(t64)[:, :k]
        # Not square when one side's anchors span fewer than k directions: R is then a partial isometry.
        u, _, vh = torch.linalg.svd((s64 @ basis_s).T @ (t64 @ basis_t), full_matrices=False)
        # P_s (U V^T) ~ P_t, so in column form z_t ~ V_t (U V^T)^T V_s^T z_s.
        rotation = basis_t @ (u @ vh).T @ basis_s.T
        mapped = s64 @ rotation.T
        scale = float((mapped * t64).sum() / (mapped**2).sum().clamp_min(1e-30))
        return cls(scale * rotation, {"rank": int(min(basis_s.shape[1], basis_t.shape[1])), "scale": scale})



class ProcrustesRidgeMap(AlignmentMap):
    """Ridge shrunk toward the Procrustes map instead of toward zero: W = W0 + D, W0 the scaled orthogonal
    map (an identity-like prior: one scale in every direction), D = argmin ||Z_s (W0 + D)^T - Z_t||^2 +
    lam ||D||^2 the correction, lam by k-fold cross-validation on the residual unless given."""

    method = "procrustes_ridge"
    defaults: ClassVar[dict[str, Any]] = {"lam": None, "folds": 5, "k_max": 256}

    @classmethod
    def fit(cls, z_s: torch.Tensor, z_t: torch.Tensor, seed: int = 0, **options: Any) -> ProcrustesRidgeMap:
        opts = cls._options(options)
        prior = ProcrustesMap.fit(z_s, z_t, seed=seed, k_max=opts["k_max"])
        s64 = z_s.to(torch.float64)
        residual = z_t.to(torch.float64) - s64 @ prior.weight.to(torch.float64).T
        lam = _checked_lam(opts["lam"]) if opts["lam"] is not None else ridge_cv(s64, residual, int(opts["folds"]), seed)
        return cls(prior.weight.to(torch.float64) + ridge_solve(s64, residual, lam),
                   {"lam": lam, "rank": prior.info["rank"], "scale": prior.info["scale"]})


class ProcrustesLowRankMap(AlignmentMap):
    """The Procrustes map plus a low-rank correction: W = W0 + U V^T, W0 the scaled orthogonal map (an
    identity-like prior), U V^T the reduced-rank ridge map of the residual Z_t - Z_s W0^T; the rank from
    RANK_GRID and the penalty from LAMBDA_GRID jointly by k-fold validation error on the residual (one of
    them given: the other alone, the penalty as ridge's). Unlike procrustes_ridge, the correction can only move a few directions away from W0."""

    method = "procrustes_lowrank"
    defaults: ClassVar[dict[str, Any]] = {"lam": None, "rank": None, "folds": 5, "k_max": 256}

    @classmethod
    def fit(cls, z_s: torch.Tensor, z_t: torch.Tensor, seed: int = 0, **options: Any) -> ProcrustesLowRankMap:
        opts = cls._options(options)
        prior = ProcrustesMap.fit(z_s, z_t, seed=seed, k_max=opts["k_max"])
        s64, w0 = z_s.to(torch.float64), prior.weight.to(torch.float64)
        residual = z_t.to(torch.float64) - s64 @ w0.T
        if opts["lam"] is None and opts["rank"] is None:
            rank, lam = rank_and_lam_cv(s64, residual, _rank_grid(s64, residual), int(opts["folds"]), seed)
        else:
            lam = _checked_lam(opts["lam"]) if opts["lam"] is not None else ridge_cv(s64, residual, int(opts["folds"]), seed)
            rank = _reduced_rank(opts, s64, residual, lam, seed)
        correction, rank = reduced_rank_ridge(s64, residual, lam, rank)
        return cls(w0 + correction, {"lam": lam, "rank": rank, "prior_rank": prior.info["rank"],
                                     "scale": prior.info["scale"]})


class CCAMap(AlignmentMap):
    """Regularized CCA: z_t ~ C_t^(1/2) V_k diag(rho_k) U_k^T C_s^(-1/2) z_s, U rho V^T the SVD of the
    cross-covariance of the whitened spaces (covariances shrunk toward the identity), so each of the top k
    canonical pairs carries its canonical correlation (whitened Procrustes sets them all equal). k from
    CCA_RANK_GRID and the shrinkage from SHRINK_GRID, jointly, by the least k-fold validation error on the
    (benign) anchors, unless given. At full rank and no shrinkage it is least squares."""

    method = "cca"
    defaults: ClassVar[dict[str, Any]] = {"shrink": None, "rank": None, "folds": 5}

    @classmethod
    def fit(cls, z_s: torch.Tensor, z_t: torch.Tensor, seed: int = 0, **options: Any) -> CCAMap:
        opts = cls._options(options)
        s64, t64 = z_s.to(torch.float64), z_t.to(torch.float64)
        (n, ds), dt = s64.shape, t64.shape[1]
        shrinks = SHRINK_GRID if opts["shrink"] is None else (_checked_shrink(opts["shrink"]),)
        if opts["rank"] is None:
            ranks = sorted({min(r, ds, dt, n - 1) for r in CCA_RANK_GRID})
        else:
            ranks = [_checked_rank(opts["rank"], ds, dt)]
        shrink, rank = (shrinks[0], ranks[0]) if len(shrinks) == len(ranks) == 1 else \
            cca_cv(s64, t64, shrinks, ranks, int(opts["folds"]), seed)
        return cls(cca_weight(s64, t64, shrink, rank), {"shrink": shrink, "rank": int(rank)})


class WhitenedProcrustesMap(AlignmentMap):
    """Whitened Procrustes (CCA with every canonical correlation set equal): z_t ~ C_t^(1/2) s R C_s^(-1/2) z_s,
    the covariances shrunk toward the identity by the share of SHRINK_GRID with the least k-fold
    validation error on the (benign) anchors, unless `shrink` is given."""

    method = "whitened"
    defaults: ClassVar[dict[str, Any]] = {"shrink": None, "folds": 5}

    @classmethod
    def fit(cls, z_s: torch.Tensor, z_t: torch.Tensor, seed: int = 0, **options: Any) -> WhitenedProcrustesMap:
        opts = cls._options(options)
        s64, t64 = z_s.to(torch.float64), z_t.to(torch.float64)
        shrink = opts["shrink"]
        if shrink is None:
            ids, folds = fold_ids(s64.shape[0], int(opts["folds"]), seed)

            def error(share: float) -> float:
                return sum(float(((s64[ids == f] @ whitened_weight(s64[ids != f], t64[ids != f], share).T
                                   - t64[ids == f]) ** 2).sum()) for f in range(folds))

            shrink = min(SHRINK_GRID, key=error)
        else:
            shrink = _checked_shrink(shrink)
        return cls(whitened_weight(s64, t64, float(shrink)), {"shrink": float(shrink)})


class MLPMap(AlignmentMap):
    """predict(z) = ridge(z) + W2 gelu(W1 z + b1) + b2; the residual MLP is trained with early stopping."""

    method = "mlp"
    # A full-batch step costs about 5 * N * D * hidden multiply-adds (0.2-0.3 s at N=3000, D=640 on two
    # cores): hence 200 steps at most, and a patience of 25 that ends most runs after a few dozen.
    defaults: ClassVar[dict[str, Any]] = {
        "lam": None, "folds": 5, "hidden": 512, "max_steps": 200, "lr": 1e-3, "weight_decay": 1e-2, "patience": 25,
    }
    tensor_names: ClassVar[tuple[str, ...]] = ("weight", "hidden_weight", "hidden_bias", "output_weight", "output_bias", "mean_gate")

    def __init__(self, weight: torch.Tensor, mlp: dict[str, torch.Tensor], info: dict[str, Any] | None = None):
        super().__init__(weight, info)
        self.mlp = {name: _owned(mlp[name]) for name in self.tensor_names[1:]}

    @classmethod
    def fit(cls, z_s: torch.Tensor, z_t: torch.Tensor, seed: int = 0, **options: Any) -> MLPMap:
        opts = cls._options(options)
        ridge = RidgeMap.fit(z_s, z_t, seed=seed, lam=opts["lam"], folds=opts["folds"])
        # ComfyUI runs nodes under inference mode; training needs ordinary tensors and autograd.
        with torch.inference_mode(False), torch.enable_grad():
            x = z_s.detach().to("cpu", torch.float32).clone()
            residual = (z_t.detach().to("cpu", torch.float32) - ridge.predict(x)).clone()
            params, steps = train_residual_mlp(x, residual, seed, opts)
        w1, b1, w2, b2 = params
        mean_gate = gelu_slope(x @ w1.T + b1).mean(0)
        mlp = {"hidden_weight": w1, "hidden_bias": b1, "output_weight": w2, "output_bias": b2, "mean_gate": mean_gate}
        return cls(ridge.weight, mlp, {**ridge.info, "hidden": int(opts["hidden"]), "steps": steps})

    def predict(self, z_s: torch.Tensor) -> torch.Tensor:
        x = self._check_source(z_s)
        hidden = F.gelu(x @ self.mlp["hidden_weight"].T + self.mlp["hidden_bias"])
        return x @ self.weight.T + hidden @ self.mlp["output_weight"].T + self.mlp["output_bias"]

    def linear(self) -> torch.Tensor:
        # The Jacobian at z is W + W2 diag(gelu'(W1 z + b1)) W1; its mean over the fit anchors only needs
        # the mean slope per hidden unit, so it is exact without a [N, Dt, Ds] Jacobian stack.
        return self.weight + self.mlp["output_weight"] @ (self.mlp["mean_gate"][:, None] * self.mlp["hidden_weight"])

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors, meta = super().state()
        return {**tensors, **{name: t.clone() for name, t in self.mlp.items()}}, meta

    @classmethod
    def _from_tensors(cls, tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> MLPMap:
        return cls(tensors["weight"], tensors, info)


MAP_CLASSES: dict[str, type[AlignmentMap]] = {
    "ridge": RidgeMap,
    "svd": ReducedRankMap,
    "procrustes": ProcrustesMap,
    "whitened": WhitenedProcrustesMap,
    "mlp": MLPMap,
    "procrustes_ridge": ProcrustesRidgeMap,
    "procrustes_lowrank": ProcrustesLowRankMap,
    "cca": CCAMap,
}


def _checked_rank(rank: Any, ds: int, dt: int) -> int:
    rank = int(rank)
    if not 1 <= rank <= min(ds, dt):
        raise AlignmentError(f"rank {rank} is out of range: use 1 to {min(ds, dt)} (the smaller width)")
    return rank


def _reduced_rank(opts: dict[str, Any], x: torch.Tensor, y: torch.Tensor, lam: float, seed: int) -> int:
    """The given rank (checked), or the one of RANK_GRID with the least k-fold validation error."""
    if opts["rank"] is not None:
        return _checked_rank(opts["rank"], x.shape[1], y.shape[1])
    ranks = _rank_grid(x, y)
    return ranks[0] if len(ranks) == 1 else rank_cv(x, y, lam, ranks, int(opts["folds"]), seed)


def _rank_grid(x: torch.Tensor, y: torch.Tensor) -> list[int]:
    """RANK_GRID clipped to what the anchors can identify."""
    return sorted({min(r, x.shape[1], y.shape[1], x.shape[0] - 1) for r in RANK_GRID})


def _checked_shrink(shrink: Any) -> float:
    shrink = float(shrink)
    if not 0 < shrink <= 1:
        raise AlignmentError(f"shrink must be in (0, 1], got {shrink}: leave it out to choose it by cross-validation")
    return shrink


def _checked_lam(lam: Any) -> float:
    lam = float(lam)
    if not math.isfinite(lam) or lam <= 0:
        raise AlignmentError(f"lam must be a positive number, got {lam}: leave it out to choose it by cross-validation")
    return lam

