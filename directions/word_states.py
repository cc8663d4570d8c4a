"""Word-level samples for an alignment map: the words of each benign anchor as extra (source, target) rows.

Two models with different tokenizers share no tokens, but they read the same characters: a word (a `\\w+`
run of the text) is read on each side as the mean hidden state of the content tokens whose character
offsets overlap it (a leading-space token such as "Ġred" or "▁red" overlaps its word; a bare space or
punctuation token overlaps none). The content tokens are the ones HFEncoder._forward pools: no special
tokens and, for a causal model, not the first position (its attention sink). In causal models a word's
state has seen the same preceding text on both sides. A word is a sample only where both sides have a
token for it. States are cached on disk per model, layer and text set (safetensors under cache_root()).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Sequence

import torch

from .encoders import EncoderError, HFEncoder, cache_root

WORD = re.compile(r"\w+")
MAX_TOKENS = 256  # the truncation of HFEncoder._forward: a word past it has no token
RULE = "w+ overlap, content tokens, v1"  # part of the cache key: a change of rule never reads old states


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character spans [start, end) of the text's words."""
    return [m.span() for m in WORD.finditer(text)]


@dataclass(frozen=True)
class WordSamples:
    """Paired word states: row i of source and target is the same word of anchor `anchor[i]`."""

    source: torch.Tensor  # [W, Ds]
    target: torch.Tensor  # [W, Dt]
    anchor: torch.Tensor  # [W] long: the index of the text each word comes from

    def as_extra(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The form transport.fit_alignment's extra_samples takes."""
        return self.source, self.target, self.anchor


@torch.inference_mode()
def _batch_word_states(encoder: HFEncoder, texts: list[str], layer: int) -> list[torch.Tensor]:
    """For each text, [n_words, D]: the mean state of each word's content tokens (NaN where it has none)."""
    enc = encoder.tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=MAX_TOKENS,
                            return_special_tokens_mask=True, return_offsets_mapping=True)
    special, offsets = enc.pop("special_tokens_mask").bool(), enc.pop("offset_mapping")
    inputs = {k: v.to(encoder.device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    states = encoder._hidden_states(inputs, [layer])[layer].float().cpu()
    content = enc["attention_mask"].bool() & ~special
    if encoder.causal:
        content[:, 0] = False  # the attention sink, as in HFEncoder._forward
    out = []
    for b, text in enumerate(texts):
        starts, ends = offsets[b, :, 0], offsets[b, :, 1]
        words = torch.full((len(word_spans(text)), states.shape[2]), float("nan"))
        for j, (start, end) in enumerate(word_spans(text)):
            tokens = content[b] & (starts < end) & (ends > start)
            if tokens.any():
                words[j] = states[b, tokens].mean(0)
        out.append(words)
    return out


def word_states(encoder: HFEncoder, texts: Sequence[str], layer: int, use_cache: bool = True) -> list[torch.Tensor]:
    """Each text's word states [n_words, D] at `layer` (NaN rows: words without a content token)."""
    if not getattr(encoder.tokenizer, "is_fast", False):
        raise EncoderError(f"{encoder.name}: word states need a fast tokenizer (character offsets)")
    texts, layer = [str(t) for t in texts], encoder.layer_index(layer)
    digest = hashlib.sha256("\x00".join([RULE, *texts]).encode()).hexdigest()[:16]
    path = cache_root() / "word_states" / f"{encoder.fingerprint}-L{layer}-{digest}.safetensors"
    if use_cache and path.is_file():
        from safetensors.torch import load_file

        saved = load_file(path)
        return list(torch.split(saved["states"], saved["counts"].tolist()))
    out: list[torch.Tensor | None] = [None] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # length-sorted batches waste little padding
    for start in range(0, len(order), encoder.batch_size):
        batch = order[start:start + encoder.batch_size]
        for i, states in zip(batch, _batch_word_states(encoder, [texts[i] for i in batch], layer)):
            out[i] = states
    if use_cache:
        from safetensors.torch import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        save_file({"states": torch.cat(out).contiguous() if out else torch.empty(0, encoder.width),
                   "counts": torch.tensor([len(s) for s in out], dtype=torch.long)}, str(partial))
        partial.replace(path)  # a second process writing the same file only repeats the work
    return out


def paired_word_states(source: HFEncoder, target: HFEncoder, texts: Sequence[str], source_layer: int,
                       target_layer: int, use_cache: bool = True) -> WordSamples:
    """The words of `texts` that both encoders have a content token for, as paired (source, target) rows."""
    rows_s, rows_t, anchor = [], [], []
    for i, (s, t) in enumerate(zip(word_states(source, texts, source_layer, use_cache),
                                   word_states(target, texts, target_layer, use_cache))):
        both = ~s.isnan().any(1) & ~t.isnan().any(1)
        rows_s.append(s[both])
        rows_t.append(t[both])
        anchor.append(torch.full((int(both.sum()),), i, dtype=torch.long))
    if not rows_s:
        return WordSamples(torch.empty(0, source.width), torch.empty(0, target.width), torch.empty(0, dtype=torch.long))
    return WordSamples(torch.cat(rows_s), torch.cat(rows_t), torch.cat(anchor))
