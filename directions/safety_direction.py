"""SafetyDirection: unit directions in one space's z-coordinates with their calibration, checked before
every use, and saved as (and loaded from) a checked CrossSteer file (see safetensors_io.py)."""
from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .safetensors_io import (ArtifactError, check_float_tensors, check_standardizer, is_finite_number, load_artifact,
                             number_map, save_artifact)
from .space import Standardizer
from .steer import SteeringError, gate_threshold, mix

if TYPE_CHECKING:
    from .estimate import DirectionSet

MAX_VECTORS = 64
MAX_SPACES = 8
DIRECTION_KIND = "direction"
GLOBAL = "global"
_UNIT_NORM_TOLERANCE = 1e-3

log = logging.getLogger(__name__)

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
        if auroc is not None and not is_finite_number(auroc):
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
        self.units = {**{n: 1.0 for n in self.vectors}, **number_map(self.units, "units")}
        self.centers = {**{n: 0.0 for n in self.vectors}, **number_map(self.centers, "centers")}
        self.weights = number_map(self.weights, "weights")
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
        if fpr is not None and not (is_finite_number(fpr) and 0 < fpr < 1):
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

    def file_parts(self) -> tuple[dict[str, torch.Tensor], dict]:
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
        tensors, file_meta = self.file_parts()
        if self.spaces:
            file_meta["spaces"] = {}
            for name, part in self.spaces.items():
                part_tensors, file_meta["spaces"][name] = part.file_parts()
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
                    spaces[name] = cls.from_file_parts(part, part_meta)
                except ArtifactError as exc:
                    raise ArtifactError(f"space {name!r}: {exc}") from exc
            direction = cls.from_file_parts({k: v for k, v in tensors.items() if not k.startswith("space.")}, file_meta)
            direction.spaces = spaces
            return direction.validate()
        except ArtifactError as exc:
            raise ArtifactError(f"{path}: {exc}; re-create or re-download the file") from exc

    @classmethod
    def from_file_parts(cls, tensors: dict[str, torch.Tensor], file_meta: dict) -> "SafetyDirection":
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
        check_float_tensors(tensors, tensors)
        order = file_meta.get("order", [])
        if not isinstance(order, list) or not all(isinstance(n, str) for n in order):
            raise ArtifactError("meta 'order' must be a list of vector names")
        names = [n for n in dict.fromkeys(order) if n in names] + sorted(n for n in names if n not in order)
        info = file_meta.get("info", {})
        if not isinstance(info, dict):
            raise ArtifactError("meta 'info' must be a JSON object")
        standardizer = Standardizer(mean=tensors["standardizer.mean"].to(torch.float32),
                                    std=tensors["standardizer.std"].to(torch.float32))
        check_standardizer(standardizer, "direction's")
        direction = cls(
            vectors={n: tensors[f"vector.{n}"].to(torch.float32) for n in names},
            standardizer=standardizer,
            units=number_map(file_meta.get("units", {}), "meta 'units'"),
            centers=number_map(file_meta.get("centers", {}), "meta 'centers'"),
            weights=number_map(file_meta.get("weights", {}), "meta 'weights'"),
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
        if self.benign_scores is None:
            quantile = float(torch.special.ndtri(torch.tensor(1.0 - fpr, dtype=torch.float64)))
        else:
            unsafeness = (self.center - self.benign_scores.to(torch.float64)) / self.unit
            quantile = float(torch.quantile(unsafeness, 1.0 - fpr))
        return gate_threshold(quantile)


