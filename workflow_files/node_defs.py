"""Node definitions as `/object_info` gives them, read the way ComfyUI's web frontend reads them.

The UI format stores a node's widget values as one positional list (`widgets_values`), in the order
the frontend creates the node's widgets: the inputs of the node definition, required then optional,
that are widgets (INT, FLOAT, STRING, BOOLEAN, combos), with extra values the frontend adds after some
of them and that the server never sees:
  * `control_after_generate` ("fixed", "randomize", ...) after an INT whose spec sets
    `control_after_generate`, or, when the spec is silent, after an INT named `seed` or `noise_seed`
    (the frontend's rule, comfyui-frontend-package 1.32), and after a combo whose spec sets it;
  * the upload button's value after an `image_upload` / `video_upload` / `audio_upload` combo.
"""
from __future__ import annotations

from typing import Any

from .errors import WorkflowError

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload")
CONTROL = "control_after_generate"
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}


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
    gives them their defaults."""
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
    optional widgets take their defaults, as in the frontend)."""
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
    specs = {name: spec for name, spec, _optional in input_specs(node_info)}
    for name, extra in slots[len(values):]:
        if extra is None and "default" in spec_options(specs[name]):
            found[name] = spec_options(specs[name])["default"]
    return found


def ui_widget_list(node_info: dict, values: dict[str, Any]) -> list:
    """`widgets_values` of a new UI node: the given values, the spec's defaults for the rest."""
    specs = {n: s for n, s, _o in input_specs(node_info)}
    out = []
    for name, extra in widget_slots(node_info):
        if extra == CONTROL:
            out.append("fixed")
        elif extra == "upload":
            out.append("image")
        elif name in values:
            out.append(values[name])
        else:
            out.append(spec_options(specs[name]).get("default"))
    return out
