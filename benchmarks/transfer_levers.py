"""Transfer on the shipped held-out split and on the independent set, side by side, with the pair- and
anchor-count curves and the levers of issue 15.

    CROSSSTEER_CACHE=$PWD/.cache/crosssteer OMP_WAIT_POLICY=PASSIVE \
        .venv/bin/python benchmarks/transfer_levers.py [--directions s2g,g2s] [--no-curves] [--levers vocab,words]
        [--maps svd,procrustes] [--with vocab] [--source-layers concat1,mean1,concat2] [--json out.json]

Every row is one `evaluate_transfer` run (directions/transfer_eval.py) on the shipped pairs and the template
anchors (`load_anchors("templates")`; the "vocab" row is today's default anchors, templates plus the
category-vocabulary prompts, with the same benign tests), with the independent set
(directions/data/independent/) as a report-only evaluation set: the directions come from the shipped
fit pairs, the map from the shipped alignment anchors, the layers from the first (full-data) row of each
model pair, which chose them as `crosssteer evaluate-transfer` does (the source layer by the fit pairs,
the target layer by the benign-only alignment rule); the curve and lever rows keep those layers, so a row
differs from the first only in what it names. The independent set chooses nothing.

Columns, for each set: AUROC of the global direction on the test pairs (native, transported, random
control), category top-1 (native, transported; chance 1/7 = 0.14), `dev1` the same with each category
vector scored by its deviation from the global direction (estimate.category_top1's deviation_from), text ASR at benign preservation 0.9
(native, transported, random; the shipped split's held-out anchors or the independent captions) and
`kept`, the share of the attack success that native removes which transported removes there:
(unsteered - transported) / (unsteered - native); the same at preservation 0.95 (a gentler edit: at 0.9
the comparison is close to saturated). The preservation points are reporting points of each set's own
strength sweep: no strength chosen there is used anywhere else. Embeddings are cached, so a rerun takes minutes; the
first cold run embeds every prompt at the layers used (tens of minutes on 2 CPU cores).

`--source-layers` (issue 15's "several source layers together"): rows whose source features, for the map
and the direction alike, are several source layers at once: the layer the fit pairs chose (as in every
row) and its neighbours at +-K (`concat1`, `mean1`, `concat2`, ...; clipped to the model's layers), either
concatenated (the alignment's per-dimension standardizer then z-scores each layer on its own) or averaged
per dimension. The rule (chosen layer +-1 and +-2) was fixed before any of these rows was seen; the
alignment's held-out R^2 on benign anchors (same target, same anchors) is the criterion that may choose.

`--maps procrustes_lowrank,cca` (issue 15's "CCA, ridge with a low-rank plus identity prior"; rule fixed
before either was run on real embeddings): procrustes_lowrank is the Procrustes map plus a reduced-rank
ridge of its residual, the rank from RANK_GRID (8-128) and the penalty from LAMBDA_GRID jointly by 5-fold
validation error on the benign fit anchors (jointly rather than ridge_cv's full-rank penalty first: on a
synthetic rotation plus a rank-2 stretch that penalty shrank the correction to nothing); cca keeps the top-k canonical pairs of the
shrunk-covariance whitened spaces, weighted by their canonical correlations, k from CCA_RANK_GRID (8-512)
and the shrinkage from SHRINK_GRID jointly by 5-fold validation error on the benign fit anchors. Each row
prints what was chosen. Either map is kept only if its held-out R^2 beats ridge's on both model pairs
(default anchors), and then only reported as a gain where both sets agree.

`--levers words,words_balanced` (issue 15's "token-level samples for the map"): every word (a `\\w+` run)
of every alignment anchor that fits the map (not its 20% held out, never a benign test or calibration
prompt) joins the ridge fit as one more paired sample: on each side the mean state of the content tokens
whose character offsets overlap the word (directions/word_states.py; same layers and content tokens as
the mean-pooled anchors; a word is a sample only where both tokenizers give it a token), z-scored with the
mean-pooled anchors' standardizers, the penalty's folds keeping each anchor's words with it. `words`
counts each word as one mean sample; `words_balanced` weights them so that all words together count as
much as the anchors. Standardizers, held-out R^2, calibration and the benign tests stay those of the
mean-pooled anchors. The rule and its two weightings were fixed before any of these rows was seen; the
alignment's held-out R^2 is the only criterion that may choose between them and the row without words.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from crosssteer.directions.encoders import load_encoder
from crosssteer.directions.pipeline import fit_and_heldout
from crosssteer.directions.prompts import load_anchors, load_pairs
from crosssteer.directions.transfer_eval import evaluate_transfer, independent_eval_set

MODELS = {"s2g": ("smollm2-135m", "gemma3-270m"), "g2s": ("gemma3-270m", "smollm2-135m")}
PAIR_CURVE = (35, 70, 140)  # plus all 412 fit pairs: the first row
ANCHOR_CURVE = (250, 500, 1000, 2000)  # plus all 2,769 alignment anchors: the first row
SIDES = ("native", "transported", "random")
LEVERS = ("vocab", "twins", "vocab+twins", "words", "words_balanced")


class StackedLayers:
    """An encoder seen through several of its layers at once, as one layer: embed_layers returns, for any
    layer asked, the concatenation (how="concat") or the per-dimension mean (how="mean") of `layers`."""

    def __init__(self, encoder, layers: list[int], how: str):
        if how not in ("concat", "mean"):
            raise ValueError(f"unknown way {how!r} to stack layers: use concat or mean")
        self.encoder, self.layers, self.how = encoder, layers, how
        self.name = f"{encoder.name} layers {'+'.join(map(str, layers))} ({how})"
        self.fingerprint = f"{encoder.fingerprint}|{how}{'+'.join(map(str, layers))}"
        self.num_layers = encoder.num_layers
        self.width = encoder.width * (len(layers) if how == "concat" else 1)

    def layer_index(self, layer: int) -> int:
        return int(layer)

    def embed_layers(self, texts, layers, pooling="mean", progress=None) -> dict[int, torch.Tensor]:
        states = self.encoder.embed_layers(texts, self.layers, pooling, progress=progress)
        parts = [states[layer] for layer in self.layers]
        stacked = torch.cat(parts, dim=1) if self.how == "concat" else torch.stack(parts).mean(0)
        return {layer: stacked for layer in layers}


def stacked_source(encoder, layer: int, spec: str) -> StackedLayers:
    """`concat1` -> the layers layer-1..layer+1 concatenated (clipped to 1..num_layers)."""
    how, k = spec.rstrip("0123456789"), int(spec[len(spec.rstrip("0123456789")):] or 1)
    return StackedLayers(encoder, [i for i in range(layer - k, layer + k + 1) if 1 <= i <= encoder.num_layers], how)


def levers(pairs) -> dict[str, dict]:
    """Each lever's evaluate_transfer arguments. Benign only: the vocabulary anchors use the categories'
    words harmlessly; the twins are the safe halves of the shipped FIT pairs (never a held-out or an
    independent pair), reported separately because they were written next to unsafe prompts."""
    fit, _held = fit_and_heldout(pairs)
    vocab = load_anchors("category-vocabulary")
    twins = [p.safe for p in fit]
    args = {"vocab": {"extra_anchors": vocab}, "twins": {"extra_anchors": twins},
            "vocab+twins": {"extra_anchors": vocab + twins},
            # the alignment anchors' words as extra samples of the map's fit (word_states.py)
            "words": {"word_samples": 1.0}, "words_balanced": {"word_samples": "balanced"}}
    assert tuple(args) == LEVERS
    return args


def summary(report: dict) -> dict:
    """The table's numbers of one set (the shipped split's report or one of its eval_sets)."""
    b = report["benchmark"]
    asr = {s: b[s]["matched"]["text_asr"] for s in SIDES}

    def kept(at: dict) -> float | None:
        removed_native = b["unsteered_text_asr"] - at["native"]
        return (b["unsteered_text_asr"] - at["transported"]) / removed_native if removed_native > 0 else None

    asr95 = {s: b[s]["matched_at"]["0.95"]["text_asr"] for s in SIDES}
    return {"auroc": {s: report[s]["auroc"] for s in SIDES},
            "top1": {s: report[s]["category_top1"] for s in ("native", "transported")},
            "top1_dev": {s: report[s]["category_top1_deviation"] for s in ("native", "transported")},
            "asr": asr, "unsteered": b["unsteered_text_asr"], "kept": kept(asr), "asr95": asr95, "kept95": kept(asr95),
            "reached": all(b[s]["matched"]["reached"] for s in SIDES), "judge": report["judge"]["heldout_accuracy"]}


def row_text(label: str, sets: dict) -> str:
    def cell(v, spec=".3f"):
        return "-" if v is None else format(v, spec)

    parts = [f"{label:<22}"]
    for name in ("shipped", "independent"):
        s = sets[name]
        parts.append(" ".join(cell(s["auroc"][k]) for k in SIDES) + " | "
                     + " ".join(cell(s["top1"][k], ".2f") for k in ("native", "transported")) + " | "
                     + " ".join(cell(s["top1_dev"][k], ".2f") for k in ("native", "transported")) + " | "
                     + " ".join(cell(s["asr"][k], ".2f") for k in SIDES) + f" {cell(s['kept'], '.2f'):>5} | "
                     + " ".join(cell(s["asr95"][k], ".2f") for k in SIDES) + f" {cell(s['kept95'], '.2f'):>5}"
                     + ("" if s["reached"] else "*"))
    return "  ".join(parts[:1]) + "  " + "  ||  ".join(parts[1:])


def header() -> str:
    one = "AUROC nat/tr/rnd    | top1 n/t  | dev1 n/t  | ASR@0.9 n/t/r  kept | ASR@0.95 n/t/r kept"
    return f"{'':<22}  {'shipped held-out split':<{len(one)}}  ||  independent set (report only)\n{'':<22}  {one}  ||  {one}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directions", default="s2g,g2s", help="s2g = smollm2 -> gemma3, g2s = gemma3 -> smollm2")
    parser.add_argument("--no-curves", action="store_true", help="skip the pair- and anchor-count curves")
    parser.add_argument("--levers", default="", help="comma-separated: " + ", ".join(LEVERS) + "; NAME:MAP "
                                                       "measures the lever with another map")
    parser.add_argument("--with", dest="base_lever", default="", choices=("", *LEVERS),
                        help="a lever applied to every row (the curves then subset only the template anchors)")
    parser.add_argument("--method", default="ridge", help="alignment map of every row")
    parser.add_argument("--maps", default="", help="comma-separated other maps, one row each (svd, procrustes, whitened, mlp, "
                                                     "procrustes_ridge, procrustes_lowrank, cca); "
                                                     "the alignment's held-out R2 on benign anchors is the criterion "
                                                     "that may choose among them")
    parser.add_argument("--source-layers", default="", help="comma-separated rows with several source layers at "
                                                           "once: concatK or meanK = the chosen layer +-K")
    parser.add_argument("--json", help="write every row's summary here")
    args = parser.parse_args()

    # the template anchors are every row's base (their 20% held out are the shipped split's benign tests);
    # the levers add to the alignment anchors only
    pairs, anchors, independent = load_pairs("default"), load_anchors("templates"), independent_eval_set()
    lever_args = levers(pairs)
    wanted = [name for name in args.levers.split(",") if name]  # "vocab" or "vocab:whitened" (with that map)
    unknown = sorted({name.split(":")[0] for name in wanted} - set(lever_args))
    if unknown:
        parser.error(f"unknown lever(s) {', '.join(unknown)}: use {', '.join(lever_args)}")
    encoders: dict[str, object] = {}
    results = {}
    for key in args.directions.split(","):
        source_name, target_name = MODELS[key]
        for name in (source_name, target_name):
            if name not in encoders:
                print(f"loading {name} ...", file=sys.stderr)
                encoders[name] = load_encoder(name)
        source, target = encoders[source_name], encoders[target_name]

        def run(label: str, **kwargs) -> dict:
            started = time.perf_counter()
            kwargs = {"method": args.method, **(lever_args[args.base_lever] if args.base_lever else {}), **kwargs}
            r = evaluate_transfer(kwargs.pop("source", source), target, pairs, anchors,
                                  eval_sets={"independent": independent}, **layers, **kwargs)
            sets = {"shipped": summary(r), "independent": summary(r["eval_sets"]["independent"])}
            sets["n_fit_pairs"], sets["n_alignment_anchors"] = r["pairs"]["n_fit"], r["anchors"]["n_alignment"]
            sets["alignment_r2"] = r["alignment"]["heldout_r2"]
            sets["alignment_chosen"] = r["alignment"]["map_info"]  # the penalty, rank, shrinkage the anchors chose
            sets["n_word_samples"] = r["anchors"]["n_word_samples"]
            chosen = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in sets["alignment_chosen"].items())
            words = f", {sets['n_word_samples']} word samples" if sets["n_word_samples"] else ""
            print(row_text(label, sets), f"  R2 {sets['alignment_r2']:.3f} ({time.perf_counter() - started:.0f}s"
                  f"{words}) [{chosen}]", flush=True)
            rows[label] = sets
            return r

        rows: dict[str, dict] = {}
        layers = {"source_layer": "auto", "target_layer": "auto"}
        print(f"\n{source_name} -> {target_name}, {args.method} map"
              + (f", every row with the {args.base_lever} lever" if args.base_lever else ""), flush=True)
        print(header(), flush=True)
        first = run(f"all ({len(fit_and_heldout(pairs)[0])} pairs)")
        layers = {"source_layer": first["source"]["layer"], "target_layer": first["target"]["layer"]}
        print(f"  layers: source {layers['source_layer']} (by the fit pairs), target {layers['target_layer']} "
              f"({first['target']['layer_source']}); {first['anchors']['n_alignment']} alignment anchors", flush=True)
        if not args.no_curves:
            for n in PAIR_CURVE:
                run(f"{n} fit pairs", n_fit_pairs=n)
            for n in ANCHOR_CURVE:
                run(f"{n} anchors", n_alignment_anchors=n)
        for name in wanted:
            lever, _, method = name.partition(":")
            run(f"lever {name}", **lever_args[lever], **({"method": method} if method else {}))
        for method in filter(None, args.maps.split(",")):
            run(f"map {method}", method=method)
        for spec in filter(None, args.source_layers.split(",")):
            stacked = stacked_source(source, layers["source_layer"], spec)
            print(f"  source layers {stacked.layers} ({stacked.how}, {stacked.width} wide)", flush=True)
            run(f"layers {spec}", source=stacked)
        results[f"{source_name} -> {target_name}"] = {"layers": layers, "rows": rows}
    print("\n* = a side never fell to preservation 0.9 (its ASR is the one at the largest strength)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
