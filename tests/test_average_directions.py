"""pipeline.average_directions: one direction from several in the same target space (issue 15's
multi-source lever), on synthetic vectors whose average is known. Pure tensors, no model."""
from __future__ import annotations

import pytest
import torch

from crosssteer.directions.pipeline import average_directions
from crosssteer.directions.safety_direction import GLOBAL, SafetyDirection
from crosssteer.directions.space import Standardizer


def unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm()


def direction(vectors: dict[str, torch.Tensor], std: Standardizer, source: str = "a") -> SafetyDirection:
    return SafetyDirection(vectors={n: unit(v) for n, v in vectors.items()}, standardizer=std,
                           weights={n: 1.0 for n in vectors if n != GLOBAL},
                           meta={"space": "target", "source": {"model": source}})


def plain(width: int) -> Standardizer:
    return Standardizer(torch.zeros(width), torch.ones(width))


def test_the_average_of_two_unit_vectors_is_their_normalised_sum_and_is_calibrated():
    std = plain(4)
    a = direction({GLOBAL: torch.tensor([1.0, 0, 0, 0]), "violence": torch.tensor([0, 1.0, 0, 0])}, std, "a")
    # b's global is 10x longer before normalising: the average must still weigh both sources equally
    b = direction({GLOBAL: torch.tensor([0, 10.0, 0, 0]), "violence": torch.tensor([0, 1.0, 0, 0])}, std, "b")
    anchors = torch.randn(200, 4, generator=torch.Generator().manual_seed(0)) * torch.tensor([1.0, 2.0, 3.0, 4.0])
    out = average_directions([a, b], std, anchors)
    assert torch.allclose(out.vectors[GLOBAL], unit(torch.tensor([1.0, 1.0, 0, 0])), atol=1e-6)
    assert torch.allclose(out.vectors["violence"], torch.tensor([0, 1.0, 0, 0]), atol=1e-6)
    scores = anchors @ out.vectors[GLOBAL]
    assert out.centers[GLOBAL] == pytest.approx(float(scores.mean()), rel=1e-5)
    assert out.units[GLOBAL] == pytest.approx(float(scores.std()), rel=1e-5)
    assert out.meta["averaged_from"] == [{"model": "a"}, {"model": "b"}]
    assert out.weights == {"violence": 1.0}


def test_directions_from_other_standardizers_are_averaged_as_the_same_raw_step():
    common = Standardizer(torch.zeros(3), torch.tensor([1.0, 2.0, 4.0]))
    other = Standardizer(torch.ones(3), torch.tensor([2.0, 2.0, 2.0]))
    # in `other`'s z-coordinates [1, 0, 0] is the raw step [2, 0, 0], i.e. [1, 0, 0] in `common`'s too
    a = direction({GLOBAL: torch.tensor([0, 0, 1.0])}, common)
    b = direction({GLOBAL: torch.tensor([1.0, 0, 0])}, other)
    out = average_directions([a, b], common, torch.randn(50, 3, generator=torch.Generator().manual_seed(1)))
    assert torch.allclose(out.vectors[GLOBAL], unit(torch.tensor([1.0, 0, 1.0])), atol=1e-6)


def test_only_the_vectors_every_direction_has_are_kept():
    std = plain(3)
    a = direction({GLOBAL: torch.tensor([1.0, 0, 0]), "hate": torch.tensor([0, 1.0, 0])}, std)
    b = direction({GLOBAL: torch.tensor([1.0, 0, 0])}, std)
    out = average_directions([a, b], std, torch.randn(20, 3, generator=torch.Generator().manual_seed(2)))
    assert list(out.vectors) == [GLOBAL] and out.weights == {}


def test_bad_inputs_say_what_to_do():
    std = plain(3)
    anchors = torch.randn(20, 3, generator=torch.Generator().manual_seed(3))
    with pytest.raises(ValueError, match="at least one"):
        average_directions([], std, anchors)
    with pytest.raises(ValueError, match="same target model and layer"):
        average_directions([direction({GLOBAL: torch.ones(4)}, plain(4))], std, anchors)
    opposite = [direction({GLOBAL: torch.tensor([1.0, 0, 0])}, std), direction({GLOBAL: torch.tensor([-1.0, 0, 0])}, std)]
    with pytest.raises(ValueError, match="cancel out"):
        average_directions(opposite, std, anchors)


def test_inputs_are_not_modified():
    std = plain(3)
    a = direction({GLOBAL: torch.tensor([1.0, 0, 0])}, std)
    b = direction({GLOBAL: torch.tensor([0, 1.0, 0])}, std)
    before = [d.vectors[GLOBAL].clone() for d in (a, b)]
    average_directions([a, b], std, torch.randn(20, 3, generator=torch.Generator().manual_seed(4)))
    assert all(torch.equal(d.vectors[GLOBAL], v) for d, v in zip((a, b), before))
    assert a.meta.get("averaged_from") is None
