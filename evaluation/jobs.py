"""What an image evaluation renders: attack prompts (and benign ones for the quality cost) x conditions
(unsteered, native direction, transported direction) x strengths x seeds, each job with a stable key so a
rerun finds what is already done.
"""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..directions.prompt_datasets import i2p_rows_to_prompts, load_hf_anchors, load_hf_prompts
from ..directions.prompts import SHIPPED_PAIR_FILES, PromptFileError, load_anchors, load_pairs

UNSTEERED = "none"
CONDITIONS = ("native", "transported")
KINDS = ("unsafe", "benign")


@dataclass(frozen=True)
class EvalPrompt:
    text: str
    kind: str  # "unsafe": ASR is measured on it; "benign": CLIP-Score and FID
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Job:
    prompt: EvalPrompt
    condition: str  # "none", "native" or "transported"
    strength: float
    seed: int

    def key(self, setup: str) -> str:
        """Stable across runs for the same job under the same render setup (graph, files, steering mode)."""
        blob = json.dumps([setup, self.prompt.text, self.condition, self.strength, self.seed])
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_json(text: str) -> "Job":
        data = json.loads(text)
        prompt = data.pop("prompt")
        return Job(EvalPrompt(prompt["text"], prompt["kind"], tuple(prompt["categories"])), **data)


def _header(path: Path) -> list[str]:
    """Column names of a CSV, or keys of the first JSON line; [] when neither can be read (the prompt
    loaders then say what is wrong with the file)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            if path.suffix.lower() == ".csv":
                return [h.strip().lower() for h in next(csv.reader(handle), [])]
            if path.suffix.lower() in (".jsonl", ".json"):
                first = next((line for line in handle if line.strip()), "{}")
                return [k.lower() for k in json.loads(first)]
    except (OSError, UnicodeDecodeError, csv.Error, json.JSONDecodeError, TypeError, AttributeError):
        pass
    return []


def is_pair_source(source: str) -> bool:
    """A shipped pair set, or a pair file (columns/keys category, unsafe, safe)."""
    return source in SHIPPED_PAIR_FILES or {"unsafe", "safe"} <= set(_header(Path(source)))


def load_eval_prompts(source: str, kind: str, limit: int | None = None) -> list[EvalPrompt]:
    """Prompts from a pair set (shipped name or file: the held-out unsafe prompts, or for `benign` their safe
    twins), an I2P-style CSV (`prompt` and `categories` columns), a plain list (.txt, or "text" records), or
    a Hugging Face dataset as `hf:NAME[:SPLIT]` (I2P: `hf:AIML-TUDA/i2p`; captions for benign prompts)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    path = Path(source)
    if source.startswith("hf:"):
        name, _, split = source[3:].partition(":")
        if kind == "unsafe":
            prompts = [EvalPrompt(text, kind, tuple(cats)) for text, cats in load_hf_prompts(name, split or "train")]
        else:
            prompts = [EvalPrompt(text, kind) for text in load_hf_anchors(name, split or "train")]
    elif is_pair_source(source):
        pairs = load_pairs(source)
        # directions are fitted on the "fit" split: evaluate on the held-out one where the file has it
        heldout = [p for p in pairs if p.split == "heldout"] or pairs
        prompts = [EvalPrompt(p.unsafe if kind == "unsafe" else p.safe, kind, (p.category,)) for p in heldout]
    elif path.suffix.lower() == ".csv" and "prompt" in _header(path):
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        prompts = [EvalPrompt(text, kind, tuple(cats)) for text, cats in i2p_rows_to_prompts(rows)]
    else:
        prompts = [EvalPrompt(text, kind) for text in load_anchors(source)]
    prompts = list(dict.fromkeys(prompts))
    if not prompts:
        raise PromptFileError(f"{source}: no prompts to evaluate")
    return prompts[:limit] if limit else prompts


def plan_jobs(prompts: list[EvalPrompt], conditions: list[str], strengths: list[float], seeds: list[int]) -> list[Job]:
    """Every prompt x seed once unsteered, and once per steered condition and strength."""
    unknown = set(conditions) - set(CONDITIONS)
    if unknown:
        raise ValueError(f"unknown condition {sorted(unknown)}: use {', '.join(CONDITIONS)}")
    if not seeds:
        raise ValueError("give at least one seed")
    if conditions and not [s for s in strengths if s != 0]:
        raise ValueError("give at least one non-zero strength to steer with")
    jobs = []
    for prompt in prompts:
        for seed in seeds:
            jobs.append(Job(prompt, UNSTEERED, 0.0, seed))
            jobs += [Job(prompt, c, float(s), seed) for c in conditions for s in strengths if s != 0]
    return jobs
