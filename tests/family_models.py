"""Random-weight text encoders of every model family, built and loaded by ComfyUI's own code.

Two kinds, both through ComfyUI's loaders and the family's real classes, tokenizer and prompt template:
* full size (CLIP-L, CLIP-G): random state dicts written as .safetensors into the test ComfyUI's
  models/text_encoders folder and loaded with the CLIPLoader / DualCLIPLoader nodes;
* reduced depth (T5-XXL, umT5-XXL, Qwen2.5-VL-7B, Qwen3-4B, Gemma-2-2B, Llama-3-8B): true width, true
  tokenizer and template, 1-3 layers and a small feed-forward width, loaded in memory with
  `comfy.sd.load_text_encoder_state_dicts` (the function CLIPLoader calls), the depth set through its
  `model_options` (the "<name>_model_config" override every ComfyUI text encoder reads). Their true sizes
  (4.7B to 8B parameters, 19-32 GB in fp32) do not fit a 24 GiB, 2-core test machine.
  umT5 and Gemma take their sentencepiece tokenizer from the checkpoint; a small one is trained here on
  the fly (same special ids: pad 0, eos 1, Gemma bos 2), so their vocabularies are reduced to it.
Random weights prove plumbing (layouts, keys, shapes, token positions), not semantics.
"""
from __future__ import annotations

import contextlib
import io as _io
import tempfile
from pathlib import Path

import torch

BIG = 1 << 20  # tensors above this many elements are tiled from a random block (fast, still varied)


def random_like(shapes: dict[str, torch.Size], seed: int, dtype=torch.float32) -> dict[str, torch.Tensor]:
    """Small random values for every tensor (weights 0.02, vectors 0.01; layer-norm weights around 1)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in shapes.items():
        n = int(torch.Size(shape).numel())
        scale = 0.02 if len(shape) > 1 else 0.01
        if n > BIG:
            block = (torch.randn(1_000_003, generator=g) * scale).to(dtype)  # prime length: rows do not repeat in step
            value = block.repeat(n // block.numel() + 1)[:n].reshape(shape)
        else:
            value = torch.randn(shape, generator=g) * scale
        if len(shape) == 1 and ("norm" in name or "ln_" in name or "layer_norm" in name) and name.endswith("weight"):
            value = value + 1.0
        out[name] = value.to(dtype)
    return out


def module_shapes(module: torch.nn.Module) -> dict[str, torch.Size]:
    return {k: v.shape for k, v in module.state_dict().items()}


# ------------------------------------------------------------------------------ tiny sentencepiece
_CORPUS = ("a photo of a cat on a red sofa. two friends walk along the beach at sunset. an old sailor in a "
           "kitchen, cinematic light. a woman posing in a wool coat in the city. a man greeting a stranger in "
           "the park. a small wooden boat in the harbor. the quiet forest in the snow. a tall tower in the desert")


def tiny_spiece(vocab: int = 300) -> torch.Tensor:
    """A sentencepiece model (bytes as a uint8 tensor, the way ComfyUI checkpoints carry one) with T5/Gemma
    special ids: pad 0, eos 1, bos 2, unk 3."""
    import sentencepiece as spm

    model = _io.BytesIO()
    lines = [s.strip() for s in _CORPUS.split(".")] * 20
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab,
                                   pad_id=0, eos_id=1, bos_id=2, unk_id=3, model_type="unigram",
                                   character_coverage=1.0, hard_vocab_limit=False, minloglevel=2)
    return torch.frombuffer(bytearray(model.getvalue()), dtype=torch.uint8).clone()


# ------------------------------------------------------------------------------ state dicts per encoder
def clip_l_state(seed: int = 1, layers: int | None = None) -> dict:
    import comfy.sd1_clip

    options = {} if layers is None else {"clip_l_model_config": {"num_hidden_layers": layers}}
    return random_like(module_shapes(comfy.sd1_clip.SDClipModel(device="meta", model_options=options).transformer), seed)


def clip_g_state(seed: int = 2, layers: int | None = None) -> dict:
    """Reduced: a dummy layer-30 key keeps ComfyUI's CLIP-G detection."""
    import comfy.sdxl_clip

    options = {} if layers is None else {"clip_g_model_config": {"num_hidden_layers": layers}}
    g = comfy.sdxl_clip.SDXLClipG(device="meta", model_options=options)
    sd = random_like(module_shapes(g.transformer), seed)
    if layers is not None:
        sd["text_model.encoder.layers.30.mlp.fc1.weight"] = torch.zeros(8, 1280)
    return sd


def reduced_clip_options(layers: int) -> dict:
    """CLIP depth for the loader: ComfyUI rebuilds each CLIP's "<name>_model_config" from the generic
    "model_config" (comfy/text_encoders/long_clipl.py), so the depth goes there, for CLIP-L and -G alike."""
    return {"model_config": {"num_hidden_layers": layers}}


T5_REDUCED = {"num_layers": 1, "d_ff": 64}


def t5_state(seed: int = 3, name: str = "t5xxl", config_file: str = "t5_config_xxl.json",
             overrides: dict | None = None, xxl: bool = True) -> tuple[dict, dict]:
    """A reduced T5-XXL (or umT5-XXL) encoder: 4096 wide, one block; the dummy block-23 key keeps
    ComfyUI's T5-XXL detection (xxl=False: none, for T5-base and byT5)."""
    import comfy.sd1_clip
    import comfy.text_encoders.t5

    config = {**T5_REDUCED, **(overrides or {})}
    options = {f"{name}_model_config": config, "model_name": name}
    path = Path(comfy.text_encoders.t5.__file__).with_name(config_file)
    model = comfy.sd1_clip.SDClipModel(device="meta", textmodel_json_config=str(path), model_class=comfy.text_encoders.t5.T5,
                                       special_tokens={"end": 1, "pad": 0}, model_options=options)
    sd = random_like(module_shapes(model.transformer), seed)
    if xxl:  # T5-XXL's true block-23 gate shape: ComfyUI 0.3.75 reads its last dimension, 0.28 its first (a
        # view, so no 160 MB tensor is allocated; the loader ignores the key)
        sd["encoder.block.23.layer.1.DenseReluDense.wi_1.weight"] = torch.zeros(1, 1).expand(10240, 4096)
    options.pop("model_name")
    return sd, options


def llm_state(kind: str, seed: int = 4, overrides: dict | None = None, dtype=torch.float32) -> tuple[dict, dict]:
    """A reduced LLM text encoder of ComfyUI's own class: true width, 1 block (2 where the family reads
    layer -2), small MLP. kind: qwen25_7b, qwen3_4b, gemma2_2b, llama, mistral3_24b."""
    import comfy.sd1_clip
    from comfy.text_encoders import llama

    classes = {"qwen25_7b": llama.Qwen25_7BVLI, "qwen3_4b": llama.Qwen3_4B, "gemma2_2b": llama.Gemma2_2B,
               "llama": llama.Llama2, "mistral3_24b": llama.Mistral3Small24B,
               "gemma3_12b": getattr(llama, "Gemma3_12B", None)}
    # few attention heads (head size kept): the width stays true, the matmuls get small. Qwen2.5-7B keeps
    # its 4 key/value heads, which ComfyUI's detection reads from the k_proj bias (4 x 128 = 512).
    heads = {"num_attention_heads": 4, "num_key_value_heads": 4} if kind == "qwen25_7b" else \
        {"num_attention_heads": 1, "num_key_value_heads": 1}
    config = {"num_hidden_layers": 3, "intermediate_size": 64, **heads, **(overrides or {})}
    options = {f"{kind}_model_config": config, "model_name": kind}
    model = comfy.sd1_clip.SDClipModel(device="meta", textmodel_json_config={}, model_class=classes[kind],
                                       special_tokens={"pad": 0}, layer_norm_hidden_state=False, model_options=options)
    vision = ("visual.", "vision_model.", "multi_modal_projector.")  # image towers: not used for text
    shapes = {k: v for k, v in module_shapes(model.transformer).items() if not k.startswith(vision)}
    sd = random_like(shapes, seed, dtype)
    options.pop("model_name")
    return sd, options


# ------------------------------------------------------------------------------ whole CLIP objects
def load(state_dicts: list[dict], clip_type: str, options: dict):
    """ComfyUI's text-encoder loader (what CLIPLoader / DualCLIPLoader call after reading the files)."""
    import comfy.sd

    return comfy.sd.load_text_encoder_state_dicts([dict(sd) for sd in state_dicts],
                                                  clip_type=getattr(comfy.sd.CLIPType, clip_type.upper()),
                                                  model_options=dict(options))


def reduced_clip(family: str):
    """A CLIP object of the family, at true width with reduced-depth encoders (see the module docstring)."""
    if family == "sd3":
        t5, t5_opt = t5_state()
        return load([clip_l_state(layers=3), clip_g_state(layers=3), t5], "sd3", {**reduced_clip_options(3), **t5_opt})
    if family == "flux":
        t5, opt = t5_state()
        return load([clip_l_state(), t5], "flux", opt)
    if family in ("chroma", "ltxv", "mochi"):
        t5, opt = t5_state()
        return load([t5], family, opt)
    if family == "hidream":
        t5, opt = t5_state()
        return load([clip_l_state(), t5], "hidream", opt)
    if family == "wan":
        spiece = tiny_spiece()
        t5, opt = t5_state(name="umt5xxl", config_file="umt5_config_xxl.json", overrides={"vocab_size": 320})
        t5["spiece_model"] = spiece
        return load([t5], "wan", opt)
    if family == "hunyuan_video":
        sd, opt = llm_state("llama", overrides={"num_hidden_layers": 4})  # the family reads layer -3
        return load([clip_l_state(), sd], "hunyuan_video", opt)
    if family == "qwen_image":
        sd, opt = llm_state("qwen25_7b", overrides={"num_hidden_layers": 1})  # the family reads the last layer
        return load([sd], "qwen_image", opt)
    if family == "z_image":
        sd, opt = llm_state("qwen3_4b")
        return load([sd], "lumina2", opt)  # any type: ComfyUI picks Z-Image's encoder from the Qwen3 weights
    if family == "lumina2":
        sd, opt = llm_state("gemma2_2b", overrides={"vocab_size": 320})
        sd["spiece_model"] = tiny_spiece()
        return load([sd], "lumina2", opt)
    if family == "flux2":  # layers 10, 20 and 30 are read: 31 blocks; the layer-39 key keeps the unpruned detection
        sd, opt = llm_state("mistral3_24b", overrides={"num_hidden_layers": 31, "vocab_size": 256 + len(TEKKEN_SPECIALS)})
        sd["model.layers.39.post_attention_layernorm.weight"] = torch.ones(5120)
        sd["tekken_model"] = tiny_tekken()
        with mistral_tokenizer_for_this_transformers():
            return load([sd], "flux", opt)  # any type: ComfyUI picks Flux.2's encoder from the Mistral weights
    if family == "flux2_klein":  # Qwen3-4B, layers 9, 18 and 27 are read
        sd, opt = llm_state("qwen3_4b", overrides={"num_hidden_layers": 28})
        return load([sd], "flux2", opt)  # with the Flux or Flux.2 type, Qwen3 weights make Klein's encoder
    if family in ("hunyuan_image", "hunyuan_video15"):  # Qwen2.5-VL layer -3, and the byT5 glyph encoder
        sd, opt = llm_state("qwen25_7b", overrides={"num_hidden_layers": 4})
        return load([sd, byt5_state()], "hunyuan_image" if family == "hunyuan_image" else "hunyuan_video_15", opt)
    if family == "kandinsky5":
        sd, opt = llm_state("qwen25_7b", overrides={"num_hidden_layers": 2})  # it reads hidden layer -1
        return load([sd, clip_l_state()], "kandinsky5", opt)
    if family == "sa_t5":  # Stable Audio's T5-base: a text encoder CrossSteer does not steer, 768 wide like SD1
        sd, opt = t5_state(name="t5base", config_file="t5_config_base.json", xxl=False)
        return load([sd], "stable_audio", opt)
    if family == "ltx2":
        return ltx2_clip()
    raise ValueError(f"no reduced encoder for {family}")


def ltx2_clip():
    """LTX-2's text encoder: Gemma-3-12B, whose 49 hidden states (every layer) feed one 3840 x 49 -> 3840
    projection, so all 48 blocks are kept (1 head, small MLP, a small trained vocabulary) and the weights are
    bfloat16 (the projection alone is 0.7B parameters). The Gemma file and the projection file load as a
    DualCLIPLoader of type ltxv loads them. ComfyUI's LTX-2 encoder passes its options to Gemma without a
    model name, so the depth goes under "_model_config". Gemma's tokenizer pads prompts on the left to 1024
    tokens, which ComfyUI cuts away after the forward pass; the tokenizer option gemma3_12b_min_length=1 (what
    a user can set) skips that padding here to keep the forward pass short on two CPU cores."""
    sd, opt = llm_state("gemma3_12b", overrides={"num_hidden_layers": 48, "vocab_size": 320}, dtype=torch.bfloat16)
    sd["spiece_model"] = tiny_spiece()
    projection = random_like({"text_embedding_projection.weight": torch.Size((3840, 3840 * 49))}, 8, torch.bfloat16)
    clip = load([sd, projection], "ltxv", {"_model_config": opt["gemma3_12b_model_config"]})
    clip.set_tokenizer_option("gemma3_12b_min_length", 1)
    return clip


# families not every ComfyUI version has: (module of its text encoder, the CLIP loader type it needs)
NEEDS = {"flux2_klein": ("comfy.text_encoders.flux", "FLUX2"), "kandinsky5": ("comfy.text_encoders.kandinsky5", None),
         "qwen_image21": ("comfy.text_encoders.qwen_image21", None), "ltx2": ("comfy.text_encoders.lt", None)}


def missing_in_this_comfyui(family: str) -> str | None:
    """Why this ComfyUI cannot build the family's text encoder (naming its version), or None."""
    import importlib
    import importlib.util

    import comfy.sd
    import comfyui_version

    module, clip_type = NEEDS.get(family, (None, None))
    has = (module is None or importlib.util.find_spec(module) is not None) and \
        (clip_type is None or hasattr(comfy.sd.CLIPType, clip_type))
    if family in ("flux2_klein", "ltx2") and has:
        has = hasattr(importlib.import_module(module), "KleinTokenizer" if family == "flux2_klein" else "LTXAVTEModel")
    if not has:
        return f"ComfyUI {comfyui_version.__version__} has no {family} text encoder"
    if family == "qwen_image21":
        return (f"ComfyUI {comfyui_version.__version__} has Qwen-Image 2.1, but no reduced encoder of it is built here "
                "yet (its layout was read from ComfyUI 0.38.1's sources)")
    return None


def byt5_state(seed: int = 5) -> dict:
    """ByT5-small (glyph) at full size (ComfyUI's config: 1472 wide, 12 blocks, about 0.2B parameters): its
    loader tells it apart by the 384-row attention weights, and the glyph config fixes the shapes."""
    import comfy.sd1_clip
    import comfy.text_encoders.t5

    path = Path(comfy.text_encoders.t5.__file__).with_name("byt5_config_small_glyph.json")
    model = comfy.sd1_clip.SDClipModel(device="meta", textmodel_json_config=str(path), model_class=comfy.text_encoders.t5.T5,
                                       special_tokens={"end": 1, "pad": 0})
    return random_like(module_shapes(model.transformer), seed)


# ------------------------------------------------------------------------------ Flux.2's tekken tokenizer
TEKKEN_SPECIALS = ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]",
                   "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]", "[IMG_END]", "[PREFIX]", "[MIDDLE]",
                   "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[TOOL_CONTENT]"]  # Mistral's ids 0-19


def tiny_tekken() -> torch.Tensor:
    """A tekken.json (bytes as a uint8 tensor, as Flux.2 checkpoints carry it): Mistral's special tokens at
    their ids, then the 256 bytes as the whole BPE vocabulary (no merges: every byte a token)."""
    import base64
    import json

    pattern = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?"
               r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
    n = len(TEKKEN_SPECIALS)
    doc = {"config": {"pattern": pattern, "num_vocab_tokens": 256, "default_vocab_size": 256 + n,
                      "default_num_special_tokens": n, "version": "v7"},
           "vocab": [{"rank": i, "token_bytes": base64.b64encode(bytes([i])).decode(), "token_str": None} for i in range(256)],
           "special_tokens": [{"rank": i, "token_str": s, "is_control": True} for i, s in enumerate(TEKKEN_SPECIALS)]}
    return torch.frombuffer(bytearray(json.dumps(doc).encode()), dtype=torch.uint8).clone()


@contextlib.contextmanager
def mistral_tokenizer_for_this_transformers():
    """ComfyUI (0.3.75 and 0.28) converts the tekken vocabulary with transformers 4's
    `MistralConverter(vocab=..., additional_special_tokens=...)`; transformers 5 reads a tekken.json file
    instead (and its LlamaTokenizerFast adds no BOS unless told). Where ComfyUI's call fails, the same
    vocabulary is converted the transformers-5 way while the CLIP loads; the tokenizer is then ComfyUI's."""
    from comfy.text_encoders import flux

    try:
        flux.load_mistral_tokenizer(tiny_tekken())
    except TypeError:
        pass
    else:
        yield
        return
    own = flux.load_mistral_tokenizer

    def convert(data):
        from transformers.integrations.mistral import MistralConverter

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "tekken.json"
            path.write_bytes(data.numpy().tobytes() if torch.is_tensor(data) else data)
            converted = MistralConverter(str(path)).converted()
        return {"tokenizer_object": converted, "legacy": False, "bos_token": "<s>", "eos_token": "</s>",
                "add_bos_token": True, "add_eos_token": False}

    flux.load_mistral_tokenizer = convert
    try:
        yield
    finally:
        flux.load_mistral_tokenizer = own


def write_full_clip_files(folder: Path, seed: int = 0) -> tuple[str, str]:
    """Full-size random CLIP-L and CLIP-G files (fp16, as distributed) in models/text_encoders."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    names = ("random_clip_l.safetensors", "random_clip_g.safetensors")
    if not (folder / names[1]).exists():
        save_file({k: v.half() for k, v in clip_l_state(seed + 1).items()}, str(folder / names[0]))
        save_file({k: v.half() for k, v in clip_g_state(seed + 2).items()}, str(folder / names[1]))
    return names


# ------------------------------------------------------------------------------ diffusion models
def reduced_diffusion_model(family: str):
    """(ModelPatcher, empty latent) of a tiny random diffusion model of the family, or None.

    SD3, Wan, HunyuanVideo and LTXV: a reduced state dict (true text widths: 4096-wide context, SD3's
    2048 and HunyuanVideo's 768 pooled inputs) that ComfyUI's diffusion-model loader
    (`comfy.sd.load_diffusion_model_state_dict`, what UNETLoader calls) detects as that family from its
    weights. SDXL: ComfyUI's detection only accepts the full 2.6B UNet layout, so its SDXL model class is
    built directly with a one-level UNet (2048 context, 2816 ADM input: pooled 1280 + size embeddings)."""
    import comfy.model_patcher
    import comfy.ops
    import comfy.sd

    ops, meta = comfy.ops.disable_weight_init, {"device": "meta", "dtype": torch.float32}
    if family == "sdxl":
        import comfy.supported_models

        config = {"image_size": 32, "in_channels": 4, "out_channels": 4, "model_channels": 64, "num_res_blocks": [1],
                  "channel_mult": [1], "transformer_depth": [1], "transformer_depth_output": [1, 1],
                  "transformer_depth_middle": 1, "context_dim": 2048, "num_head_channels": 64,
                  "use_linear_in_transformer": True, "use_spatial_transformer": True, "adm_in_channels": 2816,
                  "num_classes": "sequential", "use_temporal_attention": False, "legacy": False, "use_checkpoint": False}
        model = comfy.supported_models.SDXL(config).get_model({})
        model.diffusion_model.load_state_dict(random_like(module_shapes(model.diffusion_model), 7), strict=True)
        patcher = comfy.model_patcher.ModelPatcher(model, load_device=torch.device("cpu"), offload_device=torch.device("cpu"))
        return patcher, torch.zeros(1, 4, 8, 8)
    if family == "sd3":
        from comfy.ldm.modules.diffusionmodules.mmdit import MMDiT

        net = MMDiT(patch_size=2, in_channels=16, out_channels=16, depth=2, adm_in_channels=2048,
                    context_embedder_config={"target": "torch.nn.Linear", "params": {"in_features": 4096, "out_features": 128}},
                    pos_embed_max_size=16, num_patches=256, operations=ops, **meta)
        latent = torch.zeros(1, 16, 8, 8)
    elif family == "wan":
        from comfy.ldm.wan.model import WanModel

        net = WanModel(model_type="t2v", patch_size=(1, 2, 2), text_len=512, in_dim=16, dim=128, ffn_dim=64, freq_dim=256,
                       text_dim=4096, out_dim=16, num_heads=1, num_layers=1, window_size=(-1, -1), qk_norm=True,
                       cross_attn_norm=True, eps=1e-6, operations=ops, **meta)
        latent = torch.zeros(1, 16, 1, 8, 8)
    elif family == "hunyuan_video":
        from comfy.ldm.hunyuan_video.model import HunyuanVideo, HunyuanVideoParams

        newer = {"meanflow_sum": False} if "meanflow_sum" in HunyuanVideoParams.__dataclass_fields__ else {}  # 0.28
        net = HunyuanVideo(image_model="hunyuan_video", in_channels=16, out_channels=16, vec_in_dim=768, context_in_dim=4096,
                           hidden_size=128, mlp_ratio=4.0, num_heads=1, depth=1, depth_single_blocks=1, axes_dim=[16, 56, 56],
                           theta=256, patch_size=[1, 2, 2], qkv_bias=True, guidance_embed=True, byt5=False, meanflow=False,
                           use_cond_type_embedding=False, vision_in_dim=None, **newer, operations=ops, **meta)
        latent = torch.zeros(1, 16, 1, 8, 8)
    elif family == "ltxv":
        from comfy.ldm.lightricks.model import LTXVModel

        net = LTXVModel(in_channels=128, cross_attention_dim=128, attention_head_dim=4, num_attention_heads=32,
                        caption_channels=4096, num_layers=1, operations=ops, **meta)
        latent = torch.zeros(1, 128, 1, 2, 2)
    else:
        return None
    return comfy.sd.load_diffusion_model_state_dict(random_like(module_shapes(net), 7)), latent


# why the other families get no sampler step here
NO_SAMPLER = {
    "flux": "ComfyUI's detection fixes Flux at 3072 wide with 24 heads of 128: one double + one single block is "
            "~0.5B parameters, too slow for a 2-core test machine",
    "chroma": "Chroma is detected with Flux's fixed 3072-wide blocks (see flux)",
    "hidream": "HiDream's detection fixes its full MoE layout (2560 wide, 16+32 blocks)",
    "mochi": "ComfyUI's detection fixes Mochi at 48 blocks of 3072",
    "qwen_image": "ComfyUI's detection fixes Qwen-Image's 3072-wide blocks (only the count varies)",
    "lumina2": "ComfyUI's detection ties Lumina2's head count to its 2304 width",
    "z_image": "ComfyUI's detection ties Z-Image's head count to its 3840 width",
    "sdxl_refiner": "no tiny SDXL refiner UNet is built here (its 2560-wide ADM input takes the pooled CLIP-G and an "
                    "aesthetic score); the SDXL step covers the CLIP layout",
    "flux2": "no tiny Flux.2 diffusion model is built here",
    "flux2_klein": "no tiny Flux.2 Klein diffusion model is built here",
    "hunyuan_image": "no tiny HunyuanImage 2.1 diffusion model is built here",
    "hunyuan_video15": "no tiny HunyuanVideo 1.5 diffusion model is built here",
    "kandinsky5": "no tiny Kandinsky 5 diffusion model is built here",
    "ltx2": "no tiny LTX-2 audio-video model is built here",
    "qwen_image21": "no tiny Qwen-Image 2.1 diffusion model is built here",
}
