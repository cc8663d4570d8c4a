"""Memory: the source LLM is handed back when a node is done with it, and steering the same graph over and
over does not grow the process. Figures (resident set size, measured after a garbage collection) are
printed at the end of the run.

RSS is a coarse measure (allocator caches, lazily mapped libraries), so the bounds are generous; the
first run of everything is a warm-up that pays for imports and one-time caches.
"""
from __future__ import annotations

import contextlib
import gc
import os
import sys

import pytest
import torch

pytestmark = [pytest.mark.comfy]

MB = 1024 * 1024
FIGURES: list[str] = []


def rss() -> int:
    """Resident set size in bytes, after a full garbage collection."""
    gc.collect()
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:  # /proc/self/statm: pages; the second field is the resident set
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module", autouse=True)
def memory_report(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or not FIGURES:
        return
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line("")
        reporter.write_sep("-", "memory (RSS)")
        for line in FIGURES:
            reporter.write_line(line)


def pack_module(comfy, name: str):
    root = comfy.node_class("CrossSteerLoadSourceLLM").__module__.rsplit(".nodes.", 1)[0]
    return sys.modules[f"{root}.{name}"]


TEXTS = [f"a {c} {t} by the {p}" for c in ("red", "blue", "old", "tiny") for t in ("boat", "house", "kite", "horse")
         for p in ("sea", "road")]


@pytest.mark.slow
def test_the_llm_memory_is_returned_when_the_node_is_done(comfy):
    handle = pack_module(comfy, "nodes.llm").LLMHandle("smollm2-135m", device="cpu", dtype="float32")

    def one_use() -> int:
        with handle.loaded() as encoder:
            encoder.cache = None  # real forward passes, not the embedding cache
            out = encoder.embed_layers(TEXTS, [6, 12], "mean")
            assert out[6].shape == (len(TEXTS), encoder.width)
            return rss()

    one_use()  # warm-up: transformers' imports, tokenizer files, the dequantised model cache
    before = rss()
    peak = one_use()
    after = rss()
    FIGURES.append(f"LLM (smollm2-135m, float32): before {before / MB:.0f} MB, while loaded {peak / MB:.0f} MB, "
                   f"after {after / MB:.0f} MB (returned {(peak - after) / MB:.0f} of {(peak - before) / MB:.0f} MB)")
    assert peak - before > 100 * MB, "the model did not seem to be in memory at all: the measurement is broken"
    assert after - before < 48 * MB, f"{(after - before) / MB:.0f} MB stayed behind after the LLM was released"


@pytest.fixture(scope="module")
def direction_file(comfy):
    """A calibrated 768-wide (SD1.5 CLIP-L) direction saved in models/safety_directions."""
    from crosssteer.directions.safety_direction import SafetyDirection
    from crosssteer.directions.space import Standardizer

    g = torch.Generator().manual_seed(0)
    direction = SafetyDirection(
        vectors={n: torch.nn.functional.normalize(torch.randn(768, generator=g), dim=0) for n in ("global", "violence")},
        standardizer=Standardizer(torch.randn(768, generator=g) * 0.1, torch.rand(768, generator=g) + 0.5),
        units={"global": 2.0, "violence": 1.5}, centers={"global": 0.1},
        meta={"space": "target", "target": {"family": "sd1", "model": "random sd15", "width": 768}})
    folders = pack_module(comfy, "nodes.folders")
    path = direction.save(folders.folders(folders.DIRECTIONS_FOLDER)[0] / "memory_test.safetensors")
    yield path.name
    path.unlink(missing_ok=True)


def test_running_the_same_steering_graph_20_times_does_not_grow_memory(comfy, sd15_checkpoint, direction_file):
    """Load Safety Direction -> Apply Safety Steering (-> Category Vector Mixer) on CLIPTextEncode of the
    random SD1.5 checkpoint, each node called the way ComfyUI calls it, 20 times with changing inputs."""
    import folder_paths
    import nodes
    from comfy.sd import load_checkpoint_guess_config

    clip = load_checkpoint_guess_config(folder_paths.get_full_path("checkpoints", sd15_checkpoint), output_vae=False,
                                        output_clip=True)[1]
    encode = nodes.CLIPTextEncode()
    load = comfy.node_class("CrossSteerLoadSafetyDirection")
    mixer = comfy.node_class("CrossSteerCategoryVectorMixer")
    apply = comfy.node_class("CrossSteerApplySafetySteering")
    zero = dict(sexual=0.0, violence=0.0, self_harm=0.0, hate=0.0, harassment=0.0, illegal_activity=0.0, shocking=0.0)
    conds = [encode.encode(clip, text)[0] for text in ("a man in a kitchen", "two dogs on a beach")]

    def run(i: int) -> None:
        direction = load.execute(direction_file=direction_file).result[0]
        if i % 2:
            direction = mixer.execute(direction=direction, **{**zero, "violence": 1.0 + i / 10}).result[0]
        out = apply.execute(conditioning=conds[i % 2], direction=direction, strength=1.0 + i / 10,
                            mode=("add", "ablate", "gated")[i % 3], tokens="non-padding", gate_threshold=1.0).result[0]
        assert out[0][0].shape == conds[i % 2][0][0].shape

    for i in range(3):  # warm-up
        run(i)
    before = rss()
    for i in range(20):
        run(i)
    after = rss()
    FIGURES.append(f"20 runs of Load -> Mixer -> Apply on SD1.5 conditioning: before {before / MB:.0f} MB, "
                   f"after {after / MB:.0f} MB, growth {(after - before) / MB:+.1f} MB")
    assert after - before < 16 * MB, f"memory grew by {(after - before) / MB:.1f} MB over 20 runs"


def steering_graph_with_previews(ckpt: str, pairs: str) -> dict:
    """The full steering graph of test_nodes (Load LLM -> Extract -> Fit -> Apply -> KSampler), with text
    previews of both reports: Preview runs between Extract and Fit (ComfyUI runs output nodes first)."""
    from test_nodes import ANCHORS, steering_graph

    graph = steering_graph(ckpt)
    graph["11"]["inputs"]["pasted_pairs"] = pairs
    graph["12"]["inputs"]["pasted_anchors"] = ANCHORS
    graph["10"]["inputs"].update(device="cpu", dtype="float32")
    del graph["14"], graph["15"]  # no Transport / Save: nothing written to the model folders
    graph["20"] = {"class_type": "PreviewAny", "inputs": {"source": ["11", 1]}}
    graph["21"] = {"class_type": "PreviewAny", "inputs": {"source": ["12", 1]}}
    return graph


@pytest.mark.slow
def test_a_graph_run_loads_the_llm_once_and_frees_it_before_the_sampler(comfy, sd15_checkpoint, monkeypatch):
    """Extract and Fit share one load of the source LLM per run; it is gone (weights collected) when the
    KSampler starts and after the run. Loads are counted by wrapping the real LLMHandle.load, the sampler's
    view by wrapping the real KSampler.sample; both call the originals."""
    import copy
    import weakref

    import nodes
    from test_nodes import PAIRS

    llm = pack_module(comfy, "nodes.llm")
    loads: list[weakref.ref] = []
    at_sampler: list[bool] = []
    real_load, real_sample = llm.LLMHandle.load, nodes.KSampler.sample

    def counting_load(self):
        encoder = real_load(self)
        loads.append(weakref.ref(encoder.model))
        return encoder

    def watching_sample(self, *args, **kwargs):
        gc.collect()
        at_sampler.append(llm._RunShare.held is not None or any(ref() is not None for ref in loads))
        return real_sample(self, *args, **kwargs)

    monkeypatch.setattr(llm.LLMHandle, "load", counting_load)
    monkeypatch.setattr(nodes.KSampler, "sample", watching_sample)
    for run, pairs in enumerate((PAIRS, PAIRS.replace("kitchen", "garden"))):  # run 2: Extract and Fit again
        outputs = comfy.run(copy.deepcopy(steering_graph_with_previews(sd15_checkpoint, pairs)))
        assert outputs["7"]["images"] and "held-out AUROC" in outputs["20"]["text"][0]
        assert len(loads) == run + 1, f"run {run + 1} loaded the LLM {len(loads) - run} times"
        assert at_sampler == [False] * (run + 1), "the LLM was still in memory when the sampler started"
        gc.collect()
        assert llm._RunShare.held is None and all(ref() is None for ref in loads), "the LLM outlived the run"


def test_auto_dtype_and_room_on_a_gpu(comfy, monkeypatch):
    """The GPU decisions, with a fake CUDA device (no GPU here): ComfyUI's should_use_bf16 / should_use_fp16
    answers are faked, and so is the move to the device (HFEncoder.to records it). The model itself is the
    real embedded smollm2-135m, loaded on the CPU first; ComfyUI is asked for its size before it moves."""
    llm = pack_module(comfy, "nodes.llm")
    mm = llm.mm
    handle = llm.LLMHandle("smollm2-135m", device="cuda", dtype="auto")
    for bf16, fp16, want in ((True, True, torch.bfloat16), (False, True, torch.float16), (False, False, torch.float32)):
        monkeypatch.setattr(mm, "should_use_bf16", lambda device=None, *a, _v=bf16, **k: _v)
        monkeypatch.setattr(mm, "should_use_fp16", lambda device=None, *a, _v=fp16, **k: _v)
        assert handle.torch_dtype() == want
    assert llm.LLMHandle("smollm2-135m", device="cpu").torch_dtype() == torch.float32
    assert llm.LLMHandle("smollm2-135m", device="cuda", dtype="float16").torch_dtype() == torch.float16

    events = []
    monkeypatch.setattr(mm, "should_use_bf16", lambda *a, **k: True)
    monkeypatch.setattr(mm, "free_memory", lambda required, device, *a, **k: events.append(("free", required, device)))
    encoder_class = sys.modules[llm.load_encoder.__module__].HFEncoder
    monkeypatch.setattr(encoder_class, "to", lambda self, device: events.append(("to", device)) or self)
    encoder = handle.load()
    try:
        size = llm.weight_bytes(encoder.model)
        assert {p.dtype for p in encoder.model.parameters()} == {torch.bfloat16}
        assert 200 * MB < size < 400 * MB  # 135M parameters (the embeddings tied to the head) in bfloat16
        assert events == [("free", size + mm.minimum_inference_memory(), torch.device("cuda")),
                          ("to", torch.device("cuda"))]
    finally:
        llm._release(encoder)
