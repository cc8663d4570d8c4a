"""Safety Steering (auto): the whole method in one node. The first run for a text encoder builds its
direction with the embedded source LLM and the shipped prompt sets (Extract in smollm2-135m, Fit Benign
Alignment through this CLIP, Transport, calibration: the same code workflow 01 chains) and saves it in
models/safety_directions under a name keyed by the CLIP's fingerprint; every later run loads that file
and costs only the Apply step. The source side of the build (Extract, and the anchors in the LLM) is the
same for every CLIP: the pack ships it precomputed, so with the shipped prompt sets the first build loads
no LLM and only encodes the anchors through the CLIP."""
from __future__ import annotations

import logging
import re

from comfy_api.latest import io

from ..directions.encoders import EncoderError, fingerprint_of, resolve_spec
from ..directions.prompts import prompt_set_hash
from ..directions.safetensors_io import ArtifactError
from ..directions.safety_direction import SafetyDirection
from ..directions.source_side import RECIPE as SOURCE_RECIPE, SHIPPED_SOURCE_SIDE, SourceSide, build_source_side
from ..directions.target_spaces import fit_target_spaces
from . import folders
from .build_nodes import check_enough_anchors, check_enough_pairs, embed_target, transport_with
from .comfy_encoder import ComfyClipEncoder, clip_family, clip_fingerprint
from .common import SHIPPED, NodeProgress, load_anchors, load_pairs
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


def build_direction(clip, pairs: list, anchors: list[str]) -> SafetyDirection:
    """Extract (source LLM, layer auto), Fit Benign Alignment (this CLIP), Transport: the code of those nodes,
    with a progress bar and cancel check. The source side comes precomputed with the pack when it is exactly
    what would be computed here (directions/source_side.py): then no LLM is loaded at all."""
    check_enough_pairs(pairs, SOURCE_RECIPE["per_category"])  # bad prompt files fail here, before any model
    check_enough_anchors(anchors)
    progress = NodeProgress()
    side = source_side(pairs, anchors, progress)
    target = ComfyClipEncoder.wrap(clip)
    alignment, _report = fit_target_spaces(target, embed_target(target, anchors, progress), side.anchors,
                                           side.source_info, method="ridge", seed=0)
    return transport_with(side.direction, alignment)


def source_side(pairs: list, anchors: list[str], progress) -> SourceSide:
    """The shipped precomputed source side when it matches these prompt sets and the installed model, else
    computed with the source LLM."""
    try:
        shipped = SourceSide.load(SHIPPED_SOURCE_SIDE)
        reason = shipped.mismatch(SOURCE, installed_fingerprint(), pairs, anchors)
    except ArtifactError as err:
        reason = f"it cannot be read ({err})"
    if reason is None:
        log.info("CrossSteer: the source side (%s) comes precomputed with the pack: no LLM to load", SOURCE)
        return shipped
    log.info("CrossSteer: computing the source side with %s: the precomputed one in %s is not used, %s", SOURCE,
             SHIPPED_SOURCE_SIDE.name, reason)
    with LLMHandle(SOURCE).loaded() as encoder:
        return build_source_side(encoder, pairs, anchors, progress)


def installed_fingerprint() -> str | None:
    """The installed source model's fingerprint, or None when it is not installed (the precomputed source
    side then needs no model)."""
    try:
        return fingerprint_of(resolve_spec(SOURCE))
    except EncoderError:
        return None


def cached_direction(clip, pairs_source: str, anchors_source: str) -> tuple[SafetyDirection, str, bool]:
    """(direction, file name, built now): the cached file when there is one, else built and saved."""
    pairs, anchors = load_pairs(pairs_source, ""), load_anchors(anchors_source, "")  # bad files fail here
    name = cached_name(clip, prompt_set_hash(pairs), prompt_set_hash(anchors))
    root = folders.folders(folders.DIRECTIONS_FOLDER)[0]
    try:
        return SafetyDirection.load(folders.resolve(folders.DIRECTIONS_FOLDER, name)), name, False
    except FileNotFoundError:
        pass
    except ArtifactError as err:
        raise ValueError(f"the cached direction {name} in {root} cannot be used ({err}): delete it, and this node "
                         "builds it again") from None
    log.info("CrossSteer: building the safety direction for this text encoder (first run): %s", name)
    direction = build_direction(clip, pairs, anchors)
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
                        "sampler. The first run for a text encoder builds its safety direction (the shipped pairs' "
                        "direction in smollm2-135m, precomputed, fitted through this CLIP on the shipped benign "
                        "anchors: the time goes into encoding them through the CLIP) and saves it in "
                        "models/safety_directions; later runs only apply it.",
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
