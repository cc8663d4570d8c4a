"""ComfyUI's UI format ("version": 0.4) as a graph: nodes, links, and subgraphs, with every link followed
to the node that really produces its value, as the frontend does when it queues a prompt.

Links are `[id, origin_id, origin_slot, target_id, target_slot, type]` at the top level and
`{"id", "origin_id", ...}` objects inside subgraph definitions; slots index the nodes' `inputs` /
`outputs` lists. Frontend-only nodes never reach the server: Note and MarkdownNote carry text, a
Reroute is followed to its source, a PrimitiveNode's value is written into the widget it drives.
Muted nodes (mode 2) are dropped; bypassed ones (mode 4) pass their first input of the output's type
through. A subgraph instance (a node whose type is the id of an entry of `definitions.subgraphs`) is
flattened: its inner nodes get the ids ComfyUI's API export gives them, `instance:inner` (nested
`outer:instance:inner`); links from the subgraph's input node (id -10) continue at the instance's
input or take the value of its promoted widget, links to its output node (id -20) continue inside.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import WorkflowError
from .node_defs import WIDGET_TYPES

NOTE_TYPES = {"Note", "MarkdownNote"}
FRONTEND_ONLY = NOTE_TYPES | {"Reroute", "PrimitiveNode"}
MUTED, BYPASSED = 2, 4
SUBGRAPH_INPUT, SUBGRAPH_OUTPUT = -10, -20


def is_ui_format(data) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def _link_tuple(link) -> tuple[int, int, int, int, int, str]:
    if isinstance(link, dict):  # the schema-1 form (and every link inside a subgraph definition)
        link = [link["id"], link["origin_id"], link["origin_slot"], link["target_id"], link["target_slot"],
                link.get("type")]
    link_id, origin, oslot, target, tslot, kind = link[:6]
    return int(link_id), int(origin), int(oslot), int(target), int(tslot), kind


@dataclass(eq=False)  # compared and hashed by identity
class Container:
    """The top-level graph or one instance of a subgraph: its nodes and links, and where it sits."""

    data: dict                           # the workflow (top level) or the subgraph definition
    prefix: str = ""                     # "" at the top level, "75:" inside instance 75
    instance: dict | None = None         # the subgraph instance node, in the parent
    parent: Container | None = None
    nodes: dict[int, dict] = field(default_factory=dict)
    links: dict[int, tuple] = field(default_factory=dict)

    def __post_init__(self):
        for node in self.data.get("nodes") or []:
            if int(node["id"]) in self.nodes:
                raise WorkflowError(f"two nodes share the id {node['id']}{self.where()}")
            self.nodes[int(node["id"])] = node
        for raw in self.data.get("links") or []:
            if raw is None:
                continue
            link = _link_tuple(raw)
            for end in (link[1], link[3]):
                if end not in self.nodes and end not in (SUBGRAPH_INPUT, SUBGRAPH_OUTPUT):
                    raise WorkflowError(f"link {link[0]} joins missing nodes {link[1]} -> {link[3]}{self.where()}")
            self.links[link[0]] = link

    def where(self) -> str:
        return f" (inside subgraph {self.data.get('name') or self.data.get('id')!r})" if self.instance else ""

    def path(self, node_id: int) -> str:
        return f"{self.prefix}{node_id}"


@dataclass(frozen=True)
class Source:
    """What a link delivers: a real node's output (`node`, `slot`, and `hop`, the link that leaves that node,
    in its own container), or a value (a PrimitiveNode's, a promoted widget's), or nothing (`node` None)."""

    node: str | None = None
    slot: int = 0
    hop: tuple[Container, int] | None = None
    value: Any = None
    has_value: bool = False


NOTHING = Source()


class Workflow:
    """A UI-format workflow, its subgraphs flattened on demand."""

    def __init__(self, data: dict):
        if not is_ui_format(data):
            raise WorkflowError("not a UI-format workflow (no 'nodes' / 'links')")
        self.data = data
        self.definitions = {sg["id"]: sg for sg in (data.get("definitions") or {}).get("subgraphs") or []}
        self.root = Container(data)
        self.containers: dict[str, Container] = {}
        self._index(self.root, depth=0)

    def _index(self, container: Container, depth: int) -> None:
        if depth > 32:
            raise WorkflowError("subgraphs nested more than 32 deep (a subgraph that contains itself?)")
        self.containers[container.prefix] = container
        for node in container.nodes.values():
            if node.get("type") in self.definitions and node.get("mode") not in (MUTED, BYPASSED):
                child = Container(self.definitions[node["type"]], f"{container.path(node['id'])}:", node, container)
                self._index(child, depth + 1)

    # ------------------------------------------------------------------ nodes
    @property
    def nodes(self) -> dict[int, dict]:
        """The top-level nodes by id."""
        return self.root.nodes

    @property
    def links(self) -> dict[int, tuple[int, int, int, int, str]]:
        """The top-level links: id -> (origin, origin slot, target, target slot, type)."""
        return {link_id: link[1:] for link_id, link in self.root.links.items()}

    def real_nodes(self) -> Iterator[dict]:
        """Every node the server would run, at the top level and inside subgraphs."""
        for _container, node in self.placed_nodes():
            yield node

    def placed_nodes(self) -> Iterator[tuple[Container, dict]]:
        """(container, node) of every node the server would run (not frontend-only, muted, bypassed or a
        subgraph instance)."""
        for container in self.containers.values():
            for node in container.nodes.values():
                if node.get("type") in FRONTEND_ONLY or node.get("type") in self.definitions:
                    continue
                if node.get("mode") in (MUTED, BYPASSED):
                    continue
                yield container, node

    def is_subgraph(self, node: dict) -> bool:
        return node.get("type") in self.definitions

    # ------------------------------------------------------------------ links
    def inputs(self, container: Container, node: dict) -> Iterator[tuple[str, Source]]:
        """(input name, source) of each linked input of a node."""
        for entry in node.get("inputs") or []:
            if entry.get("link") is not None:
                yield entry["name"], self.source(container, int(entry["link"]))

    def source(self, container: Container, link_id: int, _seen: frozenset = frozenset()) -> Source:
        """Where a link's value really comes from, through reroutes, bypassed nodes and subgraph borders."""
        key = (container.prefix, link_id)
        if key in _seen:
            raise WorkflowError(f"link {link_id} loops through reroutes / bypassed nodes{container.where()}")
        seen = _seen | {key}
        if link_id not in container.links:
            raise WorkflowError(f"a node input names link {link_id}, which does not exist{container.where()}")
        _id, origin, oslot, _target, _tslot, kind = container.links[link_id]
        if origin == SUBGRAPH_INPUT:
            return self._from_instance(container, oslot, seen)
        node = container.nodes[origin]
        if node.get("type") == "PrimitiveNode":
            return Source(value=(node.get("widgets_values") or [None])[0], has_value=True)
        if node.get("mode") == MUTED:
            return NOTHING
        if node.get("type") == "Reroute" or node.get("mode") == BYPASSED:
            upstream = self._pass_through(node, oslot, kind)
            return NOTHING if upstream is None else self.source(container, upstream, seen)
        if self.is_subgraph(node):
            child = self.containers[f"{container.path(origin)}:"]
            for link in child.links.values():
                if link[3] == SUBGRAPH_OUTPUT and link[4] == oslot:
                    return self.source(child, link[0], seen)
            return NOTHING
        return Source(node=container.path(origin), slot=oslot, hop=(container, link_id))

    def _from_instance(self, container: Container, slot: int, seen: frozenset) -> Source:
        """A subgraph input: the instance's own input link, or its promoted widget's value."""
        declared = (container.data.get("inputs") or [])
        if slot >= len(declared):
            raise WorkflowError(f"a link reads input {slot} of subgraph {container.data.get('name')!r}, "
                                "which has fewer inputs")
        name = declared[slot].get("name")
        instance = container.instance
        for entry in instance.get("inputs") or []:
            if entry.get("name") == name and entry.get("link") is not None:
                return self.source(container.parent, int(entry["link"]), seen)
        widget_inputs = [i for i in declared if i.get("type") in WIDGET_TYPES and not self._linked(instance, i)]
        values = instance.get("widgets_values")
        if isinstance(values, list) and len(values) == len(widget_inputs) and declared[slot] in widget_inputs:
            return Source(value=values[widget_inputs.index(declared[slot])], has_value=True)
        return NOTHING  # the inner node keeps its own widget value

    @staticmethod
    def _linked(instance: dict, declared: dict) -> bool:
        return any(e.get("name") == declared.get("name") and e.get("link") is not None
                   for e in instance.get("inputs") or [])

    @staticmethod
    def _pass_through(node: dict, oslot: int, kind: str) -> int | None:
        inputs = [i for i in node.get("inputs") or [] if i.get("link") is not None]
        if node["type"] == "Reroute":
            return int(inputs[0]["link"]) if inputs else None
        outputs = node.get("outputs") or []
        out_type = outputs[oslot].get("type", kind) if oslot < len(outputs) else kind
        for entry in inputs:
            if entry.get("type") == out_type:
                return int(entry["link"])
        return None

    def readers(self, container: Container, node_id: int, slot: int) -> list[int]:
        """Ids of the links (in the node's container) that leave this output."""
        return [link[0] for link in container.links.values() if link[1] == node_id and link[2] == slot]
