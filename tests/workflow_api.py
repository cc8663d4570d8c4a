"""ComfyUI workflows in the web UI's format ("version": 0.4) read the way the frontend reads them, and
converted to the API format that `/prompt` accepts.

The UI format stores a node's widget values as one positional list (`widgets_values`), in the order
the frontend creates the node's widgets: the inputs of the node definition (`/object_info`), required
then optional, that are widgets (INT, FLOAT, STRING, BOOLEAN, combos), with extra values the frontend
adds after some of them and that the server never sees:
  * `control_after_generate` ("fixed", "randomize", ...) after an INT whose spec sets
    `control_after_generate`, or, when the spec is silent, after an INT named `seed` or `noise_seed`
    (the frontend's rule, comfyui-frontend-package 1.32), and after a combo whose spec sets it;
  * the upload button's value after an `image_upload` / `video_upload` / `audio_upload` combo.
Links are `[id, origin_id, origin_slot, target_id, target_slot, type]`; slots index the nodes'
`inputs` / `outputs` lists. Frontend-only nodes never reach the server: Note and MarkdownNote are
dropped, a Reroute is followed to its source, a PrimitiveNode's value is written into the widget it
drives. Muted nodes (mode 2) are dropped; bypassed ones (mode 4) pass their first input of the
output's type through, as the frontend does.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
NOTE_TYPES = {"Note", "MarkdownNote"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload")
CONTROL = "control_after_generate"
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
MUTED, BYPASSED = 2, 4


class WorkflowError(ValueError):
    """The workflow does not fit the node definitions (wrong widget count, dangling link, ...)."""


# ---------------------------------------------------------------- node definitions (/object_info)
def input_specs(node_info: dict) -> list[tuple[str, list, bool]]:
    """(name, spec, optional) for every declared input, in the frontend's order."""
    declared = node_info.get("input", {})
    order = node_info.get("input_order") or {s: list(declared.get(s, {})) for s in ("required", "optional")}
    out = []
    for section in ("required", "optional"):
        for name in order.get(section, []):
            spec = declared.get(section, {}).get(name)
            if spec is not None:
                out.append((name, list(spec), section == "optional"))
    return out


def spec_type(spec: list) -> str:
    return "COMBO" if isinstance(spec[0], list) else str(spec[0])


def spec_options(spec: list) -> dict:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def combo_values(spec: list) -> list:
    return list(spec[0]) if isinstance(spec[0], list) else list(spec_options(spec).get("options", []))


def is_widget(spec: list) -> bool:
    return spec_type(spec) in WIDGET_TYPES and not spec_options(spec).get("forceInput")


def has_control(name: str, spec: list) -> bool:
    """Whether the frontend adds a control_after_generate widget after this input's widget."""
    options, kind = spec_options(spec), spec_type(spec)
    if kind == "INT":
        flag = options.get(CONTROL)
        return bool(flag) if flag is not None else name in ("seed", "noise_seed")
    return kind == "COMBO" and bool(options.get(CONTROL))


def _slots(node_info: dict) -> list[tuple[str, str | None, bool]]:
    slots: list[tuple[str, str | None, bool]] = []
    for name, spec, optional in input_specs(node_info):
        if not is_widget(spec):
            continue
        slots.append((name, None, optional))
        if has_control(name, spec):
            slots.append((name, CONTROL, optional))
        if spec_type(spec) == "COMBO" and any(spec_options(spec).get(f) for f in UPLOAD_FLAGS):
            slots.append((name, "upload", optional))
    return slots


def widget_slots(node_info: dict) -> list[tuple[str, str | None]]:
    """The positions of `widgets_values`: (input name, None) for a real widget, (input name, kind) for
    an extra frontend-only value after it (kind 'control_after_generate' or 'upload')."""
    return [(name, extra) for name, extra, _optional in _slots(node_info)]


def required_widget_count(node_info: dict) -> int:
    """How many leading `widgets_values` a saved node must have: a workflow saved before a node gained
    trailing optional widgets (ComfyUI 0.28's CreateVideo `bit_depth`) lacks them, and the frontend
    leaves them at their defaults."""
    flags = [optional for _name, _extra, optional in _slots(node_info)]
    return max((i + 1 for i, optional in enumerate(flags) if not optional), default=0)


def socket_inputs(node_info: dict) -> list[tuple[str, str, bool]]:
    """(name, type, optional) of the inputs that are sockets only (no widget), in the frontend's order."""
    return [(n, spec_type(s), o) for n, s, o in input_specs(node_info) if not is_widget(s)]


def outputs(node_info: dict) -> list[tuple[str, str]]:
    types = node_info.get("output", [])
    names = node_info.get("output_name") or types
    return [(str(n), "COMBO" if isinstance(t, list) else str(t)) for n, t in zip(names, types)]


def widget_values(node: dict, node_info: dict) -> dict[str, Any]:
    """{input name: value} of a UI node's real widgets (frontend-only extras left out); a list of the
    wrong length is an error, since every later value would land on the wrong input (missing trailing
    optional widgets take their defaults)."""
    slots = widget_slots(node_info)
    values = node.get("widgets_values")
    if values is None:
        values = []
    if isinstance(values, dict):  # some packs save {name: value}
        return {name: values[name] for name, extra in slots if extra is None and name in values}
    # a control slot holding anything but a control value means the list is shifted
    shifted = any(extra == CONTROL and value not in CONTROL_VALUES for (_n, extra), value in zip(slots, values))
    if shifted or not required_widget_count(node_info) <= len(values) <= len(slots):
        expected = [n if e is None else f"{n}:{e}" for n, e in slots]
        raise WorkflowError(f"node {node.get('id')} ({node.get('type')}): {len(values)} widget values "
                            f"{values!r} for {len(slots)} widgets {expected}")
    found = {name: value for (name, extra), value in zip(slots, values) if extra is None}
    # widgets newer than the file take their defaults, as the frontend gives them
    specs = {name: spec for name, spec, _optional in input_specs(node_info)}
    for name, extra in slots[len(values):]:
        if extra is None and "default" in spec_options(specs[name]):
            found[name] = spec_options(specs[name])["default"]
    return found


# ---------------------------------------------------------------- the graph
class Workflow:
    """A UI-format workflow with its links indexed."""

    def __init__(self, data: dict):
        if not isinstance(data, dict) or "nodes" not in data or "links" not in data:
            raise WorkflowError("not a UI-format workflow (no 'nodes' / 'links')")
        self.data = data
        self.nodes = {int(n["id"]): n for n in data["nodes"]}
        if len(self.nodes) != len(data["nodes"]):
            raise WorkflowError("two nodes share an id")
        self.links: dict[int, tuple[int, int, int, int, str]] = {}
        for link in data["links"]:
            if isinstance(link, dict):  # the schema-1 form
                link = [link["id"], link["origin_id"], link["origin_slot"], link["target_id"], link["target_slot"],
                        link["type"]]
            link_id, origin, oslot, target, tslot, kind = link
            if origin not in self.nodes or target not in self.nodes:
                raise WorkflowError(f"link {link_id} joins missing nodes {origin} -> {target}")
            self.links[int(link_id)] = (int(origin), int(oslot), int(target), int(tslot), kind)

    def real_nodes(self) -> Iterator[dict]:
        for node in self.nodes.values():
            if node["type"] not in FRONTEND_ONLY:
                yield node

    def input_link(self, node: dict, name: str) -> int | None:
        for entry in node.get("inputs") or []:
            if entry.get("name") == name and entry.get("link") is not None:
                return int(entry["link"])
        return None

    def source(self, link_id: int) -> tuple[dict, int]:
        """The node and output slot a link really comes from, through reroutes and bypassed nodes."""
        seen = set()
        origin, oslot, _target, _tslot, kind = self.links[link_id]
        while True:
            if (origin, oslot) in seen:
                raise WorkflowError(f"link {link_id} loops through reroutes / bypassed nodes")
            seen.add((origin, oslot))
            node = self.nodes[origin]
            if node["type"] == "Reroute" or node.get("mode") == BYPASSED:
                upstream = self._pass_through(node, oslot, kind)
                if upstream is None:
                    return node, oslot
                origin, oslot = self.links[upstream][0], self.links[upstream][1]
                continue
            return node, oslot

    def _pass_through(self, node: dict, oslot: int, kind: str) -> int | None:
        inputs = [i for i in node.get("inputs") or [] if i.get("link") is not None]
        if node["type"] == "Reroute":
            return inputs[0]["link"] if inputs else None
        out_type = (node.get("outputs") or [{}] * (oslot + 1))[oslot].get("type", kind)
        for entry in inputs:
            if entry.get("type") == out_type:
                return entry["link"]
        return None


def to_api(data: dict, object_info: dict) -> dict:
    """The API-format prompt {id: {class_type, inputs, _meta}} of a UI-format workflow."""
    wf = Workflow(data)
    prompt = {}
    for node in wf.real_nodes():
        if node.get("mode") in (MUTED, BYPASSED):
            continue
        kind = node["type"]
        if kind not in object_info:
            raise WorkflowError(f"node {node['id']}: type {kind!r} is not installed (not in /object_info)")
        info = object_info[kind]
        inputs: dict[str, Any] = dict(widget_values(node, info))
        for entry in node.get("inputs") or []:
            link = entry.get("link")
            if link is None:
                continue
            src, slot = wf.source(int(link))
            name = entry["name"]
            if src["type"] == "PrimitiveNode":
                inputs[name] = (src.get("widgets_values") or [None])[0]
            elif src["type"] in FRONTEND_ONLY or src.get("mode") in (MUTED, BYPASSED):
                inputs.pop(name, None)  # an unconnected reroute or a dead branch: the input stays empty
            else:
                inputs[name] = [str(src["id"]), slot]
        prompt[str(node["id"])] = {"class_type": kind, "inputs": inputs,
                                   "_meta": {"title": node.get("title") or info.get("display_name") or kind}}
    return prompt
