"""A real ComfyUI for the tests: located, loaded in-process, or served over HTTP, with this pack
loaded by ComfyUI's own custom-node loader, and a random-weight SD1.5 checkpoint to run graphs on.

Random weights prove plumbing, not semantics: no real checkpoint can be downloaded on the machines
that run these tests (see ENVIRONMENT.md), so the SD1.5 file is written here from ComfyUI's own
model classes with random parameters (a one-level UNet, the full-size CLIP-L, a TAESD-layout VAE).
"""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from crosssteer.evaluation.comfy_client import ComfyClient, ComfyServerError

PACK_ROOT = Path(__file__).resolve().parents[1]


def comfy_dir() -> Path:
    """The ComfyUI the setup script provisioned, or the one COMFYUI_PATH names."""
    path = Path(os.environ.get("COMFYUI_PATH") or PACK_ROOT / ".comfyui" / "ComfyUI")
    if not (path / "main.py").is_file():
        raise RuntimeError(f"no ComfyUI at {path}: run `bash scripts/setup.sh` (or set COMFYUI_PATH)")
    return path


def make_base_directory(base: Path) -> Path:
    """A ComfyUI base directory whose custom_nodes holds only this pack (a symlink to the checkout)."""
    (base / "custom_nodes").mkdir(parents=True, exist_ok=True)
    for sub in ("models/checkpoints", "models/LLM", "models/safety_directions", "input", "output", "temp", "user"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    link = base / "custom_nodes" / "crosssteer"
    if not link.exists():
        link.symlink_to(PACK_ROOT, target_is_directory=True)
    return base


def prepare_comfy_imports(base: Path | None = None) -> None:
    """Put ComfyUI on sys.path with CPU-only arguments, before any `comfy` module is imported
    (model_management probes CUDA at import; folder_paths reads the base directory at import)."""
    if str(comfy_dir()) not in sys.path:
        sys.path.insert(0, str(comfy_dir()))
    import comfy.options

    comfy.options.enable_args_parsing(False)
    import comfy.cli_args

    comfy.cli_args.args.cpu = True
    # ComfyUI keeps text encoders in fp16 by default, and fp16 matmuls crawl on a CPU (5 s a prompt)
    comfy.cli_args.args.fp32_text_enc = True
    comfy.cli_args.args.disable_api_nodes = True
    if base is not None:
        if "folder_paths" in sys.modules and comfy.cli_args.args.base_directory != str(base):
            raise RuntimeError("folder_paths was imported before the base directory was set")
        comfy.cli_args.args.base_directory = str(base)


# ---------------------------------------------------------------- random-weight SD1.5 checkpoint
def write_random_sd15_checkpoint(path: Path, seed: int = 0) -> Path:
    """Write an SD1.5-format checkpoint that ComfyUI's CheckpointLoaderSimple detects as SD15."""
    import torch
    from safetensors.torch import save_file

    prepare_comfy_imports()

    import comfy.ops
    import comfy.sd1_clip
    import comfy.taesd.taesd
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    torch.manual_seed(seed)
    ops = comfy.ops.disable_weight_init
    unet = UNetModel(
        image_size=32, in_channels=4, model_channels=320, out_channels=4, num_res_blocks=[1],
        channel_mult=[1], transformer_depth=[1], transformer_depth_output=[1, 1],
        transformer_depth_middle=1, context_dim=768, num_heads=8, use_linear_in_transformer=False,
        use_spatial_transformer=True, operations=ops,
    )
    clip = comfy.sd1_clip.SDClipModel(device="cpu", dtype=torch.float32)
    vae = comfy.taesd.taesd.TAESD()
    state = {}
    for prefix, module in (("model.diffusion_model.", unet), ("cond_stage_model.", clip), ("first_stage_model.", vae)):
        for name, tensor in module.state_dict().items():
            if prefix == "first_stage_model." and name in ("vae_scale", "vae_shift"):
                value = torch.tensor(1.0 if name == "vae_scale" else 0.0)
            elif tensor.dtype.is_floating_point:
                value = torch.randn(tensor.shape) * (0.02 if tensor.ndim > 1 else 0.01)
            else:
                value = tensor.clone()
            state[prefix + name] = value.to(torch.float16) if value.is_floating_point() else value
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path


# ---------------------------------------------------------------- in-process ComfyUI
class InProcessComfy:
    """ComfyUI imported into this interpreter: its node registry, its validator and its executor."""

    def __init__(self, base: Path):
        prepare_comfy_imports(base)
        import utils.install_util  # noqa: F401  (before `nodes`, which puts comfy/ first on sys.path)
        import folder_paths
        import server
        import execution
        import nodes

        self.folder_paths, self.execution, self.nodes = folder_paths, execution, nodes
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.server = server.PromptServer(self.loop)
        self.loop.run_until_complete(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
        self.executor = execution.PromptExecutor(self.server, cache_args={"lru": 0, "ram": 0, "ram_inactive": 0})

    def node_class(self, name: str):
        return self.nodes.NODE_CLASS_MAPPINGS[name]

    def run(self, prompt: dict) -> dict:
        """Validate and execute an API-format graph; return its history entry's outputs."""
        prompt_id = str(uuid.uuid4())
        valid = self.loop.run_until_complete(self.execution.validate_prompt(prompt_id, prompt, None))
        if not valid[0]:
            raise AssertionError(f"graph did not validate: {valid[1]} {valid[3]}")
        self.executor.execute(prompt, prompt_id, {}, valid[2])
        if not self.executor.success:
            errors = [m[1] for m in self.executor.status_messages if m[0] == "execution_error"]
            brief = [{k: e.get(k) for k in ("node_type", "exception_type", "exception_message")} for e in errors]
            raise AssertionError(f"graph failed: {brief or self.executor.status_messages}")
        return self.executor.history_result["outputs"]


# ---------------------------------------------------------------- ComfyUI over HTTP
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyServer:
    """`python main.py --cpu` on a free loopback port, in its own base directory."""

    def __init__(self, base: Path, log_path: Path):
        self.base, self.port = base, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = ComfyClient(self.url)
        self.log = open(log_path, "wb")
        cmd = [sys.executable, str(comfy_dir() / "main.py"), "--cpu", "--listen", "127.0.0.1",
               "--port", str(self.port), "--base-directory", str(base), "--disable-api-nodes",
               "--disable-auto-launch", "--fp32-text-enc", "--output-directory", str(base / "output")]
        self.process = subprocess.Popen(cmd, cwd=comfy_dir(), stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_until_up(log_path)

    def _wait_until_up(self, log_path: Path, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.process.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                self.get("/system_stats")
                return
            except ComfyServerError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"ComfyUI did not answer within {timeout}s:\n{log_path.read_text()[-4000:]}")

    def get(self, path: str):
        return self.client.request(path)

    def run(self, prompt: dict, timeout: float = 300) -> dict:
        """Queue an API-format graph through /prompt and wait for its /history entry (the pack's own client)."""
        return ComfyClient(self.url, timeout=timeout).run(prompt)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def txt2img_graph(ckpt_name: str, text: str = "a red bicycle", steps: int = 2, seed: int = 0) -> dict:
    """The standard SD1.5 graph in API format: load, encode, sample, decode, save."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt_name}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "seed": seed, "steps": steps, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "crosssteer_test"}},
    }
