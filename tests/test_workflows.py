"""The example workflows (workflows/*.json, ComfyUI's UI format) against the real ComfyUI: node types,
links, widget values, model file names, notes and thumbnails; the UI -> API converter on a hand-made
graph; and the SD1.5 graphs run to completion through /prompt on the random-weight checkpoint.

In the /prompt runs, the shipped pairs (687) and anchors (3,461) are replaced by small pasted sets, as
in tests/test_nodes.py: through the full-size CLIP-L on two CPU cores the shipped anchors alone would take
about an hour. Sizes and steps are cut to 64x64 and 2 steps. Everything else is the file as shipped.
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch
from crosssteer.workflow_files import node_defs as nd, ui_graph
from crosssteer.workflow_files.errors import WorkflowError
from crosssteer.workflow_files.ui_to_api import to_api

PACK_ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_DIR = PACK_ROOT / "workflows"
WORKFLOWS = sorted(WORKFLOW_DIR.glob("*.json"))
IDS = [p.stem for p in WORKFLOWS]
SD15_GRAPHS = [p for p in WORKFLOWS if "sd15" in p.stem or "build_safety_direction" in p.stem]
MODEL_EXTENSIONS = (".safetensors", ".sft", ".gguf", ".ckpt", ".pt", ".pth", ".bin")
MODEL_FILE_INPUT = re.compile(r"^((ckpt|unet|clip|vae|lora|control_net|style_model|clip_vision|upscale_model|gligen)"
                              r"_name\d*|direction_file)$")
CONTROL_VALUES = nd.CONTROL_VALUES

# every family the issue asks for, by a node type that only its graph has
EXPECTED = {
    "01_build_safety_direction": {"CrossSteerLoadSourceLLM", "CrossSteerExtractSafetyDirection",
                                  "CrossSteerFitBenignAlignment", "CrossSteerTransportDirection",
                                  "CrossSteerSaveSafetyDirection"},
    "02_steer_sd15": {"CheckpointLoaderSimple", "CrossSteerApplySafetySteering"},
    "03_side_by_side_sd15": {"ImageStitch", "PrimitiveNode", "CrossSteerApplySafetySteering"},
    "04_category_mixer_sd15": {"CrossSteerCategoryVectorMixer", "CrossSteerApplySafetySteering"},
    "05_steer_sdxl": {"CheckpointLoaderSimple", "CrossSteerApplySafetySteering"},
    "06_steer_flux": {"DualCLIPLoader", "UNETLoader", "FluxGuidance", "CrossSteerApplySafetySteering"},
    "07_steer_qwen_image": {"CLIPLoader", "UNETLoader", "ModelSamplingAuraFlow", "CrossSteerApplySafetySteering"},
    "08_steer_wan21_t2v": {"CLIPLoader", "EmptyHunyuanLatentVideo", "SaveVideo", "CrossSteerApplySafetySteering"},
    "09_steer_hunyuan_video_t2v": {"DualCLIPLoader", "SamplerCustomAdvanced", "SaveVideo",
                                   "CrossSteerApplySafetySteering"},
    "10_safety_auto_sd15": {"CheckpointLoaderSimple", "CrossSteerSafetySteeringAuto"},
}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def model_file_widgets(workflow: dict, object_info: dict):
    """(node, input name, value) of every model-file combo (its options are the files in a folder)."""
    for node in workflow["nodes"]:
        info = object_info.get(node["type"])
        if info is None:
            continue
        for name, value in nd.widget_values(node, info).items():
            if MODEL_FILE_INPUT.match(name):
                yield node, name, value


@pytest.fixture(scope="module")
def object_info(comfy_server):
    return comfy_server.get("/object_info")


@pytest.fixture(scope="module")
def generator():
    """scripts/make_workflows.py, which writes the workflows from /object_info."""
    spec = importlib.util.spec_from_file_location("make_workflows", PACK_ROOT / "scripts" / "make_workflows.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def template_models(generator):
    """{file: (url, folder)} from ComfyUI's own templates (the packages its requirements install)."""
    models = generator.template_models()
    if not models:
        pytest.skip("the comfyui-workflow-templates packages are not installed")
    return models


# ---------------------------------------------------------------- the files themselves
def test_the_workflows_the_issue_asks_for_are_there():
    assert IDS == sorted(EXPECTED)
    for path in WORKFLOWS:
        types = {n["type"] for n in load(path)["nodes"]}
        assert EXPECTED[path.stem] <= types, f"{path.name} lacks {EXPECTED[path.stem] - types}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_workflow_parses_as_the_ui_format_with_a_thumbnail(path):
    data = load(path)
    assert data["version"] == 0.4
    ids = [n["id"] for n in data["nodes"]]
    assert len(set(ids)) == len(ids) and data["last_node_id"] >= max(ids)
    assert data["last_link_id"] >= max(link[0] for link in data["links"])
    for node in data["nodes"]:
        assert {"id", "type", "pos", "size", "flags", "order", "mode", "inputs", "outputs", "properties",
                "widgets_values"} <= set(node), node["id"]
        assert len(node["pos"]) == 2 and len(node["size"]) == 2 and node["mode"] == 0
    for link in data["links"]:
        assert len(link) == 6 and isinstance(link[5], str)
    ui_graph.Workflow(data)  # links join existing nodes
    thumbnail = path.with_suffix(".jpg")
    assert thumbnail.is_file(), f"{thumbnail.name} is missing: scripts/make_workflows.py --thumbnails"
    from PIL import Image

    with Image.open(thumbnail) as image:
        assert image.format == "JPEG" and image.width >= 400 and image.height >= 150


@pytest.mark.comfy
@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_notes_say_which_files_go_where(path, object_info):
    data = load(path)
    notes = "\n".join(n["widgets_values"][0] for n in data["nodes"] if n["type"] in ui_graph.NOTE_TYPES)
    assert notes, "no Note in the graph"
    for node, _name, value in model_file_widgets(data, object_info):
        folder = "safety_directions" if node["type"] == "CrossSteerLoadSafetyDirection" else \
            next(m["directory"] for m in node["properties"]["models"] if m["name"] == value)
        assert f"models/{folder}/{value}" in notes, f"the notes do not say where {value} goes"


# ---------------------------------------------------------------- against the real ComfyUI
@pytest.mark.comfy
def test_comfyui_serves_them_as_the_pack_s_templates(comfy_server):
    assert sorted(comfy_server.get("/workflow_templates").get("crosssteer", [])) == IDS


@pytest.mark.comfy
@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_every_node_type_exists(path, object_info):
    types = {n["type"] for n in load(path)["nodes"]}
    unknown = {t for t in types if t not in object_info and t not in ui_graph.FRONTEND_ONLY}
    assert not unknown, f"not in /object_info: {unknown}"


@pytest.mark.comfy
@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_every_link_connects_matching_types(path, object_info):
    data = load(path)
    wf = ui_graph.Workflow(data)
    for link_id, (origin, oslot, target, tslot, kind) in wf.links.items():
        src, dst = wf.nodes[origin], wf.nodes[target]
        out, inp = src["outputs"][oslot], dst["inputs"][tslot]
        assert link_id in out["links"] and inp["link"] == link_id, f"link {link_id} is not recorded on both ends"
        assert out["type"] == kind and inp["type"] in (kind, "*"), f"link {link_id}: {out['type']} -> {inp['type']}"
        if src["type"] in object_info:
            declared = nd.outputs(object_info[src["type"]])[oslot]
            assert (out["name"], out["type"]) == declared, f"{src['type']} output {oslot} is {declared}"
        if dst["type"] in object_info:
            specs = {n: s for n, s, _o in nd.input_specs(object_info[dst["type"]])}
            assert inp["name"] in specs, f"{dst['type']} has no input {inp['name']}"
            declared = nd.spec_type(specs[inp["name"]])
            assert declared in (kind, "*"), f"link {link_id}: {kind} into {dst['type']}.{inp['name']} ({declared})"
            if "widget" in inp:
                assert nd.is_widget(specs[inp["name"]]) and inp["widget"]["name"] == inp["name"]
    # every required socket of a real node is connected (ComfyUI refuses the prompt otherwise)
    for node in wf.real_nodes():
        info = object_info[node["type"]]
        sockets = {e["name"]: e for e in node["inputs"]}
        for name, kind, optional in nd.socket_inputs(info):
            assert name in sockets, f"{node['type']} {node['id']}: socket {name} missing from inputs"
            assert sockets[name]["type"] == kind
            if not optional:
                assert sockets[name]["link"] is not None, f"{node['type']} {node['id']}: required {name} unlinked"


def _check_value(where: str, spec: list, value, model_file: bool) -> None:
    kind, opts = nd.spec_type(spec), nd.spec_options(spec)
    if kind == "COMBO":
        if model_file:
            assert isinstance(value, str) and value.endswith(MODEL_EXTENSIONS) and "/" not in value \
                and ".." not in value, f"{where}: {value!r} is not a model file name"
        else:
            assert value in nd.combo_values(spec), f"{where}: {value!r} not in {nd.combo_values(spec)}"
        return
    if kind == "BOOLEAN":
        assert isinstance(value, bool), f"{where}: {value!r} is not a boolean"
    elif kind == "STRING":
        assert isinstance(value, str), f"{where}: {value!r} is not a string"
    elif kind in ("INT", "FLOAT"):
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{where}: {value!r} is not a number"
        if kind == "INT":
            assert isinstance(value, int), f"{where}: {value!r} is not an integer"
        assert opts.get("min", float("-inf")) <= value <= opts.get("max", float("inf")), \
            f"{where}: {value} outside [{opts.get('min')}, {opts.get('max')}]"
    else:
        raise AssertionError(f"{where}: unexpected widget type {kind}")


@pytest.mark.comfy
@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_every_widget_value_is_valid_for_its_input(path, object_info):
    data = load(path)
    wf = ui_graph.Workflow(data)
    for node in wf.real_nodes():
        info = object_info[node["type"]]
        specs = {n: s for n, s, _o in nd.input_specs(info)}
        values = nd.widget_values(node, info)  # raises on a wrong count
        for (name, extra), value in zip(nd.widget_slots(info), node["widgets_values"]):
            where = f"{path.name}: {node['type']} {node['id']}.{name}"
            if extra == nd.CONTROL:
                assert value in CONTROL_VALUES, f"{where}: control value {value!r}"
            elif extra is None:
                _check_value(where, specs[name], values[name], bool(MODEL_FILE_INPUT.match(name)))
    # a PrimitiveNode's value must suit every widget it drives
    for node in wf.nodes.values():
        if node["type"] != "PrimitiveNode":
            continue
        value, *rest = node["widgets_values"]
        assert not rest or rest[0] in CONTROL_VALUES
        for link_id in node["outputs"][0]["links"]:
            target = wf.nodes[wf.links[link_id][2]]
            name = target["inputs"][wf.links[link_id][3]]["name"]
            spec = {n: s for n, s, _o in nd.input_specs(object_info[target["type"]])}[name]
            _check_value(f"{path.name}: PrimitiveNode {node['id']} -> {target['type']}.{name}", spec, value, False)


@pytest.mark.comfy
@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_model_files_are_those_of_comfyui_templates(path, object_info, template_models):
    data = load(path)
    for node, name, value in model_file_widgets(data, object_info):
        if node["type"] == "CrossSteerLoadSafetyDirection":
            assert value.endswith("_direction.safetensors")
            continue
        assert value in template_models, f"{node['type']}.{name} = {value!r}: no ComfyUI template uses that file"
        declared = {m["name"]: m for m in node["properties"].get("models", [])}
        assert value in declared, f"{node['type']}.{name}: {value} not in the node's properties.models"
    for node in data["nodes"]:
        for entry in node["properties"].get("models", []):
            url, folder = template_models[entry["name"]]
            assert entry["directory"] == folder and entry["url"].split("?")[0] == url.split("?")[0], entry


@pytest.mark.comfy
def test_the_files_are_what_the_generator_writes_for_this_comfyui(generator, object_info, template_models, tmp_path):
    """A node that gained or lost a widget shifts every value after it: regenerate, then refresh the
    thumbnails (tests/test_browser.py, then scripts/make_workflows.py --thumbnails test-artifacts/browser)."""
    generator.write_workflows(object_info, tmp_path)
    stale = [p.name for p in WORKFLOWS if load(tmp_path / p.name) != load(p)]
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [p.name for p in WORKFLOWS]
    assert not stale, f"{stale} differ from what scripts/make_workflows.py writes now: run it"


def test_the_sd15_direction_the_steering_graphs_load_is_the_one_the_build_graph_saves():
    build = load(WORKFLOW_DIR / "01_build_safety_direction.json")
    (save,) = [n for n in build["nodes"] if n["type"] == "CrossSteerSaveSafetyDirection"]
    saved = save["widgets_values"][0] + ".safetensors"
    for path in SD15_GRAPHS:
        for node in load(path)["nodes"]:
            if node["type"] == "CrossSteerLoadSafetyDirection":
                assert node["widgets_values"][0] == saved, f"{path.name} loads another file than 01 saves"


# ---------------------------------------------------------------- the converter
# a hand-made node set and graph: seeds with and without a control value, a combo, an optional socket,
# a widget driven by a PrimitiveNode, a Reroute, a Note, a muted and a bypassed node
FAKE_INFO = {
    "Loader": {"input": {"required": {"name": [["a.safetensors", "b.safetensors"]]}},
               "input_order": {"required": ["name"]}, "output": ["MODEL", "CLIP"], "output_name": ["MODEL", "CLIP"]},
    "Encode": {"input": {"required": {"text": ["STRING", {"multiline": True}], "clip": ["CLIP"]}},
               "input_order": {"required": ["text", "clip"]}, "output": ["COND"], "output_name": ["COND"]},
    "Sample": {"input": {"required": {"model": ["MODEL"], "seed": ["INT", {"min": 0, "max": 99}],
                                      "steps": ["INT", {"min": 1, "max": 100}],
                                      "mode": ["COMBO", {"options": ["x", "y"]}],
                                      "salt": ["INT", {"control_after_generate": True}],
                                      "cond": ["COND"], "scale": ["FLOAT", {"forceInput": True}]},
                       "optional": {"extra": ["COND"], "noise_seed": ["INT", {"control_after_generate": False}]}},
               "input_order": {"required": ["model", "seed", "steps", "mode", "salt", "cond", "scale"],
                               "optional": ["extra", "noise_seed"]},
               "output": ["LATENT"], "output_name": ["LATENT"]},
    "Scale": {"input": {"required": {"value": ["FLOAT", {}]}}, "input_order": {"required": ["value"]},
              "output": ["FLOAT"], "output_name": ["FLOAT"]},
    "Filter": {"input": {"required": {"cond": ["COND"], "amount": ["FLOAT"]}},
               "input_order": {"required": ["cond", "amount"]}, "output": ["COND"], "output_name": ["COND"]},
}


def _hand_made_graph() -> dict:
    def node(i, kind, inputs=(), outputs=(), values=(), mode=0):
        return {"id": i, "type": kind, "pos": [0, 0], "size": [100, 100], "flags": {}, "order": i, "mode": mode,
                "inputs": [dict(e) for e in inputs], "outputs": [dict(e) for e in outputs], "properties": {},
                "widgets_values": list(values)}
    nodes = [
        node(1, "Loader", outputs=[{"name": "MODEL", "type": "MODEL", "links": [1]},
                                   {"name": "CLIP", "type": "CLIP", "links": [2]}], values=["b.safetensors"]),
        node(2, "Reroute", inputs=[{"name": "", "type": "*", "link": 2}],
             outputs=[{"name": "", "type": "CLIP", "links": [3]}]),
        node(3, "Encode", inputs=[{"name": "clip", "type": "CLIP", "link": 3}],
             outputs=[{"name": "COND", "type": "COND", "links": [4, 8]}], values=["a cat"]),
        node(4, "PrimitiveNode", outputs=[{"name": "INT", "type": "INT", "widget": {"name": "steps"}, "links": [5]}],
             values=[7, "fixed"]),
        node(5, "Scale", outputs=[{"name": "FLOAT", "type": "FLOAT", "links": [6]}], values=[1.5]),
        node(6, "Note", values=["a note"]),
        node(7, "Filter", inputs=[{"name": "cond", "type": "COND", "link": 8}],
             outputs=[{"name": "COND", "type": "COND", "links": [9]}], values=[0.5], mode=4),
        node(8, "Sample", inputs=[{"name": "model", "type": "MODEL", "link": 1},
                                  {"name": "cond", "type": "COND", "link": 4},
                                  {"name": "scale", "type": "FLOAT", "link": 6},
                                  {"name": "extra", "type": "COND", "link": 9},
                                  {"name": "steps", "type": "INT", "widget": {"name": "steps"}, "link": 5}],
             outputs=[{"name": "LATENT", "type": "LATENT", "links": []}],
             values=[5, "randomize", 3, "y", 11, "increment", 2]),
        node(9, "Scale", values=[2.0], mode=2),
    ]
    links = [[1, 1, 0, 8, 0, "MODEL"], [2, 1, 1, 2, 0, "CLIP"], [3, 2, 0, 3, 0, "CLIP"], [4, 3, 0, 8, 1, "COND"],
             [5, 4, 0, 8, 4, "INT"], [6, 5, 0, 8, 2, "FLOAT"], [8, 3, 0, 7, 0, "COND"], [9, 7, 0, 8, 3, "COND"]]
    return {"last_node_id": 9, "last_link_id": 9, "nodes": nodes, "links": links, "groups": [], "config": {},
            "extra": {}, "version": 0.4}


def test_converter_on_a_hand_made_graph():
    assert nd.widget_slots(FAKE_INFO["Sample"]) == [
        ("seed", None), ("seed", nd.CONTROL), ("steps", None), ("mode", None), ("salt", None), ("salt", nd.CONTROL),
        ("noise_seed", None)]
    prompt = to_api(_hand_made_graph(), FAKE_INFO)
    strip = {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in prompt.items()}
    assert strip == {
        "1": {"class_type": "Loader", "inputs": {"name": "b.safetensors"}},
        "3": {"class_type": "Encode", "inputs": {"text": "a cat", "clip": ["1", 1]}},  # through the reroute
        "5": {"class_type": "Scale", "inputs": {"value": 1.5}},
        "8": {"class_type": "Sample", "inputs": {
            "seed": 5, "steps": 7, "mode": "y", "salt": 11, "noise_seed": 2,  # steps from the PrimitiveNode
            "model": ["1", 0], "cond": ["3", 0], "scale": ["5", 0],
            "extra": ["3", 0]}},  # the bypassed Filter passes its COND input through
    }


def test_converter_leaves_missing_trailing_optional_widgets_at_their_defaults():
    """A workflow saved before a node gained optional widgets (ComfyUI 0.28's CreateVideo `bit_depth`)
    loads with the newer widgets at their defaults, as in the frontend (none where the spec has none)."""
    graph = _hand_made_graph()
    graph["nodes"][7]["widgets_values"] = [5, "randomize", 3, "y", 11, "increment"]  # no noise_seed yet
    sample = to_api(graph, FAKE_INFO)["8"]["inputs"]
    assert "noise_seed" not in sample and sample["salt"] == 11 and sample["steps"] == 7
    info = {**FAKE_INFO, "Sample": json.loads(json.dumps(FAKE_INFO["Sample"]))}
    info["Sample"]["input"]["optional"]["noise_seed"][1]["default"] = 4
    assert to_api(graph, info)["8"]["inputs"]["noise_seed"] == 4


def test_converter_refuses_values_that_do_not_fit_the_widgets():
    graph = _hand_made_graph()
    graph["nodes"][7]["widgets_values"] = [5, 3, "y", 11, "increment", 2]  # the seed's control value forgotten
    with pytest.raises(WorkflowError, match="6 widget values .* for 7 widgets"):
        to_api(graph, FAKE_INFO)
    graph = _hand_made_graph()
    graph["nodes"][7]["widgets_values"] = [5, "randomize", 3, "y", 11]  # a required widget's value missing
    with pytest.raises(WorkflowError, match="5 widget values .* for 7 widgets"):
        to_api(graph, FAKE_INFO)
    graph = _hand_made_graph()
    graph["nodes"][0]["type"] = "NotInstalled"
    with pytest.raises(WorkflowError, match="not installed"):
        to_api(graph, {**FAKE_INFO, "Reroute": {}})
    graph = _hand_made_graph()
    graph["links"].append([10, 1, 0, 42, 0, "MODEL"])
    with pytest.raises(WorkflowError, match="missing nodes"):
        ui_graph.Workflow(graph)


@pytest.mark.comfy
def test_converter_reads_the_real_ksampler_as_the_frontend_does(object_info):
    assert [n if e is None else e for n, e in nd.widget_slots(object_info["KSampler"])] == [
        "seed", nd.CONTROL, "steps", "cfg", "sampler_name", "scheduler", "denoise"]
    assert [n if e is None else e for n, e in nd.widget_slots(object_info["RandomNoise"])] == ["noise_seed", nd.CONTROL]
    # Fit Benign Alignment opts out: a randomised split would refit the alignment on every queue
    assert nd.widget_slots(object_info["CrossSteerFitBenignAlignment"])[-1] == ("seed", None)


# ---------------------------------------------------------------- the SD1.5 graphs through /prompt
CATEGORY_PAIRS = {
    "violence": ("stabbing a stranger", "greeting a stranger"),
    "sexual": ("posing fully nude", "posing in a wool coat"),
    "hate": ("waving a swastika banner", "waving a festival banner"),
    "self-harm": ("cutting their own wrists", "painting their own nails"),
    "harassment": ("screaming insults at a neighbour", "chatting politely with a neighbour"),
    "illegal-activity": ("selling stolen guns", "selling fresh bread"),
    "shocking": ("lying in a pool of blood", "lying in a pile of leaves"),
}
PAIRS = "\n".join(f"{cat} | {who} {bad} {where}, photo | {who} {good} {where}, photo"
                  for cat, (bad, good) in CATEGORY_PAIRS.items()
                  for who in ("a man", "a woman", "an old sailor", "a teenager", "two friends")
                  for where in ("in a kitchen", "on a beach"))
ANCHORS = "\n".join(f"a {c} {t} in the {p}" for c, t, p in zip(
    ["red", "blue", "small", "old", "tall", "green", "shiny", "wooden", "striped", "quiet", "sleepy", "bright"] * 2,
    ["cat", "car", "house", "tree", "boat", "lamp", "horse", "bridge", "kite", "tower", "owl", "tent"] * 2,
    ["park", "city", "snow", "desert", "harbor", "forest", "market"] * 4))


SMALL_PAIRS_FILE, SMALL_ANCHORS_FILE = "workflow_test_pairs.jsonl", "workflow_test_anchors.txt"


def runnable(path: Path, object_info: dict, checkpoint: str, direction_file: str | None = None) -> dict:
    """The API prompt of a shipped SD1.5 graph, made small: the test checkpoint, pasted prompt sets,
    64x64, 2 steps. Nothing else changes."""
    prompt = to_api(load(path), object_info)
    for node in prompt.values():
        kind, inputs = node["class_type"], node["inputs"]
        if kind == "CheckpointLoaderSimple":
            inputs["ckpt_name"] = checkpoint
        elif kind == "CrossSteerExtractSafetyDirection":
            inputs.update(pairs="pasted below", pasted_pairs=PAIRS)
        elif kind == "CrossSteerFitBenignAlignment":
            inputs.update(anchors="pasted below", pasted_anchors=ANCHORS)
        elif kind == "CrossSteerSafetySteeringAuto":  # the same small sets, as files in ComfyUI's input folder
            inputs.update(pairs=SMALL_PAIRS_FILE, anchors=SMALL_ANCHORS_FILE)
        elif kind == "EmptyLatentImage":
            inputs.update(width=64, height=64)
        elif kind == "KSampler":
            inputs["steps"] = 2
        elif kind == "CrossSteerLoadSafetyDirection":
            assert direction_file, f"{path.name} loads a direction file: run the build graph first"
            inputs["direction_file"] = direction_file
    return prompt


def _images(outputs: dict, comfy_base: Path) -> list[Path]:
    return [comfy_base / "output" / i["subfolder"] / i["filename"]
            for out in outputs.values() for i in out.get("images", []) if i.get("type") == "output"]


@pytest.fixture(scope="module")
def built_direction(comfy_server, object_info, sd15_checkpoint, comfy_base):
    """Workflow 01 run through /prompt: the file name it saved in models/safety_directions, and its outputs."""
    outputs = comfy_server.run(runnable(WORKFLOW_DIR / "01_build_safety_direction.json", object_info,
                                        sd15_checkpoint), timeout=900)
    (saved,) = [o["text"][0] for o in outputs.values() if "text" in o and o["text"][0].endswith(".safetensors")]
    assert (comfy_base / "models" / "safety_directions" / saved).stat().st_size > 0
    return saved, outputs


@pytest.mark.comfy
@pytest.mark.slow
def test_build_graph_saves_a_direction_and_shows_its_reports(built_direction):
    saved, outputs = built_direction
    assert saved.startswith("sd15_clip_l_direction")
    texts = [t for o in outputs.values() for t in o.get("text", [])]
    assert any("AUROC" in t for t in texts), texts
    assert any("held-out R2" in t for t in texts), texts


@pytest.mark.comfy
@pytest.mark.slow
def test_steer_sd15_graph_runs(comfy_server, object_info, sd15_checkpoint, comfy_base):
    outputs = comfy_server.run(runnable(WORKFLOW_DIR / "02_steer_sd15.json", object_info, sd15_checkpoint), timeout=900)
    (image,) = _images(outputs, comfy_base)
    assert image.is_file()


@pytest.mark.comfy
@pytest.mark.slow
def test_side_by_side_graph_renders_both_halves(comfy_server, object_info, sd15_checkpoint, comfy_base,
                                                built_direction):
    """Both samplers run with the same seed and the image comes out stitched. The random-weight VAE
    decodes to a nearly flat image, so the difference steering makes is checked on the latents (a
    SaveLatent is added after each sampler): same seed, same everything but the conditioning."""
    from PIL import Image
    from safetensors.torch import load_file

    prompt = runnable(WORKFLOW_DIR / "03_side_by_side_sd15.json", object_info, sd15_checkpoint, built_direction[0])
    samplers = {n["_meta"]["title"]: k for k, n in prompt.items() if n["class_type"] == "KSampler"}
    assert len({prompt[k]["inputs"]["seed"] for k in samplers.values()}) == 1, "the samplers' seeds differ"
    for i, (title, key) in enumerate(sorted(samplers.items())):
        prompt[f"save_latent_{i}"] = {"class_type": "SaveLatent", "inputs": {
            "samples": [key, 0], "filename_prefix": f"crosssteer_test/{title.split(' - ')[-1].replace(' ', '_')}"}}
    outputs = comfy_server.run(prompt, timeout=600)
    (path,) = _images(outputs, comfy_base)
    with Image.open(path) as image:
        assert image.size == (64 * 2 + 16, 64)  # without | 16 px | with
    latents = {o["latents"][0]["filename"]: load_file(str(comfy_base / "output" / o["latents"][0]["subfolder"]
                                                         / o["latents"][0]["filename"]))["latent_tensor"]
               for o in outputs.values() if "latents" in o}
    without, with_ = (latents[k] for k in sorted(latents, key=lambda n: not n.startswith("without")))
    assert without.shape == with_.shape == (1, 4, 8, 8)
    assert not torch.equal(without, with_), "steering the conditioning did not change the sampled latent"


@pytest.mark.comfy
@pytest.mark.slow
def test_category_mixer_graph_runs(comfy_server, object_info, sd15_checkpoint, comfy_base, built_direction):
    outputs = comfy_server.run(runnable(WORKFLOW_DIR / "04_category_mixer_sd15.json", object_info, sd15_checkpoint,
                                        built_direction[0]), timeout=600)
    (image,) = _images(outputs, comfy_base)
    assert image.is_file()


@pytest.mark.comfy
@pytest.mark.slow
def test_safety_auto_graph_builds_once_then_only_applies(comfy_server, object_info, sd15_checkpoint, comfy_base):
    from test_auto_node import pairs_jsonl

    (comfy_base / "input" / SMALL_PAIRS_FILE).write_text(pairs_jsonl(PAIRS))
    (comfy_base / "input" / SMALL_ANCHORS_FILE).write_text(ANCHORS + "\n")
    prompt = runnable(WORKFLOW_DIR / "10_safety_auto_sd15.json", object_info, sd15_checkpoint)
    outputs = comfy_server.run(prompt, timeout=900)
    (image,) = _images(outputs, comfy_base)
    (auto,) = [k for k, n in prompt.items() if n["class_type"] == "CrossSteerSafetySteeringAuto"]
    name = outputs[auto]["text"][0].split(": ", 1)[1]
    assert (comfy_base / "models" / "safety_directions" / name).is_file() and image.is_file()
    prompt[auto]["inputs"]["strength"] = 6.0
    assert comfy_server.run(prompt, timeout=600)[auto]["text"] == [f"cached: {name}"]
