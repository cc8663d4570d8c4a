"""Steering a CONDITIONING list with a target-space safety direction, as Apply Safety Steering does: the
family whose layout reads the conditioning (checked against the direction), then each entry's token
segments with the direction of their space and the pooled vector with its own (directions/steer.py does
the arithmetic on one [B, T, D] tensor). Every tensor and dict that comes out is new."""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import torch

from . import steer
from .safety_direction import SafetyDirection
from .conditioning import (describe_entry, entries, families_matching, map_conditioning, pooled_vector,
                           reading_each_tensor_once, segments)
from .families import FAMILIES, FAMILY_CHOICES, POOLED, Family, ambiguous_with, family_label
from .pipeline import GATE_FPR

log = logging.getLogger(__name__)
MODES = ("add", "ablate", "gated")


# ------------------------------------------------------------------------------------ which family


def direction_family(direction: SafetyDirection) -> str | None:
    """The family the direction was fitted for (its target metadata), or None when it does not say."""
    target = direction.meta.get("target")
    family = target.get("family") if isinstance(target, dict) else None
    return family if isinstance(family, str) else None


def primary_space(direction: SafetyDirection, family: Family | None) -> str:
    """The space of the direction's own vectors (the others are in direction.spaces)."""
    target = direction.meta.get("target")
    space = target.get("space") if isinstance(target, dict) else None
    if isinstance(space, str):
        return space
    if family is not None and family.layout == "sd3":  # a direction from before spaces were recorded
        return "t5" if direction.width == 4096 else "clip_lg"
    return "tokens"


def space_directions(direction: SafetyDirection, family: Family | None) -> dict[str, SafetyDirection]:
    """{space: direction}. With a family override, a T5-XXL token direction serves SD3's T5 rows and the
    other way round (the same encoder under two space names)."""
    spaces = {primary_space(direction, family): direction, **getattr(direction, "spaces", {})}
    sd3 = family is not None and family.layout == "sd3"
    if sd3 and "t5" not in spaces and "tokens" in spaces and spaces["tokens"].width == 4096:
        spaces["t5"] = spaces.pop("tokens")
    elif not sd3 and "tokens" not in spaces and "t5" in spaces:
        spaces["tokens"] = spaces.pop("t5")
    return spaces


def _width_refusal(direction: SafetyDirection, width: int) -> ValueError:
    target = direction.meta.get("target") if isinstance(direction.meta.get("target"), dict) else {}
    return ValueError(
        f"this direction was made for a {direction.width}-wide {target.get('family', '')} text encoder "
        f"({target.get('model', 'unknown')}), but the conditioning is {width}-wide: fit an alignment for this model "
        "(Fit Benign Alignment with its CLIP) and transport the direction again")


def resolve_family(direction: SafetyDirection, conditioning: list, override: str = "auto") -> Family | None:
    """The family whose layout rules read this conditioning (with the template prefix the direction's CLIP
    measured, where the family's depends on the tokenizer); streams no map covers are logged."""
    family = _resolve(direction, conditioning, override)
    target = direction.meta.get("target") if isinstance(direction.meta.get("target"), dict) else {}
    if family is not None and family.lead_from_tokenizer and target.get("family") == family.name \
            and isinstance(target.get("lead"), int) and target["lead"] >= 0:
        family = replace(family, lead=target["lead"])
    for key, why in (family.streams if family is not None else ()):
        if any(key in extras for _x, extras in conditioning):
            log.info("CrossSteer: %s passes unchanged: %s", key, why)
    return family


def _resolve(direction: SafetyDirection, conditioning: list, override: str) -> Family | None:
    """auto: the family the direction was fitted for, after checking every entry could come from it and
    from no family that reads another space (a direction fitted for another family is refused, and so is a
    conditioning the marks cannot attribute). An explicit family is trusted: the user knows the text
    encoders are the same (Flux and Chroma share T5-XXL, LTXV and Mochi too)."""
    if override not in FAMILY_CHOICES:
        raise ValueError(f"unknown family {override!r}: use one of {', '.join(FAMILY_CHOICES)}")
    fitted = direction_family(direction)
    if override != "auto":
        if fitted is not None and fitted != override:
            log.warning("CrossSteer: steering %s conditioning with a direction fitted for %s (family override)",
                        override, fitted)
        return FAMILIES[override]
    family = FAMILIES.get(fitted or "")
    widths = {entry[0].shape[-1] for entry in conditioning}
    expected = family.widths if family is not None else (direction.width,)
    for width in sorted(widths):
        if width not in expected and not (family is None and direction.spaces):
            raise _width_refusal(direction, width)
    if family is None:
        matches = {name for x, extras in conditioning for name in families_matching(x, extras)}
        return FAMILIES[next(iter(matches))] if len(matches) == 1 else None
    for x, extras in conditioning:
        candidates = families_matching(x, extras)
        if family.name not in candidates:
            looks = " or ".join(family_label(c) for c in candidates) or "no family CrossSteer knows"
            same = [c for c in candidates if FAMILIES[c].token_space == family.token_space]
            hint = (f"; {family_label(same[0])} uses the same text encoder, so if that is this model set family to "
                    f"{same[0]!r} to steer it anyway") if same else "; or set family if you know better"
            raise ValueError(
                f"this direction was fitted for {family.label}, but this conditioning is not {family.name}'s "
                f"({describe_entry(x, extras)}: it looks like {looks}). Fit an alignment with this model's own CLIP "
                f"and transport the direction again{hint}")
        others = ambiguous_with(family, candidates)
        if others:
            raise ValueError(
                f"this conditioning ({describe_entry(x, extras)}) could come from {family.label} or from "
                f"{' or '.join(family_label(c) for c in others)}: nothing in it tells them apart, and a direction "
                f"fitted for one would steer the other in the wrong space. If it comes from {family.label}, set "
                f"family to {family.name!r} on this node")
    return family


# ------------------------------------------------------------------------------------------ steering


@dataclass
class SteerPlan:
    family: Family | None
    directions: dict[str, SafetyDirection]
    primary: str
    strength: float
    mode: str
    scope: str
    threshold: float  # 0 = the calibrated gate at gate_fpr
    steer_pooled: bool
    gate_fpr: float = GATE_FPR


def _gate(x: torch.Tensor, direction: SafetyDirection, mask: torch.Tensor | None, plan: SteerPlan) -> torch.Tensor:
    """One gate weight per batch item; items with no token to score get 0 (nothing to steer there)."""
    m = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if mask is None else mask
    has = m.any(dim=1)
    gate = torch.zeros(x.shape[0], dtype=torch.float32, device=x.device)
    if not has.any():
        return gate
    cal = direction.calibration("mixed")  # the mix's own center and spread when weights are set
    threshold = plan.threshold if plan.threshold != 0 else cal.gate_threshold(plan.gate_fpr)
    if bool(has.all()):  # the usual case: no copy of the conditioning
        return steer.gate_weights(x, direction.standardizer, cal.vector, cal.center, cal.unit, threshold=threshold,
                                  softness=steer.GATE_SOFTNESS, mask=m)
    gate[has] = steer.gate_weights(x[has], direction.standardizer, cal.vector, cal.center, cal.unit,
                                   threshold=threshold, softness=steer.GATE_SOFTNESS, mask=m[has])
    return gate


def _steer(x: torch.Tensor, direction: SafetyDirection, mask: torch.Tensor | None, plan: SteerPlan,
           gate: torch.Tensor | None) -> torch.Tensor:
    if plan.mode == "add":
        return steer.add(x, direction.displacement("mixed"), plan.strength, mask)
    if plan.mode == "ablate":
        cal = direction.calibration("mixed")
        return steer.ablate(x, direction.standardizer, cal.vector, cal.center, mask, strength=plan.strength)
    return steer.gated_add(x, direction.displacement("mixed"), plan.strength, gate, mask)


def steer_entry(x: torch.Tensor, extras: dict, plan: SteerPlan) -> tuple[torch.Tensor, dict]:
    """One CONDITIONING entry steered: each segment with the direction of its space, the pooled vector with
    its own; a new tensor (and new pooled tensor) with the input's shape, dtype and device."""
    work, missing = [], []
    parts = segments(plan.family, x, extras, plan.scope)
    for seg in parts:
        d = plan.directions.get(seg.space)
        if d is None:
            missing.append(seg.space)
            continue
        if d.width != seg.width:
            raise _width_refusal(d, seg.width)
        work.append((seg, d))
    pooled = pooled_vector(plan.family, extras) if plan.steer_pooled else None
    pooled_direction = plan.directions.get(POOLED) if pooled is not None else None
    if pooled is not None and pooled_direction is None:
        missing.append(POOLED)
    if pooled_direction is not None and pooled_direction.width != pooled.shape[-1]:
        raise _width_refusal(pooled_direction, pooled.shape[-1])
    if not work and pooled_direction is None:
        have = ", ".join(plan.directions) or "none"
        raise ValueError(f"this direction has no map for any part of this conditioning (it needs "
                         f"{', '.join(missing) or 'a token space'}; the direction has {have}): fit the alignment "
                         "with the CLIP that made this conditioning, or set family")
    if missing:
        log.warning("CrossSteer: the direction has no %s space: those parts of the conditioning pass unchanged "
                    "(fit the alignment with this model's CLIP to steer them)", ", ".join(missing))

    gate = None
    if plan.mode == "gated":  # one decision per prompt, from the primary space, applied to every space
        scored = [(seg, d) for seg, d in work if seg.space == plan.primary] or work
        if scored:
            seg, d = scored[0]
            gate = _gate(seg.view(x), d, seg.mask, plan)
        else:
            gate = _gate(pooled.unsqueeze(1), pooled_direction, None, plan)

    steered = {seg.space: _steer(seg.view(x), d, seg.mask, plan, gate) for seg, d in work}
    blocks = []
    for seg in parts:  # every row, in order; columns past a segment kept
        rows = x[:, seg.start:seg.stop]
        block = steered.get(seg.space, rows[..., :seg.width])
        blocks.append(torch.cat([block, rows[..., seg.width:]], dim=-1) if seg.width < x.shape[-1] else block)
    out = torch.cat(blocks, dim=1) if len(blocks) > 1 else blocks[0]
    if not steered:  # only the pooled vector moved: the tokens still come out as a new tensor
        out = x.clone()
    if pooled_direction is not None:
        extras["pooled_output"] = _steer(pooled.unsqueeze(1), pooled_direction, None, plan, gate).squeeze(1)
    return out, extras


def steer_conditioning(conditioning: list, direction: SafetyDirection, strength: float, mode: str = "add",
                       tokens: str = "content", gate_threshold: float = 0.0, steer_pooled: bool = True,
                       family: str = "auto", gate_fpr: float = GATE_FPR) -> list:
    """A new CONDITIONING list, every entry steered (steer_entry) under the family resolve_family finds."""
    direction.validate()  # every space; a direction damaged upstream must never steer (ablate reads it raw)
    steer.check_alpha(strength, "strength")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    with reading_each_tensor_once():  # family marks and token selection read each tensor's rows once
        resolved = resolve_family(direction, entries(conditioning), family)
        plan = SteerPlan(resolved, space_directions(direction, resolved), primary_space(direction, resolved),
                         strength, mode, tokens, float(gate_threshold), bool(steer_pooled), float(gate_fpr))
        return map_conditioning(conditioning, lambda x, extras: steer_entry(x, extras, plan))
