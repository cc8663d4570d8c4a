"""The graph each evaluation job sends: a template with a `{prompt}` placeholder, the job's prompt and seed
filled in, and (for steered jobs) Load Safety Direction + Apply Safety Steering spliced in after the
prompt's text encoder. Works for any family: the template is the user's own API-format workflow, or the
standard checkpoint graph built here.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

PLACEHOLDER = "{prompt}"
SEED_INPUTS = ("seed", "noise_seed")
LOAD_NODE, APPLY_NODE = "crosssteer_load", "crosssteer_apply"


class WorkflowError(ValueError):
    """A workflow template that cannot be used for evaluation; the message says how to fix it."""


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


def load_workflow(path: str | Path) -> dict:
    """An API-format workflow (ComfyUI: Workflow > Export (API)) whose positive prompt reads `{prompt}`."""
    try:
        graph = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise WorkflowError(f"{path}: not a readable JSON workflow ({err})") from None
    if isinstance(graph, dict) and "nodes" in graph and "links" in graph:
        raise WorkflowError(f"{path} is in ComfyUI's UI format: export it with Workflow > Export (API)")
    if not isinstance(graph, dict) or not graph or not all(
            isinstance(n, dict) and "class_type" in n and isinstance(n.get("inputs"), dict) for n in graph.values()):
        raise WorkflowError(f"{path}: not an API-format workflow ({{node id: {{class_type, inputs}}}})")
    prompt_node(graph)
    seed_inputs(graph)
    return graph


def prompt_node(graph: dict) -> str:
    """The one node whose text input holds the placeholder: its output 0 is the conditioning to steer."""
    found = [node_id for node_id, node in graph.items()
             if any(isinstance(v, str) and PLACEHOLDER in v for v in node["inputs"].values())]
    if len(found) != 1:
        where = f"nodes {', '.join(found)} all hold it" if found else "no node holds it"
        raise WorkflowError(f"write {PLACEHOLDER} in the positive prompt's text box, and only there ({where})")
    return found[0]


def seed_inputs(graph: dict) -> list[tuple[str, str]]:
    found = [(node_id, name) for node_id, node in graph.items() for name in SEED_INPUTS
             if isinstance(node["inputs"].get(name), int)]
    if not found:
        raise WorkflowError("the workflow has no seed widget (KSampler seed, RandomNoise noise_seed): "
                            "evaluation varies the seed, so it needs one")
    return found


def job_graph(template: dict, text: str, seed: int, direction_file: str | None = None, strength: float = 0.0,
              *, mode: str = "add", tokens: str = "content", gate_threshold: float = 1.0) -> dict:
    """A new graph (the template is not changed) for one prompt and seed, steered when a direction is given."""
    graph = copy.deepcopy(template)
    encoder = prompt_node(graph)
    for name, value in graph[encoder]["inputs"].items():
        if isinstance(value, str) and PLACEHOLDER in value:
            graph[encoder]["inputs"][name] = value.replace(PLACEHOLDER, text)
    for node_id, name in seed_inputs(graph):
        graph[node_id]["inputs"][name] = int(seed)
    if direction_file is None:
        return graph
    for node_id, node in graph.items():  # every reader of the prompt's conditioning now reads the steered one
        for name, value in node["inputs"].items():
            if isinstance(value, list) and value == [encoder, 0]:
                node["inputs"][name] = [APPLY_NODE, 0]
    graph[LOAD_NODE] = {"class_type": "CrossSteerLoadSafetyDirection", "inputs": {"direction_file": direction_file}}
    graph[APPLY_NODE] = {"class_type": "CrossSteerApplySafetySteering", "inputs": {
        "conditioning": [encoder, 0], "direction": [LOAD_NODE, 0], "strength": float(strength), "mode": mode,
        "tokens": tokens, "gate_threshold": float(gate_threshold)}}
    return graph


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
