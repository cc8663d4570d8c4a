"""The positive prompts of a workflow: every text encoder whose conditioning reaches a sampler's or
guider's positive input, through the conditioning nodes of core_nodes, and the exact inputs it feeds
on those paths (so only they are rewired: a negative made from the same encoder stays unsteered).

Refused, naming the node: a positive that passes a node this module does not know (an unknown pack's
text encoder or conditioning node), a conditioning that reaches both a positive and a negative through
the same input, and a reader of a positive encoder that is no sampler or conditioning node known here
(it would keep the unsteered prompt).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .core_nodes import CLIP_PASS_THROUGH, NO_TEXT, PASS_THROUGH, SAMPLERS, TEXT_ENCODERS
from .errors import WorkflowError
from .flat import FlatNode, readers
from .pack_nodes import APPLY


@dataclass
class PositiveEncoder:
    node: FlatNode
    edges: list[tuple[str, str]]  # (reader id, input name) it feeds directly on positive paths
    clip: str                     # which text encoder model: the CLIP's loader chain, described
    clip_nodes: list[str] = field(default_factory=list)  # ids along that chain (loader first)


def _walk(nodes: dict[str, FlatNode], reader: FlatNode, name: str, role: str, found: dict, seen: set,
          sampler: FlatNode) -> None:
    """Follow one conditioning input upstream to its text encoders; record (reader, input) per encoder."""
    if (reader.id, name) in seen:
        return
    seen.add((reader.id, name))
    source_id, slot = reader.links[name]
    source = nodes.get(source_id)
    if source is None:
        raise WorkflowError(f"{reader.label()} input {name!r} is linked to node {source_id}, which is not in the "
                            "workflow")
    if source.type == APPLY:
        raise WorkflowError(f"the {role} of {sampler.label()} is already steered by {source.label()}: this workflow "
                            "has CrossSteer steering; change that node's settings instead of adding more")
    if source.type in TEXT_ENCODERS:
        found.setdefault(source.id, []).append((reader.id, name))
        return
    if source.type in NO_TEXT:
        return
    if source.type in PASS_THROUGH:
        made_from = PASS_THROUGH[source.type].get(slot)
        if made_from is None:
            raise WorkflowError(f"the {role} of {sampler.label()} comes from output {slot} of {source.label()}, "
                                "which add-steering cannot trace")
        for upstream in made_from:
            if upstream in source.links:
                _walk(nodes, source, upstream, role, found, seen, sampler)
        return
    raise WorkflowError(
        f"the {role} of {sampler.label()} comes from {source.label()}, which is not a ComfyUI core text encoder or "
        "conditioning node that add-steering knows: it cannot tell what to steer there. Wire Load Safety Direction "
        "+ Apply Safety Steering in by hand after that node's text encoder (or replace it with a core one)")


def _unknown_reader(nodes: dict[str, FlatNode], source_id: str, skip: set, depth: int = 0):
    """A node downstream of this conditioning (not through a rewired or negative input) that is no sampler or
    conditioning node known here, or None."""
    for reader, name in readers(nodes, source_id):
        if (reader.id, name) in skip or reader.type in SAMPLERS or reader.type in NO_TEXT:
            continue
        if reader.type not in PASS_THROUGH:
            return reader, name
        if depth < 64 and (found := _unknown_reader(nodes, reader.id, skip, depth + 1)) is not None:
            return found
    return None


def clip_chain(nodes: dict[str, FlatNode], encoder: FlatNode) -> tuple[str, list[str]]:
    """The CLIP an encoder uses, as a description ('CLIPLoader(t5xxl.safetensors, flux)') and node ids."""
    chain, parts = [], []
    current, name = encoder, TEXT_ENCODERS[encoder.type]
    while name in current.links:
        source_id, slot = current.links[name]
        source = nodes.get(source_id)
        if source is None:
            break
        chain.insert(0, source.id)
        parts.insert(0, f"{source.type}({', '.join(source.strings)})" if source.strings else source.type)
        name = CLIP_PASS_THROUGH.get(source.type, {}).get(slot)
        if name is None:
            break
        current = source
    return " > ".join(parts) or f"the CLIP input of {encoder.label()}", chain


def positive_encoders(nodes: dict[str, FlatNode]) -> list[PositiveEncoder]:
    positive: dict[str, list] = {}
    negative: dict[str, list] = {}
    for node in nodes.values():
        if node.type not in SAMPLERS:
            continue
        pos_inputs, neg_inputs = SAMPLERS[node.type]
        for role, names, found in (("positive", pos_inputs, positive), ("negative", neg_inputs, negative)):
            seen: set = set()
            for name in names:
                if name in node.links:
                    _walk(nodes, node, name, role, found, seen, node)
    negative_edges = {edge for edges in negative.values() for edge in edges}
    result = []
    for encoder_id, edges in positive.items():
        encoder = nodes[encoder_id]
        edges = sorted(set(edges))
        both = [e for e in edges if e in negative_edges]
        if both:
            reader = nodes[both[0][0]]
            raise WorkflowError(f"{encoder.label()} feeds {reader.label()} input {both[0][1]!r}, whose output reaches "
                                "both a positive and a negative: steering it would steer the negative too. Give the "
                                "negative its own text encoder")
        unknown = _unknown_reader(nodes, encoder_id, skip=set(edges) | negative_edges)
        if unknown is not None:
            reader, name = unknown
            raise WorkflowError(f"{encoder.label()} also feeds {reader.label()} input {name!r}, which is not a sampler "
                                "or conditioning node that add-steering knows: it would keep the unsteered prompt. "
                                "Steer it by hand")
        clip, chain = clip_chain(nodes, encoder)
        result.append(PositiveEncoder(encoder, edges, clip, chain))
    if not result:
        encoders = [n.label() for n in nodes.values() if n.type in TEXT_ENCODERS]
        others = sorted({n.type for n in nodes.values() for name in n.links if "cond" in name.lower() or
                         name in ("positive", "negative")} - set(SAMPLERS) - set(PASS_THROUGH))
        raise WorkflowError("no text encoder feeds the positive of a sampler or guider add-steering knows ("
                            f"text encoders: {', '.join(encoders) or 'none'}"
                            f"{'; other conditioning readers: ' + ', '.join(others) if others else ''})")
    return sorted(result, key=lambda e: _id_key(e.node.id))


def _id_key(node_id: str):
    return [int(p) if p.isdigit() else p for p in node_id.split(":")]
