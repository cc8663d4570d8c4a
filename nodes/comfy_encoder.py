"""A ComfyUI CLIP object as a text encoder of the library: texts -> pooled conditioning [N, D].

The target side of an alignment and the native baseline both embed prompts through the user's own
CLIP object (tokenize + encode, exactly as CLIPTextEncode does), pooled over the content tokens: the
same tokens Apply Safety Steering edits, so a calibrated alpha means the same thing in both places.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from ..directions.encoders import EmbeddingCache, cache_root


def _token_id(item) -> int | None:
    """The id of one (token, weight[, word_id]) entry; None for textual-inversion embeddings."""
    token = item[0]
    return int(token) if isinstance(token, int) or (torch.is_tensor(token) and token.numel() == 1) else None


def content_mask(clip, tokens: dict, length: int) -> torch.Tensor:
    """Bool [length]: positions that hold the prompt's own tokens (not start, end or padding).

    Uses the tokenizer stream whose length matches the conditioning; multi-encoder families that
    concatenate features (SDXL's L || G) share one token layout."""
    for key, chunks in tokens.items():
        flat = [item for chunk in chunks for item in chunk]
        if len(flat) != length:
            continue
        tok = getattr(clip.tokenizer, getattr(clip.tokenizer, "clip", ""), None) or getattr(clip.tokenizer, f"clip_{key}", None)
        special = {getattr(tok, n, None) for n in ("start_token", "end_token", "pad_token")} - {None}
        return torch.tensor([_token_id(item) not in special for item in flat])
    return torch.ones(length, dtype=torch.bool)


def clip_family(clip) -> str:
    """A short family name from the CLIP object's model classes (recorded in metadata)."""
    names = {type(m).__name__ for m in clip.cond_stage_model.modules()} | {type(clip.tokenizer).__name__}
    text = " ".join(sorted(names)).lower()
    for family, marker in (("sdxl", "sdxlclipmodel"), ("sd3", "sd3clipmodel"), ("flux", "fluxclipmodel"),
                           ("wan", "wanmodel"), ("hunyuan_video", "hunyuanvideoclipmodel"), ("ltxv", "ltxv"),
                           ("sd1", "sd1clipmodel"), ("sd1", "sdclipmodel")):
        if marker in text:
            return family
    return type(clip.cond_stage_model).__name__


def clip_fingerprint(clip) -> str:
    """Weights (a sample of every tensor) plus applied patches (LoRAs change the space)."""
    digest = hashlib.sha256(type(clip.cond_stage_model).__name__.encode())
    for name, tensor in clip.cond_stage_model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().flatten()[:64].float().cpu().numpy().tobytes())
    for key in sorted(map(str, clip.patcher.patches)):
        digest.update(key.encode())
    return digest.hexdigest()[:16]


@dataclass
class ComfyClipEncoder:
    """Embeds prompts through a ComfyUI CLIP; one `layer`: the conditioning itself."""

    clip: object
    name: str
    fingerprint: str
    family: str
    width: int
    cache: EmbeddingCache | None = None
    num_layers: int = 0
    causal: bool = False

    @classmethod
    def wrap(cls, clip, use_cache: bool = True) -> "ComfyClipEncoder":
        family = clip_family(clip)
        probe, _ = clip.encode_from_tokens(clip.tokenize("a photo"), return_pooled=True)
        cache = EmbeddingCache(cache_root() / "embeddings.sqlite") if use_cache else None
        return cls(clip, f"{family} text encoder", clip_fingerprint(clip), family, int(probe.shape[-1]), cache)

    def layer_index(self, layer: int) -> int:
        return 0

    def describe(self) -> dict:
        return {"model": self.name, "family": self.family, "fingerprint": self.fingerprint, "width": self.width}

    def encode(self, text: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(conditioning [T, D] float32, content mask [T])."""
        tokens = self.clip.tokenize(text)
        cond, _pooled = self.clip.encode_from_tokens(tokens, return_pooled=True)
        cond = cond[0].float().cpu()
        return cond, content_mask(self.clip, tokens, cond.shape[0])

    def embed_layers(self, texts: Sequence[str], layers: Sequence[int] = (0,), pooling: str = "mean",
                     progress: Callable[[int, int], None] | None = None) -> dict[int, torch.Tensor]:
        out = torch.empty(len(texts), self.width)
        todo = list(range(len(texts)))
        if self.cache is not None:
            todo = self.cache.fill(self.fingerprint, [0], pooling, texts, {0: out})
        done = len(texts) - len(todo)
        for i in todo:
            cond, mask = self.encode(texts[i])
            if not mask.any():
                mask = torch.ones_like(mask)
            out[i] = cond[mask].mean(0) if pooling == "mean" else cond[mask.nonzero().max()]
            if self.cache is not None:
                self.cache.store(self.fingerprint, [0], pooling, [texts[i]], {0: out[i:i + 1]})
            done += 1
            if progress is not None:
                progress(done, len(texts))
        return {0: out}
