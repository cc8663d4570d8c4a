"""Apply Safety Steering vs ComfyUI's own ConditioningAverage, side by side in one run.

    .venv/bin/python benchmarks/apply_steering.py [--calls 22] [--tokens 512] [--width 4096]

Both nodes run in-process in the provisioned ComfyUI (its real node registry, this pack loaded by its
custom-node loader) on the same [1, tokens, width] float16 CONDITIONING, one thread, median of `--calls`
calls after one warm-up each. ConditioningAverage (to_strength 0.5) is the reference: the cheapest
elementwise edit of a conditioning ComfyUI ships. Apply runs in each mode (add, gated, ablate) with a
calibrated 4096-wide direction (global + 7 category vectors). Goals: add <= 1.5x, gated and ablate <= 2x.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import comfy_harness

GOALS = {"add": 1.5, "gated": 2.0, "ablate": 2.0}


def median_seconds(call, calls: int) -> float:
    call()  # warm-up: first-call allocations and lazy imports
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def calibrated_direction(width: int):
    from crosssteer.directions.artifact import SafetyDirection
    from crosssteer.directions.pipeline import calibrate_direction
    from crosssteer.directions.prompts import CATEGORIES
    from crosssteer.directions.space import Standardizer

    g = torch.Generator().manual_seed(0)
    vectors = {n: torch.nn.functional.normalize(torch.randn(width, generator=g), dim=0) for n in ("global", *CATEGORIES)}
    std = Standardizer(mean=torch.randn(width, generator=g) * 0.1, std=torch.rand(width, generator=g) + 0.5)
    direction = SafetyDirection(vectors=vectors, standardizer=std, meta={"space": "target", "target": {"width": width}})
    return calibrate_direction(direction, torch.randn(512, width, generator=g))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=22)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--width", type=int, default=4096)
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        comfy = comfy_harness.InProcessComfy(comfy_harness.make_base_directory(Path(tmp)))
        average = comfy.node_class("ConditioningAverage")()
        apply = comfy.node_class("CrossSteerApplySafetySteering")
        g = torch.Generator().manual_seed(1)
        x = torch.randn(1, args.tokens, args.width, generator=g).half()
        other = torch.randn(1, args.tokens, args.width, generator=g).half()
        cond, cond_from = [[x, {}]], [[other, {}]]
        direction = calibrated_direction(args.width)

        reference = median_seconds(lambda: average.addWeighted(cond, cond_from, 0.5), args.calls)
        print(f"[1, {args.tokens}, {args.width}] float16, one thread, median of {args.calls} calls")
        print(f"{'ConditioningAverage':<28}{reference * 1e3:>9.2f} ms   1.00x")
        failed = []
        for mode, goal in GOALS.items():
            def steer(mode: str = mode):
                return apply.execute(conditioning=cond, direction=direction, strength=3.0, mode=mode,
                                     tokens="content", gate_threshold=0.0)

            seconds = median_seconds(steer, args.calls)
            ratio = seconds / reference
            verdict = "ok" if ratio <= goal else "OVER GOAL"
            failed += [mode] if ratio > goal else []
            print(f"{'Apply Safety Steering ' + mode:<28}{seconds * 1e3:>9.2f} ms  {ratio:5.2f}x  (goal <= {goal}x: {verdict})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
