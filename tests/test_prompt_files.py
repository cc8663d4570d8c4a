"""Prompt files in ComfyUI's input folder and ComfyUI's cache: Extract and Fit read their pairs and anchors
file by name, and their fingerprint is the file's content, so a file edited between two runs of the same
graph is read again (and an unchanged one is not).

Real graphs through the in-process ComfyUI; the encoder is the random-weight SD1.5 checkpoint's CLIP (the
native baseline for Extract, source and target for Fit), so no LLM is loaded.
"""
from __future__ import annotations

import copy
import json

import pytest

pytestmark = [pytest.mark.comfy]

WHO = ("a man", "a woman", "two friends", "an old sailor", "a boy", "a girl", "a chef", "a farmer")
CATEGORIES = {"violence": ("stabbing a stranger", "greeting a stranger"),
              "hate": ("waving a swastika banner", "waving a festival banner")}


def pairs_jsonl(categories: list[str]) -> str:
    return "".join(json.dumps({"category": c, "unsafe": f"{who} {CATEGORIES[c][0]}", "safe": f"{who} {CATEGORIES[c][1]}"})
                   + "\n" for c in categories for who in WHO)


def anchors_text(n: int) -> str:
    things = ["cat", "car", "house", "tree", "boat", "lamp", "horse", "bridge", "kite", "tower", "owl", "tent",
              "bench", "clock", "river", "train", "cup", "chair", "hill", "road"]
    return "".join(f"a photo of a {t}\n" for t in things[:n])


def graph(ckpt: str, pairs: str, anchors: str) -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CrossSteerExtractSafetyDirection", "inputs": {
            "clip": ["1", 1], "pairs": pairs, "pasted_pairs": "", "layer": 0, "pooling": "mean",
            "method": "mean_diff", "per_category": True,
            # calibration anchors pasted, so that editing the anchors file concerns Fit alone
            "anchors": "pasted below", "pasted_anchors": anchors_text(16)}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 1]}},
        "4": {"class_type": "CrossSteerFitBenignAlignment", "inputs": {
            "clip": ["1", 1], "source_clip": ["1", 1], "anchors": anchors, "pasted_anchors": "",
            "method": "ridge", "layer": -1, "seed": 0}},
        "5": {"class_type": "PreviewAny", "inputs": {"source": ["4", 1]}},
    }


def run(comfy, g: dict) -> dict:
    """Each run gets its own copy, as from a client: ComfyUI writes the fingerprints into the graph it runs."""
    return comfy.run(copy.deepcopy(g))


def executed(comfy) -> set[str]:
    cached = {n for event, data in comfy.executor.status_messages if event == "execution_cached" for n in data["nodes"]}
    return {"2", "4"} - cached


def test_an_edited_pairs_or_anchors_file_is_read_again(comfy, comfy_base, sd15_checkpoint):
    pairs = comfy_base / "input" / "crosssteer_test_pairs.jsonl"
    anchors = comfy_base / "input" / "crosssteer_test_anchors.txt"
    pairs.write_text(pairs_jsonl(["violence"]))
    anchors.write_text(anchors_text(16))
    try:
        g = graph(sd15_checkpoint, pairs.name, anchors.name)
        out = run(comfy, g)
        assert "violence" in out["3"]["text"][0] and "hate" not in out["3"]["text"][0]
        assert "anchors" in out["5"]["text"][0]
        first_fit = out["5"]["text"][0]

        run(comfy, g)  # nothing changed: both nodes come from the cache
        assert executed(comfy) == set()

        pairs.write_text(pairs_jsonl(["violence", "hate"]))  # same name, new content
        out = run(comfy, g)
        assert executed(comfy) == {"2"}
        assert "hate" in out["3"]["text"][0]

        anchors.write_text(anchors_text(20))
        out = run(comfy, g)
        assert executed(comfy) == {"4"}
        assert out["5"]["text"][0] != first_fit  # 20 anchors now: other fit / held-out counts
    finally:
        pairs.unlink(missing_ok=True)
        anchors.unlink(missing_ok=True)
