"""`crosssteer eval-images`: render, score, report. Each stage reads what the store already has, so a rerun
(after a crash, or with more seeds or strengths) only does what is missing.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from . import graphs, scorers
from .comfy_client import ComfyClient
from .fanout import render_jobs
from .jobs import UNSTEERED, Job, is_pair_source, load_eval_prompts, plan_jobs
from .media import first_frame, frames
from .report import summarize, write_image_report
from .store import ResultStore

@dataclass
class EvalConfig:
    servers: list[str]
    out: Path
    checkpoint: str | None = None
    workflow: str | None = None
    prompts: str = "default"
    benign: str | None = None
    limit: int | None = None
    directions: dict[str, str] = field(default_factory=dict)  # condition -> file in models/safety_directions
    strengths: list[float] = field(default_factory=lambda: [2.0, 4.0, 8.0])
    seeds: list[int] = field(default_factory=lambda: [0])
    mode: str = "add"
    tokens: str = "content"
    gate_threshold: float = 0.0  # the calibrated gate
    width: int = 512
    height: int = 512
    steps: int = 25
    cfg: float = 7.0
    sampler: str = "euler"
    scheduler: str = "normal"
    evaluators: list[str] = field(default_factory=lambda: ["nudenet", "opennsfw"])
    nudenet_threshold: float = scorers.NUDENET_THRESHOLD
    clip_model: str | None = None
    fid: bool = False
    fid_reference: str | None = None
    timeout: float = 600.0
    ray_address: str | None = None


def template_for(config: EvalConfig) -> dict:
    if (config.checkpoint is None) == (config.workflow is None):
        raise ValueError("give either --checkpoint (an all-in-one SD1.5/SDXL/SD3 file) or --workflow (a workflow file)")
    if config.workflow:  # a UI-format file is converted with the first server's node definitions
        return graphs.load_workflow(config.workflow, lambda: ComfyClient(config.servers[0]).object_info())
    return graphs.checkpoint_graph(config.checkpoint, width=config.width, height=config.height, steps=config.steps,
                                   cfg=config.cfg, sampler=config.sampler, scheduler=config.scheduler)


def plan(config: EvalConfig) -> tuple[dict, dict[str, Job]]:
    """The template and every job by key."""
    if not config.servers:
        raise ValueError("give at least one --server")
    template = template_for(config)
    prompts = load_eval_prompts(config.prompts, "unsafe", config.limit)
    benign_source = config.benign or (config.prompts if is_pair_source(config.prompts) else None)
    if benign_source:
        prompts += load_eval_prompts(benign_source, "benign", config.limit)
    elif config.fid:
        raise ValueError("FID compares benign renders: give --benign prompts (e.g. captions), or pair-file --prompts")
    if not config.evaluators:
        raise ValueError("give at least one evaluator (--evaluators nudenet,opennsfw)")
    jobs = plan_jobs(prompts, list(config.directions), config.strengths, config.seeds)
    setup = json.dumps([template, config.directions, config.mode, config.tokens, config.gate_threshold], sort_keys=True)
    setup = hashlib.sha256(setup.encode()).hexdigest()
    return template, {job.key(setup): job for job in jobs}


def _check_before_rendering(config: EvalConfig, template: dict, clip: Callable | None, fid_feature):
    """Everything that would otherwise fail after hours of rendering: evaluators, CLIP and FID models, and
    each server's nodes, model names and direction files. Returns the scorers and the CLIP loader."""
    scorer_list = scorers.make_scorers(config.evaluators, nudenet_threshold=config.nudenet_threshold)
    clip = clip or (scorers.load_clip(config.clip_model) if config.clip_model else None)
    if config.fid:
        scorers.fid_metric(fid_feature)
    for url in config.servers:
        graphs.check_server(ComfyClient(url).object_info(), template, list(config.directions.values()), url)
    return scorer_list, clip


def dry_run(config: EvalConfig) -> dict:
    """What `run_eval` would render, checked as it would be, without rendering anything."""
    template, jobs = plan(config)
    _check_before_rendering(config, template, None, fid_feature=2048)
    store_file = Path(config.out) / "results.sqlite"
    done = set()
    if store_file.is_file():
        store = ResultStore(Path(config.out))
        done = store.done_keys() & set(jobs)
        store.close()
    prompts = {job.prompt for job in jobs.values()}
    return {"jobs": len(jobs), "done": len(done), "servers": len(config.servers), "seeds": len(config.seeds),
            "attack_prompts": sum(p.kind == "unsafe" for p in prompts),
            "benign_prompts": sum(p.kind == "benign" for p in prompts),
            "settings": len({(job.condition, job.strength) for job in jobs.values()})}


def run_eval(config: EvalConfig, progress: Callable[[str, int, int], None] | None = None, *,
             clip: Callable | None = None, fid_feature=2048) -> dict:
    """Render (resuming), score with every evaluator, measure CLIP-Score and FID where asked, write the report.
    `clip` (a torchmetrics model callable) and `fid_feature` (a feature module) replace the downloaded models."""
    template, jobs = plan(config)
    scorer_list, clip = _check_before_rendering(config, template, clip, fid_feature)
    out = Path(config.out)
    store = ResultStore(out)
    try:
        def make_graph(job: Job) -> dict:
            file = config.directions.get(job.condition)
            return graphs.job_graph(template, job.prompt.text, job.seed, file, job.strength, mode=config.mode,
                                    tokens=config.tokens, gate_threshold=config.gate_threshold)

        counts = render_jobs(jobs, make_graph, config.servers, store, timeout=config.timeout,
                             ray_address=config.ray_address, progress=progress)
        renders = store.renders(set(jobs))
        for scorer in scorer_list:
            _score_images(store, renders, scorer, progress)
        if clip is not None:
            _clip_scores(store, renders, clip, progress)
        fid = _fid(store, renders, config, fid_feature) if config.fid else {}
        summary = summarize(renders, store.scores(set(jobs)), fid, evaluators=[s.name for s in scorer_list],
                            nudenet_threshold=config.nudenet_threshold)
        summary["setup"] = {k: v for k, v in asdict(config).items() if k not in ("out",)}
        summary["counts"] = {**counts, "jobs": len(jobs), "failed_jobs": [
            {"prompt": f["job"].prompt.text, "condition": f["job"].condition, "error": f["error"]}
            for f in store.failures() if f["key"] in jobs]}
        write_image_report(summary, renders, store.images, out)
        return summary
    finally:
        store.close()


def _score_images(store: ResultStore, renders: list[dict], scorer, progress) -> None:
    done = store.scored(scorer.name)
    todo = [(r["key"], name) for r in renders for name in r["images"] if (r["key"], name) not in done]
    for i, (key, name) in enumerate(todo, start=1):
        results = [scorer.score(frame) for frame in frames(store.images / name)]
        worst = max(results, key=lambda r: r["score"])
        store.record_scores(scorer.name, [(key, name, worst["score"], worst["unsafe"], worst["classes"])])
        if progress:
            progress(scorer.name, i, len(todo))


def _clip_scores(store: ResultStore, renders: list[dict], clip: Callable, progress) -> None:
    done = store.scored("clip")
    todo = [(r, name) for r in renders for name in r["images"] if (r["key"], name) not in done]
    batch = 16
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        images = [first_frame(store.images / name) for _, name in chunk]
        values = scorers.clip_scores(images, [r["job"].prompt.text for r, _ in chunk], clip)
        store.record_scores("clip", [(r["key"], name, v, None, {}) for (r, name), v in zip(chunk, values)])
        if progress:
            progress("clip-score", min(start + batch, len(todo)), len(todo))


def _fid(store: ResultStore, renders: list[dict], config: EvalConfig, feature) -> dict:
    """FID of each steered setting's benign images against the unsteered ones of the same prompts and seeds
    (how far steering moves harmless outputs), or against --fid-reference images when given."""
    benign = [r for r in renders if r["job"].prompt.kind == "benign"]
    groups: dict[tuple[str, float], list] = {}
    for r in benign:
        groups.setdefault((r["job"].condition, r["job"].strength), []).extend(
            first_frame(store.images / name) for name in r["images"])
    if config.fid_reference:
        reference = [first_frame(p) for p in sorted(Path(config.fid_reference).iterdir())
                     if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")]
        against = "reference"
    else:
        reference, against = groups.get((UNSTEERED, 0.0), []), "unsteered"
    result = {}
    for (condition, strength), images in sorted(groups.items()):
        if against == "unsteered" and condition == UNSTEERED:
            continue
        entry = {"fid": None, "n": len(images), "n_reference": len(reference), "against": against}
        if min(len(images), len(reference)) >= 2:  # a covariance needs two images a side
            entry["fid"] = scorers.fid(reference, images, feature=feature)
        result[f"{condition}@{strength:g}"] = entry
    return result
