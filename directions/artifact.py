"""CrossSteer files: checked, atomically written .safetensors with JSON metadata.

Files are only ever read with safetensors (never torch.load / pickle), and every read is checked: header
size, kind, format version, a SHA-256 over the tensors, finite values and well-formed metadata. A file
that fails any check raises ArtifactError naming the file and what to do about it.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import safetensors.torch
import torch

from .space import Standardizer
from .steer import SteeringError, mix

if TYPE_CHECKING:
    from .estimate import DirectionSet
    from .transport import AlignmentFit

FORMAT_VERSION = 1
MAX_HEADER_BYTES = 10 * 1024 * 1024
DIRECTION_KIND = "direction"
GLOBAL = "global"
_UNIT_NORM_TOLERANCE = 1e-3

# what each kind is called in messages ("this file is a crosssteer alignment, not a safety direction")
_KIND_NAMES = {
    "direction": "a safety direction",
    "alignment": "an alignment",
    "standardizer": "a standardizer",
    "anchors": "an anchor set",
}


class ArtifactError(ValueError):
    """A CrossSteer file that cannot be written or read as asked."""


def _describe(kind: str) -> str:
    return _KIND_NAMES.get(kind, f"a {kind!r} file")


# ------------------------------------------------------------------------------------------- checksum


def tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and raw bytes, in sorted name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        for part in (name, str(t.dtype), ",".join(str(s) for s in t.shape)):
            digest.update(part.encode("utf-8") + b"\0")
        digest.update(struct.pack("<Q", len(data)))
        digest.update(data)
    return digest.hexdigest()


def _non_finite(tensors: dict[str, torch.Tensor]) -> list[str]:
    return sorted(n for n, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all())


# ---------------------------------------------------------------------------------------------- write


def save_artifact(path: str | os.PathLike, kind: str, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Write tensors + JSON meta to `path` atomically (temporary file in the same folder, then os.replace)."""
    path = Path(path)
    if not isinstance(kind, str) or not kind:
        raise ArtifactError(f"cannot write {path}: the artifact kind must be a non-empty string, got {kind!r}")
    if not isinstance(meta, dict):
        raise ArtifactError(f"cannot write {path}: meta must be a dict, got {type(meta).__name__}")
    try:
        meta_json = json.dumps(meta, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ArtifactError(
            f"cannot write {path}: meta is not JSON-serialisable ({exc}); store plain numbers, strings, lists and dicts"
        ) from exc
    if not tensors:
        raise ArtifactError(f"cannot write {path}: no tensors to save")
    prepared: dict[str, torch.Tensor] = {}
    for name, t in tensors.items():
        if not isinstance(name, str) or not isinstance(t, torch.Tensor):
            raise ArtifactError(f"cannot write {path}: tensors must map names to torch tensors ({name!r} does not)")
        prepared[name] = t.detach().to("cpu").contiguous().clone()
    bad = _non_finite(prepared)
    if bad:
        raise ArtifactError(
            f"cannot write {path}: tensors {bad} contain NaN or infinite values; fix the computation that produced them"
        )

    metadata = {
        "crosssteer_kind": kind,
        "crosssteer_format": str(FORMAT_VERSION),
        "crosssteer_meta": meta_json,
        "crosssteer_sha256": tensors_sha256(prepared),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        safetensors.torch.save_file(prepared, tmp_name, metadata=metadata)
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; the final file should read like any other model file
        with open(tmp_name, "rb+") as fh:  # durable before it becomes visible under the real name
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        if isinstance(exc, Exception):
            raise ArtifactError(f"cannot write {path}: {exc}; check the folder is writable and has free space") from exc
        raise
    return path


# ----------------------------------------------------------------------------------------------- read


def _read_header(path: Path) -> dict:
    """The safetensors JSON header, after checking its declared length against sane limits."""
    size = path.stat().st_size
    if size < 8:
        raise ArtifactError(
            f"{path} is {size} bytes, too short to be a safetensors file: it is truncated; re-create or re-download it"
        )
    with open(path, "rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        if header_len > MAX_HEADER_BYTES:
            raise ArtifactError(
                f"{path} declares a {header_len}-byte header, more than the {MAX_HEADER_BYTES // (1024 * 1024)} MB limit: "
                "it is corrupt or not a CrossSteer file; re-create or re-download it"
            )
        if 8 + header_len > size:
            raise ArtifactError(
                f"{path} declares a {header_len}-byte header but the file is only {size} bytes: it is truncated; "
                "re-create or re-download it"
            )
        raw = fh.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path} is not a safetensors file (its header is not JSON): re-create or re-download it") from exc
    if not isinstance(header, dict):
        raise ArtifactError(f"{path} is not a safetensors file (its header is not a JSON object): re-create or re-download it")
    return header


def load_artifact(path: str | os.PathLike, kind: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Read and check a file written by save_artifact with the same kind. Returns (tensors, meta)."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path} does not exist (or is not a file): check the name and folder")
    try:
        header = _read_header(path)
    except OSError as exc:
        raise ArtifactError(f"{path} could not be opened ({exc}): check that it exists and is readable") from exc
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or "crosssteer_kind" not in metadata:
        raise ArtifactError(
            f"{path} is not a CrossSteer file (no crosssteer metadata): pick a file that CrossSteer saved as {_describe(kind)}"
        )
    found = metadata["crosssteer_kind"]
    if found != kind:
        raise ArtifactError(
            f"{path}: this file is a crosssteer {_describe(found).split(' ', 1)[1]}, not {_describe(kind)}: "
            "load it with the node that reads that kind, or pick another file"
        )
    version_text = metadata.get("crosssteer_format", "")
    try:
        version = int(version_text)
    except (TypeError, ValueError):
        version = None
    if version is None or version < 1:
        raise ArtifactError(f"{path} has an unknown format version {version_text!r}: it is corrupt; re-create it")
    if version > FORMAT_VERSION:
        raise ArtifactError(
            f"{path} uses format version {version}, newer than this CrossSteer reads ({FORMAT_VERSION}): update CrossSteer"
        )

    try:
        tensors = safetensors.torch.load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own SafetensorsError and others for broken files
        raise ArtifactError(f"{path} could not be read by safetensors ({exc}): it is truncated or corrupt; re-create it") from exc

    expected = metadata.get("crosssteer_sha256")
    if not expected or tensors_sha256(tensors) != expected:
        raise ArtifactError(f"{path}: the file was modified or is corrupt (checksum mismatch): re-create or re-download it")
    bad = _non_finite(tensors)
    if bad:
        raise ArtifactError(f"{path}: tensors {bad} contain NaN or infinite values: the file is unusable; re-create it")
    try:
        meta = json.loads(metadata.get("crosssteer_meta", ""))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: its meta is not valid JSON: the file is corrupt; re-create it") from exc
    if not isinstance(meta, dict):
        raise ArtifactError(
            f"{path}: its meta is not a JSON object (got {type(meta).__name__}): the file is corrupt; re-create it"
        )
    return tensors, meta


# ------------------------------------------------------------------------------------- safety direction


def _float_map(values: Any, what: str) -> dict[str, float]:
    if not isinstance(values, dict):
        raise ArtifactError(f"{what} must be a dict of name -> number, got {type(values).__name__}")
    try:
        return {str(k): float(v) for k, v in values.items()}
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"{what} must map names to numbers: {exc}") from exc


@dataclass(eq=False)
class SafetyDirection:
    """Unit directions [D] in z-coordinates of one space, with what is needed to steer with them.

    units[name]: calibrated alpha unit (benign score spread; default 1.0). centers[name]: benign mean
    score (default 0.0). weights: mixer weights per vector (empty = steer with "global" alone).
    meta: JSON-able description (source_model, source_fingerprint, layer, pooling, method, space,
    target_family, target_width, prompt_set_hash, stats, ...).
    """

    vectors: dict[str, torch.Tensor]
    standardizer: Standardizer
    units: dict[str, float] = field(default_factory=dict)
    centers: dict[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # own copies, "global" first, defaults for vectors without a calibration
        order = sorted(self.vectors, key=lambda n: n != GLOBAL)
        self.vectors = {n: self.vectors[n] for n in order}
        self.units = {**{n: 1.0 for n in self.vectors}, **_float_map(self.units, "units")}
        self.centers = {**{n: 0.0 for n in self.vectors}, **_float_map(self.centers, "centers")}
        self.weights = _float_map(self.weights, "weights")
        self.meta = copy.deepcopy(self.meta)

    @property
    def width(self) -> int:
        return int(self.standardizer.width)

    @property
    def categories(self) -> list[str]:
        return [n for n in self.vectors if n != GLOBAL]

    def validate(self) -> "SafetyDirection":
        """Raise ArtifactError on anything that would make steering silently wrong; returns self."""
        mean, std = self.standardizer.mean, self.standardizer.std
        if GLOBAL not in self.vectors:
            raise ArtifactError(f"the direction has no 'global' vector (it has {list(self.vectors)}): re-estimate it")
        if mean.ndim != 1 or mean.shape != std.shape:
            raise ArtifactError(f"the standardizer mean {tuple(mean.shape)} and std {tuple(std.shape)} must both be [D]")
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all()):
            raise ArtifactError("the standardizer contains NaN or infinite values: re-estimate the direction")
        if not (std > 0).all():
            raise ArtifactError("the standardizer has a std <= 0: re-estimate it (std must be floored above zero)")
        for name, v in self.vectors.items():
            if v.ndim != 1 or v.shape[0] != self.width:
                raise ArtifactError(
                    f"vector {name!r} has shape {tuple(v.shape)} but the standardizer is {self.width} wide: "
                    "they come from different spaces; re-estimate or re-transport the direction"
                )
            if not torch.isfinite(v).all():
                raise ArtifactError(f"vector {name!r} contains NaN or infinite values: re-estimate it")
            norm = float(v.detach().to(torch.float64).norm())
            if abs(norm - 1.0) > _UNIT_NORM_TOLERANCE:
                raise ArtifactError(
                    f"vector {name!r} has norm {norm:.6g}, not 1: directions must be unit vectors in z-coordinates; "
                    "it was edited or built wrongly, re-estimate it"
                )
        for table, what in ((self.units, "units"), (self.centers, "centers"), (self.weights, "weights")):
            extra = sorted(set(table) - set(self.vectors))
            if extra:
                raise ArtifactError(f"{what} name vectors that do not exist: {extra} (known: {list(self.vectors)})")
            bad = sorted(n for n, v in table.items() if not math.isfinite(v))
            if bad:
                raise ArtifactError(f"{what} of {bad} are not finite numbers: re-calibrate")
        bad_units = sorted(n for n, u in self.units.items() if u <= 0)
        if bad_units:
            raise ArtifactError(f"units of {bad_units} are <= 0: a unit is a benign spread and must be > 0; re-calibrate")
        try:
            json.dumps(self.meta, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ArtifactError(f"meta is not JSON-serialisable: {exc}") from exc
        return self

    @classmethod
    def from_direction_set(cls, ds: "DirectionSet", standardizer: Standardizer, meta: dict | None = None) -> "SafetyDirection":
        """Wrap estimated directions; the set's stats go into meta["stats"] unless meta already has them."""
        info = copy.deepcopy(meta or {})
        info.setdefault("stats", copy.deepcopy(ds.stats))
        vectors = {n: v.detach().to("cpu", torch.float32).clone() for n, v in ds.vectors.items()}
        return cls(vectors=vectors, standardizer=standardizer, meta=info).validate()

    # ---------------------------------------------------------------------------------- files

    def save(self, path: str | os.PathLike) -> Path:
        self.validate()
        tensors = {f"vector.{n}": v.detach().to("cpu", torch.float32) for n, v in self.vectors.items()}
        tensors["standardizer.mean"] = self.standardizer.mean.detach().to("cpu", torch.float32)
        tensors["standardizer.std"] = self.standardizer.std.detach().to("cpu", torch.float32)
        file_meta = {
            "order": list(self.vectors),
            "units": self.units,
            "centers": self.centers,
            "weights": self.weights,
            "info": self.meta,
        }
        return save_artifact(path, DIRECTION_KIND, tensors, file_meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SafetyDirection":
        tensors, file_meta = load_artifact(path, DIRECTION_KIND)
        try:
            if "standardizer.mean" not in tensors or "standardizer.std" not in tensors:
                raise ArtifactError("the standardizer tensors are missing")
            names = [k[len("vector."):] for k in tensors if k.startswith("vector.")]
            order = file_meta.get("order", [])
            if not isinstance(order, list):
                raise ArtifactError("meta 'order' must be a list of vector names")
            names = [n for n in order if n in names] + sorted(n for n in names if n not in order)
            info = file_meta.get("info", {})
            if not isinstance(info, dict):
                raise ArtifactError("meta 'info' must be a JSON object")
            direction = cls(
                vectors={n: tensors[f"vector.{n}"].to(torch.float32) for n in names},
                standardizer=Standardizer(
                    mean=tensors["standardizer.mean"].to(torch.float32), std=tensors["standardizer.std"].to(torch.float32)
                ),
                units=file_meta.get("units", {}),
                centers=file_meta.get("centers", {}),
                weights=file_meta.get("weights", {}),
                meta=info,
            )
            return direction.validate()
        except ArtifactError as exc:
            raise ArtifactError(f"{path}: {exc}") from exc

    # ------------------------------------------------------------------------------- steering

    def displacement(self, name_or_mixed: str = GLOBAL) -> torch.Tensor:
        """Raw-coordinate step [D] that raises the score by one unit (std * d * unit).

        "mixed" uses the mixer weights (sum_k w_k * unit_k * d_k, then std *); with no weights it is "global".
        """
        if name_or_mixed == "mixed":
            if not self.weights:
                return self.displacement(GLOBAL)
            try:
                z_step = mix(self.vectors, self.units, self.weights)
            except SteeringError as exc:
                raise ArtifactError(str(exc)) from exc
            return self.standardizer.raw_displacement(z_step)
        if name_or_mixed not in self.vectors:
            raise ArtifactError(
                f"no vector named {name_or_mixed!r}: choose one of {list(self.vectors)} or 'mixed'"
            )
        return self.standardizer.raw_displacement(self.vectors[name_or_mixed]) * self.units[name_or_mixed]

    def with_weights(self, weights: dict[str, float]) -> "SafetyDirection":
        """A copy with new mixer weights (self is not changed)."""
        new = dataclasses.replace(self, weights=dict(weights))  # __post_init__ copies the other tables
        unknown = sorted(set(new.weights) - set(new.vectors))
        if unknown:
            raise ArtifactError(f"weights name vectors that do not exist: {unknown} (known: {list(self.vectors)})")
        return new


# ------------------------------------------------------------------------------------------ alignments

ALIGNMENT_KIND = "alignment"


def save_alignment(path: str | os.PathLike, fit: "AlignmentFit", meta: dict) -> Path:
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


def load_alignment(path: str | os.PathLike) -> tuple["AlignmentFit", dict]:
    """(AlignmentFit, meta) from a file written by save_alignment; every part is checked."""
    from .transport import AlignmentError, AlignmentFit, AlignmentMap, FitReport

    tensors, file_meta = load_artifact(path, ALIGNMENT_KIND)
    try:
        needed = ("source.mean", "source.std", "target.mean", "target.std", "calibration_anchors")
        missing = [k for k in needed if k not in tensors]
        if missing:
            raise ArtifactError(f"the tensors {missing} are missing")
        source = Standardizer(tensors["source.mean"].float(), tensors["source.std"].float())
        target = Standardizer(tensors["target.mean"].float(), tensors["target.std"].float())
        for side, std in (("source", source), ("target", target)):
            if std.mean.ndim != 1 or std.std.shape != std.mean.shape or not (std.std > 0).all():
                raise ArtifactError(f"the {side} standardizer is malformed (needs mean and std [D] with std > 0)")
        amap = AlignmentMap.from_state({k[4:]: v for k, v in tensors.items() if k.startswith("map.")},
                                       file_meta.get("map", {}))
        if (amap.source_width, amap.target_width) != (source.width, target.width):
            raise ArtifactError(f"the map is {amap.source_width} -> {amap.target_width} wide but the standardizers are "
                                f"{source.width} -> {target.width}")
        anchors = tensors["calibration_anchors"]
        if anchors.ndim != 2 or anchors.shape[1] != target.width or anchors.shape[0] < 2:
            raise ArtifactError(f"the calibration anchors have shape {tuple(anchors.shape)}, expected [M >= 2, {target.width}]")
        report = FitReport(**file_meta.get("report", {}))
        info = file_meta.get("info", {})
        if not isinstance(info, dict):
            raise ArtifactError("meta 'info' must be a JSON object")
    except (AlignmentError, TypeError, KeyError) as exc:
        raise ArtifactError(f"{path}: not a valid alignment ({exc}): re-fit it") from exc
    except ArtifactError as exc:
        raise ArtifactError(f"{path}: {exc}") from exc
    return AlignmentFit(map=amap, source=source, target=target, report=report, calibration_anchors=anchors), info
