"""`crosssteer add-steering` on workflows that others wrote: ComfyUI's own templates, from the registry
packages its requirements install (comfyui-workflow-templates and its -media-image, -media-video and
-media-api parts).
Every template tagged text-to-image or text-to-video goes through add-steering; each result is checked
against the real /object_info (node types, links, widget values), the SD1.5 ones are run through /prompt on
the random-weight checkpoint, and every result is loaded into ComfyUI's web page.

Expected refusals are listed with their reason: the cloud API templates have no text encoder (their prompt
goes to a paid API node, not installed here), and the Lotus depth template encodes no text at all. Nothing
may come out broken. The SD1.5 runs use a synthetic direction file (unit vectors, the SD1.5 family and
width): they prove the plumbing of the steered graphs, not what steering does.
"""
from __future__ import annotations

import collections
import importlib.util
import json
import math
from pathlib import Path

import pytest

from crosssteer.workflow_files import add_steering as A, envelope, flat, node_defs as nd
from crosssteer.workflow_files.errors import WorkflowError
from crosssteer.workflow_files.pack_nodes import APPLY, LOAD
from crosssteer.workflow_files.ui_graph import Workflow
from crosssteer.workflow_files.ui_to_api import to_api

PACKAGES = ("comfyui_workflow_templates_media_image", "comfyui_workflow_templates_media_video",
            "comfyui_workflow_templates_media_api",
            "comfyui_workflow_templates_media_other")
TAGS = {"Text to Image", "Text to Video"}
try:  # the web page, driven as tests/test_browser.py drives it (its `page` fixture)
    import test_browser as browser
    from test_browser import page  # noqa: F401
except (ImportError, pytest.skip.Exception):  # no Chromium here: only the browser check skips
    browser = None
# the text encoders of a template that needs two direction files (its node ids: CLIP loaders)
SECOND_ENCODER = {"sdxl_simple_example": {"12": "sdxl_refiner_direction.safetensors"},
                  "sdxl_refiner_prompt_example": {"12": "sdxl_refiner_direction.safetensors"}}
NO_TEXT_ENCODER = {"image_lotus_depth_v1_1"}  # depth estimation: its conditioning is an image's
SD15_RUNS = ("default", "area_composition", "area_composition_square_area_for_subject")


def _template_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            for path in (Path(next(iter(spec.submodule_search_locations))) / "templates").glob("*.json"):
                files[path.stem] = path
    return files


def text_to_x_templates() -> dict[str, Path]:
    files = _template_files()
    if "index" not in files:
        return {}
    index = json.loads(files["index"].read_text(encoding="utf-8"))
    names = [t["name"] for group in index for t in group["templates"] if TAGS & set(t.get("tags", []))]
    return {name: files[name] for name in names if name in files}


TEMPLATES = text_to_x_templates()
if not TEMPLATES:
    # ComfyUI 0.3.75 pins 0.7.25 (templates/ with index.json in these packages); 0.28 pins 0.11.x, which keeps
    # them elsewhere (comfyui_workflow_templates_json): not read here yet
    pytest.skip("no comfyui-workflow-templates 0.7.x templates found (pip install -e '.[dev]'; the 0.11 layout of "
                "ComfyUI 0.28 is not read yet)", allow_module_level=True)


def steer(name: str) -> A.Steered:
    doc = envelope.read(TEMPLATES[name])
    assert doc.format == envelope.UI
    return A.add_steering(doc.workflow, "direction.safetensors", SECOND_ENCODER.get(name, {}), strength=4.0)


@pytest.fixture(scope="module")
def outcomes() -> dict[str, tuple[str, object]]:
    """{template: ("handled", Steered) or ("refused", message)}; anything else raised is a bug."""
    result = {}
    for name in TEMPLATES:
        try:
            result[name] = ("handled", steer(name))
        except WorkflowError as err:
            result[name] = ("refused", str(err))
    return result


def _is_cloud_api(path: Path) -> bool:
    data = json.loads(path.read_text(encoding="utf-8"))
    return path.stem.startswith("api_") and not any(n["type"] in A.trace.TEXT_ENCODERS for n in data["nodes"])


def test_every_text_to_image_and_video_template_is_handled_or_refused_for_a_stated_reason(outcomes, capsys):
    refused = {n: m for n, (kind, m) in outcomes.items() if kind == "refused"}
    handled = {n: s for n, (kind, s) in outcomes.items() if kind == "handled"}
    cloud = {n for n in refused if _is_cloud_api(TEMPLATES[n])}
    assert set(refused) == cloud | NO_TEXT_ENCODER, f"unexpected refusals: {set(refused) - cloud - NO_TEXT_ENCODER}"
    for name in refused:
        assert "no text encoder feeds the positive" in refused[name] and "text encoders: none" in refused[name]
    families = collections.Counter(s.encoders[0].clip.split("(")[0] for s in handled.values())
    with capsys.disabled():
        print(f"\ntemplates: {len(TEMPLATES)} text-to-image/video; handled {len(handled)} "
              f"({sum(len(s.encoders) for s in handled.values())} positive encoders; loaders {dict(families)}); "
              f"refused {len(refused)}: {len(cloud)} cloud API templates without a text encoder, "
              f"{len(refused) - len(cloud)} without text conditioning ({', '.join(sorted(set(refused) - cloud))})")
    assert len(handled) >= 40
    two = handled["sdxl_refiner_prompt_example"]
    assert two.files == {"6": "direction.safetensors", "15": "sdxl_refiner_direction.safetensors"}


def test_the_two_sdxl_text_encoders_are_refused_with_one_file():
    with pytest.raises(WorkflowError, match="(?s)steers 2 text encoders.*sd_xl_refiner_1.0.safetensors"):
        A.add_steering(envelope.read(TEMPLATES["sdxl_refiner_prompt_example"]).workflow, "one.safetensors")


def _sampler_positives(api: dict) -> list[tuple[str, str]]:
    """(sampler id, the class of the node its positive comes from, past conditioning pass-throughs)."""
    found = []
    for node_id, node in api.items():
        names = A.trace.SAMPLERS.get(node["class_type"], ((), ()))[0]
        for name in names:
            source = node["inputs"].get(name)
            while isinstance(source, list) and api[source[0]]["class_type"] in A.trace.PASS_THROUGH:
                inputs = api[source[0]]["inputs"]
                made_from = A.trace.PASS_THROUGH[api[source[0]]["class_type"]].get(source[1], ())
                source = next((inputs[i] for i in made_from if isinstance(inputs.get(i), list)), None)
            if isinstance(source, list):
                found.append((node_id, api[source[0]]["class_type"]))
    return found


# ---------------------------------------------------------------- against the real ComfyUI
@pytest.fixture(scope="module")
def object_info(comfy_server):
    return comfy_server.get("/object_info")


@pytest.mark.comfy
def test_pack_node_definitions_match_the_real_nodes(object_info):
    for kind in (LOAD, APPLY):
        real, ours = object_info[kind], A.splice_ui.DEFINITIONS[kind]
        assert nd.widget_slots(real) == nd.widget_slots(ours)
        assert nd.socket_inputs(real) == nd.socket_inputs(ours) and nd.outputs(real) == nd.outputs(ours)
        for name, spec, _optional in nd.input_specs(ours):
            default = nd.spec_options(spec).get("default")
            if default is not None:
                real_spec = {n: s for n, s, _o in nd.input_specs(real)}[name]
                assert nd.spec_options(real_spec).get("default") == default, f"{kind}.{name}"


@pytest.mark.comfy
def test_every_steered_template_validates_against_object_info(outcomes, object_info):
    broken = {}
    for name, (kind, steered) in outcomes.items():
        if kind != "handled":
            continue
        try:
            _validate(steered, object_info)
        except (AssertionError, WorkflowError, KeyError) as err:
            broken[name] = f"{type(err).__name__}: {err}"
    assert not broken, f"broken results: {broken}"


def _validate(steered: A.Steered, object_info: dict) -> None:
    wf = Workflow(steered.workflow)
    api = to_api(wf, object_info)  # node types installed, widget counts right
    nodes = flat.from_ui(wf)
    for node in nodes.values():
        specs = {n: s for n, s, _o in nd.input_specs(object_info[node.type])}
        for name, (source, slot) in node.links.items():
            declared = nd.outputs(object_info[nodes[source].type])[slot][1]
            assert name in specs, f"{node.label()} has no input {name}"
            wanted = nd.spec_type(specs[name])
            assert wanted in (declared, "*") or declared == "*" or (wanted == "COMBO" and declared == "COMBO"), \
                f"{node.label()}.{name}: {declared} into {wanted}"
    for container, ui in wf.placed_nodes():  # the spliced nodes: every widget value valid for its input
        if ui["type"] in (LOAD, APPLY):
            values = nd.widget_values(ui, object_info[ui["type"]])
            specs = {n: s for n, s, _o in nd.input_specs(object_info[ui["type"]])}
            for name, value in values.items():
                spec = specs[name]
                if nd.spec_type(spec) == "COMBO" and name != "direction_file":
                    assert value in nd.combo_values(spec), f"{name} = {value!r}"
                opts = nd.spec_options(spec)
                if nd.spec_type(spec) == "FLOAT":
                    assert opts.get("min", -1e9) <= value <= opts.get("max", 1e9)
    positives = _sampler_positives(api)  # samplers whose conditioning is an image's (SVD, Lotus) carry no text
    assert any(kind == APPLY for _s, kind in positives), positives
    assert all(kind == APPLY or kind in A.trace.NO_TEXT for _sampler, kind in positives), positives
    assert sum(n["class_type"] == APPLY for n in api.values()) == len(steered.encoders)


@pytest.fixture(scope="module")
def sd15_direction(comfy_base):
    """A synthetic SD1.5 CLIP-L direction file (unit vectors, calibrated units): plumbing, not semantics."""
    import torch

    from crosssteer.directions.safety_direction import SafetyDirection
    from crosssteer.directions.space import Standardizer

    g = torch.Generator().manual_seed(3)
    vector = torch.nn.functional.normalize(torch.randn(768, generator=g), dim=0)
    direction = SafetyDirection(vectors={"global": vector}, standardizer=Standardizer(
        mean=torch.zeros(768), std=torch.ones(768)), units={"global": 1.0}, centers={"global": 0.0},
        meta={"space": "target", "target": {"family": "sd1", "width": 768}})
    name = "templates_sd15_direction.safetensors"
    direction.save(comfy_base / "models" / "safety_directions" / name)
    return name


@pytest.mark.comfy
@pytest.mark.slow
@pytest.mark.parametrize("name", SD15_RUNS)
def test_steered_sd15_templates_run_through_prompt(name, comfy_server, object_info, sd15_checkpoint, sd15_direction,
                                                   comfy_base):
    """The steered file as a user would queue it: converted with the server's /object_info, the test
    checkpoint (and its VAE), latents, upscales and areas shrunk alike (to 64-128 pixels wide), 2 steps; everything else as ComfyUI's template has it."""
    doc = envelope.read(TEMPLATES[name])
    steered = A.add_steering(doc.workflow, sd15_direction, strength=4.0)
    api = to_api(steered.workflow, object_info)
    (latent,) = [n["inputs"] for n in api.values() if n["class_type"] == "EmptyLatentImage"]
    areas = [min(n["inputs"]["width"], n["inputs"]["height"]) for n in api.values()
             if n["class_type"] == "ConditioningSetArea"]
    # every size and area shrinks alike (areas stay inside the latent; ComfyUI's smallest area is 64)
    scale = max([64 / latent["width"], *(64 / a for a in areas)])

    def shrink(value: int) -> int:
        return max(64, math.ceil(value * scale / 8) * 8)

    for node in api.values():
        inputs = node["inputs"]
        if node["class_type"] == "CheckpointLoaderSimple":
            inputs["ckpt_name"] = sd15_checkpoint
        if node["class_type"] in ("EmptyLatentImage", "LatentUpscale", "ConditioningSetArea"):
            inputs.update({k: shrink(inputs[k]) for k in ("width", "height") if isinstance(inputs.get(k), int)})
            inputs.update({k: int(inputs[k] * scale / 8) * 8 for k in ("x", "y") if isinstance(inputs.get(k), int)})
        if node["class_type"] in ("KSampler", "KSamplerAdvanced"):
            inputs["steps"] = 2
            if "end_at_step" in inputs:
                inputs.update(start_at_step=min(inputs["start_at_step"], 1), end_at_step=min(inputs["end_at_step"], 2))
        if node["class_type"] == "SaveImage":
            inputs["filename_prefix"] = f"crosssteer_templates/{name}"
    # a separate VAE file is not on the test server: decode with the checkpoint's own VAE
    (checkpoint,) = [k for k, n in api.items() if n["class_type"] == "CheckpointLoaderSimple"]
    for vae in [k for k, n in api.items() if n["class_type"] == "VAELoader"]:
        del api[vae]
        for node in api.values():
            for key, value in node["inputs"].items():
                if value == [vae, 0]:
                    node["inputs"][key] = [checkpoint, 2]
    outputs = comfy_server.run(api, timeout=900)
    images = [i for out in outputs.values() for i in out.get("images", []) if i.get("type") == "output"]
    assert images, f"{name}: no image saved"
    history = comfy_server.get("/history?max_items=1")
    (entry,) = history.values()
    ran = entry["prompt"][2]
    assert sum(n["class_type"] == APPLY for n in ran.values()) == len(steered.encoders) >= 1


@pytest.mark.comfy
def test_every_handled_template_loads_in_the_web_page_with_apply_before_the_sampler(outcomes, object_info, request):
    """Every steered template in ComfyUI's real frontend (headless Chromium, as tests/test_browser.py drives
    it; one page, one workflow after another): every node type known, no node marked broken, no error toast,
    and the frontend's own API conversion (app.graphToPrompt) feeds each sampler's positive from Apply Safety
    Steering."""
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium)")
    page = request.getfixturevalue("page")
    handled = {name: steered for name, (kind, steered) in outcomes.items() if kind == "handled"}
    assert len(handled) >= 40
    for name, steered in handled.items():
        browser._close_dialogs(page)
        page.errors.clear()
        page.evaluate("async ([wf, name]) => { await app.loadGraphData(wf, true, true, name); }",
                      [steered.workflow, name])
        page.wait_for_timeout(1500)
        state = page.evaluate(browser.PAGE_STATE)
        assert not state["unknown"], f"{name}: node types the page does not know: {state['unknown']}"
        assert not state["broken"], f"{name}: nodes marked broken: {state['broken']}"
        errors = [t["text"] for t in state["toasts"] if t["error"]]
        assert not errors and not page.errors, f"{name}: {errors} {page.errors}"
        for text in state["dialogs"]:
            assert text.startswith("Missing Models"), f"{name}: unexpected dialog:\n{text[:600]}"
        frontend = state["output"]
        positives = _sampler_positives(frontend)
        assert positives and all(k == APPLY or k in A.trace.NO_TEXT for _s, k in positives), f"{name}: {positives}"
        assert sum(n["class_type"] == APPLY for n in frontend.values()) == len(steered.encoders)
        ours = to_api(steered.workflow, object_info)
        assert sorted(n["class_type"] for n in frontend.values()) == sorted(n["class_type"] for n in ours.values())
    browser._close_dialogs(page)
