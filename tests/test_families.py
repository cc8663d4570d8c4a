"""Every model family's conditioning, steered the way that family builds it, inside a real ComfyUI.

Text encoders (see family_models.py for how each is built):
* SD1.5: the harness's random-weight checkpoint (CheckpointLoaderSimple), full-size CLIP-L.
* SDXL: full-size random CLIP-L and CLIP-G files in models/text_encoders, loaded by DualCLIPLoader (sdxl).
* SD3, Flux, Chroma, HiDream, Wan, LTXV, Mochi, HunyuanVideo, Qwen-Image, Z-Image, Lumina2: ComfyUI's own
  text-encoder classes, tokenizers and templates, loaded by ComfyUI's loader function at the true width
  with reduced depth (their true sizes, 4.7B-8B parameters, do not fit the test machine). CLIP-L stays
  full size where a family has it (Flux, HiDream, HunyuanVideo); SD3's CLIP-L and CLIP-G are reduced.
  Wan's umT5 and Lumina2's Gemma use a small trained sentencepiece vocabulary (same special ids).
Every family gets: the family and its spaces detected from the CLIP object; exactly the content tokens
(by the tokenizer's own output, not by the code under test) move by exactly strength x the space's step,
padding / BOS / template rows and SD3's zero columns do not move; keys, shapes and dtype are kept and
the input is untouched; scheduled entries and B > 1 (and >77-token prompts for CLIP families) work; a
direction fitted for another family is refused and the `family` override lets it through.
Random weights prove plumbing, not semantics.
"""
from __future__ import annotations

import copy
import gc
import json
import logging
import sys
import types

import pytest
import safetensors
import safetensors.torch
import torch

import family_models

pytestmark = [pytest.mark.comfy]

PROMPT = "a photo of a cat on a red sofa"
LONG_PROMPT = ", ".join(["a red bicycle leaning on an old brick wall in the rain"] * 9)  # two CLIP chunks

# family -> {space: width}, primary first: what the encoder must report and Apply must steer
SPACES = {
    "sd1": {"tokens": 768},
    "sdxl": {"tokens": 2048, "pooled": 1280},
    "sd3": {"t5": 4096, "clip_lg": 2048, "pooled": 2048},
    "flux": {"tokens": 4096, "pooled": 768},
    "chroma": {"tokens": 4096},
    "hidream": {"tokens": 4096, "pooled": 2048},
    "qwen_image": {"tokens": 3584},
    "z_image": {"tokens": 2560},
    "lumina2": {"tokens": 2304},
    "wan": {"tokens": 4096},
    "hunyuan_video": {"tokens": 4096, "pooled": 768},
    "ltxv": {"tokens": 4096},
    "mochi": {"tokens": 4096},
    "sdxl_refiner": {"tokens": 1280, "pooled": 1280},
    "flux2": {"tokens": 15360},
    "flux2_klein": {"tokens": 7680},
    "hunyuan_image": {"tokens": 3584},
    "hunyuan_video15": {"tokens": 3584},
    "kandinsky5": {"tokens": 3584, "pooled": 768},
    "ltx2": {"tokens": 3840},
    "qwen_image21": {"tokens": 4096},
}
# a family whose direction this family's conditioning must refuse (same width where the layouts differ)
WRONG = {"sd1": "sdxl", "sdxl": "sd1", "sd3": "flux", "flux": "chroma", "chroma": "flux", "hidream": "sd3",
         "qwen_image": "hunyuan_video15", "z_image": "qwen_image", "lumina2": "z_image", "wan": "chroma",
         "hunyuan_video": "wan", "ltxv": "wan", "mochi": "chroma", "sdxl_refiner": "sdxl", "flux2": "flux2_klein",
         "flux2_klein": "z_image", "hunyuan_image": "qwen_image", "hunyuan_video15": "qwen_image",
         "kandinsky5": "qwen_image", "ltx2": "lumina2", "qwen_image21": "chroma"}
CLIP_FAMILIES = ("sd1", "sdxl", "sd3", "sdxl_refiner")
QUOTED_PROMPT = 'a shop sign that reads "OPEN" above a red door'  # HunyuanImage / HunyuanVideo 1.5: a byT5 stream


def pack(comfy, name: str):
    """A module of this pack as ComfyUI loaded it (its classes are the ones the nodes check against)."""
    root = comfy.node_class("CrossSteerApplySafetySteering").__module__.rsplit(".nodes.", 1)[0]
    return sys.modules[f"{root}.{name}"]


# ------------------------------------------------------------------------------------------ encoders
@pytest.fixture(scope="module", autouse=True)
def own_embedding_cache(tmp_path_factory):
    """Embeddings cached for this module only: no test reads vectors an older version of the code made."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CROSSSTEER_CACHE", str(tmp_path_factory.mktemp("crosssteer_cache")))
        yield


@pytest.fixture(scope="module", params=list(SPACES))
def family_clip(request, comfy, comfy_base, sd15_checkpoint):
    """(family, CLIP object): one family at a time, freed before the next is built."""
    family = request.param
    missing = family_models.missing_in_this_comfyui(family)
    if missing:
        pytest.skip(missing)
    ENCODED.clear()
    if family == "sd1":
        clip = comfy.node_class("CheckpointLoaderSimple")().load_checkpoint(sd15_checkpoint)[1]
    elif family == "sdxl":
        names = family_models.write_full_clip_files(comfy_base / "models" / "text_encoders")
        clip = comfy.node_class("DualCLIPLoader")().load_clip(names[0], names[1], "sdxl")[0]
    elif family == "sdxl_refiner":  # CLIP-G alone, as CLIPLoader's default type loads it
        names = family_models.write_full_clip_files(comfy_base / "models" / "text_encoders")
        clip = comfy.node_class("CLIPLoader")().load_clip(names[1], "stable_diffusion")[0]
    else:
        clip = family_models.reduced_clip(family)
    yield family, clip
    ENCODED.clear()
    del clip
    gc.collect()


ENCODED: dict = {}  # (id(clip), text) -> CONDITIONING: a full-size CLIP-G takes seconds a prompt


def encode(comfy, family: str, clip, text: str) -> list:
    """CONDITIONING as a user's graph makes it (Lumina2 through its own node, with the system prompt).
    Encoded once per CLIP and text; callers never change it (the tests check that nothing does)."""
    key = (id(clip), text)
    if key not in ENCODED:
        if family == "lumina2":
            ENCODED[key] = comfy.node_class("CLIPTextEncodeLumina2").execute(clip=clip, user_prompt=text,
                                                                             system_prompt="superior").result[0]
        else:
            ENCODED[key] = comfy.node_class("CLIPTextEncode")().encode(clip, text)[0]
    return ENCODED[key]


def content_rows(family: str, clip, text: str, rows: int) -> dict[str, tuple[int, int, torch.Tensor]]:
    """{space: (first row, end row, bool mask of the rows that must move)}, from the tokenizer's output and
    the family's documented layout, independently of the code under test."""
    if family == "lumina2":
        text = ("You are an assistant designed to generate superior images with the superior degree of image-text "
                f"alignment based on textual prompts or user prompts. <Prompt Start> {text}")
    tokens = clip.tokenize(text)

    def real(key: str, pad: int) -> int:  # tokens up to and including the end token, before the padding
        return sum(1 for t in tokens[key][0] if t[0] != pad)

    def but_chunk_starts(n: int) -> torch.Tensor:
        mask = torch.ones(n, dtype=torch.bool)
        mask[::77] = False  # every 77-token chunk opens with a BOS whose state is the same for every prompt
        return mask

    everything = torch.ones(rows, dtype=torch.bool)
    if family in ("sd1", "sdxl", "sdxl_refiner"):
        return {"tokens": (0, rows, but_chunk_starts(rows))}
    if family == "sd3":
        clip_rows = 77 * len(tokens["l"])
        return {"clip_lg": (0, clip_rows, but_chunk_starts(clip_rows)), "t5": (clip_rows, rows, everything[clip_rows:])}
    if family in ("wan", "ltxv", "mochi"):
        key = "umt5xxl" if family == "wan" else "t5xxl"
        mask = torch.zeros(rows, dtype=torch.bool)
        mask[:real(key, 0)] = True  # Wan: zeroed padding; LTXV / Mochi: masked padding
        return {"tokens": (0, rows, mask)}
    if family == "z_image":  # "<|im_start|>user\n" opens every prompt: the same 3 states each time
        mask = everything.clone()
        mask[:3] = False
        return {"tokens": (0, rows, mask)}
    if family in ("lumina2", "ltx2"):  # Gemma's BOS (LTX-2: ComfyUI cut the left padding away)
        mask = everything.clone()
        mask[0] = False
        return {"tokens": (0, rows, mask)}
    if family == "qwen_image21":  # ComfyUI cuts the system turn; "<|im_start|>user\n" stays
        mask = everything.clone()
        mask[:3] = False
        return {"tokens": (0, rows, mask)}
    if family == "flux2":  # BOS, the system prompt and [INST] open every prompt (no padding for one prompt)
        mask = everything.clone()
        mask[:flux2_prefix(clip)] = False
        return {"tokens": (0, rows, mask)}
    if family == "flux2_klein":  # "<|im_start|>user\n", then the prompt and the template's end; padded to 512
        mask = torch.zeros(rows, dtype=torch.bool)
        mask[3:real("qwen3_4b", 151643)] = True
        return {"tokens": (0, rows, mask)}
    # Flux / Chroma / HiDream: T5 padding is neither zeroed nor masked, the model attends to it;
    # Qwen-Image / HunyuanVideo / HunyuanImage 2.1 / HunyuanVideo 1.5 / Kandinsky 5: ComfyUI already cut the
    # template away
    return {"tokens": (0, rows, everything)}


def flux2_prefix(clip) -> int:
    """Flux.2's prompt-independent rows, from the tokenizer: BOS, the system prompt, [INST] (id 3)."""
    ids = [t[0] for t in clip.tokenize(PROMPT)["mistral3_24b"][0]]
    return ids.index(3) + 1


def synthetic_direction(comfy, family: str, seed: int = 0, spaces: dict | None = None, clip=None):
    """A calibrated target direction for the family, one random unit vector per space (arithmetic only)."""
    SafetyDirection = pack(comfy, "directions.safety_direction").SafetyDirection
    Standardizer = pack(comfy, "directions.space").Standardizer
    g = torch.Generator().manual_seed(seed)
    parts = {}
    for i, (space, width) in enumerate((spaces or SPACES[family]).items()):
        std = Standardizer(mean=torch.randn(width, generator=g) * 0.1, std=torch.rand(width, generator=g) * 0.05 + 0.02)
        vector = torch.nn.functional.normalize(torch.randn(width, generator=g), dim=0)
        parts[space] = SafetyDirection(vectors={"global": vector}, standardizer=std, units={"global": 1.5 + i},
                                       centers={"global": 0.0},
                                       meta={"space": "target", "target": {"family": family, "space": space,
                                                                          "width": width}})
    primary = parts.pop(next(iter(SPACES[family] if spaces is None else spaces)))
    if family == "flux2" and clip is not None:  # what Fit records from the target CLIP (describe()["lead"])
        primary.meta["target"]["lead"] = flux2_prefix(clip)
    primary.spaces = parts
    return primary.validate()


def space_direction(direction, space: str):
    return direction if direction.meta["target"]["space"] == space else direction.spaces[space]


# families whose conditioning no mark tells apart from a family of another token space: `auto` refuses them
# (test_auto_refuses_conditioning_it_cannot_attribute), so their own directions steer with `family` set
AMBIGUOUS = {"flux": {"hunyuan_video"}, "hunyuan_video": {"flux"}, "chroma": {"qwen_image21"},
             "ltxv": {"qwen_image21"}, "mochi": {"qwen_image21"}, "z_image": {"lumina2"},
             "qwen_image": {"hunyuan_image", "hunyuan_video15"}, "hunyuan_image": {"qwen_image", "hunyuan_video15"},
             "hunyuan_video15": {"qwen_image", "hunyuan_image"}, "qwen_image21": {"chroma"}}


def own(family: str) -> str:
    return family if family in AMBIGUOUS else "auto"


def apply(comfy, conditioning, direction, strength=2.0, mode="add", tokens="content", **kw):
    node = comfy.node_class("CrossSteerApplySafetySteering")
    return node.execute(conditioning=conditioning, direction=direction, strength=strength, mode=mode, tokens=tokens,
                        gate_threshold=1.0, **kw).result[0]


def snapshot(conditioning) -> list:
    return [[x.clone(), {k: (v.clone() if torch.is_tensor(v) else copy.deepcopy(v)) for k, v in d.items()}]
            for x, d in conditioning]


def assert_unchanged(before, after):
    for (xb, db), (xa, da) in zip(before, after):
        assert torch.equal(xb, xa) and db.keys() == da.keys()
        for k in db:
            assert (torch.equal(db[k], da[k]) if torch.is_tensor(db[k]) else db[k] == da[k]), k


def check_steered(family, clip, text, entry_in, entry_out, direction, strength, item=slice(None)):
    """The moved rows are exactly the content rows, by exactly strength x the space's step; the pooled
    vector moves by its own step where the family's model reads one; nothing else changes."""
    x, extras = entry_in
    y, extras_out = entry_out
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
    assert set(extras_out) == set(extras) and y is not x and extras_out is not extras
    diff = (y.float() - x.float())[item]
    for space, (start, stop, mask) in content_rows(family, clip, text, x.shape[1]).items():
        d = space_direction(direction, space)
        block = diff[:, start:stop]
        step = (strength * d.displacement("global")).expand(block.shape[0], int(mask.sum()), -1)
        assert torch.allclose(block[:, mask, :d.width], step, atol=2e-4, rtol=1e-4), f"{family} {space}: content rows"
        assert torch.equal(block[:, ~mask], torch.zeros_like(block[:, ~mask])), f"{family} {space}: other rows moved"
        assert torch.equal(block[..., d.width:], torch.zeros_like(block[..., d.width:])), f"{family} {space}: columns"
    pooled_in, pooled_out = extras.get("pooled_output"), extras_out.get("pooled_output")
    if "pooled" in SPACES[family]:
        step = strength * direction.spaces["pooled"].displacement("global")
        assert torch.allclose((pooled_out - pooled_in)[item], step.expand_as(pooled_in[item]), atol=2e-4)
        assert pooled_out is not pooled_in
    elif torch.is_tensor(pooled_in):
        assert torch.equal(pooled_out, pooled_in)
    for key in set(extras) - {"pooled_output"}:
        value = extras[key]
        assert (torch.equal(extras_out[key], value) if torch.is_tensor(value) else extras_out[key] == value), key


# ----------------------------------------------------------------------------------- per family
def test_family_and_spaces_are_detected_from_the_clip(comfy, family_clip):
    family, clip = family_clip
    encoder_mod = pack(comfy, "nodes.comfy_encoder")
    assert encoder_mod.clip_family(clip) == family
    encoder = encoder_mod.ComfyClipEncoder.wrap(clip, use_cache=False)
    assert encoder.spaces == SPACES[family]
    assert encoder.describe()["family"] == family
    if family == "flux2":  # its template prefix depends on the checkpoint's tokenizer: measured and recorded
        assert encoder.describe()["lead"] == flux2_prefix(clip)
    x, extras = encode(comfy, family, clip, PROMPT)[0]
    assert family in pack(comfy, "directions.conditioning").families_matching(x, extras)


def test_apply_moves_exactly_the_content_tokens(comfy, family_clip):
    family, clip = family_clip
    cond = encode(comfy, family, clip, PROMPT)
    before = snapshot(cond)
    direction = synthetic_direction(comfy, family, clip=clip)
    out = apply(comfy, cond, direction, strength=2.0, family=own(family))
    assert len(out) == len(cond) and out is not cond
    check_steered(family, clip, PROMPT, cond[0], out[0], direction, 2.0)
    assert_unchanged(before, cond)
    if "pooled" in SPACES[family]:  # steer_pooled off: the tokens move, the pooled vector does not
        kept = apply(comfy, cond, direction, steer_pooled=False, family=own(family))[0][1]["pooled_output"]
        assert torch.equal(kept, cond[0][1]["pooled_output"])


def test_scheduled_entries_batches_and_long_prompts(comfy, family_clip):
    """Two scheduled entries (clip_start/end_percent, as CLIP hooks make them) and a B = 2 batch; for CLIP
    families a prompt of more than 77 tokens (BOS of each chunk left alone)."""
    family, clip = family_clip
    direction = synthetic_direction(comfy, family, seed=1, clip=clip)
    (x, extras), = encode(comfy, family, clip, PROMPT)
    scheduled = [[x, {**extras, "clip_start_percent": 0.0, "clip_end_percent": 0.5}],
                 [x * 0.5, {**extras, "clip_start_percent": 0.5, "clip_end_percent": 1.0}]]
    out = apply(comfy, scheduled, direction, strength=1.5, family=own(family))
    for entry_in, entry_out in zip(scheduled, out):
        check_steered(family, clip, PROMPT, entry_in, entry_out, direction, 1.5)
    batched_extras = {k: (v.repeat(2, 1) if k == "pooled_output" and torch.is_tensor(v) else v) for k, v in extras.items()}
    batch = [[torch.cat([x, x * 1.1]), batched_extras]]
    out = apply(comfy, batch, direction, strength=-1.0, family=own(family))
    for b in range(2):
        check_steered(family, clip, PROMPT, batch[0], out[0], direction, -1.0, item=slice(b, b + 1))
    if family in CLIP_FAMILIES:
        long = encode(comfy, family, clip, LONG_PROMPT)
        assert long[0][0].shape[1] >= 154
        check_steered(family, clip, LONG_PROMPT, long[0], apply(comfy, long, direction, family=own(family))[0], direction, 2.0)


def test_gated_and_ablate_stay_on_the_content_tokens(comfy, family_clip):
    family, clip = family_clip
    cond = encode(comfy, family, clip, PROMPT)
    x = cond[0][0]
    rows = content_rows(family, clip, PROMPT, x.shape[1])
    for mode in ("gated", "ablate"):
        y = apply(comfy, cond, synthetic_direction(comfy, family, seed=2, clip=clip), strength=1.0, mode=mode, family=own(family))[0][0]
        assert y.shape == x.shape and y.dtype == x.dtype
        for start, stop, mask in rows.values():
            block = (y - x)[:, start:stop]
            assert torch.equal(block[:, ~mask], torch.zeros_like(block[:, ~mask])), f"{family} {mode}"


def test_a_direction_fitted_for_another_family_is_refused_unless_overridden(comfy, family_clip):
    family, clip = family_clip
    cond = encode(comfy, family, clip, PROMPT)
    wrong = WRONG[family]
    spaces = SPACES[wrong]
    direction = synthetic_direction(comfy, wrong, spaces=spaces)
    with pytest.raises(ValueError, match=r"fitted for|made for a \d+-wide|could come from"):
        apply(comfy, cond, direction)
    same_width = next(iter(spaces.values())) == next(iter(SPACES[family].values()))
    if same_width:  # the user knows better (e.g. the same T5-XXL): SD3's "t5" rows take a "tokens" map and back
        out = apply(comfy, cond, direction, family=family, steer_pooled=False)
        assert not torch.equal(out[0][0], cond[0][0])
        pooled = cond[0][1].get("pooled_output")
        assert pooled is None or torch.equal(out[0][1]["pooled_output"], pooled)


def test_auto_refuses_conditioning_it_cannot_attribute(comfy, family_clip):
    """Where no mark of the conditioning tells the family apart from one that reads another space (a
    Qwen-Image direction on HunyuanVideo 1.5 conditioning, both 3584 wide), `auto` refuses, naming them;
    the family set by name steers it."""
    family, clip = family_clip
    cond = encode(comfy, family, clip, PROMPT)
    families = pack(comfy, "directions.families")
    (x, extras), = cond
    matching = pack(comfy, "directions.conditioning").families_matching(x, extras)
    others = set(families.ambiguous_with(families.FAMILIES[family], matching))
    assert others == AMBIGUOUS.get(family, set())
    if not others:
        return
    direction = synthetic_direction(comfy, family, clip=clip)
    with pytest.raises(ValueError, match="could come from") as refused:
        apply(comfy, cond, direction)
    for other in others:
        assert families.FAMILIES[other].label in str(refused.value)
    assert f"set family to {family!r}" in str(refused.value)
    assert not torch.equal(apply(comfy, cond, direction, family=family)[0][0], x)


def test_glyph_stream_passes_unchanged_with_a_logged_reason(comfy, family_clip, caplog):
    """HunyuanImage 2.1 / HunyuanVideo 1.5: quoted text adds a byT5 stream (conditioning_byt5small); the
    Qwen tokens are steered, the glyph stream is kept as it came, and the log says why."""
    family, clip = family_clip
    if family not in ("hunyuan_image", "hunyuan_video15"):
        pytest.skip("only HunyuanImage 2.1 and HunyuanVideo 1.5 have a glyph stream")
    cond = encode(comfy, family, clip, QUOTED_PROMPT)
    assert cond[0][1]["conditioning_byt5small"].shape[-1] == 1472
    direction = synthetic_direction(comfy, family, clip=clip)
    caplog.set_level(logging.INFO)
    out = apply(comfy, cond, direction, family=family)
    check_steered(family, clip, QUOTED_PROMPT, cond[0], out[0], direction, 2.0)
    assert "conditioning_byt5small passes unchanged" in caplog.text


# ----------------------------------------------------------------------------- sampler steps
def test_sampler_step_takes_the_steered_conditioning(comfy, family_clip):
    """ComfyUI's KSampler runs one step of a tiny random diffusion model of the family on the steered
    conditioning (negative: ConditioningZeroOut of it), and the steering reaches the model's output.
    SD1.5 runs as a whole graph below; families without a buildable tiny model say why."""
    family, clip = family_clip
    if family == "sd1":
        pytest.skip("SD1.5 runs as a whole graph in test_sd15_sampler_step_takes_steered_conditioning")
    built = family_models.reduced_diffusion_model(family)
    if built is None:
        pytest.skip(family_models.NO_SAMPLER[family])
    model, latent = built
    cond = encode(comfy, family, clip, PROMPT)
    steered = apply(comfy, cond, synthetic_direction(comfy, family, seed=4, clip=clip), strength=8.0, family=own(family))
    negative = comfy.node_class("ConditioningZeroOut")().zero_out(cond)[0]
    sampler = comfy.node_class("KSampler")()

    def sample(positive):
        return sampler.sample(model, 0, 1, 3.0, "euler", "simple", positive, negative, {"samples": latent.clone()})[0]["samples"]

    plain, moved = sample(cond), sample(steered)
    assert moved.shape == latent.shape and torch.isfinite(moved).all()
    assert not torch.equal(plain, moved), "the steered conditioning did not reach the model"


def test_sd15_sampler_step_takes_steered_conditioning(comfy, sd15_checkpoint, comfy_base):
    """A whole graph: CLIPTextEncode -> Apply (a saved SD1.5 direction) -> KSampler -> VAEDecode."""
    import comfy_harness

    direction = synthetic_direction(comfy, "sd1", seed=3)
    folder = comfy_base / "models" / "safety_directions"
    direction.save(folder / "family_sd1.safetensors")
    graph = comfy_harness.txt2img_graph(sd15_checkpoint, text=LONG_PROMPT, steps=1)
    graph["20"] = {"class_type": "CrossSteerLoadSafetyDirection", "inputs": {"direction_file": "family_sd1.safetensors"}}
    graph["21"] = {"class_type": "CrossSteerApplySafetySteering", "inputs": {
        "conditioning": ["2", 0], "direction": ["20", 0], "strength": 3.0, "mode": "add", "tokens": "content",
        "gate_threshold": 1.0, "steer_pooled": True, "family": "auto"}}
    graph["5"]["inputs"]["positive"] = ["21", 0]
    assert comfy.run(graph)["7"]["images"]


# ------------------------------------------------------------------ fitting: spaces, source role, files
PAIRS = "\n".join(  # few: the point is the plumbing, and every prompt is a forward pass on two CPU cores
    f"violence | {who} stabbing a stranger {where} | {who} greeting a stranger {where}"
    for who in ("a man", "a woman", "two friends") for where in ("in a kitchen", "on a beach"))
ANCHORS = "\n".join(f"a {c} {t} in the {p}" for c, t, p in zip(  # 16: the least an alignment accepts
    ["red", "blue", "small", "old", "tall", "green", "shiny", "wooden"] * 2,
    ["cat", "car", "house", "tree", "boat", "lamp", "horse", "bridge"] * 2,
    ["park", "city", "snow", "desert", "harbor", "forest", "market"] * 3))


@pytest.fixture(scope="module")
def zimage_and_sd3():
    clips = family_models.reduced_clip("z_image"), family_models.reduced_clip("sd3")
    yield clips
    del clips
    gc.collect()


def test_llm_text_encoder_as_source_with_one_map_per_target_space(comfy, zimage_and_sd3, comfy_base):
    """Z-Image's Qwen3 (a loaded ComfyUI CLIP) is the source; SD3 the target: one alignment per space
    (T5 tokens, CLIP-L||G tokens, pooled), transported, saved (format 2) and loaded with its spaces; Apply
    then moves every space's content by exactly strength calibrated units."""
    source, target = zimage_and_sd3
    extract = comfy.node_class("CrossSteerExtractSafetyDirection")
    direction, report = extract.execute(source_clip=source, pairs="pasted below", pasted_pairs=PAIRS, layer=0,
                                        pooling="mean", method="mean_diff", per_category=False).result
    assert direction.meta["space"] == "source" and direction.meta["source"]["family"] == "z_image"
    assert direction.width == 2560 and "held-out AUROC" in report
    fit = comfy.node_class("CrossSteerFitBenignAlignment")
    alignment, fit_report = fit.execute(source_clip=source, clip=target, direction=direction, anchors="pasted below",
                                        pasted_anchors=ANCHORS, method="ridge", layer=-1, seed=0).result
    assert list(alignment["fits"]) == ["t5", "clip_lg", "pooled"] and alignment["primary"] == "t5"
    assert {n: f.target.width for n, f in alignment["fits"].items()} == SPACES["sd3"]
    assert all(f"  {space}:" in fit_report for space in SPACES["sd3"])
    moved = comfy.node_class("CrossSteerTransportDirection").execute(direction=direction, alignment=alignment).result[0]
    assert moved.meta["target"]["space"] == "t5" and set(moved.spaces) == {"clip_lg", "pooled"}

    name = comfy.node_class("CrossSteerSaveSafetyDirection").execute(direction=moved, filename="sd3_spaces").result[0]
    path = comfy_base / "models" / "safety_directions" / name
    with safetensors.safe_open(str(path), "pt") as f:
        assert int(f.metadata()["crosssteer_format"]) >= 2  # spaces need format 2 (3 adds calibration scores)
    loaded = comfy.node_class("CrossSteerLoadSafetyDirection").execute(direction_file=name).result[0]
    assert set(loaded.spaces) == {"clip_lg", "pooled"}
    for space in ("clip_lg", "pooled"):
        assert torch.equal(loaded.spaces[space].vectors["global"], moved.spaces[space].vectors["global"])
        assert loaded.spaces[space].units == moved.spaces[space].units

    cond = encode(comfy, "sd3", target, PROMPT)
    out = apply(comfy, cond, loaded, strength=2.0)
    check_steered("sd3", target, PROMPT, cond[0], out[0], loaded, 2.0)
    (x, extras), (y, extras_out) = cond[0], out[0]
    for space, (start, stop, mask) in content_rows("sd3", target, PROMPT, x.shape[1]).items():
        d = space_direction(loaded, space)
        gain = (d.standardizer.z(y[0, start:stop][mask, :d.width]) - d.standardizer.z(x[0, start:stop][mask, :d.width]))
        assert torch.allclose(gain @ d.vectors["global"], torch.full((int(mask.sum()),), 2.0 * d.units["global"]),
                              rtol=1e-3, atol=1e-3)
    pooled_gain = loaded.spaces["pooled"].standardizer.z(extras_out["pooled_output"]) - \
        loaded.spaces["pooled"].standardizer.z(extras["pooled_output"])
    assert float(pooled_gain[0] @ loaded.spaces["pooled"].vectors["global"]) == pytest.approx(
        2.0 * loaded.spaces["pooled"].units["global"], rel=1e-3)


def test_anchor_pooling_uses_the_tokens_apply_steers(comfy, zimage_and_sd3):
    """The target embedding of a prompt, per space, is the mean of exactly the rows Apply moves."""
    _source, target = zimage_and_sd3
    encoder = pack(comfy, "nodes.comfy_encoder").ComfyClipEncoder.wrap(target, use_cache=False)
    embedded = encoder.embed_layers([PROMPT], range(len(encoder.spaces)))
    cond = encode(comfy, "sd3", target, PROMPT)
    out = apply(comfy, cond, synthetic_direction(comfy, "sd3"), strength=1.0)
    (x, extras), (y, _) = cond[0], out[0]
    moved = (y - x).abs().amax(dim=-1)[0] > 0
    split = 77
    for i, space in enumerate(encoder.spaces):
        if space == "pooled":
            expected = extras["pooled_output"][0]
        elif space == "clip_lg":
            expected = x[0, :split][moved[:split], :2048].mean(0)
        else:
            expected = x[0, split:][moved[split:]].mean(0)
        assert torch.allclose(embedded[i][0], expected.float(), atol=1e-5), space


def test_native_baseline_is_estimated_in_every_space(comfy, zimage_and_sd3):
    """Extract through the target's own CLIP (SD3: T5 rows, CLIP-L||G rows, pooled) steers every space."""
    clip = zimage_and_sd3[1]
    extract = comfy.node_class("CrossSteerExtractSafetyDirection")
    direction = extract.execute(clip=clip, pairs="pasted below", pasted_pairs=PAIRS, anchors="pasted below",
                                pasted_anchors=ANCHORS, layer=0, pooling="mean", method="mean_diff",
                                per_category=False).result[0]  # pasted anchors: the shipped 512 are minutes here
    assert direction.meta["space"] == "target" and direction.meta["target"]["family"] == "sd3"
    assert direction.meta["target"]["space"] == "t5" and set(direction.spaces) == {"clip_lg", "pooled"}
    assert {n: d.width for n, d in direction.spaces.items()} == {"clip_lg": 2048, "pooled": 2048}
    assert all(d.units["global"] > 0 for d in direction.spaces.values())
    cond = encode(comfy, "sd3", clip, PROMPT)
    check_steered("sd3", clip, PROMPT, cond[0], apply(comfy, cond, direction, strength=1.0)[0], direction, 1.0)


def test_extra_spaces_round_trip_and_old_readers_are_told_to_update(tmp_path):
    """A direction with spaces is written as format 2 (an older CrossSteer says "update" instead of steering
    one space silently); one without stays format 1; a stray space tensor is refused."""
    from crosssteer.directions.safetensors_io import ArtifactError, save_artifact
    from crosssteer.directions.safety_direction import SafetyDirection
    from crosssteer.directions.space import Standardizer

    def part(width, seed, space):
        g = torch.Generator().manual_seed(seed)
        return SafetyDirection(vectors={"global": torch.nn.functional.normalize(torch.randn(width, generator=g), dim=0),
                                        "hate": torch.nn.functional.normalize(torch.randn(width, generator=g), dim=0)},
                               standardizer=Standardizer(torch.zeros(width), torch.ones(width) * 0.5),
                               units={"global": 2.0, "hate": 1.0}, meta={"space": "target", "target": {"space": space}})

    plain = part(8, 0, "tokens")
    plain.save(tmp_path / "plain.safetensors")
    with safetensors.safe_open(str(tmp_path / "plain.safetensors"), "pt") as f:
        assert f.metadata()["crosssteer_format"] == "1"
    assert SafetyDirection.load(tmp_path / "plain.safetensors").spaces == {}

    both = part(8, 0, "tokens")
    both.spaces = {"pooled": part(4, 1, "pooled")}
    both.with_weights({"hate": 1.0}).save(tmp_path / "both.safetensors")
    loaded = SafetyDirection.load(tmp_path / "both.safetensors")
    assert loaded.spaces["pooled"].weights == {"hate": 1.0} and loaded.weights == {"hate": 1.0}
    expected = both.spaces["pooled"].with_weights({"hate": 1.0}).displacement("mixed")
    assert torch.equal(loaded.spaces["pooled"].displacement("mixed"), expected)
    with safetensors.safe_open(str(tmp_path / "both.safetensors"), "pt") as f:
        assert f.metadata()["crosssteer_format"] == "2"

    wrong = part(8, 0, "tokens")
    wrong.spaces = {"pooled": part(4, 1, "pooled")}
    wrong.spaces["pooled"].vectors.pop("hate")
    with pytest.raises(ArtifactError, match="every space must be transported from the same vectors"):
        wrong.validate()

    tensors = safetensors.torch.load_file(str(tmp_path / "plain.safetensors"))
    tensors["space.ghost.vector.global"] = torch.ones(3)
    with safetensors.safe_open(str(tmp_path / "plain.safetensors"), "pt") as f:
        meta = json.loads(f.metadata()["crosssteer_meta"])
    save_artifact(tmp_path / "ghost.safetensors", "direction", tensors, meta)
    with pytest.raises(ArtifactError, match="tensors a safety direction never has"):
        SafetyDirection.load(tmp_path / "ghost.safetensors")


# ------------------------------------------------------------------ encoders CrossSteer does not know
@pytest.fixture(scope="module")
def stable_audio_clip():
    clip = family_models.reduced_clip("sa_t5")
    yield clip
    del clip
    gc.collect()


def test_an_unknown_text_encoder_is_refused_not_matched_by_width(comfy, stable_audio_clip):
    """Stable Audio's T5-base makes 768-wide conditioning, as SD1's CLIP-L does: its CLIP is refused by class
    name, an SD1 direction on its conditioning is refused in auto, and steered only with family set."""
    encoder_mod = pack(comfy, "nodes.comfy_encoder")
    with pytest.raises(encoder_mod.EncoderFamilyError, match="SAT5Model"):
        encoder_mod.ComfyClipEncoder.wrap(stable_audio_clip, use_cache=False)
    extract = comfy.node_class("CrossSteerExtractSafetyDirection")
    with pytest.raises(ValueError, match="SAT5Model"):
        extract.execute(clip=stable_audio_clip, pairs="pasted below", pasted_pairs=PAIRS, layer=0, pooling="mean",
                        method="mean_diff", per_category=False)
    cond = comfy.node_class("CLIPTextEncode")().encode(stable_audio_clip, PROMPT)[0]
    assert cond[0][0].shape[-1] == 768
    direction = synthetic_direction(comfy, "sd1")
    with pytest.raises(ValueError, match="fitted for"):
        apply(comfy, cond, direction)
    assert not torch.equal(apply(comfy, cond, direction, family="sd1")[0][0], cond[0][0])


def test_a_subclass_of_a_known_encoder_is_another_encoder(comfy, stable_audio_clip):
    """Families are told by exact class: ComfyUI builds new encoders by subclassing old ones (HunyuanImage 2.1
    and Kandinsky 5 subclass Qwen-Image's), so a subclass CrossSteer does not know is refused by its name,
    while the loaders' factory wrappers (classes made inside a function) are looked through."""
    from comfy.text_encoders import sa_t5

    encoder_mod = pack(comfy, "nodes.comfy_encoder")
    model = stable_audio_clip.cond_stage_model
    known = encoder_mod._FAMILY_CLASSES
    try:
        known["comfy.text_encoders.sa_t5.SAT5Model"] = "sd2"  # as if SAT5Model were a family's encoder
        original = type(model)
        try:
            model.__class__ = type("NewAudioTEModel", (sa_t5.SAT5Model,), {"__module__": "comfy.text_encoders.new"})
            with pytest.raises(encoder_mod.EncoderFamilyError, match="NewAudioTEModel"):
                encoder_mod.clip_family(stable_audio_clip)

            def factory():
                class Wrapped(sa_t5.SAT5Model):  # what ComfyUI's te() functions return
                    pass
                return Wrapped

            model.__class__ = factory()
            assert encoder_mod.clip_family(stable_audio_clip) == "sd2"
        finally:
            model.__class__ = original
    finally:
        known.pop("comfy.text_encoders.sa_t5.SAT5Model")


# ----------------------------------------------------------------------------- cache keys
def test_the_embedding_cache_key_follows_clip_skip_lora_strengths_and_tokenizer_options(comfy, sd15_checkpoint):
    """The anchor embeddings' key (the CLIP fingerprint) changes with the layer read (CLIPSetLastLayer), a
    LoRA's strength and weights (not only which weights it patches), the tokenizer's class and the tokenizer
    options; the same settings give the same key."""
    from comfy.sd import load_lora_for_models

    fingerprint = pack(comfy, "nodes.comfy_encoder").clip_fingerprint
    clip = comfy.node_class("CheckpointLoaderSimple")().load_checkpoint(sd15_checkpoint)[1]
    base = fingerprint(clip)
    assert fingerprint(clip.clone()) == base
    skipped = comfy.node_class("CLIPSetLastLayer")().set_last_layer(clip, -2)[0]
    assert fingerprint(skipped) != base

    g = torch.Generator().manual_seed(0)
    lora = {"lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight": torch.randn(3072, 4, generator=g) * 0.01,
            "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": torch.randn(4, 768, generator=g) * 0.01}
    half = load_lora_for_models(None, clip, lora, 0.0, 0.5)[1]
    full = load_lora_for_models(None, clip, lora, 0.0, 1.0)[1]
    assert len({base, fingerprint(half), fingerprint(full)}) == 3
    assert fingerprint(load_lora_for_models(None, clip, lora, 0.0, 0.5)[1]) == fingerprint(half)
    other = {k: v.flip(0) for k, v in lora.items()}  # another LoRA on the same weights
    assert fingerprint(load_lora_for_models(None, clip, other, 0.0, 0.5)[1]) != fingerprint(half)
    retemplated = clip.clone()  # HunyuanImage 2.1 and HunyuanVideo 1.5: the same weights, another tokenizer
    retemplated.tokenizer = types.SimpleNamespace()
    assert fingerprint(retemplated) != base

    padded = clip.clone()
    padded.set_tokenizer_option("clip_l_min_length", 100)
    assert fingerprint(padded) != base


def test_the_fingerprint_reads_quantized_weights_by_name_shape_and_dtype(comfy):
    """Quantized text encoders (fp8 scaled, nvfp4, GGUF) keep tensor subclasses whose values do not convert
    with .float(): the fingerprint uses their names, shapes and dtypes. The subclass here stands in for
    those (no quantized encoder is loaded in this test)."""
    fingerprint = pack(comfy, "nodes.comfy_encoder").clip_fingerprint

    class Packed(torch.Tensor):
        def float(self):
            raise RuntimeError("packed weights cannot be read as float")

    def clip_with(weight):
        module = torch.nn.Module()
        module.register_buffer("weight", weight)
        return types.SimpleNamespace(cond_stage_model=module, tokenizer=None, patcher=types.SimpleNamespace(patches={}),
                                     layer_idx=None)

    packed = torch.zeros(8, 4, dtype=torch.uint8).as_subclass(Packed)
    key = fingerprint(clip_with(packed))
    assert key == fingerprint(clip_with(torch.ones(8, 4, dtype=torch.uint8).as_subclass(Packed)))  # values unread
    assert key != fingerprint(clip_with(torch.zeros(8, 2, dtype=torch.uint8).as_subclass(Packed)))  # shape read
    assert fingerprint(clip_with(torch.zeros(8, 4))) != fingerprint(clip_with(torch.ones(8, 4)))  # plain: values
