"""The precomputed source side of Safety Steering (auto) (directions/data/auto_source.safetensors): its file
format, when it is used, and that the shipped file is what the real smollm2-135m computes today (slow), so
it can never go stale silently."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from crosssteer.directions.prompts import PromptPair, load_anchors, load_pairs, prompt_set_hash
from crosssteer.directions.safetensors_io import ArtifactError
from crosssteer.directions.source_side import RECIPE, SHIPPED_SOURCE_SIDE, SourceSide, build_source_side, pairs_key

SOURCE = "smollm2-135m"


@pytest.fixture(scope="module")
def shipped() -> SourceSide:
    return SourceSide.load()


def test_the_shipped_file_was_made_from_the_shipped_prompt_sets_with_the_auto_recipe(shipped):
    pairs, anchors = load_pairs("default"), load_anchors("default")
    assert shipped.meta["pairs"] == pairs_key(pairs), "re-make it: python scripts/make_auto_source.py"
    assert shipped.meta["anchors"] == prompt_set_hash(anchors), "re-make it: python scripts/make_auto_source.py"
    assert shipped.meta["recipe"] == RECIPE and shipped.anchors.shape == (len(anchors), shipped.direction.width)
    assert shipped.mismatch(SOURCE, None, pairs, anchors) is None
    info = shipped.source_info
    assert info["model"] == SOURCE and info["layer"] == shipped.direction.meta["layer"] == shipped.meta["source"]["layer"]
    assert shipped.direction.meta["space"] == "source" and shipped.direction.categories
    assert SHIPPED_SOURCE_SIDE.stat().st_size < 6_000_000  # float16 anchors: a small part of the pack


def test_it_is_refused_for_other_pairs_anchors_splits_models_or_recipes(shipped):
    pairs, anchors = load_pairs("default"), load_anchors("default")
    fingerprint = shipped.direction.meta["source"]["fingerprint"]
    assert shipped.mismatch(SOURCE, fingerprint, pairs, anchors) is None
    resplit = [dataclasses.replace(pairs[0], split="heldout" if pairs[0].split == "fit" else "fit"), *pairs[1:]]
    edited = [PromptPair(pairs[0].category, pairs[0].unsafe + " at night", pairs[0].safe, pairs[0].split), *pairs[1:]]
    assert "other prompt pairs" in shipped.mismatch(SOURCE, fingerprint, edited, anchors)
    assert "other prompt pairs" in shipped.mismatch(SOURCE, fingerprint, resplit, anchors)
    assert "other anchors" in shipped.mismatch(SOURCE, fingerprint, pairs, anchors[:-1])
    assert "other anchors" in shipped.mismatch(SOURCE, fingerprint, pairs, anchors[::-1])
    assert "another smollm2-135m" in shipped.mismatch(SOURCE, "0123456789abcdef", pairs, anchors)
    assert "not gemma3-270m" in shipped.mismatch("gemma3-270m", None, pairs, anchors)
    other = SourceSide(shipped.direction, shipped.anchors, {**shipped.meta, "recipe": {**RECIPE, "method": "pca"}})
    assert "Extract settings" in other.mismatch(SOURCE, fingerprint, pairs, anchors)


def test_round_trip_and_broken_files(shipped, tmp_path):
    path = shipped.save(tmp_path / "side.safetensors", anchors_dtype=torch.float32)
    again = SourceSide.load(path)
    assert torch.equal(again.anchors, shipped.anchors) and again.meta == shipped.meta
    assert all(torch.equal(again.direction.vectors[n], v) for n, v in shipped.direction.vectors.items())
    data = bytearray(path.read_bytes())
    data[-8:] = b"\x00\x00\xc0\x7f" * 2  # NaN in the last anchor row
    (tmp_path / "broken.safetensors").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum|NaN"):
        SourceSide.load(tmp_path / "broken.safetensors")
    with pytest.raises(ArtifactError, match="not a CrossSteer file|safety direction, not"):
        shipped.direction.save(tmp_path / "direction.safetensors")
        SourceSide.load(tmp_path / "direction.safetensors")
    with pytest.raises(ArtifactError, match="expected"):
        SourceSide(shipped.direction, shipped.anchors[:, :10], shipped.meta).save(tmp_path / "narrow.safetensors")


@pytest.mark.slow
def test_the_shipped_file_is_what_the_real_model_computes_now(shipped, smollm2):
    """A fresh computation (no embedding cache) of Extract with the shipped pairs and of a sample of the
    anchors in the real smollm2-135m matches the shipped file: the same layer, every vector, the
    standardizer, and the anchor embeddings (stored in float16)."""
    pairs, anchors = load_pairs("default"), load_anchors("default")
    assert shipped.mismatch(SOURCE, smollm2.fingerprint, pairs, anchors) is None
    sample = list(range(0, len(anchors), 97))
    fresh = build_source_side(smollm2, pairs, [anchors[i] for i in sample])
    assert fresh.direction.meta["layer"] == shipped.direction.meta["layer"]
    assert fresh.meta["pairs"] == shipped.meta["pairs"]
    for name, v in shipped.direction.vectors.items():
        assert float(torch.dot(fresh.direction.vectors[name], v)) > 0.999, name
    assert torch.allclose(fresh.direction.standardizer.mean, shipped.direction.standardizer.mean, rtol=1e-3, atol=1e-2)
    assert torch.allclose(fresh.direction.standardizer.std, shipped.direction.standardizer.std, rtol=1e-3, atol=1e-2)
    cosines = torch.nn.functional.cosine_similarity(fresh.anchors, shipped.anchors[sample], dim=1)
    assert float(cosines.min()) > 0.999
    scale = fresh.anchors.std(dim=0)  # float16 rounding, in each dimension's own spread
    assert float(((fresh.anchors - shipped.anchors[sample]).abs() / scale).max()) < 0.05
