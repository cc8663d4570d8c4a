"""A UI-format workflow as the API-format prompt `{id: {class_type, inputs, _meta}}` that `/prompt` accepts,
with widget values placed by the node definitions of the server that will run it (`/object_info`)."""
from __future__ import annotations

from typing import Any

from .errors import WorkflowError
from .node_defs import widget_values
from .ui_graph import Workflow


def to_api(data: dict, object_info: dict) -> dict:
    wf = data if isinstance(data, Workflow) else Workflow(data)
    prompt = {}
    for container, node in wf.placed_nodes():
        kind = node["type"]
        path = container.path(node["id"])
        if kind not in object_info:
            raise WorkflowError(f"node {path}: type {kind!r} is not installed (not in /object_info){container.where()}")
        info = object_info[kind]
        inputs: dict[str, Any] = dict(widget_values(node, info))
        for name, source in wf.inputs(container, node):
            if source.has_value:
                inputs[name] = source.value
            elif source.node is not None:
                inputs[name] = [source.node, source.slot]
            elif name not in inputs or _is_socket(node, name):
                inputs.pop(name, None)  # an unconnected reroute or a dead branch: the input stays empty
        prompt[path] = {"class_type": kind, "inputs": inputs,
                        "_meta": {"title": node.get("title") or info.get("display_name") or kind}}
    return prompt


def _is_socket(node: dict, name: str) -> bool:
    return not any(e.get("name") == name and e.get("widget") for e in node.get("inputs") or [])
