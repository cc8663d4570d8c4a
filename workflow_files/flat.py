"""One flat view of a workflow for tracing, whatever its format: nodes by id, each input's link by
name. UI workflows are flattened through their subgraphs (ids `instance:inner`, as ComfyUI's API export
writes them), and each link remembers the UI link (`hop`) it leaves its source node by."""
from __future__ import annotations

from dataclasses import dataclass, field

from .ui_graph import Workflow


@dataclass
class FlatNode:
    id: str
    type: str
    links: dict[str, tuple[str, int]] = field(default_factory=dict)  # input -> (source id, output slot)
    hops: dict[str, tuple] = field(default_factory=dict)  # input -> (container, UI link id) leaving the source
    strings: list[str] = field(default_factory=list)  # its text widgets, to describe a loader
    title: str | None = None

    def label(self) -> str:
        return f"node {self.id} ({self.type}{': ' + self.title if self.title and self.title != self.type else ''})"


def from_api(prompt: dict) -> dict[str, FlatNode]:
    nodes = {}
    for node_id, node in prompt.items():
        flat = FlatNode(str(node_id), node["class_type"], title=(node.get("_meta") or {}).get("title"))
        for name, value in node["inputs"].items():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
                flat.links[name] = (str(value[0]), value[1])
            elif isinstance(value, str):
                flat.strings.append(value)
        nodes[flat.id] = flat
    return nodes


def from_ui(wf: Workflow) -> dict[str, FlatNode]:
    nodes = {}
    for container, node in wf.placed_nodes():
        values = node.get("widgets_values")
        strings = [v for v in (values.values() if isinstance(values, dict) else values or []) if isinstance(v, str)]
        flat = FlatNode(container.path(node["id"]), node["type"], strings=strings, title=node.get("title"))
        for name, source in wf.inputs(container, node):
            if source.node is not None:
                flat.links[name] = (source.node, source.slot)
                flat.hops[name] = source.hop
        nodes[flat.id] = flat
    return nodes


def readers(nodes: dict[str, FlatNode], source: str, slot: int | None = None) -> list[tuple[FlatNode, str]]:
    """(node, input name) of every input linked to this node (output `slot`, or any)."""
    return [(n, name) for n in nodes.values() for name, (src, s) in n.links.items()
            if src == source and (slot is None or s == slot)]
