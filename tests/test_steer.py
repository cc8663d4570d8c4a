"""Steering operations on synthetic conditioning [B, T, D] (no models)."""
from __future__ import annotations

import math

import pytest
import torch

from crosssteer.directions.space import Standardizer
from crosssteer.directions.steer import (
    GATE_FLOOR,
    GATE_SOFTNESS,
    SteeringError,
    ablate,
    add,
    check_alpha,
    gate_threshold,
    gate_weights,
    gated_add,
    mix,
    scores,
    token_mask,
)

B, T, D = 3, 6, 16
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def make_space(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    standardizer = Standardizer(mean=torch.randn(D, generator=g), std=torch.rand(D, generator=g) + 0.5)
    direction = torch.randn(D, generator=g)
    direction /= direction.norm()
    x = standardizer.mean + standardizer.std * torch.randn(B, T, D, generator=g)
    return standardizer, direction, x


# -------------------------------------------------------------------------------------------------- add


@pytest.mark.parametrize("device", DEVICES)
def test_add_moves_only_masked_tokens_by_alpha_displacement(device):
    _, _, x = make_space()
    x = x.to(device)
    original = x.clone()
    displacement = torch.linspace(-1, 1, D)
    mask = torch.zeros(B, T, dtype=torch.bool)
    mask[:, 1:4] = True
    mask[2, :] = False
    out = add(x, displacement, 2.5, mask=mask.to(device))
    assert torch.equal(x, original), "the input must not be modified"
    assert out is not x and out.device == x.device and out.dtype == x.dtype
    m = mask.to(device)
    assert torch.equal(out[~m], x[~m]), "unmasked tokens must be bit-for-bit unchanged"
    expected = (2.5 * displacement).to(device).expand(int(m.sum()), D)
    assert torch.allclose(out[m] - x[m], expected, atol=1e-5)


def test_add_without_mask_moves_every_token():
    _, _, x = make_space()
    displacement = torch.randn(D)
    assert torch.allclose(add(x, displacement, -1.0) - x, -displacement.expand(B, T, D), atol=1e-5)
    # a [T] mask applies to every batch item
    out = add(x, displacement, 1.0, mask=torch.tensor([1, 0, 0, 0, 0, 1]))
    assert torch.equal(out[:, 1:5], x[:, 1:5]) and not torch.equal(out[:, 0], x[:, 0])


@pytest.mark.parametrize("device", DEVICES)
def test_half_precision_is_kept(device):
    _, _, x = make_space()
    x16 = x.to(device, torch.float16)
    copy = x16.clone()
    out = add(x16, torch.ones(D), 1.0)
    assert out.dtype == torch.float16 and out.device == x16.device
    assert torch.equal(x16, copy)
    assert torch.allclose(out.float(), (x16.float() + 1).half().float())
    standardizer, direction, _ = make_space()
    assert ablate(x16, standardizer, direction, center=0.0).dtype == torch.float16


def test_bad_mask_is_refused():
    _, _, x = make_space()
    with pytest.raises(SteeringError, match=r"give a \[3, 6\] or \[6\] mask"):
        token_mask(x, torch.ones(2, 6))


# ----------------------------------------------------------------------------------------------- ablate


def test_ablate_judges_the_prompt_and_lifts_all_its_tokens_by_the_same_step():
    """A prompt whose mean token score lies below the center moves as a whole, every token by the same step,
    until its mean reaches the center; a prompt at or above the center is untouched, even where some of its
    own tokens score below it (token-level ablation moved about half the tokens of every benign prompt)."""
    standardizer, direction, x = make_space(1)
    original = x.clone()
    prompt = scores(x, standardizer, direction).mean(dim=1)  # [B]
    center = float(prompt.median())
    out = ablate(x, standardizer, direction, center)
    below = prompt < center
    assert below.any() and (~below).any()
    assert (scores(x, standardizer, direction)[~below] < center).any()  # tokens below center, prompt not
    assert torch.equal(out[~below], x[~below])
    after = scores(out, standardizer, direction)
    assert torch.allclose(after[below].mean(dim=1), torch.full((int(below.sum()),), center), atol=1e-4)
    lift = after - scores(x, standardizer, direction)
    assert torch.allclose(lift[below], (center - prompt[below]).unsqueeze(1).expand(-1, T), atol=1e-4)
    assert torch.equal(x, original)
    # only the direction's component moves: the rest of z(x) is untouched
    dz = standardizer.z(out) - standardizer.z(x)
    assert torch.allclose(dz - (dz @ direction).unsqueeze(-1) * direction, torch.zeros_like(dz), atol=1e-4)


def test_ablate_strength_is_not_capped_and_the_mask_decides_the_score():
    standardizer, direction, x = make_space(2)
    before = scores(x, standardizer, direction)
    center = float(before.max()) + 1.0  # every prompt is below
    prompt = before.mean(dim=1, keepdim=True)
    for strength in (0.5, 3.0):  # 3: past the center, as asked (the node used to cap it at 1 silently)
        moved = scores(ablate(x, standardizer, direction, center, strength=strength), standardizer, direction)
        assert torch.allclose(moved, before + strength * (center - prompt), atol=1e-4)
    mask = torch.zeros(B, T, dtype=torch.bool)
    mask[0, :2] = True
    out = ablate(x, standardizer, direction, center, mask=mask)
    assert torch.equal(out[~mask], x[~mask])
    lifted = scores(out, standardizer, direction)[0, :2]
    assert float(lifted.mean()) == pytest.approx(center, abs=1e-4)  # judged on the masked tokens only
    with pytest.raises(SteeringError, match="strength must be >= 0"):
        ablate(x, standardizer, direction, center, strength=-1)
    with pytest.raises(SteeringError, match="outside the sane range"):
        ablate(x, standardizer, direction, center, strength=80)


def test_gate_threshold_puts_a_tenth_of_the_push_at_the_quantile():
    standardizer, direction, _ = make_space(3)
    for quantile in (0.0, 1.6, 2.3):
        threshold = gate_threshold(quantile)
        at_quantile = standardizer.mean.expand(1, 1, D) + (-quantile) * standardizer.raw_displacement(direction)
        gate = gate_weights(at_quantile, standardizer, direction, 0.0, 1.0, threshold=threshold, softness=GATE_SOFTNESS)
        assert float(gate[0]) == pytest.approx(GATE_FLOOR, abs=1e-4)


# ------------------------------------------------------------------------------------------------- gate


def test_gate_is_off_for_benign_and_on_for_far_unsafe_prompts():
    standardizer, direction, _ = make_space(3)
    g = torch.Generator().manual_seed(4)
    benign_z = torch.randn(200, T, D, generator=g)
    benign = standardizer.mean + standardizer.std * benign_z
    prompt_scores = scores(benign, standardizer, direction).mean(dim=1)
    center, unit = float(prompt_scores.mean()), float(prompt_scores.std())

    benign_gate = gate_weights(benign, standardizer, direction, center, unit, threshold=2.0, softness=0.25)
    assert benign_gate.shape == (200,) and benign_gate.dtype == torch.float32
    assert float(benign_gate.median()) < 0.01
    assert float((benign_gate > 0.5).float().mean()) < 0.05  # only the benign tail beyond 2 spreads

    far_unsafe = benign[:10] - 10 * unit * standardizer.raw_displacement(direction)
    assert float(gate_weights(far_unsafe, standardizer, direction, center, unit).min()) > 0.999

    # exactly at the center: u = 0, gate = sigmoid(-threshold / softness)
    at_center = standardizer.mean + 0 * benign[:1] + center * standardizer.raw_displacement(direction)
    gate = gate_weights(at_center, standardizer, direction, center, unit, threshold=1.0, softness=0.5)
    assert float(gate[0]) == pytest.approx(1 / (1 + math.exp(2.0)), abs=1e-4)


def test_gate_mask_and_refusals():
    standardizer, direction, x = make_space(5)
    mask = torch.zeros(B, T, dtype=torch.bool)
    mask[:, 0] = True
    gate = gate_weights(x, standardizer, direction, 0.0, 1.0, mask=mask)
    expected = torch.sigmoid((-scores(x, standardizer, direction)[:, 0] - 1.0) / 0.5)
    assert torch.allclose(gate, expected, atol=1e-5)
    mask[1] = False
    with pytest.raises(SteeringError, match=r"selects no tokens for batch item\(s\) \[1\]"):
        gate_weights(x, standardizer, direction, 0.0, 1.0, mask=mask)
    with pytest.raises(SteeringError, match="unit must be a finite number > 0"):
        gate_weights(x, standardizer, direction, 0.0, 0.0)


def test_gated_add_scales_each_batch_item():
    _, _, x = make_space(6)
    displacement = torch.randn(D)
    out = gated_add(x, displacement, 3.0, torch.tensor([1.0, 0.0, 0.5]))
    assert torch.allclose(out[0] - x[0], 3.0 * displacement.expand(T, D), atol=1e-5)
    assert torch.equal(out[1], x[1])
    assert torch.allclose(out[2] - x[2], 1.5 * displacement.expand(T, D), atol=1e-5)
    with pytest.raises(SteeringError, match=r"must be a \[3\] tensor"):
        gated_add(x, displacement, 3.0, torch.ones(2))


# -------------------------------------------------------------------------------------------------- mix


def test_mix_is_the_weighted_sum_of_unit_scaled_vectors():
    v = {"global": torch.tensor([1.0, 0.0]), "hate": torch.tensor([0.0, 1.0]), "sexual": torch.tensor([0.6, 0.8])}
    units = {"global": 2.0, "hate": 0.5, "sexual": 1.0}
    out = mix(v, units, {"hate": 2.0, "global": 0.5, "sexual": 0.0})
    assert torch.allclose(out, torch.tensor([1.0, 1.0]))
    assert torch.allclose(mix(v, {}, {"sexual": 1.0}), v["sexual"])  # missing unit counts as 1


def test_mix_refuses_bad_input():
    v = {"global": torch.tensor([1.0, 0.0]), "hate": torch.tensor([-1.0, 0.0])}
    with pytest.raises(SteeringError, match=r"unknown direction name\(s\) \['gore'\]"):
        mix(v, {}, {"gore": 1.0})
    with pytest.raises(SteeringError, match="all mix weights are zero"):
        mix(v, {}, {"global": 0.0, "hate": 0.0})
    with pytest.raises(SteeringError, match="all mix weights are zero"):
        mix(v, {}, {})
    with pytest.raises(SteeringError, match="mix weight of 'hate' is nan"):
        mix(v, {}, {"hate": float("nan")})
    with pytest.raises(SteeringError, match="contains NaN"):
        mix({"global": torch.tensor([float("nan"), 0.0])}, {}, {"global": 1.0})
    with pytest.raises(SteeringError, match="cancel out"):
        mix(v, {}, {"global": 1.0, "hate": 1.0})
    with pytest.raises(SteeringError, match="units must be finite and > 0"):
        mix(v, {"hate": -1.0}, {"hate": 1.0})


# ------------------------------------------------------------------------------------------- messages


def test_width_mismatch_message():
    standardizer = Standardizer(mean=torch.zeros(768), std=torch.ones(768))
    direction = torch.ones(768) / math.sqrt(768)
    x = torch.zeros(1, 4, 4096)
    with pytest.raises(SteeringError, match="the direction is 768 wide but the conditioning is 4096 wide: "):
        ablate(x, standardizer, direction, 0.0)
    with pytest.raises(SteeringError, match="the displacement is 768 wide but the conditioning is 4096 wide: "):
        add(x, direction, 1.0)


def test_alpha_messages():
    _, _, x = make_space()
    with pytest.raises(SteeringError) as info:
        add(x, torch.ones(D), 80)
    assert str(info.value) == (
        "alpha 80 is outside the sane range [-50, 50]: alpha is in units of the benign spread; 1-10 is typical"
    )
    for bad in (float("nan"), float("inf")):
        with pytest.raises(SteeringError, match="is not a finite number"):
            add(x, torch.ones(D), bad)
    assert check_alpha(-50) == -50.0


def test_zero_and_nan_direction_messages():
    standardizer, _, x = make_space()
    with pytest.raises(SteeringError, match="the direction has zero length"):
        ablate(x, standardizer, torch.zeros(D), 0.0)
    with pytest.raises(SteeringError, match="the displacement has zero length"):
        add(x, torch.zeros(D), 1.0)
    nan = torch.ones(D)
    nan[0] = float("nan")
    with pytest.raises(SteeringError, match="the direction contains NaN or infinite values"):
        gate_weights(x, standardizer, nan, 0.0, 1.0)
    with pytest.raises(SteeringError, match=r"\[batch, tokens, width\]"):
        add(torch.zeros(4, D), torch.ones(D), 1.0)
