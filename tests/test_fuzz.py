"""Property-based fuzzing of everything CrossSteer reads from strangers, and of the nodes' promise never to
touch their inputs.

Direction and alignment files: valid files are taken apart at every layer (raw bytes, the safetensors
header, the tensors, the JSON metadata) and each mangled file must end in ArtifactError, quickly, or load
as a direction/alignment that really works. Prompt files and pasted text: must end in PromptFileError or
a valid prompt list. The counts of tries and distinct refusal messages are printed at the end.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import re
import struct
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

import pytest
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from crosssteer.directions import prompts, safetensors_io, transport
from crosssteer.directions.alignment_file import load_alignment, save_alignment
from crosssteer.directions.safetensors_io import ArtifactError
from crosssteer.directions.safety_direction import SafetyDirection
from crosssteer.directions.pipeline import transport_direction
from crosssteer.directions.prompts import CATEGORIES, PromptFileError
from crosssteer.directions.space import Standardizer

# Hypothesis keeps a cache of constants next to the tests even without a database: keep the checkout clean.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "crosssteer-hypothesis")
FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SECONDS_PER_FILE = 5.0  # a refusal must be quick: no hang, no huge read

# loader -> tries, refusals, loads and the distinct refusal messages (file names and numbers blanked)
TALLY: dict[str, dict] = defaultdict(lambda: {"tried": 0, "refused": 0, "loaded": 0, "messages": set()})


def _template(message: str, path) -> str:
    text = message.replace(str(path), "<file>").replace(getattr(path, "name", "<file>"), "<file>")
    return re.sub(r"\d[\d,.]*", "#", text)


@pytest.fixture(scope="module", autouse=True)
def fuzz_report(request):
    yield
    if not TALLY:
        return
    lines = []
    total_tried = total_messages = 0
    for loader, t in sorted(TALLY.items()):
        lines.append(f"{loader:<22} tried {t['tried']:>5}  refused {t['refused']:>5}  loaded {t['loaded']:>4}  "
                     f"distinct refusal messages {len(t['messages']):>4}")
        total_tried += t["tried"]
        total_messages += len(t["messages"])
    union = set().union(*(t["messages"] for t in TALLY.values()))
    lines.append(f"{'all loaders':<22} tried {total_tried:>5}  distinct refusal messages {total_messages:>4} "
                 f"({len(union)} different texts)")
    print_outside_capture(request, "fuzz summary", lines)


def print_outside_capture(request, title: str, lines: list[str]) -> None:
    """Show figures in the test run's output even under -q and output capture."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line("")
        reporter.write_sep("-", title)
        for line in lines:
            reporter.write_line(line)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


# ------------------------------------------------------------------------------------------ building files


def direction_parts(width: int, n_categories: int, seed: int) -> tuple[dict, dict]:
    """The tensors and file meta that SafetyDirection.save writes for a random valid direction."""
    g = torch.Generator().manual_seed(seed)
    names = ["global", *CATEGORIES[:n_categories]]
    vectors = {n: torch.nn.functional.normalize(torch.randn(width, generator=g), dim=0) for n in names}
    direction = SafetyDirection(
        vectors=vectors, standardizer=Standardizer(torch.randn(width, generator=g), torch.rand(width, generator=g) + 0.1),
        units={n: 1.0 + i for i, n in enumerate(names)}, centers={"global": 0.25},
        weights={names[-1]: 1.0} if n_categories else {},
        meta={"space": "target", "layer": 3, "pooling": "mean", "method": "mean_diff",
              "source": {"model": "m", "fingerprint": "f"}, "target": {"family": "sd1", "width": width},
              "stats": {"global": {"auroc": 0.9, "n_fit": 4, "n_heldout": 2}}})
    tensors = {f"vector.{n}": v for n, v in direction.vectors.items()}
    tensors["standardizer.mean"] = direction.standardizer.mean
    tensors["standardizer.std"] = direction.standardizer.std
    meta = {"order": list(direction.vectors), "units": direction.units, "centers": direction.centers,
            "weights": direction.weights, "info": direction.meta}
    return tensors, meta


def alignment_parts(workdir, method: str, ds: int, dt: int, seed: int) -> tuple[dict, dict]:
    """The tensors and file meta that save_alignment writes for a small fitted alignment."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(24, ds, generator=g)
    y = x @ torch.randn(ds, dt, generator=g) + 0.1 * torch.randn(24, dt, generator=g)
    options = {"hidden": 4, "max_steps": 3} if method == "mlp" else {}
    fit = transport.fit_alignment(x, y, method=method, seed=seed, **options)
    path = save_alignment(workdir / f"base-{method}.safetensors", fit,
                          {"source": {"model": "src", "width": ds, "layer": 2}, "target": {"model": "tgt", "width": dt}})
    tensors = safetensors.torch.load_file(str(path))
    header_meta = safetensors.safe_open(str(path), "pt").metadata()
    return tensors, json.loads(header_meta["crosssteer_meta"])


def build(tensors: dict, meta, kind: str, *, fmt: str = "1", sha: str | None = None, meta_sha: str | None = "auto") -> bytes:
    """A CrossSteer file with consistent checksums (unless told otherwise), whatever the content."""
    meta_text = meta if isinstance(meta, str) else json.dumps(meta, allow_nan=True)
    metadata = {"crosssteer_kind": kind, "crosssteer_format": fmt, "crosssteer_meta": meta_text,
                "crosssteer_sha256": sha if sha is not None else safetensors_io.tensors_sha256(tensors)}
    if meta_sha == "auto":
        metadata["crosssteer_meta_sha256"] = hashlib.sha256(meta_text.encode()).hexdigest()
    elif meta_sha is not None:
        metadata["crosssteer_meta_sha256"] = meta_sha
    return safetensors.torch.save({k: v.detach().contiguous().clone() for k, v in tensors.items()}, metadata)


def split_header(blob: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def join_header(header, data: bytes) -> bytes:
    raw = json.dumps(header, allow_nan=True).encode() if not isinstance(header, bytes) else header
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


# --------------------------------------------------------------------------------------- strategies

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.just(10**400), st.just(-1), st.just(0),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12), st.sampled_from(["source", "target", "1.5", ""]),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=6)

FLOAT_NAMES = ["vector.global", "standardizer.mean", "standardizer.std", "map.weight", "source.std", "target.mean",
               "calibration_anchors", "map.hidden_weight", "map.mean_gate"]
ODD_DTYPES = [torch.float16, torch.bfloat16, torch.float64, torch.int32, torch.int64, torch.int8, torch.uint8,
              torch.bool, torch.float8_e4m3fn, torch.float8_e5m2]


def mutate_tensors(data, tensors: dict) -> dict:
    """1-3 edits of the tensor table: NaN, dtype, shape, scale, drop, add, zero, negate."""
    tensors = {k: v.clone() for k, v in tensors.items()}
    for _ in range(data.draw(st.integers(1, 3))):
        names = sorted(tensors)
        action = data.draw(st.sampled_from(["nan", "dtype", "shape", "scale", "drop", "add", "zero", "negate"]))
        name = data.draw(st.sampled_from(names)) if names else "vector.global"
        t = tensors.get(name, torch.ones(3))
        arithmetic = t.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64)
        if action == "nan" and arithmetic and t.numel():
            flat = t.reshape(-1).clone()
            flat[data.draw(st.integers(0, flat.numel() - 1))] = data.draw(st.sampled_from([float("nan"), float("inf"), -float("inf")]))
            tensors[name] = flat.reshape(t.shape)
        elif action == "dtype":
            tensors[name] = t.to(data.draw(st.sampled_from(ODD_DTYPES)))
        elif action == "shape":
            shape = data.draw(st.lists(st.integers(0, 5), max_size=3))
            tensors[name] = torch.randn(shape) if shape else torch.tensor(1.5)
        elif action == "scale" and arithmetic:
            tensors[name] = t * data.draw(st.sampled_from([0.0, -1.0, 2.0, 1e30, 1e-30]))
        elif action == "drop" and len(tensors) > 1:
            tensors.pop(name)
        elif action == "add":
            new = data.draw(st.sampled_from([*FLOAT_NAMES, "vector.x", "vector.", "weird", "standardizer.extra",
                                             "vector." + "e" * 80, "map.output_bias"]))
            tensors[new] = torch.randn(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
        elif action == "zero":
            tensors[name] = torch.zeros_like(t)
        elif action == "negate" and arithmetic:
            tensors[name] = -t
    return tensors


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def mutate_meta(data, meta: dict) -> str:
    """1-3 edits anywhere in the JSON metadata (set to any JSON value, delete), or a broken text outright."""
    if data.draw(st.integers(0, 9)) == 0:
        return data.draw(st.sampled_from(["", "{", "[" * 5000, "1" * 5000, "NaN", "null", '{"order": NaN}',
                                          '{"units": {"global": Infinity}}', "\u0000", "[]", '"text"']))
    meta = copy.deepcopy(meta)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(meta) if p]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = meta
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1])
        else:
            parent[path[-1]] = data.draw(json_values)
    try:
        return json.dumps(meta, allow_nan=True)
    except (ValueError, OverflowError):
        return json.dumps(str(meta))


def mutate_header(data, blob: bytes) -> bytes:
    """Edit the safetensors header itself: dtypes, shapes, offsets, the __metadata__ strings, extra keys."""
    header, body = split_header(blob)
    for _ in range(data.draw(st.integers(1, 3))):
        entries = [k for k in header if k != "__metadata__" and isinstance(header[k], dict)]
        action = data.draw(st.sampled_from(["dtype", "shape", "offsets", "drop", "entry", "kind", "format", "sha",
                                            "meta_sha", "meta_value", "metadata", "junk"]))
        name = data.draw(st.sampled_from(entries)) if entries else None
        if action == "dtype" and name:
            header[name]["dtype"] = data.draw(st.sampled_from(["F32", "F16", "BF16", "F64", "I64", "BOOL", "U8",
                                                               "F8_E4M3", "Q4", "", 5, None]))
        elif action == "shape" and name:
            header[name]["shape"] = data.draw(st.sampled_from(
                [[10**12], [2**40, 2**40], [], [-1], [1.5], "x", [0], [True], [2**64], None]))
        elif action == "offsets" and name:
            header[name]["data_offsets"] = data.draw(st.one_of(
                st.lists(st.integers(-5, 4 * 10**12), min_size=0, max_size=3), st.just([0, 4 * 10**12]),
                st.just("0-8"), st.just([0.0, 8.0])))
        elif action == "drop" and name:
            header.pop(name)
        elif action == "entry":
            header[data.draw(st.sampled_from(["vector.x", "weird"]))] = data.draw(json_values)
        elif action in ("kind", "format", "sha", "meta_sha", "meta_value") and isinstance(header.get("__metadata__"), dict):
            key = {"kind": "crosssteer_kind", "format": "crosssteer_format", "sha": "crosssteer_sha256",
                   "meta_sha": "crosssteer_meta_sha256", "meta_value": "crosssteer_meta"}[action]
            header["__metadata__"][key] = data.draw(st.one_of(
                st.sampled_from(["alignment", "direction", "", "0", "2", "1.0", "\u0661", "99999999", "a" * 64]),
                json_values))
        elif action == "metadata":
            header["__metadata__"] = data.draw(json_values)
        elif action == "junk":
            header[data.draw(st.text(max_size=6))] = data.draw(json_values)
    return join_header(header, body)


def mutate_raw(data, blob: bytes) -> bytes:
    """Byte-level damage: truncation, flipped bytes, a lying length prefix, junk appended or inserted."""
    action = data.draw(st.sampled_from(["truncate", "flip", "length", "append", "insert", "replace"]))
    if action == "truncate":
        return blob[:data.draw(st.integers(0, len(blob) - 1))]
    if action == "flip":
        out = bytearray(blob)
        for _ in range(data.draw(st.integers(1, 8))):
            out[data.draw(st.integers(0, len(out) - 1))] ^= data.draw(st.integers(1, 255))
        return bytes(out)
    if action == "length":
        n = data.draw(st.one_of(st.integers(0, len(blob) + 16), st.sampled_from([2**63, 2**64 - 1, 10 * 2**20 + 1])))
        return struct.pack("<Q", n) + blob[8:]
    if action == "append":
        return blob + data.draw(st.binary(min_size=1, max_size=64))
    if action == "insert":
        at = data.draw(st.integers(0, len(blob)))
        return blob[:at] + data.draw(st.binary(min_size=1, max_size=16)) + blob[at:]
    return data.draw(st.binary(max_size=256))


def mangled(data, tensors: dict, meta: dict, kind: str) -> bytes:
    """A file damaged at one layer: raw bytes, the header, the tensors (checksum redone), the metadata
    (its checksum redone, left stale, or left out as in older files), or tensors and metadata together."""
    layer = data.draw(st.sampled_from(["raw", "header", "tensors", "meta", "meta-stale-hash", "tensors+meta"]))
    if "tensors" in layer:
        tensors = mutate_tensors(data, tensors)
    meta_text = mutate_meta(data, meta) if "meta" in layer else json.dumps(meta)
    meta_sha = "auto"
    if layer == "meta-stale-hash":
        meta_sha = data.draw(st.sampled_from(["0" * 64, None]))
    blob = build(tensors, meta_text, kind, meta_sha=meta_sha)
    if layer == "header":
        blob = mutate_header(data, blob)
    elif layer == "raw":
        blob = mutate_raw(data, blob)
    return blob


def tallied(name: str, call, refusal: type[Exception], origin):
    """Run one loader on one malformed input and count the outcome: (refusal, None) when it refused with
    the expected error (its message, with `origin` and numbers blanked, is collected), (None, result) when
    it loaded. Any other exception fails the test."""
    tally = TALLY[name]
    tally["tried"] += 1
    try:
        result = call()
    except refusal as exc:
        tally["refused"] += 1
        tally["messages"].add(_template(str(exc), origin))
        return exc, None
    tally["loaded"] += 1
    return None, result


def load_checked(loader_name: str, loader, path, blob: bytes):
    """Write the file and load it: ArtifactError (counted) or a result; anything else fails the test."""
    path.write_bytes(blob)
    started = time.monotonic()
    refused, result = tallied(loader_name, lambda: loader(path), ArtifactError, path)
    if refused is not None:
        assert str(path) in str(refused) or path.name in str(refused), f"the message does not name the file: {refused}"
    assert time.monotonic() - started < SECONDS_PER_FILE
    return result


# ------------------------------------------------------------------------------------ direction fuzzing


@FUZZ
@given(data=st.data())
def test_direction_loader_refuses_every_malformed_file(data, workdir):
    tensors, meta = direction_parts(data.draw(st.sampled_from([1, 3, 8])), data.draw(st.integers(0, 3)),
                                    data.draw(st.integers(0, 1000)))
    blob = mangled(data, tensors, meta, "direction")
    loaded = load_checked("SafetyDirection.load", SafetyDirection.load, workdir / "fuzz.safetensors", blob)
    if loaded is not None:  # whatever survived the checks must be a direction that steers correctly
        loaded.validate()
        x = torch.randn(1, 2, loaded.width)
        step = loaded.displacement("mixed")
        assert torch.isfinite(step).all() and torch.isfinite(x + step).all()


@FUZZ
@given(data=st.data())
def test_alignment_loader_refuses_every_malformed_file(data, workdir, alignment_bases):
    tensors, meta = data.draw(st.sampled_from(alignment_bases))
    blob = mangled(data, tensors, meta, "alignment")
    loaded = load_checked("load_alignment", lambda p: load_alignment(p), workdir / "fuzz-align.safetensors", blob)
    if loaded is not None:
        fit, info = loaded
        assert isinstance(info, dict)
        d_s = torch.nn.functional.normalize(torch.randn(fit.source.width), dim=0)
        source = SafetyDirection(vectors={"global": d_s}, standardizer=fit.source, meta={"space": "source"})
        try:  # a loaded map may still be unable to carry a direction (all-zero map): a clear ValueError then
            moved = transport_direction(source, fit, {})
        except ValueError:
            return
        assert torch.isfinite(moved.displacement()).all()


@pytest.fixture(scope="module")
def alignment_bases(workdir):
    return [alignment_parts(workdir, "ridge", 5, 4, 0), alignment_parts(workdir, "mlp", 3, 2, 1),
            alignment_parts(workdir, "svd", 4, 4, 2), alignment_parts(workdir, "procrustes", 4, 3, 3)]


def test_valid_files_load_and_alignments_round_trip(workdir, alignment_bases):
    tensors, meta = direction_parts(8, 3, 0)
    assert SafetyDirection.load(_write(workdir / "ok.safetensors", build(tensors, meta, "direction"))).width == 8
    for tensors, meta in alignment_bases:
        fit, info = load_alignment(_write(workdir / "ok-align.safetensors", build(tensors, meta, "alignment")))
        assert info["source"]["model"] == "src"
        assert fit.report.n_fit > 0 and fit.map.transport(torch.ones(fit.source.width)).norm() == pytest.approx(1.0)


def _write(path, blob):
    path.write_bytes(blob)
    return path


# ------------------------------------------------------------------------------- named hostile files


def _named(path, raised) -> None:
    """Count a hand-written hostile file with the fuzzed ones."""
    tally = TALLY["named hostile files"]
    tally["tried"] += 1
    tally["refused"] += 1
    tally["messages"].add(_template(str(raised.value), path))


def _forbid_safetensors_read(monkeypatch):
    def forbidden(*_args, **_kwargs):
        raise AssertionError("safetensors was asked to read a file the size checks should have refused")

    monkeypatch.setattr(safetensors.torch, "load_file", forbidden)


def test_a_header_claiming_a_terabyte_tensor_is_refused_before_any_allocation(workdir, monkeypatch):
    header = {"__metadata__": {"crosssteer_kind": "direction", "crosssteer_format": "1", "crosssteer_meta": "{}",
                               "crosssteer_sha256": "0" * 64},
              "vector.global": {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 4 * 10**12]}}
    path = _write(workdir / "tera.safetensors", join_header(header, b"\0" * 64))
    _forbid_safetensors_read(monkeypatch)
    with pytest.raises(ArtifactError, match="ends at byte 4,000,000,000,000 of the data but the file holds only 64"):
        SafetyDirection.load(path)
    header["vector.global"]["data_offsets"] = [0, 8]  # the shape lies about the bytes instead
    _write(path, join_header(header, b"\0" * 8))
    with pytest.raises(ArtifactError, match=r"declares shape \[1000000000000\] \(4,000,000,000,000 bytes\) but its data spans 8"):
        SafetyDirection.load(path)


def test_a_sparse_file_that_really_holds_the_huge_tensor_is_refused_by_its_size(workdir, monkeypatch):
    """A consistent header and a file that is as large as it claims (sparse: it costs no disk): safetensors
    would map it and torch would copy it; the size limit refuses it without reading a byte of it."""
    n = 2**30  # 4 GiB of float32
    header = {"__metadata__": {"crosssteer_kind": "direction", "crosssteer_format": "1", "crosssteer_meta": "{}",
                               "crosssteer_sha256": "0" * 64},
              "vector.global": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}
    path = workdir / "sparse.safetensors"
    with open(path, "wb") as fh:
        fh.write(join_header(header, b""))
        fh.truncate(fh.tell() + 4 * n)
    _forbid_safetensors_read(monkeypatch)
    started = time.monotonic()
    try:
        with pytest.raises(ArtifactError, match="more than the 1024 MB a CrossSteer file can be"):
            SafetyDirection.load(path)
        with pytest.raises(ArtifactError, match="more than the 1024 MB"):
            load_alignment(path)
    finally:
        path.unlink()
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(("make", "message"), [
    (lambda t, m: build(t, "[" * 100000, "direction"), "meta is not valid JSON \\(nested too deeply\\)"),
    (lambda t, m: build(t, '{"units": {"global": NaN}}', "direction"), "meta is not valid JSON \\(NaN is not a JSON number\\)"),
    (lambda t, m: build(t, json.dumps({**m, "units": {"global": 10**400}}), "direction"), "not finite numbers"),
    (lambda t, m: build(t, json.dumps({**m, "units": {"global": "2.5"}}), "direction"), "meta 'units' of \\['global'\\] are not finite"),
    (lambda t, m: build(t, json.dumps({**m, "info": {"stats": {"global": {"auroc": "high"}}}}), "direction"), "auroc of 'global' must be a number"),
    (lambda t, m: build(t, json.dumps({**m, "info": {"source": ["x"]}}), "direction"), "meta 'source' must be a JSON object"),
    (lambda t, m: build(t, json.dumps({**m, "info": {"layer": "12"}}), "direction"), "meta 'layer' must be an integer"),
    (lambda t, m: build(t, json.dumps({**m, "info": {"space": "elsewhere"}}), "direction"), "meta 'space' must be 'source' or 'target'"),
    (lambda t, m: build(t, json.dumps({**m, "order": [1, 2]}), "direction"), "meta 'order' must be a list of vector names"),
    (lambda t, m: build(t, json.dumps({**m, "weights": {"gore": 1.0}}), "direction"), "weights name vectors that do not exist"),
    (lambda t, m: build(t, json.dumps(m), "direction", meta_sha="0" * 64), "its metadata was modified or is corrupt"),
    (lambda t, m: build({**t, "vector.global": t["vector.global"].to(torch.float8_e4m3fn)}, m, "direction"), "dtype 'F8_E4M3', not one CrossSteer reads"),
    (lambda t, m: build({**t, "vector.global": t["vector.global"].to(torch.int64)}, m, "direction"), "must be floating point"),
    (lambda t, m: build({**t, "vector.global": t["vector.global"].reshape(1, -1)}, m, "direction"), "vector 'global' has shape \\(1, 8\\)"),
    (lambda t, m: build({**t, "vector.sexual": torch.randn(5)}, m, "direction"), "vector 'sexual' has shape \\(5,\\) but the standardizer is 8 wide"),
    (lambda t, m: build({**t, "payload": torch.zeros(4)}, m, "direction"), "tensors a safety direction never has: \\['payload'\\]"),
    (lambda t, m: build({**t, "standardizer.std": torch.zeros(8)}, m, "direction"), "std <= 0"),
    (lambda t, m: build({**t, "standardizer.mean": torch.full((8,), float("nan"))}, m, "direction"), "contain NaN or infinite values"),
    (lambda t, m: build({**t, "vector.global": torch.zeros(8)}, m, "direction"), "has norm 0, not 1"),
    (lambda t, m: build(t, m, "direction", fmt="\u0661"), "unknown format version"),
])
def test_named_hostile_direction_files(workdir, make, message):
    tensors, meta = direction_parts(8, 2, 7)
    path = _write(workdir / "hostile.safetensors", make(tensors, meta))
    with pytest.raises(ArtifactError, match=message) as raised:
        SafetyDirection.load(path)
    _named(path, raised)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t, m: ({**t, "map.weight": t["map.weight"][:, :-1]}, m), "the map weight has shape \\(4, 4\\), expected \\[4, 5\\]"),
    (lambda t, m: (t, {**m, "map": ["ridge"]}), "meta 'map' must be a JSON object with a 'method'"),
    (lambda t, m: (t, {**m, "map": {"method": "pickle"}}), "unknown method 'pickle'"),
    (lambda t, m: (t, {**m, "report": {**m["report"], "n_fit": "many"}}), "field 'n_fit' must be a count"),
    (lambda t, m: (t, {**m, "report": {**m["report"], "extra": 1}}), "must have exactly the fields"),
    (lambda t, m: (t, {**m, "info": {"source": "llama"}}), "meta 'info' 'source' must be a JSON object"),
    (lambda t, m: ({**t, "calibration_anchors": t["calibration_anchors"][:1]}, m), "calibration anchors have shape \\(1, 4\\)"),
    (lambda t, m: ({**t, "source.std": -t["source.std"]}, m), "the source standardizer has a std <= 0"),
])
def test_named_hostile_alignment_files(workdir, alignment_bases, edit, message):
    tensors, meta = edit(*alignment_bases[0])
    path = _write(workdir / "hostile-align.safetensors", build(tensors, meta, "alignment"))
    with pytest.raises(ArtifactError, match=message) as raised:
        load_alignment(path)
    _named(path, raised)


def test_a_lying_mlp_hidden_size_is_refused_on_load(workdir, alignment_bases):
    tensors, meta = alignment_bases[1]
    tensors = {**tensors, "map.output_weight": torch.randn(2, 7)}
    path = _write(workdir / "mlp.safetensors", build(tensors, meta, "alignment"))
    with pytest.raises(ArtifactError, match="MLP map tensor 'output_weight' has shape \\(2, 7\\), expected \\[2, 4\\]"):
        load_alignment(path)


# ------------------------------------------------------------------------------------ prompt files

PAIR_LINE = st.builds(lambda c, u, s: json.dumps({"category": c, "unsafe": u, "safe": s}),
                      st.sampled_from([*CATEGORIES, "Violence", "gore", ""]), st.text(max_size=20), st.text(max_size=20))
WORDS = st.text(alphabet="abcdefghij ", min_size=1, max_size=12).filter(str.strip)
GOOD_PAIR_LINE = st.builds(lambda c, u, s: json.dumps({"category": c, "unsafe": "unsafe " + u, "safe": "safe " + s}),
                           st.sampled_from(CATEGORIES), WORDS, WORDS)
RECORD_LINE = st.builds(json.dumps, st.dictionaries(st.sampled_from(["category", "unsafe", "safe", "split", "text", "x"]),
                                                     json_values, max_size=5))
CSV_LINE = st.lists(st.one_of(st.text(max_size=10), st.sampled_from(['"', '""', '"a,b"', "violence", "\0", "\r"])),
                    max_size=5).map(",".join)
ODD_LINE = st.sampled_from(["[" * 5000, '{"category": ' + "1" * 5000 + "}", "category,unsafe,safe", "text", "# note",
                            "violence | a | b", "{", "\ufeff", "x" * 20_001])
# valid lines are drawn as often as all the broken kinds together, so that some files load
LINES = st.lists(st.one_of(GOOD_PAIR_LINE, GOOD_PAIR_LINE, GOOD_PAIR_LINE, GOOD_PAIR_LINE, PAIR_LINE, RECORD_LINE,
                           CSV_LINE, ODD_LINE, st.text(max_size=30)), max_size=12)


@FUZZ
@given(lines=LINES, newline=st.sampled_from(["\n", "\r\n", "\r"]), encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]),
       suffix=st.sampled_from([".jsonl", ".json", ".csv", ".txt"]), junk=st.binary(max_size=8))
def test_prompt_loaders_refuse_every_malformed_file(workdir, lines, newline, encoding, suffix, junk):
    path = workdir / f"prompts{suffix}"
    path.write_bytes(newline.join(lines).encode(encoding, errors="replace") + junk)
    loaders = [("load_anchors", prompts.load_anchors)] + ([("load_pairs", prompts.load_pairs)] if suffix != ".txt" else [])
    for name, loader in loaders:
        started = time.monotonic()
        refused, result = tallied(name, lambda: loader(path), PromptFileError, path)
        if refused is None:
            assert result and all(isinstance(r, (str, prompts.PromptPair)) for r in result)
        assert time.monotonic() - started < SECONDS_PER_FILE


@FUZZ
@given(text=st.one_of(st.text(max_size=300), LINES.map("\n".join)))
def test_pasted_text_is_parsed_or_refused_clearly(text):
    for name, parse in (("parse_pairs_text", prompts.parse_pairs_text), ("parse_anchor_text", prompts.parse_anchor_text)):
        refused, result = tallied(name, lambda: parse(text), PromptFileError, "pasted text")
        if refused is None:
            assert result


def _sparse_line_file(path, size: int) -> None:
    """A file of `size` bytes holding one line, almost all of it a hole: costs no disk and no time to write."""
    with open(path, "wb") as fh:
        fh.write(b'{"category": "violence", "unsafe": "')
        fh.seek(size - 2)
        fh.write(b'"\n')


@pytest.mark.parametrize(("size", "message"), [
    (1024**3, "1,073,741,824 bytes, more than the 256 MB a pairs file may be"),
    (200 * 1024**2, "pairs.jsonl:1: line is longer than 20,000 characters"),
])
def test_a_giant_line_is_refused_quickly_with_bounded_memory(workdir, size, message):
    path = workdir / "pairs.jsonl"
    _sparse_line_file(path, size)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(PromptFileError, match=message):
            prompts.load_pairs(path)
        elapsed = time.monotonic() - started
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        path.unlink()
    assert elapsed < 1.0, f"took {elapsed:.2f}s"
    assert peak < 2 * 1024**2, f"peak Python allocation {peak:,} bytes while refusing a {size:,}-byte line"


def test_pasted_text_over_the_size_limit_is_refused(monkeypatch):
    monkeypatch.setattr(prompts, "MAX_FILE_BYTES", 1000)
    with pytest.raises(PromptFileError, match="characters pasted, more than a prompt set may hold"):
        prompts.parse_anchor_text("a cat\n" * 200)


# ------------------------------------------------------------------------- nodes never touch their inputs

DIRECTIONS: dict[int, object] = {}
WIDGET_WEIGHTS = st.integers(-100, 100).map(lambda k: k * 0.05)  # the mixer widgets: -5..5 in steps of 0.05


def _direction_for(width: int) -> SafetyDirection:
    if width not in DIRECTIONS:
        g = torch.Generator().manual_seed(width)
        names = ("global", "violence", "sexual", "hate")
        DIRECTIONS[width] = SafetyDirection(
            vectors={n: torch.nn.functional.normalize(torch.randn(width, generator=g), dim=0) for n in names},
            standardizer=Standardizer(torch.randn(width, generator=g), torch.rand(width, generator=g) + 0.5),
            units={n: 1.0 + 0.5 * i for i, n in enumerate(names)}, centers={"global": 0.3},
            meta={"space": "target", "target": {"family": "test", "width": width}})
    return DIRECTIONS[width]


@st.composite
def conditionings(draw, width: int):
    """CONDITIONING lists as ComfyUI makes them: scheduled entries, pooled outputs, masks, odd dtypes, padding."""
    entries = []
    for _ in range(draw(st.integers(1, 3))):
        batch, tokens = draw(st.integers(1, 3)), draw(st.integers(2, 12))
        dtype = draw(st.sampled_from([torch.float32, torch.float16, torch.bfloat16]))
        g = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
        x = (torch.randn(batch, tokens, width, generator=g) * draw(st.sampled_from([0.1, 1.0, 30.0]))).to(dtype)
        pad_from = draw(st.integers(2, tokens))
        if pad_from < tokens:
            x[:, pad_from:] = 0
        extras = {}
        start = draw(st.floats(0, 0.9))
        if draw(st.booleans()):
            extras["clip_start_percent"], extras["clip_end_percent"] = start, draw(st.floats(start, 1.0))
        if draw(st.booleans()):
            extras["pooled_output"] = torch.randn(batch, draw(st.sampled_from([width, 2 * width])), generator=g).to(dtype)
        if draw(st.booleans()):
            extras["attention_mask"] = (torch.arange(tokens) < pad_from).expand(batch, tokens).clone().to(
                draw(st.sampled_from([torch.bool, torch.float32, torch.int64])))
        if draw(st.booleans()):
            extras["guidance"] = draw(st.floats(0, 10))
        if draw(st.booleans()):
            extras["hooks"] = {"names": ["a", "b"], "weights": [torch.ones(2)]}
        entries.append([x, extras])
    return entries


def _snapshot(obj):
    if torch.is_tensor(obj):
        return obj.clone()
    if isinstance(obj, dict):
        return {k: _snapshot(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_snapshot(v) for v in obj)
    return copy.deepcopy(obj)


def _assert_same(a, b, where="input"):
    if torch.is_tensor(b):
        assert torch.is_tensor(a) and a.dtype == b.dtype and a.shape == b.shape and a.device == b.device, where
        assert torch.equal(a, b), f"{where} changed"
    elif isinstance(b, dict):
        assert isinstance(a, dict) and list(a) == list(b), f"{where}: keys changed"
        for k in b:
            _assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(b, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), f"{where}: length changed"
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"


def _direction_state(d) -> dict:
    """Everything a direction holds, as plain containers and cloned tensors."""
    return _snapshot({"vectors": d.vectors, "mean": d.standardizer.mean, "std": d.standardizer.std, "units": d.units,
                      "centers": d.centers, "weights": d.weights, "meta": d.meta})


def _node(comfy, name):
    return comfy.node_class(name)


@pytest.mark.comfy
@FUZZ
@given(data=st.data())
def test_apply_and_mixer_never_mutate_their_inputs(comfy, data):
    width = data.draw(st.sampled_from([4, 8, 12]))
    cond = data.draw(conditionings(width))
    direction = _direction_for(width)
    weights = {c.replace("-", "_"): (data.draw(WIDGET_WEIGHTS) if c in direction.vectors else 0.0) for c in CATEGORIES}
    cond_before, direction_before = _snapshot(cond), _direction_state(direction)

    mixed = _node(comfy, "CrossSteerCategoryVectorMixer").execute(direction=direction, **weights).result[0]
    use = mixed if data.draw(st.booleans()) and mixed.weights else direction
    mode = data.draw(st.sampled_from(["add", "ablate", "gated"]))
    strength = data.draw(st.floats(0, 1) if mode == "ablate" else st.floats(-50, 50))
    root = comfy.node_class("CrossSteerApplySafetySteering").__module__.rsplit(".nodes.", 1)[0]
    tokens = data.draw(st.sampled_from(list(sys.modules[f"{root}.directions.conditioning"].TOKEN_SCOPES)))
    out = _node(comfy, "CrossSteerApplySafetySteering").execute(
        conditioning=cond, direction=use, strength=strength, mode=mode, tokens=tokens,
        gate_threshold=data.draw(st.floats(-10, 10))).result[0]

    _assert_same(cond, cond_before, "conditioning")
    _assert_same(_direction_state(direction), direction_before, "direction")
    assert out is not cond and len(out) == len(cond)
    for i, ((x_out, d_out), (x_in, d_in)) in enumerate(zip(out, cond)):
        assert x_out is not x_in and d_out is not d_in, f"entry {i} is shared with the input"
        assert (x_out.shape, x_out.dtype, x_out.device) == (x_in.shape, x_in.dtype, x_in.device)
        assert list(d_out) == list(d_in), f"entry {i}: dict keys changed"
        for key, value in d_in.items():  # a steered pooled vector may change its values, never its form
            if torch.is_tensor(value):
                assert (d_out[key].shape, d_out[key].dtype) == (value.shape, value.dtype), f"entry {i}: {key} changed form"
            else:
                _assert_same(d_out[key], value, f"output[{i}][{key!r}]")
        if tokens != "all":  # zeroed padding stays zero
            padding = x_in.abs().amax(dim=-1) == 0
            assert (x_out[padding] == 0).all()


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="named pipes need a POSIX system")
def test_a_named_pipe_posing_as_a_file_is_refused_without_blocking(workdir):
    """Opening a FIFO blocks until a writer appears: the loaders must look before they open."""
    import os

    for name in ("pipe.safetensors", "pipe.jsonl"):
        os.mkfifo(workdir / name)
    started = time.monotonic()
    try:
        with pytest.raises(ArtifactError, match="does not exist \\(or is not a file\\)"):
            SafetyDirection.load(workdir / "pipe.safetensors")
        with pytest.raises(ArtifactError, match="does not exist \\(or is not a file\\)"):
            load_alignment(workdir / "pipe.safetensors")
        with pytest.raises(PromptFileError, match="no such pairs file"):
            prompts.load_pairs(workdir / "pipe.jsonl")
    finally:
        for name in ("pipe.safetensors", "pipe.jsonl"):
            (workdir / name).unlink()
    assert time.monotonic() - started < 1.0
