"""The example workflows in ComfyUI's real web page: the frontend that ComfyUI serves
(comfyui-frontend-package), opened in headless Chromium and driven with Playwright.

Each workflow is fetched the way the template browser fetches it (/api/workflow_templates/crosssteer/...)
and loaded into the canvas with `app.loadGraphData`. The page must know every node type (no
missing-node dialog, no placeholder nodes), show no validation error, keep every widget value where the
file put it, and turn the graph into the same API prompt as crosssteer.workflow_files.ui_to_api does (the frontend's
own `app.graphToPrompt`). The only dialog allowed is "Missing Models", listing exactly the model files the
workflow declares (none are installed on a test machine). A screenshot of each is saved under
test-artifacts/browser/ (scripts/make_workflows.py --thumbnails turns them into workflows/*.jpg).

Skips only when Chromium is not installed (Debian: `apt-get install -y chromium`).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.request
from pathlib import Path

import pytest
from crosssteer.workflow_files import node_defs as nd
from crosssteer.workflow_files.ui_to_api import to_api

pytestmark = [pytest.mark.comfy]

PACK_ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((PACK_ROOT / "workflows").glob("*.json"))
ARTIFACTS = PACK_ROOT / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("CROSSSTEER_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1920, "height": 1080}

if CHROMIUM is None:
    pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium); the browser test needs it",
                allow_module_level=True)

try:
    from playwright.sync_api import sync_playwright
except ImportError as exc:  # a dev dependency: its absence is an error, not a reason to skip
    raise ImportError("the browser test needs Playwright: pip install -e '.[dev]' (or pip install playwright)") from exc


# what the page knows, asked after a workflow is loaded
PAGE_STATE = """async () => {
  const nodes = app.graph._nodes;
  const registered = LiteGraph.registered_node_types;
  const visible = el => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const prompt = await app.graphToPrompt();
  return {
    unknown: nodes.filter(n => !(n.type in registered)).map(n => n.type),
    broken: nodes.filter(n => n.has_errors).map(n => `${n.id} ${n.type}`),
    dialogs: Array.from(document.querySelectorAll('.p-dialog')).filter(visible).map(d => d.innerText),
    toasts: Array.from(document.querySelectorAll('.p-toast-message')).filter(visible).map(t => ({
      text: t.innerText, error: t.className.includes('error')})),
    widgets: Object.fromEntries(nodes.map(n => [n.id, n.serialize().widgets_values ?? null])),
    names: Object.fromEntries(nodes.map(n => [n.id, (n.widgets ?? []).map(w => w.name)])),
    output: prompt.output,
    count: nodes.length,
    boxes: nodes.map(n => [n.id, n.type, Array.from(n.boundingRect)]),
    groups: (app.graph._groups ?? []).map(g => [g.title, Array.from(g._bounding)]),
  };
}"""

# the graph's box on the screen (nodes with their titles, and groups), for the thumbnail crop
GRAPH_ON_SCREEN = """() => {
  const ds = app.canvas.ds, rect = app.canvas.canvas.getBoundingClientRect();
  const boxes = app.graph._nodes.map(n => Array.from(n.boundingRect))
    .concat((app.graph._groups ?? []).map(g => Array.from(g._bounding)));
  const x0 = Math.min(...boxes.map(b => b[0])), y0 = Math.min(...boxes.map(b => b[1]));
  const x1 = Math.max(...boxes.map(b => b[0] + b[2])), y1 = Math.max(...boxes.map(b => b[1] + b[3]));
  const sx = v => (v + ds.offset[0]) * ds.scale + rect.left, sy = v => (v + ds.offset[1]) * ds.scale + rect.top;
  // the node the workflow is about (steering, else the alignment): the centre of the thumbnail
  const key = app.graph._nodes.find(n => n.type === 'CrossSteerApplySafetySteering')
    ?? app.graph._nodes.find(n => n.type === 'CrossSteerSafetySteeringAuto')
    ?? app.graph._nodes.find(n => n.type === 'CrossSteerFitBenignAlignment');
  const kb = Array.from(key.boundingRect);
  return {x: sx(x0), y: sy(y0), width: (x1 - x0) * ds.scale, height: (y1 - y0) * ds.scale, scale: ds.scale,
          key: [sx(kb[0] + kb[2] / 2), sy(kb[1] + kb[3] / 2)]};
}"""


@pytest.fixture(scope="module")
def page(comfy_server):
    # a returning user: no first-run template gallery; warnings stay on, since they are what is checked
    settings = {"Comfy.TutorialCompleted": True, "Comfy.Workflow.ShowMissingNodesWarning": True,
                "Comfy.Workflow.ShowMissingModelsWarning": True, "Comfy.Validation.Workflows": True,
                # screenshots: no minimap over the graph, text drawn at every zoom
                "Comfy.Minimap.Visible": False, "LiteGraph.Canvas.MinFontSizeForLOD": 0}
    request = urllib.request.Request(comfy_server.url + "/settings", data=json.dumps(settings).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:  # answers with an empty body
        assert response.status == 200
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport=VIEWPORT)
        context.add_init_script("localStorage.setItem('vueNodesBannerDismissed', 'true')")
        pg = context.new_page()
        pg.errors = []
        pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
        pg.goto(comfy_server.url)
        pg.wait_for_function("window.app?.graph && window.LiteGraph && "
                             "Object.keys(LiteGraph.registered_node_types).length > 100", timeout=120_000)
        pg.wait_for_timeout(1000)
        pg.errors.clear()  # start-up noise (offline: no registry, no release notes) is not a workflow's doing
        yield pg
        browser.close()


@pytest.fixture(scope="module")
def object_info(comfy_server):
    return comfy_server.get("/object_info")


def _close_dialogs(pg) -> None:
    """Close the page's dialogs, topmost first (Escape; a stacked dialog's mask blocks clicks below it)."""
    for _ in range(6):
        if pg.locator(".p-dialog:visible").count() == 0:
            return
        pg.keyboard.press("Escape")
        pg.wait_for_timeout(250)
    raise AssertionError("a dialog does not close")


# How the page says that model files are missing. Frontend 1.32 (ComfyUI 0.3.75) opens a "Missing Models"
# dialog with one "directory / file" line each; 1.45 (ComfyUI 0.28) shows an error overlay ("1 required
# model is missing"), marks the node that needs the file, and lists the files in its Errors panel.
MISSING_MODELS_SHOWN = """() => Array.from(document.querySelectorAll('.p-dialog'))
    .some(d => d.innerText.startsWith('Missing Models'))
  || /required models? (is|are) missing/.test(document.body.innerText)"""
MODEL_FILE = r"[.](safetensors|gguf|ckpt|pt|pth|sft)"  # the end of a model file's name
# the Errors panel's missing-models section, as text: "directory (count)" headings, each followed by its files
ERRORS_PANEL_MODELS = """() => {
  const sections = Array.from(document.querySelectorAll('div'))
    .filter(d => d.innerText.startsWith('Missing Models (') && /%s/.test(d.innerText));
  return sections.length ? sections[sections.length - 1].innerText : '';
}""" % MODEL_FILE


def _missing_models(page, dialogs: list[str]) -> set[str]:
    """The model files the page reports missing, as "directory / file": the lines of frontend 1.32's
    dialog, or the files under each "directory (count)" heading of frontend 1.45's Errors panel."""
    in_dialog = {line.strip() for text in dialogs if text.startswith("Missing Models")
                 for line in text.splitlines() if " / " in line}
    if in_dialog or not page.get_by_text("Show missing models").count():
        return in_dialog
    page.get_by_text("Show missing models").first.click()
    page.wait_for_function("document.body.innerText.includes('Missing Models (')", timeout=10_000)
    page.wait_for_timeout(300)
    listed, directory = set(), None
    for line in page.evaluate(ERRORS_PANEL_MODELS).splitlines()[1:]:
        entry = re.fullmatch(r"(.+) \((\d+)\)", line.strip())  # a directory, or a file and its node count
        if entry and re.search(MODEL_FILE + "$", entry.group(1)):
            listed.add(f"{directory} / {entry.group(1)}")
        elif entry:
            directory = entry.group(1)
    return listed


def _absent_combo_values(workflow: dict, object_info: dict, node: dict | None = None) -> set[str]:
    """Combo values (of one node, or of all) that the server does not offer: files that are not there yet."""
    absent = set()
    for n in [node] if node else workflow["nodes"]:
        info = object_info.get(n["type"])
        if info is None:
            continue
        specs = {name: spec for name, spec, _o in nd.input_specs(info)}
        absent |= {v for name, v in nd.widget_values(n, info).items()
                   if nd.spec_type(specs[name]) == "COMBO" and v not in nd.combo_values(specs[name])}
    return absent


def _nodes_with_missing_files(workflow: dict, object_info: dict) -> set[str]:
    """"id type" of the nodes that declare a model file or hold a file name the server does not offer."""
    return {f"{n['id']} {n['type']}" for n in workflow["nodes"]
            if (n.get("properties") or {}).get("models") or _absent_combo_values(workflow, object_info, n)}


def _intersect(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _inside(a, b) -> bool:
    return b[0] <= a[0] and b[1] <= a[1] and a[0] + a[2] <= b[0] + b[2] and a[1] + a[3] <= b[1] + b[3]


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_workflow_loads_in_the_real_frontend(page, comfy_server, object_info, path):
    _close_dialogs(page)
    page.errors.clear()
    workflow = page.evaluate("async url => (await fetch(url)).json()",
                             f"/api/workflow_templates/crosssteer/{path.name}")
    assert workflow == json.loads(path.read_text(encoding="utf-8")), "the template route serves another file"
    started = time.monotonic()
    page.evaluate("async ([wf, name]) => { await app.loadGraphData(wf, true, true, name); }", [workflow, path.stem])
    declared = {f"{m['directory']} / {m['name']}" for n in workflow["nodes"]
                for m in (n.get("properties") or {}).get("models", [])}
    # the missing-models check asks the server for its model lists: wait for its dialog, then a little
    # longer for anything else the page may still report
    if declared:
        page.wait_for_function(MISSING_MODELS_SHOWN, timeout=20_000)
    page.wait_for_timeout(1000)
    state = page.evaluate(PAGE_STATE)

    assert state["count"] == len(workflow["nodes"])
    assert not state["unknown"], f"node types the page does not know: {state['unknown']}"
    # frontend 1.45 marks a node whose file is not on the server (a declared model, or a direction file
    # that workflow 01 makes); nothing else may be marked
    assert set(state["broken"]) <= _nodes_with_missing_files(workflow, object_info), \
        f"nodes the page marked as broken: {state['broken']}"
    errors = [t["text"] for t in state["toasts"] if t["error"]]
    assert not errors, f"the page reported errors: {errors}"
    assert not page.errors, f"uncaught errors in the page while loading: {page.errors}"

    # only the missing-models report, and it names exactly the files the workflow declares
    for text in state["dialogs"]:
        assert text.startswith("Missing Models"), f"unexpected dialog:\n{text[:800]}"
    listed = _missing_models(page, state["dialogs"])
    if listed - declared:  # frontend 1.45 also lists files in folders it does not know (a direction file)
        names = {entry.split(" / ", 1)[1] for entry in declared}
        declared |= {f"Unknown / {name}" for name in _absent_combo_values(workflow, object_info) - names}
    assert listed == declared, f"the page reports {sorted(listed)} missing, the workflow declares {sorted(declared)}"

    # every widget value stayed on its widget (the frontend re-serialises what it loaded)
    for node in workflow["nodes"]:
        loaded = state["widgets"][str(node["id"])]
        info = object_info.get(node["type"])
        saved = node.get("widgets_values") or []
        if info and loaded and isinstance(saved, list) and nd.required_widget_count(info) <= len(saved) < len(loaded):
            loaded = loaded[:len(saved)]  # optional widgets newer than the file, at their defaults
        assert loaded == node.get("widgets_values", []) or (loaded is None and not node.get("widgets_values")), \
            f"node {node['id']} {node['type']}: the page holds {loaded}, the file {node.get('widgets_values')}"
        if info is not None:
            expected = [name if extra is None else extra for name, extra in nd.widget_slots(info)]
            assert state["names"][str(node["id"])][:len(expected)] == expected, \
                f"{node['type']}: the page's widgets {state['names'][str(node['id'])]} differ from {expected}"

    # the frontend's own API conversion agrees with the one the /prompt tests use
    ours = to_api(workflow, object_info)
    theirs = state["output"]
    assert set(theirs) == set(ours)
    for node_id, entry in ours.items():
        assert theirs[node_id]["class_type"] == entry["class_type"]
        # the server reads only declared inputs; some frontend widgets (Preview as Text's 'preview') ride along
        declared_inputs = {name for name, _spec, _opt in nd.input_specs(object_info[entry["class_type"]])}
        frontend = {k: v for k, v in theirs[node_id]["inputs"].items() if k in declared_inputs}
        assert frontend == entry["inputs"], f"node {node_id} {entry['class_type']}"

    # nodes as the page lays them out (titles included) do not cover each other
    boxes = state["boxes"]
    overlaps = [(a[0], a[1], b[0], b[1]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                if _intersect(a[2], b[2])]
    assert not overlaps, f"overlapping nodes (id, type): {overlaps}"
    # a group frames its nodes whole and cuts through none
    cut = [(title, n[0], n[1]) for title, g in state["groups"] for n in boxes
           if _intersect(n[2], g) and not _inside(n[2], g)]
    assert not cut, f"groups cutting through nodes (group, id, type): {cut}"

    _close_dialogs(page)
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / f"{path.stem}.png"))
    box = page.evaluate(GRAPH_ON_SCREEN)
    assert box["scale"] >= 0.6, f"the saved view is zoomed out to {box['scale']}: text would not be drawn"
    assert box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"] \
        and box["y"] + box["height"] <= VIEWPORT["height"], f"the saved view does not show the whole graph: {box}"
    margin = 16
    clip = {"x": max(0, box["x"] - margin), "y": max(0, box["y"] - margin)}
    clip["width"] = min(VIEWPORT["width"] - clip["x"], box["width"] + 2 * margin)
    clip["height"] = min(VIEWPORT["height"] - clip["y"], box["height"] + 2 * margin)
    page.screenshot(path=str(ARTIFACTS / f"{path.stem}.graph.png"), clip=clip)
    # a square around the key node, for the template browser's square cards (workflows/*.jpg)
    side = min(max(clip["height"], 640), VIEWPORT["height"], clip["width"])
    left = min(max(clip["x"], box["key"][0] - side / 2), clip["x"] + clip["width"] - side)
    top = min(max(clip["y"], box["key"][1] - side / 2), clip["y"] + clip["height"] - side)
    top = max(0, min(top, VIEWPORT["height"] - side))
    page.screenshot(path=str(ARTIFACTS / f"{path.stem}.card.png"),
                    clip={"x": left, "y": top, "width": side, "height": side})
    assert time.monotonic() - started < 60


def test_the_template_browser_shows_the_pack_s_workflows_and_opens_one(page):
    """ComfyUI's own Templates dialog: the pack's section lists every workflow with its thumbnail, and a
    click on a card loads that workflow into the canvas."""
    _close_dialogs(page)
    page.evaluate("app.extensionManager.command.execute('Comfy.BrowseTemplates')")
    dialog = page.locator(".p-dialog").filter(has_text="Templates")
    dialog.get_by_text("crosssteer", exact=True).first.click()
    for path in WORKFLOWS:  # a card loads its thumbnail when it scrolls into view
        card = dialog.locator(f'[data-testid="template-workflow-{path.stem}"]')
        card.scroll_into_view_if_needed()
        card.hover()
        image = card.locator("img").first
        image.wait_for(timeout=30_000)
        loaded = image.evaluate("i => new Promise(done => i.complete ? done(i.naturalWidth) : "
                                "i.addEventListener('load', () => done(i.naturalWidth)))")
        assert loaded > 0, f"the thumbnail of {path.stem} did not load"
    text = dialog.inner_text()
    assert all(p.stem in text for p in WORKFLOWS), text[-1500:]
    page.screenshot(path=str(ARTIFACTS / "template_browser.png"))
    dialog.get_by_text("03_side_by_side_sd15", exact=True).first.click()
    page.wait_for_function("app.graph._nodes.some(n => n.type === 'ImageStitch')", timeout=30_000)
    types = page.evaluate("app.graph._nodes.map(n => n.type)")
    assert types.count("KSampler") == 2 and "CrossSteerApplySafetySteering" in types
    _close_dialogs(page)


def test_the_checks_above_see_a_missing_node_type(page):
    """The same load with one node type that no pack provides: the page must say so, or the checks
    above would pass on a page that reports nothing."""
    _close_dialogs(page)
    workflow = json.loads(WORKFLOWS[0].read_text(encoding="utf-8"))
    victim = next(n for n in workflow["nodes"] if n["type"].startswith("CrossSteer"))
    victim["type"] = "CrossSteerNoSuchNode"
    page.evaluate("async wf => { await app.loadGraphData(wf); }", workflow)
    # frontend 1.32 names the type in a dialog; 1.45 says so in its error overlay
    page.wait_for_function("Array.from(document.querySelectorAll('.p-dialog'))"
                           ".some(d => d.innerText.includes('CrossSteerNoSuchNode'))"
                           " || document.body.innerText.includes('Some nodes are missing')", timeout=20_000)
    state = page.evaluate(PAGE_STATE)
    assert state["unknown"] == ["CrossSteerNoSuchNode"] or any(
        "CrossSteerNoSuchNode" in b for b in state["broken"]), state["unknown"]
    assert any("CrossSteerNoSuchNode" in d and not d.startswith("Missing Models") for d in state["dialogs"]) \
        or "Some nodes are missing" in page.evaluate("document.body.innerText"), state["dialogs"]
    page.screenshot(path=str(ARTIFACTS / "negative_missing_node.png"))
    _close_dialogs(page)
