"""The conditioning logic of the library on synthetic CONDITIONING, without a ComfyUI: it lives in
directions/ (families, conditioning, steer_conditioning, conditioning_encoder) so the CLI, the image
evaluation and these tests can use it as the nodes do. The layouts against real text encoders are
tested in test_families.py; here the library is checked to run on its own and to keep its contracts."""
from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch

from crosssteer.directions.safety_direction import SafetyDirection
from crosssteer.directions.conditioning import _zero_rows, pool_spaces, reading_each_tensor_once
from crosssteer.directions.conditioning_encoder import ConditioningEncoder, EncoderFamilyError
from crosssteer.directions.families import FAMILIES
from crosssteer.directions.space import Standardizer
from crosssteer.directions.steer_conditioning import steer_conditioning


def test_the_conditioning_library_loads_without_comfyui():
    code = ("import sys; import crosssteer.directions.steer_conditioning, crosssteer.directions.conditioning_encoder, "
            "crosssteer.directions.target_spaces; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('comfy', 'comfy_api', 'comfy_execution', "
            "'folder_paths') or m.startswith('crosssteer.nodes')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_zero_rows_are_exactly_the_rows_of_zeros(dtype):
    """The integer-bits read agrees with the plain comparison: -0.0 is zero; NaN, inf, negatives are not."""
    x = torch.randn(2, 9, 16).to(dtype)
    x[0, 1] = 0
    x[0, 2] = -0.0
    x[1, 3] = torch.where(torch.arange(16) % 2 == 0, torch.tensor(0.0), torch.tensor(-0.0)).to(dtype)
    x[1, 4] = 0
    x[1, 4, 5] = float("nan")
    x[1, 5] = 0
    x[1, 5, 0] = -1e-3
    x[0, 6] = 0
    x[0, 6, 15] = float("-inf")
    x[1, 7] = -1.0
    assert torch.equal(_zero_rows(x), (x == 0).all(dim=-1))
    with reading_each_tensor_once():  # read once: the same answer the second time
        first = _zero_rows(x)
        assert torch.equal(_zero_rows(x), first)


def _direction(width: int, family: str) -> SafetyDirection:
    g = torch.Generator().manual_seed(0)
    vectors = {n: torch.nn.functional.normalize(torch.randn(width, generator=g), dim=0) for n in ("global", "violence")}
    std = Standardizer(mean=torch.randn(width, generator=g), std=torch.rand(width, generator=g) + 0.5)
    return SafetyDirection(vectors=vectors, standardizer=std, units={"global": 2.0, "violence": 1.5},
                           meta={"space": "target", "target": {"family": family, "width": width}})


def test_steer_conditioning_moves_the_content_tokens_and_leaves_the_input():
    """SD1 layout (77-token chunks): each chunk's BOS stays, every other row moves by strength x step, the
    pooled vector SD1's UNet never reads is kept, and the input list, dicts and tensors are untouched."""
    x = torch.randn(2, 154, 768)
    cond = [[x, {"pooled_output": torch.randn(2, 768), "clip_start_percent": 0.0}]]
    before = copy.deepcopy(cond)
    direction = _direction(768, "sd1")
    out = steer_conditioning(cond, direction, 3.0, "add", "content", family="sd1")
    moved = out[0][0] - x
    step = 3.0 * direction.displacement("mixed")
    bos = torch.zeros(154, dtype=torch.bool)
    bos[::77] = True
    assert torch.equal(moved[:, bos], torch.zeros_like(moved[:, bos]))
    assert torch.allclose(moved[:, ~bos], step.expand(2, 152, -1), atol=1e-5)
    assert out is not cond and out[0][1] is not cond[0][1] and out[0][0] is not x
    assert torch.equal(out[0][1]["pooled_output"], cond[0][1]["pooled_output"])
    assert torch.equal(cond[0][0], before[0][0]) and cond[0][1].keys() == before[0][1].keys()
    with pytest.raises(ValueError, match="unknown mode"):
        steer_conditioning(cond, direction, 3.0, "push")


class _Synthetic(ConditioningEncoder):
    """Conditioning from a seeded generator per text, Wan-like (zeroed padding after the prompt's words)."""

    calls: int = 0

    def encode_entries(self, texts):
        self.calls += len(texts)
        out = []
        for text in texts:
            g = torch.Generator().manual_seed(len(text))
            x = torch.randn(1, 12, 8, generator=g)
            x[:, len(text.split()):] = 0
            out.append((x, {}))
        return out


def test_a_conditioning_encoder_pools_as_apply_steers_and_encodes_each_text_once():
    family = FAMILIES["wan"]
    encoder = _Synthetic("synthetic", "f0", "wan", {"tokens": 8}, layout=family, batch_size=2)
    texts = ["a cat", "a red car on a road", "a cat"]
    got = encoder.embed_layers(texts, [0])[0]
    for text, row in zip(texts, got):
        x, extras = encoder.encode_entries([text])[0]
        assert torch.equal(row, pool_spaces(family, x, extras)["tokens"][0])
    calls = encoder.calls
    assert torch.equal(encoder.embed_layers(texts, [0])[0], got) and encoder.calls == calls  # kept, not encoded again
    with pytest.raises(EncoderFamilyError, match="no space index"):
        encoder.embed_layers(texts, [1])
