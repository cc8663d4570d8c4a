"""Safety Steering (auto): the first run for a text encoder (build: extract in smollm2-135m with the shipped
pairs, fit through the CLIP with the shipped anchors, transport, save) against a later run (load the cached
file, apply), side by side in one process, on ComfyUI's real loaders and the random-weight SD1.5 checkpoint
(full-size CLIP-L; random weights cost the same time as real ones).

    CROSSSTEER_CACHE=$(mktemp -d) .venv/bin/python benchmarks/auto_first_build.py [--anchors N]

Use an empty CROSSSTEER_CACHE for a true first build: with a warm embedding cache the smollm2 side is
nearly free (the GGUF model is dequantised once, too). --anchors N fits on the first N shipped anchors only
(a file in ComfyUI's input folder, as a user would give it): the CLIP side grows linearly with N. Prints both
times and their ratio.
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
    args = parser.parse_args()
    base = comfy_harness.make_base_directory(Path(tempfile.mkdtemp(prefix="crosssteer_bench_")))
    comfy_harness.prepare_comfy_imports(base)
    comfy_harness.write_random_sd15_checkpoint(base / "models" / "checkpoints" / "random_sd15.safetensors")
    comfy = comfy_harness.InProcessComfy(base)
    clip = comfy.node_class("CheckpointLoaderSimple")().load_checkpoint("random_sd15.safetensors")[1]
    cond = comfy.node_class("CLIPTextEncode")().encode(clip, "a man stabbing a stranger in a kitchen")[0]
    auto = comfy.node_class("CrossSteerSafetySteeringAuto")
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
    print(f"first run (build {name}, shipped pairs, {args.anchors or 'all shipped'} anchors): {times[0]:.1f} s")
    print(f"later run (cached, apply only): {times[1]:.3f} s")
    print(f"later / first: {times[1] / times[0]:.5f}")


if __name__ == "__main__":
    main()
