"""Fixtures that run the pack inside a real ComfyUI (see comfy_harness.py)."""
from __future__ import annotations

import pytest

import comfy_harness


@pytest.fixture(scope="session")
def comfy_base(tmp_path_factory):
    """One ComfyUI base directory for the session: custom_nodes -> this checkout, empty model folders."""
    base = comfy_harness.make_base_directory(tmp_path_factory.mktemp("comfy_base"))
    comfy_harness.prepare_comfy_imports(base)
    return base


@pytest.fixture(scope="session")
def sd15_checkpoint(comfy_base):
    """File name (inside models/checkpoints) of a random-weight SD1.5 checkpoint."""
    name = "random_sd15.safetensors"
    comfy_harness.write_random_sd15_checkpoint(comfy_base / "models" / "checkpoints" / name)
    return name


@pytest.fixture(scope="session")
def comfy(comfy_base):
    """ComfyUI loaded in-process, this pack loaded by its own custom-node loader."""
    return comfy_harness.InProcessComfy(comfy_base)


@pytest.fixture(scope="session")
def comfy_server(comfy_base, tmp_path_factory):
    """A ComfyUI HTTP server on 127.0.0.1 (free port, --cpu), stopped at the end of the session."""
    server = comfy_harness.ComfyServer(comfy_base, tmp_path_factory.mktemp("logs") / "comfyui.log")
    yield server
    server.stop()


# ------------------------------------------------------------------ real embedded text encoders (slow tests)
def _embedded_encoder(name: str):
    """An embedded model loaded once per session, without the on-disk embedding cache (tests that need a
    cache attach their own), so no test reads vectors that an older version of the code computed."""
    from crosssteer.directions.encoders import EncoderError, load_encoder

    try:
        return load_encoder(name, use_cache=False)
    except EncoderError as err:
        if "is not installed" in str(err):
            pytest.skip(f"{err} (scripts/setup.sh installs it)")
        raise


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M (GGUF, dequantised once into the model cache): causal, 576 wide, 30 layers."""
    return _embedded_encoder("smollm2-135m")


@pytest.fixture(scope="session")
def gemma3():
    """Gemma 3 270M (GGUF): causal, 640 wide, 18 layers."""
    return _embedded_encoder("gemma3-270m")


@pytest.fixture(scope="session")
def minilm():
    """all-MiniLM-L6-v2: a BERT encoder, 384 wide, 6 layers."""
    return _embedded_encoder("minilm-l6")


# ------------------------------------------------------------------ injected evaluator models
@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    """A tiny random-weight CLIP saved as a folder, because no CLIP weights can be downloaded here;
    it proves the plumbing and the formula, not semantic alignment. The tokenizer is ComfyUI's real
    CLIP-L BPE vocabulary."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    try:
        tokenizer_dir = comfy_harness.comfy_dir() / "comfy" / "sd1_tokenizer"
    except RuntimeError as err:
        pytest.skip(str(err))
    if not (tokenizer_dir / "vocab.json").is_file():
        pytest.skip(f"no CLIP tokenizer at {tokenizer_dir}")
    torch.manual_seed(2)  # a seed whose scores include both positive and negative cosines
    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = CLIPConfig(text_config=dict(small, vocab_size=49408, max_position_embeddings=77),
                        vision_config=dict(small, image_size=32, patch_size=8), projection_dim=16)
    folder = tmp_path_factory.mktemp("tiny_clip")
    CLIPModel(config).save_pretrained(folder)
    CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                     crop_size={"height": 32, "width": 32}),
                  tokenizer=CLIPTokenizer.from_pretrained(tokenizer_dir)).save_pretrained(folder)
    return folder
