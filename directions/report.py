"""The demo's report folder: every figure of an evaluate-transfer report as JSON, CSV and PNG plots.

matplotlib is optional (the `eval` extra) and imported only here.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

SIDES = ("native", "transported")
COLORS = {"native": "#4C72B0", "transported": "#DD8452"}


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
    write_csv(out / "summary.csv", ["metric", "native", "transported"], [
        ["heldout_auroc", report["native"]["auroc"], report["transported"]["auroc"]],
        ["category_top1", report["native"]["category_top1"], report["transported"]["category_top1"]],
        ["moved_toward_safe", report["steering"]["native_moved_toward_safe"], report["steering"]["moved_toward_safe"]],
        ["benign_shift", report["steering"]["native_benign_shift"], report["steering"]["benign_shift"]],
        ["cosine_to_native", 1.0, report["transported"]["cosine_to_native"]],
    ])
    write_csv(out / "per_category_auroc.csv", ["category", "native", "transported"],
               [[c, report["native"]["per_category_auroc"].get(c), report["transported"]["per_category_auroc"].get(c)]
                for c in cats])
    sweep = report["steering"]["sweep"]
    write_csv(out / "alpha_sweep.csv", list(sweep[0]), [list(row.values()) for row in sweep])
    write_csv(out / "scores.csv", ["side", "kind", "score"],
               [[side, kind, v] for side in SIDES for kind in ("unsafe", "safe") for v in report[side]["scores"][kind]])
    for side in SIDES:
        conf = report[side]["category_confusion"]
        write_csv(out / f"confusion_{side}.csv", ["true \\ predicted", *conf["labels"]],
                   [[label, *row] for label, row in zip(conf["labels"], conf["confusion"])])
    return sorted(out.glob("*.csv")) + [out / "report.json"]


def write_plots(report: dict, out: Path) -> list[Path]:
    """Four PNGs: score distributions, per-category AUROC, alpha sweep, category confusion."""
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

    sweep = report["steering"]["sweep"]
    alphas = [row["alpha"] for row in sweep]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for side in SIDES:
        prefix = "transported" if side == "transported" else "native"
        left.plot(alphas, [row[f"{prefix}_moved_toward_safe"] for row in sweep], "o-", color=COLORS[side], label=side)
        right.plot(alphas, [row[f"{prefix}_benign_shift"] for row in sweep], "o-", color=COLORS[side], label=side)
    left.set(xscale="log", xlabel="alpha (benign spreads)", ylabel="share of unsafe prompts moved toward their safe twin",
             ylim=(0, 1.02), title="steering effect")
    right.set(xscale="log", xlabel="alpha (benign spreads)", ylabel="mean cosine distance on benign anchors",
              title="benign shift (gated steering)")
    for ax in (left, right):
        ax.set_xticks(alphas, [f"{a:g}" for a in alphas])
        ax.minorticks_off()
        ax.legend()
    fig.suptitle(title)
    paths.append(save_figure(fig, out / "alpha_sweep.png", plt))

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
