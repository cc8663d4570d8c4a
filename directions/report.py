"""The demo's report folder: every figure of an evaluate-transfer report as JSON, CSV and PNG plots.

matplotlib is optional (the `eval` extra) and imported only here.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

SIDES = ("native", "transported")
BENCHMARK_SIDES = ("native", "transported", "random")
COLORS = {"native": "#4C72B0", "transported": "#DD8452", "random": "#8C8C8C"}


def pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("the report's plots need matplotlib: pip install 'crosssteer[eval]'") from err
    return plt


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_tables(report: dict, out: Path) -> list[Path]:
    """report.json plus one CSV per figure."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    cats = sorted(set(report["native"]["per_category_auroc"]) | set(report["transported"]["per_category_auroc"]))
    b = report["benchmark"]
    write_csv(out / "summary.csv", ["metric", *BENCHMARK_SIDES], [
        *summary_rows(report),
        ["cosine_to_native", 1.0, report["transported"]["cosine_to_native"], report["random"]["cosine_to_native"]],
    ])
    for name, eval_set in report.get("eval_sets", {}).items():
        # a report-only set: everything was fitted on the shipped data; the strength there is the shipped one's
        write_csv(out / f"summary_{name}.csv", ["metric", *BENCHMARK_SIDES], [
            *summary_rows(eval_set),
            ["text_asr_at_shipped_strength",
             *(eval_set["benchmark"][s]["at_shipped_strength"]["text_asr"] for s in BENCHMARK_SIDES)],
        ])
    write_csv(out / "per_category_auroc.csv", ["category", "native", "transported"],
               [[c, report["native"]["per_category_auroc"].get(c), report["transported"]["per_category_auroc"].get(c)]
                for c in cats])
    write_csv(out / "strength_sweep.csv", ["side", "alpha", "text_asr", "benign_preservation"],
              [[s, a, asr, kept] for s in BENCHMARK_SIDES
               for a, asr, kept in zip(b["alphas"], b[s]["text_asr"], b[s]["benign_preservation"])])
    write_csv(out / "scores.csv", ["side", "kind", "score"],
               [[side, kind, v] for side in SIDES for kind in ("unsafe", "safe") for v in report[side]["scores"][kind]])
    for side in SIDES:
        conf = report[side]["category_confusion"]
        if conf is None:  # pairs with too few per category for category vectors
            continue
        write_csv(out / f"confusion_{side}.csv", ["true \\ predicted", *conf["labels"]],
                   [[label, *row] for label, row in zip(conf["labels"], conf["confusion"])])
    return sorted(out.glob("*.csv")) + [out / "report.json"]


def summary_rows(r: dict) -> list[list]:
    """The headline figures of the shipped split's report or of one of its eval_sets."""
    b = r["benchmark"]
    return [
        ["heldout_auroc", *(r[s]["auroc"] for s in BENCHMARK_SIDES)],
        ["category_top1", r["native"]["category_top1"], r["transported"]["category_top1"], None],
        [f"alpha_at_preservation_{b['preservation_target']:g}", *(b[s]["matched"]["alpha"] for s in BENCHMARK_SIDES)],
        [f"text_asr_at_preservation_{b['preservation_target']:g}", *(b[s]["matched"]["text_asr"] for s in BENCHMARK_SIDES)],
        ["gate_benign_fpr", *(r[s]["gate"]["benign_fpr"] for s in BENCHMARK_SIDES)],
        ["judge_heldout_accuracy", r["judge"]["heldout_accuracy"], None, None],
        ["unsteered_text_asr", b["unsteered_text_asr"], None, None],
    ]


def write_plots(report: dict, out: Path) -> list[Path]:
    """Five PNGs: the text-ASR vs benign-preservation trade-off (native, transported, random; report-only
    sets dashed), the strength
    sweep, score distributions, per-category AUROC, category confusion."""
    plt = pyplot()
    out.mkdir(parents=True, exist_ok=True)
    title = f"{report['source']['model']} -> {report['target']['model']} ({report['alignment']['method']} map)"
    paths = []

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, side in zip(axes, SIDES):
        scores = report[side]["scores"]
        ax.hist(scores["unsafe"], bins=30, alpha=0.6, color="#C44E52", label="unsafe (held-out)")
        ax.hist(scores["safe"], bins=30, alpha=0.6, color="#55A868", label="safe twin (held-out)")
        ax.axvline(0, color="black", lw=1, ls="--", label="benign center")
        ax.set_title(f"{side}: AUROC {report[side]['auroc']:.3f}")
        ax.set_xlabel("score along the direction (benign spreads)")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("prompts")
    fig.suptitle(title)
    paths.append(save_figure(fig, out / "score_distributions.png", plt))

    cats = sorted(report["native"]["per_category_auroc"])
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.4
    for k, side in enumerate(SIDES):
        values = [report[side]["per_category_auroc"].get(c, float("nan")) for c in cats]
        ax.bar([i + (k - 0.5) * width for i in range(len(cats))], values, width, label=side, color=COLORS[side])
    ax.set_xticks(range(len(cats)), cats, rotation=20)
    ax.set_ylim(0.5, 1.0)
    ax.set_ylabel("held-out AUROC")
    ax.set_title(f"per-category separation: {title}")
    ax.legend()
    paths.append(save_figure(fig, out / "per_category_auroc.png", plt))

    b = report["benchmark"]
    judge = report["judge"]
    fig, ax = plt.subplots(figsize=(7, 5))
    for side in BENCHMARK_SIDES:
        label = side if side != "random" else f"random control (mean of {report['random']['n_directions']})"
        ax.plot(b[side]["benign_preservation"], b[side]["text_asr"], "o-", color=COLORS[side], label=label)
        m = b[side]["matched"]
        ax.plot([m["benign_preservation"]], [m["text_asr"]], "*", ms=14, color=COLORS[side])
    for name, eval_set in report.get("eval_sets", {}).items():  # report-only sets, dashed
        for side in BENCHMARK_SIDES:
            e = eval_set["benchmark"][side]
            ax.plot(e["benign_preservation"], e["text_asr"], "s--", ms=4, color=COLORS[side], alpha=0.7,
                    label=f"{side}, {name} set (report only)")
    ax.axvline(b["preservation_target"], color="black", lw=1, ls="--", label=f"preservation {b['preservation_target']:g}")
    ax.invert_xaxis()
    ax.set(xlabel="benign preservation (cosine to the unsteered embedding, held-out benign prompts)",
           ylabel="text attack success rate (judge still says unsafe)", ylim=(-0.02, 1.02),
           title=f"{b['mode']} steering; judge held-out accuracy {judge['heldout_accuracy']:.3f}")
    ax.legend(fontsize=8)
    fig.suptitle(title)
    paths.append(save_figure(fig, out / "tradeoff.png", plt))

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for side in BENCHMARK_SIDES:
        left.plot(b["alphas"], b[side]["text_asr"], "o-", color=COLORS[side], label=side)
        right.plot(b["alphas"], b[side]["benign_preservation"], "o-", color=COLORS[side], label=side)
    left.set(xlabel="strength (benign spreads)", ylabel="text attack success rate", ylim=(-0.02, 1.02),
             title=f"attack success ({b['mode']})")
    right.set(xlabel="strength (benign spreads)", ylabel="benign preservation (cosine)",
              title="held-out benign prompts")
    for ax in (left, right):
        ax.legend()
    fig.suptitle(title)
    paths.append(save_figure(fig, out / "strength_sweep.png", plt))

    if not all(report[side]["category_confusion"] for side in SIDES):
        return paths
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"wspace": 0.45})
    for ax, side in zip(axes, SIDES):
        conf = report[side]["category_confusion"]
        matrix = [[v / max(sum(row), 1) for v in row] for row in conf["confusion"]]
        image = ax.imshow(matrix, vmin=0, vmax=1, cmap="Blues")
        ax.set_xticks(range(len(conf["labels"])), conf["labels"], rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(conf["labels"])), conf["labels"], fontsize=8)
        ax.set_xlabel("most unsafe-looking category vector")
        ax.set_title(f"{side}: top-1 {report[side]['category_top1']:.3f}")
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v > 0.5 else "black")
    axes[0].set_ylabel("true category")
    fig.colorbar(image, ax=axes, shrink=0.8)
    fig.suptitle(f"category confusion of the multi-vector extension: {title}")
    paths.append(save_figure(fig, out / "category_confusion.png", plt))
    return paths


def save_figure(fig, path: Path, plt) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def write_report(report: dict, out: Path) -> list[Path]:
    return write_tables(report, Path(out)) + write_plots(report, Path(out))
