"""The library's subcommands (extract, fit-alignment, transport, evaluate-transfer, prompts, demo): the method
from the command line, no ComfyUI needed. `crosssteer.cli` puts them beside the other parts' commands."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import alignment_maps, estimate, transport
from .progress import TerminalProgress
from .transfer_eval import SIDES


def _layer(text: str) -> int | str:
    return text if text == "auto" else int(text)


def _add_model_args(p: argparse.ArgumentParser, *roles: str) -> None:
    for role in roles:
        p.add_argument(f"--{role}", required=True,
                       help=f"{role} model: smollm2-135m, gemma3-270m, minilm-l6, a model folder or a .gguf file")
        p.add_argument(f"--{role}-layer", type=_layer, default="auto",
                       help="hidden layer (negative counts from the end) or auto = best held-out separation")
    p.add_argument("--pooling", choices=("mean", "last"), default="mean")
    p.add_argument("--device", default="cpu")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="run Python code shipped with the model (only for sources you trust)")


def _add_benchmark_args(p: argparse.ArgumentParser) -> None:
    from .pipeline import GATE_FPR
    from .transfer_eval import MODES, PRESERVATION

    p.add_argument("--mode", choices=MODES, default="add", help="steering mode of all three directions")
    p.add_argument("--gate-fpr", type=float, default=GATE_FPR,
                   help="benign false-positive rate the gate is calibrated to (share of benign prompts that get "
                        "more than a tenth of the push)")
    p.add_argument("--preservation", type=float, default=PRESERVATION,
                   help="benign preservation (cosine) at which the directions are compared")


def _encoder(spec: str, args):
    from .encoders import load_encoder

    print(f"loading {spec} ...", file=sys.stderr)
    return load_encoder(spec, device=args.device, trust_remote_code=args.trust_remote_code)


def _print_directions(direction) -> None:
    stats = direction.meta.get("stats", {})
    print(f"{'vector':<18} {'held-out AUROC':>14} {'fit pairs':>9}")
    for name in direction.vectors:
        s = stats.get(name, {})
        auc = s.get("auroc")
        print(f"{name:<18} {('%.3f' % auc) if auc is not None else '-':>14} {s.get('n_fit', '-'):>9}")


def cmd_extract(args) -> int:
    from .pipeline import extract_direction
    from .prompts import load_pairs

    pairs = load_pairs(args.pairs)
    enc = _encoder(args.source, args)
    progress = TerminalProgress(args.quiet)
    direction = extract_direction(enc, pairs, layer=args.source_layer, pooling=args.pooling, method=args.method,
                                  seed=args.seed, progress=progress)
    progress.close()
    direction.save(args.out)
    print(f"layer {direction.meta['layer']} of {enc.name}, {args.method}")
    _print_directions(direction)
    print(f"saved {args.out}")
    return 0


def cmd_fit_alignment(args) -> int:
    from .alignment_file import save_alignment
    from .encoders import describe
    from .pipeline import TARGET_POOLING, alignment_summary
    from .prompts import load_anchors

    anchors = load_anchors(args.anchors)
    progress = TerminalProgress(args.quiet)
    embeddings, meta = {}, {}
    for role in ("source", "target"):
        # one model in memory at a time: only its description and anchor embeddings are kept
        enc = _encoder(getattr(args, role), args)
        layer = getattr(args, f"{role}_layer")
        layer = enc.layer_index(-1 if layer == "auto" else layer)
        pooling = args.pooling if role == "source" else TARGET_POOLING  # the target as Apply steers it
        embeddings[role] = enc.embed_layers(anchors, [layer], pooling,
                                            progress=lambda d, t: progress(f"anchors ({role})", d, t))[layer]
        meta[role] = {**describe(enc), "layer": layer, "pooling": pooling}
        del enc
    progress.close()
    fit = transport.fit_alignment(embeddings["source"], embeddings["target"], method=args.method, seed=args.seed)
    save_alignment(args.out, fit, meta)
    print(json.dumps(alignment_summary(fit), indent=2))
    print(f"saved {args.out}")
    return 0


def cmd_transport(args) -> int:
    from .alignment_file import load_alignment
    from .pipeline import transport_direction
    from .safety_direction import SafetyDirection

    direction = SafetyDirection.load(args.direction)
    fit, meta = load_alignment(args.alignment)
    source = meta.get("source", {})
    if source.get("fingerprint") and direction.meta.get("source", {}).get("fingerprint") not in (None, source["fingerprint"]):
        print(f"warning: the direction comes from {direction.meta['source'].get('model')} but the alignment was "
              f"fitted on {source.get('model')}", file=sys.stderr)
    moved = transport_direction(direction, fit, meta.get("target", {}))
    moved.save(args.out)
    print(f"transported into {meta.get('target', {}).get('model', 'the target')} ({moved.width} wide): "
          f"unit {moved.units['global']:.4g}, benign center {moved.centers['global']:.4g}")
    print(f"saved {args.out}")
    return 0


def cmd_evaluate_transfer(args) -> int:
    from .prompts import load_anchors, load_pairs
    from .transfer_eval import evaluate_transfer

    pairs, anchors = load_pairs(args.pairs), load_anchors(args.anchors)
    eval_sets = _eval_sets(args)  # bad files fail before models load
    source, target = _encoder(args.source, args), _encoder(args.target, args)
    progress = TerminalProgress(args.quiet)
    report = evaluate_transfer(source, target, pairs, anchors, method=args.method, direction_method=args.direction_method,
                               source_layer=args.source_layer, target_layer=args.target_layer, pooling=args.pooling,
                               seed=args.seed, mode=args.mode, gate_fpr=args.gate_fpr,
                               preservation_target=args.preservation, eval_sets=eval_sets, progress=progress)
    progress.close()
    print(format_transfer(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


def _eval_sets(args) -> dict:
    """The report-only sets the user asked for: the shipped independent set and/or their own files."""
    from .prompts import load_anchors, load_pairs
    from .transfer_eval import EvalSet, independent_eval_set

    sets = {"independent": independent_eval_set()} if args.eval_set == "independent" else {}
    if bool(args.eval_pairs) != bool(args.eval_benign):
        raise ValueError("--eval-pairs and --eval-benign go together: give a pair file and a benign prompt file")
    if args.eval_pairs:
        sets[Path(args.eval_pairs).stem] = EvalSet(load_pairs(args.eval_pairs), load_anchors(args.eval_benign),
                                                   str(args.eval_pairs))
    return sets


def _row(label: str, values: list, spec: str) -> str:
    """One table row: native, transported, random columns ("-" where a side has no value)."""
    return f"{label:<34}" + "".join(f"{'-' if v is None else format(v, spec):>{w}}" for v, w in zip(values, (10, 13, 10)))


def format_transfer(r: dict) -> str:
    b, j = r["benchmark"], r["judge"]
    target = r["target"]
    lines = [
        f"{r['source']['model']} (layer {r['source']['layer']}) -> {target['model']} (layer {target['layer']}, "
        f"chosen by: {target['layer_source']}), {r['alignment']['method']} map, {r['pairs']['n_test']} test pairs, "
        f"{r['anchors']['n_benign_test']} held-out benign prompts",
        f"judge: held-out accuracy {j['heldout_accuracy']:.3f} ({j['n_train_pairs']} training pairs), unsteered "
        f"text ASR {b['unsteered_text_asr']:.3f}, flags {j['benign_flag_rate']:.3f} of benign prompts",
        f"{'':<34}{'native':>10}{'transported':>13}{'random':>10}",
        _row("held-out AUROC", [r[s]["auroc"] for s in SIDES], ".3f"),
        *([_row(f"category top-1 (chance {r['native']['category_chance']:.2f})",
               [r["native"]["category_top1"], r["transported"]["category_top1"], None], ".3f"),
            _row("top-1 by deviation from global",
                 [r["native"]["category_top1_deviation"], r["transported"]["category_top1_deviation"], None], ".3f")]
          if r["native"].get("category_top1") is not None else []),
        _row(f"strength at preservation {b['preservation_target']:g}", [b[s]["matched"]["alpha"] for s in SIDES], ".2f"),
        _row(f"text ASR there ({b['mode']})", [b[s]["matched"]["text_asr"] for s in SIDES], ".3f"),
        _row(f"gate benign FPR (target {r['native']['gate']['fpr_target']:g})",
            [r[s]["gate"]["benign_fpr"] for s in SIDES], ".3f"),
        (f"cosine to native {r['transported']['cosine_to_native']:.3f} (random controls: "
         f"{r['random']['cosine_to_native']:.3f}); alignment held-out R2 {r['alignment']['heldout_r2']:.3f}"),
        *(line for name, e in r.get("eval_sets", {}).items() for line in _format_eval_set(name, e)),
        f"time {r['timings']['total']:.1f}s",
    ]
    return "\n".join(lines)


def _format_eval_set(name: str, e: dict) -> list[str]:
    """The same rows for a report-only set (everything fitted on the shipped data)."""
    b, j = e["benchmark"], e["judge"]
    return [
        f"on {name} (report only, chose nothing): {e['pairs']['n_test']} test pairs, {e['benign']['n']} benign prompts; "
        f"judge accuracy {j['heldout_accuracy']:.3f} ({j['n_train_pairs']} training pairs), unsteered text ASR "
        f"{b['unsteered_text_asr']:.3f}",
        _row("  AUROC", [e[s]["auroc"] for s in SIDES], ".3f"),
        _row(f"  category top-1 (chance {e['native']['category_chance'] or 0:.2f})",
            [e["native"]["category_top1"], e["transported"]["category_top1"], None], ".3f"),
        _row("  top-1 by deviation from global",
            [e["native"]["category_top1_deviation"], e["transported"]["category_top1_deviation"], None], ".3f"),
        _row("  text ASR at shipped strength", [b[s]["at_shipped_strength"]["text_asr"] for s in SIDES], ".3f"),
        _row("  benign preservation there", [b[s]["at_shipped_strength"]["benign_preservation"] for s in SIDES], ".3f"),
        _row(f"  text ASR at preservation {b['preservation_target']:g}", [b[s]["matched"]["text_asr"] for s in SIDES], ".3f"),
        _row("  gate benign FPR", [e[s]["gate"]["benign_fpr"] for s in SIDES], ".3f"),
    ]


def cmd_prompts_stats(args) -> int:
    from .prompt_stats import format_stats, prompt_stats
    from .prompts import load_anchors, load_pairs

    pairs = load_pairs(args.pairs) if args.pairs else None
    anchors = load_anchors(args.anchors) if args.anchors else None
    stats = prompt_stats(pairs=pairs, anchors=anchors)
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0


def cmd_demo(args) -> int:
    """The paper's comparison on the embedded defaults, written as a report folder: JSON and CSV of every
    figure, PNG plots (the text-ASR vs benign-preservation trade-off, the strength sweep, score distributions,
    per-category AUROC, category confusion), the same headline figures on the independent set (report only,
    unless --eval-set shipped) and the
    transported direction (with the native one beside it) as .safetensors."""
    from .prompts import load_anchors, load_pairs
    from .transfer_eval import evaluate_transfer
    from .report import write_report

    started = time.perf_counter()
    pairs, anchors = load_pairs(args.pairs), load_anchors(args.anchors)  # bad files fail before models load
    eval_sets = _eval_sets(args)
    source, target = _encoder(args.source, args), _encoder(args.target, args)
    progress = TerminalProgress(args.quiet)
    report = evaluate_transfer(source, target, pairs, anchors, method=args.method, seed=args.seed, mode=args.mode,
                               gate_fpr=args.gate_fpr, preservation_target=args.preservation, eval_sets=eval_sets,
                               progress=progress, save_dir=Path(args.out))
    progress.close()
    report["timings"]["demo_total"] = round(time.perf_counter() - started, 3)
    print(format_transfer(report))
    paths = write_report(report, Path(args.out))
    print(f"wrote {len(paths) + len(report['files'])} files to {args.out}/ in {report['timings']['demo_total']:.1f}s "
          f"(transported direction: {report['files']['transported']})")
    return 0


def _add_eval_set_args(p, default: str) -> None:
    p.add_argument("--eval-set", choices=("shipped", "independent"), default=default,
                   help="independent: also evaluate on the hand-written independent pairs and captions "
                        "(data/independent/), report only: everything is still fitted on --pairs/--anchors; "
                        f"shipped: the shipped held-out split alone (default: {default})")
    p.add_argument("--eval-pairs", help="also evaluate on this pair file (report only; with --eval-benign)")
    p.add_argument("--eval-benign", help="benign prompts for --eval-pairs (preservation, gate FPR)")


def add_parsers(sub) -> None:
    """Register the library's subcommands on `sub` (an argparse subparsers object)."""

    p = sub.add_parser("extract", help="a safety direction in a source model from prompt pairs")
    _add_model_args(p, "source")
    p.add_argument("--pairs", default="default", help="shipped set name or a .jsonl/.csv file")
    p.add_argument("--method", choices=estimate.METHODS, default="mean_diff")
    p.add_argument("--seed", type=int, default=None, help="re-split the pairs at random (default: their own split)")
    p.add_argument("--out", required=True, help="output .safetensors")
    p.set_defaults(run=cmd_extract)

    p = sub.add_parser("fit-alignment", help="a source -> target map fitted on benign anchors only")
    _add_model_args(p, "source", "target")
    p.add_argument("--anchors", default="default", help="shipped set name or a .jsonl/.csv/.txt file")
    p.add_argument("--method", choices=alignment_maps.METHODS, default="ridge")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output .safetensors")
    p.set_defaults(run=cmd_fit_alignment)

    p = sub.add_parser("transport", help="carry a direction through an alignment and calibrate it")
    p.add_argument("--direction", required=True)
    p.add_argument("--alignment", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(run=cmd_transport)

    p = sub.add_parser("evaluate-transfer", help="transported vs native direction on held-out pairs")
    _add_model_args(p, "source", "target")
    p.add_argument("--pairs", default="default")
    p.add_argument("--anchors", default="default")
    p.add_argument("--method", choices=alignment_maps.METHODS, default="ridge", help="alignment map")
    p.add_argument("--direction-method", choices=estimate.METHODS, default="mean_diff")
    p.add_argument("--seed", type=int, default=None)
    _add_benchmark_args(p)
    _add_eval_set_args(p, default="shipped")
    p.add_argument("--json", help="write the full report here")
    p.set_defaults(run=cmd_evaluate_transfer)

    p = sub.add_parser("prompts", help="prompt sets")
    psub = p.add_subparsers(dest="prompts_command", required=True)
    s = psub.add_parser("stats", help="counts, lengths, duplicates, diversity")
    s.add_argument("--pairs", default="default")
    s.add_argument("--anchors", default="default")
    s.add_argument("--json", action="store_true")
    s.set_defaults(run=cmd_prompts_stats)

    p = sub.add_parser("demo", help="the main job on the embedded defaults")
    p.add_argument("--source", default="smollm2-135m")
    p.add_argument("--target", default="gemma3-270m")
    p.add_argument("--method", choices=alignment_maps.METHODS, default="ridge", help="alignment map")
    p.add_argument("--seed", type=int, default=None, help="re-split the pairs at random (default: their own split)")
    p.add_argument("--pairs", default="default", help="shipped set name or a .jsonl/.csv file")
    p.add_argument("--anchors", default="default", help="shipped set name or a .jsonl/.csv/.txt file")
    p.add_argument("--out", default="reports/demo", help="report folder")
    _add_benchmark_args(p)
    _add_eval_set_args(p, default="independent")
    p.add_argument("--device", default="cpu")
    p.add_argument("--trust-remote-code", action="store_true")
    p.set_defaults(run=cmd_demo)
