"""Safety Steering (auto): the first run for a text encoder (build: the source side, fit through the CLIP with
the anchors, transport, save) against a later run (load the cached file, apply), side by side in one process,
on ComfyUI's real loaders and the random-weight SD1.5 checkpoint (full-size CLIP-L; random weights cost the
same time as real ones).

    CROSSSTEER_CACHE=$(mktemp -d) .venv/bin/python benchmarks/auto_first_build.py [--anchors N] [--llm]

With the shipped pairs and anchors the source side comes precomputed with the pack
(directions/data/auto_source.safetensors): the build loads no LLM and encodes the anchors through CLIP-L.
--llm makes the node ignore that file, as it does when the file does not match the prompt sets: Extract in
smollm2-135m (its GGUF dequantised first), the anchors through it too. --anchors N fits on the first N
shipped anchors only (a file in ComfyUI's input folder, as a user would give it): the precomputed file does
not cover that set, so it is built with the LLM. Use an empty CROSSSTEER_CACHE for a true first build: with
a warm embedding cache both sides are nearly free. Prints both times and their ratio.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import comfy_harness  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--anchors", type=int, help="only the first N shipped anchors (default: all)")
    parser.add_argument("--llm", action="store_true", help="ignore the precomputed source side")
    args = parser.parse_args()
    base = comfy_harness.make_base_directory(Path(tempfile.mkdtemp(prefix="crosssteer_bench_")))
    comfy_harness.prepare_comfy_imports(base)
    comfy_harness.write_random_sd15_checkpoint(base / "models" / "checkpoints" / "random_sd15.safetensors")
    comfy = comfy_harness.InProcessComfy(base)
    clip = comfy.node_class("CheckpointLoaderSimple")().load_checkpoint("random_sd15.safetensors")[1]
    cond = comfy.node_class("CLIPTextEncode")().encode(clip, "a man stabbing a stranger in a kitchen")[0]
    auto = comfy.node_class("CrossSteerSafetySteeringAuto")
    if args.llm:  # what the node does when the shipped file does not match: compute the source side
        sys.modules[auto.__module__].SHIPPED_SOURCE_SIDE = base / "no_precomputed_source_side.safetensors"
    anchors = "default (shipped)"
    if args.anchors:
        from crosssteer.directions.prompts import load_anchors

        anchors = "bench_anchors.txt"
        (base / "input" / anchors).write_text("\n".join(load_anchors("default")[:args.anchors]) + "\n")
    times = []
    for _ in range(2):
        started = time.perf_counter()
        name = auto.execute(clip=clip, conditioning=cond, strength=3.0, mode="add", anchors=anchors).result[1]
        times.append(time.perf_counter() - started)
    source = "computed with smollm2-135m" if args.llm or args.anchors else "precomputed"
    print(f"first run (build {name}, shipped pairs, {args.anchors or 'all shipped'} anchors, source side "
          f"{source}): {times[0]:.1f} s")
    print(f"later run (cached, apply only): {times[1]:.3f} s")
    print(f"later / first: {times[1] / times[0]:.5f}")


if __name__ == "__main__":
    main()
