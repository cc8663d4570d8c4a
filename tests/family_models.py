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

import io as _io
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
            block = torch.randn(1_000_003, generator=g) * scale  # prime length: rows do not repeat in step
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
             overrides: dict | None = None) -> tuple[dict, dict]:
    """A reduced T5-XXL (or umT5-XXL) encoder: 4096 wide, one block; the dummy block-23 key keeps
    ComfyUI's T5-XXL detection."""
    import comfy.sd1_clip
    import comfy.text_encoders.t5

    config = {**T5_REDUCED, **(overrides or {})}
    options = {f"{name}_model_config": config, "model_name": name}
    path = Path(comfy.text_encoders.t5.__file__).with_name(config_file)
    model = comfy.sd1_clip.SDClipModel(device="meta", textmodel_json_config=str(path), model_class=comfy.text_encoders.t5.T5,
                                       special_tokens={"end": 1, "pad": 0}, model_options=options)
    sd = random_like(module_shapes(model.transformer), seed)
    # T5-XXL's true block-23 gate shape: ComfyUI 0.3.75 reads its last dimension, 0.28 its first (a view,
    # so no 160 MB tensor is allocated; the loader ignores the key)
    sd["encoder.block.23.layer.1.DenseReluDense.wi_1.weight"] = torch.zeros(1, 1).expand(10240, 4096)
    options.pop("model_name")
    return sd, options


def llm_state(kind: str, seed: int = 4, overrides: dict | None = None) -> tuple[dict, dict]:
    """A reduced LLM text encoder of ComfyUI's own class: true width, 1 block (2 where the family reads
    layer -2), small MLP. kind: qwen25_7b, qwen3_4b, gemma2_2b, llama."""
    import comfy.sd1_clip
    from comfy.text_encoders import llama

    classes = {"qwen25_7b": llama.Qwen25_7BVLI, "qwen3_4b": llama.Qwen3_4B, "gemma2_2b": llama.Gemma2_2B,
               "llama": llama.Llama2}
    # few attention heads (head size kept): the width stays true, the matmuls get small. Qwen2.5-7B keeps
    # its 4 key/value heads, which ComfyUI's detection reads from the k_proj bias (4 x 128 = 512).
    heads = {"num_attention_heads": 4, "num_key_value_heads": 4} if kind == "qwen25_7b" else \
        {"num_attention_heads": 1, "num_key_value_heads": 1}
    config = {"num_hidden_layers": 3, "intermediate_size": 64, **heads, **(overrides or {})}
    options = {f"{kind}_model_config": config, "model_name": kind}
    model = comfy.sd1_clip.SDClipModel(device="meta", textmodel_json_config={}, model_class=classes[kind],
                                       special_tokens={"pad": 0}, layer_norm_hidden_state=False, model_options=options)
    shapes = {k: v for k, v in module_shapes(model.transformer).items() if not k.startswith("visual.")}
    sd = random_like(shapes, seed)
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
    raise ValueError(f"no reduced encoder for {family}")


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
}
