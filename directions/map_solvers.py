"""The numerical fitting behind the alignment maps (alignment_maps.py): ridge solves and their
cross-validation, reduced-rank bases, whitening and regularized CCA, and the residual MLP's training.

Linear systems are solved in float64 (anchor Gram matrices are badly conditioned when N ~ D). Everything
runs on the CPU and is deterministic given `seed`.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

# Ridge penalties as multiples of the number of fit anchors: with z-scored inputs the Gram matrix's mean
# eigenvalue is N, so these are penalties relative to the data (1e-5: almost OLS, 1e3: almost zero).
LAMBDA_GRID = tuple(10.0 ** (k / 2) for k in range(-10, 7))


def ridge_solve(x: torch.Tensor, y: torch.Tensor, lam: float) -> torch.Tensor:
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


def fold_ids(n: int, folds: int, seed: int, groups: torch.Tensor | None = None) -> tuple[torch.Tensor, int]:
    """A fold id per row; with `groups` (a group id per row, 0..G-1) every row of a group shares a fold, so
    samples drawn from one anchor (its words) never validate a fit on their own anchor."""
    if groups is not None:
        group_folds, folds = fold_ids(int(groups.max()) + 1, folds, seed)
        return group_folds[groups], folds
    folds = max(2, min(folds, n))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    ids = torch.empty(n, dtype=torch.long)
    ids[order] = torch.arange(n) % folds
    return ids, folds


def ridge_cv(x: torch.Tensor, y: torch.Tensor, folds: int, seed: int, groups: torch.Tensor | None = None) -> float:
    """The penalty of LAMBDA_GRID (times N) with the least k-fold validation error (folds by `groups`
    when given, see fold_ids).

    One eigendecomposition per fold serves every penalty: the validation prediction is A diag(f) B with
    f = 1 / (e + lam) (primal: Gram X^T X = V E V^T, A = X_val V, B = V^T X^T Y; dual: kernel
    X X^T = U E U^T, A = X_val X^T U, B = U^T Y), so the validation SSE is a quadratic form in f.
    """
    x64, y64 = x.to(torch.float64), y.to(torch.float64)
    ids, folds = fold_ids(x64.shape[0], folds, seed, groups)
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


def top_right_vectors(m: torch.Tensor) -> torch.Tensor:
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


def reduced_rank_ridge(x: torch.Tensor, y: torch.Tensor, lam: float, rank: int) -> tuple[torch.Tensor, int]:
    """The ridge map of y on x kept on the top-`rank` directions of its fitted values, V_r V_r^T W
    (float64), and the rank it really has (fewer where the fitted values span fewer directions)."""
    weight = ridge_solve(x, y, lam)
    basis = top_right_vectors(x.to(torch.float64) @ weight.T)[:, :rank]
    return basis @ (basis.T @ weight), int(basis.shape[1])


def _rank_sse(x64: torch.Tensor, y64: torch.Tensor, lam: float, ranks: list[int], ids: torch.Tensor,
              folds: int) -> torch.Tensor:
    """k-fold validation SSE [len(ranks)] of the reduced-rank ridge map at penalty lam (lam for all N)."""
    n = x64.shape[0]
    sse = torch.zeros(len(ranks), dtype=torch.float64)
    for fold in range(folds):
        val, train = ids == fold, ids != fold
        weight = ridge_solve(x64[train], y64[train], lam * int(train.sum()) / n)
        basis = top_right_vectors(x64[train] @ weight.T)  # [Dt, q]
        pred, y_val = x64[val] @ weight.T @ basis, y64[val]
        # Orthonormal basis: keeping column j lowers the SSE by 2<y, p_j> - |p_j|^2.
        gain = torch.cumsum(2 * ((y_val @ basis) * pred).sum(0) - (pred**2).sum(0), 0)
        kept = torch.tensor([min(r, basis.shape[1]) - 1 for r in ranks])
        sse += (y_val**2).sum() - gain[kept]
    return sse


def rank_cv(x: torch.Tensor, y: torch.Tensor, lam: float, ranks: list[int], folds: int, seed: int) -> int:
    """The rank of `ranks` whose reduced-rank ridge map has the least k-fold validation error."""
    x64, y64 = x.to(torch.float64), y.to(torch.float64)
    ids, folds = fold_ids(x64.shape[0], folds, seed)
    return ranks[int(torch.argmin(_rank_sse(x64, y64, lam, ranks, ids, folds)))]


def rank_and_lam_cv(x: torch.Tensor, y: torch.Tensor, ranks: list[int], folds: int, seed: int) -> tuple[int, float]:
    """The (rank, penalty) of `ranks` x LAMBDA_GRID (times N) with the least k-fold validation error, jointly:
    a low-rank map needs less shrinkage than the full-rank one that `ridge_cv` tunes for, and on noisy
    anchors that penalty shrinks a weak low-rank signal away."""
    x64, y64 = x.to(torch.float64), y.to(torch.float64)
    n = x64.shape[0]
    ids, folds = fold_ids(n, folds, seed)
    sse = torch.stack([_rank_sse(x64, y64, scale * n, ranks, ids, folds) for scale in LAMBDA_GRID])
    best = int(torch.argmin(sse))
    return ranks[best % len(ranks)], float(LAMBDA_GRID[best // len(ranks)] * n)


def gelu_slope(h: torch.Tensor) -> torch.Tensor:
    """d/dh of the exact GELU h * Phi(h): Phi(h) + h * phi(h)."""
    return 0.5 * (1 + torch.erf(h / math.sqrt(2))) + h * torch.exp(-0.5 * h**2) / math.sqrt(2 * math.pi)



def inverse_sqrt_and_sqrt(z: torch.Tensor, shrink: float) -> tuple[torch.Tensor, torch.Tensor]:
    """C^(-1/2) and C^(1/2) of the shrunk covariance C = (1 - shrink) Z^T Z / N + shrink I (z-scored Z)."""
    c = (1 - shrink) * (z.T @ z) / z.shape[0] + shrink * torch.eye(z.shape[1], dtype=z.dtype)
    e, v = torch.linalg.eigh(c)
    e = e.clamp_min(1e-12)
    return (v * e.rsqrt()) @ v.T, (v * e.sqrt()) @ v.T


def whitened_weight(s64: torch.Tensor, t64: torch.Tensor, shrink: float) -> torch.Tensor:
    """W = C_t^(1/2) s R C_s^(-1/2): both sides whitened, rotated onto each other (Procrustes), the
    target's covariance put back; s the least-squares scale in the whitened space."""
    inv_s, _ = inverse_sqrt_and_sqrt(s64, shrink)
    inv_t, sqrt_t = inverse_sqrt_and_sqrt(t64, shrink)
    ws, wt = s64 @ inv_s, t64 @ inv_t
    u, _, vh = torch.linalg.svd(ws.T @ wt, full_matrices=False)
    rotation = u @ vh  # [Ds, Dt]
    mapped = ws @ rotation
    scale = float((mapped * wt).sum() / (mapped**2).sum().clamp_min(1e-30))
    return (inv_s @ rotation @ sqrt_t).T * scale


def canonical_pairs(s64: torch.Tensor, t64: torch.Tensor, shrink: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Regularized CCA of z-scored anchors: (A [Ds, q], rho [q], B [q, Dt]), strongest pair first, with
    z_t ~ z_s A diag(rho) B the prediction from the top pairs: A = C_s^(-1/2) U the source's canonical
    directions, rho the canonical correlations, B = V^T C_t^(1/2) the target's variates put back in its
    coordinates, U rho V^T the SVD of the whitened cross-covariance (covariances shrunk as in whitening)."""
    inv_s, _ = inverse_sqrt_and_sqrt(s64, shrink)
    inv_t, sqrt_t = inverse_sqrt_and_sqrt(t64, shrink)
    u, rho, vh = torch.linalg.svd((s64 @ inv_s).T @ (t64 @ inv_t) / s64.shape[0], full_matrices=False)
    return inv_s @ u, rho, vh @ sqrt_t


def cca_weight(s64: torch.Tensor, t64: torch.Tensor, shrink: float, rank: int) -> torch.Tensor:
    """W [Dt, Ds] = C_t^(1/2) V_k diag(rho_k) U_k^T C_s^(-1/2): the top-`rank` canonical pairs."""
    a, rho, b = canonical_pairs(s64, t64, shrink)
    return ((a[:, :rank] * rho[:rank]) @ b[:rank]).T


def cca_cv(s64: torch.Tensor, t64: torch.Tensor, shrinks: tuple[float, ...], ranks: list[int], folds: int,
           seed: int) -> tuple[float, int]:
    """The (shrink, rank) of the two grids whose CCA map has the least k-fold validation error.

    One SVD per fold and shrink serves every rank: with P = Z_val A diag(rho) and the rows of B, keeping
    the top k pairs costs |Y|^2 - 2 sum_{j<k} <P_j, Y B_j> + sum_{i,j<k} (P^T P)_ij (B B^T)_ij.
    """
    ids, folds = fold_ids(s64.shape[0], folds, seed)
    sse = torch.zeros(len(shrinks), len(ranks), dtype=torch.float64)
    for fold in range(folds):
        val, train = ids == fold, ids != fold
        y_val = t64[val]
        for i, shrink in enumerate(shrinks):
            a, rho, b = canonical_pairs(s64[train], t64[train], shrink)
            pred = (s64[val] @ a) * rho
            cross = torch.cumsum((pred * (y_val @ b.T)).sum(0), 0)
            square = ((pred.T @ pred) * (b @ b.T)).cumsum(0).cumsum(1).diagonal()
            kept = torch.tensor([min(r, rho.numel()) - 1 for r in ranks])
            sse[i] += (y_val**2).sum() - 2 * cross[kept] + square[kept]
    best = int(torch.argmin(sse))
    return float(shrinks[best // len(ranks)]), ranks[best % len(ranks)]


def train_residual_mlp(
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

