"""The source side of a direction build: everything that needs the source LLM and no target.

Extract (layer auto) in the source LLM, and the source embeddings of the benign anchors at the layer it
picks. Safety Steering (auto) builds the same source side for every CLIP from the same embedded model and
shipped prompt sets, so the pack ships it precomputed (data/auto_source.safetensors, made by
scripts/make_auto_source.py) and a first build then only has to encode the anchors through the CLIP. The
file carries what made it (the prompt sets' hashes, the model's fingerprint, the recipe) and is used only
when all of that matches what would be computed; tests/test_source_side.py recomputes it from the real model.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from .encoders import HFEncoder
from .pipeline import extract_direction
from .progress import Progress, no_progress
from .prompts import DATA_DIR, PromptPair, prompt_set_hash
from .safetensors_io import ArtifactError, check_float_tensors, load_artifact, save_artifact
from .safety_direction import SafetyDirection

SHIPPED_SOURCE_SIDE = DATA_DIR / "auto_source.safetensors"
# Extract's settings in the auto build; a file made with others is not used
RECIPE = {"layer": "auto", "pooling": "mean", "method": "mean_diff", "per_category": True}


def pairs_key(pairs: Sequence[PromptPair]) -> str:
    """prompt_set_hash of the pairs with their split (fit / held-out): both choose the direction."""
    return prompt_set_hash([f"{p.split}\t{p.category}\t{p.unsafe}\t{p.safe}" for p in pairs])


@dataclass
class SourceSide:
    direction: SafetyDirection  # in the source LLM's space, as Extract makes it
    anchors: torch.Tensor  # [N, D] source embeddings of the anchors at the direction's layer and pooling
    meta: dict  # pairs (pairs_key), anchors (prompt_set_hash), recipe

    @property
    def source_info(self) -> dict:
        """The source as Fit Benign Alignment records it in an alignment."""
        meta = self.direction.meta
        source = meta["source"]
        return {"model": source["model"], "fingerprint": source["fingerprint"], "width": source["width"],
                "layer": meta["layer"], "pooling": meta["pooling"]}

    def mismatch(self, model: str, fingerprint: str | None, pairs: Sequence[PromptPair],
                 anchors: Sequence[str]) -> str | None:
        """Why this source side is not what `pairs` and `anchors` give in the source `model` with `fingerprint`
        (None when it is; a fingerprint of None, a model not installed, is not checked)."""
        if self.direction.meta["source"]["model"] != model:
            return f"it was made with {self.direction.meta['source']['model']}, not {model}"
        if self.meta.get("recipe") != RECIPE:
            return f"it was made with Extract settings {self.meta.get('recipe')}, not {RECIPE}"
        if self.meta.get("pairs") != pairs_key(pairs):
            return "it was made from other prompt pairs"
        if self.meta.get("anchors") != prompt_set_hash(anchors) or self.anchors.shape[0] != len(anchors):
            return "it was made from other anchors"
        made_with = self.direction.meta["source"]["fingerprint"]
        if fingerprint is not None and fingerprint != made_with:
            return f"it was made with another {self.direction.meta['source']['model']} (fingerprint {made_with}, " \
                   f"installed {fingerprint})"
        return None

    def save(self, path: str | Path, anchors_dtype: torch.dtype = torch.float16) -> Path:
        return save_source_side(path, self.direction, self.anchors.to(anchors_dtype), self.meta)

    @classmethod
    def load(cls, path: str | Path = SHIPPED_SOURCE_SIDE) -> "SourceSide":
        direction, anchors, meta = load_source_side(path)
        return cls(direction, anchors, meta)


def build_source_side(encoder: HFEncoder, pairs: Sequence[PromptPair], anchors: Sequence[str],
                      progress: Progress = no_progress) -> SourceSide:
    """Extract (RECIPE) in `encoder`, then the anchors' embeddings at the layer it picked."""
    direction = extract_direction(encoder, pairs, layer=RECIPE["layer"], pooling=RECIPE["pooling"],
                                  method=RECIPE["method"], per_category=RECIPE["per_category"], progress=progress)
    layer = direction.meta["layer"]
    embedded = encoder.embed_layers(list(anchors), [layer], RECIPE["pooling"],
                                    progress=lambda d, t: progress("anchors (source)", d, t))[layer]
    meta = {"pairs": pairs_key(pairs), "anchors": prompt_set_hash(anchors), "recipe": dict(RECIPE)}
    return SourceSide(direction, embedded, meta)


# ------------------------------------------------------------------------------------------- the file

SOURCE_SIDE_KIND = "source_side"


def save_source_side(path: str | os.PathLike, direction: SafetyDirection, anchors: torch.Tensor, meta: dict) -> Path:
    """A source-space direction and the source embeddings [N, D] of the anchors it is aligned on, as one
    file (see SourceSide); `meta` says which prompts and recipe made them."""
    if direction.spaces or direction.meta.get("space") != "source":
        raise ArtifactError("a precomputed source side holds a direction in its source space, with no extra spaces")
    if anchors.ndim != 2 or anchors.shape[1] != direction.width:
        raise ArtifactError(f"the anchor embeddings have shape {tuple(anchors.shape)}, expected [N, {direction.width}]")
    tensors, direction_meta = direction.validate().file_parts()
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
        direction = SafetyDirection.from_file_parts({k[len("direction."):]: v for k, v in tensors.items()}, direction_meta)
        check_float_tensors({"anchors": anchors}, ["anchors"])
        if anchors.ndim != 2 or anchors.shape[1] != direction.width or anchors.shape[0] < 2:
            raise ArtifactError(f"the anchor embeddings have shape {tuple(anchors.shape)}, expected [N >= 2, "
                                f"{direction.width}]")
    except ArtifactError as exc:
        raise ArtifactError(f"{path}: {exc}; re-create the file (scripts/make_auto_source.py)") from exc
    return direction, anchors.float(), info
