"""Safety Steering (auto): the whole method in one node. The first run for a text encoder builds its
direction with the embedded source LLM and the shipped prompt sets (Extract in smollm2-135m, Fit Benign
Alignment through this CLIP, Transport, calibration: the same nodes workflow 01 chains) and saves it in
models/safety_directions under a name keyed by the CLIP's fingerprint; every later run loads that file
and costs only the Apply step."""
from __future__ import annotations

import logging
import re

from comfy_api.latest import io

from ..directions.artifact import ArtifactError, SafetyDirection
from ..directions.prompts import prompt_set_hash
from . import folders
from .build_nodes import ExtractSafetyDirection, FitBenignAlignment, transport_with
from .comfy_encoder import clip_family, clip_fingerprint
from .common import SHIPPED, load_anchors, load_pairs
from .llm import LLMHandle
from .steer_nodes import MODES, ApplySafetySteering
from .types import CATEGORY

log = logging.getLogger(__name__)
SOURCE = "smollm2-135m"
RECIPE = "auto-1"  # bump when the build below changes: directions cached by an older recipe are not reused


def prompt_files() -> list[str]:
    return [SHIPPED, *folders.prompt_files()]


def cached_name(clip, pairs_hash: str, anchors_hash: str) -> str:
    """models/safety_directions file name of the direction this CLIP, source and prompt sets give."""
    family = re.sub(r"[^A-Za-z0-9]+", "_", clip_family(clip)).strip("_")
    recipe = prompt_set_hash([RECIPE, SOURCE, pairs_hash, anchors_hash])[:8]
    return f"auto_{family}_{clip_fingerprint(clip)}_{recipe}.safetensors"


def build_direction(clip, pairs_source: str, anchors_source: str) -> SafetyDirection:
    """Extract (source LLM, layer auto), Fit Benign Alignment (this CLIP), Transport: each node's own code,
    with its progress bar and cancel check."""
    llm = LLMHandle(SOURCE)
    direction = ExtractSafetyDirection.execute(pairs=pairs_source, pasted_pairs="", layer=0, pooling="mean",
                                               method="mean_diff", per_category=True, llm=llm).args[0]
    alignment = FitBenignAlignment.execute(clip=clip, anchors=anchors_source, pasted_anchors="", method="ridge",
                                           layer=-1, seed=0, direction=direction, llm=llm).args[0]
    return transport_with(direction, alignment)


def cached_direction(clip, pairs_source: str, anchors_source: str) -> tuple[SafetyDirection, str, bool]:
    """(direction, file name, built now): the cached file when there is one, else built and saved."""
    pairs_hash = prompt_set_hash(load_pairs(pairs_source, ""))  # bad prompt files fail here, before any model
    anchors_hash = prompt_set_hash(load_anchors(anchors_source, ""))
    name = cached_name(clip, pairs_hash, anchors_hash)
    root = folders.folders(folders.DIRECTIONS_FOLDER)[0]
    try:
        return SafetyDirection.load(folders.resolve(folders.DIRECTIONS_FOLDER, name)), name, False
    except FileNotFoundError:
        pass
    except ArtifactError as err:
        raise ValueError(f"the cached direction {name} in {root} cannot be used ({err}): delete it, and this node "
                         "builds it again") from None
    log.info("CrossSteer: building the safety direction for this text encoder (first run): %s", name)
    direction = build_direction(clip, pairs_source, anchors_source)
    root.mkdir(parents=True, exist_ok=True)
    try:
        direction.save(root / name, overwrite=False)
    except ArtifactError as err:
        if not isinstance(err.__cause__, FileExistsError):
            raise
        return SafetyDirection.load(root / name), name, False  # another run saved it first
    return direction, name, True


class SafetySteeringAuto(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CrossSteerSafetySteeringAuto", display_name="Safety Steering (auto)", category=CATEGORY,
            description="Safety steering with no setup: put it between the positive prompt's text encoder and the "
                        "sampler. The first run for a text encoder builds its safety direction (embedded smollm2-135m, "
                        "the shipped pairs and benign anchors, fitted through this CLIP; minutes on a GPU, longer on a "
                        "CPU) and saves it in models/safety_directions; later runs only apply it.",
            inputs=[
                io.Clip.Input("clip", tooltip="The text encoder that made the conditioning (the same CLIP as the "
                                              "prompt's encoder): the direction is built and cached for it."),
                io.Conditioning.Input("conditioning", tooltip="The positive prompt's conditioning."),
                io.Float.Input("strength", default=3.0, min=-50.0, max=50.0, step=0.1,
                               tooltip="Calibrated units: 1 = one benign spread along the direction. add/gated: 2-8 "
                                       "is typical; ablate: 0-1."),
                io.Combo.Input("mode", options=list(MODES), default="add",
                               tooltip="add: always push toward safe. ablate: lift only what lies on the unsafe side "
                                       "back to the benign center. gated: add, scaled by how unsafe the prompt scores."),
                io.Combo.Input("pairs", options=prompt_files(), default=SHIPPED, optional=True,
                               tooltip="Prompt pairs for the first build: the shipped set or a file in ComfyUI's input "
                                       "folder (another set builds, and caches, another direction)."),
                io.Combo.Input("anchors", options=prompt_files(), default=SHIPPED, optional=True,
                               tooltip="Benign anchors the alignment is fitted on: the shipped set or a file."),
            ],
            outputs=[io.Conditioning.Output(), io.String.Output(display_name="direction_file")],
        )

    @classmethod
    def execute(cls, clip, conditioning, strength, mode, pairs=SHIPPED, anchors=SHIPPED) -> io.NodeOutput:
        direction, name, built = cached_direction(clip, pairs, anchors)
        # the family from the CLIP itself: auto refuses conditioning it cannot attribute (Flux vs HunyuanVideo)
        steered = ApplySafetySteering.execute(conditioning, direction, strength, mode, "content", gate_threshold=0.0,
                                              family=clip_family(clip)).args[0]
        return io.NodeOutput(steered, name, ui={"text": [f"{'built and saved' if built else 'cached'}: {name}"]})
