"""Batched anchor encoding through a ComfyUI CLIP: a batch gives every prompt the conditioning, pooled
vector, mask and pooled embeddings that encoding it alone (encode_from_tokens, as CLIPTextEncode does) gives.

Real CLIP objects: the random-weight SD1.5 checkpoint's CLIP-L (every prompt padded to 77 tokens, one pass)
and a reduced Z-Image Qwen3 encoder (tests/family_models.py: no padding of its own, so prompts of different
lengths are padded to the longest and masked); SDXL's two encoders are encoded one prompt at a time.
"""
from __future__ import annotations

import gc

import pytest
import torch

import family_models

pytestmark = [pytest.mark.comfy]

PROMPTS = ["a cat", "a red lighthouse on a cliff at sunrise, oil painting", "two children flying a kite",
           "a bowl of ramen", "an old sailor mending a net in a small harbour at dusk, film photo",
           "a (very:1.3) tall tower"]  # the last has a prompt weight: CLIP encodes it alone


@pytest.fixture(scope="module", params=["sd1", "z_image"])
def encoder(request, comfy, sd15_checkpoint, tmp_path_factory):
    from crosssteer.nodes.comfy_encoder import ComfyClipEncoder

    if request.param == "sd1":
        clip = comfy.node_class("CheckpointLoaderSimple")().load_checkpoint(sd15_checkpoint)[1]
    else:
        clip = family_models.reduced_clip("z_image")
    yield ComfyClipEncoder.wrap(clip, use_cache=False)
    del clip
    gc.collect()


def test_a_batch_equals_each_prompt_alone(encoder):
    from crosssteer.nodes.comfy_encoder import batch_plan

    plan = batch_plan(encoder.clip, [encoder.tokenize(t) for t in PROMPTS])
    # Z-Image's tokenizer ignores prompt weights; CLIP keeps them, and a weighted prompt is encoded alone
    plain = len(PROMPTS) - (1 if encoder.family == "sd1" else 0)
    assert plan == [list(range(plain))], "plain prompts should share one forward pass"
    batched = encoder.encode_entries(PROMPTS)
    for text, (x, extras) in zip(PROMPTS, batched):
        alone_x, alone_extras = encoder.encode_entry(text)
        assert x.shape == alone_x.shape
        torch.testing.assert_close(x, alone_x, rtol=1e-4, atol=1e-4)
        assert set(extras) == set(alone_extras)
        for key, value in alone_extras.items():
            if torch.is_tensor(value):
                torch.testing.assert_close(extras[key], value, rtol=1e-4, atol=1e-4)
            else:
                assert extras[key] == value


def test_embed_layers_batched_equals_one_at_a_time(encoder):
    every = range(len(encoder.spaces))
    batched = encoder.embed_layers(PROMPTS, every, "mean")
    encoder._memo.clear()
    encoder.batch_size = 1
    try:
        alone = encoder.embed_layers(PROMPTS, every, "mean")
    finally:
        encoder.batch_size = 16
        encoder._memo.clear()
    for j in every:
        torch.testing.assert_close(batched[j], alone[j], rtol=1e-4, atol=1e-4)


def test_sdxl_is_encoded_one_prompt_at_a_time(comfy, comfy_base):
    """SDXL's CLIP-L and CLIP-G are concatenated by its own encode_token_weights: no batch plan."""
    from crosssteer.nodes.comfy_encoder import batch_plan

    names = family_models.write_full_clip_files(comfy_base / "models" / "text_encoders")
    clip = comfy.node_class("DualCLIPLoader")().load_clip(names[0], names[1], "sdxl")[0]
    assert batch_plan(clip, [clip.tokenize(t) for t in PROMPTS[:2]]) == []
