"""The method's stages on text encoders: extract a direction from prompt pairs, calibrate it on benign
anchors, transport it through an alignment. The CLI, the nodes and the text-space evaluation
(transfer_eval.py) all call these.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import torch

from . import estimate
from .encoders import HFEncoder, describe
from .progress import Progress, no_progress
from .prompts import PromptPair, prompt_set_hash, shipped_split, split_pairs
from .safety_direction import SafetyDirection
from .space import Standardizer
from .transport import AlignmentFit, calibrate, transport_covector, transport_vectors

GATE_FPR = 0.05  # the gate's benign false-positive rate unless the user chooses another
TARGET_POOLING = "mean"  # what Apply steers: the mean over the prompt's content tokens


def _calibration(vectors: dict[str, torch.Tensor], benign_z: torch.Tensor) -> dict[str, dict[str, float]]:
    """{"centers": ..., "units": ...}: each vector's benign mean score and spread (alpha's unit)."""
    measured = {name: calibrate(v, benign_z) for name, v in vectors.items()}
    return {"centers": {n: c for n, (c, _u) in measured.items()}, "units": {n: u for n, (_c, u) in measured.items()}}


@dataclass
class PairEmbeddings:
    """Unsafe and safe embeddings [N, D] of a list of pairs, with their categories."""

    unsafe: torch.Tensor
    safe: torch.Tensor
    categories: list[str]

    def z(self, standardizer: Standardizer) -> tuple[torch.Tensor, torch.Tensor]:
        return standardizer.z(self.unsafe), standardizer.z(self.safe)


def fit_and_heldout(pairs: Sequence[PromptPair], seed: int | None = None,
                    heldout_fraction: float = 0.5) -> tuple[list[PromptPair], list[PromptPair]]:
    """The pairs' own fixed split when they carry one (and no seed asks for another), else a
    stratified random split."""
    if seed is None:
        fit, held = shipped_split(pairs)
        if fit and held:
            return fit, held
    return split_pairs(pairs, heldout_fraction=heldout_fraction, seed=seed or 0)


def embed_pairs(encoder: HFEncoder, pairs: Sequence[PromptPair], layers: Sequence[int], pooling: str,
                progress: Progress = no_progress, stage: str = "embedding pairs") -> dict[int, PairEmbeddings]:
    texts = [p.unsafe for p in pairs] + [p.safe for p in pairs]
    states = encoder.embed_layers(texts, layers, pooling, progress=lambda d, t: progress(stage, d, t))
    n = len(pairs)
    cats = [p.category for p in pairs]
    return {layer: PairEmbeddings(x[:n], x[n:], cats) for layer, x in states.items()}


def scan_layers(encoder: HFEncoder, fit_pairs: Sequence[PromptPair], pooling: str, method: str,
                candidates: Sequence[int] | None = None, progress: Progress = no_progress) -> tuple[int, dict[int, float]]:
    """Pick the layer whose global direction separates an inner held-out part of the FIT pairs best
    (the test pairs never choose the layer)."""
    layers = list(candidates or range(1, encoder.num_layers + 1))
    inner_fit, inner_held = split_pairs(fit_pairs, heldout_fraction=0.3, seed=1234)
    emb = embed_pairs(encoder, list(inner_fit) + list(inner_held), layers, pooling, progress, "layer scan")
    n = len(inner_fit)
    table_input = {}
    for layer, e in emb.items():
        # z-score with the prompts' own statistics so massive-activation channels do not decide
        std = Standardizer.fit(torch.cat([e.unsafe[:n], e.safe[:n]]))
        u, s = e.z(std)
        table_input[layer] = (u[:n], s[:n], u[n:], s[n:])
    return estimate.layer_scan(table_input, method)


def extract_direction(encoder: HFEncoder, pairs: Sequence[PromptPair], *, layer: int | str = "auto",
                      pooling: str = "mean", method: str = "mean_diff", per_category: bool = True,
                      standardizer: Standardizer | None = None, seed: int | None = None,
                      progress: Progress = no_progress) -> SafetyDirection:
    """A SafetyDirection in the encoder's own space from prompt pairs, with held-out separation stats.

    `standardizer` (e.g. from benign anchors at the same layer) defines the z-coordinates; without one
    the fit prompts' own statistics are used.
    """
    fit, held = fit_and_heldout(pairs, seed)
    scan = None
    if layer == "auto":
        layer, scan = scan_layers(encoder, fit, pooling, method, progress=progress)
    index = encoder.layer_index(int(layer))
    emb = embed_pairs(encoder, list(fit) + list(held), [index], pooling, progress)[index]
    n = len(fit)
    if standardizer is None:
        standardizer = Standardizer.fit(torch.cat([emb.unsafe[:n], emb.safe[:n]]))
    u, s = emb.z(standardizer)
    ds = estimate.estimate_directions(u[:n], s[:n], emb.categories[:n], method,
                                      heldout=(u[n:], s[n:], emb.categories[n:]) if held else None,
                                      per_category=per_category)
    meta = {
        "space": "source", "source": describe(encoder), "layer": index, "pooling": pooling, "method": method,
        "prompt_set_hash": prompt_set_hash(fit), "n_fit": n, "n_heldout": len(held),
        "layer_scan": {str(k): v for k, v in scan.items()} if scan else None,
    }
    direction = SafetyDirection.from_direction_set(ds, standardizer, meta)
    # until anchors calibrate it (transport), the safe fit prompts are the benign reference
    calibration = _calibration(direction.vectors, s[:n])
    direction.centers, direction.units = calibration["centers"], calibration["units"]
    return direction.validate()


def calibrate_direction(direction: SafetyDirection, anchors_z: torch.Tensor, gate_fpr: float = GATE_FPR) -> SafetyDirection:
    """Every vector calibrated on benign anchors (z-coordinates of the direction's own space): center and
    unit (the mean and spread of their scores), the scores themselves (a mix's own calibration and the
    gate threshold come from them) and the gate's benign false-positive rate. The one calibration of
    every steering direction, native or transported, in the library, the CLI and the nodes."""
    if not 0 < gate_fpr < 1:
        raise ValueError(f"gate_fpr {gate_fpr!r} must be a share of benign prompts in (0, 1), e.g. 0.01 or 0.05")
    measured = {n: calibrate(v, anchors_z.float()) for n, v in direction.vectors.items()}
    scores = torch.stack([anchors_z.float() @ v.float() for v in direction.vectors.values()], dim=1)
    return dataclasses.replace(direction, centers={n: c for n, (c, _u) in measured.items()},
                               units={n: u for n, (_c, u) in measured.items()}, benign_scores=scores,
                               meta={**direction.meta, "gate_fpr": float(gate_fpr)}).validate()


def average_directions(directions: Sequence[SafetyDirection], standardizer: Standardizer, anchors_z: torch.Tensor,
                       gate_fpr: float = GATE_FPR) -> SafetyDirection:
    """One direction from several in the same space (e.g. one per source LLM, each transported into the
    same target layer): each vector re-expressed in `standardizer`'s z-coordinates (the same raw step),
    unit-normalised so that no source outweighs another, averaged, normalised again and calibrated on the
    benign anchors `anchors_z` (z-coordinates of `standardizer`). Keeps the vectors every direction has."""
    if not directions:
        raise ValueError("average_directions needs at least one direction")
    widths = {d.standardizer.width for d in directions}
    if widths != {standardizer.width}:
        raise ValueError(f"cannot average directions {sorted(widths)} wide into a {standardizer.width}-wide space: "
                         "transport each into the same target model and layer first")
    names = [n for n in directions[0].vectors if all(n in d.vectors for d in directions)]
    vectors = {}
    for name in names:
        mean = torch.stack([d.standardizer.reexpress(d.vectors[name].float(), standardizer) for d in directions]).mean(0)
        if float(mean.norm()) < 1e-6:
            raise ValueError(f"the directions' {name!r} vectors cancel out: they point in opposite ways")
        vectors[name] = mean / mean.norm()
    meta = {**directions[0].meta, "averaged_from": [d.meta.get("source") for d in directions]}
    weights = {n: w for n, w in directions[0].weights.items() if n in vectors}
    return calibrate_direction(SafetyDirection(vectors=vectors, standardizer=standardizer, weights=weights, meta=meta),
                               anchors_z, gate_fpr)


def check_source_side(direction: SafetyDirection, fit: AlignmentFit) -> None:
    """Refuse a direction from another source layer or pooling than the alignment was fitted on."""
    side = fit.source_side or {}
    for key, what in (("layer", "layer"), ("pooling", "pooling")):
        mine, theirs = direction.meta.get(key), side.get(key)
        if mine is not None and theirs is not None and mine != theirs:
            raise ValueError(f"this direction was extracted at source {what} {mine!r} but the alignment was fitted "
                             f"at source {what} {theirs!r}: fit the alignment at {what} {mine!r} (fit-alignment "
                             f"--source-layer / Fit Benign Alignment with the direction connected) or extract the "
                             f"direction at {what} {theirs!r}")


def transport_direction(direction: SafetyDirection, fit: AlignmentFit, target: dict,
                        gate_fpr: float = GATE_FPR) -> SafetyDirection:
    """Carry a source-space direction into the target space and calibrate every vector there.

    Mean-difference and PCA vectors are displacements (pushed through the map); a probe's weights are a
    scoring covector (carried through the map's pseudo-inverse transpose). `target` describes the target
    space (model or family, width, ...) and goes into the metadata.
    """
    if direction.meta.get("space") == "target":
        raise ValueError("this direction is already in a target space: transport a source-space direction")
    check_source_side(direction, fit)
    if direction.meta.get("method") == "probe":
        moved = {n: transport_covector(direction.standardizer.reexpress_covector(v, fit.source), fit)
                 for n, v in direction.vectors.items()}
    else:
        vectors = {n: direction.standardizer.reexpress(v, fit.source) for n, v in direction.vectors.items()}
        moved = transport_vectors(vectors, fit)
    meta = dict(direction.meta, space="target", target=target, alignment=alignment_summary(fit))
    return calibrate_direction(SafetyDirection(vectors=moved, standardizer=fit.target, weights=direction.weights,
                                               meta=meta), fit.calibration_anchors, gate_fpr)


def alignment_summary(fit: AlignmentFit) -> dict:
    r = fit.report
    return {"method": fit.method, "heldout_r2": r.heldout_r2, "retrieval_top1": r.retrieval_top1,
            "retrieval_chance": r.retrieval_chance, "random_direction_cosine": r.random_direction_cosine,
            "n_fit": r.n_fit, "n_heldout": r.n_heldout, "lam": r.lam, "rank": r.rank, "seconds": r.seconds,
            "map_info": dict(fit.map.info)}
