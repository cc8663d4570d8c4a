"""The graph each evaluation job sends: a template with a `{prompt}` placeholder, the job's prompt and seed
filled in, and (for steered jobs) Load Safety Direction + Apply Safety Steering spliced in after every
positive text encoder. Works for any family: the template is the user's own workflow (UI format,
converted with the server's `/object_info`, or API format; bare or in an envelope), or the standard
checkpoint graph built here. Reading, tracing and splicing are the ones of `crosssteer add-steering`.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

from ..workflow_files import envelope, flat, splice_api, trace
from ..workflow_files.add_steering import assign_directions
from ..workflow_files.core_nodes import TEXT_ENCODERS
from ..workflow_files.errors import WorkflowError
from ..workflow_files.ui_to_api import to_api

PLACEHOLDER = "{prompt}"
SEED_INPUTS = ("seed", "noise_seed")
LOAD_NODE, APPLY_NODE = "crosssteer_load", "crosssteer_apply"  # ids of the spliced nodes (then _2, _3 ...)

__all__ = ["WorkflowError", "checkpoint_graph", "load_workflow", "job_graph", "check_server"]


def checkpoint_graph(checkpoint: str, *, width: int = 512, height: int = 512, steps: int = 25, cfg: float = 7.0,
                     sampler: str = "euler", scheduler: str = "normal", negative: str = "") -> dict:
    """Load an all-in-one checkpoint (SD1.5, SDXL, SD3 ...), encode, sample, decode, save."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": PLACEHOLDER, "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": negative, "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": height, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "seed": 0,
            "steps": steps, "cfg": cfg, "sampler_name": sampler, "scheduler": scheduler, "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "crosssteer_eval/img"}},
    }


def load_workflow(path: str | Path, object_info: Callable[[], dict] | None = None) -> dict:
    """A workflow whose positive prompt reads `{prompt}`, as an API-format template. A UI-format file (what
    ComfyUI saves) is converted with `object_info()` (the server's /object_info), so its widget values land
    on the inputs of the nodes that server has."""
    doc = envelope.read(path)
    graph = doc.workflow
    if doc.format == envelope.UI:
        if object_info is None:
            raise WorkflowError(f"{path} is in ComfyUI's UI format: it is converted with a server's /object_info "
                                "(give --server), or export it with Workflow > Export (API)")
        graph = to_api(graph, object_info())
    encoders = {e.clip for e in positives(graph)}
    if len(encoders) > 1:
        raise WorkflowError(f"the positive prompts of {path} use {len(encoders)} text encoders ({'; '.join(sorted(encoders))}), "
                            "and a direction file fits one: eval-images takes one file per condition, so evaluate "
                            "a workflow with one text encoder (e.g. SDXL without the refiner)")
    prompt_nodes(graph)
    seed_inputs(graph)
    return graph


def positives(graph: dict) -> list[trace.PositiveEncoder]:
    return trace.positive_encoders(flat.from_api(graph))


def prompt_nodes(graph: dict) -> list[str]:
    """The nodes whose text holds the placeholder (several positives may share it; none may be a negative)."""
    found = [node_id for node_id, node in graph.items()
             if any(isinstance(v, str) and PLACEHOLDER in v for v in node["inputs"].values())]
    if not found:
        raise WorkflowError(f"write {PLACEHOLDER} in the positive prompt's text box (no node holds it)")
    positive = {e.node.id for e in positives(graph)}
    negative = [n for n in found if graph[n]["class_type"] in TEXT_ENCODERS and n not in positive]
    if negative:
        raise WorkflowError(f"{PLACEHOLDER} is in node {', '.join(negative)}, a text encoder that is no positive "
                            "prompt (a negative?): write it only where the prompt goes")
    return found


def seed_inputs(graph: dict) -> list[tuple[str, str]]:
    found = [(node_id, name) for node_id, node in graph.items() for name in SEED_INPUTS
             if isinstance(node["inputs"].get(name), int)]
    if not found:
        raise WorkflowError("the workflow has no seed widget (KSampler seed, RandomNoise noise_seed): "
                            "evaluation varies the seed, so it needs one")
    return found


def job_graph(template: dict, text: str, seed: int, direction_file: str | None = None, strength: float = 0.0,
              *, mode: str = "add", tokens: str = "content", gate_threshold: float = 0.0) -> dict:
    """A new graph (the template is not changed) for one prompt and seed, steered when a direction is given:
    every positive text encoder gets Apply Safety Steering, negatives keep their own conditioning."""
    graph = copy.deepcopy(template)
    for node_id in prompt_nodes(graph):
        for name, value in graph[node_id]["inputs"].items():
            if isinstance(value, str) and PLACEHOLDER in value:
                graph[node_id]["inputs"][name] = value.replace(PLACEHOLDER, text)
    for node_id, name in seed_inputs(graph):
        graph[node_id]["inputs"][name] = int(seed)
    if direction_file is None:
        return graph
    encoders = positives(graph)
    files = assign_directions(encoders, direction_file, {})
    steered, _added = splice_api.splice(graph, encoders, files, strength, mode,
                                        widgets={"tokens": tokens, "gate_threshold": float(gate_threshold)},
                                        names=(LOAD_NODE, APPLY_NODE))
    return steered


def check_server(object_info: dict, template: dict, direction_files: list[str], url: str) -> None:
    """Refuse early, per server, what would fail every job: missing nodes, models or direction files."""
    needed = {node["class_type"] for node in template.values()}
    if direction_files:
        needed |= {"CrossSteerLoadSafetyDirection", "CrossSteerApplySafetySteering"}
    missing = sorted(needed - set(object_info))
    if missing:
        hint = " (install the CrossSteer pack there)" if any(m.startswith("CrossSteer") for m in missing) else ""
        raise WorkflowError(f"{url} lacks the node types {', '.join(missing)}{hint}")
    for node_id, node in template.items():
        spec = object_info[node["class_type"]]["input"]
        for name, value in node["inputs"].items():
            options = _combo_options({**spec.get("required", {}), **spec.get("optional", {})}.get(name))
            if options is not None and isinstance(value, str) and value not in options:
                raise WorkflowError(f"{url}: node {node_id} ({node['class_type']}) {name} = {value!r} is not on that "
                                    f"server (it has {', '.join(map(str, options[:8])) or 'none'})")
    if direction_files:
        known = _combo_options(object_info["CrossSteerLoadSafetyDirection"]["input"]["required"]["direction_file"]) or []
        for file in direction_files:
            if file not in known:
                raise WorkflowError(f"{url} has no {file} in models/safety_directions: copy it there (it has "
                                    f"{', '.join(known[:8]) or 'none'})")


def _combo_options(spec) -> list | None:
    if not isinstance(spec, list) or not spec:
        return None
    if isinstance(spec[0], list):  # V1 combo: [[options], {...}]
        return spec[0]
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):  # V3 combo
        return spec[1].get("options")
    return None
