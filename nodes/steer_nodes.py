"""Nodes that use a safety direction: Apply Safety Steering, Category Vector Mixer, Save / Load."""
from __future__ import annotations

from pathlib import Path

from comfy_api.latest import io

from ..directions.conditioning import TOKEN_SCOPES
from ..directions.families import FAMILY_CHOICES
from ..directions.pipeline import GATE_FPR
from ..directions.prompts import CATEGORIES
from ..directions.safetensors_io import ArtifactError
from ..directions.safety_direction import SafetyDirection
from ..directions.steer_conditioning import MODES, steer_conditioning
from . import folders
from .build_nodes import transport_with
from .types import CATEGORY, AlignmentType, SafetyDirectionType


class ApplySafetySteering(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CrossSteerApplySafetySteering", display_name="Apply Safety Steering", category=CATEGORY,
            description="Edits CONDITIONING before the sampler: moves the prompt's content tokens (and, where the "
                        "model reads one, the pooled vector) along the safety direction, each space with its own "
                        "map, following how the model family builds its conditioning. Returns new conditioning; "
                        "the input is never changed.",
            inputs=[
                io.Conditioning.Input("conditioning"),
                SafetyDirectionType.Input("direction", tooltip="A transported (target-space) direction, or a "
                                                               "source direction plus its alignment."),
                AlignmentType.Input("alignment", optional=True, tooltip="Transports a source direction on the fly."),
                io.Float.Input("strength", default=3.0, min=-50.0, max=50.0, step=0.1,
                               tooltip="alpha in calibrated units: 1 = one benign spread along the direction, the "
                                       "same meaning on every model. add/gated: 2-8 is typical. ablate: 1 lifts an "
                                       "unsafe-looking prompt to the benign center, more pushes it past."),
                io.Combo.Input("mode", options=list(MODES), default="add",
                               tooltip="add: always push toward safe. ablate: lift a prompt that scores on the unsafe "
                                       "side back to the benign center (all its tokens by the same step; others "
                                       "untouched). gated: add, scaled by a gate calibrated on benign prompts."),
                io.Combo.Input("tokens", options=list(TOKEN_SCOPES), default="content",
                               tooltip="content: the prompt's tokens as the family lays them out (no BOS or "
                                       "template prefix, no zeroed or masked padding): the tokens the alignment was "
                                       "calibrated on. non-padding: every row that is not zero. all: every row, "
                                       "zeroed padding included."),
                io.Float.Input("gate_threshold", default=0.0, min=-10.0, max=10.0, step=0.1,
                               tooltip="gated: 0 = the calibrated gate (at gate_fpr). Any other value: a fixed "
                                       "threshold, benign spreads below the benign center at which the gate is half "
                                       "open."),
                io.Boolean.Input("steer_pooled", default=True, optional=True,
                                 tooltip="Also steer the pooled vector (SDXL, SD3, Flux, HunyuanVideo, HiDream), "
                                         "through its own map."),
                io.Combo.Input("family", options=list(FAMILY_CHOICES), default="auto", optional=True,
                               tooltip="auto: the family the direction was fitted for, checked against the "
                                       "conditioning; where nothing in the conditioning tells that family from "
                                       "one that reads another space (Flux and HunyuanVideo; Qwen-Image, "
                                       "HunyuanImage 2.1 and HunyuanVideo 1.5; ...) auto refuses: set your "
                                       "model's family. Also lets a direction through for a family with the "
                                       "same encoder (Flux and Chroma share T5-XXL)."),
                io.Float.Input("gate_fpr", default=GATE_FPR, min=0.001, max=0.5, step=0.005, optional=True,
                               tooltip="gated, calibrated gate: the share of benign prompts that may get more than a "
                                       "tenth of the push, measured on the direction's benign calibration prompts "
                                       "(0.01-0.05 is typical)."),
            ],
            outputs=[io.Conditioning.Output()],
        )

    @classmethod
    def execute(cls, conditioning, direction, strength, mode, tokens, gate_threshold=0.0, alignment=None,
                steer_pooled=True, family="auto", gate_fpr=GATE_FPR) -> io.NodeOutput:
        if direction.meta.get("space") != "target":
            if alignment is None:
                raise ValueError("this direction is still in the source LLM's space: connect the ALIGNMENT from Fit "
                                 "Benign Alignment, or transport it first (Transport Safety Direction)")
            direction = transport_with(direction, alignment)
        return io.NodeOutput(steer_conditioning(conditioning, direction, strength, mode, tokens, gate_threshold,
                                                steer_pooled, family, gate_fpr))


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
        # claim the first free name atomically: an existing file is never overwritten
        for n in range(1000):
            path = root / (f"{stem}.safetensors" if n == 0 else f"{stem}_{n:03d}.safetensors")
            try:
                direction.save(path, overwrite=False)
            except ArtifactError as err:
                if isinstance(err.__cause__, FileExistsError):
                    continue
                raise
            return io.NodeOutput(path.name, ui={"text": [path.name]})
        raise ValueError(f"{stem}.safetensors and 999 numbered variants exist in {root}: choose another filename")


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
