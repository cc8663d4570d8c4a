"""CrossSteer files: checked, atomically written .safetensors with JSON metadata.

Files are only ever read with safetensors (never torch.load / pickle), and every read is checked: file and
header size, every declared tensor (dtype, shape, byte range) against the file size before anything is
allocated, kind, format version, a SHA-256 over the tensors (and one over the metadata), finite values and
a schema for the metadata. A file that fails any check raises ArtifactError naming the file and what to do.
What a safety direction or an alignment holds is checked by their own loaders (safety_direction.py,
alignment_file.py), with the small checks at the end of this module.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from .space import Standardizer

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
# safetensors dtype -> bytes per element, for the dtypes CrossSteer reads (float8 and the sub-byte formats
# are left out: torch cannot even check them for NaN)
_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "I32": 4, "I64": 8,
                "F16": 2, "BF16": 2, "F32": 4, "F64": 8}
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

# what each kind is called in messages ("this file is a crosssteer alignment, not a safety direction")
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


# ------------------------------------------------------------------------- checks of what a file holds


def check_float_tensors(tensors: dict[str, torch.Tensor], names: Any) -> None:
    wrong = sorted(f"{n} ({tensors[n].dtype})" for n in names if tensors[n].dtype not in _FLOAT_DTYPES)
    if wrong:
        raise ArtifactError(f"tensors {wrong} must be floating point (float16/bfloat16/float32/float64)")


def is_finite_number(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer with hundreds of digits
        return False


def number_map(values: Any, what: str) -> dict[str, float]:
    """A dict of name -> number as plain floats, read from a file or given in code (a direction's units,
    centers, weights). Strings, booleans, lists, null and numbers too large for a float are refused; NaN,
    which a CrossSteer file cannot hold (strict JSON), is left to the caller's check of finite values."""
    if not isinstance(values, dict):
        raise ArtifactError(f"{what} must be a JSON object of name -> number, got {type(values).__name__}")
    floats, bad = {}, []
    for name, value in values.items():
        try:
            if isinstance(value, (bool, str, bytes)):
                raise TypeError
            floats[str(name)] = float(value)
        except (TypeError, ValueError, OverflowError):
            bad.append(str(name))
    if bad:
        raise ArtifactError(f"{what} of {sorted(bad)[:5]} are not finite numbers")
    return floats


def check_standardizer(std: Standardizer, what: str) -> None:
    mean, spread = std.mean, std.std
    if mean.ndim != 1 or spread.shape != mean.shape or not 1 <= mean.shape[0] <= MAX_WIDTH:
        raise ArtifactError(f"the {what} standardizer has mean {tuple(mean.shape)} and std {tuple(spread.shape)}, "
                            f"expected both [D] with 1 <= D <= {MAX_WIDTH}")
    if not (spread > 0).all():
        raise ArtifactError(f"the {what} standardizer has a std <= 0 (std must be floored above zero)")
