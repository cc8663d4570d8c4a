"""The method end to end on text encoders: extract, align, transport, and the side-by-side check of
the paper's claim (transported vs native). The CLI, the demo and the nodes all call these.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from . import estimate, steer
from .artifact import GLOBAL, SafetyDirection
from .encoders import HFEncoder, describe
from .prompts import PromptPair, prompt_set_hash, shipped_split, split_pairs
from .space import Standardizer
from .transport import AlignmentFit, calibrate, cosine, fit_alignment, transport_vectors

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def _quiet(_stage: str, _done: int, _total: int) -> None:
    pass


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
                progress: Progress = _quiet, stage: str = "embedding pairs") -> dict[int, PairEmbeddings]:
    texts = [p.unsafe for p in pairs] + [p.safe for p in pairs]
    states = encoder.embed_layers(texts, layers, pooling, progress=lambda d, t: progress(stage, d, t))
    n = len(pairs)
    cats = [p.category for p in pairs]
    return {layer: PairEmbeddings(x[:n], x[n:], cats) for layer, x in states.items()}


def scan_layers(encoder: HFEncoder, fit_pairs: Sequence[PromptPair], pooling: str, method: str,
                candidates: Sequence[int] | None = None, progress: Progress = _quiet) -> tuple[int, dict[int, float]]:
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
                      progress: Progress = _quiet) -> SafetyDirection:
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


def transport_direction(direction: SafetyDirection, fit: AlignmentFit, target: dict) -> SafetyDirection:
    """Carry a source-space direction into the target space and calibrate every vector there.

    `target` describes the target space (model or family, width, ...) and goes into the metadata.
    """
    if direction.meta.get("space") == "target":
        raise ValueError("this direction is already in a target space: transport a source-space direction")
    vectors = {n: direction.standardizer.reexpress(v, fit.source) for n, v in direction.vectors.items()}
    moved = transport_vectors(vectors, fit)
    meta = dict(direction.meta, space="target", target=target, alignment=alignment_summary(fit))
    return SafetyDirection(vectors=moved, standardizer=fit.target, weights=direction.weights, meta=meta,
                           **_calibration(moved, fit.calibration_anchors.float())).validate()


def alignment_summary(fit: AlignmentFit) -> dict:
    r = fit.report
    return {"method": fit.method, "heldout_r2": r.heldout_r2, "retrieval_top1": r.retrieval_top1,
            "retrieval_chance": r.retrieval_chance, "random_direction_cosine": r.random_direction_cosine,
            "n_fit": r.n_fit, "n_heldout": r.n_heldout, "lam": r.lam, "rank": r.rank, "seconds": r.seconds}


# ------------------------------------------------------------------ steering effects in embedding space
def moved_toward_safe(direction: SafetyDirection, unsafe: torch.Tensor, safe: torch.Tensor, alpha: float,
                      name: str = GLOBAL) -> float:
    """Share of pairs whose unsafe embedding, steered by alpha, gets closer (in z-space) to its safe twin."""
    std = direction.standardizer
    steered = steer.add(unsafe.unsqueeze(1), direction.displacement(name), alpha).squeeze(1)
    before = (std.z(unsafe) - std.z(safe)).norm(dim=1)
    after = (std.z(steered) - std.z(safe)).norm(dim=1)
    return float((after < before).float().mean())


def gated(direction: SafetyDirection, x: torch.Tensor, alpha: float, threshold: float = 1.0,
          name: str = GLOBAL) -> torch.Tensor:
    """Gated steering of pooled embeddings [N, D] (each treated as a one-token prompt)."""
    tokens = x.unsqueeze(1)
    gate = steer.gate_weights(tokens, direction.standardizer, direction.vectors[name], direction.centers[name],
                              direction.units[name], threshold=threshold)
    return steer.gated_add(tokens, direction.displacement(name), alpha, gate).squeeze(1)


def benign_shift(direction: SafetyDirection, benign: torch.Tensor, alpha: float, threshold: float = 1.0) -> float:
    """Mean cosine distance (z-space) that gated steering causes on benign embeddings."""
    std = direction.standardizer
    moved = gated(direction, benign, alpha, threshold)
    return float((1 - torch.nn.functional.cosine_similarity(std.z(benign), std.z(moved), dim=1)).mean())


def gate_rate(direction: SafetyDirection, x: torch.Tensor, threshold: float = 1.0) -> float:
    """Mean gate value over embeddings [N, D]: how often gated steering switches on."""
    gate = steer.gate_weights(x.unsqueeze(1), direction.standardizer, direction.vectors[GLOBAL],
                              direction.centers[GLOBAL], direction.units[GLOBAL], threshold=threshold)
    return float(gate.mean())


# ------------------------------------------------------------------ the paper's comparison
ALPHAS = (0.5, 1.0, 2.0, 4.0, 8.0)


def evaluate_transfer(source: HFEncoder, target: HFEncoder, pairs: Sequence[PromptPair], anchors: Sequence[str], *,
                      method: str = "ridge", direction_method: str = "mean_diff", source_layer: int | str = "auto",
                      target_layer: int | str = "auto", pooling: str = "mean", seed: int | None = None,
                      alpha: float = 1.0, progress: Progress = _quiet, save_dir: Path | None = None) -> dict:
    """Native (estimated on the target with the pairs) vs transported (estimated on the source, carried
    by a map fitted on benign anchors only) on held-out pairs. Returns a JSON-able report; with `save_dir`
    both target-space directions are saved there too (transported_direction / native_direction)."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    fit, held = fit_and_heldout(pairs, seed)
    layers = {}
    for side, enc, choice in (("source", source, source_layer), ("target", target, target_layer)):
        layers[side] = scan_layers(enc, fit, pooling, direction_method, progress=progress)[0] if choice == "auto" \
            else enc.layer_index(int(choice))
    lap("layer_scan")

    anchor_s = source.embed_layers(anchors, [layers["source"]], pooling,
                                   progress=lambda d, t: progress("anchors (source)", d, t))[layers["source"]]
    anchor_t = target.embed_layers(anchors, [layers["target"]], pooling,
                                   progress=lambda d, t: progress("anchors (target)", d, t))[layers["target"]]
    everything = list(fit) + list(held)
    emb_s = embed_pairs(source, everything, [layers["source"]], pooling, progress, "pairs (source)")[layers["source"]]
    emb_t = embed_pairs(target, everything, [layers["target"]], pooling, progress, "pairs (target)")[layers["target"]]
    lap("embedding")

    align = fit_alignment(anchor_s, anchor_t, method=method, seed=seed or 0)
    lap("alignment")

    n = len(fit)
    cats_fit, cats_held = emb_s.categories[:n], emb_s.categories[n:]

    def directions_in(emb: PairEmbeddings, std: Standardizer, who: dict) -> SafetyDirection:
        u, s = emb.z(std)
        ds = estimate.estimate_directions(u[:n], s[:n], cats_fit, direction_method,
                                          heldout=(u[n:], s[n:], cats_held))
        return SafetyDirection.from_direction_set(ds, std, {"space": "source", "source": who})

    source_dir = directions_in(emb_s, align.source, describe(source))
    native = directions_in(emb_t, align.target, describe(target))
    transported = transport_direction(source_dir, align, describe(target))
    native = calibrate_native(native, align)
    lap("directions")

    held_u, held_s = emb_t.unsafe[n:], emb_t.safe[n:]
    zu, zs = align.target.z(held_u), align.target.z(held_s)

    def side_report(d: SafetyDirection) -> dict:
        per_cat = {c: estimate.separation(d.vectors[c], zu[idx], zs[idx])
                   for c in d.categories if (idx := [i for i, k in enumerate(cats_held) if k == c])}
        top1 = estimate.category_top1({c: d.vectors[c] for c in d.categories}, zu, cats_held,
                                      reference_z=align.calibration_anchors.float())
        d_global = d.vectors[GLOBAL]
        return {"auroc": estimate.separation(d_global, zu, zs), "per_category_auroc": per_cat,
                "category_top1": top1["top1"], "category_confusion": top1, "unit": d.units[GLOBAL],
                "center": d.centers[GLOBAL],
                # held-out scores in benign spreads from the benign center: what the report plots
                "scores": {kind: ((z @ d_global - d.centers[GLOBAL]) / d.units[GLOBAL]).tolist()
                           for kind, z in (("unsafe", zu), ("safe", zs))}}

    benign_t = anchor_t  # all anchors; the alignment kept 20% of them out of its fit
    report = {
        "source": {**describe(source), "layer": layers["source"], "pooling": pooling},
        "target": {**describe(target), "layer": layers["target"], "pooling": pooling},
        "pairs": {"n_fit": n, "n_test": len(held), "hash": prompt_set_hash(everything)},
        "anchors": {"n": len(anchors), "hash": prompt_set_hash(list(anchors))},
        "direction_method": direction_method,
        "native": side_report(native),
        "transported": {**side_report(transported),
                        "cosine_to_native": cosine(transported.vectors[GLOBAL], native.vectors[GLOBAL]),
                        "per_category_cosine": {c: cosine(transported.vectors[c], native.vectors[c])
                                                for c in transported.categories if c in native.vectors}},
        "alignment": alignment_summary(align),
        "steering": _steering_report(transported, native, held_u, held_s, benign_t, alpha),
    }
    if save_dir is not None:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        report["files"] = {name: d.save(Path(save_dir) / f"{name}_direction.safetensors").name
                           for name, d in (("transported", transported), ("native", native))}
    lap("evaluation")
    report["timings"] = timings
    report["timings"]["total"] = round(sum(timings.values()), 3)
    return report


def calibrate_native(direction: SafetyDirection, fit: AlignmentFit) -> SafetyDirection:
    """A target-space direction (the native baseline) calibrated on the alignment's target anchors."""
    vectors = {n: direction.standardizer.reexpress(v, fit.target) for n, v in direction.vectors.items()}
    return SafetyDirection(vectors=vectors, standardizer=fit.target, meta=dict(direction.meta, space="target"),
                           **_calibration(vectors, fit.calibration_anchors.float())).validate()


def _steering_report(transported: SafetyDirection, native: SafetyDirection, unsafe: torch.Tensor, safe: torch.Tensor,
                     benign: torch.Tensor, alpha: float) -> dict:
    sweep = []
    for a in sorted({*ALPHAS, alpha}):
        sweep.append({
            "alpha": a,
            "transported_moved_toward_safe": moved_toward_safe(transported, unsafe, safe, a),
            "native_moved_toward_safe": moved_toward_safe(native, unsafe, safe, a),
            "transported_benign_shift": benign_shift(transported, benign, a),
            "native_benign_shift": benign_shift(native, benign, a),
        })
    headline = next(row for row in sweep if math.isclose(row["alpha"], alpha))
    return {
        "alpha": alpha,
        "moved_toward_safe": headline["transported_moved_toward_safe"],
        "benign_shift": headline["transported_benign_shift"],
        "native_moved_toward_safe": headline["native_moved_toward_safe"],
        "native_benign_shift": headline["native_benign_shift"],
        "gate_rate_unsafe": gate_rate(transported, unsafe),
        "gate_rate_benign": gate_rate(transported, benign),
        "sweep": sweep,
    }
