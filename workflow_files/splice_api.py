"""Load Safety Direction + Apply Safety Steering spliced into an API-format prompt after each positive encoder."""
from __future__ import annotations

import copy

from .pack_nodes import APPLY, LOAD
from .trace import PositiveEncoder


def next_free_id(prompt: dict) -> int:
    numbers = [int(part) for key in prompt for part in str(key).split(":") if part.isdigit()]
    return max(numbers, default=0) + 1


def splice(prompt: dict, encoders: list[PositiveEncoder], files: dict[str, str], strength: float, mode: str,
           widgets: dict | None = None, names: tuple[str, str] | None = None,
           per_encoder: dict[str, dict] | None = None) -> tuple[dict, dict[str, tuple[str, str]]]:
    """A new prompt (the input is not changed) and {encoder id: (load id, apply id)}. New nodes get the next
    free numbers, or the given `names` (load, apply), numbered from the second encoder on; `per_encoder`
    adds Apply inputs for one encoder (its family)."""
    graph = copy.deepcopy(prompt)
    next_id, added = next_free_id(graph), {}
    for i, encoder in enumerate(encoders):
        if names:
            load_id, apply_id = (f"{n}_{i + 1}" if i else n for n in names)
        else:
            load_id, apply_id = str(next_id), str(next_id + 1)
            next_id += 2
        slot = graph[encoder.edges[0][0]]["inputs"][encoder.edges[0][1]][1]
        graph[load_id] = {"class_type": LOAD, "inputs": {"direction_file": files[encoder.node.id]},
                          "_meta": {"title": "Load Safety Direction"}}
        graph[apply_id] = {"class_type": APPLY, "inputs": {
            "conditioning": [encoder.node.id, slot], "direction": [load_id, 0], "strength": float(strength),
            "mode": mode, "tokens": "content", "gate_threshold": 0.0, **(widgets or {}),
            **(per_encoder or {}).get(encoder.node.id, {})},
            "_meta": {"title": "Apply Safety Steering"}}
        for reader, name in encoder.edges:  # only the positive paths read the steered conditioning
            graph[reader]["inputs"][name] = [apply_id, 0]
        added[encoder.node.id] = (load_id, apply_id)
    return graph, added
