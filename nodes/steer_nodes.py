"""Nodes that use a safety direction: Apply Safety Steering, Category Vector Mixer, Save / Load."""
from __future__ import annotations

from pathlib import Path

import torch
from comfy_api.latest import io

from ..directions import steer
from ..directions.artifact import GLOBAL, SafetyDirection
from ..directions.prompts import CATEGORIES
from . import folders
from .build_nodes import transport_with
from .conditioning import TOKEN_SCOPES, map_conditioning, token_scope_mask
from .types import CATEGORY, AlignmentType, SafetyDirectionType

MODES = ("add", "ablate", "gated")


def steer_tensor(x: torch.Tensor, direction: SafetyDirection, strength: float, mode: str, scope: str,
                 threshold: float) -> torch.Tensor:
    """One conditioning tensor [B, T, D] steered; a new tensor (the library never works in place)."""
    if x.shape[-1] != direction.width:
        target = direction.meta.get("target", {})
        raise ValueError(
            f"this direction was made for a {direction.width}-wide {target.get('family', '')} text encoder "
            f"({target.get('model', 'unknown')}), but the conditioning is {x.shape[-1]}-wide: fit an alignment "
            "for this model (Fit Benign Alignment with its CLIP) and transport the direction again")
    mask = token_scope_mask(x, scope)
    if mode == "add":
        return steer.add(x, direction.displacement("mixed"), strength, mask)
    vector, name = _score_vector(direction)
    if mode == "ablate":
        return steer.ablate(x, direction.standardizer, vector, direction.centers[name], mask, strength=min(strength, 1.0))
    gate = steer.gate_weights(x, direction.standardizer, vector, direction.centers[name], direction.units[name],
                              threshold=threshold, mask=mask)
    return steer.gated_add(x, direction.displacement("mixed"), strength, gate, mask)


def _score_vector(direction: SafetyDirection) -> tuple[torch.Tensor, str]:
    """The vector whose score decides ablation and gating: the mix when weights are set, else global."""
    if direction.weights:
        mixed = steer.mix(direction.vectors, direction.units, direction.weights)
        strongest = max(direction.weights, key=lambda n: abs(direction.weights[n]))
        return mixed / mixed.norm(), strongest
    return direction.vectors[GLOBAL], GLOBAL


class ApplySafetySteering(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CrossSteerApplySafetySteering", display_name="Apply Safety Steering", category=CATEGORY,
            description="Edits CONDITIONING before the sampler: moves the prompt's tokens along the safety "
                        "direction. Returns new conditioning; the input is never changed.",
            inputs=[
                io.Conditioning.Input("conditioning"),
                SafetyDirectionType.Input("direction", tooltip="A transported (target-space) direction, or a "
                                                               "source direction plus its alignment."),
                AlignmentType.Input("alignment", optional=True, tooltip="Transports a source direction on the fly."),
                io.Float.Input("strength", default=3.0, min=-50.0, max=50.0, step=0.1,
                               tooltip="alpha in calibrated units: 1 = one benign spread along the direction, the "
                                       "same meaning on every model. add/gated: 2-8 is typical. ablate: 0-1."),
                io.Combo.Input("mode", options=list(MODES), default="add",
                               tooltip="add: always push toward safe. ablate: lift only what lies on the unsafe side "
                                       "back to the benign center. gated: add, scaled by how unsafe the prompt scores."),
                io.Combo.Input("tokens", options=list(TOKEN_SCOPES), default="non-padding",
                               tooltip="Which token positions to edit; zeroed padding stays zero except with 'all'."),
                io.Float.Input("gate_threshold", default=1.0, min=-10.0, max=10.0, step=0.1,
                               tooltip="gated: benign spreads below the benign center at which the gate is half open."),
            ],
            outputs=[io.Conditioning.Output()],
        )

    @classmethod
    def execute(cls, conditioning, direction, strength, mode, tokens, gate_threshold, alignment=None) -> io.NodeOutput:
        if direction.meta.get("space") != "target":
            if alignment is None:
                raise ValueError("this direction is still in the source LLM's space: connect the ALIGNMENT from Fit "
                                 "Benign Alignment, or transport it first (Transport Safety Direction)")
            direction = transport_with(direction, alignment)
        steer.check_alpha(strength, "strength")
        return io.NodeOutput(map_conditioning(
            conditioning, lambda x, extras: (steer_tensor(x, direction, strength, mode, tokens, gate_threshold), extras)))


class CategoryVectorMixer(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CrossSteerCategoryVectorMixer", display_name="Category Vector Mixer", category=CATEGORY,
            description="Weights per category over a multi-vector direction: steer harder against one kind of "
                        "harm than another. All zero = the global direction.",
            inputs=[SafetyDirectionType.Input("direction"),
                    *[io.Float.Input(c.replace("-", "_"), default=1.0, min=-5.0, max=5.0, step=0.05,
                                     tooltip=f"Weight of the {c} vector (1 = as strong as it alone).") for c in CATEGORIES]],
            outputs=[SafetyDirectionType.Output(display_name="direction")],
        )

    @classmethod
    def execute(cls, direction, **weights) -> io.NodeOutput:
        if not direction.categories:
            raise ValueError("this direction has no category vectors: extract it with per_category on")
        wanted = {c: float(weights[c.replace("-", "_")]) for c in CATEGORIES}
        missing = [c for c, w in wanted.items() if w and c not in direction.vectors]
        if missing:
            raise ValueError(f"the direction has no vector for {missing} (too few pairs?): set their weights to 0")
        chosen = {c: w for c, w in wanted.items() if w}
        return io.NodeOutput(direction.with_weights(chosen))


class SaveSafetyDirection(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CrossSteerSaveSafetyDirection", display_name="Save Safety Direction", category=CATEGORY,
            description="Writes the direction to models/safety_directions as a small .safetensors file to share.",
            inputs=[SafetyDirectionType.Input("direction"),
                    io.String.Input("filename", default="safety_direction",
                                    tooltip="A plain name; existing files are never overwritten (a number is added).")],
            outputs=[io.String.Output(display_name="filename")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, direction, filename) -> io.NodeOutput:
        stem = Path(filename.strip()).name.removesuffix(".safetensors")
        if not stem or stem in (".", ".."):
            raise ValueError(f"{filename!r} is not a usable file name")
        root = folders.folders(folders.DIRECTIONS_FOLDER)[0]
        root.mkdir(parents=True, exist_ok=True)
        path, n = root / f"{stem}.safetensors", 1
        while path.exists():
            path, n = root / f"{stem}_{n:03d}.safetensors", n + 1
        direction.save(path)
        return io.NodeOutput(path.name, ui={"text": [path.name]})


class LoadSafetyDirection(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CrossSteerLoadSafetyDirection", display_name="Load Safety Direction", category=CATEGORY,
            description="A saved direction from models/safety_directions (checked on load: format, hash, values).",
            inputs=[io.Combo.Input("direction_file", options=folders_list(),
                                   tooltip="Files in models/safety_directions.")],
            outputs=[SafetyDirectionType.Output(display_name="direction")],
        )

    @classmethod
    def execute(cls, direction_file) -> io.NodeOutput:
        return io.NodeOutput(SafetyDirection.load(folders.resolve(folders.DIRECTIONS_FOLDER, direction_file)))

    @classmethod
    def fingerprint_inputs(cls, direction_file):
        # a file replaced under the same name must be loaded again
        try:
            path = folders.resolve(folders.DIRECTIONS_FOLDER, direction_file)
            return f"{path}:{path.stat().st_mtime_ns}:{path.stat().st_size}"
        except (OSError, ValueError):
            return direction_file


def folders_list() -> list[str]:
    import folder_paths

    return folder_paths.get_filename_list(folders.DIRECTIONS_FOLDER)
