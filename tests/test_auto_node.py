"""Safety Steering (auto) inside a real ComfyUI, end to end on the random-weight SD1.5 checkpoint: the first
run builds the direction with the real embedded smollm2-135m and fits it through the checkpoint's own CLIP-L,
saves it under the CLIP's fingerprint, steers; a later run loads that file and only applies it.

As in tests/test_nodes.py, the shipped pairs (687) and anchors (3,461) are replaced by small files in
ComfyUI's input folder (the node's `pairs` / `anchors` inputs): through the full-size CLIP-L on two CPU
cores the shipped anchors alone take 10 to 30 minutes (benchmarks/auto_first_build.py measures it). The
shipped precomputed source side does not cover these files, so the node computes it with the LLM; the last
test checks that a precomputed one gives the same direction.
"""
from __future__ import annotations

import copy
import json
import time

import pytest
import torch

import comfy_harness
from test_nodes import ANCHORS, PAIRS

pytestmark = [pytest.mark.comfy, pytest.mark.slow]
AUTO = "CrossSteerSafetySteeringAuto"


@pytest.fixture(scope="module")
def prompt_files(comfy_base):
    (comfy_base / "input" / "auto_pairs.jsonl").write_text(pairs_jsonl(PAIRS))
    (comfy_base / "input" / "auto_anchors.txt").write_text(ANCHORS + "\n")
    return "auto_pairs.jsonl", "auto_anchors.txt"


def pairs_jsonl(text: str) -> str:
    """'category | unsafe | safe' lines as a pairs file (JSONL)."""
    rows = (line.split(" | ") for line in text.splitlines())
    return "".join(json.dumps({"category": c, "unsafe": u, "safe": s}) + "\n" for c, u, s in rows)


@pytest.fixture(scope="module")
def sd15_clip(comfy, sd15_checkpoint):
    _model, clip, _vae = comfy.node_class("CheckpointLoaderSimple")().load_checkpoint(sd15_checkpoint)[:3]
    return clip


def _saved(comfy_base) -> set[str]:
    return {p.name for p in (comfy_base / "models" / "safety_directions").glob("auto_*.safetensors")}


def auto_graph(ckpt: str, pairs: str, anchors: str, strength: float = 3.0) -> dict:
    graph = comfy_harness.txt2img_graph(ckpt, text="a man stabbing a stranger in a kitchen")
    graph["20"] = {"class_type": AUTO, "inputs": {"clip": ["1", 1], "conditioning": ["2", 0], "strength": strength,
                                                  "mode": "add", "pairs": pairs, "anchors": anchors}}
    graph["5"]["inputs"]["positive"] = ["20", 0]
    return graph


def test_first_run_builds_and_caches_then_later_runs_only_apply(comfy, comfy_base, sd15_checkpoint, prompt_files):
    before = _saved(comfy_base)
    started = time.perf_counter()
    outputs = comfy.run(auto_graph(sd15_checkpoint, *prompt_files))
    first = time.perf_counter() - started
    assert outputs["7"]["images"]
    (new,) = _saved(comfy_base) - before
    assert new.startswith("auto_sd1_") and outputs["20"]["text"] == [f"built and saved: {new}"]
    stamp = (comfy_base / "models" / "safety_directions" / new).stat().st_mtime_ns
    started = time.perf_counter()
    outputs = comfy.run(auto_graph(sd15_checkpoint, *prompt_files, strength=5.0))  # Auto runs again
    second = time.perf_counter() - started
    assert outputs["20"]["text"] == [f"cached: {new}"] and _saved(comfy_base) - before == {new}
    assert (comfy_base / "models" / "safety_directions" / new).stat().st_mtime_ns == stamp
    print(f"first run (build + sample) {first:.1f}s, second run (apply + sample) {second:.1f}s")


def test_cached_direction_steers_exactly_as_apply_with_that_file(comfy, comfy_base, sd15_clip, prompt_files):
    from crosssteer.directions.safety_direction import SafetyDirection

    encode = comfy.node_class("CLIPTextEncode")()
    cond = encode.encode(sd15_clip, "a man stabbing a stranger in a kitchen")[0]
    before = copy.deepcopy(cond)
    auto = comfy.node_class(AUTO)
    out = auto.execute(clip=sd15_clip, conditioning=cond, strength=4.0, mode="gated", pairs=prompt_files[0],
                       anchors=prompt_files[1])
    steered, name = out.result
    direction = SafetyDirection.load(comfy_base / "models" / "safety_directions" / name)
    assert direction.meta["space"] == "target" and direction.meta["target"]["family"] == "sd1"
    assert direction.meta["source"]["model"].startswith("smollm2")
    expected = comfy.node_class("CrossSteerApplySafetySteering").execute(
        conditioning=cond, direction=direction, strength=4.0, mode="gated", tokens="content",
        gate_threshold=0.0, family="sd1").result[0]
    assert torch.equal(steered[0][0], expected[0][0]) and not torch.equal(steered[0][0], cond[0][0])
    assert torch.equal(before[0][0], cond[0][0]), "the input conditioning was changed"


def test_another_prompt_set_builds_another_file_and_a_bad_file_is_refused_before_loading(
        comfy, comfy_base, sd15_clip, prompt_files):
    auto = comfy.node_class(AUTO)
    cond = comfy.node_class("CLIPTextEncode")().encode(sd15_clip, "a lighthouse")[0]
    (comfy_base / "input" / "auto_bad_pairs.jsonl").write_text(pairs_jsonl("violence | only one pair | one safe"))
    with pytest.raises(ValueError, match="too few"):
        auto.execute(clip=sd15_clip, conditioning=cond, strength=3.0, mode="add", pairs="auto_bad_pairs.jsonl",
                     anchors=prompt_files[1])
    names = {auto.execute(clip=sd15_clip, conditioning=cond, strength=3.0, mode="add", pairs=prompt_files[0],
                          anchors=anchors).result[1]
             for anchors in (prompt_files[1], _more_anchors(comfy_base))}
    assert len(names) == 2


def _more_anchors(comfy_base) -> str:
    (comfy_base / "input" / "auto_anchors_2.txt").write_text(ANCHORS + "\na grey heron on a pier\n")
    return "auto_anchors_2.txt"


def test_cancelling_the_first_build_saves_nothing(comfy, comfy_base, sd15_clip, prompt_files):
    import comfy.model_management as mm

    (comfy_base / "input" / "auto_cancel_pairs.jsonl").write_text(pairs_jsonl(PAIRS.replace("photo", "photo, cancelled")))
    before = _saved(comfy_base)
    cond = comfy.node_class("CLIPTextEncode")().encode(sd15_clip, "a lighthouse")[0]
    mm.interrupt_current_processing(True)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            comfy.node_class(AUTO).execute(clip=sd15_clip, conditioning=cond, strength=3.0, mode="add",
                                           pairs="auto_cancel_pairs.jsonl", anchors=prompt_files[1])
    finally:
        mm.interrupt_current_processing(False)
    assert _saved(comfy_base) == before


def test_a_precomputed_source_side_builds_the_same_direction_as_the_llm_and_loads_no_llm(
        comfy, comfy_base, sd15_clip, smollm2, monkeypatch, caplog, tmp_path):
    """The shipped directions/data/auto_source.safetensors covers the shipped prompt sets, whose 3,461 anchors
    take 10 to 30 minutes through CLIP-L here; so this test writes a precomputed source side for small prompt
    files with the same code and the real smollm2 (scripts/make_auto_source.py does it for the shipped sets)
    and points the node at it (the only thing replaced is that file's path). Built from the file, the node
    loads no LLM; built with the LLM (the file then does not match), it gives the same direction."""
    import logging
    import sys

    from crosssteer.directions import prompts
    from crosssteer.directions.safety_direction import SafetyDirection
    from crosssteer.directions.source_side import build_source_side

    pairs_file, anchors_file = "auto_pre_pairs.jsonl", "auto_pre_anchors.txt"
    (comfy_base / "input" / pairs_file).write_text(pairs_jsonl(PAIRS.replace("photo", "photo, precomputed")))
    (comfy_base / "input" / anchors_file).write_text(ANCHORS + "\n")
    side = build_source_side(smollm2, prompts.load_pairs(comfy_base / "input" / pairs_file),
                             prompts.load_anchors(comfy_base / "input" / anchors_file))
    node_module = sys.modules[comfy.node_class(AUTO).__module__]
    llm_class = node_module.LLMHandle
    cond = comfy.node_class("CLIPTextEncode")().encode(sd15_clip, "a lighthouse")[0]

    def build() -> SafetyDirection:
        name = comfy.node_class(AUTO).execute(clip=sd15_clip, conditioning=cond, strength=3.0, mode="add",
                                              pairs=pairs_file, anchors=anchors_file).result[1]
        path = comfy_base / "models" / "safety_directions" / name
        direction = SafetyDirection.load(path)
        path.unlink()  # the next build makes it again
        return direction

    def no_llm(self):
        raise AssertionError("the precomputed source side was not used: an LLM was loaded")

    caplog.set_level(logging.INFO)
    with monkeypatch.context() as patch:
        patch.setattr(node_module, "SHIPPED_SOURCE_SIDE", side.save(tmp_path / "auto_source.safetensors"))
        patch.setattr(llm_class, "load", no_llm)
        from_file = build()
    assert "comes precomputed with the pack" in caplog.text
    caplog.clear()
    with_llm = build()  # the shipped file is for the shipped prompt sets, not these
    assert "is not used, it was made from other prompt pairs" in caplog.text
    assert from_file.meta["layer"] == with_llm.meta["layer"] and from_file.meta["source"] == with_llm.meta["source"]
    for a, b in [(from_file, with_llm), *((from_file.spaces[n], with_llm.spaces[n]) for n in with_llm.spaces)]:
        for name, v in b.vectors.items():
            assert float(torch.dot(a.vectors[name], v)) > 0.999, name
            assert a.units[name] == pytest.approx(b.units[name], rel=1e-2)
    assert set(from_file.spaces) == set(with_llm.spaces)
