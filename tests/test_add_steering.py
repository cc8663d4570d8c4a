"""`crosssteer add-steering` on workflow files: API and UI format, envelopes, subgraphs, bypassed and muted
nodes, PrimitiveNode prompts, several positives and text encoders, and what it refuses. The graphs here
are hand-made in the shape ComfyUI writes; the real templates of ComfyUI are in test_templates.py."""
from __future__ import annotations

import json

import pytest

from crosssteer.cli import main
from crosssteer.workflow_files import add_steering as A, envelope
from crosssteer.workflow_files.errors import WorkflowError
from crosssteer.workflow_files.pack_nodes import APPLY, LOAD
from crosssteer.workflow_files.ui_graph import Workflow


def api_flux() -> dict:
    """Flux-shaped: the negative is ConditioningZeroOut of the positive; FluxGuidance on the positive path."""
    return {
        "1": {"class_type": "DualCLIPLoader", "inputs": {"clip_name1": "clip_l.safetensors",
                                                         "clip_name2": "t5xxl_fp16.safetensors", "type": "flux"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 0]}},
        "3": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["2", 0]}},
        "4": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["2", 0], "guidance": 3.5}},
        "5": {"class_type": "KSampler", "inputs": {"positive": ["4", 0], "negative": ["3", 0], "seed": 1}},
    }


def api_sdxl_refiner() -> dict:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
        "12": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_refiner_1.0.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "15": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["12", 1]}},
        "16": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["12", 1]}},
        "10": {"class_type": "KSamplerAdvanced", "inputs": {"positive": ["6", 0], "negative": ["7", 0]}},
        "11": {"class_type": "KSamplerAdvanced", "inputs": {"positive": ["15", 0], "negative": ["16", 0]}},
    }


def test_api_positive_steered_and_the_zeroed_negative_left_on_the_unsteered_encoder():
    graph = api_flux()
    result = A.add_steering(graph, "flux_t5_direction.safetensors", strength=4, mode="gated")
    new = result.workflow
    assert graph == api_flux(), "the input was changed"
    load, apply = result.added["2"]
    assert new[apply]["class_type"] == APPLY and new[load]["class_type"] == LOAD
    assert new[apply]["inputs"]["conditioning"] == ["2", 0] and new[apply]["inputs"]["direction"] == [load, 0]
    assert new[apply]["inputs"]["strength"] == 4.0 and new[apply]["inputs"]["mode"] == "gated"
    assert new[load]["inputs"]["direction_file"] == "flux_t5_direction.safetensors"
    assert new["4"]["inputs"]["conditioning"] == [apply, 0]  # FluxGuidance reads the steered prompt
    assert new["3"]["inputs"]["conditioning"] == ["2", 0]  # the zeroed negative: zeros of the unsteered one
    assert new["5"]["inputs"]["negative"] == ["3", 0]


def test_the_family_is_set_where_the_loader_names_one_that_auto_cannot_tell_apart():
    """Flux's T5 conditioning looks like HunyuanVideo's, so Apply's `auto` refuses it: the loader's type decides."""
    flux = A.add_steering(api_flux(), "flux_t5_direction.safetensors")
    assert flux.workflow[flux.added["2"][1]]["inputs"]["family"] == "flux"
    sdxl = A.add_steering(api_sdxl_refiner(), None, {"4": "a.safetensors", "12": "b.safetensors"})
    assert all("family" not in sdxl.workflow[apply]["inputs"] for _load, apply in sdxl.added.values())


def test_two_text_encoders_need_two_files_and_the_refusal_says_which():
    with pytest.raises(WorkflowError) as err:
        A.add_steering(api_sdxl_refiner(), "sdxl.safetensors")
    message = str(err.value)
    assert "2 text encoders" in message and "sd_xl_refiner_1.0.safetensors" in message
    assert "--direction 4=FILE --direction 12=FILE" in message
    result = A.add_steering(api_sdxl_refiner(), "sdxl.safetensors", {"12": "refiner_g.safetensors"})
    assert result.files == {"6": "sdxl.safetensors", "15": "refiner_g.safetensors"}
    new = result.workflow
    for sampler, encoder, negative in (("10", "6", "7"), ("11", "15", "16")):
        apply = result.added[encoder][1]
        assert new[sampler]["inputs"]["positive"] == [apply, 0] and new[sampler]["inputs"]["negative"] == [negative, 0]
    with pytest.raises(WorkflowError, match="neither a positive text encoder"):
        A.add_steering(api_sdxl_refiner(), None, {"6": "a.safetensors", "99": "b.safetensors"})


def test_several_positives_on_one_clip_share_the_file_and_combine_paths_are_followed():
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a meadow", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 1]}},
        "4": {"class_type": "ConditioningSetArea", "inputs": {"conditioning": ["3", 0], "width": 64}},
        "5": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["2", 0], "conditioning_2": ["4", 0]}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "ugly", "clip": ["1", 1]}},
        "7": {"class_type": "ControlNetApplyAdvanced", "inputs": {"positive": ["5", 0], "negative": ["6", 0]}},
        "8": {"class_type": "KSampler", "inputs": {"positive": ["7", 0], "negative": ["7", 1]}},
    }
    result = A.add_steering(graph, "sd15.safetensors")
    assert [e.node.id for e in result.encoders] == ["2", "3"]
    new = result.workflow
    assert new["5"]["inputs"]["conditioning_1"] == [result.added["2"][1], 0]
    assert new["4"]["inputs"]["conditioning"] == [result.added["3"][1], 0]
    assert new["7"]["inputs"]["negative"] == ["6", 0]


@pytest.mark.parametrize("change, match", [
    (lambda g: g["2"].update(class_type="BNK_CLIPTextEncodeAdvanced"), r"node 2 \(BNK_CLIPTextEncodeAdvanced\).*by hand"),
    (lambda g: g["4"].update(class_type="SomePackGuidance"), r"node 4 \(SomePackGuidance\)"),
    (lambda g: g.update({"9": {"class_type": "SomePackSampler", "inputs": {"positive": ["2", 0]}}}),
     r"also feeds node 9 \(SomePackSampler\) input 'positive'.*unsteered"),
    (lambda g: g["5"].update(class_type="SomePackSampler"), "no text encoder feeds the positive"),
    (lambda g: g["5"]["inputs"].update(negative=["4", 0]), "both a positive and a negative"),
    (lambda g: g["4"].update(class_type=APPLY), r"already steered by node 4"),
])
def test_what_cannot_be_done_safely_is_refused_naming_the_node(change, match):
    graph = api_flux()
    change(graph)
    with pytest.raises(WorkflowError, match=match):
        A.add_steering(graph, "d.safetensors")


def test_strength_and_mode_are_checked():
    with pytest.raises(WorkflowError, match="unknown mode"):
        A.add_steering(api_flux(), "d.safetensors", mode="subtract")
    with pytest.raises(WorkflowError, match="outside -50..50"):
        A.add_steering(api_flux(), "d.safetensors", strength=80)


# ---------------------------------------------------------------- UI format
def ui_node(i, kind, inputs=(), outputs=(), values=(), mode=0, pos=(0, 0)):
    return {"id": i, "type": kind, "pos": list(pos), "size": [300, 100], "flags": {}, "order": i, "mode": mode,
            "inputs": [{"name": n, "type": t, "link": link} for n, t, link in inputs],
            "outputs": [{"name": n, "type": t, "links": list(links)} for n, t, links in outputs],
            "properties": {}, "widgets_values": list(values)}


def ui_workflow() -> dict:
    """Checkpoint -> a PrimitiveNode prompt into CLIPTextEncode (positive) -> a Reroute -> a bypassed
    LoRA-free FluxGuidance -> KSampler; the negative is ConditioningZeroOut of the positive; a muted second
    sampler; a note and a group."""
    nodes = [
        ui_node(1, "CheckpointLoaderSimple", outputs=[("MODEL", "MODEL", [1]), ("CLIP", "CLIP", [2]),
                                                      ("VAE", "VAE", [])], values=["sd15.safetensors"]),
        ui_node(2, "CLIPTextEncode", inputs=[("clip", "CLIP", 2), ("text", "STRING", 3)],
                outputs=[("CONDITIONING", "CONDITIONING", [4, 5])], values=["(from primitive)"], pos=(400, 0)),
        ui_node(3, "PrimitiveNode", outputs=[("STRING", "STRING", [3])], values=["a cat on a sofa"]),
        ui_node(4, "Reroute", inputs=[("", "*", 4)], outputs=[("", "CONDITIONING", [6])]),
        ui_node(5, "FluxGuidance", inputs=[("conditioning", "CONDITIONING", 6)],
                outputs=[("CONDITIONING", "CONDITIONING", [7, 10])], values=[3.5], mode=4),
        ui_node(6, "ConditioningZeroOut", inputs=[("conditioning", "CONDITIONING", 5)],
                outputs=[("CONDITIONING", "CONDITIONING", [8, 11])]),
        ui_node(7, "KSampler", inputs=[("model", "MODEL", 1), ("positive", "CONDITIONING", 7),
                                       ("negative", "CONDITIONING", 8)], values=[0, "fixed", 20, 7.0, "euler",
                                                                                 "normal", 1.0]),
        ui_node(8, "KSampler", inputs=[("positive", "CONDITIONING", 10), ("negative", "CONDITIONING", 11)],
                values=[0, "fixed", 20, 7.0, "euler", "normal", 1.0], mode=2),
        ui_node(9, "Note", values=["my notes"]),
    ]
    links = [[1, 1, 0, 7, 0, "MODEL"], [2, 1, 1, 2, 0, "CLIP"], [3, 3, 0, 2, 1, "STRING"],
             [4, 2, 0, 4, 0, "CONDITIONING"], [5, 2, 0, 6, 0, "CONDITIONING"], [6, 4, 0, 5, 0, "CONDITIONING"],
             [7, 5, 0, 7, 1, "CONDITIONING"], [8, 6, 0, 7, 2, "CONDITIONING"], [10, 5, 0, 8, 1, "CONDITIONING"],
             [11, 6, 0, 8, 2, "CONDITIONING"]]
    return {"last_node_id": 9, "last_link_id": 11, "nodes": nodes, "links": links,
            "groups": [{"title": "Prompt", "bounding": [0, 0, 800, 300]}], "version": 0.4}


def test_ui_workflow_spliced_in_place_with_reroute_bypass_primitive_and_a_note():
    original = ui_workflow()
    result = A.add_steering(original, "sd15_clip_l_direction.safetensors", strength=5)
    assert original == ui_workflow(), "the input was changed"
    data = result.workflow
    wf = Workflow(data)
    load_id, apply_id = result.added["2"]
    apply, load, encoder = wf.nodes[apply_id], wf.nodes[load_id], wf.nodes[2]
    assert apply["widgets_values"] == [5.0, "add", "content", 0.0, True, "auto", 0.05]
    assert load["widgets_values"] == ["sd15_clip_l_direction.safetensors"]
    # the encoder now feeds Apply and the zero-out; Apply feeds the reroute (the positive path)
    (to_apply,) = [i for i, l in wf.links.items() if l[0] == 2 and l[2] == apply_id]
    assert sorted(encoder["outputs"][0]["links"]) == sorted([to_apply, 5])
    assert wf.links[4][:2] == (apply_id, 0) and apply["outputs"][0]["links"] == [4]
    assert wf.links[5][:3] == (2, 0, 6), "the zeroed negative must stay on the unsteered encoder"
    assert apply["inputs"][1]["link"] in wf.links and wf.links[apply["inputs"][1]["link"]][0] == load_id
    assert apply["pos"][0] > encoder["pos"][0] + encoder["size"][0]  # beside the encoder
    assert data["last_node_id"] >= max(wf.nodes) and data["last_link_id"] >= max(wf.links)
    notes = [n for n in data["nodes"] if n["type"] == "Note" and "CrossSteer" in n.get("title", "")]
    assert len(notes) == 1 and "node 2 (CLIPTextEncode)" in notes[0]["widgets_values"][0]
    assert data["groups"] == original["groups"]


def qwen_subgraph_workflow() -> dict:
    """A subgraph (as ComfyUI 0.3.6x templates write them): loaders, encoders and sampler inside, the prompt
    and seed promoted to the instance's widgets."""
    inner = [
        ui_node(38, "CLIPLoader", inputs=[("clip_name", "COMBO", 132)], outputs=[("CLIP", "CLIP", [74, 75])],
                values=["qwen_2.5_vl_7b_fp8_scaled.safetensors", "qwen_image", "default"]),
        ui_node(6, "CLIPTextEncode", inputs=[("clip", "CLIP", 74), ("text", "STRING", 141)],
                outputs=[("CONDITIONING", "CONDITIONING", [46])], values=["inner text"]),
        ui_node(7, "CLIPTextEncode", inputs=[("clip", "CLIP", 75)], outputs=[("CONDITIONING", "CONDITIONING", [52])],
                values=[""]),
        ui_node(3, "KSampler", inputs=[("positive", "CONDITIONING", 46), ("negative", "CONDITIONING", 52)],
                outputs=[("LATENT", "LATENT", [110])], values=[1, "randomize", 4, 1, "euler", "simple", 1]),
    ]
    for entry in inner[1]["inputs"]:
        if entry["name"] == "text":
            entry["widget"] = {"name": "text"}
    links = [{"id": 74, "origin_id": 38, "origin_slot": 0, "target_id": 6, "target_slot": 0, "type": "CLIP"},
             {"id": 75, "origin_id": 38, "origin_slot": 0, "target_id": 7, "target_slot": 0, "type": "CLIP"},
             {"id": 46, "origin_id": 6, "origin_slot": 0, "target_id": 3, "target_slot": 0, "type": "CONDITIONING"},
             {"id": 52, "origin_id": 7, "origin_slot": 0, "target_id": 3, "target_slot": 1, "type": "CONDITIONING"},
             {"id": 110, "origin_id": 3, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "LATENT"},
             {"id": 132, "origin_id": -10, "origin_slot": 0, "target_id": 38, "target_slot": 0, "type": "COMBO"},
             {"id": 141, "origin_id": -10, "origin_slot": 1, "target_id": 6, "target_slot": 1, "type": "STRING"}]
    definition = {"id": "sub-1", "name": "Text to image", "state": {"lastNodeId": 74, "lastLinkId": 143},
                  "inputs": [{"name": "clip_name", "type": "COMBO", "linkIds": [132]},
                             {"name": "text", "type": "STRING", "linkIds": [141]}],
                  "outputs": [{"name": "LATENT", "type": "LATENT", "linkIds": [110]}],
                  "nodes": inner, "links": links}
    instance = ui_node(75, "sub-1", outputs=[("LATENT", "LATENT", [133])],
                       values=["qwen_2.5_vl_7b_fp8_scaled.safetensors", "a red bicycle"])
    save = ui_node(60, "SaveLatent", inputs=[("samples", "LATENT", 133)], values=["out"])
    return {"last_node_id": 82, "last_link_id": 133, "nodes": [instance, save],
            "links": [[133, 75, 0, 60, 0, "LATENT"]], "definitions": {"subgraphs": [definition]}, "version": 0.4}


def test_subgraph_encoder_is_steered_inside_its_definition_with_fresh_ids():
    result = A.add_steering(qwen_subgraph_workflow(), "qwen.safetensors")
    assert [e.node.id for e in result.encoders] == ["75:6"]
    data = result.workflow
    definition = data["definitions"]["subgraphs"][0]
    by_id = {n["id"]: n for n in definition["nodes"]}
    load_id, apply_id = result.added["75:6"]
    assert by_id[apply_id]["type"] == APPLY and by_id[load_id]["type"] == LOAD
    assert min(load_id, apply_id) > 82, "new node ids must not collide with any graph's counter"
    links = {link["id"]: link for link in definition["links"]}
    assert min(set(links) - {74, 75, 46, 52, 110, 132, 141}) > 143, "new link ids must not collide either"
    assert (links[46]["origin_id"], links[46]["target_id"]) == (apply_id, 3)
    assert (links[52]["origin_id"], links[52]["target_id"]) == (7, 3)  # the negative
    assert definition["state"]["lastNodeId"] >= apply_id and data["last_link_id"] == definition["state"]["lastLinkId"]
    assert [n["type"] for n in data["nodes"]].count("Note") == 1  # the note goes on the top level


def test_a_bypassed_or_muted_subgraph_runs_nothing_inside():
    for mode in (2, 4):
        data = qwen_subgraph_workflow()
        data["nodes"][0]["mode"] = mode
        with pytest.raises(WorkflowError, match="no text encoder feeds the positive"):
            A.add_steering(data, "qwen.safetensors")


def test_envelopes_are_unwrapped_and_written_back_the_same_way(tmp_path):
    for keys in (("input", "workflow"), ("prompt",)):
        whole = {"client_id": "x"} if keys == ("prompt",) else {}
        inner = whole
        for key in keys[:-1]:
            inner = inner.setdefault(key, {})
        inner[keys[-1]] = api_flux()
        source = tmp_path / f"{keys[-1]}.json"
        source.write_text(json.dumps(whole))
        out = tmp_path / f"{keys[-1]}_steered.json"
        assert main(["add-steering", str(source), "-o", str(out), "--direction", "flux.safetensors", "--quiet"]) == 0
        written = json.loads(out.read_text())
        steered = written
        for key in keys:
            steered = steered[key]
        assert any(n["class_type"] == APPLY for n in steered.values())
        if keys == ("prompt",):
            assert written["client_id"] == "x"
        assert json.loads(source.read_text()) == whole


def test_cli_never_overwrites_the_input_and_names_bad_files(tmp_path, capsys):
    source = tmp_path / "wf.json"
    source.write_text(json.dumps(ui_workflow()))
    before = source.read_text()
    assert main(["add-steering", str(source), "-o", str(source), "--direction", "d.safetensors"]) == 2
    assert "is the input file" in capsys.readouterr().err and source.read_text() == before
    (tmp_path / "link.json").symlink_to(source)
    assert main(["add-steering", str(source), "-o", str(tmp_path / "link.json"), "--direction", "d.safetensors"]) == 2
    assert source.read_text() == before
    bad = tmp_path / "bad.json"
    bad.write_text('{"nodes": 3}')
    assert main(["add-steering", str(bad), "-o", str(tmp_path / "o.json"), "--direction", "d.safetensors"]) == 2
    assert "is not a ComfyUI workflow" in capsys.readouterr().err
    out = tmp_path / "steered.json"
    assert main(["add-steering", str(source), "-o", str(out), "--direction", "d.safetensors", "--strength", "4"]) == 0
    assert "wrote" in capsys.readouterr().out and envelope.read(out).format == envelope.UI


def test_direction_arguments():
    assert A.parse_directions(["a.safetensors", "12=b.safetensors", "75:6=c.safetensors"]) == (
        "a.safetensors", {"12": "b.safetensors", "75:6": "c.safetensors"})
    with pytest.raises(WorkflowError, match="NODE_ID=FILE"):
        A.parse_directions(["a.safetensors", "b.safetensors"])


def test_the_workflow_package_imports_no_comfyui():
    import subprocess
    import sys

    code = ("import sys, pkgutil, importlib, crosssteer.workflow_files as w\n"
            "[importlib.import_module(f'crosssteer.workflow_files.{m.name}') for m in pkgutil.iter_modules(w.__path__)]\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('comfy', 'folder_paths', 'nodes', 'server',"
            " 'comfy_api', 'torch'))\n"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
