"""The real ComfyUI runs real graphs, in-process and over HTTP, with this pack loaded."""
from __future__ import annotations

import pytest

import comfy_harness

pytestmark = pytest.mark.comfy


def test_sd15_graph_runs_through_prompt_and_history(comfy_server, sd15_checkpoint, comfy_base):
    outputs = comfy_server.run(comfy_harness.txt2img_graph(sd15_checkpoint))
    images = outputs["7"]["images"]
    assert len(images) == 1
    assert (comfy_base / "output" / images[0]["subfolder"] / images[0]["filename"]).stat().st_size > 0


def test_sd15_graph_runs_in_process(comfy, sd15_checkpoint):
    outputs = comfy.run(comfy_harness.txt2img_graph(sd15_checkpoint, seed=1))
    assert outputs["7"]["images"][0]["filename"].startswith("crosssteer_test")
