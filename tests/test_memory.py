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
    from crosssteer.directions.artifact import SafetyDirection
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
