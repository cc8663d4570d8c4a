"""CrossSteer files: checked, atomically written .safetensors with JSON metadata.

Files are only ever read with safetensors (never torch.load / pickle), and every read is checked: file and
header size, every declared tensor (dtype, shape, byte range) against the file size before anything is
allocated, kind, format version, a SHA-256 over the tensors (and one over the metadata), finite values and
a schema for the metadata. A file that fails any check raises ArtifactError naming the file and what to do.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
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

# Format versions: 1 = one space per direction. 2 = a direction may carry extra per-space directions
# (`SafetyDirection.spaces`: a model's pooled vector, SD3's CLIP-L||G and T5 segments), stored under
# "space.<name>." tensor prefixes with their tables in meta "spaces". Version-1 files load unchanged, and
# a direction without extra spaces is still written as version 1, so older releases keep reading it; a
# version-2 file makes an older release say "update CrossSteer" instead of steering one space silently.
# 3 = a direction may carry the benign calibration scores (tensor "calibration.benign_scores" [M, K], one
# column per vector) and the gate's benign false-positive rate (meta "gate_fpr"): the gate threshold and
# a mix's own center and spread come from them. Older files load unchanged (their gate falls back to a
# normal approximation, a mix cannot gate or ablate); a version-3 file makes an older release say
# "update CrossSteer" instead of gating with its fixed threshold.
FORMAT_VERSION = 3
MAX_HEADER_BYTES = 10 * 1024 * 1024
# A direction is a few KB; an alignment between two 8192-wide spaces with an MLP about 300 MB. Anything
# larger is not ours, and refusing it by size means a sparse file declaring a terabyte tensor is never read.
MAX_FILE_BYTES = 1024 * 1024 * 1024
MAX_TENSORS = 1024
MAX_WIDTH = 65536
MAX_VECTORS = 64
MAX_SPACES = 8
# safetensors dtype -> bytes per element, for the dtypes CrossSteer reads (float8 and the sub-byte formats
# are left out: torch cannot even check them for NaN)
_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "I32": 4, "I64": 8,
                "F16": 2, "BF16": 2, "F32": 4, "F64": 8}
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
DIRECTION_KIND = "direction"
GLOBAL = "global"
_UNIT_NORM_TOLERANCE = 1e-3

# what each kind is called in messages ("this file is a crosssteer alignment, not a safety direction")
log = logging.getLogger(__name__)

_KIND_NAMES = {
    "direction": "a safety direction",
    "alignment": "an alignment",
    "standardizer": "a standardizer",
    "anchors": "an anchor set",
    "source_side": "precomputed source side",
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


def save_artifact(path: str | os.PathLike, kind: str, tensors: dict[str, torch.Tensor], meta: dict,
                  version: int = 1, *, overwrite: bool = True) -> Path:
    """Write tensors + JSON meta to `path` atomically (temporary file in the same folder, then os.replace).

    `version` is the oldest format version that describes the file (see FORMAT_VERSION)."""
    path = Path(path)
    if not 1 <= version <= FORMAT_VERSION:
        raise ArtifactError(f"cannot write {path}: format version {version} is not one this CrossSteer writes")
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
        "crosssteer_format": str(version),
        "crosssteer_meta": meta_json,
        "crosssteer_sha256": tensors_sha256(prepared),
        "crosssteer_meta_sha256": hashlib.sha256(meta_json.encode("utf-8")).hexdigest(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        safetensors.torch.save_file(prepared, tmp_name, metadata=metadata)
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; the final file should read like any other model file
        with open(tmp_name, "rb+") as fh:  # durable before it becomes visible under the real name
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp_name, path)
        else:
            _place_new(tmp_name, path)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        if isinstance(exc, FileExistsError):
            raise ArtifactError(f"cannot write {path}: a file of that name exists and is never overwritten; "
                                "pick another name") from exc
        if isinstance(exc, Exception):
            raise ArtifactError(f"cannot write {path}: {exc}; check the folder is writable and has free space") from exc
        raise
    return path


def _place_new(tmp_name: str, path: Path) -> None:
    """Give the finished temporary file its real name only if that name is free, atomically: a hard link
    fails if the name exists, even when another writer takes it in the meantime."""
    try:
        os.link(tmp_name, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links (FAT, some network shares): check, then rename
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(tmp_name, path)
        return
    os.unlink(tmp_name)


# ----------------------------------------------------------------------------------------------- read


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _strict_json(text: str | bytes) -> Any:
    """json.loads without NaN/Infinity (never written by CrossSteer); deep nesting and 5000-digit numbers
    come out as ValueError like any other malformed JSON."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _corrupt(path: Path, what: str) -> ArtifactError:
    return ArtifactError(f"{path}: {what}: the file is corrupt or was edited; re-create or re-download it")


def _check_tensor_table(path: Path, header: dict, data_bytes: int) -> None:
    """Every declared tensor against the bytes the file really holds, before safetensors allocates anything."""
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    if len(entries) > MAX_TENSORS:
        raise _corrupt(path, f"it declares {len(entries)} tensors, more than the {MAX_TENSORS} CrossSteer files ever hold")
    total = 0
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise _corrupt(path, f"tensor {name!r} is not described by a JSON object in the header")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in _DTYPE_BYTES:
            raise _corrupt(path, f"tensor {name!r} has dtype {dtype!r}, not one CrossSteer reads "
                                 f"({', '.join(_DTYPE_BYTES)})")
        if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            raise _corrupt(path, f"tensor {name!r} has shape {str(shape)[:80]}, not a list of non-negative integers")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(n) is int for n in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise _corrupt(path, f"tensor {name!r} has data_offsets {str(offsets)[:80]}, not [begin, end] with "
                                 "0 <= begin <= end")
        declared = math.prod(shape) * _DTYPE_BYTES[dtype]  # exact: Python integers do not overflow
        if declared != offsets[1] - offsets[0]:
            raise _corrupt(path, f"tensor {name!r} declares shape {shape} ({declared:,} bytes) but its data "
                                 f"spans {offsets[1] - offsets[0]:,} bytes")
        if offsets[1] > data_bytes:
            raise ArtifactError(f"{path} could not be read by safetensors (tensor {name!r} ends at byte {offsets[1]:,} "
                                f"of the data but the file holds only {data_bytes:,}): it is truncated or corrupt; "
                                "re-create or re-download it")
        total += declared
    if total > data_bytes:
        raise _corrupt(path, f"its tensors declare {total:,} bytes but the file holds {data_bytes:,}")


def _read_header(path: Path) -> dict:
    """The safetensors JSON header, after checking the file size, the header length and the tensor table."""
    size = path.stat().st_size
    if size < 8:
        raise ArtifactError(
            f"{path} is {size} bytes, too short to be a safetensors file: it is truncated; re-create or re-download it"
        )
    if size > MAX_FILE_BYTES:
        raise ArtifactError(
            f"{path} is {size:,} bytes, more than the {MAX_FILE_BYTES // (1024 * 1024)} MB a CrossSteer file can be: "
            "it is not a direction or alignment (or it is corrupt); pick another file"
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
        header = _strict_json(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"{path} is not a safetensors file (its header is not JSON): re-create or re-download it") from exc
    if not isinstance(header, dict):
        raise ArtifactError(f"{path} is not a safetensors file (its header is not a JSON object): re-create or re-download it")
    _check_tensor_table(path, header, size - 8 - header_len)
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
    if not all(isinstance(v, str) for v in metadata.values()):
        raise _corrupt(path, "its __metadata__ holds values that are not strings")
    found = metadata["crosssteer_kind"]
    if found != kind:
        raise ArtifactError(
            f"{path}: this file is a crosssteer {_describe(found).split(' ', 1)[1]}, not {_describe(kind)}: "
            "load it with the node that reads that kind, or pick another file"
        )
    version_text = metadata.get("crosssteer_format", "")
    version = int(version_text) if version_text.isascii() and version_text.isdigit() and len(version_text) < 6 else None
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
    meta_text = metadata.get("crosssteer_meta", "")
    meta_sha = metadata.get("crosssteer_meta_sha256")  # absent in files written before it was added
    if meta_sha is not None and hashlib.sha256(meta_text.encode("utf-8")).hexdigest() != meta_sha:
        raise ArtifactError(f"{path}: its metadata was modified or is corrupt (checksum mismatch): re-create or "
                            "re-download it")
    try:
        meta = _strict_json(meta_text)
    except ValueError as exc:
        raise ArtifactError(f"{path}: its meta is not valid JSON ({exc}): the file is corrupt; re-create it") from exc
    if not isinstance(meta, dict):
        raise ArtifactError(
            f"{path}: its meta is not a JSON object (got {type(meta).__name__}): the file is corrupt; re-create it"
        )
    return tensors, meta


def _float_tensors(tensors: dict[str, torch.Tensor], names: Any) -> None:
    wrong = sorted(f"{n} ({tensors[n].dtype})" for n in names if tensors[n].dtype not in _FLOAT_DTYPES)
    if wrong:
        raise ArtifactError(f"tensors {wrong} must be floating point (float16/bfloat16/float32/float64)")


def _is_number(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer with hundreds of digits
        return False


def _number_map(values: Any, what: str) -> dict[str, float]:
    """A JSON object of name -> finite number, as read from a file (no strings, booleans or NaN)."""
    if not isinstance(values, dict):
        raise ArtifactError(f"meta {what!r} must be a JSON object of name -> number, got {type(values).__name__}")
    bad = sorted(str(k) for k, v in values.items() if not _is_number(v))
    if bad:
        raise ArtifactError(f"meta {what!r} of {bad[:5]} are not finite numbers")
    return {k: float(v) for k, v in values.items()}


def _check_width(std: Standardizer, what: str) -> None:
    mean, spread = std.mean, std.std
    if mean.ndim != 1 or spread.shape != mean.shape or not 1 <= mean.shape[0] <= MAX_WIDTH:
        raise ArtifactError(f"the {what} standardizer has mean {tuple(mean.shape)} and std {tuple(spread.shape)}, "
                            f"expected both [D] with 1 <= D <= {MAX_WIDTH}")
    if not (spread > 0).all():
        raise ArtifactError(f"the {what} standardizer has a std <= 0 (std must be floored above zero)")


# ------------------------------------------------------------------------------------- safety direction


def _float_map(values: Any, what: str) -> dict[str, float]:
    if not isinstance(values, dict):
        raise ArtifactError(f"{what} must be a dict of name -> number, got {type(values).__name__}")
    try:
        return {str(k): float(v) for k, v in values.items()}
    except (TypeError, ValueError, OverflowError) as exc:
        raise ArtifactError(f"{what} must map names to numbers: {exc}") from exc


# Types of the meta keys that code reads back (nodes, CLI, reports); other keys are free-form JSON.
_META_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "space": ((str,), "'source' or 'target'"),
    "source": ((dict,), "a JSON object (model, fingerprint, width, ...)"),
    "target": ((dict,), "a JSON object (family, model, width, ...)"),
    "alignment": ((dict,), "a JSON object (the alignment summary)"),
    "stats": ((dict,), "a JSON object of vector name -> statistics"),
    "layer_scan": ((dict, type(None)), "a JSON object of layer -> score, or null"),
    "layer": ((int, type(None)), "an integer layer index"),
    "pooling": ((str,), "a pooling name"),
    "method": ((str,), "a method name"),
}


def _check_meta(meta: Any) -> None:
    """The meta keys that code reads back have the types it expects (a hostile file must not crash a node)."""
    if not isinstance(meta, dict):
        raise ArtifactError(f"meta must be a JSON object, got {type(meta).__name__}")
    for key, (types, what) in _META_TYPES.items():
        if key in meta and (not isinstance(meta[key], types) or isinstance(meta[key], bool)):
            raise ArtifactError(f"meta {key!r} must be {what}, got {type(meta[key]).__name__}")
    if meta.get("space") not in (None, "source", "target"):
        raise ArtifactError(f"meta 'space' must be 'source' or 'target', got {str(meta['space'])[:40]!r}")
    for name, entry in meta.get("stats", {}).items():
        if not isinstance(entry, dict):
            raise ArtifactError(f"meta 'stats' of {name!r} must be a JSON object, got {type(entry).__name__}")
        auroc = entry.get("auroc")
        if auroc is not None and not _is_number(auroc):
            raise ArtifactError(f"meta 'stats' auroc of {name!r} must be a number or null, got {str(auroc)[:40]!r}")


def _tracked(t: Any) -> Any:
    """t, or where it is an inference tensor (no version counter) an ordinary copy of it."""
    if not (torch.is_tensor(t) and t.is_inference()):
        return t
    with torch.inference_mode(False):
        return t.clone()


def _space_name_ok(name: Any) -> bool:
    return isinstance(name, str) and 0 < len(name) <= 32 and all(c.isascii() and (c.isalnum() or c == "_") for c in name)


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
    # Extra spaces of the same target model, each its own direction (same vector names), e.g. "pooled"
    # or SD3's "clip_lg": Apply steers each part of the conditioning with the direction of its space.
    spaces: dict[str, "SafetyDirection"] = field(default_factory=dict)
    # [M, K] float32 scores z @ v_k of the M benign calibration anchors along each vector (columns in
    # vector order), or None for a direction calibrated before they were stored
    benign_scores: torch.Tensor | None = None

    def __post_init__(self) -> None:
        # own copies, "global" first, defaults for vectors without a calibration
        order = sorted(self.vectors, key=lambda n: n != GLOBAL)
        self.vectors = {n: self.vectors[n] for n in order}
        self.units = {**{n: 1.0 for n in self.vectors}, **_float_map(self.units, "units")}
        self.centers = {**{n: 0.0 for n in self.vectors}, **_float_map(self.centers, "centers")}
        self.weights = _float_map(self.weights, "weights")
        self.meta = copy.deepcopy(self.meta)
        self.spaces = dict(self.spaces or {})
        # tensors made in inference mode (as ComfyUI runs every node) are copied into ordinary ones: those
        # keep a version counter, which is how validate() notices a change made in place
        self.vectors = {n: _tracked(v) for n, v in self.vectors.items()}
        if isinstance(self.standardizer, Standardizer) and any(
                torch.is_tensor(t) and t.is_inference() for t in (self.standardizer.mean, self.standardizer.std)):
            self.standardizer = Standardizer(_tracked(self.standardizer.mean), _tracked(self.standardizer.std))
        if self.benign_scores is not None:
            with torch.inference_mode(False):
                self.benign_scores = self.benign_scores.detach().to("cpu", torch.float32).clone()

    @property
    def width(self) -> int:
        return int(self.standardizer.width)

    @property
    def categories(self) -> list[str]:
        return [n for n in self.vectors if n != GLOBAL]

    def validate(self) -> "SafetyDirection":
        """Raise ArtifactError on anything that would make steering silently wrong; returns self.

        Apply validates on every call (and a 4096-wide direction costs more to check than to steer with), so
        a pass is remembered with a fingerprint of everything it read (_fingerprint): a direction changed
        since, in place or re-assigned, is checked again in full."""
        state = self._fingerprint()
        if state is not None and state == self.__dict__.get("_valid_state"):
            return self
        self.__dict__.pop("_valid_state", None)
        self._check()
        self._derived = {}  # displacements and calibrations of this checked state
        self._valid_state, self._valid_refs = state, (self._tensors(), list(self.spaces.values()))  # held: ids stay theirs
        return self

    def _tensors(self) -> list[torch.Tensor]:
        return [*self.vectors.values(), self.standardizer.mean, self.standardizer.std,
                *(() if self.benign_scores is None else (self.benign_scores,))]

    def _fingerprint(self) -> tuple | None:
        """Each tensor by identity and version counter (torch counts every in-place write), the tables and
        meta by value (meta as JSON text: it tells 1 from 1.0 and true, which == does not); None where that
        cannot be read (a tensor made in inference mode since, meta that is not JSON): checked in full."""
        try:
            spaces = tuple((name, id(part), part._fingerprint()) for name, part in self.spaces.items())
            if any(state is None for _name, _id, state in spaces):
                return None
            return (tuple(self.vectors), tuple((id(t), t._version) for t in self._tensors()),
                    tuple(self.units.items()), tuple(self.centers.items()), tuple(self.weights.items()),
                    json.dumps(self.meta, allow_nan=False), spaces)
        except (AttributeError, TypeError, ValueError, RuntimeError, RecursionError):
            return None

    def _memo(self, key: tuple, compute):
        """compute() for this checked state, remembered until the direction changes (shared: never edit it)."""
        self.validate()
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    def _check(self) -> None:
        mean, std = self.standardizer.mean, self.standardizer.std
        if GLOBAL not in self.vectors:
            raise ArtifactError(f"the direction has no 'global' vector (it has {list(self.vectors)}): re-estimate it")
        if mean.ndim != 1 or mean.shape != std.shape or mean.shape[0] < 1:
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
        # one stacked check for all vectors (Apply validates on every call; per-vector checks cost more
        # than the steering itself on a 4096-wide model)
        stacked = torch.stack([v.detach().to(torch.float64) for v in self.vectors.values()])
        finite = torch.isfinite(stacked).all(dim=1)
        norms = stacked.norm(dim=1)
        if not bool(finite.all()) or bool(((norms - 1.0).abs() > _UNIT_NORM_TOLERANCE).any()):
            for (name, _v), ok, norm in zip(self.vectors.items(), finite.tolist(), norms.tolist()):
                if not ok:
                    raise ArtifactError(f"vector {name!r} contains NaN or infinite values: re-estimate it")
                if abs(norm - 1.0) > _UNIT_NORM_TOLERANCE:
                    raise ArtifactError(
                        f"vector {name!r} has norm {norm:.6g}, not 1: directions must be unit vectors in "
                        "z-coordinates; it was edited or built wrongly, re-estimate it"
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
        if self.weights:  # weights that cannot mix (all zero, cancelling) must not load and fail later in Apply
            try:
                mix(self.vectors, self.units, self.weights)
            except SteeringError as exc:
                raise ArtifactError(f"mixer weights {self.weights}: {exc}") from exc
        try:
            json.dumps(self.meta, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ArtifactError(f"meta is not JSON-serialisable: {exc}") from exc
        _check_meta(self.meta)
        if self.benign_scores is not None:
            b = self.benign_scores
            if b.ndim != 2 or b.shape[1] != len(self.vectors) or b.shape[0] < 2:
                raise ArtifactError(f"the benign calibration scores have shape {tuple(b.shape)}, expected "
                                    f"[M >= 2, {len(self.vectors)}] (one column per vector): re-calibrate")
            if not torch.isfinite(b).all():
                raise ArtifactError("the benign calibration scores contain NaN or infinite values: re-calibrate")
        fpr = self.meta.get("gate_fpr")
        if fpr is not None and not (_is_number(fpr) and 0 < fpr < 1):
            raise ArtifactError(f"meta 'gate_fpr' must be a number in (0, 1), got {str(fpr)[:40]!r}")
        self._validate_spaces()

    def _validate_spaces(self) -> None:
        if not isinstance(self.spaces, dict) or len(self.spaces) > MAX_SPACES:
            raise ArtifactError(f"a direction carries at most {MAX_SPACES} extra spaces in a dict")
        for name, part in self.spaces.items():
            if not _space_name_ok(name):
                raise ArtifactError(f"space name {str(name)[:40]!r} must be 1-32 letters, digits or '_'")
            if not isinstance(part, SafetyDirection) or part.spaces:
                raise ArtifactError(f"space {name!r} must be a plain SafetyDirection (no nested spaces)")
            if list(part.vectors) != list(self.vectors):
                raise ArtifactError(f"space {name!r} has vectors {list(part.vectors)} but the direction has "
                                    f"{list(self.vectors)}: every space must be transported from the same vectors")
            try:
                part.validate()
            except ArtifactError as exc:
                raise ArtifactError(f"space {name!r}: {exc}") from exc

    @classmethod
    def from_direction_set(cls, ds: "DirectionSet", standardizer: Standardizer, meta: dict | None = None) -> "SafetyDirection":
        """Wrap estimated directions; the set's stats go into meta["stats"] unless meta already has them."""
        info = copy.deepcopy(meta or {})
        info.setdefault("stats", copy.deepcopy(ds.stats))
        vectors = {n: v.detach().to("cpu", torch.float32).clone() for n, v in ds.vectors.items()}
        return cls(vectors=vectors, standardizer=standardizer, meta=info).validate()

    # ---------------------------------------------------------------------------------- files

    def _file_parts(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors = {f"vector.{n}": v.detach().to("cpu", torch.float32) for n, v in self.vectors.items()}
        tensors["standardizer.mean"] = self.standardizer.mean.detach().to("cpu", torch.float32)
        tensors["standardizer.std"] = self.standardizer.std.detach().to("cpu", torch.float32)
        if self.benign_scores is not None:
            tensors["calibration.benign_scores"] = self.benign_scores
        file_meta = {
            "order": list(self.vectors),
            "units": self.units,
            "centers": self.centers,
            "weights": self.weights,
            "info": self.meta,
        }
        return tensors, file_meta

    def save(self, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
        """Write the direction atomically; with overwrite=False an existing file of that name is refused."""
        self.validate()
        tensors, file_meta = self._file_parts()
        if self.spaces:
            file_meta["spaces"] = {}
            for name, part in self.spaces.items():
                part_tensors, file_meta["spaces"][name] = part._file_parts()
                tensors.update({f"space.{name}.{k}": v for k, v in part_tensors.items()})
        return save_artifact(path, DIRECTION_KIND, tensors, file_meta, version=self._format_version(),
                             overwrite=overwrite)

    def _format_version(self) -> int:
        """The oldest format that describes this direction (see FORMAT_VERSION)."""
        parts = [self, *self.spaces.values()]
        if any(p.benign_scores is not None or "gate_fpr" in p.meta for p in parts):
            return 3
        return 2 if self.spaces else 1

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SafetyDirection":
        tensors, file_meta = load_artifact(path, DIRECTION_KIND)
        try:
            spaces_meta = file_meta.get("spaces", {})
            if (not isinstance(spaces_meta, dict) or len(spaces_meta) > MAX_SPACES
                    or not all(_space_name_ok(n) and isinstance(m, dict) for n, m in spaces_meta.items())):
                raise ArtifactError(f"meta 'spaces' must map up to {MAX_SPACES} space names to JSON objects")
            stray = sorted(k for k in tensors if k.startswith("space.") and k.split(".")[1] not in spaces_meta)
            if stray:
                raise ArtifactError(f"it holds tensors a safety direction never has: {stray[:5]}")
            spaces = {}
            for name, part_meta in spaces_meta.items():
                prefix = f"space.{name}."
                part = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
                try:
                    spaces[name] = cls._from_parts(part, part_meta)
                except ArtifactError as exc:
                    raise ArtifactError(f"space {name!r}: {exc}") from exc
            direction = cls._from_parts({k: v for k, v in tensors.items() if not k.startswith("space.")}, file_meta)
            direction.spaces = spaces
            return direction.validate()
        except ArtifactError as exc:
            raise ArtifactError(f"{path}: {exc}; re-create or re-download the file") from exc

    @classmethod
    def _from_parts(cls, tensors: dict[str, torch.Tensor], file_meta: dict) -> "SafetyDirection":
        """One space's direction from its tensors (prefix removed) and its meta tables; checked."""
        if "standardizer.mean" not in tensors or "standardizer.std" not in tensors:
            raise ArtifactError("the standardizer tensors are missing")
        names = [k[len("vector."):] for k in tensors if k.startswith("vector.")]
        extra = ("calibration.benign_scores",)
        unknown = sorted(k for k in tensors if not k.startswith(("vector.", "standardizer.")) and k not in extra)
        unknown += sorted(k for k in tensors if k.startswith("standardizer.") and k not in ("standardizer.mean", "standardizer.std"))
        if unknown:
            raise ArtifactError(f"it holds tensors a safety direction never has: {unknown[:5]}")
        if not 1 <= len(names) <= MAX_VECTORS or not all(0 < len(n) <= 64 and n.isprintable() for n in names):
            raise ArtifactError(f"it holds {len(names)} vectors (names {[n[:20] for n in names[:5]]}): a direction has "
                                f"1 to {MAX_VECTORS} vectors with short printable names")
        _float_tensors(tensors, tensors)
        order = file_meta.get("order", [])
        if not isinstance(order, list) or not all(isinstance(n, str) for n in order):
            raise ArtifactError("meta 'order' must be a list of vector names")
        names = [n for n in dict.fromkeys(order) if n in names] + sorted(n for n in names if n not in order)
        info = file_meta.get("info", {})
        if not isinstance(info, dict):
            raise ArtifactError("meta 'info' must be a JSON object")
        standardizer = Standardizer(mean=tensors["standardizer.mean"].to(torch.float32),
                                    std=tensors["standardizer.std"].to(torch.float32))
        _check_width(standardizer, "direction's")
        direction = cls(
            vectors={n: tensors[f"vector.{n}"].to(torch.float32) for n in names},
            standardizer=standardizer,
            units=_number_map(file_meta.get("units", {}), "units"),
            centers=_number_map(file_meta.get("centers", {}), "centers"),
            weights=_number_map(file_meta.get("weights", {}), "weights"),
            meta=info,
            benign_scores=tensors.get("calibration.benign_scores"),
        )
        return direction.validate()

    # ------------------------------------------------------------------------------- steering

    def displacement(self, name_or_mixed: str = GLOBAL) -> torch.Tensor:
        """Raw-coordinate step [D] that raises the score by one unit (std * d * unit).

        "mixed" uses the mixer weights (sum_k w_k * unit_k * d_k, then std *); with no weights it is "global".
        """
        # validated first (a broken direction must never steer silently), then remembered for this state
        return self._memo(("displacement", name_or_mixed), lambda: self._displacement(name_or_mixed))

    def _displacement(self, name_or_mixed: str) -> torch.Tensor:
        if name_or_mixed == "mixed":
            if self.weights:
                return self.standardizer.raw_displacement(mix(self.vectors, self.units, self.weights))
            name_or_mixed = GLOBAL
        if name_or_mixed not in self.vectors:
            raise ArtifactError(
                f"no vector named {name_or_mixed!r}: choose one of {list(self.vectors)} or 'mixed'"
            )
        return self.standardizer.raw_displacement(self.vectors[name_or_mixed]) * self.units[name_or_mixed]

    def calibration(self, name_or_mixed: str = GLOBAL) -> "Calibration":
        """The scoring vector and its benign calibration: a named vector, or "mixed" (the mix's own unit
        vector, center and spread, from the stored benign scores; "global" when there are no weights)."""
        return self._memo(("calibration", name_or_mixed), lambda: self._calibration(name_or_mixed))

    def _calibration(self, name_or_mixed: str) -> "Calibration":
        if name_or_mixed != "mixed" or not self.weights:
            name = GLOBAL if name_or_mixed == "mixed" else name_or_mixed
            if name not in self.vectors:
                raise ArtifactError(f"no vector named {name!r}: choose one of {list(self.vectors)} or 'mixed'")
            column = None if self.benign_scores is None else self.benign_scores[:, list(self.vectors).index(name)]
            return Calibration(self.vectors[name], self.centers[name], self.units[name], column)
        total = mix(self.vectors, self.units, self.weights)
        norm = total.norm()
        # score along the unit mix = sum_k (w_k unit_k / |mix|) * score along v_k
        coef = torch.tensor([self.weights.get(n, 0.0) * self.units[n] for n in self.vectors]) / norm
        if self.benign_scores is None:
            # a direction calibrated before the scores were stored: the center is still exact (means are
            # linear); the spread needs the vectors' covariance, so it is approximated as if they were
            # uncorrelated (transport or extract the direction again for the exact one)
            log.warning("CrossSteer: this mixed direction has no stored benign calibration scores (an older file): "
                        "its spread is approximated; transport or extract it again for the exact calibration")
            centers = torch.tensor([self.centers[n] for n in self.vectors], dtype=torch.float64)
            units = torch.tensor([self.units[n] for n in self.vectors], dtype=torch.float64)
            c = coef.to(torch.float64)
            return Calibration(total / norm, float(c @ centers), max(float((c * units).norm()), 1e-6), None)
        column = self.benign_scores @ coef
        return Calibration(total / norm, float(column.mean()), max(float(column.std()), 1e-6), column)

    def with_weights(self, weights: dict[str, float]) -> "SafetyDirection":
        """A copy with new mixer weights (self is not changed)."""
        new = dataclasses.replace(self, weights=dict(weights))  # __post_init__ copies the other tables
        unknown = sorted(set(new.weights) - set(new.vectors))
        if unknown:
            raise ArtifactError(f"weights name vectors that do not exist: {unknown} (known: {list(self.vectors)})")
        new.spaces = {name: part.with_weights(weights) for name, part in self.spaces.items()}
        return new.validate()


@dataclass(frozen=True)
class Calibration:
    """A scoring vector (unit, z-coordinates) with its benign center, spread and, where stored, the benign
    anchor scores along it."""

    vector: torch.Tensor
    center: float
    unit: float
    benign_scores: torch.Tensor | None
    # fpr -> threshold: a direction keeps its calibrations (SafetyDirection._memo), and Apply gates every call
    _thresholds: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def gate_threshold(self, fpr: float) -> float:
        """The gate threshold (benign spreads below the center) at which a share `fpr` of benign prompts
        gets more than a tenth of the push: the empirical (1 - fpr) quantile of the benign unsafe-ness,
        or a normal approximation for a direction calibrated before the scores were stored."""
        if not (isinstance(fpr, (int, float)) and 0 < fpr < 1):
            raise ArtifactError(f"the gate's benign false-positive rate must be in (0, 1), got {fpr!r}")
        if fpr not in self._thresholds:
            self._thresholds[fpr] = self._gate_threshold(fpr)
        return self._thresholds[fpr]

    def _gate_threshold(self, fpr: float) -> float:
        from .steer import gate_threshold

        if self.benign_scores is None:
            quantile = float(torch.special.ndtri(torch.tensor(1.0 - fpr, dtype=torch.float64)))
        else:
            unsafeness = (self.center - self.benign_scores.to(torch.float64)) / self.unit
            quantile = float(torch.quantile(unsafeness, 1.0 - fpr))
        return gate_threshold(quantile)


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
            kind == "number" and _is_number(value)) or (
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


def load_alignment(path: str | os.PathLike) -> tuple["AlignmentFit", dict]:
    """(AlignmentFit, meta) from a file written by save_alignment; every part is checked."""
    from .transport import AlignmentError, AlignmentFit, AlignmentMap, FitReport, MLPMap

    tensors, file_meta = load_artifact(path, ALIGNMENT_KIND)
    try:
        missing = [k for k in _ALIGNMENT_TENSORS if k not in tensors]
        if missing:
            raise ArtifactError(f"the tensors {missing} are missing")
        map_names = {f"map.{n}" for n in MLPMap.tensor_names}
        unknown = sorted(k for k in tensors if k not in _ALIGNMENT_TENSORS and k not in map_names)
        if unknown:
            raise ArtifactError(f"it holds tensors an alignment never has: {unknown[:5]}")
        _float_tensors(tensors, tensors)
        source = Standardizer(tensors["source.mean"].float(), tensors["source.std"].float())
        target = Standardizer(tensors["target.mean"].float(), tensors["target.std"].float())
        for side, std in (("source", source), ("target", target)):
            _check_width(std, side)
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


# ------------------------------------------------------------------------------- precomputed source sides

SOURCE_SIDE_KIND = "source_side"


def save_source_side(path: str | os.PathLike, direction: SafetyDirection, anchors: torch.Tensor, meta: dict) -> Path:
    """A source-space direction and the source embeddings [N, D] of the anchors it is aligned on, as one
    file (see directions/source_side.py); `meta` says which prompts and recipe made them."""
    if direction.spaces or direction.meta.get("space") != "source":
        raise ArtifactError("a precomputed source side holds a direction in its source space, with no extra spaces")
    if anchors.ndim != 2 or anchors.shape[1] != direction.width:
        raise ArtifactError(f"the anchor embeddings have shape {tuple(anchors.shape)}, expected [N, {direction.width}]")
    tensors, direction_meta = direction.validate()._file_parts()
    tensors = {f"direction.{k}": v for k, v in tensors.items()}
    tensors["anchors"] = anchors
    return save_artifact(path, SOURCE_SIDE_KIND, tensors, {"direction": direction_meta, "info": meta})


def load_source_side(path: str | os.PathLike) -> tuple[SafetyDirection, torch.Tensor, dict]:
    """(direction, anchor embeddings [N, D] float32, meta) from a file written by save_source_side; checked."""
    tensors, file_meta = load_artifact(path, SOURCE_SIDE_KIND)
    try:
        anchors = tensors.pop("anchors", None)
        stray = sorted(k for k in tensors if not k.startswith("direction."))
        if anchors is None or stray:
            raise ArtifactError(f"it must hold the tensor 'anchors' and direction tensors only (stray: {stray[:5]})")
        direction_meta, info = file_meta.get("direction"), file_meta.get("info")
        if not isinstance(direction_meta, dict) or not isinstance(info, dict):
            raise ArtifactError("meta 'direction' and 'info' must be JSON objects")
        direction = SafetyDirection._from_parts({k[len("direction."):]: v for k, v in tensors.items()}, direction_meta)
        _float_tensors({"anchors": anchors}, ["anchors"])
        if anchors.ndim != 2 or anchors.shape[1] != direction.width or anchors.shape[0] < 2:
            raise ArtifactError(f"the anchor embeddings have shape {tuple(anchors.shape)}, expected [N >= 2, "
                                f"{direction.width}]")
    except ArtifactError as exc:
        raise ArtifactError(f"{path}: {exc}; re-create the file (scripts/make_auto_source.py)") from exc
    return direction, anchors.float(), info
