"""A ComfyUI CLIP object as a text encoder of the library (directions/conditioning_encoder.py): which
family it is (the exact classes of its text encoder and tokenizer), what decides its embeddings (its
fingerprint), and prompts through the user's own CLIP object (tokenize + encode, exactly as
CLIPTextEncode does, batched where that gives the same conditioning). The same encoder serves three
roles: the target side of an alignment, the native baseline, and the source side (LLM text encoders such
as Qwen-Image's Qwen2.5-VL or Z-Image's Qwen3), where its first space is the one a direction lives in.
"""
from __future__ import annotations

import hashlib
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from ..directions.conditioning_encoder import (SELECTION_VERSION, ConditioningEncoder, EncoderFamilyError,
                                               probe_spaces)
from ..directions.encoders import EmbeddingCache, cache_root
from ..directions.families import FAMILIES

# The text-encoder class of each family, by exact class: ComfyUI subclasses one encoder to build another
# (HunyuanImageTEModel and Kandinsky5TEModel are QwenImageTEModels), so a subclass is another encoder, not
# this family. Only the loaders' factory wrappers (flux2_te() -> Flux2TEModel_, classes defined inside a
# function) are looked through. Where two families share a class, the tokenizer class tells them apart.
_FAMILY_CLASSES = {
    "comfy.sd1_clip.SD1ClipModel": "sd1",  # CLIP-L only (clip_name "l")
    "comfy.text_encoders.sd2_clip.SD2ClipModel": "sd2",
    "comfy.sdxl_clip.SDXLClipModel": "sdxl",
    "comfy.sdxl_clip.SDXLRefinerClipModel": "sdxl_refiner",
    "comfy.text_encoders.sd3_clip.SD3ClipModel": "sd3",
    "comfy.text_encoders.flux.FluxClipModel": "flux",
    "comfy.text_encoders.flux.Flux2TEModel": "flux2",  # Klein: the same class with a Qwen3 tokenizer
    "comfy.text_encoders.pixart_t5.PixArtT5XXL": "chroma",
    "comfy.text_encoders.hidream.HiDreamTEModel": "hidream",
    "comfy.text_encoders.qwen_image.QwenImageTEModel": "qwen_image",
    "comfy.text_encoders.qwen_image21.QwenImage21TEModel": "qwen_image21",
    "comfy.text_encoders.hunyuan_image.HunyuanImageTEModel": "hunyuan_image",  # HunyuanVideo 1.5: its tokenizer
    "comfy.text_encoders.z_image.ZImageTEModel": "z_image",
    "comfy.text_encoders.lumina2.LuminaModel": "lumina2",
    "comfy.text_encoders.wan.WanT5Model": "wan",
    "comfy.text_encoders.hunyuan_video.HunyuanVideoClipModel": "hunyuan_video",
    "comfy.text_encoders.kandinsky5.Kandinsky5TEModel": "kandinsky5",
    "comfy.text_encoders.genmo.MochiT5XXL": "mochi",  # LTXV: the same model with its own tokenizer
    "comfy.text_encoders.lt.LTXAVTEModel": "ltx2",
}
# (family, tokenizer class) -> the family that class of tokenizer makes of it
_BY_TOKENIZER = {
    ("mochi", "comfy.text_encoders.lt.LTXVT5Tokenizer"): "ltxv",
    ("hunyuan_image", "comfy.text_encoders.hunyuan_video.HunyuanVideo15Tokenizer"): "hunyuan_video15",
    ("flux2", "comfy.text_encoders.flux.KleinTokenizer"): "flux2_klein",
    ("flux2", "comfy.text_encoders.flux.KleinTokenizer8B"): "flux2_klein",
}

# What the family's usual encode node puts around the prompt (CLIPTextEncodeLumina2's default system
# prompt): anchors are encoded the way users encode prompts, so their statistics match the conditioning.
_TEMPLATES = {
    "lumina2": "You are an assistant designed to generate superior images with the superior degree of image-text "
               "alignment based on textual prompts or user prompts. <Prompt Start> {}",
}


def _own_class(obj) -> type:
    """The class ComfyUI defined for this object: factory wrappers (classes made inside a function) skipped."""
    return next(c for c in type(obj).__mro__ if "<locals>" not in c.__qualname__)


def _class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def clip_family(clip) -> str:
    """The family of a ComfyUI CLIP object, from the exact classes of its text encoder and tokenizer.

    An encoder class CrossSteer does not know is refused: matching it by width would steer it as another
    family (Qwen-Image 2.1 is as wide as T5-XXL, HunyuanVideo 1.5 as Qwen-Image)."""
    model = clip.cond_stage_model
    cls = _own_class(model)
    family = _FAMILY_CLASSES.get(_class_name(cls))
    if family == "sd1" and getattr(model, "clip_name", "") != "l":
        family = None
    if family is None:
        known = sorted({f for f in _FAMILY_CLASSES.values()} | set(_BY_TOKENIZER.values()))
        raise EncoderFamilyError(
            f"CrossSteer does not know this text encoder ({cls.__name__} from {cls.__module__}), so it cannot tell "
            f"which tokens to steer: it knows {', '.join(known)}. Use a CLIP of one of those families (the CLIP "
            "loader's type decides which encoder ComfyUI builds), or ask for this one to be supported")
    return _BY_TOKENIZER.get((family, _class_name(_own_class(clip.tokenizer))), family)


def template_lead(clip) -> int:
    """How many leading tokens the CLIP's tokenizer puts before every prompt (template prefix, BOS): the
    common start of two prompts' token ids, left padding skipped. Their states are the same for every prompt."""
    inner = getattr(clip.tokenizer, getattr(clip.tokenizer, "clip", ""), None)
    pad = getattr(inner, "pad_token", None) if getattr(inner, "pad_left", False) else None

    def ids(text: str) -> list:
        rows = next(v for v in clip.tokenize(text).values() if isinstance(v, list))
        out = [t[0] for t in rows[0]]
        start = next((i for i, t in enumerate(out) if t != pad), len(out)) if pad is not None else 0
        return out[start:]

    a, b = ids("cat"), ids("dog")
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def _tensor_digest(digest, name: str, tensor) -> None:
    """Name, shape and dtype of a weight, and a sample of its values where it is a plain float tensor.
    Quantized weights (fp8 scaled, nvfp4, GGUF) are tensor subclasses whose values cannot be read that way."""
    digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}|{type(tensor).__name__}".encode())
    if type(tensor) in (torch.Tensor, torch.nn.Parameter) and tensor.dtype in (torch.float32, torch.float16,
                                                                               torch.bfloat16):
        digest.update(tensor.detach().flatten()[:64].float().cpu().numpy().tobytes())


def clip_fingerprint(clip) -> str:
    """What decides the embeddings: the encoder and tokenizer classes (HunyuanImage 2.1 and HunyuanVideo 1.5
    share weights, not templates), the weights (a sample of every tensor), the patches applied (LoRAs: their
    weights and strengths), the layer read (clip skip) and the tokenizer options (T5TokenizerOptions)."""
    digest = hashlib.sha256(_class_name(_own_class(clip.cond_stage_model)).encode())
    digest.update(_class_name(_own_class(clip.tokenizer)).encode())
    for name, tensor in clip.cond_stage_model.state_dict().items():
        _tensor_digest(digest, name, tensor)
    patches = getattr(clip.patcher, "patches", {})
    for key in sorted(patches, key=str):
        digest.update(str(key).encode())
        for i, patch in enumerate(patches[key]):
            strength_patch, value = patch[0], patch[1]
            rest = [p for p in patch[2:] if isinstance(p, (int, float, str, type(None)))]
            digest.update(repr((i, strength_patch, rest)).encode())
            for j, t in enumerate(_tensors_in(value)):
                _tensor_digest(digest, f"{key}/{i}/{j}", t)
    digest.update(repr(("layer", getattr(clip, "layer_idx", None))).encode())
    digest.update(repr(("tokenizer", sorted(getattr(clip, "tokenizer_options", {}).items()))).encode())
    return digest.hexdigest()[:16]


def _tensors_in(value, depth: int = 0) -> list:
    """The tensors of a patch (a LoRA adapter's weights, a tuple of them), a few levels deep."""
    if torch.is_tensor(value):
        return [value]
    if depth > 3:
        return []
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors_in(v, depth + 1)]
    weights = getattr(value, "weights", None)  # comfy.weight_adapter adapters keep theirs here
    return _tensors_in(weights, depth + 1) if weights is not None else []


@dataclass
class ComfyClipEncoder(ConditioningEncoder):
    """Embeds prompts through a ComfyUI CLIP: tokenize + encode, exactly as CLIPTextEncode does, in batches
    where the family's encoder allows it (batch_plan)."""

    clip: object = None

    @classmethod
    def wrap(cls, clip, use_cache: bool = True) -> ComfyClipEncoder:
        if clip is None or not hasattr(clip, "cond_stage_model"):
            raise EncoderFamilyError("the clip input holds no text encoder (a checkpoint without one?): connect a "
                                     "CLIP loader's output")
        family = clip_family(clip)
        layout = FAMILIES[family]
        if layout.lead_from_tokenizer:
            layout = replace(layout, lead=template_lead(clip))
        encoder = cls(f"{family} text encoder", clip_fingerprint(clip), family, {}, layout=layout, clip=clip)
        x, extras = encoder.encode_entry("a photo of a cat")
        encoder.spaces = probe_spaces(layout, x, extras)
        encoder.num_layers = len(encoder.spaces) - 1
        encoder.cache = EmbeddingCache(cache_root() / "embeddings.sqlite") if use_cache else None
        return encoder

    def describe(self) -> dict:
        info = {"model": self.name, "family": self.family, "fingerprint": self.fingerprint, "width": self.width,
                "spaces": dict(self.spaces), "selection": SELECTION_VERSION}
        if self.family in _TEMPLATES:
            info["template"] = _TEMPLATES[self.family]
        if self.layout is not None and self.layout.lead_from_tokenizer:
            info["lead"] = self.layout.lead  # Apply skips as many template rows as this tokenizer makes
        return info

    def tokenize(self, text: str) -> dict:
        template = _TEMPLATES.get(self.family)
        return self.clip.tokenize(template.format(text) if template else text)

    def encode_entry(self, text: str) -> tuple[torch.Tensor, dict]:
        """(conditioning [1, T, D] float32 on the CPU, its dict), as CLIPTextEncode makes it."""
        return self._encode_tokens(self.tokenize(text))

    def _encode_tokens(self, tokens: dict) -> tuple[torch.Tensor, dict]:
        out = self.clip.encode_from_tokens(tokens, return_pooled=True, return_dict=True)
        cond = out.pop("cond")
        extras = {k: (v.float().cpu() if torch.is_tensor(v) else v) for k, v in out.items()}
        return cond.float().cpu(), extras

    def encode_entries(self, texts: Sequence[str]) -> list[tuple[torch.Tensor, dict]]:
        """encode_entry of each text, in batches where the family's encoder allows it (see batch_plan)."""
        tokens = [self.tokenize(t) for t in texts]
        out: list = [None] * len(texts)
        for group in batch_plan(self.clip, tokens):
            for i, entry in zip(group, _encode_batch(self.clip, [tokens[i] for i in group])):
                out[i] = entry
        return [entry if entry is not None else self._encode_tokens(t) for entry, t in zip(out, tokens)]


def batch_plan(clip, tokens: list[dict]) -> list[list[int]]:
    """Groups (two or more) of prompts that one forward pass encodes exactly as encode_from_tokens encodes
    each alone; the prompts in no group are encoded alone. That holds for encoders made of one SDClipModel behind ComfyUI's stock token-weight code (SD1.5,
    SD2, T5-only, and LLM families such as Z-Image and Lumina2), for prompts of one section with plain weights:
    prompts of one length share a pass, and an encoder that masks padding takes any lengths, padded to the
    longest. Families with their own encode_token_weights (SDXL, SD3, Flux, Qwen-Image: several encoders,
    template cuts) are encoded one prompt at a time, as are prompts with weights or embeddings."""
    from comfy import sd1_clip

    model = clip.cond_stage_model
    inner = getattr(model, getattr(model, "clip", ""), None)
    stock = (type(model).encode_token_weights is sd1_clip.SD1ClipModel.encode_token_weights
             and isinstance(inner, sd1_clip.SDClipModel)
             and type(inner).encode_token_weights is sd1_clip.ClipTokenWeightEncoder.encode_token_weights)
    if not stock:
        return []
    masked = inner.enable_attention_masks and inner.special_tokens.get("pad") is not None
    groups: dict[int, list[int]] = {}
    for i, t in enumerate(tokens):
        plain = (set(t) == {model.clip_name} and len(t[model.clip_name]) == 1
                 and all(isinstance(p[0], numbers.Integral) and p[1] == 1.0 for p in t[model.clip_name][0]))
        if plain:
            groups.setdefault(0 if masked else len(t[model.clip_name][0]), []).append(i)
    return [group for group in groups.values() if len(group) > 1]


def _encode_batch(clip, tokens: list[dict]) -> list[tuple[torch.Tensor, dict]]:
    """One forward pass for prompts that batch_plan grouped: their sections go through encode_from_tokens
    as the sections of one prompt (so clip skip, LoRAs, device placement are ComfyUI's own), right-padded
    with the pad token to the longest; the encoder's own batch output (every row's pooled vector and mask,
    which encode_from_tokens would cut to the first row) is read by a forward hook, and each row is cut back
    to its prompt's length."""
    model = clip.cond_stage_model
    inner = getattr(model, model.clip)
    sections = [t[model.clip_name][0] for t in tokens]
    longest = max(len(s) for s in sections)
    pad = inner.special_tokens.get("pad")
    padded = [[(p[0], p[1]) for p in s] + [(pad, 1.0)] * (longest - len(s)) for s in sections]
    captured = []
    hook = inner.register_forward_hook(lambda _module, _inputs, output: captured.append(output))
    try:
        clip.encode_from_tokens({model.clip_name: padded}, return_pooled=True, return_dict=True)
    finally:
        hook.remove()
    z, pooled = captured[-1][0], captured[-1][1]
    extra = captured[-1][2] if len(captured[-1]) > 2 else {}
    out = []
    for i, section in enumerate(sections):
        n = len(section)
        extras = {"pooled_output": None if pooled is None else pooled[i:i + 1].float().cpu()}
        for key, value in extra.items():
            extras[key] = value[i:i + 1, :n].float().cpu() if key == "attention_mask" else value
        out.append((z[i:i + 1, :n].float().cpu(), extras))
    return out
