"""The alignment file: a fitted map with both standardizers, the calibration anchors and the held-out
report, as one checked CrossSteer file (see safetensors_io.py)."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

from .alignment_maps import AlignmentError, AlignmentMap, MLPMap
from .safetensors_io import (ArtifactError, check_float_tensors, check_standardizer, is_finite_number, load_artifact,
                             save_artifact)
from .space import Standardizer
from .transport import AlignmentFit, FitReport

ALIGNMENT_KIND = "alignment"


def save_alignment(path: str | os.PathLike, fit: AlignmentFit, meta: dict) -> Path:
    """An alignment (map, both standardizers, calibration anchors, held-out report) as one file.

    `meta` describes the two sides (source/target model, fingerprint, layer, pooling or family)."""
    map_tensors, map_meta = fit.map.state()
    tensors = {f"map.{k}": v for k, v in map_tensors.items()}
    tensors.update({
        "source.mean": fit.source.mean, "source.std": fit.source.std,
        "target.mean": fit.target.mean, "target.std": fit.target.std,
        "calibration_anchors": fit.calibration_anchors,
    })
    file_meta = {"map": map_meta, "report": dataclasses.asdict(fit.report), "info": meta}
    return save_artifact(path, ALIGNMENT_KIND, tensors, file_meta)


_REPORT_FIELDS: dict[str, tuple[str, bool]] = {  # FitReport field -> (kind, may be null)
    "heldout_r2": ("number", True), "retrieval_top1": ("number", True), "retrieval_chance": ("number", True),
    "random_direction_cosine": ("number", True), "n_fit": ("count", False), "n_heldout": ("count", False),
    "lam": ("number", True), "rank": ("count", True), "seconds": ("number", False), "method": ("text", False),
}


def _check_report(report: Any) -> None:
    if not isinstance(report, dict):
        raise ArtifactError(f"meta 'report' must be a JSON object, got {type(report).__name__}")
    if set(report) != set(_REPORT_FIELDS):
        raise ArtifactError(f"meta 'report' must have exactly the fields {sorted(_REPORT_FIELDS)}, got {sorted(report)[:12]}")
    for key, (kind, nullable) in _REPORT_FIELDS.items():
        value = report[key]
        ok = (value is None and nullable) or (
            kind == "number" and is_finite_number(value)) or (
            kind == "count" and type(value) is int and value >= 0) or (kind == "text" and isinstance(value, str))
        if not ok:
            raise ArtifactError(f"meta 'report' field {key!r} must be a {kind}, got {str(value)[:40]!r}")


def _check_map_shapes(tensors: dict[str, torch.Tensor], source_width: int, target_width: int) -> None:
    """Every map tensor has the shape the map's arithmetic needs (an MLP with a lying hidden size would
    otherwise fail only when a direction is transported)."""
    weight = tensors.get("map.weight")
    if weight is None or tuple(weight.shape) != (target_width, source_width):
        shape = None if weight is None else tuple(weight.shape)
        raise ArtifactError(f"the map weight has shape {shape}, expected [{target_width}, {source_width}] "
                            "(target width, source width)")
    hidden = tensors.get("map.hidden_weight")
    if hidden is None:
        return
    h = hidden.shape[0] if hidden.ndim == 2 else -1
    expected = {"map.hidden_weight": (h, source_width), "map.hidden_bias": (h,), "map.output_weight": (target_width, h),
                "map.output_bias": (target_width,), "map.mean_gate": (h,)}
    for name, shape in expected.items():
        if name not in tensors or tuple(tensors[name].shape) != shape or h < 1:
            got = tuple(tensors[name].shape) if name in tensors else None
            raise ArtifactError(f"the MLP map tensor {name[4:]!r} has shape {got}, expected {list(shape)}")


_ALIGNMENT_TENSORS = ("source.mean", "source.std", "target.mean", "target.std", "calibration_anchors")


def load_alignment(path: str | os.PathLike) -> tuple[AlignmentFit, dict]:
    """(AlignmentFit, meta) from a file written by save_alignment; every part is checked."""
    tensors, file_meta = load_artifact(path, ALIGNMENT_KIND)
    try:
        missing = [k for k in _ALIGNMENT_TENSORS if k not in tensors]
        if missing:
            raise ArtifactError(f"the tensors {missing} are missing")
        map_names = {f"map.{n}" for n in MLPMap.tensor_names}
        unknown = sorted(k for k in tensors if k not in _ALIGNMENT_TENSORS and k not in map_names)
        if unknown:
            raise ArtifactError(f"it holds tensors an alignment never has: {unknown[:5]}")
        check_float_tensors(tensors, tensors)
        source = Standardizer(tensors["source.mean"].float(), tensors["source.std"].float())
        target = Standardizer(tensors["target.mean"].float(), tensors["target.std"].float())
        for side, std in (("source", source), ("target", target)):
            check_standardizer(std, side)
        map_meta, info = file_meta.get("map", {}), file_meta.get("info", {})
        if not isinstance(map_meta, dict) or not isinstance(map_meta.get("method"), str):
            raise ArtifactError("meta 'map' must be a JSON object with a 'method' name")
        if not isinstance(info, dict):
            raise ArtifactError("meta 'info' must be a JSON object")
        for side in ("source", "target"):
            if not isinstance(info.get(side, {}), dict):
                raise ArtifactError(f"meta 'info' {side!r} must be a JSON object describing the {side} model")
        _check_map_shapes(tensors, source.width, target.width)
        amap = AlignmentMap.from_state({k[4:]: v for k, v in tensors.items() if k.startswith("map.")}, map_meta)
        anchors = tensors["calibration_anchors"]
        if anchors.ndim != 2 or anchors.shape[1] != target.width or anchors.shape[0] < 2:
            raise ArtifactError(f"the calibration anchors have shape {tuple(anchors.shape)}, expected [M >= 2, {target.width}]")
        report = file_meta.get("report", {})
        _check_report(report)
        report = FitReport(**report)
    except (AlignmentError, TypeError, KeyError) as exc:
        raise ArtifactError(f"{path}: not a valid alignment ({exc}): re-fit it") from exc
    except ArtifactError as exc:
        raise ArtifactError(f"{path}: {exc}; re-fit the alignment or re-download the file") from exc
    side = {k: info["source"][k] for k in ("layer", "pooling") if k in info.get("source", {})}
    return AlignmentFit(map=amap, source=source, target=target, report=report, calibration_anchors=anchors,
                        source_side=side), info

