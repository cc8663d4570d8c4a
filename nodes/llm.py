"""The CROSSSTEER_LLM socket value: a recipe for loading a source LLM, loaded only while a node needs it."""
from __future__ import annotations

import ctypes
import gc
import sys
from contextlib import contextmanager
from dataclasses import dataclass

import torch

import comfy.model_management as mm

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
        if DTYPES[self.dtype] is not None:
            return DTYPES[self.dtype]
        device = self.torch_device()
        return torch.float16 if device.type == "cuda" and mm.should_use_fp16(device) else torch.float32

    @contextmanager
    def loaded(self):
        """The encoder while the block runs; its weights are released when the block ends, however it ends
        (done, error, or the user cancelling), even if a traceback still holds the encoder object."""
        try:
            encoder: HFEncoder = load_encoder(self.spec, device=self.torch_device(), dtype=self.torch_dtype(),
                                              trust_remote_code=self.trust_remote_code)
        except BaseException:
            release_memory()  # a load that failed half-way (out of memory) leaves big garbage behind
            raise
        try:
            yield encoder
        finally:
            # the caller's frame, and the traceback of a cancelled run, keep `encoder` alive: cut the weights
            # loose from it so they are freed now, not whenever that reference goes
            encoder.model = None
            encoder.tokenizer = None
            del encoder
            release_memory()


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
