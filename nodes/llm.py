"""The CROSSSTEER_LLM socket value: a recipe for loading a source LLM, loaded only while a node needs it.

The LLM lives beside ComfyUI's own models, so it asks ComfyUI's model management for room before it moves
to the device. Within one graph run it is loaded once: the nodes that use the same Load Source LLM (Extract,
then Fit) share it, and it is released as soon as any other node starts, so no LLM is in memory while a
sampler runs.
"""
from __future__ import annotations

import ctypes
import gc
import itertools
import sys
from contextlib import contextmanager
from dataclasses import dataclass

import torch

import comfy.model_management as mm
from comfy_execution.progress import ProgressHandler, add_progress_handler, get_progress_state
from comfy_execution.utils import get_executing_context

from ..directions.encoders import HFEncoder, load_encoder

DTYPES = {"auto": None, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class LLMHandle:
    """What to load and how. Holding one costs nothing: nodes call `loaded()` and the model is freed
    when they are done, so no LLM sits in memory while the sampler runs."""

    spec: str
    device: str = "auto"
    dtype: str = "auto"
    trust_remote_code: bool = False

    def torch_device(self) -> torch.device:
        return mm.get_torch_device() if self.device == "auto" else torch.device(self.device)

    def torch_dtype(self) -> torch.dtype:
        """auto: bfloat16 on a GPU that has it (Gemma-family models overflow in float16), else float16 where
        ComfyUI would use it, float32 on the CPU (where half precision is slow)."""
        if DTYPES[self.dtype] is not None:
            return DTYPES[self.dtype]
        device = self.torch_device()
        if device.type == "cpu":
            return torch.float32
        if mm.should_use_bf16(device):
            return torch.bfloat16
        return torch.float16 if mm.should_use_fp16(device) else torch.float32

    def load(self) -> HFEncoder:
        """Loaded on the CPU, then moved to the device once ComfyUI has unloaded what is in the way."""
        device = self.torch_device()
        encoder = load_encoder(self.spec, device="cpu", dtype=self.torch_dtype(),
                               trust_remote_code=self.trust_remote_code)
        if device.type != "cpu":
            mm.free_memory(weight_bytes(encoder.model) + mm.minimum_inference_memory(), device)
            encoder.to(device)
        return encoder

    @contextmanager
    def loaded(self):
        """The encoder while the block runs. Inside a graph run it is kept for the next node of the run that
        uses the same Load Source LLM (see _RunShare); otherwise, and on any error or cancel, its weights are
        released when the block ends, even if a traceback still holds the encoder object."""
        share = _RunShare.current(self)
        encoder = share.encoder if share is not None else None
        if encoder is None:
            try:
                encoder = self.load()
            except BaseException:
                release_memory()  # a load that failed half-way (out of memory) leaves big garbage behind
                raise
        try:
            yield encoder
        except BaseException:
            _RunShare.drop()
            _release(encoder)
            raise
        if share is not None and share.keep(encoder):
            return
        _RunShare.drop()
        _release(encoder)


def weight_bytes(model: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in itertools.chain(model.parameters(), model.buffers()))


def _release(encoder: HFEncoder) -> None:
    # the caller's frame, and the traceback of a cancelled run, keep `encoder` alive: cut the weights loose
    # from it so they are freed now, not whenever that reference goes
    encoder.model = None
    encoder.tokenizer = None
    release_memory()


class _RunShare:
    """One source LLM shared by the nodes of one graph run that read the same Load Source LLM node.

    After a node is done, the encoder is kept only if another such node of the run has not started yet; a
    ComfyUI progress handler releases it when any node starts that is neither one of those nor one of their
    inputs (a loader) nor an output node that only shows or saves a result, and at the start of the next run
    at the latest (ComfyUI has no end-of-run hook)."""

    held: "_RunShare | None" = None

    def __init__(self, handle: LLMHandle, prompt_id: str, source_node: str, registry):
        self.handle, self.prompt_id, self.source_node, self.registry = handle, prompt_id, source_node, registry
        self.encoder: HFEncoder | None = None

    @classmethod
    def current(cls, handle: LLMHandle) -> "_RunShare | None":
        """The share of the running node, or None outside a graph run (a node called directly)."""
        context, registry = get_executing_context(), get_progress_state()
        if context is None or registry.prompt_id != context.prompt_id:
            return None
        link = (registry.dynprompt.get_node(context.node_id) or {}).get("inputs", {}).get("llm")
        if not isinstance(link, list):
            return None
        held = cls.held
        if held is not None and (held.prompt_id, held.source_node, held.handle) == (context.prompt_id, link[0], handle):
            return held
        cls.drop()
        return cls(handle, context.prompt_id, link[0], registry)

    def keep(self, encoder: HFEncoder) -> bool:
        """Hold the encoder for a node of this run that will use it, if there is one still to start."""
        if not self.waiting():
            return False
        self.encoder = encoder
        if _RunShare.held is not self:
            _RunShare.held = self
            add_progress_handler(_ReleaseHandler())
        return True

    def users(self) -> set[str]:
        prompt = self.registry.dynprompt.original_prompt
        return {node_id for node_id, node in prompt.items()
                if any(isinstance(v, list) and v[:1] == [self.source_node] for v in node.get("inputs", {}).values())}

    def waiting(self) -> set[str]:
        """Users of the LLM in this run that have not started yet."""
        return {n for n in self.users() if n not in self.registry.nodes}

    def feeds(self, node_id: str, targets: set[str]) -> bool:
        """Whether node_id is one of targets or one of their inputs, however far up."""
        prompt, seen, todo = self.registry.dynprompt.original_prompt, set(), list(targets)
        while todo:
            n = todo.pop()
            if n == node_id:
                return True
            if n in seen or n not in prompt:
                continue
            seen.add(n)
            todo += [v[0] for v in prompt[n].get("inputs", {}).values() if isinstance(v, list) and v]
        return False

    def shows_only(self, node_id: str) -> bool:
        """An output node whose outputs no node reads (a text preview of a report, a save): it loads no model
        of its own, so the LLM may wait through it for the next node that uses it."""
        import nodes

        prompt = self.registry.dynprompt.original_prompt
        node_class = nodes.NODE_CLASS_MAPPINGS.get((prompt.get(node_id) or {}).get("class_type"))
        read = any(isinstance(v, list) and v[:1] == [node_id] for n in prompt.values() for v in n.get("inputs", {}).values())
        return getattr(node_class, "OUTPUT_NODE", False) is True and not read

    @classmethod
    def drop(cls) -> None:
        held, cls.held = cls.held, None
        if held is not None and held.encoder is not None:
            encoder, held.encoder = held.encoder, None
            _release(encoder)


class _ReleaseHandler(ProgressHandler):
    """Releases the shared LLM when a node starts that will not use it, and when the run is over."""

    def __init__(self):
        super().__init__("crosssteer-llm-release")

    def start_handler(self, node_id, state, prompt_id):
        held = _RunShare.held
        if held is not None and not (node_id in held.users() or held.feeds(node_id, held.waiting())
                                     or held.shows_only(node_id)):
            _RunShare.drop()

    def reset(self):  # the next run has started (ComfyUI resets the handlers of the last one)
        _RunShare.drop()


def release_memory() -> None:
    """Collect the model's garbage and hand the memory back: the GPU cache, and on Linux glibc's heap,
    which otherwise keeps freed weight buffers and makes the process look as if it still held the model."""
    gc.collect()
    mm.soft_empty_cache()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # musl and other C libraries have no malloc_trim
            pass
