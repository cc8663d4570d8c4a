"""`crosssteer add-steering`: any workflow file in, the same workflow with safety steering after each positive
text encoder out (same format, same envelope). One direction file fits one text encoder, so a workflow with
two (SDXL base + refiner: CLIP-L||G and the refiner's CLIP-G) needs one file for each."""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from . import envelope, flat, splice_api, splice_ui, trace
from .core_nodes import LOADER_FAMILIES
from .errors import WorkflowError
from .pack_nodes import MODES
from .ui_graph import Workflow

NODE_KEY = re.compile(r"^\s*(\d+(?::\d+)*)\s*=")


@dataclass
class Steered:
    workflow: dict             # the new workflow (unwrapped)
    encoders: list             # trace.PositiveEncoder, in id order
    files: dict[str, str]      # encoder id -> direction file
    added: dict                # encoder id -> (load id, apply id)


def parse_directions(values: list[str]) -> tuple[str | None, dict[str, str]]:
    """--direction FILE (for the one text encoder) and --direction NODE_ID=FILE (repeatable)."""
    default, by_id = None, {}
    for value in values:
        match = NODE_KEY.match(value)
        if match:
            by_id[match.group(1)] = value[match.end():].strip()
        elif default is None:
            default = value.strip()
        else:
            raise WorkflowError(f"two --direction files without a node id ({default}, {value}): give "
                                "NODE_ID=FILE for each text encoder")
    return default, by_id


def assign_directions(encoders: list, default: str | None, by_id: dict[str, str]) -> dict[str, str]:
    """{encoder id: file}: an encoder's own id first, then any node of its CLIP chain, then the default, which
    may serve only one text encoder."""
    known = {e.node.id for e in encoders} | {n for e in encoders for n in e.clip_nodes}
    unknown = sorted(set(by_id) - known)
    if unknown:
        raise WorkflowError(f"--direction names node {', '.join(unknown)}, which is neither a positive text encoder "
                            f"nor a CLIP loader of one (they are {', '.join(sorted(known))})")
    files, defaulted = {}, {}
    for e in encoders:
        chosen = by_id.get(e.node.id) or next((by_id[n] for n in reversed(e.clip_nodes) if n in by_id), None)
        if chosen is None:
            chosen = default
            defaulted.setdefault(e.clip, []).append(e)
        files[e.node.id] = chosen
    if len(defaulted) > 1 or any(f is None for f in files.values()):
        raise WorkflowError(_one_per_encoder(encoders))
    return files


def _one_per_encoder(encoders: list) -> str:
    groups: dict[str, list] = {}
    for e in encoders:
        groups.setdefault(e.clip, []).append(e)
    lines = [f"this workflow steers {len(groups)} text encoders, and a direction file fits only one:"]
    for clip, members in groups.items():
        loader = members[0].clip_nodes[0] if members[0].clip_nodes else members[0].node.id
        lines.append(f"  node {loader}: {clip} -> positive encoder(s) {', '.join(m.node.id for m in members)}")
    example = " ".join(f"--direction {(m[0].clip_nodes or [m[0].node.id])[0]}=FILE" for m in groups.values())
    lines.append(f"give one for each, by the CLIP loader's (or the encoder's) node id: {example} (the SDXL refiner's "
                 "CLIP-G needs a direction fitted for it)")
    return "\n".join(lines)


def summary(encoders: list, files: dict[str, str], strength: float, mode: str) -> str:
    lines = [f"CrossSteer add-steering: Apply Safety Steering (strength {strength:g}, mode {mode}) after each positive "
             "text encoder; negatives unchanged."]
    for e in encoders:
        lines.append(f"- {e.node.label()}, CLIP from {e.clip}: {files[e.node.id]}")
    lines.append("Direction files go in ComfyUI/models/safety_directions.")
    return "\n".join(lines)


def family_widgets(nodes: dict, encoders: list) -> dict[str, dict]:
    """{encoder id: {"family": name}} where the CLIP's loader names a family that Apply's `auto` cannot tell
    apart from another by the conditioning alone (Flux and HunyuanVideo, Qwen-Image and HunyuanVideo 1.5)."""
    out = {}
    for e in encoders:
        loader = nodes.get(e.clip_nodes[0]) if e.clip_nodes else None
        family = next((LOADER_FAMILIES[(loader.type, s)] for s in loader.strings
                       if (loader.type, s) in LOADER_FAMILIES), None) if loader else None
        if family:
            out[e.node.id] = {"family": family}
    return out


def add_steering(workflow: dict, default: str | None, by_id: dict[str, str] | None = None, *, strength: float = 3.0,
                 mode: str = "add") -> Steered:
    """Steer a workflow (UI or API format, unwrapped); the input is not changed."""
    if mode not in MODES:
        raise WorkflowError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    if isinstance(strength, bool) or not -50 <= float(strength) <= 50:
        raise WorkflowError(f"strength {strength!r} is outside -50..50 (2-8 is typical for add and gated)")
    by_id = by_id or {}
    if envelope.is_api_format(workflow):
        nodes = flat.from_api(workflow)
        encoders = trace.positive_encoders(nodes)
        files = assign_directions(encoders, default, by_id)
        new, added = splice_api.splice(workflow, encoders, files, strength, mode,
                                       per_encoder=family_widgets(nodes, encoders))
        return Steered(new, encoders, files, added)
    data = copy.deepcopy(workflow)
    wf = Workflow(data)
    nodes = flat.from_ui(wf)
    encoders = trace.positive_encoders(nodes)
    files = assign_directions(encoders, default, by_id)
    added = splice_ui.splice(wf, nodes, encoders, files, strength, mode, summary(encoders, files, strength, mode),
                             per_encoder=family_widgets(nodes, encoders))
    return Steered(data, encoders, files, added)


def add_parser(sub):
    p = sub.add_parser("add-steering", help="add safety steering to any ComfyUI workflow file (UI or API format)",
                       description="Insert Load Safety Direction + Apply Safety Steering right after every positive "
                                   "text encoder of a workflow (UI or API format, bare or in a {'prompt': ...} / "
                                   "{'input': {'workflow': ...}} envelope) and write the same format to OUT. "
                                   "Negatives are left alone. IN is never overwritten.")
    p.add_argument("input", metavar="IN.json")
    p.add_argument("-o", "--out", required=True, metavar="OUT.json")
    p.add_argument("--direction", action="append", required=True, metavar="[NODE_ID=]FILE",
                   help="a direction file in ComfyUI/models/safety_directions; with two text encoders (SDXL base + "
                        "refiner) one each, keyed by the CLIP loader's or the encoder's node id: --direction 4=a.safetensors")
    p.add_argument("--strength", type=float, default=3.0, help="calibrated units: 2-8 typical (add/gated), 0-1 ablate")
    p.add_argument("--mode", choices=MODES, default="add")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    doc = envelope.read(args.input)
    default, by_id = parse_directions(args.direction)
    result = add_steering(doc.workflow, default, by_id, strength=args.strength, mode=args.mode)
    out = envelope.write(args.out, doc.wrapped(result.workflow), never=args.input)
    print(summary(result.encoders, result.files, args.strength, args.mode))
    print(f"wrote {out} ({doc.format} format{', in its envelope' if doc.keys else ''})")
    return 0
