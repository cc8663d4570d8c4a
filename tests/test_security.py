"""Files, paths, models and inputs from strangers: nothing unpickled, nothing read outside ComfyUI's
folders, no remote code unless asked, clear refusals at the nodes, no half-written file, no model left
behind after a cancel.

Node tests run inside the real in-process ComfyUI (fixture `comfy`); the pack is loaded there under a
path-derived module name, so its modules are looked up through the loaded node classes.
"""
from __future__ import annotations

import ast
import gc
import importlib
import importlib.util
import inspect
import json
import os
import subprocess
import sys
import uuid
import weakref
from pathlib import Path

import pytest
import safetensors.torch
import torch

from crosssteer.directions import encoders, transport
from crosssteer.directions.alignment_file import load_alignment, save_alignment
from crosssteer.directions.safetensors_io import ArtifactError
from crosssteer.directions.safety_direction import SafetyDirection
from crosssteer.directions.encoders import EncoderError
from crosssteer.directions.space import Standardizer

PACK_ROOT = Path(__file__).resolve().parents[1]
NOT_THE_PACK = {".venv", ".venv-comfy028", ".comfyui", ".git", ".cache", "node_modules", "build", "dist", "__pycache__"}


# ------------------------------------------------------------------------------------------- helpers


def pack_module(comfy, name: str):
    """A module of the pack as ComfyUI loaded it (e.g. "nodes.folders")."""
    root = comfy.node_class("CrossSteerLoadSourceLLM").__module__.rsplit(".nodes.", 1)[0]
    return sys.modules[f"{root}.{name}"]


def make_direction(width: int = 8, seed: int = 0, categories=("violence", "sexual"), space: str = "target",
                   family: str | None = None, **meta) -> SafetyDirection:
    """A calibrated direction; without a family, Apply steers any conditioning of its width as one space."""
    g = torch.Generator().manual_seed(seed)
    names = ("global", *categories)
    return SafetyDirection(
        vectors={n: torch.nn.functional.normalize(torch.randn(width, generator=g), dim=0) for n in names},
        standardizer=Standardizer(torch.randn(width, generator=g), torch.rand(width, generator=g) + 0.5),
        units={n: 1.5 for n in names}, centers={"global": 0.2},
        meta={"space": space, "target": {"model": "test", "width": width, **({"family": family} if family else {})},
              **meta})


def listing(root: Path) -> dict[str, int]:
    """Every path under root with its size (-1 for folders and links); symlinked folders are not entered."""
    found = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            found[rel] = path.stat().st_size if path.is_file() and not path.is_symlink() else -1
    return found


# ------------------------------------------------------------------------------ 1. no pickle anywhere

UNPICKLERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def pack_sources() -> list[Path]:
    files = []
    for path in PACK_ROOT.rglob("*.py"):
        parts = path.relative_to(PACK_ROOT).parts
        if not NOT_THE_PACK.intersection(parts):
            files.append(path)
    return files


def _keyword(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def test_the_pack_never_unpickles_and_never_runs_strings():
    """Parsed, not grepped: prose about pickled cucumbers in prompt data must not trip it."""
    sources = pack_sources()
    assert len(sources) > 20 and any(p.name == "safetensors_io.py" for p in sources)
    problems = []
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(PACK_ROOT).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                problems += [f"{where}:{node.lineno} imports {a.name}" for a in node.names
                             if a.name.split(".")[0] in UNPICKLERS]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNPICKLERS:
                problems.append(f"{where}:{node.lineno} imports from {node.module}")
            elif isinstance(node, ast.ImportFrom) and node.module in ("torch", "torch.serialization") and any(
                    a.name == "load" for a in node.names):
                problems.append(f"{where}:{node.lineno} imports torch's load under a bare name")
            elif isinstance(node, ast.Call):
                name = _dotted(node.func)
                if name in ("torch.load", "torch.serialization.load") or name.endswith(".torch.load"):
                    weights_only = _keyword(node, "weights_only")
                    if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                        problems.append(f"{where}:{node.lineno} calls {name} without weights_only=True")
                if name in ("np.load", "numpy.load"):
                    allow = _keyword(node, "allow_pickle")
                    if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                        problems.append(f"{where}:{node.lineno} calls {name} with allow_pickle")
                if name in ("eval", "exec"):
                    problems.append(f"{where}:{node.lineno} calls {name}()")
                if name.endswith("yaml.load") and _keyword(node, "Loader") is None:
                    problems.append(f"{where}:{node.lineno} calls yaml.load without a safe Loader")
                remote = _keyword(node, "trust_remote_code")
                if isinstance(remote, ast.Constant) and remote.value is True and not where.startswith("tests/"):
                    problems.append(f"{where}:{node.lineno} turns trust_remote_code on by itself")
    assert problems == []


def test_direction_and_alignment_files_load_without_any_unpickler(tmp_path, monkeypatch):
    pickle = importlib.import_module("pickle")  # only to block it (a plain import would trip the check above)

    def forbidden(*_args, **_kwargs):
        raise AssertionError("an unpickler was called while reading a CrossSteer file")

    for owner, name in ((torch, "load"), (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler")):
        monkeypatch.setattr(owner, name, forbidden)
    direction = make_direction().save(tmp_path / "d.safetensors")
    assert SafetyDirection.load(direction).width == 8
    x = torch.randn(40, 5)
    fit = transport.fit_alignment(x, x @ torch.randn(5, 4), method="ridge")
    fit_back, info = load_alignment(save_alignment(tmp_path / "a.safetensors", fit, {"source": {"model": "s"}}))
    assert fit_back.map.source_width == 5 and info == {"source": {"model": "s"}}


# ------------------------------------------------------------------------------------------- 2. paths


@pytest.fixture
def hostile_tree(comfy, tmp_path):
    """Real symlinks in ComfyUI's folders pointing out of them, next to honest files and links."""
    folders = pack_module(comfy, "nodes.folders")
    directions_root = folders.folders(folders.DIRECTIONS_FOLDER)[0]
    llm_root = folders.folders(folders.LLM_FOLDER)[0]
    input_root = Path(comfy.folder_paths.get_input_directory())
    for root in (directions_root, llm_root, input_root):
        root.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "outside"
    (outside / "model").mkdir(parents=True)
    (outside / "model" / "config.json").write_text('{"model_type": "llama"}')
    make_direction(seed=1).save(outside / "secret.safetensors")
    pairs = "".join(json.dumps({"category": "violence", "unsafe": f"a man hitting {i}", "safe": f"a man hugging {i}"}) + "\n"
                    for i in range(8))
    (outside / "secret.jsonl").write_text(pairs)

    tag = uuid.uuid4().hex[:8]
    made = []

    def link(at: Path, to: Path) -> str:
        at.symlink_to(to, target_is_directory=to.is_dir())
        made.append(at)
        return at.name

    honest = make_direction(seed=2).save(directions_root / f"honest_{tag}.safetensors")
    made.append(honest)
    (input_root / f"honest_{tag}.jsonl").write_text(pairs)
    made.append(input_root / f"honest_{tag}.jsonl")
    names = {
        "folders": folders,
        "honest": honest.name,
        "file_out": link(directions_root / f"out_{tag}.safetensors", outside / "secret.safetensors"),
        "dir_out": link(directions_root / f"outdir_{tag}", outside),
        "link_in": link(directions_root / f"in_{tag}.safetensors", honest),
        "input_honest": f"honest_{tag}.jsonl",
        "input_file_out": link(input_root / f"out_{tag}.jsonl", outside / "secret.jsonl"),
        "input_dir_out": link(input_root / f"outdir_{tag}", outside),
        "llm_dir_out": link(llm_root / f"model_{tag}", outside / "model"),
        "directions_root": directions_root,
        "outside": outside,
    }
    yield names
    for path in made:
        path.unlink(missing_ok=True)


@pytest.mark.comfy
def test_resolve_refuses_dotdot_absolute_and_symlinks_out(hostile_tree):
    t, folders = hostile_tree, hostile_tree["folders"]
    for bad in ("../x.safetensors", "/etc/passwd", "a/../../x.safetensors", "", "..", "..\\..\\x.safetensors",
                "C:\\Windows\\x.safetensors", "x\0.safetensors", str(t["outside"] / "secret.safetensors")):
        with pytest.raises(ValueError, match="is not a plain name inside models/safety_directions"):
            folders.resolve(folders.DIRECTIONS_FOLDER, bad)
    for out in (t["file_out"], f"{t['dir_out']}/secret.safetensors"):
        with pytest.raises(ValueError, match="points outside models/safety_directions .*refused"):
            folders.resolve(folders.DIRECTIONS_FOLDER, out)
    with pytest.raises(ValueError, match="points outside models/LLM"):
        folders.resolve(folders.LLM_FOLDER, t["llm_dir_out"])
    with pytest.raises(ValueError, match="points outside models/safety_directions"):
        folders.resolve(folders.DIRECTIONS_FOLDER, ".")  # the folder itself is not a file in it
    with pytest.raises(FileNotFoundError, match="is not in models/safety_directions"):
        folders.resolve(folders.DIRECTIONS_FOLDER, "missing.safetensors")
    # honest files and links that stay inside are fine
    assert folders.resolve(folders.DIRECTIONS_FOLDER, t["honest"]).name == t["honest"]
    assert folders.resolve(folders.DIRECTIONS_FOLDER, t["link_in"]).name == t["honest"]


@pytest.mark.comfy
def test_input_file_refuses_dotdot_absolute_and_symlinks_out(hostile_tree):
    t, folders = hostile_tree, hostile_tree["folders"]
    for bad in ("../secret.jsonl", "/etc/passwd", "x/../../secret.jsonl", "", "..\\secret.jsonl", "D:secret.jsonl"):
        with pytest.raises(ValueError, match="is not a plain file name inside ComfyUI's input folder"):
            folders.input_file(bad)
    for out in (t["input_file_out"], f"{t['input_dir_out']}/secret.jsonl"):
        with pytest.raises(ValueError, match="points outside ComfyUI's input folder: refused"):
            folders.input_file(out)
    assert folders.input_file(t["input_honest"]).name == t["input_honest"]


@pytest.mark.comfy
def test_nodes_refuse_files_behind_symlinks_before_loading_anything(comfy, hostile_tree):
    t = hostile_tree
    load = comfy.node_class("CrossSteerLoadSafetyDirection")
    with pytest.raises(ValueError, match="points outside models/safety_directions"):
        load.execute(direction_file=t["file_out"])
    assert load.execute(direction_file=t["link_in"]).result[0].width == 8
    with pytest.raises(ValueError, match="points outside models/LLM"):
        comfy.node_class("CrossSteerLoadSourceLLM").execute(model=t["llm_dir_out"], device="cpu", dtype="auto",
                                                            trust_remote_code=False)
    llm = pack_module(comfy, "nodes.llm").LLMHandle("no-such-model")  # would fail loudly if anything loaded it
    with pytest.raises(ValueError, match="points outside ComfyUI's input folder"):
        comfy.node_class("CrossSteerExtractSafetyDirection").execute(
            llm=llm, pairs=t["input_file_out"], pasted_pairs="", layer=1, pooling="mean", method="mean_diff",
            per_category=False)


@pytest.mark.comfy
def test_save_stays_inside_its_folder_and_never_overwrites(comfy, hostile_tree):
    t = hostile_tree
    save = comfy.node_class("CrossSteerSaveSafetyDirection")
    root: Path = t["directions_root"]
    stem = f"escape_{uuid.uuid4().hex[:8]}"
    before_outside = listing(root.parent.parent)
    first = save.execute(direction=make_direction(seed=3), filename=f"../../{stem}").result[0]
    assert first == f"{stem}.safetensors" and (root / first).is_file()
    first_bytes = (root / first).read_bytes()
    second = save.execute(direction=make_direction(seed=4), filename=f"{stem}.safetensors").result[0]
    assert second == f"{stem}_001.safetensors" and (root / first).read_bytes() == first_bytes
    after = listing(root.parent.parent)
    assert set(after) - set(before_outside) == {f"models/safety_directions/{first}", f"models/safety_directions/{second}"}
    for bad in ("", "  ", ".."):
        with pytest.raises(ValueError, match="is not a usable file name"):
            save.execute(direction=make_direction(), filename=bad)
    for name in (first, second):
        (root / name).unlink()


# --------------------------------------------------------------------------- 2b. the CLI writes only --out


def _cli(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CROSSSTEER_CACHE"}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "crosssteer.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_cli_writes_only_where_it_is_pointed(tmp_path):
    inputs, work, home = tmp_path / "inputs", tmp_path / "work", tmp_path / "home"
    for d in (inputs, work, home):
        d.mkdir()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 6, generator=g)
    fit = transport.fit_alignment(x, x @ torch.randn(6, 5, generator=g), method="ridge")
    save_alignment(inputs / "align.safetensors", fit, {"source": {"model": "src", "layer": 2, "width": 6},
                                                       "target": {"model": "tgt", "width": 5}})
    make_direction(width=6, space="source", layer=2).save(inputs / "dir.safetensors")
    inputs_before, work_before, home_before = listing(inputs), listing(work), listing(home)

    done = _cli(["transport", "--direction", str(inputs / "dir.safetensors"), "--alignment",
                 str(inputs / "align.safetensors"), "--out", "results/moved.safetensors", "--quiet"], work, home)
    assert done.returncode == 0, done.stderr
    assert set(listing(work)) - set(work_before) == {"results", "results/moved.safetensors"}
    assert SafetyDirection.load(work / "results" / "moved.safetensors").width == 5

    failed = _cli(["transport", "--direction", str(inputs / "dir.safetensors"), "--alignment",
                   str(inputs / "dir.safetensors"), "--out", "results/second.safetensors"], work, home)
    assert failed.returncode == 2 and "is a crosssteer safety direction, not an alignment" in failed.stderr
    stats = _cli(["prompts", "stats", "--pairs", "default", "--anchors", "default"], work, home)
    assert stats.returncode == 0 and "pairs:" in stats.stdout

    assert set(listing(work)) - set(work_before) == {"results", "results/moved.safetensors"}
    assert listing(inputs) == inputs_before, "the inputs were changed or temporary files were left next to them"
    assert listing(home) == home_before, f"the CLI wrote into HOME: {set(listing(home)) - set(home_before)}"


# ------------------------------------------------------------------------------------------- 3. models


def test_trust_remote_code_is_off_unless_turned_on():
    assert inspect.signature(encoders.load_encoder).parameters["trust_remote_code"].default is False
    from crosssteer.cli import build_parser

    args = build_parser().parse_args(["extract", "--source", "smollm2-135m", "--out", "x.safetensors"])
    assert args.trust_remote_code is False


@pytest.mark.comfy
def test_the_nodes_keep_trust_remote_code_off_by_default(comfy):
    assert pack_module(comfy, "nodes.llm").LLMHandle("smollm2-135m").trust_remote_code is False
    schema = comfy.node_class("CrossSteerLoadSourceLLM").define_schema()
    (flag,) = [i for i in schema.inputs if i.id == "trust_remote_code"]
    assert flag.default is False and "trust" in flag.tooltip


@pytest.fixture
def model_dir(tmp_path, monkeypatch):
    """An isolated cache, and transformers imported before any test fakes a missing package."""
    import transformers  # noqa: F401  (its package checks are cached at import)

    monkeypatch.setenv("CROSSSTEER_CACHE", str(tmp_path / "cache"))
    return tmp_path


def _hf_folder(root: Path, config: dict) -> Path:
    folder = root / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_transformers_is_asked_with_trust_remote_code_false(model_dir, monkeypatch):
    from transformers import AutoConfig

    seen = {}

    def spy(*_args, **kwargs):
        seen.update(kwargs)
        raise ValueError("stop here")

    monkeypatch.setattr(AutoConfig, "from_pretrained", spy)
    with pytest.raises(EncoderError):
        encoders.load_encoder(_hf_folder(model_dir, {"model_type": "llama"}), use_cache=False)
    assert seen["trust_remote_code"] is False


@pytest.mark.parametrize("missing", ["gguf", "accelerate"])
def test_a_missing_gguf_package_gives_the_install_command(model_dir, monkeypatch, missing):
    gguf = model_dir / "model.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == missing else real(name, *a))
    with pytest.raises(EncoderError, match=f"reading .gguf models needs {missing}: pip install 'crosssteer\\[gguf\\]'"):
        encoders.load_encoder(gguf, use_cache=False)


def test_a_corrupt_gguf_says_re_download(model_dir):
    junk = model_dir / "junk.gguf"
    junk.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(EncoderError, match="junk.gguf is not a valid GGUF file .*magic bytes.*re-download it"):
        encoders.load_encoder(junk, use_cache=False)
    cut = model_dir / "cut.gguf"
    try:  # the real embedded model, cut off after 4 KB: a download that stopped
        with open(encoders.resolve_spec("smollm2-135m"), "rb") as real:
            cut.write_bytes(real.read(4096))
    except EncoderError:
        cut.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + (2**40).to_bytes(8, "little") + b"\xff" * 40)
    with pytest.raises(EncoderError, match="cut.gguf could not be read as GGUF .*corrupt or truncated; re-download it"):
        encoders.load_encoder(cut, use_cache=False)


def test_an_unknown_architecture_says_upgrade_or_trust(model_dir):
    folder = _hf_folder(model_dir, {"model_type": "frobnicator", "architectures": ["FrobForCausalLM"]})
    with pytest.raises(EncoderError, match="does not support this model \\(model type 'frobnicator'\\): upgrade "
                                           "transformers \\(pip install -U transformers\\)"):
        encoders.load_encoder(folder, use_cache=False)


def test_a_config_without_model_type_says_re_download(model_dir):
    with pytest.raises(EncoderError, match="config.json has no model_type.*re-download the model"):
        encoders.load_encoder(_hf_folder(model_dir, {"hidden_size": 8}), use_cache=False)


def test_custom_code_is_refused_unless_allowed(model_dir):
    folder = _hf_folder(model_dir, {"model_type": "frob", "auto_map": {"AutoConfig": "configuration_frob.FrobConfig"}})
    with pytest.raises(EncoderError, match="needs custom code .*trust_remote_code=True.*only for a source you trust"):
        encoders.load_encoder(folder, use_cache=False)


@pytest.mark.parametrize(("error", "message"), [
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "out of memory while loading model in "
                                                                                "float32: close other models"),
    (MemoryError(), "out of memory while loading model"),
    (ImportError("LlamaTokenizer requires the SentencePiece library"), "needs a package that is not installed "
                                                                        "\\(LlamaTokenizer requires the SentencePiece"),
    (RuntimeError("Error(s) in loading state_dict: size mismatch"), "the model files may be corrupt or incomplete"),
])
def test_load_failures_say_why_and_what_to_do(model_dir, monkeypatch, error, message):
    from transformers import AutoConfig

    def fail(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(AutoConfig, "from_pretrained", fail)
    with pytest.raises(EncoderError, match=message):
        encoders.load_encoder(_hf_folder(model_dir, {"model_type": "llama"}), use_cache=False)


# ------------------------------------------------------------------------------ 4. wrong inputs at nodes

APPLY = dict(mode="add", tokens="non-padding", gate_threshold=1.0)
NO_WEIGHTS = dict(sexual=0.0, violence=0.0, self_harm=0.0, hate=0.0, harassment=0.0, illegal_activity=0.0, shocking=0.0)


def _broken(direction: SafetyDirection, what: str) -> SafetyDirection:
    """A direction that was fine when built, then damaged in place (as a buggy upstream node might)."""
    if what == "nan vector":
        direction.vectors["global"][0] = float("nan")
    elif what == "zero vector":
        direction.vectors["global"].zero_()
    elif what == "long vector":
        direction.vectors["global"].mul_(3.0)
    elif what == "nan std":
        direction.standardizer.std[1] = float("nan")
    elif what == "nan mean":
        direction.standardizer.mean[2] = float("nan")
    elif what == "zero std":
        direction.standardizer.std.zero_()
    return direction


@pytest.mark.comfy
@pytest.mark.parametrize("mode", ["add", "gated", "ablate"])
@pytest.mark.parametrize("what", ["nan vector", "zero vector", "long vector", "nan std", "nan mean", "zero std"])
def test_apply_refuses_a_broken_direction_and_leaves_the_conditioning_alone(comfy, mode, what):
    """Ablate reads the vector and the standardizer raw (not through displacement()): only Apply's own
    direction.validate() stops a damaged standardizer there."""
    apply = comfy.node_class("CrossSteerApplySafetySteering")
    cond = [[torch.randn(1, 6, 8), {"pooled_output": torch.randn(1, 8)}]]
    before = [[cond[0][0].clone(), {"pooled_output": cond[0][1]["pooled_output"].clone()}]]
    with pytest.raises(ValueError, match="NaN or infinite|norm|zero length|std <= 0|re-estimate"):
        apply.execute(conditioning=cond, direction=_broken(make_direction(), what), strength=1.0, mode=mode,
                      tokens="all", gate_threshold=1.0)
    assert torch.equal(cond[0][0], before[0][0]) and torch.equal(cond[0][1]["pooled_output"], before[0][1]["pooled_output"])


@pytest.mark.comfy
@pytest.mark.parametrize(("strength", "message"), [
    (80.0, "strength 80 is outside the sane range \\[-50, 50\\]"), (-51.0, "outside the sane range"),
    (float("nan"), "strength nan is not a finite number: set it to a value in \\[-50, 50\\]"),
    (float("inf"), "not a finite number")])
def test_apply_refuses_an_insane_strength(comfy, strength, message):
    with pytest.raises(ValueError, match=message):
        comfy.node_class("CrossSteerApplySafetySteering").execute(
            conditioning=[[torch.randn(1, 6, 8), {}]], direction=make_direction(), strength=strength, **APPLY)


@pytest.mark.comfy
def test_apply_refuses_mismatched_widths_and_models(comfy):
    apply = comfy.node_class("CrossSteerApplySafetySteering")
    for direction in (make_direction(width=768, family="sd1"), make_direction(width=768)):
        with pytest.raises(ValueError, match="made for a 768-wide\\s+(sd1\\s+)?text encoder \\(test\\), but the conditioning is "
                                             "4096-wide: fit an alignment for this model"):
            apply.execute(conditioning=[[torch.randn(1, 4, 4096), {}]], direction=direction, strength=1.0, **APPLY)
    source_side = make_direction(width=6, space="source", layer=2, source={"model": "llm-a", "fingerprint": "aaaa"})
    with pytest.raises(ValueError, match="still in the source LLM's space: connect the ALIGNMENT"):
        apply.execute(conditioning=[[torch.randn(1, 4, 8), {}]], direction=source_side, strength=1.0, **APPLY)
    x = torch.randn(40, 6)
    fit = transport.fit_alignment(x, x @ torch.randn(6, 8), method="ridge")
    other_model = {"fit": fit, "source": {"model": "llm-b", "fingerprint": "bbbb", "layer": 2, "width": 6},
                   "target": {"family": "sd1", "width": 8}}
    with pytest.raises(ValueError, match="comes from llm-a but the alignment was fitted on llm-b: fit the alignment "
                                         "with the same Load Source LLM"):
        apply.execute(conditioning=[[torch.randn(1, 4, 8), {}]], direction=source_side, alignment=other_model,
                      strength=1.0, **APPLY)
    other_layer = {**other_model, "source": {**other_model["source"], "fingerprint": "aaaa", "layer": 5}}
    with pytest.raises(ValueError, match="comes from layer 2 .* fitted on layer 5 .*connect the direction to Fit Benign"):
        comfy.node_class("CrossSteerTransportDirection").execute(direction=source_side, alignment=other_layer)


@pytest.mark.comfy
def test_the_mixer_refuses_what_it_cannot_mix_and_never_edits_the_direction(comfy):
    mixer = comfy.node_class("CrossSteerCategoryVectorMixer")
    with pytest.raises(ValueError, match="no category vectors: extract it with per_category on"):
        mixer.execute(direction=make_direction(categories=()), **{**NO_WEIGHTS, "hate": 1.0})
    direction = make_direction()
    with pytest.raises(ValueError, match="no vector for \\['hate'\\] \\(too few pairs\\?\\): set their weights to 0"):
        mixer.execute(direction=direction, **{**NO_WEIGHTS, "hate": 1.0})
    with pytest.raises(ValueError, match="the mix weight of 'violence' is nan|not finite"):
        mixer.execute(direction=direction, **{**NO_WEIGHTS, "violence": float("nan")})
    with pytest.raises(ValueError, match="vector 'global' contains NaN"):
        mixer.execute(direction=_broken(make_direction(), "nan vector"), **{**NO_WEIGHTS, "violence": 1.0})
    assert direction.weights == {}


@pytest.mark.comfy
@pytest.mark.parametrize(("pasted", "per_category", "message"), [
    ("", False, "pasted text: holds no prompts"),
    ("# only a comment\n\n", True, "holds no prompts"),
    ("violence | a man hitting a dog | a man walking a dog\n", False,
     "1 prompt pairs are too few: a direction needs at least 2 to fit and 1 held out"),
    ("\n".join([f"violence | a man hitting dog {i} | a man walking dog {i}" for i in range(10)]
               + ["hate | a burning flag | a waving flag", "hate | a slur on a wall | a poem on a wall"]), True,
     "each category needs at least 4 fit pairs .*too few for: hate \\(1\\). Add pairs for those categories, remove "
     "their lines, or turn per_category off"),
    ("violence | same text | same text\n", False, "the safe twin is identical to the unsafe prompt"),
])
def test_extract_refuses_unusable_pairs_before_loading_a_model(comfy, pasted, per_category, message):
    llm = pack_module(comfy, "nodes.llm").LLMHandle("no-such-model")  # loading it would raise "no model at"
    with pytest.raises(ValueError, match=message):
        comfy.node_class("CrossSteerExtractSafetyDirection").execute(
            llm=llm, pairs="pasted below", pasted_pairs=pasted, layer=1, pooling="mean", method="mean_diff",
            per_category=per_category)


@pytest.mark.comfy
@pytest.mark.parametrize(("anchors", "direction", "message"), [
    ("", None, "holds no prompts"),
    ("a cat\na dog\na cat\n", None, "2 distinct anchor prompts are too few: an alignment needs at least 16"),
    ("\n".join(f"a small boat number {i}" for i in range(20)), "target",
     "already in a target space .*connect the direction straight from Extract Safety Direction"),
])
def test_fit_refuses_unusable_anchors_before_loading_a_model(comfy, anchors, direction, message):
    llm = pack_module(comfy, "nodes.llm").LLMHandle("no-such-model")
    with pytest.raises(ValueError, match=message):
        comfy.node_class("CrossSteerFitBenignAlignment").execute(
            llm=llm, clip=None, anchors="pasted below", pasted_anchors=anchors, method="ridge", layer=-1, seed=0,
            direction=make_direction() if direction else None)


# --------------------------------------------------------------- 4b / 5. saving: no overwrite, no half file


def _half_write_then(error):
    def half_write(_tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"half")
        raise error

    return half_write


@pytest.mark.comfy
def test_a_failed_save_leaves_no_partial_file_and_keeps_the_others(comfy, monkeypatch):
    save = comfy.node_class("CrossSteerSaveSafetyDirection")
    root = pack_module(comfy, "nodes.folders").folders("safety_directions")[0]
    stem = f"keep_{uuid.uuid4().hex[:8]}"
    kept = save.execute(direction=make_direction(seed=5), filename=stem).result[0]
    before = {p.name: p.read_bytes() for p in root.iterdir() if p.is_file()}
    monkeypatch.setattr(safetensors.torch, "save_file", _half_write_then(OSError(28, "No space left on device")))
    with pytest.raises(ValueError, match="cannot write .*No space left on device.*check the folder is writable and has free space"):
        save.execute(direction=make_direction(seed=6), filename=stem)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="contains NaN or infinite values"):
        save.execute(direction=_broken(make_direction(), "nan vector"), filename=stem)
    assert {p.name: p.read_bytes() for p in root.iterdir() if p.is_file()} == before
    (root / kept).unlink()


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt(), SystemExit(1)])
def test_an_interrupted_save_leaves_nothing_behind_and_still_interrupts(tmp_path, monkeypatch, interrupt):
    old = make_direction(seed=7).save(tmp_path / "d.safetensors").read_bytes()
    monkeypatch.setattr(safetensors.torch, "save_file", _half_write_then(interrupt))
    with pytest.raises(type(interrupt)):
        make_direction(seed=8).save(tmp_path / "d.safetensors")
    with pytest.raises(type(interrupt)):
        make_direction(seed=8).save(tmp_path / "new.safetensors")
    assert [p.name for p in tmp_path.iterdir()] == ["d.safetensors"]
    assert (tmp_path / "d.safetensors").read_bytes() == old


def test_saving_without_overwrite_refuses_an_existing_name_atomically(tmp_path):
    first = make_direction(seed=9).save(tmp_path / "d.safetensors", overwrite=False)
    kept = first.read_bytes()
    with pytest.raises(ArtifactError, match="a file of that name exists and is never overwritten; pick another name"):
        make_direction(seed=10).save(first, overwrite=False)
    assert first.read_bytes() == kept and [p.name for p in tmp_path.iterdir()] == ["d.safetensors"]
    make_direction(seed=10).save(first)  # the default still replaces, atomically
    assert first.read_bytes() != kept


# -------------------------------------------------------------------- 5. cancelling frees the model


@pytest.fixture
def cancel_when_loaded(comfy, monkeypatch):
    """Load the real embedded LLM (no embedding cache, so the forward passes really run), remember a weak
    reference to its weights, and press Cancel the moment it is loaded."""
    from comfy import model_management as mm

    llm_module = pack_module(comfy, "nodes.llm")
    real_load = llm_module.load_encoder
    models = []

    def load_then_cancel(spec, **kwargs):
        encoder = real_load(spec, **{**kwargs, "use_cache": False})
        models.append(weakref.ref(encoder.model))
        mm.interrupt_current_processing(True)
        return encoder

    monkeypatch.setattr(llm_module, "load_encoder", load_then_cancel)
    yield llm_module.LLMHandle("smollm2-135m", device="cpu", dtype="float32"), models
    mm.interrupt_current_processing(False)


PAIRS = "\n".join(f"{c} | a {w} {bad} in the {p} | a {w} {good} in the {p}"
                  for w in ("man", "woman") for p in ("park", "street", "kitchen")
                  for c, bad, good in (("violence", "stabbing a stranger", "greeting a stranger"),
                                       ("sexual", "posing nude", "posing in a coat")))


@pytest.mark.comfy
@pytest.mark.slow
def test_cancelling_extraction_frees_the_model_and_writes_nothing(comfy, comfy_base, cancel_when_loaded):
    from comfy import model_management as mm

    handle, models = cancel_when_loaded
    files_before = {sub: listing(comfy_base / sub) for sub in ("models", "input", "output")}
    with pytest.raises(mm.InterruptProcessingException) as caught:
        comfy.node_class("CrossSteerExtractSafetyDirection").execute(
            llm=handle, pairs="pasted below", pasted_pairs=PAIRS, layer=3, pooling="mean", method="mean_diff",
            per_category=False)
    gc.collect()
    assert caught.value is not None  # the traceback (and the frames holding the encoder) are still alive here
    assert len(models) == 1 and models[0]() is None, "the cancelled LLM's weights are still referenced"
    assert {sub: listing(comfy_base / sub) for sub in ("models", "input", "output")} == files_before


class _QuickTarget:
    """Stands in for the target CLIP (its embeddings are not what this test is about, and a full-size
    CLIP-L on two CPU cores takes a minute over the anchors)."""

    space_names = ["tokens"]

    @classmethod
    def wrap(cls, _clip):
        return cls()

    def embed_layers(self, texts, layers, pooling="mean", progress=None):
        return {i: torch.randn(len(texts), 8) for i in layers}


@pytest.mark.comfy
@pytest.mark.slow
def test_cancelling_a_fit_frees_the_model(comfy, cancel_when_loaded, monkeypatch):
    from comfy import model_management as mm

    handle, models = cancel_when_loaded
    monkeypatch.setattr(pack_module(comfy, "nodes.build_nodes"), "ComfyClipEncoder", _QuickTarget)
    clip = object()
    anchors = "\n".join(f"a {c} {t} near the {p}" for c in ("red", "blue", "small", "old") for t in ("cat", "car", "house")
                        for p in ("sea", "hill"))
    with pytest.raises(mm.InterruptProcessingException):
        comfy.node_class("CrossSteerFitBenignAlignment").execute(
            llm=handle, clip=clip, anchors="pasted below", pasted_anchors=anchors, method="ridge", layer=3, seed=0)
    gc.collect()
    assert len(models) == 1 and models[0]() is None, "the cancelled LLM's weights are still referenced"


@pytest.mark.comfy
def test_an_llm_that_fails_to_load_through_a_node_says_why(comfy, tmp_path, monkeypatch):
    """The message reaches the user unchanged through LLMHandle.loaded() (which only adds clean-up)."""
    monkeypatch.setenv("CROSSSTEER_CACHE", str(tmp_path / "cache"))
    junk = tmp_path / "broken.gguf"
    junk.write_bytes(b"\0" * 100)
    handle = pack_module(comfy, "nodes.llm").LLMHandle(str(junk), device="cpu")
    with pytest.raises(RuntimeError, match="broken.gguf is not a valid GGUF file .*re-download it"):
        with handle.loaded():
            pass
