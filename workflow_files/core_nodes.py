"""What ComfyUI's core nodes do with CONDITIONING, for tracing a workflow's positive prompts.

Only nodes listed here are traced through: a positive that passes through any other node cannot be
followed safely, and add-steering refuses it, naming the node. Output slots are the nodes' output
positions (the same in the UI and the API format).
"""
from __future__ import annotations

# text encoders of ComfyUI core: node type -> its CLIP input
TEXT_ENCODERS = {
    "CLIPTextEncode": "clip",
    "CLIPTextEncodeSDXL": "clip",
    "CLIPTextEncodeSDXLRefiner": "clip",
    "CLIPTextEncodeSD3": "clip",
    "CLIPTextEncodeFlux": "clip",
    "CLIPTextEncodeHunyuanDiT": "clip",
    "CLIPTextEncodeHiDream": "clip",
    "CLIPTextEncodeLumina2": "clip",
    "CLIPTextEncodePixArtAlpha": "clip",
    "TextEncodeHunyuanVideo_ImageToVideo": "clip",
    "TextEncodeQwenImageEdit": "clip",
    "TextEncodeQwenImageEditPlus": "clip",
}

# nodes that sample from conditioning: node type -> (positive inputs, negative inputs)
SAMPLERS = {
    "KSampler": (("positive",), ("negative",)),
    "KSamplerAdvanced": (("positive",), ("negative",)),
    "SamplerCustom": (("positive",), ("negative",)),
    "BasicGuider": (("conditioning",), ()),
    "CFGGuider": (("positive",), ("negative",)),
    # cond1 is the prompt; cond2 sits between it and the negative (OmniGen2 wires its negative prompt there)
    "DualCFGGuider": (("cond1",), ("cond2", "negative")),
    "PerpNegGuider": (("positive",), ("negative", "empty_conditioning")),
}

_ONE = {0: ("conditioning",)}
_PAIR = {0: ("positive",), 1: ("negative",)}
# nodes that change conditioning and pass it on: node type -> {output slot: the inputs it is made from}
PASS_THROUGH = {
    "ConditioningCombine": {0: ("conditioning_1", "conditioning_2")},
    "ConditioningConcat": {0: ("conditioning_to", "conditioning_from")},
    "ConditioningAverage": {0: ("conditioning_to", "conditioning_from")},
    "ConditioningSetTimestepRange": _ONE,
    "ConditioningSetArea": _ONE,
    "ConditioningSetAreaPercentage": _ONE,
    "ConditioningSetAreaPercentageVideo": _ONE,
    "ConditioningSetAreaStrength": _ONE,
    "ConditioningSetMask": _ONE,
    "ConditioningSetDefaultCombine": {0: ("cond", "cond_DEFAULT")},
    "ConditioningStableAudio": _PAIR,
    "FluxGuidance": _ONE,
    "FluxKontextMultiReferenceLatentMethod": _ONE,
    "ReferenceLatent": _ONE,
    "StyleModelApply": _ONE,
    "unCLIPConditioning": _ONE,
    "GLIGENTextBoxApply": {0: ("conditioning_to",)},
    "ControlNetApply": _ONE,
    "ControlNetApplyAdvanced": _PAIR,
    "ControlNetApplySD3": _PAIR,
    "ControlNetInpaintingAliMamaApply": _PAIR,
    "ACEPlusFluxPipeline": _PAIR,
    "InstructPixToPixConditioning": _PAIR,
    "LTXVConditioning": _PAIR,
    "LTXVImgToVideo": _PAIR,
    "LTXVAddGuide": _PAIR,
    "LTXVCropGuides": _PAIR,
    "WanImageToVideo": _PAIR,
    "WanFunControlToVideo": _PAIR,
    "WanFunInpaintToVideo": _PAIR,
    "WanFirstLastFrameToVideo": _PAIR,
    "WanVaceToVideo": _PAIR,
    "WanCameraImageToVideo": _PAIR,
    "WanPhantomSubjectToVideo": {0: ("positive",), 1: ("negative",), 2: ("negative",)},
    "WanTrackToVideo": _PAIR,
    "Wan22FunControlToVideo": _PAIR,
    "WanSoundImageToVideo": _PAIR,
    "WanHuMoImageToVideo": _PAIR,
    "WanAnimateToVideo": _PAIR,
    "HunyuanImageToVideo": {0: ("positive",)},
    "HunyuanVideo15ImageToVideo": _PAIR,
    "HunyuanVideo15SuperResolution": _PAIR,
    "CosmosImageToVideoLatent": {},
    "StableCascade_StageB_Conditioning": _ONE,
    "Hunyuan3Dv2Conditioning": {},
}

# conditioning that carries no text: nothing to steer, nothing to trace further
NO_TEXT = {
    "ConditioningZeroOut",  # zeros: a negative made from the positive stays zeroed from the unsteered one
    "SVD_img2vid_Conditioning", "StableZero123_Conditioning", "StableZero123_Conditioning_Batched",
    "SV3D_Conditioning", "LotusConditioning", "Hunyuan3Dv2Conditioning", "Hunyuan3Dv2ConditioningMultiView",
}

# nodes that pass a CLIP on (the text encoder stays the same model, perhaps patched): type -> {slot: input}
CLIP_PASS_THROUGH = {
    "CLIPSetLastLayer": {0: "clip"},
    "LoraLoader": {1: "clip"},
    "CLIPAttentionMultiply": {0: "clip"},
    "T5TokenizerOptions": {0: "clip"},
}


# CLIP loader `type` values whose conditioning Apply's family `auto` cannot tell apart from another family's
# (same width, same keys): add-steering sets the Apply node's family from them. Other types stay `auto`
# (lumina2 also loads Z-Image's Qwen3, so it names no one family).
LOADER_FAMILIES = {
    ("DualCLIPLoader", "flux"): "flux",
    ("DualCLIPLoader", "hunyuan_video"): "hunyuan_video",
    ("CLIPLoader", "qwen_image"): "qwen_image",
    ("CLIPLoader", "chroma"): "chroma",
    ("CLIPLoader", "ltxv"): "ltxv",
    ("CLIPLoader", "mochi"): "mochi",
}
