"""Walking a CONDITIONING list ([tensor [B, T, D], dict] entries) and steering it without touching the
input: ComfyUI caches outputs and shares them between branches, so every entry, dict and tensor that
comes out is new, with the same T, dtype, device and every dict key kept."""
from __future__ import annotations

from typing import Callable

import torch

TOKEN_SCOPES = ("non-padding", "non-padding except first", "all")


def token_scope_mask(x: torch.Tensor, scope: str) -> torch.Tensor:
    """Bool [B, T]. Zeroed padding (Wan, masked T5 families) stays zero under every scope but 'all'."""
    if scope not in TOKEN_SCOPES:
        raise ValueError(f"unknown token scope {scope!r}: use one of {', '.join(TOKEN_SCOPES)}")
    if scope == "all":
        return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    mask = x.abs().amax(dim=-1) > 0
    if scope == "non-padding except first":
        mask = mask.clone()
        mask[:, 0] = False
    return mask


def map_conditioning(conditioning: list, edit: Callable[[torch.Tensor, dict], tuple[torch.Tensor, dict]]) -> list:
    """A new CONDITIONING list: edit(tensor, copy of dict) for every entry."""
    if not isinstance(conditioning, list) or not conditioning:
        raise ValueError("the conditioning input is empty or not a CONDITIONING list: connect a CLIP Text Encode output")
    out = []
    for i, entry in enumerate(conditioning):
        if not (isinstance(entry, (list, tuple)) and len(entry) == 2 and torch.is_tensor(entry[0]) and entry[0].ndim == 3):
            raise ValueError(f"conditioning entry {i} is not [tensor [B, T, D], dict]: this is not CONDITIONING")
        tensor, extras = edit(entry[0], dict(entry[1]))
        out.append([tensor, extras])
    return out
