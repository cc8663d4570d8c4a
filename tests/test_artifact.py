"""CrossSteer files: round trip, atomic writes and every refusal (no models)."""
from __future__ import annotations

import dataclasses
import json
import struct

import pytest
import safetensors.torch
import torch

from crosssteer.directions import safetensors_io
from crosssteer.directions.estimate import DirectionSet
from crosssteer.directions.safetensors_io import FORMAT_VERSION, ArtifactError, load_artifact, save_artifact, tensors_sha256
from crosssteer.directions.safety_direction import SafetyDirection
from crosssteer.directions.space import Standardizer
from crosssteer.directions.steer import mix

D = 32


def unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm()


@pytest.fixture
def direction() -> SafetyDirection:
    g = torch.Generator().manual_seed(0)
    return SafetyDirection(
        vectors={name: unit(torch.randn(D, generator=g)) for name in ("global", "sexual", "hate")},
        standardizer=Standardizer(mean=torch.randn(D, generator=g), std=torch.rand(D, generator=g) + 0.1),
        units={"global": 2.5, "sexual": 1.5, "hate": 0.75},
        centers={"global": 0.3, "sexual": -1.0, "hate": 4.0},
        weights={"sexual": 1.0, "hate": 0.5},
        meta={
            "source_model": "qwen2.5-0.5b", "source_fingerprint": "abc123", "layer": 12, "pooling": "mean",
            "method": "mean_diff", "space": "target", "target_family": "sdxl", "target_width": D,
            "prompt_set_hash": "f00d", "stats": {"global": {"auroc": 0.97, "n_fit": 100, "n_heldout": 20}},
        },
    )


def write_raw(path, tensors, kind="direction", fmt=str(FORMAT_VERSION), meta="{}", sha=None):
    """A file with hand-made metadata, for refusals save_artifact would never write."""
    metadata = {
        "crosssteer_kind": kind, "crosssteer_format": fmt, "crosssteer_meta": meta,
        "crosssteer_sha256": sha if sha is not None else tensors_sha256(tensors),
    }
    safetensors.torch.save_file(tensors, str(path), metadata=metadata)
    return path


# ------------------------------------------------------------------------------------------- round trip


def test_round_trip(tmp_path, direction):
    path = direction.save(tmp_path / "dir.safetensors")
    assert path == tmp_path / "dir.safetensors"
    loaded = SafetyDirection.load(path)
    assert list(loaded.vectors) == ["global", "sexual", "hate"]
    for name, v in direction.vectors.items():
        assert torch.equal(loaded.vectors[name], v)
    assert torch.equal(loaded.standardizer.mean, direction.standardizer.mean)
    assert torch.equal(loaded.standardizer.std, direction.standardizer.std)
    assert loaded.units == direction.units
    assert loaded.centers == direction.centers
    assert loaded.weights == direction.weights
    assert loaded.meta == direction.meta
    assert loaded.width == D and loaded.categories == ["sexual", "hate"]


def test_generic_round_trip_keeps_dtypes(tmp_path):
    tensors = {"a": torch.arange(6, dtype=torch.int64).reshape(2, 3), "b": torch.randn(4).to(torch.bfloat16)}
    save_artifact(tmp_path / "x.safetensors", "alignment", tensors, {"note": "hi", "n": [1, 2]})
    loaded, meta = load_artifact(tmp_path / "x.safetensors", "alignment")
    assert meta == {"note": "hi", "n": [1, 2]}
    assert set(loaded) == {"a", "b"} and all(torch.equal(loaded[k], tensors[k]) for k in tensors)
    assert loaded["b"].dtype == torch.bfloat16


def test_defaults_and_helpers(direction):
    bare = SafetyDirection(vectors={"global": direction.vectors["global"]}, standardizer=direction.standardizer)
    assert bare.units == {"global": 1.0} and bare.centers == {"global": 0.0} and bare.weights == {}
    std, d = direction.standardizer.std, direction.vectors
    assert torch.allclose(direction.displacement(), std * d["global"] * 2.5)
    assert torch.allclose(direction.displacement("hate"), std * d["hate"] * 0.75)
    mixed = std * (1.0 * 1.5 * d["sexual"] + 0.5 * 0.75 * d["hate"])
    assert torch.allclose(direction.displacement("mixed"), mixed)
    assert torch.allclose(bare.displacement("mixed"), bare.displacement("global"))
    with pytest.raises(ArtifactError, match="no vector named 'gore'"):
        direction.displacement("gore")


def test_weights_that_cannot_mix_are_refused(direction, tmp_path):
    """Found by the fuzz test: a file whose mixer weights were all zero loaded, then failed inside Apply.
    validate() (run by load, save and with_weights) now refuses weights that cannot mix."""
    with pytest.raises(ArtifactError, match="all mix weights are zero"):
        direction.with_weights({"sexual": 0.0})
    zero = dataclasses.replace(direction, weights={"sexual": 0.0, "hate": 0.0})
    for action in (zero.validate, lambda: zero.save(tmp_path / "zero_mix.safetensors")):
        with pytest.raises(ArtifactError, match="all mix weights are zero"):
            action()
    assert not (tmp_path / "zero_mix.safetensors").exists()
    mixed = direction.with_weights({"global": 1.0, "hate": 0.0})  # a zero beside a non-zero weight is fine
    assert mixed.displacement("mixed").norm() > 0


def test_with_weights_returns_a_copy(direction):
    before = dict(direction.weights)
    other = direction.with_weights({"global": 1.0})
    assert other is not direction and other.weights == {"global": 1.0}
    assert direction.weights == before
    other.units["global"] = 99.0
    assert direction.units["global"] == 2.5
    with pytest.raises(ArtifactError, match="do not exist: \\['gore'\\]"):
        direction.with_weights({"gore": 1.0})


def test_from_direction_set(direction):
    ds = DirectionSet(
        vectors={"global": direction.vectors["global"], "hate": direction.vectors["hate"]},
        stats={"global": {"auroc": 0.9, "n_fit": 10, "n_heldout": 4}, "hate": {"auroc": None, "n_fit": 5, "n_heldout": 0}},
    )
    made = SafetyDirection.from_direction_set(ds, direction.standardizer, {"layer": 3})
    assert made.meta == {"layer": 3, "stats": ds.stats}
    assert made.units == {"global": 1.0, "hate": 1.0}
    assert made.categories == ["hate"]


# ---------------------------------------------------------------------------------------- atomic write


def test_failed_write_leaves_no_file(tmp_path, direction, monkeypatch):
    def half_write(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"half")
        raise OSError("No space left on device")

    target = tmp_path / "dir.safetensors"
    monkeypatch.setattr(safetensors.torch, "save_file", half_write)
    with pytest.raises(ArtifactError, match="cannot write .*No space left on device"):
        direction.save(target)
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_file(tmp_path, direction, monkeypatch):
    target = direction.save(tmp_path / "dir.safetensors")
    old_bytes = target.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(safetensors.torch, "save_file", broken)
    with pytest.raises(ArtifactError, match="boom"):
        direction.with_weights({}).save(target)
    assert target.read_bytes() == old_bytes
    assert [p.name for p in tmp_path.iterdir()] == ["dir.safetensors"]


def test_save_refuses_bad_input(tmp_path):
    with pytest.raises(ArtifactError, match="NaN"):
        save_artifact(tmp_path / "a.safetensors", "direction", {"x": torch.tensor([float("nan")])}, {})
    with pytest.raises(ArtifactError, match="not JSON-serialisable"):
        save_artifact(tmp_path / "a.safetensors", "direction", {"x": torch.ones(2)}, {"t": torch.ones(1)})
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------------------------------- refusals


def test_missing_file(tmp_path):
    with pytest.raises(ArtifactError, match="does not exist"):
        SafetyDirection.load(tmp_path / "nope.safetensors")


def test_truncated_file(tmp_path, direction):
    path = direction.save(tmp_path / "dir.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])  # header intact, tensor data cut short
    with pytest.raises(ArtifactError, match=r"dir\.safetensors could not be read by safetensors .*truncated or corrupt"):
        SafetyDirection.load(path)
    path.write_bytes(data[:5])
    with pytest.raises(ArtifactError, match="is 5 bytes, too short to be a safetensors file: it is truncated"):
        SafetyDirection.load(path)


def test_header_length_larger_than_file(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", 1000) + b"{}" + b"\0" * 50)
    with pytest.raises(ArtifactError, match="declares a 1000-byte header but the file is only 60 bytes: it is truncated"):
        load_artifact(path, "direction")


def test_huge_header_length(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    with pytest.raises(ArtifactError, match="more than the 10 MB limit"):
        load_artifact(path, "direction")


def test_header_not_json(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", 4) + b"\xff\xfe{[")
    with pytest.raises(ArtifactError, match="not a safetensors file"):
        load_artifact(path, "direction")


def test_plain_safetensors_is_not_a_crosssteer_file(tmp_path):
    path = tmp_path / "x.safetensors"
    safetensors.torch.save_file({"w": torch.ones(3)}, str(path))
    with pytest.raises(ArtifactError, match="is not a CrossSteer file .*as a safety direction"):
        SafetyDirection.load(path)


def test_wrong_kind(tmp_path):
    path = save_artifact(tmp_path / "map.safetensors", "alignment", {"w": torch.eye(3)}, {})
    with pytest.raises(ArtifactError, match="map.safetensors: this file is a crosssteer alignment, not a safety direction"):
        SafetyDirection.load(path)


def test_modified_bytes(tmp_path, direction):
    path = direction.save(tmp_path / "dir.safetensors")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # inside the last tensor's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="the file was modified or is corrupt"):
        SafetyDirection.load(path)


def test_nan_tensor(tmp_path):
    path = write_raw(tmp_path / "x.safetensors", {"vector.global": torch.tensor([float("nan"), 1.0])})
    with pytest.raises(ArtifactError, match=r"tensors \['vector.global'\] contain NaN or infinite values"):
        SafetyDirection.load(path)


@pytest.mark.parametrize(
    ("fmt", "message"),
    [(str(FORMAT_VERSION + 1),
      f"uses format version {FORMAT_VERSION + 1}, newer than this CrossSteer reads \\({FORMAT_VERSION}\\): update CrossSteer"),
     ("one", "unknown format version 'one'"), ("0", "unknown format version '0'")],
)
def test_wrong_format_version(tmp_path, fmt, message):
    path = write_raw(tmp_path / "x.safetensors", {"w": torch.ones(2)}, fmt=fmt)
    with pytest.raises(ArtifactError, match=message):
        load_artifact(path, "direction")


@pytest.mark.parametrize(
    ("meta", "message"), [("[1, 2]", "meta is not a JSON object \\(got list\\)"), ("{oops", "meta is not valid JSON")]
)
def test_meta_not_a_json_object(tmp_path, meta, message):
    path = write_raw(tmp_path / "x.safetensors", {"w": torch.ones(2)}, meta=meta)
    with pytest.raises(ArtifactError, match=message):
        load_artifact(path, "direction")


def test_non_unit_vector(tmp_path, direction):
    tensors = {f"vector.{n}": v for n, v in direction.vectors.items()}
    tensors["vector.hate"] = 2 * tensors["vector.hate"]
    tensors["standardizer.mean"] = direction.standardizer.mean
    tensors["standardizer.std"] = direction.standardizer.std
    path = save_artifact(tmp_path / "dir.safetensors", "direction", tensors, {})
    with pytest.raises(ArtifactError, match="dir.safetensors: vector 'hate' has norm 2, not 1"):
        SafetyDirection.load(path)
    bad = SafetyDirection(vectors={"global": 2 * direction.vectors["global"]}, standardizer=direction.standardizer)
    with pytest.raises(ArtifactError, match="not 1: directions must be unit vectors"):
        bad.validate()
    with pytest.raises(ArtifactError, match="has norm"):
        bad.save(tmp_path / "bad.safetensors")
    assert not (tmp_path / "bad.safetensors").exists()


def test_validate_refusals(direction):
    std = direction.standardizer
    with pytest.raises(ArtifactError, match="no 'global' vector"):
        SafetyDirection(vectors={"hate": direction.vectors["hate"]}, standardizer=std).validate()
    with pytest.raises(ArtifactError, match="has shape \\(16,\\) but the standardizer is 32 wide"):
        SafetyDirection(vectors={"global": unit(torch.ones(16))}, standardizer=std).validate()
    with pytest.raises(ArtifactError, match="units of \\['global'\\] are <= 0"):
        SafetyDirection(vectors={"global": direction.vectors["global"]}, standardizer=std, units={"global": 0.0}).validate()
    with pytest.raises(ArtifactError, match="std <= 0"):
        zero_std = Standardizer(mean=std.mean, std=torch.zeros(D))
        SafetyDirection(vectors={"global": direction.vectors["global"]}, standardizer=zero_std).validate()


def test_loader_never_unpickles(tmp_path, direction, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("torch.load must never be used to read CrossSteer files")

    monkeypatch.setattr(torch, "load", forbidden)
    path = direction.save(tmp_path / "dir.safetensors")
    SafetyDirection.load(path)
    assert json.loads(json.dumps(direction.meta)) == direction.meta
    assert safetensors_io.MAX_HEADER_BYTES == 10 * 1024 * 1024


# ---------------------------------------------------------------------------------- benign calibration


def _calibrated(direction: SafetyDirection, m: int = 400) -> SafetyDirection:
    """The direction calibrated on m synthetic benign anchors (its own z-coordinates), as the pipeline does."""
    from crosssteer.directions.pipeline import calibrate_direction

    g = torch.Generator().manual_seed(7)
    return calibrate_direction(direction, torch.randn(m, D, generator=g) * 0.5 + 0.2, gate_fpr=0.02)


def test_benign_scores_and_gate_fpr_round_trip_as_format_3(tmp_path, direction):
    calibrated = _calibrated(direction)
    assert calibrated.benign_scores.shape == (400, 3) and calibrated.meta["gate_fpr"] == 0.02
    path = calibrated.save(tmp_path / "calibrated.safetensors")
    assert load_artifact(path, "direction") and safetensors.safe_open(str(path), "pt").metadata()["crosssteer_format"] == "3"
    loaded = SafetyDirection.load(path)
    assert torch.equal(loaded.benign_scores, calibrated.benign_scores) and loaded.meta["gate_fpr"] == 0.02
    # a direction without calibration scores is still written in the oldest format that describes it
    plain = direction.save(tmp_path / "plain.safetensors")
    assert safetensors.safe_open(str(plain), "pt").metadata()["crosssteer_format"] == "1"
    assert SafetyDirection.load(plain).benign_scores is None


def test_a_mix_is_calibrated_with_its_own_center_and_spread(direction):
    """Gate and ablate of a mix use the mix's own benign statistics, not its strongest vector's."""
    calibrated = _calibrated(direction)
    cal = calibrated.calibration("mixed")
    total = mix(calibrated.vectors, calibrated.units, calibrated.weights)
    assert torch.allclose(cal.vector, total / total.norm(), atol=1e-6)
    g = torch.Generator().manual_seed(7)
    anchors = torch.randn(400, D, generator=g) * 0.5 + 0.2  # the same anchors as _calibrated
    direct = anchors @ cal.vector
    assert cal.center == pytest.approx(float(direct.mean()), abs=1e-5)
    assert cal.unit == pytest.approx(float(direct.std()), rel=1e-4)
    strongest = calibrated.calibration("sexual")
    assert abs(cal.unit - strongest.unit) > 1e-3  # what the old code used instead
    # the gate threshold comes from the benign quantile: 2% of the anchors lie past its 0.1 point
    from crosssteer.directions.steer import GATE_SOFTNESS, gate_threshold

    unsafeness = (cal.center - direct) / cal.unit
    assert gate_threshold(float(torch.quantile(unsafeness.double(), 0.98))) == pytest.approx(cal.gate_threshold(0.02))
    assert float((unsafeness > cal.gate_threshold(0.02) - GATE_SOFTNESS * 2.1972).double().mean()) == pytest.approx(0.02, abs=0.005)


def test_an_old_direction_still_loads_and_gates_with_approximate_calibration(tmp_path, direction, caplog):
    loaded = SafetyDirection.load(direction.save(tmp_path / "old.safetensors"))
    assert loaded.benign_scores is None
    # the single vector falls back to a normal approximation of its benign scores
    from crosssteer.directions.steer import gate_threshold

    assert loaded.calibration("global").gate_threshold(0.05) == pytest.approx(gate_threshold(1.6449), abs=1e-3)
    # a mix: the exact center (means are linear), an approximate spread, and a warning that says so
    mixed = loaded.calibration("mixed")
    exact = _calibrated(direction)
    exact_mixed = dataclasses.replace(loaded, centers=exact.centers, units=exact.units).calibration("mixed")
    assert exact_mixed.center == pytest.approx(exact.calibration("mixed").center, abs=1e-4)
    assert mixed.benign_scores is None and mixed.unit > 0 and "spread is approximated" in caplog.text
    with pytest.raises(ArtifactError, match="benign calibration scores have shape"):
        dataclasses.replace(direction, benign_scores=torch.zeros(10, 2)).validate()
    with pytest.raises(ArtifactError, match="gate_fpr"):
        dataclasses.replace(direction, meta={**direction.meta, "gate_fpr": 1.5}).validate()
