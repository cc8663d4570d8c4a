"""Small pieces the nodes share: prompt inputs, progress with cancellation, reports."""
from __future__ import annotations

import hashlib

import comfy.model_management as mm
import comfy.utils

from ..directions import prompts
from . import folders

SHIPPED = "default (shipped)"
PASTED = "pasted below"


def prompt_source_options() -> list[str]:
    return [SHIPPED, PASTED, *folders.prompt_files()]


def load_pairs(source: str, pasted: str) -> list[prompts.PromptPair]:
    if source == SHIPPED:
        return prompts.load_pairs("default")
    if source == PASTED:
        return prompts.parse_pairs_text(pasted)
    return prompts.load_pairs(folders.input_file(source))


def load_anchors(source: str, pasted: str) -> list[str]:
    if source == SHIPPED:
        return prompts.load_anchors("default")
    if source == PASTED:
        return prompts.parse_anchor_text(pasted)
    return prompts.load_anchors(folders.input_file(source))


def prompt_source_fingerprint(source: str | None) -> str | None:
    """A prompt-file choice as ComfyUI's cache sees it (fingerprint_inputs): a file in the input folder by its
    content, so an edited file is read again; the shipped set and pasted text by name (pasted text is a
    widget of its own, already in the cache key)."""
    if source in (None, SHIPPED, PASTED):
        return source
    digest = hashlib.sha256()
    try:
        with open(folders.input_file(source), "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except (OSError, ValueError):  # the node itself says what is wrong when it runs
        return f"unreadable:{source}"
    return digest.hexdigest()


class NodeProgress:
    """The library's (stage, done, total) progress as ComfyUI's progress bar; stops promptly when the
    user cancels (ComfyUI raises InterruptProcessingException from inside the embedding loop)."""

    def __init__(self):
        self.bar = comfy.utils.ProgressBar(1)

    def __call__(self, _stage: str, done: int, total: int) -> None:
        mm.throw_exception_if_processing_interrupted()
        self.bar.update_absolute(done, total)


def direction_report(direction) -> str:
    meta = direction.meta
    lines = [f"{meta.get('source', {}).get('model', '?')} layer {meta.get('layer')} ({meta.get('pooling')}, {meta.get('method')})",
             "held-out AUROC per vector:"]
    for name in direction.vectors:
        auc = meta.get("stats", {}).get(name, {}).get("auroc")
        lines.append(f"  {name:<18} {'-' if auc is None else f'{auc:.3f}'}")
    return "\n".join(lines)
