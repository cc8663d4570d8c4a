"""The pack's nodes inside a real ComfyUI: schemas over HTTP, full graphs in-process and through
/prompt, the steering arithmetic, input immutability, refusals and cancellation.

The target model is the random-weight SD1.5 checkpoint (real ComfyUI loaders, random weights: no
checkpoint can be downloaded here); the source LLM is the real embedded smollm2-135m.
"""
from __future__ import annotations

import copy

import pytest
import torch

import comfy_harness

pytestmark = [pytest.mark.comfy]

NODE_IDS = ["CrossSteerLoadSourceLLM", "CrossSteerExtractSafetyDirection", "CrossSteerFitBenignAlignment",
            "CrossSteerTransportDirection", "CrossSteerApplySafetySteering", "CrossSteerCategoryVectorMixer",
            "CrossSteerSaveSafetyDirection", "CrossSteerLoadSafetyDirection"]

PAIRS = "\n".join(
    f"{cat} | {who} {bad} {where}, photo | {who} {good} {where}, photo"
    for who in ("a man", "a woman", "two friends", "an old sailor")
    for where in ("in a kitchen", "on a beach")
    for cat, bad, good in (("violence", "stabbing a stranger", "greeting a stranger"),
                           ("sexual", "posing fully nude", "posing in a wool coat"),
                           ("hate", "waving a swastika banner", "waving a festival banner")))
ANCHORS = "\n".join(f"a {c} {t} in the {p}" for c, t, p in zip(
    ["red", "blue", "small", "old", "tall", "green", "shiny", "wooden", "striped", "quiet", "sleepy", "bright"] * 2,
    ["cat", "car", "house", "tree", "boat", "lamp", "horse", "bridge", "kite", "tower", "owl", "tent"] * 2,
    ["park", "city", "snow", "desert", "harbor", "forest", "market"] * 4))


def steering_graph(ckpt: str, strength: float = 3.0, mode: str = "add") -> dict:
    graph = comfy_harness.txt2img_graph(ckpt, text="a man stabbing a stranger in a kitchen")
    graph.update({
        "10": {"class_type": "CrossSteerLoadSourceLLM", "inputs": {
            "model": "smollm2-135m", "device": "auto", "dtype": "auto", "trust_remote_code": False}},
        "11": {"class_type": "CrossSteerExtractSafetyDirection", "inputs": {
            "llm": ["10", 0], "pairs": "pasted below", "pasted_pairs": PAIRS, "layer": 12, "pooling": "mean",
            "method": "mean_diff", "per_category": True}},
        "12": {"class_type": "CrossSteerFitBenignAlignment", "inputs": {
            "llm": ["10", 0], "clip": ["1", 1], "direction": ["11", 0], "anchors": "pasted below",
            "pasted_anchors": ANCHORS, "method": "ridge", "layer": -1, "seed": 0}},
        "13": {"class_type": "CrossSteerApplySafetySteering", "inputs": {
            "conditioning": ["2", 0], "direction": ["11", 0], "alignment": ["12", 0], "strength": strength,
            "mode": mode, "tokens": "non-padding", "gate_threshold": 1.0}},
        "14": {"class_type": "CrossSteerTransportDirection", "inputs": {"direction": ["11", 0], "alignment": ["12", 0]}},
        "15": {"class_type": "CrossSteerSaveSafetyDirection", "inputs": {"direction": ["14", 0], "filename": "shared"}},
    })
    graph["5"]["inputs"]["positive"] = ["13", 0]
    return graph


def test_object_info_lists_every_node_with_descriptions_and_tooltips(comfy_server):
    info = comfy_server.get("/object_info")
    for node_id in NODE_IDS:
        assert node_id in info, f"{node_id} missing from /object_info"
        node = info[node_id]
        assert node["category"] == "conditioning/safety"
        assert node["description"]
        for section in ("required", "optional"):
            for name, spec in node["input"].get(section, {}).items():
                if node_id == "CrossSteerTransportDirection" or name in ("conditioning", "direction"):
                    continue  # plain sockets, explained by the node description
                assert len(spec) > 1 and spec[1].get("tooltip"), f"{node_id}.{name} has no tooltip"
    assert "smollm2-135m" in info["CrossSteerLoadSourceLLM"]["input"]["required"]["model"][1]["options"]


def test_full_graph_runs_through_prompt(comfy_server, sd15_checkpoint, comfy_base):
    outputs = comfy_server.run(steering_graph(sd15_checkpoint), timeout=600)
    assert outputs["7"]["images"][0]["filename"].endswith(".png")
    saved = outputs["15"]["text"][0]
    assert (comfy_base / "models" / "safety_directions" / saved).stat().st_size > 0


def test_full_graph_runs_in_process_and_the_saved_direction_steers_without_an_llm(comfy, sd15_checkpoint, comfy_base):
    outputs = comfy.run(steering_graph(sd15_checkpoint))
    saved = outputs["15"]["text"][0]
    graph = comfy_harness.txt2img_graph(sd15_checkpoint)
    graph["20"] = {"class_type": "CrossSteerLoadSafetyDirection", "inputs": {"direction_file": saved}}
    graph["21"] = {"class_type": "CrossSteerApplySafetySteering", "inputs": {
        "conditioning": ["2", 0], "direction": ["20", 0], "strength": 2.0, "mode": "gated", "tokens": "non-padding",
        "gate_threshold": 1.0}}
    graph["5"]["inputs"]["positive"] = ["21", 0]
    assert comfy.run(graph)["7"]["images"]


@pytest.fixture(scope="module")
def target_direction(comfy):
    """A calibrated 768-wide target direction with category vectors (synthetic: the arithmetic is the point)."""
    from crosssteer.directions.safety_direction import SafetyDirection
    from crosssteer.directions.space import Standardizer

    g = torch.Generator().manual_seed(0)
    vectors = {n: torch.nn.functional.normalize(torch.randn(768, generator=g), dim=0)
               for n in ("global", "violence", "sexual")}
    std = Standardizer(mean=torch.randn(768, generator=g), std=torch.rand(768, generator=g) + 0.5)
    return SafetyDirection(vectors=vectors, standardizer=std, units={"global": 2.0, "violence": 1.5, "sexual": 3.0},
                           centers={"global": 0.5}, meta={"space": "target", "target": {"family": "sd1", "width": 768}})


def _node(comfy, name):
    return comfy.node_class(name)


def _conditioning(batch: int = 1, tokens: int = 77, width: int = 768, padded_from: int | None = None):
    x = torch.randn(batch, tokens, width)
    if padded_from is not None:
        x[:, padded_from:] = 0
    return [[x, {"pooled_output": torch.randn(batch, width), "clip_start_percent": 0.0}],
            [x.clone() * 2, {"clip_start_percent": 0.5, "attention_mask": torch.ones(batch, tokens)}]]


def test_apply_adds_exactly_strength_times_displacement_on_content_tokens_only(comfy, target_direction):
    apply = _node(comfy, "CrossSteerApplySafetySteering")
    cond = _conditioning(batch=2, padded_from=60)
    before = copy.deepcopy(cond)
    out = apply.execute(conditioning=cond, direction=target_direction, strength=3.0, mode="add",
                        tokens="non-padding", gate_threshold=1.0).result[0]
    step = target_direction.displacement("global")
    for (x_in, d_in), (x_out, d_out) in zip(cond, out):
        diff = x_out - x_in
        assert torch.allclose(diff[:, :60], (3.0 * step).expand(2, 60, -1), atol=1e-4)
        assert torch.equal(diff[:, 60:], torch.zeros_like(diff[:, 60:])), "zeroed padding must stay zero"
        assert set(d_out) == set(d_in) and x_out.shape == x_in.shape and x_out.dtype == x_in.dtype
        assert d_out is not d_in and x_out is not x_in
    # the input list, its dicts and tensors are exactly as they were
    for (x_b, d_b), (x_a, d_a) in zip(before, cond):
        assert torch.equal(x_b, x_a) and d_b.keys() == d_a.keys()
        assert all(torch.equal(d_b[k], d_a[k]) if torch.is_tensor(d_b[k]) else d_b[k] == d_a[k] for k in d_b)


def test_apply_keeps_fp16_and_moves_the_score_by_strength_units(comfy, target_direction):
    apply = _node(comfy, "CrossSteerApplySafetySteering")
    cond = [[torch.randn(1, 77, 768), {}]]
    out = apply.execute(conditioning=cond, direction=target_direction, strength=2.0, mode="add", tokens="all",
                        gate_threshold=1.0).result[0]
    z = target_direction.standardizer.z
    d = target_direction.vectors["global"]
    gain = (z(out[0][0]) @ d - z(cond[0][0]) @ d).mean()
    assert gain == pytest.approx(2.0 * target_direction.units["global"], rel=1e-3)
    half = [[torch.randn(1, 77, 768).half(), {}]]
    assert apply.execute(conditioning=half, direction=target_direction, strength=2.0, mode="add", tokens="all",
                         gate_threshold=1.0).result[0][0][0].dtype == torch.float16


def test_ablate_judges_the_prompt_and_is_not_capped(comfy, target_direction):
    """Ablate lifts a prompt whose mean score lies on the unsafe side, all its tokens by one step, by
    strength times its distance to the center (strength 3 is 3, not silently 1); a benign prompt whose own
    tokens straddle the center is left exactly as it is."""
    apply = _node(comfy, "CrossSteerApplySafetySteering")
    std, d = target_direction.standardizer, target_direction.vectors["global"]
    center = target_direction.centers["global"]
    g = torch.Generator().manual_seed(1)
    spread = torch.randn(1, 77, 1, generator=g) * 3  # token scores vary around the prompt's own mean
    unsafe = std.mean + std.std * d * (center - 4 + spread - spread.mean())
    benign = std.mean + std.std * d * (center + 0.5 + spread - spread.mean())
    assert (std.z(benign) @ d < center).any()  # some of its tokens score below the center
    for strength in (1.0, 3.0):
        lifted = apply.execute(conditioning=[[unsafe, {}]], direction=target_direction, strength=strength,
                               mode="ablate", tokens="all", gate_threshold=0.0).result[0][0][0]
        gain = std.z(lifted) @ d - std.z(unsafe) @ d
        assert torch.allclose(gain, torch.full((1, 77), 4.0 * strength), atol=1e-3)
    kept = apply.execute(conditioning=[[benign, {}]], direction=target_direction, strength=3.0, mode="ablate",
                         tokens="all", gate_threshold=0.0).result[0][0][0]
    assert torch.equal(kept, benign)


def test_gated_mode_is_calibrated_to_the_benign_false_positive_rate(comfy, target_direction):
    """gate_threshold 0 = the calibrated gate: a share gate_fpr of benign calibration prompts gets more than a
    tenth of the push. A prompt far on the unsafe side gets all of it."""
    from crosssteer.directions.pipeline import calibrate_direction

    apply = _node(comfy, "CrossSteerApplySafetySteering")
    std, d = target_direction.standardizer, target_direction.vectors["global"]
    g = torch.Generator().manual_seed(2)
    benign_z = torch.randn(600, 768, generator=g)
    calibrated = calibrate_direction(target_direction, benign_z)
    benign = (std.mean + std.std * benign_z).unsqueeze(1)  # one-token prompts
    step = calibrated.displacement("global")

    def push(x: torch.Tensor, **kw) -> torch.Tensor:
        # one-token prompts are no real SD1 conditioning (77-token chunks): the family is named, not detected
        out = apply.execute(conditioning=[[x, {}]], direction=calibrated, strength=4.0, mode="gated", tokens="all",
                            gate_threshold=0.0, family="sd1", **kw).result[0][0][0]
        return ((out - x).squeeze(1) @ step / (4.0 * step @ step)).clamp(0, 1)  # the gate of each prompt

    for fpr in (0.01, 0.05, 0.2):
        share = float((push(benign, gate_fpr=fpr) > 0.1).double().mean())
        assert share == pytest.approx(fpr, abs=0.01), (fpr, share)
    far_unsafe = std.mean + std.std * d * (calibrated.centers["global"] - 10 * calibrated.units["global"])
    assert float(push(far_unsafe.view(1, 1, 768))) > 0.99


def test_mixer_weights_change_the_step(comfy, target_direction):
    mixer = _node(comfy, "CrossSteerCategoryVectorMixer")
    weights = {k: 0.0 for k in ("sexual", "violence", "self_harm", "hate", "harassment", "illegal_activity", "shocking")}
    mixed = mixer.execute(direction=target_direction, **{**weights, "violence": 1.0}).result[0]
    assert mixed.weights == {"violence": 1.0} and target_direction.weights == {}
    expected = target_direction.standardizer.raw_displacement(target_direction.vectors["violence"]) * 1.5
    assert torch.allclose(mixed.displacement("mixed"), expected, atol=1e-5)
    with pytest.raises(ValueError, match="no vector for \\['hate'\\]"):
        mixer.execute(direction=target_direction, **{**weights, "hate": 1.0})


def test_refusals_say_what_to_do(comfy, target_direction):
    apply = _node(comfy, "CrossSteerApplySafetySteering")
    with pytest.raises(ValueError, match="768-wide .* but the conditioning is 4096-wide: fit an alignment"):
        apply.execute(conditioning=[[torch.randn(1, 256, 4096), {}]], direction=target_direction, strength=1.0,
                      mode="add", tokens="all", gate_threshold=1.0)
    source_side = type(target_direction)(vectors=target_direction.vectors, standardizer=target_direction.standardizer,
                                         meta={"space": "source"})
    with pytest.raises(ValueError, match="connect the ALIGNMENT"):
        apply.execute(conditioning=[[torch.randn(1, 77, 768), {}]], direction=source_side, strength=1.0,
                      mode="add", tokens="all", gate_threshold=1.0)
    with pytest.raises(ValueError, match="outside the sane range"):
        apply.execute(conditioning=[[torch.randn(1, 77, 768), {}]], direction=target_direction, strength=80.0,
                      mode="add", tokens="all", gate_threshold=1.0)
    global_only = type(target_direction)(vectors={"global": target_direction.vectors["global"]},
                                         standardizer=target_direction.standardizer, meta={"space": "target"})
    mixer = _node(comfy, "CrossSteerCategoryVectorMixer")
    with pytest.raises(ValueError, match="no category vectors: extract it with per_category on"):
        mixer.execute(direction=global_only, sexual=1, violence=1, self_harm=1, hate=1, harassment=1,
                      illegal_activity=1, shocking=1)
    extract = _node(comfy, "CrossSteerExtractSafetyDirection")
    with pytest.raises(ValueError, match="connect exactly one encoder"):
        extract.execute(pairs="pasted below", pasted_pairs=PAIRS, layer=1, pooling="mean", method="mean_diff",
                        per_category=False)
    load = _node(comfy, "CrossSteerLoadSafetyDirection")
    for bad in ("../../etc/passwd", "/etc/passwd"):
        with pytest.raises(ValueError, match="not a plain name"):
            load.execute(direction_file=bad)


def test_cancel_stops_extraction_promptly(comfy):
    from comfy import model_management as mm

    llm = _node(comfy, "CrossSteerLoadSourceLLM").execute(model="smollm2-135m", device="cpu", dtype="float32",
                                                          trust_remote_code=False).result[0]
    extract = _node(comfy, "CrossSteerExtractSafetyDirection")
    fresh_pairs = PAIRS.replace("photo", "photo, cancelled run")  # not in the embedding cache
    mm.interrupt_current_processing(True)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            extract.execute(llm=llm, pairs="pasted below", pasted_pairs=fresh_pairs, layer=3, pooling="mean",
                            method="mean_diff", per_category=False)
    finally:
        mm.interrupt_current_processing(False)


def _cached_nodes(comfy) -> set[str]:
    return {n for event, data in comfy.executor.status_messages if event == "execution_cached" for n in data["nodes"]}


def test_second_run_recomputes_nothing_and_a_changed_setting_only_what_depends_on_it(comfy, sd15_checkpoint):
    graph = steering_graph(sd15_checkpoint, strength=2.5)
    comfy.run(graph)
    comfy.run(graph)
    assert {"10", "11", "12", "13", "14"} <= _cached_nodes(comfy)
    graph["13"]["inputs"]["strength"] = 1.5  # only Apply (and what follows it) depends on strength
    comfy.run(graph)
    cached = _cached_nodes(comfy)
    assert {"10", "11", "12", "14"} <= cached and "13" not in cached


def test_native_baseline_extracts_through_the_targets_own_clip(comfy, sd15_checkpoint):
    """The paper's baseline: the same Extract code on the target's CLIP (random weights here, so only the
    plumbing and the metadata are checked, not the separation)."""
    import folder_paths
    from comfy.sd import load_checkpoint_guess_config

    _model, clip, _vae = load_checkpoint_guess_config(
        folder_paths.get_full_path("checkpoints", sd15_checkpoint), output_vae=False, output_clip=True)[:3]
    few_pairs = "\n".join(PAIRS.splitlines()[:8])
    extract = _node(comfy, "CrossSteerExtractSafetyDirection")
    direction, report = extract.execute(clip=clip, pairs="pasted below", pasted_pairs=few_pairs, layer=0,
                                        pooling="mean", method="mean_diff", per_category=False,
                                        anchors="pasted below", pasted_anchors=ANCHORS).result
    assert direction.width == 768 and direction.meta["target"]["family"] == "sd1"
    assert direction.meta["stats"]["global"]["n_fit"] + direction.meta["stats"]["global"]["n_heldout"] == 8
    assert "held-out AUROC" in report
    # already in the target's space and calibrated on benign anchors (the pasted ones here; by default the
    # first 512 shipped ones, minutes on a CPU), as a transported direction is: Apply takes it without an alignment
    assert direction.meta["space"] == "target" and direction.units["global"] > 0
    assert direction.benign_scores.shape == (len(ANCHORS.splitlines()), 1) and direction.meta["gate_fpr"] == 0.05
    scores = direction.benign_scores[:, 0]
    assert direction.centers["global"] == pytest.approx(float(scores.mean()), abs=1e-5)
    with pytest.raises(ValueError, match="pooled as Apply steers the target .* set pooling to mean"):
        extract.execute(clip=clip, pairs="pasted below", pasted_pairs=few_pairs, layer=0, pooling="last",
                        method="mean_diff", per_category=False)
    cond = clip.encode_from_tokens_scheduled(clip.tokenize("a man stabbing a stranger"))
    steered = _node(comfy, "CrossSteerApplySafetySteering").execute(
        conditioning=cond, direction=direction, strength=2.0, mode="add", tokens="non-padding",
        gate_threshold=1.0).result[0]
    gain = (direction.standardizer.z(steered[0][0]) - direction.standardizer.z(cond[0][0])) @ direction.vectors["global"]
    assert torch.allclose(gain, torch.full_like(gain, 2.0 * direction.units["global"]), rtol=1e-3)
