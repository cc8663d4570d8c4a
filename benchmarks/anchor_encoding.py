"""Anchor encoding through a ComfyUI CLIP: one prompt at a time vs batched, through the same CLIP object.

    .venv/bin/python benchmarks/anchor_encoding.py [--family sd1|z_image] [--n 64] [--batch 16] [--rounds 2]

Both ways go through ComfyClipEncoder.embed_layers (every space of the family, mean pooling, no cache): the
first with batch_size 1 (encode_from_tokens per prompt, as CLIPTextEncode does), the second in batches
(nodes/comfy_encoder.py: batch_plan). The CLIP is the random-weight SD1.5 checkpoint's full CLIP-L (sd1) or a
reduced Z-Image Qwen3 encoder (z_image, tests/family_models.py), in an in-process ComfyUI on the CPU. The two
are timed alternately, `rounds` times each, best round kept; the largest difference between the two results
is printed too. Goal: batched >= 2x one at a time.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"


def comfy_clip(family: str, base: Path):
    sys.path.insert(0, str(TESTS))
    import comfy_harness

    comfy_harness.make_base_directory(base)
    comfy = comfy_harness.InProcessComfy(base)
    if family == "sd1":
        name = "random_sd15.safetensors"
        comfy_harness.write_random_sd15_checkpoint(base / "models" / "checkpoints" / name)
        return comfy.node_class("CheckpointLoaderSimple")().load_checkpoint(name)[1]
    import family_models

    return family_models.reduced_clip(family)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="sd1", choices=["sd1", "z_image"])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        clip = comfy_clip(args.family, Path(tmp))
        from crosssteer.directions.prompts import load_anchors
        from crosssteer.nodes.comfy_encoder import ComfyClipEncoder

        texts = load_anchors("default")[:args.n]
        encoder = ComfyClipEncoder.wrap(clip, use_cache=False)
        every = range(len(encoder.spaces))

        def timed(batch_size: int):
            encoder._memo.clear()  # no reuse between calls: every prompt is encoded each time
            encoder.batch_size = batch_size
            start = time.perf_counter()
            out = encoder.embed_layers(texts, every, "mean")
            return time.perf_counter() - start, out

        timed(args.batch)  # warm-up: first-call allocations and lazy initialisation
        alone, batched = [], []
        for _ in range(args.rounds):
            t, one = timed(1)
            alone.append(t)
            t, many = timed(args.batch)
            batched.append(t)
        diff = max(float((one[j] - many[j]).abs().max()) for j in every)
        a, b = min(alone), min(batched)
        print(f"{args.family} ({encoder.family}, spaces {encoder.spaces}), {len(texts)} shipped anchors, "
              f"batch {args.batch}, best of {args.rounds}")
        print(f"  one at a time: {a:7.2f} s  {len(texts) / a:7.1f} prompts/s")
        print(f"  batched:       {b:7.2f} s  {len(texts) / b:7.1f} prompts/s")
        print(f"  speed-up {a / b:.2f}x; largest difference between the two {diff:.2e}")


if __name__ == "__main__":
    main()
