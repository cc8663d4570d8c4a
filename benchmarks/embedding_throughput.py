"""Embedding throughput: a plain per-prompt transformers loop vs the library's HFEncoder, cold and cached.

    .venv/bin/python benchmarks/embedding_throughput.py [--model smollm2-135m] [--n 256] [--layer 15]

(a) loop:   one prompt at a time, model(..., output_hidden_states=True), mean over the chosen layer's tokens
            (the obvious way to do it; it runs the whole model and the LM head whatever the layer).
(b) cold:   HFEncoder.embed_layers with no cache (length-sorted batches, early stop at a middle layer).
(c) cached: the same call reading a temporary EmbeddingCache that an identical first call filled.
Both use the same model object and torch's default thread count. Goals: cold >= 3x faster than the loop;
cached < 5% of cold. The loop runs once: the full forward pass gives every layer at the same cost.
"""
from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

from crosssteer.directions.encoders import EmbeddingCache, load_encoder
from crosssteer.directions.prompts import load_pairs


def shipped_prompts(n: int) -> list[str]:
    """The first n distinct prompts of the shipped pairs (unsafe and safe sides interleaved)."""
    texts = [t for p in load_pairs("default") for t in (p.unsafe, p.safe)]
    texts = list(dict.fromkeys(texts))
    if len(texts) < n:
        raise SystemExit(f"only {len(texts)} shipped prompts, asked for {n}")
    return texts[:n]


@torch.inference_mode()
def plain_loop(model, tokenizer, texts: list[str], layers: list[int]) -> dict[int, torch.Tensor]:
    out: dict[int, list[torch.Tensor]] = {layer: [] for layer in layers}
    for text in texts:
        enc = tokenizer(text, return_tensors="pt")
        states = model(**enc, output_hidden_states=True).hidden_states
        for layer in layers:
            out[layer].append(states[layer][0].mean(0))
    return {layer: torch.stack(v) for layer, v in out.items()}


def timed(fn):
    """(wall seconds, result); the process's CPU seconds go to CPU_SECONDS (a shared machine's wall
    clock also counts other people's work, CPU time does not)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    CPU_SECONDS.append(time.process_time() - cpu)
    return time.perf_counter() - wall, result


CPU_SECONDS: list[float] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--n", type=int, default=256, help="number of prompts")
    parser.add_argument("--layer", type=int, default=15, help="middle layer (the early-stop hook matters there)")
    parser.add_argument("--batch-size", type=int, default=None, help="override HFEncoder.batch_size")
    parser.add_argument("--skip-loop", action="store_true", help="only time the library")
    args = parser.parse_args()

    texts = shipped_prompts(args.n)
    encoder = load_encoder(args.model, use_cache=False)
    if args.batch_size:
        encoder = dataclasses.replace(encoder, batch_size=args.batch_size)
    layers = [encoder.layer_index(args.layer), encoder.num_layers]
    tokens = sum(len(encoder.tokenizer(t)["input_ids"]) for t in texts)
    print(f"{encoder.name}: {len(texts)} prompts ({tokens / len(texts):.1f} tokens on average), "
          f"torch threads {torch.get_num_threads()}, batch size {encoder.batch_size}")

    # warm up both paths once (first calls allocate and pick kernels)
    encoder.embed_layers(texts[:4], [layers[0]])
    plain_loop(encoder.model, encoder.tokenizer, texts[:2], layers)

    loop_s = None
    if not args.skip_loop:
        loop_s, _ = timed(partial(plain_loop, encoder.model, encoder.tokenizer, texts, layers))
        loop_cpu = CPU_SECONDS[-1]
        print(f"(a) plain per-prompt loop (all layers)      {loop_s:8.2f} s   {len(texts) / loop_s:7.1f} prompts/s"
              f"   (CPU {loop_cpu:.2f} s)")

    with tempfile.TemporaryDirectory() as tmp:
        for layer in layers:
            cold_s, _ = timed(partial(encoder.embed_layers, texts, [layer]))
            cold_cpu = CPU_SECONDS[-1]
            cached = dataclasses.replace(encoder, cache=EmbeddingCache(Path(tmp) / f"bench-{layer}.sqlite"))
            fill_s, first = timed(partial(cached.embed_layers, texts, [layer]))
            hit_s, second = timed(partial(cached.embed_layers, texts, [layer]))
            assert torch.equal(first[layer], second[layer]), "the cache returned different vectors"
            label = "middle" if layer != encoder.num_layers else "last"
            print(f"layer {layer} ({label}):")
            print(f"  (b) HFEncoder, batched, no cache         {cold_s:8.2f} s   {len(texts) / cold_s:7.1f} prompts/s"
                  + (f"   {loop_s / cold_s:5.1f}x faster than the loop (goal >= 3x); CPU {cold_cpu:.2f} s, "
                     f"{loop_cpu / cold_cpu:.1f}x" if loop_s else f"   (CPU {cold_cpu:.2f} s)"))
            print(f"      first run filling the cache           {fill_s:8.2f} s")
            print(f"  (c) second run, from the cache            {hit_s:8.3f} s   {100 * hit_s / cold_s:5.2f}% of the cold run "
                  f"(goal < 5%)")


if __name__ == "__main__":
    main()
