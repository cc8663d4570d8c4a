"""CONDITIONING per model family: which rows and columns of [tensor [B, T, D], dict] entries hold which
embedding space, which token positions are content, and walking the list without touching the input.

ComfyUI caches outputs and shares them between branches, so every entry, dict and tensor that comes out
is new, with the same T, dtype, device and every dict key kept. The layouts follow the text encoders of
the pinned ComfyUI (comfy/sd1_clip.py, comfy/sdxl_clip.py, comfy/text_encoders/*.py, comfy/model_base.py):

* CLIP families (SD1.x, SDXL): 77-token chunks, each opening with a BOS token whose state is the same
  for every prompt (causal attention: it only sees itself). The end token and the padding after it are
  not zeroed and, through causal attention, summarise the whole prompt; the UNet attends to them, so
  they are steered like the prompt's own tokens.
* SD3: CLIP-L || CLIP-G tokens (2048 wide, zero-padded to 4096) for 77 * k rows, then T5-XXL rows,
  concatenated on the token axis: two spaces, told apart by the zero columns 2048..4095.
* T5 / LLM families: one token space; padding is zeroed (Wan), marked by `attention_mask` (LTXV, Mochi,
  HunyuanVideo, Lumina2, Qwen-Image, Z-Image: text padding), or neither (Flux, Chroma, SD3's T5: the
  padding states depend on the prompt and the model attends to them). Flux-style models use
  `attention_mask` for an image-region mask: never read as text padding there.
* Templates: Z-Image keeps its chat template's prompt-independent prefix (3 tokens, including the
  attention sink at position 0), Lumina2 its BOS; Qwen-Image and HunyuanVideo slice theirs away.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

TOKEN_SCOPES = ("content", "non-padding", "non-padding except first", "all")
CLIP_CHUNK = 77
SD3_CLIP_WIDTH = 2048  # CLIP-L (768) || CLIP-G (1280), zero-padded to the T5 width
POOLED = "pooled"


class ConditioningError(ValueError):
    """Conditioning that cannot be read or steered as asked."""


@dataclass(frozen=True)
class Family:
    """How one model family builds its CONDITIONING."""

    name: str
    label: str
    medium: str  # "image" or "video"
    widths: tuple[int, ...]  # token widths its text encoder produces
    layout: str  # "clip" (77-token chunks opening with BOS), "sd3" (CLIP-L||G rows then T5 rows), "plain"
    pooled_width: int | None = None  # pooled vector the denoiser reads (steered with its own map); None: none
    lead: int = 0  # prompt-independent leading positions of a plain layout (template prefix, BOS)
    text_mask: bool = False  # `attention_mask` marks text padding (else absent, or an image-region mask)
    encoder: str = ""  # the text encoder(s), for messages

    def token_spaces(self, has_clip: bool = True, has_t5: bool = True) -> list[str]:
        if self.layout == "sd3":
            return [s for s, present in (("t5", has_t5), ("clip_lg", has_clip)) if present]
        return ["tokens"]


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("sd1", "SD1.x (CLIP-L)", "image", (768,), "clip", encoder="CLIP-L"),
    Family("sd2", "SD2.x (OpenCLIP-H)", "image", (1024,), "clip", encoder="OpenCLIP-H"),
    Family("sdxl", "SDXL (CLIP-L || CLIP-G)", "image", (2048,), "clip", pooled_width=1280, encoder="CLIP-L + CLIP-G"),
    Family("sd3", "SD3 / SD3.5 (CLIP-L || CLIP-G, then T5-XXL)", "image", (4096,), "sd3", pooled_width=2048,
           encoder="CLIP-L + CLIP-G + T5-XXL"),
    Family("flux", "Flux (T5-XXL, pooled CLIP-L)", "image", (4096,), "plain", pooled_width=768,
           encoder="T5-XXL + CLIP-L"),
    Family("chroma", "Chroma / PixArt (T5-XXL, unpadded)", "image", (4096,), "plain", encoder="T5-XXL"),
    Family("hidream", "HiDream (T5-XXL tokens, pooled CLIP-L || CLIP-G; Llama-3.1 states)", "image", (4096,),
           "plain", pooled_width=2048, encoder="CLIP-L + CLIP-G + T5-XXL + Llama-3.1-8B"),
    Family("qwen_image", "Qwen-Image (Qwen2.5-VL-7B)", "image", (3584,), "plain", text_mask=True,
           encoder="Qwen2.5-VL-7B"),
    Family("z_image", "Z-Image (Qwen3-4B)", "image", (2560,), "plain", lead=3, text_mask=True, encoder="Qwen3-4B"),
    Family("lumina2", "Lumina2 (Gemma)", "image", (2304, 2560), "plain", lead=1, text_mask=True,
           encoder="Gemma-2-2B (or Gemma-3-4B)"),
    Family("wan", "Wan 2.1 / 2.2 (umT5-XXL, zeroed padding)", "video", (4096,), "plain", encoder="umT5-XXL"),
    Family("hunyuan_video", "HunyuanVideo (Llama-3 layer -3, pooled CLIP-L)", "video", (4096,), "plain",
           pooled_width=768, text_mask=True, encoder="Llava-Llama-3-8B + CLIP-L"),
    Family("ltxv", "LTX-Video (T5-XXL, masked padding)", "video", (4096,), "plain", text_mask=True, encoder="T5-XXL"),
    Family("mochi", "Mochi (T5-XXL, masked padding)", "video", (4096,), "plain", text_mask=True, encoder="T5-XXL"),
)}
FAMILY_CHOICES = ("auto", *FAMILIES)


def family_label(name: str | None) -> str:
    family = FAMILIES.get(name or "")
    return family.label if family else (name or "an unknown model")


# ------------------------------------------------------------------------------ reading an entry


def _pooled(extras: dict) -> torch.Tensor | None:
    p = extras.get("pooled_output")
    return p if torch.is_tensor(p) and p.ndim == 2 else None


def _zero_rows(x: torch.Tensor) -> torch.Tensor:
    """Bool [B, T]: rows that are exactly zero (zeroed padding)."""
    return x.abs().amax(dim=-1) == 0


def sd3_clip_rows(x: torch.Tensor) -> int:
    """How many leading rows are CLIP-L||G rows: their columns 2048..4095 are exactly zero in every item."""
    if x.shape[-1] <= SD3_CLIP_WIDTH:
        return 0
    tail_zero = (x[..., SD3_CLIP_WIDTH:].abs().amax(dim=-1) == 0).all(dim=0)  # [T]
    if bool(tail_zero.all()):
        return x.shape[1]
    return int(tail_zero.to(torch.int8).argmin())  # first row with a non-zero tail


def families_matching(x: torch.Tensor, extras: dict) -> list[str]:
    """The families whose conditioning this entry can be, from facts of its width, keys and layout.

    Families that share a width are told apart where their text encoders leave different marks:
    SD3's pooled CLIP-L||G (2048), Flux's and HunyuanVideo's pooled CLIP-L (768), HiDream's Llama
    states, LTXV's and Mochi's text mask, Wan's zeroed padding (or 512+ rows); Chroma is never padded
    or masked. Flux and HunyuanVideo (both pooled CLIP-L), and LTXV and Mochi, cannot be told apart.
    """
    width, rows = x.shape[-1], x.shape[1]
    pooled = _pooled(extras)
    pooled_width = None if pooled is None else pooled.shape[-1]
    out = []
    for family in FAMILIES.values():
        if width not in family.widths:
            continue
        if width == 4096:
            if family.name == "hidream":
                ok = "conditioning_llama3" in extras
            elif "conditioning_llama3" in extras:
                ok = False
            elif family.name == "sd3":
                ok = pooled_width == 2048
            elif family.name in ("flux", "hunyuan_video"):
                ok = pooled_width == 768
            elif pooled_width is not None:
                ok = False
            elif family.name in ("ltxv", "mochi"):
                ok = "attention_mask" in extras
            elif family.name == "wan":
                ok = "attention_mask" not in extras and (rows >= 512 or bool(_zero_rows(x).any()))
            else:  # chroma: never padded, never masked
                ok = "attention_mask" not in extras and not bool(_zero_rows(x).any())
            if not ok:
                continue
        out.append(family.name)
    return out


def describe_entry(x: torch.Tensor, extras: dict) -> str:
    pooled = _pooled(extras)
    keys = sorted(k for k in extras if k in ("attention_mask", "conditioning_llama3", "guidance"))
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


def _special_positions(family: Family | None, layout: str, rows: int, device) -> torch.Tensor:
    """Bool [T]: positions whose state does not depend on the prompt (CLIP BOS per chunk, template prefix)."""
    special = torch.zeros(rows, dtype=torch.bool, device=device)
    if layout == "clip":
        step = CLIP_CHUNK if rows % CLIP_CHUNK == 0 else max(rows, 1)
        special[::step] = True
    elif family is not None and family.lead:
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
        mask &= ~_special_positions(family, layout, rows, x.device)
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
