"""Reading CONDITIONING by its model family's layout (directions/families.py): which rows and columns of
[tensor [B, T, D], dict] entries hold which embedding space, which token positions are content, which
families an entry can come from, and walking the list without touching the input.

ComfyUI caches outputs and shares them between branches, so every entry, dict and tensor that comes out
is new, with the same T, dtype, device and every dict key kept. Plain torch: no ComfyUI needed.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch

from .families import CLIP_CHUNK, FAMILIES, POOLED, SD3_CLIP_WIDTH, Family

TOKEN_SCOPES = ("content", "non-padding", "non-padding except first", "all")


class ConditioningError(ValueError):
    """Conditioning that cannot be read or steered as asked."""


# ------------------------------------------------------------------------------ reading an entry


def _pooled(extras: dict) -> torch.Tensor | None:
    p = extras.get("pooled_output")
    return p if torch.is_tensor(p) and p.ndim == 2 else None


_SAME_SIZE_INT = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
_read_once: ContextVar[dict | None] = ContextVar("crosssteer_zero_rows", default=None)


@contextmanager
def reading_each_tensor_once():
    """Within: each conditioning tensor's zero rows are read once. A node asks about one entry more than
    once (its family's marks, then its tokens), reading a large conditioning is most of its cost, and
    nothing changes a tensor while the node runs (ComfyUI's own are inference tensors: no version counter
    could tell)."""
    token = _read_once.set({})
    try:
        yield
    finally:
        _read_once.reset(token)


def _zero_rows(x: torch.Tensor) -> torch.Tensor:
    """Bool [B, T]: rows that are exactly zero (+-0.0: zeroed padding).

    Read without writing a temporary (writing is what costs, on a CPU) and as integers first: a float's
    bits read as a signed integer are > 0 exactly for a positive value (NaN and inf included), so only a
    row whose largest is <= 0 can be zero, and where there is one, a row is zero if its smallest float is
    0 as well (no negative value, no NaN)."""
    memo = _read_once.get()
    if memo is not None and id(x) in memo:
        return memo[id(x)][1]
    values = x.detach()
    rows = values.view(_SAME_SIZE_INT[x.element_size()]).amax(dim=-1) <= 0
    if rows.any():
        rows &= values.amin(dim=-1) == 0
    if memo is not None:
        memo[id(x)] = (x, rows)  # x held, so no other tensor takes its id meanwhile
    return rows


def sd3_clip_rows(x: torch.Tensor) -> int:
    """How many leading rows are CLIP-L||G rows: their columns 2048..4095 are exactly zero in every item."""
    if x.shape[-1] <= SD3_CLIP_WIDTH:
        return 0
    tail_zero = _zero_rows(x[..., SD3_CLIP_WIDTH:]).all(dim=0)  # [T]
    if bool(tail_zero.all()):
        return x.shape[1]
    return int(tail_zero.to(torch.int8).argmin())  # first row with a non-zero tail


# dict keys only one family's text encoder writes
_OWN_KEYS = {"conditioning_llama3": ("hidream",), "conditioning_byt5small": ("hunyuan_image", "hunyuan_video15"),
             "unprocessed_ltxav_embeds": ("ltx2",), "image_slots": ("qwen_image21",)}


def _has_marks(family: Family, x: torch.Tensor, extras: dict, owners_of_keys: list[tuple[str, ...]]) -> bool:
    """Whether an entry of a width the family makes can come from it, by the marks its text encoder leaves:
    the pooled vector (its width, or none), keys only some encoders write (owners_of_keys: the owners of
    each such key the entry has), text masks, zeroed padding, 77-token chunks. Tensor values are read last."""
    if any(family.name not in owners for owners in owners_of_keys):
        return False
    if family.name == "hidream" and "conditioning_llama3" not in extras:
        return False
    pooled = _pooled(extras)
    pooled_width = None if pooled is None else pooled.shape[-1]
    masked = "attention_mask" in extras
    if family.layout == "clip":  # CLIP pads every chunk to 77; SD1/SD2 carry a pooled vector nothing reads
        wanted = (family.pooled_width,) if family.pooled_width else (None, family.widths[0])
        return x.shape[1] % CLIP_CHUNK == 0 and pooled_width in wanted
    if pooled_width != family.pooled_width:
        return False
    name = family.name
    if name in ("ltxv", "mochi", "flux2", "flux2_klein"):  # their mask is always there
        return masked
    if name == "wan":
        return not masked and (x.shape[1] >= 512 or bool(_zero_rows(x).any()))
    if name == "chroma":  # never padded, never masked
        return not masked and not bool(_zero_rows(x).any())
    if name == "ltx2":  # padding cut away; projected but not yet through the connectors, or (7680) through them
        return not masked and (("unprocessed_ltxav_embeds" in extras) == (x.shape[-1] != 7680))
    if name == "qwen_image21":
        return not bool(_zero_rows(x).any())
    return True


def families_matching(x: torch.Tensor, extras: dict) -> list[str]:
    """The families whose conditioning this entry can be, from facts of its width, keys and layout.

    Families that share a width are told apart where their text encoders leave different marks
    (_has_marks). What no mark tells apart stays ambiguous: Flux and HunyuanVideo (both pooled CLIP-L);
    LTXV, Mochi and Qwen-Image 2.1 with masked padding; Chroma and Qwen-Image 2.1 unmasked; Qwen-Image,
    HunyuanImage 2.1 and HunyuanVideo 1.5 (HunyuanImage and HunyuanVideo 1.5 only when the prompt quotes
    no text); Z-Image and a Gemma-3 Lumina2.
    """
    width = x.shape[-1]
    owners_of_keys = [owners for key, owners in _OWN_KEYS.items() if key in extras]
    return [f.name for f in FAMILIES.values() if width in f.widths and _has_marks(f, x, extras, owners_of_keys)]


def describe_entry(x: torch.Tensor, extras: dict) -> str:
    pooled = _pooled(extras)
    keys = sorted(k for k in extras if k in ("attention_mask", "guidance", *_OWN_KEYS))
    return (f"{x.shape[1]} tokens x {x.shape[-1]} wide, pooled "
            f"{'none' if pooled is None else pooled.shape[-1]}" + (f", keys {keys}" if keys else ""))


# -------------------------------------------------------------------------------- token selection


def _text_padding_mask(family: Family | None, extras: dict, batch: int, rows: int, device) -> torch.Tensor | None:
    """Bool [B, T]: True where the family's attention_mask says a text token is real; None when the family
    has no text mask, the entry has none, or it does not fit the tokens (a node changed one, not the other)."""
    if family is None or not family.text_mask:
        return None
    mask = extras.get("attention_mask")
    if not torch.is_tensor(mask):
        return None
    m = mask.reshape(mask.shape[0], -1) if mask.ndim >= 2 else mask.reshape(1, -1)
    if m.shape[-1] != rows or m.shape[0] not in (1, batch):
        return None
    return (m.to(device) != 0).expand(batch, rows)


def _special_positions(family: Family | None, layout: str, rows: int, device,
                       text: torch.Tensor | None = None) -> torch.Tensor | None:
    """Bool [T] (or [B, T] given the text mask): positions whose state does not depend on the prompt (CLIP BOS
    per chunk, template prefix), or None where there are none. A template prefix starts at the first real
    token (after any left padding)."""
    if layout != "clip" and (family is None or not family.lead):
        return None
    special = torch.zeros(rows, dtype=torch.bool, device=device)
    if layout == "clip":
        step = CLIP_CHUNK if rows % CLIP_CHUNK == 0 else max(rows, 1)
        special[::step] = True
    elif family is not None and family.lead:
        if text is not None:
            return text & (text.cumsum(dim=1) <= family.lead)
        special[:family.lead] = True
    return special


def token_selection(x: torch.Tensor, scope: str, family: Family | None = None, extras: dict | None = None,
                    layout: str | None = None) -> torch.Tensor:
    """Bool [B, T]: the token positions to steer (and to pool anchors over) in one segment.

    content: not zeroed, not text padding (where the family's mask means that), not prompt-independent
    special positions. non-padding: every row that is not exactly zero. "non-padding except first": the
    same without position 0. all: every row, zeroed padding included.
    """
    if scope not in TOKEN_SCOPES:
        raise ConditioningError(f"unknown token scope {scope!r}: use one of {', '.join(TOKEN_SCOPES)}")
    batch, rows = x.shape[:2]
    if scope == "all":
        return torch.ones(batch, rows, dtype=torch.bool, device=x.device)
    mask = ~_zero_rows(x)
    if scope == "non-padding except first":
        mask[:, 0] = False
    elif scope == "content":
        layout = layout or (family.layout if family is not None else "plain")
        padding = _text_padding_mask(family, extras or {}, batch, rows, x.device)
        if padding is not None:
            mask &= padding
        special = _special_positions(family, layout, rows, x.device, padding)
        if special is not None:
            mask &= ~special
    return mask


# ------------------------------------------------------------------------------------------ segments


@dataclass(frozen=True)
class Segment:
    """Rows [start, stop) and columns [0, width) of an entry that live in one embedding space."""

    space: str
    start: int
    stop: int
    width: int
    mask: torch.Tensor  # bool [B, stop - start]: positions to steer / pool

    def view(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.start:self.stop, :self.width]


def segments(family: Family | None, x: torch.Tensor, extras: dict, scope: str = "content") -> list[Segment]:
    """The token segments of one entry, in order. Without a family: one segment, all columns."""
    if not torch.is_tensor(x) or x.ndim != 3:
        raise ConditioningError("a conditioning tensor must be [batch, tokens, width]")
    rows = x.shape[1]
    if family is not None and family.layout == "sd3":
        split = sd3_clip_rows(x)
        out = []
        if split:
            clip = x[:, :split, :SD3_CLIP_WIDTH]
            out.append(Segment("clip_lg", 0, split, SD3_CLIP_WIDTH,
                               token_selection(clip, scope, family, {}, layout="clip")))
        if split < rows:
            t5 = x[:, split:]
            out.append(Segment("t5", split, rows, x.shape[-1], token_selection(t5, scope, family, {}, layout="plain")))
        return out
    return [Segment("tokens", 0, rows, x.shape[-1], token_selection(x, scope, family, extras))]


def pooled_vector(family: Family | None, extras: dict) -> torch.Tensor | None:
    """The pooled vector [B, Dp] the family's denoiser reads, or None (absent, unused, or another width)."""
    if family is None or family.pooled_width is None:
        return None
    pooled = _pooled(extras)
    return pooled if pooled is not None and pooled.shape[-1] == family.pooled_width else None


def pool_spaces(family: Family | None, x: torch.Tensor, extras: dict, pooling: str = "mean") -> dict[str, torch.Tensor]:
    """One vector [B, D_space] per space of an entry: the mean (or last) of its content tokens, and the
    pooled vector. The same selection Apply steers, so a calibrated alpha means the same in both."""
    out: dict[str, torch.Tensor] = {}
    for seg in segments(family, x, extras, "content"):
        rows = seg.view(x).to(torch.float32)
        mask = seg.mask
        empty = ~mask.any(dim=1)
        if empty.any():  # nothing but special tokens (an empty prompt): fall back to every non-zero row
            mask = mask | (empty[:, None] & ~_zero_rows(rows))
        if pooling == "mean":
            weights = mask.to(torch.float32)
            out[seg.space] = (rows * weights[..., None]).sum(1) / weights.sum(1, keepdim=True).clamp_min(1)
        else:
            last = (mask.to(torch.int64) * torch.arange(1, mask.shape[1] + 1, device=mask.device)).argmax(dim=1)
            out[seg.space] = rows[torch.arange(rows.shape[0]), last]
    pooled = pooled_vector(family, extras)
    if pooled is not None:
        out[POOLED] = pooled.to(torch.float32)
    return out


def entry_spaces(family: Family | None, x: torch.Tensor, extras: dict) -> dict[str, int]:
    """{space: width} of one entry, primary first: the family's token spaces, then the pooled vector.

    A pooled vector that is all zeros (SD3 without its CLIP encoders) is no space: there is nothing to fit."""
    spaces = {seg.space: seg.width for seg in segments(family, x, extras, "content")}
    order = family.token_spaces() if family is not None else ["tokens"]
    spaces = {name: spaces[name] for name in [*order, *spaces] if name in spaces}
    pooled = pool_spaces(family, x, extras).get(POOLED)
    if pooled is not None and bool(pooled.abs().amax() > 0):
        spaces[POOLED] = int(pooled.shape[-1])
    return spaces


# -------------------------------------------------------------------------------------- the list walk


def entries(conditioning) -> list[tuple[torch.Tensor, dict]]:
    """The (tensor [B, T, D], dict) pairs of a CONDITIONING list, after checking it is one."""
    if not isinstance(conditioning, list) or not conditioning:
        raise ConditioningError("the conditioning input is empty or not a CONDITIONING list: connect a CLIP Text "
                                "Encode output")
    out = []
    for i, entry in enumerate(conditioning):
        if not (isinstance(entry, (list, tuple)) and len(entry) == 2 and torch.is_tensor(entry[0]) and entry[0].ndim == 3
                and entry[0].is_floating_point() and isinstance(entry[1], dict)):
            raise ConditioningError(f"conditioning entry {i} is not [tensor [B, T, D], dict]: this is not CONDITIONING")
        out.append((entry[0], entry[1]))
    return out


def map_conditioning(conditioning: list, edit: Callable[[torch.Tensor, dict], tuple[torch.Tensor, dict]]) -> list:
    """A new CONDITIONING list: edit(tensor, copy of dict) for every entry (scheduled entries included)."""
    return [list(edit(x, dict(extras))) for x, extras in entries(conditioning)]
