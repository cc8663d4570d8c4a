"""Alignment between a source LLM's space and a target text encoder's space, fitted on benign anchors only.

The same benign prompts are embedded on both sides (source X [N, Ds], target Y [N, Dt]). A light map
z_source -> z_target is fitted between the two *standardized* spaces (see `space.Standardizer`); a safety
direction found in the source is pushed through the map's linear part (for an affine map the bias cancels)
and its magnitude is calibrated later with target anchor statistics. No unsafe prompt touches the target.

Methods (all return an `AlignmentMap` whose `linear()` is a [Dt, Ds] matrix in z-coordinates):
- ridge: least squares with an L2 penalty chosen by 5-fold cross-validation.
- svd: reduced-rank regression: the ridge map restricted to the top-r directions of its fitted values.
- procrustes: a scaled orthogonal map (through PCA subspaces when the widths differ).
- mlp: ridge plus a small residual MLP; its linear part is the mean Jacobian over the fit anchors.

Linear systems are solved in float64 (anchor Gram matrices are badly conditioned when N ~ D); stored maps
are float32. Everything runs on the CPU and is deterministic given `seed`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from .space import Standardizer

METHODS = ("ridge", "svd", "procrustes", "whitened", "mlp")
MIN_ANCHORS = 16
CALIBRATION_ANCHORS = 512
# Ridge penalties as multiples of the number of fit anchors: with z-scored inputs the Gram matrix's mean
# eigenvalue is N, so these are penalties relative to the data (1e-5: almost OLS, 1e3: almost zero).
LAMBDA_GRID = tuple(10.0 ** (k / 2) for k in range(-10, 7))
RANK_GRID = (8, 16, 32, 64, 128)
# Shrinkage of the whitened map's covariances toward the identity (share of the identity's weight).
SHRINK_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
RANDOM_PAIRS = 256


class AlignmentError(ValueError):
    """An alignment cannot be fitted or used as asked; the message says what to change."""


# ----------------------------------------------------------------------------------------------- solvers


def _ridge_solve(x: torch.Tensor, y: torch.Tensor, lam: float) -> torch.Tensor:
    """W [Dt, Ds] float64 minimizing ||x W^T - y||^2 + lam ||W||^2."""
    x64, y64 = x.to(torch.float64), y.to(torch.float64)
    n, width = x64.shape
    if n < width:
        # Dual (kernel) form: an N x N system instead of Ds x Ds.
        gram = x64 @ x64.T + lam * torch.eye(n, dtype=torch.float64)
        coef = x64.T @ torch.linalg.solve(gram, y64)
    else:
        gram = x64.T @ x64 + lam * torch.eye(width, dtype=torch.float64)
        coef = torch.linalg.solve(gram, x64.T @ y64)
    return coef.T


def _fold_ids(n: int, folds: int, seed: int) -> tuple[torch.Tensor, int]:
    folds = max(2, min(folds, n))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    ids = torch.empty(n, dtype=torch.long)
    ids[order] = torch.arange(n) % folds
    return ids, folds


def _ridge_cv(x: torch.Tensor, y: torch.Tensor, folds: int, seed: int) -> float:
    """The penalty of LAMBDA_GRID (times N) with the least k-fold validation error.

    One eigendecomposition per fold serves every penalty: the validation prediction is A diag(f) B with
    f = 1 / (e + lam) (primal: Gram X^T X = V E V^T, A = X_val V, B = V^T X^T Y; dual: kernel
    X X^T = U E U^T, A = X_val X^T U, B = U^T Y), so the validation SSE is a quadratic form in f.
    """
    x64, y64 = x.to(torch.float64), y.to(torch.float64)
    ids, folds = _fold_ids(x64.shape[0], folds, seed)
    scales = torch.tensor(LAMBDA_GRID, dtype=torch.float64)
    sse = torch.zeros(len(LAMBDA_GRID), dtype=torch.float64)
    for fold in range(folds):
        val, train = ids == fold, ids != fold
        x_train, y_train, x_val, y_val = x64[train], y64[train], x64[val], y64[val]
        if x_train.shape[0] < x_train.shape[1]:
            e, u = torch.linalg.eigh(x_train @ x_train.T)
            a, b = (x_val @ x_train.T) @ u, u.T @ y_train
        else:
            e, v = torch.linalg.eigh(x_train.T @ x_train)
            a, b = x_val @ v, v.T @ (x_train.T @ y_train)
        cross = (a * (y_val @ b.T)).sum(0)
        gram = (a.T @ a) * (b @ b.T)
        shrink = 1 / (e.clamp_min(0) + scales[:, None] * x_train.shape[0])
        sse += (y_val**2).sum() - 2 * shrink @ cross + ((shrink @ gram) * shrink).sum(1)
    return float(LAMBDA_GRID[int(torch.argmin(sse))] * x64.shape[0])


def _top_right_vectors(m: torch.Tensor) -> torch.Tensor:
    """Right singular vectors of m [n, D] as columns [D, q], strongest first (float64; q <= min(n, D)).

    Eigendecomposition of the smaller of m^T m and m m^T: several times faster than an SVD on the CPU,
    and exact enough for the leading directions, which are the only ones used. Directions with a
    vanishing singular value are left out.
    """
    m64 = m.to(torch.float64)
    if m64.shape[0] < m64.shape[1]:
        e, u = torch.linalg.eigh(m64 @ m64.T)
        e, u = e.flip(0), u.flip(1)
        keep = e > e[0].clamp_min(0) * 1e-12
        return (m64.T @ u[:, keep]) / e[keep].sqrt()
    e, v = torch.linalg.eigh(m64.T @ m64)
    e, v = e.flip(0), v.flip(1)
    return v[:, e > e[0].clamp_min(0) * 1e-12]


def _rank_cv(x: torch.Tensor, y: torch.Tensor, lam: float, ranks: list[int], folds: int, seed: int) -> int:
    """The rank of `ranks` whose reduced-rank ridge map has the least k-fold validation error."""
    x64, y64 = x.to(torch.float64), y.to(torch.float64)
    n = x64.shape[0]
    ids, folds = _fold_ids(n, folds, seed)
    sse = torch.zeros(len(ranks), dtype=torch.float64)
    for fold in range(folds):
        val, train = ids == fold, ids != fold
        weight = _ridge_solve(x64[train], y64[train], lam * int(train.sum()) / n)
        basis = _top_right_vectors(x64[train] @ weight.T)  # [Dt, q]
        pred, y_val = x64[val] @ weight.T @ basis, y64[val]
        # Orthonormal basis: keeping column j lowers the SSE by 2<y, p_j> - |p_j|^2.
        gain = torch.cumsum(2 * ((y_val @ basis) * pred).sum(0) - (pred**2).sum(0), 0)
        kept = torch.tensor([min(r, basis.shape[1]) - 1 for r in ranks])
        sse += (y_val**2).sum() - gain[kept]
    return ranks[int(torch.argmin(sse))]


def _gelu_slope(h: torch.Tensor) -> torch.Tensor:
    """d/dh of the exact GELU h * Phi(h): Phi(h) + h * phi(h)."""
    return 0.5 * (1 + torch.erf(h / math.sqrt(2))) + h * torch.exp(-0.5 * h**2) / math.sqrt(2 * math.pi)


# ------------------------------------------------------------------------------------------------- maps


def _owned(t: torch.Tensor) -> torch.Tensor:
    """A float32 CPU copy in freshly allocated memory: tensors loaded from a file can sit at unaligned
    addresses, where BLAS picks other kernels and results differ in the last bit from the fitted map."""
    return t.detach().to("cpu", torch.float32).clone(memory_format=torch.contiguous_format)


def _unit(v: torch.Tensor, what: str) -> torch.Tensor:
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
        return _unit(self.linear() @ self._check_source(d_s), "the transported direction")

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Plainly named tensors and JSON-able metadata; `AlignmentMap.from_state` inverts this."""
        return {"weight": self.weight.clone()}, {"method": self.method, **self.info}

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> AlignmentMap:
        """Rebuild a map saved with `state()`; the class comes from meta['method']."""
        method = meta.get("method")
        if method not in _MAP_CLASSES:
            raise AlignmentError(
                f"saved alignment has unknown method {method!r}: expected one of {', '.join(METHODS)}"
            )
        map_class = _MAP_CLASSES[method]
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
    """W = argmin ||Z_s W^T - Z_t||^2 + lam ||W||^2, lam by k-fold cross-validation unless given."""

    method = "ridge"
    defaults: ClassVar[dict[str, Any]] = {"lam": None, "folds": 5}

    @classmethod
    def fit(cls, z_s: torch.Tensor, z_t: torch.Tensor, seed: int = 0, **options: Any) -> RidgeMap:
        opts = cls._options(options)
        lam = _checked_lam(opts["lam"]) if opts["lam"] is not None else _ridge_cv(z_s, z_t, int(opts["folds"]), seed)
        return cls(_ridge_solve(z_s, z_t, lam), {"lam": lam})


class ReducedRankMap(AlignmentMap):
    """Reduced-rank regression: W_r = V_r V_r^T W, V_r the top-r right singular vectors of Z_s W^T."""

    method = "svd"
    defaults: ClassVar[dict[str, Any]] = {"lam": None, "rank": None, "folds": 5}

    @classmethod
    def fit(cls, z_s: torch.Tensor, z_t: torch.Tensor, seed: int = 0, **options: Any) -> ReducedRankMap:
        opts = cls._options(options)
        n, ds = z_s.shape
        dt = z_t.shape[1]
        lam = _checked_lam(opts["lam"]) if opts["lam"] is not None else _ridge_cv(z_s, z_t, int(opts["folds"]), seed)
        largest = min(ds, dt, n - 1)
        if opts["rank"] is not None:
            rank = int(opts["rank"])
            if not 1 <= rank <= min(ds, dt):
                raise AlignmentError(f"rank {rank} is out of range: use 1 to {min(ds, dt)} (the smaller width)")
        else:
            ranks = sorted({min(r, largest) for r in RANK_GRID})
            rank = ranks[0] if len(ranks) == 1 else _rank_cv(z_s, z_t, lam, ranks, int(opts["folds"]), seed)
        weight = _ridge_solve(z_s, z_t, lam)
        basis = _top_right_vectors(z_s.to(torch.float64) @ weight.T)[:, :rank]
        return cls(basis @ (basis.T @ weight), {"lam": lam, "rank": int(basis.shape[1])})


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
            basis_s, basis_t = _top_right_vectors(s64)[:, :k], _top_right_vectors(t64)[:, :k]
        # Not square when one side's anchors span fewer than k directions: R is then a partial isometry.
        u, _, vh = torch.linalg.svd((s64 @ basis_s).T @ (t64 @ basis_t), full_matrices=False)
        # P_s (U V^T) ~ P_t, so in column form z_t ~ V_t (U V^T)^T V_s^T z_s.
        rotation = basis_t @ (u @ vh).T @ basis_s.T
        mapped = s64 @ rotation.T
        scale = float((mapped * t64).sum() / (mapped**2).sum().clamp_min(1e-30))
        return cls(scale * rotation, {"rank": int(min(basis_s.shape[1], basis_t.shape[1])), "scale": scale})


def _inverse_sqrt_and_sqrt(z: torch.Tensor, shrink: float) -> tuple[torch.Tensor, torch.Tensor]:
    """C^(-1/2) and C^(1/2) of the shrunk covariance C = (1 - shrink) Z^T Z / N + shrink I (z-scored Z)."""
    c = (1 - shrink) * (z.T @ z) / z.shape[0] + shrink * torch.eye(z.shape[1], dtype=z.dtype)
    e, v = torch.linalg.eigh(c)
    e = e.clamp_min(1e-12)
    return (v * e.rsqrt()) @ v.T, (v * e.sqrt()) @ v.T


def _whitened_weight(s64: torch.Tensor, t64: torch.Tensor, shrink: float) -> torch.Tensor:
    """W = C_t^(1/2) s R C_s^(-1/2): both sides whitened, rotated onto each other (Procrustes), the
    target's covariance put back; s the least-squares scale in the whitened space."""
    inv_s, _ = _inverse_sqrt_and_sqrt(s64, shrink)
    inv_t, sqrt_t = _inverse_sqrt_and_sqrt(t64, shrink)
    ws, wt = s64 @ inv_s, t64 @ inv_t
    u, _, vh = torch.linalg.svd(ws.T @ wt, full_matrices=False)
    rotation = u @ vh  # [Ds, Dt]
    mapped = ws @ rotation
    scale = float((mapped * wt).sum() / (mapped**2).sum().clamp_min(1e-30))
    return (inv_s @ rotation @ sqrt_t).T * scale


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
            ids, folds = _fold_ids(s64.shape[0], int(opts["folds"]), seed)

            def error(share: float) -> float:
                return sum(float(((s64[ids == f] @ _whitened_weight(s64[ids != f], t64[ids != f], share).T
                                   - t64[ids == f]) ** 2).sum()) for f in range(folds))

            shrink = min(SHRINK_GRID, key=error)
        elif not 0 < float(shrink) <= 1:
            raise AlignmentError(f"shrink must be in (0, 1], got {shrink}: leave it out to choose it by cross-validation")
        return cls(_whitened_weight(s64, t64, float(shrink)), {"shrink": float(shrink)})


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
            params, steps = _train_residual_mlp(x, residual, seed, opts)
        w1, b1, w2, b2 = params
        mean_gate = _gelu_slope(x @ w1.T + b1).mean(0)
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


def _train_residual_mlp(
    x: torch.Tensor, residual: torch.Tensor, seed: int, opts: dict[str, Any]
) -> tuple[list[torch.Tensor], int]:
    """Full-batch AdamW on the ridge residual; keeps the parameters with the best loss on a 10% slice."""
    generator = torch.Generator().manual_seed(seed + 1)
    n, ds = x.shape
    order = torch.randperm(n, generator=generator)
    n_val = max(1, round(0.1 * n))
    x_val, r_val = x[order[:n_val]], residual[order[:n_val]]
    x_train, r_train = x[order[n_val:]], residual[order[n_val:]]
    hidden, bound = int(opts["hidden"]), 1 / math.sqrt(ds)
    w1 = ((torch.rand(hidden, ds, generator=generator) * 2 - 1) * bound).requires_grad_()
    b1 = ((torch.rand(hidden, generator=generator) * 2 - 1) * bound).requires_grad_()
    # Zero output layer: training starts from the ridge map, and early stopping keeps it unless the MLP
    # does better on the validation slice (on high-dimensional anchors it often does not: that is fine).
    w2 = torch.zeros(residual.shape[1], hidden, requires_grad=True)
    b2 = torch.zeros(residual.shape[1], requires_grad=True)
    params = [w1, b1, w2, b2]

    def forward(z: torch.Tensor) -> torch.Tensor:
        return F.gelu(z @ w1.T + b1) @ w2.T + b2

    optimizer = torch.optim.AdamW(params, lr=float(opts["lr"]), weight_decay=float(opts["weight_decay"]), foreach=True)
    with torch.no_grad():
        best_loss = float(F.mse_loss(forward(x_val), r_val))
    best, best_step, since_best = [p.detach().clone() for p in params], 0, 0
    for step in range(1, int(opts["max_steps"]) + 1):
        optimizer.zero_grad(set_to_none=True)
        F.mse_loss(forward(x_train), r_train).backward()
        optimizer.step()
        with torch.no_grad():
            val_loss = float(F.mse_loss(forward(x_val), r_val))
        if val_loss < best_loss * (1 - 1e-4):
            best, best_loss, best_step, since_best = [p.detach().clone() for p in params], val_loss, step, 0
        else:
            since_best += 1
            if since_best >= int(opts["patience"]):
                break
    return best, best_step


_MAP_CLASSES: dict[str, type[AlignmentMap]] = {
    "ridge": RidgeMap,
    "svd": ReducedRankMap,
    "procrustes": ProcrustesMap,
    "whitened": WhitenedProcrustesMap,
    "mlp": MLPMap,
}


def _checked_lam(lam: Any) -> float:
    lam = float(lam)
    if not math.isfinite(lam) or lam <= 0:
        raise AlignmentError(f"lam must be a positive number, got {lam}: leave it out to choose it by cross-validation")
    return lam


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
    **options: Any,
) -> AlignmentFit:
    """Fit a map source -> target on benign anchors (row i on both sides is the same prompt).

    A random `heldout_fraction` of the anchors is kept out of the fit (standardizers included) to measure
    the report; `options` go to the method (ridge: lam, folds; svd: lam, rank, folds; procrustes: k_max;
    mlp: lam, folds, hidden, max_steps, lr, weight_decay, patience).
    """
    started = time.perf_counter()
    if method not in _MAP_CLASSES:
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
    amap = _MAP_CLASSES[method].fit(source.z(x[fitted]), target.z(y[fitted]), seed=seed, **options)

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
    return AlignmentFit(map=amap, source=source, target=target, report=report, calibration_anchors=calibration)


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
    return _unit((inverse_t @ d.to(torch.float64)).to(torch.float32), "the transported covector").to(w_s.device)


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
