"""Load Safety Direction + Apply Safety Steering spliced into a UI-format workflow after each positive encoder,
in the encoder's own graph (the top level or a subgraph definition), placed beside it, with a note that
says what was added. Only the links of the positive paths are moved to Apply's output; every other reader
of the encoder (a ConditioningZeroOut negative, say) keeps reading it unsteered."""
from __future__ import annotations

from .errors import WorkflowError
from .flat import FlatNode
from .node_defs import outputs, socket_inputs, ui_widget_list
from .pack_nodes import APPLY, DEFINITIONS, LOAD
from .trace import PositiveEncoder
from .ui_graph import Container, Workflow

STEER_COLOR, STEER_BGCOLOR = "#223", "#335"
GAP = 40


def _xy(node: dict) -> tuple[float, float]:
    pos = node.get("pos") or [0, 0]
    return (float(pos["0"]), float(pos["1"])) if isinstance(pos, dict) else (float(pos[0]), float(pos[1]))


def _size(node: dict) -> tuple[float, float]:
    size = node.get("size") or [300, 100]
    return (float(size["0"]), float(size["1"])) if isinstance(size, dict) else (float(size[0]), float(size[1]))


class _Ids:
    """Fresh node and link ids, above every id in the workflow and its subgraphs (one counter for all, as
    the frontend keeps), written back to last_node_id / last_link_id and each subgraph's state."""

    def __init__(self, wf: Workflow):
        self.wf = wf
        nodes = [int(n) for c in wf.containers.values() for n in c.nodes]
        links = [int(link) for c in wf.containers.values() for link in c.links]
        nodes.append(int(wf.data.get("last_node_id") or 0))
        links.append(int(wf.data.get("last_link_id") or 0))
        for sg in wf.definitions.values():
            state = sg.get("state") or {}
            nodes.append(int(state.get("lastNodeId") or 0))
            links.append(int(state.get("lastLinkId") or 0))
        self.node, self.link = max(nodes, default=0), max(links, default=0)

    def new_node(self) -> int:
        self.node += 1
        return self.node

    def new_link(self) -> int:
        self.link += 1
        return self.link

    def write_back(self) -> None:
        self.wf.data["last_node_id"], self.wf.data["last_link_id"] = self.node, self.link
        for sg in self.wf.definitions.values():
            if isinstance(sg.get("state"), dict):
                sg["state"].update(lastNodeId=self.node, lastLinkId=self.link)


def _new_node(kind: str, node_id: int, pos, widgets: dict) -> dict:
    info = DEFINITIONS[kind]
    return {"id": node_id, "type": kind, "pos": [round(pos[0]), round(pos[1])],
            "size": [320, 200 if kind == APPLY else 60], "flags": {}, "order": 0, "mode": 0,
            "color": STEER_COLOR, "bgcolor": STEER_BGCOLOR,
            "inputs": [{"name": n, "type": t, "link": None, **({"shape": 7} if optional else {})}
                       for n, t, optional in socket_inputs(info)],
            "outputs": [{"name": n, "type": t, "links": []} for n, t in outputs(info)],
            "properties": {"cnr_id": "crosssteer", "Node name for S&R": kind},
            "widgets_values": ui_widget_list(info, widgets)}


def _add_link(container: Container, link_id: int, origin: dict, oslot: int, target: dict, tslot: int, kind: str):
    if container.instance is None:
        container.data["links"].append([link_id, origin["id"], oslot, target["id"], tslot, kind])
    else:
        container.data.setdefault("links", []).append({"id": link_id, "origin_id": origin["id"], "origin_slot": oslot,
                                                       "target_id": target["id"], "target_slot": tslot, "type": kind})
    origin["outputs"][oslot].setdefault("links", [])
    origin["outputs"][oslot]["links"] = [*(origin["outputs"][oslot]["links"] or []), link_id]
    target["inputs"][tslot]["link"] = link_id


def _move_origin(container: Container, link_id: int, new_origin: dict) -> None:
    for raw in container.data["links"]:
        if isinstance(raw, dict) and raw.get("id") == link_id:
            raw["origin_id"], raw["origin_slot"] = new_origin["id"], 0
        elif isinstance(raw, list) and raw and raw[0] == link_id:
            raw[1], raw[2] = new_origin["id"], 0
    new_origin["outputs"][0]["links"] = [*new_origin["outputs"][0]["links"], link_id]


def splice(wf: Workflow, flat: dict[str, FlatNode], encoders: list[PositiveEncoder], files: dict[str, str],
           strength: float, mode: str, note: str, widgets: dict | None = None,
           per_encoder: dict[str, dict] | None = None) -> dict[str, tuple[int, int]]:
    """Changes wf.data in place (give it a copy); returns {encoder id: (load node id, apply node id)}."""
    ids, added, done = _Ids(wf), {}, {}
    for encoder in encoders:
        prefix, _, own_id = encoder.node.id.rpartition(":")
        container = wf.containers[f"{prefix}:" if prefix else ""]
        node = container.nodes[int(own_id)]
        key = (id(container.data), int(own_id))  # a subgraph used twice is spliced once, in its definition
        if key in done:
            if done[key] != files[encoder.node.id]:
                raise WorkflowError(f"{encoder.node.label()} sits in a subgraph used more than once with different "
                                    "direction files: one definition can hold only one")
            continue
        done[key] = files[encoder.node.id]
        hops = {flat[reader].hops[name] for reader, name in encoder.edges}
        moved = {link_id for hop_container, link_id in hops if hop_container is container}
        if len(moved) != len(hops):
            raise WorkflowError(f"{encoder.node.label()}: a positive link does not leave the encoder's own graph")
        for other in flat.values():  # no other reader may share a moved link (a reroute feeding both sides)
            for name, (src, _slot) in other.links.items():
                if src == encoder.node.id and (other.id, name) not in encoder.edges and \
                        other.hops[name][1] in moved and other.hops[name][0] is container:
                    raise WorkflowError(f"{encoder.node.label()} reaches a positive and {other.label()} input {name!r} "
                                        "through the same link (a reroute or subgraph output): steering it would steer "
                                        "both. Give the positive its own link")
        slot = container.links[next(iter(moved))][2]
        x, y = _xy(node)
        w, _h = _size(node)
        apply = _new_node(APPLY, ids.new_node(), (x + w + GAP, y),
                          {"strength": float(strength), "mode": mode, **(widgets or {}),
                           **(per_encoder or {}).get(encoder.node.id, {})})
        load = _new_node(LOAD, ids.new_node(), (x + w + GAP, y + 200 + GAP), {"direction_file": files[encoder.node.id]})
        container.data["nodes"] += [load, apply]
        container.nodes[load["id"]], container.nodes[apply["id"]] = load, apply
        links = node["outputs"][slot].get("links") or []
        node["outputs"][slot]["links"] = [link for link in links if link not in moved]
        for link_id in sorted(moved):
            _move_origin(container, link_id, apply)
        _add_link(container, ids.new_link(), node, slot, apply, 0, "CONDITIONING")
        _add_link(container, ids.new_link(), load, 0, apply, 1, "SAFETY_DIRECTION")
        added[encoder.node.id] = (load["id"], apply["id"])
    _add_note(wf, ids, note)
    ids.write_back()
    return added


def _add_note(wf: Workflow, ids: _Ids, text: str) -> None:
    nodes = wf.data["nodes"]
    xs = [_xy(n)[0] for n in nodes] or [0.0]
    ys = [_xy(n)[1] for n in nodes] or [0.0]
    nodes.append({"id": ids.new_node(), "type": "Note", "pos": [round(min(xs)), round(min(ys)) - 300],
                  "size": [520, 240], "flags": {}, "order": 0, "mode": 0, "inputs": [], "outputs": [],
                  "title": "CrossSteer: safety steering added", "properties": {}, "widgets_values": [text],
                  "color": "#432", "bgcolor": "#653"})
