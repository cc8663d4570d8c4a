"""Write `directions/data/auto_source.safetensors`: the source side Safety Steering (auto) builds for every CLIP.

Extract in the embedded smollm2-135m with the shipped pairs (layer auto, mean pooling, mean_diff, per
category) and the source embeddings of the shipped anchors at the layer it picks, computed exactly as the
auto node computes them without the file (directions.source_side.build_source_side, float32 on the CPU),
with the hashes of the pairs and anchors, the model's fingerprint and the recipe in the file. Re-run it
whenever the shipped pairs or anchors change: the node then stops using the stale file (and says so in the
log), and tests/test_source_side.py fails until it is re-made. About 10 minutes on two CPU cores.

    .venv/bin/python scripts/make_auto_source.py [--out PATH] [--anchors-dtype float16|float32]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import transformers

from crosssteer.directions.encoders import load_encoder
from crosssteer.directions.prompts import load_anchors, load_pairs
from crosssteer.directions.source_side import SHIPPED_SOURCE_SIDE, build_source_side

SOURCE = "smollm2-135m"  # nodes/auto_node.py's SOURCE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SHIPPED_SOURCE_SIDE)
    parser.add_argument("--anchors-dtype", choices=("float16", "float32"), default="float16",
                        help="storage of the anchor embeddings (float16 halves the file; see the test's tolerance)")
    parser.add_argument("--use-cache", action="store_true",
                        help="reuse $CROSSSTEER_CACHE's embeddings (default: compute everything afresh)")
    args = parser.parse_args()
    started = time.perf_counter()
    encoder = load_encoder(SOURCE, use_cache=args.use_cache)
    side = build_source_side(encoder, load_pairs("default"), load_anchors("default"),
                             progress=lambda stage, done, total: print(f"\r{stage}: {done}/{total}", end="",
                                                                       file=sys.stderr, flush=True))
    direction = side.direction.meta
    side.meta.update(source={"model": SOURCE, "fingerprint": encoder.fingerprint, "layer": direction["layer"]},
                     made_by={"script": "scripts/make_auto_source.py", "torch": torch.__version__,
                              "transformers": transformers.__version__, "anchors_dtype": args.anchors_dtype})
    side.save(args.out, anchors_dtype=getattr(torch, args.anchors_dtype))
    print(f"\nwrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB): layer {side.direction.meta['layer']}, "
          f"{side.anchors.shape[0]} anchors, {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
