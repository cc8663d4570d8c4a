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
