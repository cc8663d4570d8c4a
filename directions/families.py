"""The model families CrossSteer steers: how each one's text encoder lays out its CONDITIONING.

The layouts follow the text encoders of the pinned ComfyUI (comfy/sd1_clip.py, comfy/sdxl_clip.py,
comfy/text_encoders/*.py, comfy/model_base.py):

* CLIP families (SD1.x, SDXL): 77-token chunks, each opening with a BOS token whose state is the same
  for every prompt (causal attention: it only sees itself). The end token and the padding after it are
  not zeroed and, through causal attention, summarise the whole prompt; the UNet attends to them, so
  they are steered like the prompt's own tokens.
* SD3: CLIP-L || CLIP-G tokens (2048 wide, zero-padded to 4096) for 77 * k rows, then T5-XXL rows,
  concatenated on the token axis: two spaces, told apart by the zero columns 2048..4095.
* T5 / LLM families: one token space; padding is zeroed (Wan), marked by `attention_mask` (LTXV, Mochi,
  HunyuanVideo, Lumina2, Qwen-Image, Z-Image, Flux.2 Klein, HunyuanImage 2.1, HunyuanVideo 1.5, Kandinsky 5:
  text padding; Flux.2 keeps a mask too, though ComfyUI never marks its left padding), cut away (LTX-2), or
  neither (Flux, Chroma, SD3's T5: the padding states depend on the prompt and the model attends to them). Flux-style models use
  `attention_mask` for an image-region mask: never read as text padding there.
* Templates: Z-Image, Flux.2 Klein and Qwen-Image 2.1 keep their chat template's prompt-independent prefix
  ("<|im_start|>user\n", 3 tokens, including the attention sink at position 0), Lumina2 and LTX-2 their BOS,
  Flux.2 its system prompt (its length depends on the checkpoint's tokenizer: measured from the CLIP and
  recorded in the direction); Qwen-Image, HunyuanVideo, HunyuanImage 2.1, HunyuanVideo 1.5 and Kandinsky 5
  slice theirs away.
* Other streams: HunyuanImage 2.1 / HunyuanVideo 1.5 add a byT5 glyph stream for quoted text
  (`conditioning_byt5small`), left alone with a logged reason; Flux.2 stacks three layers into one row.
"""
from __future__ import annotations

from dataclasses import dataclass

CLIP_CHUNK = 77
SD3_CLIP_WIDTH = 2048  # CLIP-L (768) || CLIP-G (1280), zero-padded to the T5 width
POOLED = "pooled"


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
    space: str = ""  # which token space: families with the same space share one encoder output ("" = its own)
    lead_from_tokenizer: bool = False  # the template prefix length depends on the checkpoint's tokenizer
    streams: tuple[tuple[str, str], ...] = ()  # (dict key, why it is left alone): other streams the model reads

    @property
    def token_space(self) -> str:
        return self.space or self.name

    def token_spaces(self, has_clip: bool = True, has_t5: bool = True) -> list[str]:
        if self.layout == "sd3":
            return [s for s, present in (("t5", has_t5), ("clip_lg", has_clip)) if present]
        return ["tokens"]


_BYT5_WHY = ("byT5 glyph stream of the prompt's quoted text: it spells the quoted words for the renderer, and no "
             "alignment is fitted for it")
_BYT5 = (("conditioning_byt5small", _BYT5_WHY),)

FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("sd1", "SD1.x (CLIP-L)", "image", (768,), "clip", encoder="CLIP-L"),
    Family("sd2", "SD2.x (OpenCLIP-H)", "image", (1024,), "clip", encoder="OpenCLIP-H"),
    Family("sdxl", "SDXL (CLIP-L || CLIP-G)", "image", (2048,), "clip", pooled_width=1280, encoder="CLIP-L + CLIP-G"),
    Family("sdxl_refiner", "SDXL refiner (CLIP-G)", "image", (1280,), "clip", pooled_width=1280, encoder="CLIP-G"),
    Family("sd3", "SD3 / SD3.5 (CLIP-L || CLIP-G, then T5-XXL)", "image", (4096,), "sd3", pooled_width=2048,
           encoder="CLIP-L + CLIP-G + T5-XXL"),
    Family("flux", "Flux (T5-XXL, pooled CLIP-L)", "image", (4096,), "plain", pooled_width=768,
           encoder="T5-XXL + CLIP-L", space="t5xxl"),
    Family("flux2", "Flux.2 (Mistral-3-24B layers 10/20/30)", "image", (15360,), "plain", lead=1, text_mask=True,
           encoder="Mistral-Small-3.1-24B", lead_from_tokenizer=True),
    Family("flux2_klein", "Flux.2 Klein (Qwen3-4B / 8B layers 9/18/27)", "image", (7680, 12288), "plain", lead=3,
           text_mask=True, encoder="Qwen3-4B or Qwen3-8B"),
    Family("chroma", "Chroma / PixArt (T5-XXL, unpadded)", "image", (4096,), "plain", encoder="T5-XXL", space="t5xxl"),
    Family("hidream", "HiDream (T5-XXL tokens, pooled CLIP-L || CLIP-G; Llama-3.1 states)", "image", (4096,),
           "plain", pooled_width=2048, encoder="CLIP-L + CLIP-G + T5-XXL + Llama-3.1-8B"),
    Family("qwen_image", "Qwen-Image (Qwen2.5-VL-7B)", "image", (3584,), "plain", text_mask=True,
           encoder="Qwen2.5-VL-7B"),
    Family("qwen_image21", "Qwen-Image 2.1 (Qwen3-VL-8B)", "image", (4096,), "plain", lead=3, text_mask=True,
           encoder="Qwen3-VL-8B"),
    Family("hunyuan_image", "HunyuanImage 2.1 (Qwen2.5-VL-7B layer -3, byT5 glyphs)", "image", (3584,), "plain",
           text_mask=True, encoder="Qwen2.5-VL-7B + byT5-small", streams=_BYT5),
    Family("z_image", "Z-Image (Qwen3-4B)", "image", (2560,), "plain", lead=3, text_mask=True, encoder="Qwen3-4B"),
    Family("lumina2", "Lumina2 (Gemma)", "image", (2304, 2560), "plain", lead=1, text_mask=True,
           encoder="Gemma-2-2B (or Gemma-3-4B)"),
    Family("wan", "Wan 2.1 / 2.2 (umT5-XXL, zeroed padding)", "video", (4096,), "plain", encoder="umT5-XXL"),
    Family("hunyuan_video", "HunyuanVideo (Llama-3 layer -3, pooled CLIP-L)", "video", (4096,), "plain",
           pooled_width=768, text_mask=True, encoder="Llava-Llama-3-8B + CLIP-L"),
    Family("hunyuan_video15", "HunyuanVideo 1.5 (Qwen2.5-VL-7B layer -3, byT5 glyphs)", "video", (3584,), "plain",
           text_mask=True, encoder="Qwen2.5-VL-7B + byT5-small", streams=_BYT5),
    Family("kandinsky5", "Kandinsky 5 (Qwen2.5-VL-7B, pooled CLIP-L)", "video", (3584,), "plain", pooled_width=768,
           text_mask=True, encoder="Qwen2.5-VL-7B + CLIP-L"),
    Family("ltxv", "LTX-Video (T5-XXL, masked padding)", "video", (4096,), "plain", text_mask=True, encoder="T5-XXL",
           space="t5xxl"),
    Family("ltx2", "LTX-2 (Gemma-3-12B, all layers projected)", "video", (3840, 6144, 7680), "plain", lead=1,
           encoder="Gemma-3-12B"),
    Family("mochi", "Mochi (T5-XXL, masked padding)", "video", (4096,), "plain", text_mask=True, encoder="T5-XXL",
           space="t5xxl"),
)}
FAMILY_CHOICES = ("auto", *FAMILIES)


def family_label(name: str | None) -> str:
    family = FAMILIES.get(name or "")
    return family.label if family else (name or "an unknown model")


def ambiguous_with(family: Family, candidates: list[str]) -> list[str]:
    """The other candidates that read another token space: steering one with the other's direction is wrong."""
    return [c for c in candidates if c != family.name and FAMILIES[c].token_space != family.token_space]
