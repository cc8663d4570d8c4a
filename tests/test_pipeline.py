"""The method end to end on the real embedded models, on a small slice of the shipped data.

12 pairs per category (their own fit/held-out split kept) and the first 400 shipped anchors, SmolLM2 at
layer 15 and Gemma 3 at layer 9 (both middle layers). Every test and every CLI run shares one embedding
cache in a temporary folder, so each (model, layer, prompt) is embedded once per session.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections import Counter
from pathlib import Path

import pytest
import torch

from crosssteer.directions import cli
from crosssteer.directions.artifact import SafetyDirection, load_alignment
from crosssteer.directions.encoders import EmbeddingCache, cache_root
from crosssteer.directions.pipeline import evaluate_transfer, extract_direction
from crosssteer.directions.prompts import CATEGORIES, load_anchors, load_pairs

pytestmark = pytest.mark.slow

PER_CATEGORY = 12
N_ANCHORS = 400
SOURCE_LAYER, TARGET_LAYER = 15, 9  # SmolLM2 has 30 blocks, Gemma 3 270M has 18
# measured 0.92 (35 held-out pairs); 0.8 leaves room for a different CPU's rounding and small data changes
MIN_HELDOUT_AUROC = 0.8


@pytest.fixture(scope="module")
def pairs():
    """The first 12 shipped pairs of each category, in file order, with their own split."""
    taken: Counter = Counter()
    subset = []
    for pair in load_pairs("default"):
        if taken[pair.category] < PER_CATEGORY:
            taken[pair.category] += 1
            subset.append(pair)
    assert {(p.category, p.split) for p in subset} == {(c, s) for c in CATEGORIES for s in ("fit", "heldout")}
    return subset


@pytest.fixture(scope="module")
def anchors():
    return load_anchors("default")[:N_ANCHORS]


@pytest.fixture(scope="module")
def cache_dir(smollm2, gemma3, tmp_path_factory):
    """A fresh CROSSSTEER_CACHE whose `models` is the real model cache (nothing is dequantised again)
    and whose embeddings.sqlite starts empty. The encoder fixtures load first, so the models exist."""
    models = cache_root() / "models"
    assert models.is_dir(), f"the encoder fixtures should have filled {models}"
    root = tmp_path_factory.mktemp("crosssteer-cache")
    (root / "models").symlink_to(models, target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def source(smollm2, cache_dir):
    return dataclasses.replace(smollm2, cache=EmbeddingCache(cache_dir / "embeddings.sqlite"))


@pytest.fixture(scope="module")
def target(gemma3, cache_dir):
    return dataclasses.replace(gemma3, cache=EmbeddingCache(cache_dir / "embeddings.sqlite"))


@pytest.fixture(scope="module")
def direction(source, pairs):
    return extract_direction(source, pairs, layer=SOURCE_LAYER)


# ------------------------------------------------------------------ the library
def test_extract_direction_separates_heldout_pairs(direction, pairs, tmp_path):
    n_fit = sum(p.split == "fit" for p in pairs)
    assert direction.meta["space"] == "source"
    assert (direction.meta["layer"], direction.meta["pooling"], direction.meta["method"]) == (SOURCE_LAYER, "mean", "mean_diff")
    assert (direction.meta["n_fit"], direction.meta["n_heldout"]) == (n_fit, len(pairs) - n_fit)
    assert direction.meta["source"]["model"] == "smollm2-135m" and direction.width == 576
    assert list(direction.vectors) == ["global", *CATEGORIES]
    for v in direction.vectors.values():
        assert math.isclose(float(v.norm()), 1.0, abs_tol=1e-4)
    stats = direction.meta["stats"]
    assert stats["global"]["auroc"] > MIN_HELDOUT_AUROC, stats
    assert all(0.0 <= stats[c]["auroc"] <= 1.0 for c in CATEGORIES)

    path = direction.save(tmp_path / "direction.safetensors")
    loaded = SafetyDirection.load(path)
    assert list(loaded.vectors) == list(direction.vectors)
    for name, v in direction.vectors.items():
        assert torch.equal(loaded.vectors[name], v)
    assert torch.equal(loaded.standardizer.mean, direction.standardizer.mean)
    assert torch.equal(loaded.standardizer.std, direction.standardizer.std)
    assert loaded.meta == json.loads(json.dumps(direction.meta))
    assert (loaded.units, loaded.centers) == (direction.units, direction.centers)


def test_evaluate_transfer_report(source, target, pairs, anchors, tmp_path):
    report = evaluate_transfer(source, target, pairs, anchors, source_layer=SOURCE_LAYER, target_layer=TARGET_LAYER)
    json.dumps(report, allow_nan=False)  # the CLI writes it as JSON
    native, moved = report["native"], report["transported"]
    assert (report["source"]["layer"], report["target"]["layer"]) == (SOURCE_LAYER, TARGET_LAYER)
    assert (report["source"]["width"], report["target"]["width"]) == (576, 640)
    assert report["pairs"]["n_test"] == sum(p.split == "heldout" for p in pairs)
    assert report["anchors"]["n"] == N_ANCHORS

    for side in (native, moved):
        assert 0.0 <= side["auroc"] <= 1.0
        assert set(side["per_category_auroc"]) == set(CATEGORIES)
        assert all(0.0 <= a <= 1.0 for a in side["per_category_auroc"].values())
        assert 0.0 <= side["category_top1"] <= 1.0
    # measured: native 0.89, transported 0.73; both must at least beat chance
    assert native["auroc"] > 0.75 and moved["auroc"] > 0.6, (native["auroc"], moved["auroc"])
    assert -1.0 <= moved["cosine_to_native"] <= 1.0 and moved["cosine_to_native"] > 0.1

    steering = report["steering"]
    assert 0.0 <= steering["moved_toward_safe"] <= 1.0
    assert steering["benign_shift"] >= 0.0
    assert [row["alpha"] for row in steering["sweep"]] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert math.isfinite(report["alignment"]["heldout_r2"]) and report["alignment"]["n_fit"] == 320

    timings = report["timings"]
    assert {"layer_scan", "embedding", "alignment", "directions", "evaluation", "total"} <= set(timings)
    assert math.isclose(timings["total"], sum(v for k, v in timings.items() if k != "total"), abs_tol=0.01)

    # the demo's report folder: every figure as CSV, plots as PNG, the same numbers as the report
    from PIL import Image

    from crosssteer.directions.estimate import auroc
    from crosssteer.directions.report import write_report

    for side in (native, moved):
        scores = {k: torch.tensor(v) for k, v in side["scores"].items()}
        assert len(scores["unsafe"]) == len(scores["safe"]) == report["pairs"]["n_test"]
        assert auroc(scores["safe"], scores["unsafe"]) == pytest.approx(side["auroc"], abs=1e-6)
    written = {p.name for p in write_report(report, tmp_path / "demo")}
    assert {"report.json", "summary.csv", "per_category_auroc.csv", "alpha_sweep.csv", "scores.csv",
            "confusion_native.csv", "confusion_transported.csv", "score_distributions.png",
            "per_category_auroc.png", "alpha_sweep.png", "category_confusion.png"} <= written
    with open(tmp_path / "demo" / "summary.csv") as handle:
        rows = {r["metric"]: r for r in csv.DictReader(handle)}
    assert float(rows["heldout_auroc"]["transported"]) == pytest.approx(moved["auroc"])
    with open(tmp_path / "demo" / "scores.csv") as handle:
        assert sum(1 for _ in handle) == 1 + 4 * report["pairs"]["n_test"]
    for png in ("score_distributions", "per_category_auroc", "alpha_sweep", "category_confusion"):
        with Image.open(tmp_path / "demo" / f"{png}.png") as image:
            assert image.width > 600 and image.height > 300


# ------------------------------------------------------------------ the command line
def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_cli_extract_align_transport_evaluate(pairs, anchors, direction, cache_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CROSSSTEER_CACHE", str(cache_dir))  # the CLI loads its own encoders: share the cache
    pairs_file = _write_jsonl(tmp_path / "pairs.jsonl", [dataclasses.asdict(p) for p in pairs])
    anchors_file = _write_jsonl(tmp_path / "anchors.jsonl", [{"text": t} for t in anchors])
    models = ["--source", "smollm2-135m", "--source-layer", str(SOURCE_LAYER)]
    both = models + ["--target", "gemma3-270m", "--target-layer", str(TARGET_LAYER)]
    out = tmp_path / "out"

    assert cli.main(["extract", *models, "--pairs", str(pairs_file), "--out", str(out / "dir.safetensors"),
                     "--quiet"]) == 0
    assert cli.main(["fit-alignment", *both, "--anchors", str(anchors_file), "--out", str(out / "align.safetensors"),
                     "--quiet"]) == 0
    assert cli.main(["transport", "--direction", str(out / "dir.safetensors"), "--alignment",
                     str(out / "align.safetensors"), "--out", str(out / "moved.safetensors")]) == 0
    assert cli.main(["evaluate-transfer", *both, "--pairs", str(pairs_file), "--anchors", str(anchors_file),
                     "--json", str(out / "report" / "report.json"), "--quiet"]) == 0
    printed = capsys.readouterr()
    assert printed.out.count("saved ") == 3 and "held-out AUROC" in printed.out
    assert "warning" not in printed.err

    extracted = SafetyDirection.load(out / "dir.safetensors")  # the library's result, through the CLI
    assert extracted.meta["layer"] == SOURCE_LAYER and extracted.width == 576
    torch.testing.assert_close(extracted.vectors["global"], direction.vectors["global"], rtol=0, atol=1e-6)

    fit, meta = load_alignment(out / "align.safetensors")
    assert (fit.source.width, fit.target.width) == (576, 640)
    assert (meta["source"]["model"], meta["source"]["layer"]) == ("smollm2-135m", SOURCE_LAYER)
    assert (meta["target"]["model"], meta["target"]["layer"]) == ("gemma3-270m", TARGET_LAYER)
    assert fit.report.n_fit + fit.report.n_heldout == N_ANCHORS

    moved = SafetyDirection.load(out / "moved.safetensors")
    assert moved.meta["space"] == "target" and moved.width == 640
    assert moved.meta["target"]["model"] == "gemma3-270m"
    assert list(moved.vectors) == list(extracted.vectors)
    assert all(u > 0 for u in moved.units.values())

    report = json.loads((out / "report" / "report.json").read_text())
    for key in ("auroc", "per_category_auroc", "category_top1"):
        assert key in report["native"] and key in report["transported"]
    assert "cosine_to_native" in report["transported"]
    assert {"moved_toward_safe", "benign_shift"} <= set(report["steering"])
    assert "heldout_r2" in report["alignment"] and "total" in report["timings"]
    # the CLI's alignment is the one evaluate-transfer fitted (same anchors, layers and seed)
    assert math.isclose(report["alignment"]["heldout_r2"], fit.report.heldout_r2, rel_tol=1e-6)


def test_cli_malformed_pairs_file(tmp_path, capsys):
    bad = tmp_path / "bad_pairs.jsonl"
    bad.write_text('{"category": "violence", "unsafe": "a bloody knife fight", "safe": "a pillow fight"}\n'
                   '\n'
                   '{"category": "hate", "unsafe": "a hateful rally", "safe": "a peaceful rally",\n',
                   encoding="utf-8")
    out = tmp_path / "never.safetensors"
    code = cli.main(["extract", "--source", "smollm2-135m", "--pairs", str(bad), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "crosssteer extract: error: bad_pairs.jsonl:3: not valid JSON" in err
    assert not out.exists()


def test_cli_unknown_model(tmp_path, capsys):
    pairs = _write_jsonl(tmp_path / "pairs.jsonl",
                         [{"category": "violence", "unsafe": "a knife fight", "safe": "a pillow fight"}])
    code = cli.main(["extract", "--source", "no-such-model", "--pairs", str(pairs),
                     "--out", str(tmp_path / "x.safetensors"), "--quiet"])
    assert code == 2
    assert "crosssteer extract: error: no model at 'no-such-model'" in capsys.readouterr().err


def test_demo_command_writes_the_report_folder(pairs, anchors, cache_dir, tmp_path):
    """`crosssteer demo` as a user runs it (the installed console script, its own process), on the test's
    data slice: the report folder, the saved transported direction, timings and progress on stderr."""
    import os
    import subprocess
    import sys

    pairs_file = _write_jsonl(tmp_path / "pairs.jsonl", [dataclasses.asdict(p) for p in pairs])
    anchors_file = _write_jsonl(tmp_path / "anchors.jsonl", [{"text": t} for t in anchors])
    out = tmp_path / "demo"
    script = Path(sys.executable).with_name("crosssteer")
    done = subprocess.run([str(script), "demo", "--pairs", str(pairs_file), "--anchors", str(anchors_file),
                           "--out", str(out)], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "CROSSSTEER_CACHE": str(cache_dir)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "held-out AUROC" in done.stdout and f"files to {out}/ in " in done.stdout
    assert "pairs (target)" in done.stderr and "anchors (source)" in done.stderr  # progress bars
    report = json.loads((out / "report.json").read_text())
    assert report["pairs"]["n_test"] == sum(p.split == "heldout" for p in pairs)
    assert report["timings"]["demo_total"] >= report["timings"]["total"] > 0
    moved = SafetyDirection.load(out / report["files"]["transported"])
    assert moved.meta["space"] == "target" and moved.width == 640 and moved.meta["target"]["model"] == "gemma3-270m"
    assert SafetyDirection.load(out / report["files"]["native"]).width == 640
    assert {p.name for p in out.glob("*.png")} == {"score_distributions.png", "per_category_auroc.png",
                                                   "alpha_sweep.png", "category_confusion.png"}
