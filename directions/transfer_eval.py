"""The paper's claim checked in text space: native (estimated on the target with unsafe pairs),
transported (estimated on the source, carried by a map fitted on benign anchors only) and a random
control, steered as Apply steers and judged by an independent classifier (`crosssteer evaluate-transfer`,
the demo and benchmarks/transfer_levers.py run it), on the shipped split and on report-only sets.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch

from . import estimate, steer
from .encoders import HFEncoder, describe
from .judge import SafetyJudge
from .pipeline import (GATE_FPR, TARGET_POOLING, alignment_summary, average_directions, calibrate_direction, embed_pairs,
                       fit_and_heldout, scan_layers, transport_direction)
from .progress import Progress, no_progress
from .prompts import DATA_DIR, PromptPair, load_anchors, load_pairs, prompt_set_hash, split_pairs
from .safety_direction import GLOBAL, SafetyDirection
from .space import Standardizer
from .transport import cosine, fit_alignment
from .word_states import paired_word_states

MODES = ("add", "gated", "ablate")


# ------------------------------------------------------------------ steering, as Apply does it
def steer_embeddings(direction: SafetyDirection, x: torch.Tensor, mode: str, strength: float,
                     gate_fpr: float | None = None) -> torch.Tensor:
    """Mean-pooled embeddings [N, D] steered as Apply steers a prompt's content tokens (each row a
    one-token prompt: add and gated add the same step to every token, ablate lifts them all by the same
    amount, so the mean moves exactly as the tokens do), with the direction's mix or global vector."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    tokens = x.unsqueeze(1)
    if mode == "add":
        return steer.add(tokens, direction.displacement("mixed"), strength).squeeze(1)
    cal = direction.calibration("mixed")
    if mode == "ablate":
        return steer.ablate(tokens, direction.standardizer, cal.vector, cal.center, strength=strength).squeeze(1)
    gate = gate_of(direction, x, gate_fpr)
    return steer.gated_add(tokens, direction.displacement("mixed"), strength, gate).squeeze(1)


def gate_of(direction: SafetyDirection, x: torch.Tensor, gate_fpr: float | None = None) -> torch.Tensor:
    """The calibrated gate [N] of pooled embeddings [N, D] (at the direction's own benign false-positive
    rate unless `gate_fpr` says otherwise)."""
    cal = direction.calibration("mixed")
    fpr = gate_fpr if gate_fpr is not None else direction.meta.get("gate_fpr", GATE_FPR)
    return steer.gate_weights(x.unsqueeze(1), direction.standardizer, cal.vector, cal.center, cal.unit,
                              threshold=cal.gate_threshold(fpr), softness=steer.GATE_SOFTNESS)


def preservation(standardizer: Standardizer, before: torch.Tensor, after: torch.Tensor) -> float:
    """Mean cosine between embeddings before and after steering, in the target's z-coordinates (the
    CLIP-score analog: 1 = the meaning kept)."""
    return float(torch.nn.functional.cosine_similarity(standardizer.z(before), standardizer.z(after), dim=1).mean())


# ------------------------------------------------------------------ the paper's comparison
ALPHAS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0)
PRESERVATION = 0.9  # the benign preservation at which the three directions are compared
MORE_PRESERVATION = (0.95, 0.97)  # reported beside it
RANDOM_CONTROLS = 5
BENIGN_TEST_FRACTION = 0.2
LAYER_SCAN_ANCHORS = 1000


def split_anchors(anchors: Sequence[str], seed: int = 0) -> tuple[list[str], list[str]]:
    """(alignment anchors, held-out benign test prompts): the test share never fits, standardizes or
    calibrates anything."""
    order = torch.randperm(len(anchors), generator=torch.Generator().manual_seed(seed + 7)).tolist()
    n_test = max(2, round(len(anchors) * BENIGN_TEST_FRACTION))
    test = set(order[:n_test])
    return [a for i, a in enumerate(anchors) if i not in test], [a for i, a in enumerate(anchors) if i in test]


def target_layer_by_alignment(source_anchors: torch.Tensor, target: HFEncoder, anchors: Sequence[str], method: str,
                              seed: int, progress: Progress = no_progress) -> tuple[int, dict[int, float]]:
    """The target layer a benign-only rule picks: the best held-out R^2 of the alignment from the source
    layer, on (up to LAYER_SCAN_ANCHORS of) the alignment anchors. No pair touches it."""
    texts = list(anchors)[:LAYER_SCAN_ANCHORS]
    layers = list(range(1, target.num_layers + 1))
    states = target.embed_layers(texts, layers, TARGET_POOLING, progress=lambda d, t: progress("target layer scan", d, t))
    r2 = {layer: fit_alignment(source_anchors[:len(texts)], states[layer], method=method, seed=seed).report.heldout_r2
          for layer in layers}
    return max(layers, key=lambda layer: (r2[layer], -layer)), r2


def _target_layer(target, choice, source_anchors, anchors, method, seed, progress) -> tuple[int, str, dict | None]:
    """(layer, layer_source, scan): the family's layer for a generator's text encoder, the user's, or the
    benign-only rule for a text stand-in. The pairs never choose it."""
    if isinstance(getattr(target, "family", None), str):
        return target.layer_index(-1), "family", None
    if choice != "auto":
        return target.layer_index(int(choice)), "user", None
    layer, r2 = target_layer_by_alignment(source_anchors, target, anchors, "ridge" if method == "mlp" else method,
                                          seed, progress)
    return layer, "benign", {"criterion": f"alignment held-out R2 from the source layer, first "
                                          f"{min(len(anchors), LAYER_SCAN_ANCHORS)} alignment anchors",
                             "r2": {str(k): v for k, v in r2.items()}}


SIDES = ("native", "transported", "random")
INDEPENDENT_DIR = DATA_DIR / "independent"
REPORT_ONLY = ("report only: these pairs and benign prompts chose nothing. The directions come from the shipped fit "
               "pairs, the map, standardizers, calibration and gate thresholds from the shipped alignment anchors, "
               "the layers as without them; this set's judge half trains only the judge, its test half and benign "
               "prompts are only measured, and no strength is chosen on them (at_shipped_strength uses the strength "
               "matched on the shipped split; matched is a reporting point of this set's own curve)")


@dataclass(frozen=True)
class EvalSet:
    """Pairs (split here into the judge's half and the test half) and benign prompts for evaluation only."""

    pairs: Sequence[PromptPair]
    benign: Sequence[str]
    origin: str = ""


def independent_eval_set() -> EvalSet:
    """The hand-written independent set (data/independent/): 229 pairs and 634 benign captions, for
    reporting beside the shipped split, never for any choice."""
    return EvalSet(load_pairs(INDEPENDENT_DIR / "pairs.jsonl"), load_anchors(INDEPENDENT_DIR / "captions.jsonl"),
                   "directions/data/independent")


def subset_pairs(pairs: Sequence[PromptPair], n: int, seed: int = 0) -> list[PromptPair]:
    """About `n` of the pairs, stratified by category, fixed by `seed`; a smaller n gives a subset of a
    larger one's (the pair-count curve)."""
    if n >= len(pairs):
        return list(pairs)
    if n < 2 * len({p.category for p in pairs}):
        raise ValueError(f"n_fit_pairs {n} is too few: keep at least 2 pairs per category")
    return split_pairs(pairs, heldout_fraction=1 - n / len(pairs), seed=seed + 101)[0]


def subset_texts(texts: Sequence[str], n: int, seed: int = 0) -> list[str]:
    """`n` of the texts in a fixed-seed random order; a smaller n gives a subset of a larger one's."""
    if n < 10:
        raise ValueError(f"n_alignment_anchors {n} is too few to fit a map: use at least 10")
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed + 13)).tolist()[:n]
    return [texts[i] for i in sorted(order)]


def _evaluate_eval_set(eval_set: EvalSet, target: HFEncoder, layer: int, evaluate_on: Callable[..., dict],
                       shipped_benchmark: dict, seed: int, progress: Progress) -> dict:
    """One report-only set through `evaluate_on`, plus the ASR at the strengths the shipped split matched."""
    judge_pairs, test = split_pairs(eval_set.pairs, heldout_fraction=0.5, seed=seed + 5)
    emb = embed_pairs(target, list(judge_pairs) + list(test), [layer], TARGET_POOLING, progress,
                      "eval pairs (target)")[layer]
    benign = target.embed_layers(list(eval_set.benign), [layer], TARGET_POOLING,
                                 progress=lambda d, t: progress("eval benign (target)", d, t))[layer]
    k = len(judge_pairs)
    result = evaluate_on(emb.unsafe[:k], emb.safe[:k], emb.unsafe[k:], emb.safe[k:], emb.categories[k:], benign)
    for side in SIDES:
        alpha = shipped_benchmark[side]["matched"]["alpha"]
        asr, kept = result["benchmark"][side]["at"](alpha)
        result["benchmark"][side]["at_shipped_strength"] = {"alpha": alpha, "text_asr": asr, "benign_preservation": kept}
    return {"role": REPORT_ONLY, "origin": eval_set.origin,
            "pairs": {"n": len(eval_set.pairs), "n_judge": k, "n_test": len(test),
                      "hash": prompt_set_hash(list(eval_set.pairs))},
            "benign": {"n": len(eval_set.benign), "hash": prompt_set_hash(list(eval_set.benign))}, **result}


def random_controls(source_anchor_z: torch.Tensor, n: int, count: int, seed: int) -> list[torch.Tensor]:
    """`count` benign difference directions in source z-coordinates: the mean of n random anchors minus
    the mean of n others (n = the number of fit pairs, so they are as noisy as the safety estimate)."""
    generator = torch.Generator().manual_seed(seed + 11)
    n = max(1, min(n, source_anchor_z.shape[0] // 2))
    out = []
    for _ in range(count):
        order = torch.randperm(source_anchor_z.shape[0], generator=generator)
        d = source_anchor_z[order[:n]].mean(0) - source_anchor_z[order[n:2 * n]].mean(0)
        out.append(d / d.norm())
    return out


def evaluate_transfer(source: HFEncoder, target: HFEncoder, pairs: Sequence[PromptPair], anchors: Sequence[str], *,
                      method: str = "ridge", direction_method: str = "mean_diff", source_layer: int | str = "auto",
                      target_layer: int | str = "auto", pooling: str = "mean", seed: int | None = None,
                      mode: str = "add", gate_fpr: float = GATE_FPR, preservation_target: float = PRESERVATION,
                      alphas: Sequence[float] = ALPHAS, eval_sets: Mapping[str, EvalSet] | None = None,
                      n_fit_pairs: int | None = None, n_alignment_anchors: int | None = None,
                      extra_anchors: Sequence[str] = (), average_with: Sequence[SafetyDirection] = (),
                      word_samples: float | str | None = None, progress: Progress = no_progress,
                      save_dir: Path | None = None) -> dict:
    """The paper's table in text space: native (estimated on the target with unsafe pairs), transported
    (estimated on the source, carried by a map fitted on benign anchors only) and a random control (a
    benign difference direction through the same map), one calibration for all three, steered in the
    same mode over a strength sweep and judged by an independent classifier on held-out pairs.

    Splits: the pairs' fit part estimates the directions (and the source layer when it is "auto"); their
    held-out part is split again into the judge's training pairs and the test pairs. The anchors are
    split into alignment anchors (standardizers, map, calibration, the target layer rule) and held-out
    benign test prompts that fit, standardize and calibrate nothing. `pooling` is the source's; the
    target is always pooled as Apply steers (the mean over content tokens).

    `eval_sets` (e.g. {"independent": independent_eval_set()}) are evaluated beside the shipped split,
    under report["eval_sets"][name], with everything fitted exactly as without them: they choose no
    layer, map, calibration, gate threshold or strength (each set's pairs are split into the judge's
    training half and the test half; its benign prompts measure preservation and the gate's FPR).
    `n_fit_pairs` keeps a fixed-seed stratified subset of the fit pairs and `n_alignment_anchors` a
    fixed-seed subset of the alignment anchors (the pair- and anchor-count curves; the test prompts stay
    the same); `extra_anchors` (benign prompts) join the alignment anchors only, never the benign tests.
    `average_with` (target-space directions, e.g. other source LLMs' transported into the same target
    layer) are averaged with the transported direction (pipeline.average_directions) before it is measured.
    `word_samples` (a weight, or "balanced"; word_states.py) adds every word of the alignment anchors that
    fit the map as a paired sample of the map's fit only (transport.fit_alignment's extra_samples).

    Returns a JSON-able report; with `save_dir` the native and transported directions are saved there.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    if not 0 < preservation_target < 1:
        raise ValueError(f"preservation_target {preservation_target!r} must be a cosine in (0, 1), e.g. 0.9")
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    fit, held = fit_and_heldout(pairs, seed)
    if n_fit_pairs is not None:
        fit = subset_pairs(fit, n_fit_pairs, seed or 0)
    judge_pairs, test = split_pairs(held, heldout_fraction=0.5, seed=(seed or 0) + 5)
    align_texts, benign_texts = split_anchors(anchors, seed or 0)
    if n_alignment_anchors is not None:
        align_texts = subset_texts(align_texts, n_alignment_anchors, seed or 0)
    known = set(align_texts) | set(benign_texts)  # an extra anchor that is a held-out benign prompt stays out
    extra = [t for t in dict.fromkeys(extra_anchors) if t not in known]
    align_texts = align_texts + extra
    s_layer = scan_layers(source, fit, pooling, direction_method, progress=progress)[0] if source_layer == "auto" \
        else source.layer_index(int(source_layer))
    anchor_s = source.embed_layers(align_texts, [s_layer], pooling,
                                   progress=lambda d, t: progress("anchors (source)", d, t))[s_layer]
    t_layer, layer_source, target_scan = _target_layer(target, target_layer, anchor_s, align_texts, method,
                                                       seed or 0, progress)
    lap("layer_scan")

    anchor_t = target.embed_layers(align_texts + benign_texts, [t_layer], TARGET_POOLING,
                                   progress=lambda d, t: progress("anchors (target)", d, t))[t_layer]
    anchor_t, benign_t = anchor_t[:len(align_texts)], anchor_t[len(align_texts):]
    emb_s = embed_pairs(source, fit, [s_layer], pooling, progress, "pairs (source)")[s_layer]
    emb_t = embed_pairs(target, list(fit) + list(judge_pairs) + list(test), [t_layer], TARGET_POOLING, progress,
                        "pairs (target)")[t_layer]
    lap("embedding")

    words = None if word_samples is None else paired_word_states(source, target, align_texts, s_layer, t_layer)
    align = fit_alignment(anchor_s, anchor_t, method=method, seed=seed or 0,
                          **({} if words is None else {"extra_samples": words.as_extra(), "extra_weight": word_samples}))
    align.source_side = {"layer": s_layer, "pooling": pooling}
    lap("alignment")

    n, n_judge = len(fit), len(judge_pairs)
    cats = emb_t.categories
    cats_fit, cats_test = cats[:n], cats[n + n_judge:]
    tu, ts = emb_t.unsafe[n + n_judge:], emb_t.safe[n + n_judge:]

    def estimated(unsafe_z: torch.Tensor, safe_z: torch.Tensor, std: Standardizer, who: dict, layer: int,
                  side_pooling: str) -> SafetyDirection:
        ds = estimate.estimate_directions(unsafe_z, safe_z, cats_fit, direction_method)
        meta = {"space": "source", "source": who, "layer": layer, "pooling": side_pooling, "method": direction_method}
        return SafetyDirection.from_direction_set(ds, std, meta)

    target_info = describe(target)
    source_dir = estimated(*emb_s.z(align.source), align.source, describe(source), s_layer, pooling)
    transported = transport_direction(source_dir, align, target_info, gate_fpr)
    if average_with:
        transported = average_directions([transported, *average_with], align.target, align.calibration_anchors,
                                         gate_fpr)
    native_raw = estimated(align.target.z(emb_t.unsafe[:n]), align.target.z(emb_t.safe[:n]), align.target,
                           target_info, t_layer, TARGET_POOLING)
    native = calibrate_direction(dataclasses.replace(native_raw, meta={**native_raw.meta, "space": "target",
                                                                        "target": target_info}),
                                 align.calibration_anchors, gate_fpr)
    randoms = [transport_direction(SafetyDirection(vectors={GLOBAL: d}, standardizer=align.source,
                                                   meta={"space": "source", "layer": s_layer, "pooling": pooling,
                                                         "method": direction_method}), align, target_info, gate_fpr)
               for d in random_controls(align.source.z(anchor_s), n, RANDOM_CONTROLS, seed or 0)]
    lap("directions")

    def evaluate_on(judge_u: torch.Tensor, judge_s: torch.Tensor, test_u: torch.Tensor, test_s: torch.Tensor,
                    cats_test: list[str], benign_t: torch.Tensor) -> dict:
        """Judge, separation, gates and the attack benchmark of all three directions on one set of test
        pairs and benign prompts, with a judge trained on `judge_*` (raw target embeddings)."""
        zu, zs = align.target.z(test_u), align.target.z(test_s)
        judge = SafetyJudge.fit(judge_u, judge_s)
        judge_report = {"kind": "logistic regression on mean-pooled target states", "n_train_pairs": len(judge_u),
                        "heldout_accuracy": judge.accuracy(test_u, test_s),
                        "heldout_auroc": estimate.auroc(judge.unsafe_probability(test_u), judge.unsafe_probability(test_s)),
                        "unsafe_recall": float(judge.flags(test_u).double().mean()),
                        "benign_flag_rate": float(judge.flags(benign_t).double().mean())}

        def separation_report(d: SafetyDirection) -> dict:
            per_cat = {c: estimate.separation(d.vectors[c], zu[idx], zs[idx])
                       for c in d.categories if (idx := [i for i, k in enumerate(cats_test) if k == c])}
            reference = align.calibration_anchors.float()
            top1 = estimate.category_top1({c: d.vectors[c] for c in d.categories}, zu, cats_test,
                                          reference_z=reference) if d.categories else None
            # the same vectors scored by their deviations from the global direction (issue 15's lever)
            top1_dev = estimate.category_top1({c: d.vectors[c] for c in d.categories}, zu, cats_test,
                                              reference_z=reference, deviation_from=d.vectors[GLOBAL]) \
                if d.categories else None
            g = d.vectors[GLOBAL]
            return {"auroc": estimate.separation(g, zu, zs), "per_category_auroc": per_cat,
                    "category_top1": top1["top1"] if top1 else None, "category_confusion": top1,
                    "category_top1_deviation": top1_dev["top1"] if top1_dev else None,
                    "category_confusion_deviation": top1_dev,
                    "category_chance": 1 / len(d.categories) if d.categories else None,
                    "unit": d.units[GLOBAL], "center": d.centers[GLOBAL],
                    # held-out scores in benign spreads from the benign center: what the report plots
                    "scores": {kind: ((z @ g - d.centers[GLOBAL]) / d.units[GLOBAL]).tolist()
                               for kind, z in (("unsafe", zu), ("safe", zs))}}

        def gate_report(d: SafetyDirection) -> dict:
            benign_gate, unsafe_gate = gate_of(d, benign_t), gate_of(d, test_u)
            return {"fpr_target": gate_fpr, "threshold": d.calibration().gate_threshold(gate_fpr),
                    "benign_fpr": float((benign_gate > steer.GATE_FLOOR).double().mean()),
                    "unsafe_open_rate": float((unsafe_gate >= 0.5).double().mean()),
                    "mean_gate_benign": float(benign_gate.mean()), "mean_gate_unsafe": float(unsafe_gate.mean())}

        def sweep(directions: list[SafetyDirection]) -> dict:
            """text ASR and benign preservation at every strength, averaged over `directions`."""
            def at(alpha: float) -> tuple[float, float]:
                asr = [float(judge.flags(steer_embeddings(d, test_u, mode, alpha)).double().mean()) for d in directions]
                kept = [preservation(align.target, benign_t, steer_embeddings(d, benign_t, mode, alpha))
                        for d in directions]
                return sum(asr) / len(asr), sum(kept) / len(kept)

            rows = [at(a) for a in alphas]
            return {"text_asr": [r[0] for r in rows], "benign_preservation": [r[1] for r in rows],
                    "matched": _matched_strength(at, preservation_target),
                    # gentler edits too: at 0.9 the comparison is close to saturated
                    "matched_at": {f"{p:g}": _matched_strength(at, p) for p in MORE_PRESERVATION},
                    "at": at}

        sides = {"native": [native], "transported": [transported], "random": randoms}
        benchmark = {"mode": mode, "alphas": list(alphas), "preservation_target": preservation_target,
                     "unsteered_text_asr": judge_report["unsafe_recall"],
                     **{name: sweep(ds) for name, ds in sides.items()}}
        random_sep = [separation_report(d) for d in randoms]
        return {
            "judge": judge_report,
            "native": {**separation_report(native), "gate": gate_report(native)},
            "transported": {**separation_report(transported), "gate": gate_report(transported),
                            "cosine_to_native": cosine(transported.vectors[GLOBAL], native.vectors[GLOBAL]),
                            "per_category_cosine": {c: cosine(transported.vectors[c], native.vectors[c])
                                                    for c in transported.categories if c in native.vectors}},
            "random": {"n_directions": len(randoms),
                       "auroc": sum(r["auroc"] for r in random_sep) / len(randoms),
                       "auroc_each": [r["auroc"] for r in random_sep],
                       "cosine_to_native": sum(cosine(d.vectors[GLOBAL], native.vectors[GLOBAL])
                                               for d in randoms) / len(randoms),
                       "gate": gate_report(randoms[0])},
            "benchmark": benchmark,
        }

    shipped = evaluate_on(emb_t.unsafe[n:n + n_judge], emb_t.safe[n:n + n_judge], tu, ts, cats_test, benign_t)
    extra_sets = {}
    for name, eval_set in (eval_sets or {}).items():
        extra_sets[name] = _evaluate_eval_set(eval_set, target, t_layer, evaluate_on, shipped["benchmark"],
                                              seed or 0, progress)
    for result in (shipped, *extra_sets.values()):
        for side in SIDES:
            result["benchmark"][side].pop("at")
    report = {
        "source": {**describe(source), "layer": s_layer, "pooling": pooling,
                   "layer_source": "pairs (fit part)" if source_layer == "auto" else "user"},
        "target": {**target_info, "layer": t_layer, "pooling": TARGET_POOLING, "layer_source": layer_source,
                   "layer_scan": target_scan},
        "pairs": {"n_fit": n, "n_judge": n_judge, "n_test": len(test), "hash": prompt_set_hash(list(pairs))},
        "anchors": {"n": len(anchors), "n_alignment": len(align_texts), "n_benign_test": len(benign_texts),
                    "n_extra": len(extra), "n_word_samples": align.n_extra_samples,
                    "hash": prompt_set_hash(list(anchors))},
        "direction_method": direction_method,
        **shipped,
        "alignment": alignment_summary(align),
    }
    if extra_sets:
        report["eval_sets"] = extra_sets
    if save_dir is not None:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        report["files"] = {name: d.save(Path(save_dir) / f"{name}_direction.safetensors").name
                           for name, d in (("transported", transported), ("native", native))}
    lap("evaluation")
    report["timings"] = timings
    report["timings"]["total"] = round(sum(timings.values()), 3)
    return report


def _matched_strength(at: Callable[[float], tuple[float, float]], target: float) -> dict:
    """The strength at which benign preservation falls to `target` (bisection; preservation falls as the
    strength grows), with the text ASR there. `reached` is False when even the largest strength keeps
    more than `target` (then the ASR is the one at that strength)."""
    lo, hi = 0.0, steer.ALPHA_LIMIT
    asr_hi, kept_hi = at(hi)
    if kept_hi >= target:
        return {"alpha": hi, "text_asr": asr_hi, "benign_preservation": kept_hi, "reached": False}
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if at(mid)[1] >= target else (lo, mid)
    asr, kept = at(lo)
    return {"alpha": lo, "text_asr": asr, "benign_preservation": kept, "reached": True}
