"""Apply Safety Steering vs ComfyUI's own ConditioningAverage, side by side in one run.

    .venv/bin/python benchmarks/apply_steering.py [--calls 22] [--shapes 1x512x4096,2x512x4096,1x77x768]

Both nodes run in-process in the provisioned ComfyUI (its real node registry, this pack loaded by its
custom-node loader) on the same [batch, tokens, width] float16 CONDITIONING, one thread, median of `--calls`
calls after one warm-up each. ConditioningAverage (to_strength 0.5) is the reference: the cheapest
elementwise edit of a conditioning ComfyUI ships. Apply runs in each mode (add, gated, ablate) with a
calibrated direction of the conditioning's width (global + 7 category vectors). The calls of the four
nodes take turns (reference, add, gated, ablate, reference, ...), so a change in the machine's load during
the run reaches all of them alike. Goals, for every shape, on the wall-clock medians: add <= 1.5x, gated
and ablate <= 2x. The CPU time of the calling thread is printed beside them: on a shared machine the
wall clock also counts the time a call waited for a CPU, the CPU time does not. The first
shape is the issue's (a T5-XXL-wide conditioning); the last, SD1.5's, is so small that the reference
takes tens of microseconds and Apply's fixed per-call cost dominates.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import comfy_harness

GOALS = {"add": 1.5, "gated": 2.0, "ablate": 2.0}


def median_seconds(calls: dict, rounds: int) -> dict[str, tuple[float, float]]:
    """{name: (median wall-clock seconds, median CPU seconds of this thread)} of `rounds` calls of each, in
    turns, after one warm-up call each (first-call allocations and lazy imports)."""
    for call in calls.values():
        call()
    times = {name: ([], []) for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            wall, cpu = time.perf_counter(), time.thread_time()
            call()
            times[name][1].append(time.thread_time() - cpu)
            times[name][0].append(time.perf_counter() - wall)
    return {name: (statistics.median(w), statistics.median(c)) for name, (w, c) in times.items()}


def calibrated_direction(width: int):
    from crosssteer.directions.pipeline import calibrate_direction
    from crosssteer.directions.prompts import CATEGORIES
    from crosssteer.directions.safety_direction import SafetyDirection
    from crosssteer.directions.space import Standardizer

    g = torch.Generator().manual_seed(0)
    vectors = {n: torch.nn.functional.normalize(torch.randn(width, generator=g), dim=0) for n in ("global", *CATEGORIES)}
    std = Standardizer(mean=torch.randn(width, generator=g) * 0.1, std=torch.rand(width, generator=g) + 0.5)
    direction = SafetyDirection(vectors=vectors, standardizer=std, meta={"space": "target", "target": {"width": width}})
    return calibrate_direction(direction, torch.randn(512, width, generator=g))


def shape(text: str) -> tuple[int, int, int]:
    try:
        batch, tokens, width = (int(n) for n in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not BATCHxTOKENSxWIDTH, e.g. 1x512x4096") from None
    return batch, tokens, width


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=22)
    parser.add_argument("--shapes", type=lambda s: [shape(t) for t in s.split(",")],
                        default=[(1, 512, 4096), (2, 512, 4096), (1, 77, 768)])
    args = parser.parse_args()
    torch.set_num_threads(1)

    print(f"float16, one thread, median of {args.calls} calls each in turns; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        comfy = comfy_harness.InProcessComfy(comfy_harness.make_base_directory(Path(tmp)))
        average = comfy.node_class("ConditioningAverage")()
        apply = comfy.node_class("CrossSteerApplySafetySteering")
        for batch, tokens, width in args.shapes:
            g = torch.Generator().manual_seed(1)
            x = torch.randn(batch, tokens, width, generator=g).half()
            other = torch.randn(batch, tokens, width, generator=g).half()
            cond, cond_from = [[x, {}]], [[other, {}]]
            direction = calibrated_direction(width)

            calls = {"ConditioningAverage": lambda: average.addWeighted(cond, cond_from, 0.5)}
            for mode in GOALS:
                calls[mode] = lambda mode=mode: apply.execute(conditioning=cond, direction=direction, strength=3.0,
                                                              mode=mode, tokens="content", gate_threshold=0.0)
            seconds = median_seconds(calls, args.calls)
            reference, reference_cpu = seconds.pop("ConditioningAverage")
            print(f"[{batch}, {tokens}, {width}]{'wall clock':>37}{'CPU time':>14}")
            print(f"  {'ConditioningAverage':<30}{reference * 1e3:>9.3f} ms  1.00x{reference_cpu * 1e3:>9.3f} ms  1.00x")
            for mode, goal in GOALS.items():
                wall, cpu = seconds[mode]
                ratio = wall / reference
                failed += [(mode, (batch, tokens, width))] if ratio > goal else []
                verdict = "ok" if ratio <= goal else "OVER GOAL"
                print(f"  {'Apply Safety Steering ' + mode:<30}{wall * 1e3:>9.3f} ms {ratio:5.2f}x"
                      f"{cpu * 1e3:>9.3f} ms {cpu / reference_cpu:5.2f}x  (goal <= {goal}x: {verdict})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
