"""A text encoder whose output is CONDITIONING (a ComfyUI CLIP: nodes/comfy_encoder.py subclasses this):
texts -> pooled embeddings [N, D] per embedding space of its family (the token space, SD3's CLIP-L||G and
T5 segments, the pooled vector), each pooled over the content tokens that Apply Safety Steering edits
(conditioning.pool_spaces), so a calibrated alpha means the same thing in both places. Its "layers" are
its spaces, primary first (layer 0). Embeddings are kept for the encoder's lifetime and in the embedding
cache; a subclass supplies encode_entries.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .conditioning import entry_spaces, pool_spaces
from .encoders import EmbeddingCache
from .families import FAMILIES, Family, family_label

log = logging.getLogger(__name__)

# Bump when the token selection or the prompt template of any family changes: cached embeddings made
# with another selection must not be reused.
SELECTION_VERSION = "families-1"


class EncoderFamilyError(ValueError):
    """A text encoder that cannot serve here: unknown, or its conditioning is not what its family makes."""


@dataclass
class ConditioningEncoder:
    """Embeds prompts by pooling the CONDITIONING entries encode_entries makes, space by space."""

    name: str
    fingerprint: str
    family: str
    spaces: dict[str, int]  # space name -> width, primary first
    cache: EmbeddingCache | None = None
    num_layers: int = 0
    causal: bool = False
    batch_size: int = 16  # prompts per call of encode_entries
    layout: Family | None = None  # the family's layout rules, with the template prefix this tokenizer makes
    _memo: dict = field(default_factory=dict, repr=False)

    @property
    def width(self) -> int:
        return next(iter(self.spaces.values()))

    @property
    def primary(self) -> str:
        return next(iter(self.spaces))

    @property
    def space_names(self) -> list[str]:
        return list(self.spaces)

    def layer_index(self, layer: int) -> int:
        """A CLIP has one representation per space, not a stack of layers: index i is space i; anything
        else (a layer number meant for an LLM) means the primary space."""
        return layer if isinstance(layer, int) and 0 <= layer < len(self.spaces) else 0

    def encode_entries(self, texts: Sequence[str]) -> list[tuple[torch.Tensor, dict]]:
        """One CONDITIONING entry (tensor [1, T, D], dict) per text."""
        raise NotImplementedError

    def _cache_key(self) -> str:
        lead = f"|lead {self.layout.lead}" if self.layout is not None and self.layout.lead_from_tokenizer else ""
        return f"{self.fingerprint}|{'/'.join(self.spaces)}|{SELECTION_VERSION}{lead}"

    def embed_layers(self, texts: Sequence[str], layers: Sequence[int] = (0,), pooling: str = "mean",
                     progress: Callable[[int, int], None] | None = None) -> dict[int, torch.Tensor]:
        """{space index: [N, width]}; every space is computed (and cached) by the same forward pass."""
        names = self.space_names
        bad = [i for i in layers if not 0 <= i < len(names)]
        if bad:
            raise EncoderFamilyError(f"this {self.family} encoder has spaces {names}: no space index {bad}")
        every = list(range(len(names)))
        out = {j: torch.empty(len(texts), self.spaces[names[j]]) for j in every}
        todo = []
        for i, text in enumerate(texts):
            memo = self._memo.get((text, pooling))
            if memo is None:
                todo.append(i)
            else:
                for j in every:
                    out[j][i] = memo[j]
        if self.cache is not None and todo:
            found = {j: torch.empty(len(todo), out[j].shape[1]) for j in every}
            missing = set(self.cache.fill(self._cache_key(), every, pooling, [texts[i] for i in todo], found))
            for k, i in enumerate(todo):
                if k not in missing:
                    for j in every:
                        out[j][i] = found[j][k]
            todo = [i for k, i in enumerate(todo) if k in missing]
        done = len(texts) - len(todo)
        family = self.layout or FAMILIES.get(self.family)
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start:start + self.batch_size]
            for i, (x, extras) in zip(batch, self.encode_entries([texts[i] for i in batch])):
                pooled = pool_spaces(family, x, extras, pooling)
                for j, name in enumerate(names):
                    if name not in pooled:
                        raise EncoderFamilyError(f"the prompt {texts[i][:60]!r} gave no {name} embedding in this "
                                                 f"{self.family} encoder (its layout changed?): reload the CLIP")
                    out[j][i] = pooled[name][0]
            if self.cache is not None:
                self.cache.store(self._cache_key(), every, pooling, [texts[i] for i in batch],
                                 {j: out[j][batch] for j in every})
            done += len(batch)
            if progress is not None:
                progress(done, len(texts))
        for i, text in enumerate(texts):
            self._memo[(text, pooling)] = [out[j][i].clone() for j in every]
        return {j: out[j] for j in layers}


def probe_spaces(fam: Family | None, x: torch.Tensor, extras: dict) -> dict[str, int]:
    """{space: width} an encoder of this family produces, from one encoded prompt; primary first (see
    conditioning.entry_spaces); refused where there is none, or the width is not the family's."""
    family = fam.name if fam is not None else "unknown"
    spaces = entry_spaces(fam, x, extras)
    if not spaces:
        raise EncoderFamilyError(f"the {family} text encoder produced no conditioning to embed")
    if x.shape[-1] not in (fam.widths if fam is not None else (x.shape[-1],)):
        raise EncoderFamilyError(f"this {family} text encoder made {x.shape[-1]}-wide conditioning, but "
                                 f"{family_label(family)} is {' or '.join(map(str, fam.widths))} wide: is it a variant "
                                 "CrossSteer does not know?")
    log.debug("CrossSteer: %s encoder spaces %s", family, spaces)
    return spaces
