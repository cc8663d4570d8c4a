"""The CROSSSTEER_LLM socket value: a recipe for loading a source LLM, loaded only while a node needs it."""
from __future__ import annotations

import gc
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
        encoder: HFEncoder = load_encoder(self.spec, device=self.torch_device(), dtype=self.torch_dtype(),
                                          trust_remote_code=self.trust_remote_code)
        try:
            yield encoder
        finally:
            encoder.model.to("cpu")
            del encoder
            gc.collect()
            mm.soft_empty_cache()
