"""Steering operations on text conditioning [B, T, D].

Every operation returns a new tensor with the dtype and device of its input and leaves tokens outside
the mask bit-for-bit unchanged. Steps and scores are computed in float32; a step is rounded once to the
conditioning's dtype and added in it (for half-precision conditioning that costs at most one unit in the
last place more than a float32 round trip, and it is many times faster on a CPU). Directions are unit vectors in z-coordinates
(pointing unsafe -> safe); displacements are raw-coordinate vectors (std * d * unit), see space.py.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from .space import Standardizer

ALPHA_LIMIT = 50.0


class SteeringError(ValueError):
    """A steering request that cannot be carried out as asked."""


# ------------------------------------------------------------------------------------------ validation


def check_conditioning(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise SteeringError(f"conditioning must be a [batch, tokens, width] tensor, got {shape}")
    if not x.is_floating_point():
        raise SteeringError(f"conditioning must be a floating-point tensor, got {x.dtype}")


def check_vector(vector: torch.Tensor, width: int, what: str = "direction") -> None:
    """A [D] vector matching the conditioning width, finite and not zero."""
    if not isinstance(vector, torch.Tensor) or vector.ndim != 1:
        shape = tuple(vector.shape) if isinstance(vector, torch.Tensor) else type(vector).__name__
        raise SteeringError(f"the {what} must be a 1-D [width] tensor, got {shape}")
    if vector.shape[0] != width:
        raise SteeringError(
            f"the {what} is {vector.shape[0]} wide but the conditioning is {width} wide: it was made for another "
            "model; transport it to this model's text encoder (CrossSteer Transport) or load the direction built for it"
        )
    magnitude = vector.detach().abs()
    if magnitude.numel() and not math.isfinite(float(magnitude.amax())):  # the largest is NaN where any is
        raise SteeringError(
            f"the {what} contains NaN or infinite values: the file or the alignment that produced it is broken; "
            "re-estimate or re-transport it"
        )
    if not float(vector.detach().to(torch.float32).norm()) > 0:
        raise SteeringError(
            f"the {what} has zero length, so it cannot steer anything: re-estimate it from prompt pairs that differ"
        )


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """A finite strength within +-ALPHA_LIMIT benign spreads."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise SteeringError(f"{name} must be a number, got {alpha!r}") from None
    if not math.isfinite(value):
        raise SteeringError(f"{name} {value:g} is not a finite number: set it to a value in [-50, 50] (1-10 is typical)")
    if abs(value) > ALPHA_LIMIT:
        raise SteeringError(
            f"{name} {value:g} is outside the sane range [-{ALPHA_LIMIT:g}, {ALPHA_LIMIT:g}]: "
            "alpha is in units of the benign spread; 1-10 is typical"
        )
    return value


def _check_scalar(value: float, name: str, positive: bool = False) -> float:
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        need = "a finite number > 0" if positive else "a finite number"
        raise SteeringError(f"{name} must be {need}, got {value:g}")
    return value


def token_mask(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """A bool [B, T] mask of the tokens to steer. None = all tokens; a [T] or [1, T] mask applies to every item."""
    check_conditioning(x)
    b, t, _ = x.shape
    if mask is None:
        return torch.ones(b, t, dtype=torch.bool, device=x.device)
    m = mask.to(x.device)
    m = m if m.dtype == torch.bool else m != 0
    if m.ndim == 1:
        m = m.unsqueeze(0)
    if m.ndim != 2 or m.shape[1] != t or m.shape[0] not in (1, b):
        raise SteeringError(
            f"the token mask has shape {tuple(mask.shape)} but the conditioning is {b} x {t} tokens: "
            f"give a [{b}, {t}] or [{t}] mask"
        )
    return m.expand(b, t)


def _direction(standardizer: Standardizer, direction: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The unit z-direction on x's device, after checking widths agree."""
    width = x.shape[-1]
    check_vector(direction, width)
    if standardizer.width != width:
        raise SteeringError(
            f"the standardizer is {standardizer.width} wide but the conditioning is {width} wide: use the "
            "direction's own standardizer for this model"
        )
    d = direction.detach().to(x.device, torch.float32)
    # scores are only "one benign spread per unit" for unit d; normalising guards against rounding drift
    return d / d.norm()


def scores(x: torch.Tensor, standardizer: Standardizer, direction: torch.Tensor) -> torch.Tensor:
    """Per-token score z(x) @ d, float32 [B, T] (higher = safer).

    Computed as (x - mean) @ (d / std), without a z-scored copy of the conditioning; half-precision
    conditioning is centered and multiplied in its own dtype (accumulated in float32 by the matmul), so
    no float32 copy of it is made either."""
    check_conditioning(x)
    d = _direction(standardizer, direction, x)
    weight = d / standardizer.std.to(x.device)
    mean = standardizer.mean.to(x.device)
    if x.dtype == torch.float32:
        return (x - mean) @ weight
    return ((x - mean.to(x.dtype)) @ weight.to(x.dtype)).to(torch.float32)


def _shifted(x: torch.Tensor, step: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """x + step[b] on the masked tokens of each batch item b (step float32 [B, D] or [D], rounded once to
    x's dtype); the other tokens are copied bit for bit."""
    step = step.to(x.device, x.dtype)
    step = step.view(1, 1, -1) if step.ndim == 1 else step.unsqueeze(1)
    if bool(m.all()):
        return x + step
    return torch.where(m.unsqueeze(-1), x + step, x)  # the same sums as x + step, picked per token


# ---------------------------------------------------------------------------------------- operations


def add(x: torch.Tensor, displacement: torch.Tensor, alpha: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """x + alpha * displacement on the masked tokens (displacement is raw [D])."""
    check_conditioning(x)
    check_vector(displacement, x.shape[-1], "displacement")
    alpha = check_alpha(alpha)
    return _shifted(x, alpha * displacement.detach().to(x.device, torch.float32), token_mask(x, mask))


def ablate(
    x: torch.Tensor,
    standardizer: Standardizer,
    direction: torch.Tensor,
    center: float,
    mask: torch.Tensor | None = None,
    strength: float = 1.0,
) -> torch.Tensor:
    """Lift a prompt whose score lies below `center` up to it (times strength); other prompts stay as they are.

    The prompt is judged as a whole: its score is the mean token score over its masked tokens (what the
    gate and the calibration measure), and every masked token moves by the same step,
    strength * (center - score) * std * d (the raw step std * d raises a score by |d|^2 = 1). A prompt
    already at or above center (safe-looking) is untouched: a one-sided ablation of the unsafe component.
    strength 1 lifts exactly to the center; larger values push past it (no cap, +-ALPHA_LIMIT at most).
    """
    check_conditioning(x)
    center = _check_scalar(center, "center")
    strength = check_alpha(strength, "strength")
    if strength < 0:
        raise SteeringError(f"strength must be >= 0 (0 = off, 1 = lift to the benign center), got {strength:g}")
    m = token_mask(x, mask)
    prompt = _prompt_scores(x, standardizer, direction, m)
    lift = strength * torch.clamp(center - prompt, min=0.0)
    step = standardizer.raw_displacement(_direction(standardizer, direction, x)).to(x.device)
    return _shifted(x, lift.unsqueeze(1) * step, m)


def _prompt_scores(x: torch.Tensor, standardizer: Standardizer, direction: torch.Tensor,
                   m: torch.Tensor) -> torch.Tensor:
    """Mean token score over each batch item's masked tokens, float32 [B]; an item with none scores as
    +inf (never steered)."""
    weights = m.to(torch.float32)
    counts = weights.sum(dim=1)
    s = scores(x, standardizer, direction)
    return torch.where(counts > 0, (s * weights).sum(dim=1) / counts.clamp_min(1), torch.full_like(counts, math.inf))


# A calibrated gate gives benign prompts at its false-positive quantile this share of the push.
GATE_FLOOR = 0.1
GATE_SOFTNESS = 0.5


def gate_threshold(quantile: float, softness: float = GATE_SOFTNESS) -> float:
    """The threshold (in benign spreads below the center) whose gate is GATE_FLOOR at `quantile`: with
    `quantile` the benign unsafe-ness exceeded by a share f of benign prompts, at most f of them get more
    than a tenth of the push."""
    return float(quantile) + float(softness) * math.log((1 - GATE_FLOOR) / GATE_FLOOR)


def gate_weights(
    x: torch.Tensor,
    standardizer: Standardizer,
    direction: torch.Tensor,
    center: float,
    unit: float,
    threshold: float = 1.0,
    softness: float = 0.5,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """How much each prompt should be steered, float32 [B] in (0, 1).

    A prompt's score is the mean token score over its masked tokens. Its unsafe-ness is how many benign
    spreads it lies below the benign center, u = (center - score) / unit. The gate is
    sigmoid((u - threshold) / softness): about 0 for benign-looking prompts, 0.5 at `threshold` spreads
    below the center, about 1 well beyond it; `softness` sets how sharp the switch is.
    """
    check_conditioning(x)
    center = _check_scalar(center, "center")
    unit = _check_scalar(unit, "unit", positive=True)
    threshold = _check_scalar(threshold, "threshold")
    softness = _check_scalar(softness, "softness", positive=True)
    m = token_mask(x, mask).to(torch.float32)
    counts = m.sum(dim=1)
    if (counts == 0).any():
        empty = (counts == 0).nonzero().flatten().tolist()
        raise SteeringError(f"the token mask selects no tokens for batch item(s) {empty}: the gate needs a score")
    s = scores(x, standardizer, direction)
    prompt_score = (s * m).sum(dim=1) / counts
    unsafeness = (center - prompt_score) / unit
    return torch.sigmoid((unsafeness - threshold) / softness)


def gated_add(
    x: torch.Tensor,
    displacement: torch.Tensor,
    alpha: float,
    gate: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """x + alpha * gate[b] * displacement on the masked tokens of each batch item b."""
    check_conditioning(x)
    check_vector(displacement, x.shape[-1], "displacement")
    alpha = check_alpha(alpha)
    if not isinstance(gate, torch.Tensor) or gate.shape != (x.shape[0],):
        shape = tuple(gate.shape) if isinstance(gate, torch.Tensor) else type(gate).__name__
        raise SteeringError(f"the gate must be a [{x.shape[0]}] tensor (one weight per batch item), got {shape}")
    if not torch.isfinite(gate).all():
        raise SteeringError("the gate contains NaN or infinite values: check the center and unit used to compute it")
    g = gate.detach().to(x.device, torch.float32).view(-1, 1)
    return _shifted(x, alpha * g * displacement.detach().to(x.device, torch.float32), token_mask(x, mask))


def mix(
    vectors: Mapping[str, torch.Tensor],
    units: Mapping[str, float],
    weights: Mapping[str, float],
) -> torch.Tensor:
    """Weighted sum of unit-scaled vectors, sum_k w_k * unit_k * v_k, float32 [D] in z-coordinates.

    Not normalised on purpose: a weight of 1 on one vector steers exactly like that vector alone.
    A vector without an entry in `units` counts with unit 1.
    """
    unknown = sorted(set(weights) - set(vectors))
    if unknown:
        raise SteeringError(f"unknown direction name(s) {unknown} in the mix weights: known are {list(vectors)}")
    total: torch.Tensor | None = None
    for name, weight in weights.items():
        w = float(weight)
        u = float(units.get(name, 1.0))
        if not math.isfinite(w):
            raise SteeringError(f"the mix weight of {name!r} is {w:g}: give a finite number")
        if not math.isfinite(u) or u <= 0:
            raise SteeringError(f"the unit of {name!r} is {u:g}: units must be finite and > 0 (re-calibrate)")
        v = vectors[name]
        if not torch.isfinite(v).all():
            raise SteeringError(f"the vector {name!r} contains NaN or infinite values: re-estimate it")
        if w == 0:
            continue
        term = w * u * v.detach().to(torch.float32)
        if total is not None and term.shape != total.shape:
            raise SteeringError(f"the vector {name!r} is {term.shape[-1]} wide but the others are {total.shape[-1]} wide")
        total = term if total is None else total + term
    if total is None:
        raise SteeringError(f"all mix weights are zero (or none were given): give a non-zero weight to one of {list(vectors)}")
    if not total.norm() > 0:
        raise SteeringError("the weighted vectors cancel out to zero: change the mix weights")
    return total
