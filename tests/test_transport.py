"""Alignment maps on synthetic spaces whose true relation is known."""
from __future__ import annotations

import json
import math

import pytest
import torch

from crosssteer.directions.alignment_maps import (CCA_RANK_GRID, METHODS, RANK_GRID, SHRINK_GRID, AlignmentError,
                                                  AlignmentMap, CCAMap, MLPMap, ProcrustesLowRankMap, ProcrustesMap,
                                                  ProcrustesRidgeMap, RidgeMap)
from crosssteer.directions.transport import calibrate, cosine, fit_alignment, transport, transport_vectors


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    # These problems are tiny: one thread is faster and immune to a busy shared CI machine, where
    # two-thread LAPACK calls can stall for seconds on barrier waits.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def linear_pair(n=600, ds=48, dt=64, noise=0.05, seed=0):
    """Raw spaces with uneven channel scales and offsets, related by y = W x + noise."""
    g = gen(seed)
    scale = torch.exp(0.7 * torch.randn(ds, generator=g))
    x = torch.randn(n, ds, generator=g) * scale + 3.0
    w = torch.randn(dt, ds, generator=g) / math.sqrt(ds) / scale
    y = x @ w.T + noise * torch.randn(n, dt, generator=g) - 1.0
    return x, y, w


def true_transport(w: torch.Tensor, fit, d_s: torch.Tensor) -> torch.Tensor:
    """The exact z-space image of d_s: raw displacement std_s * d, through W, re-expressed in target z."""
    moved = (w @ (fit.source.std * d_s)) / fit.target.std
    return moved / moved.norm()


def random_units(k: int, width: int, seed: int) -> torch.Tensor:
    d = torch.randn(k, width, generator=gen(seed))
    return d / d.norm(dim=1, keepdim=True)


def mean_transport_cosine(w, fit, k=8, seed=7) -> float:
    directions = random_units(k, fit.source.width, seed)
    return sum(cosine(transport(d, fit), true_transport(w, fit, d)) for d in directions) / k


# ------------------------------------------------------------------------------------------- recovery


def test_ridge_recovers_a_linear_map_between_different_widths():
    x, y, w = linear_pair()
    fit = fit_alignment(x, y, method="ridge")
    assert fit.report.heldout_r2 > 0.95
    assert mean_transport_cosine(w, fit) > 0.95
    d_t = transport(random_units(1, 48, 1)[0], fit)
    assert d_t.shape == (64,) and d_t.dtype == torch.float32
    assert d_t.norm().item() == pytest.approx(1.0, abs=1e-5)
    assert fit.report.n_fit == 480 and fit.report.n_heldout == 120
    assert fit.report.lam is not None and fit.report.lam > 0 and fit.report.method == "ridge"


def test_svd_finds_the_rank_of_a_low_rank_map():
    x, _, _ = linear_pair()
    g = gen(3)
    w = torch.randn(64, 8, generator=g) @ torch.randn(8, 48, generator=g) / math.sqrt(8 * 48) / x.std(0)
    y = x @ w.T + 0.05 * torch.randn(600, 64, generator=g)
    fit = fit_alignment(x, y, method="svd")
    assert fit.report.rank == 8
    assert fit.report.heldout_r2 > 0.95
    assert mean_transport_cosine(w, fit) > 0.95
    assert torch.linalg.matrix_rank(fit.map.linear()).item() == 8
    given = fit_alignment(x, y, method="svd", rank=4)
    assert given.report.rank == 4 and torch.linalg.matrix_rank(given.map.linear()).item() == 4


def test_procrustes_recovers_a_scaled_rotation():
    g = gen(4)
    x = torch.randn(600, 48, generator=g)
    q, _ = torch.linalg.qr(torch.randn(48, 48, generator=g))
    y = 2.5 * x @ q.T + 0.05 * torch.randn(600, 48, generator=g)
    fit = fit_alignment(x, y, method="procrustes")
    assert mean_transport_cosine(q, fit) > 0.98
    assert fit.report.heldout_r2 > 0.95  # the global scale puts magnitudes right


def test_procrustes_goes_through_pca_when_widths_differ():
    g = gen(5)
    x = torch.randn(600, 48, generator=g)
    q, _ = torch.linalg.qr(torch.randn(64, 48, generator=g))  # an isometric embedding 48 -> 64
    y = x @ q.T + 0.05 * torch.randn(600, 64, generator=g)
    fit = fit_alignment(x, y, method="procrustes")
    assert fit.report.rank == 48
    assert mean_transport_cosine(q, fit) > 0.8


def test_procrustes_ridge_runs_from_the_procrustes_map_to_ridge_as_its_penalty_falls():
    x, y, _ = linear_pair(n=400, ds=32, dt=40, seed=11)
    z_s, z_t = (x - x.mean(0)) / x.std(0), (y - y.mean(0)) / y.std(0)
    prior = ProcrustesMap.fit(z_s, z_t).weight
    assert torch.allclose(ProcrustesRidgeMap.fit(z_s, z_t, lam=1e9).weight, prior, atol=1e-4)
    assert torch.allclose(ProcrustesRidgeMap.fit(z_s, z_t, lam=1e-6).weight, RidgeMap.fit(z_s, z_t, lam=1e-6).weight,
                          atol=1e-4)


def test_procrustes_ridge_beats_ridge_on_a_noisy_rotation_with_few_anchors():
    """Few noisy anchors of a scaled rotation: ridge shrinks toward zero, this map toward a rotation."""
    g = gen(12)
    x = torch.randn(90, 48, generator=g)
    q, _ = torch.linalg.qr(torch.randn(48, 48, generator=g))
    y = x @ q.T + 0.7 * torch.randn(90, 48, generator=g)
    prior, ridge = fit_alignment(x, y, method="procrustes_ridge"), fit_alignment(x, y, method="ridge")
    assert prior.report.heldout_r2 > ridge.report.heldout_r2
    assert mean_transport_cosine(q, prior) > mean_transport_cosine(q, ridge) + 0.05


def rotation_with_a_rank_two_stretch(n=300, width=64, noise=0.5, seed=21):
    """y = Q (I + S) x + noise, Q orthogonal, S symmetric of rank 2 (eigenvalues 3 and -0.8): Q is still
    the closest rotation, so the Procrustes prior is right everywhere except on S's two directions."""
    g = gen(seed)
    x = torch.randn(n, width, generator=g)
    q, _ = torch.linalg.qr(torch.randn(width, width, generator=g))
    u, _ = torch.linalg.qr(torch.randn(width, 2, generator=g))
    w = q @ (torch.eye(width) + u @ torch.diag(torch.tensor([3.0, -0.8])) @ u.T)
    return x, x @ w.T + noise * torch.randn(n, width, generator=g), w


def test_procrustes_lowrank_corrects_the_prior_where_the_truth_leaves_it():
    x, y, w = rotation_with_a_rank_two_stretch()
    lowrank = fit_alignment(x, y, method="procrustes_lowrank")
    plain, ridge = fit_alignment(x, y, method="procrustes"), fit_alignment(x, y, method="ridge")
    assert lowrank.report.heldout_r2 > plain.report.heldout_r2 + 0.04
    assert lowrank.report.heldout_r2 > ridge.report.heldout_r2  # the prior helps where ridge shrinks to zero
    assert mean_transport_cosine(w, lowrank) > mean_transport_cosine(w, plain) + 0.02
    assert lowrank.report.rank in RANK_GRID and lowrank.report.rank < 64  # chosen on the anchors, low


def test_procrustes_lowrank_adds_a_correction_of_the_given_rank_to_the_prior():
    x, y, _ = rotation_with_a_rank_two_stretch(n=200, width=32)
    z_s, z_t = (x - x.mean(0)) / x.std(0), (y - y.mean(0)) / y.std(0)
    prior = ProcrustesMap.fit(z_s, z_t).weight
    two = ProcrustesLowRankMap.fit(z_s, z_t, rank=2)
    assert two.info["rank"] == 2 and torch.linalg.matrix_rank(two.weight - prior, rtol=1e-4).item() == 2
    assert torch.allclose(ProcrustesLowRankMap.fit(z_s, z_t, lam=1e9).weight, prior, atol=1e-4)
    with pytest.raises(AlignmentError, match="rank 33 is out of range"):
        ProcrustesLowRankMap.fit(z_s, z_t, rank=33)
    with pytest.raises(AlignmentError, match="lam must be a positive number"):
        ProcrustesLowRankMap.fit(z_s, z_t, lam=0)


def low_rank_cross_covariance(n=500, ds=48, dt=40, seed=22):
    """Correlated source channels; the target sees only 3 directions of the source, under loud noise."""
    g = gen(seed)
    x = torch.randn(n, ds, generator=g) @ (torch.eye(ds) + 0.5 * torch.randn(ds, ds, generator=g) / math.sqrt(ds))
    w = torch.randn(dt, 3, generator=g) @ torch.randn(3, ds, generator=g) / math.sqrt(ds)
    return x, x @ w.T + torch.randn(n, dt, generator=g), w


def test_cca_keeps_the_few_canonical_pairs_that_carry_a_low_rank_relation():
    x, y, w = low_rank_cross_covariance()
    cca = fit_alignment(x, y, method="cca")
    whitened, ridge = fit_alignment(x, y, method="whitened"), fit_alignment(x, y, method="ridge")
    assert cca.map.info["rank"] == CCA_RANK_GRID[0] and cca.map.info["shrink"] in SHRINK_GRID
    assert cca.report.heldout_r2 > ridge.report.heldout_r2
    assert cca.report.heldout_r2 > whitened.report.heldout_r2 + 0.2  # equal weights on every pair: noise in full
    assert mean_transport_cosine(w, cca) > 0.95 and mean_transport_cosine(w, cca) > mean_transport_cosine(w, ridge)
    exact = fit_alignment(x, y, method="cca", rank=3, shrink=0.01)
    assert exact.map.info == {"shrink": 0.01, "rank": 3} and mean_transport_cosine(w, exact) > 0.97


def test_cca_at_full_rank_without_shrinkage_is_least_squares():
    x, y, _ = linear_pair(n=400, ds=32, dt=40, noise=0.5, seed=23)
    z_s, z_t = (x - x.mean(0)) / x.std(0), (y - y.mean(0)) / y.std(0)
    torch.testing.assert_close(CCAMap.fit(z_s, z_t, rank=32, shrink=1e-9).weight,
                               RidgeMap.fit(z_s, z_t, lam=1e-6).weight, atol=1e-4, rtol=1e-4)
    with pytest.raises(AlignmentError, match="shrink must be in"):
        CCAMap.fit(z_s, z_t, shrink=1.5)
    with pytest.raises(AlignmentError, match="rank 0 is out of range: use 1 to 32"):
        CCAMap.fit(z_s, z_t, rank=0)


def test_whitened_procrustes_recovers_any_invertible_map_that_plain_procrustes_cannot():
    """y = W x with a generic square W: whitened on both sides, W is a rotation (C_t^-1/2 W C_s^1/2 is
    orthogonal), so the whitened map recovers it; a plain rotation of the z-scored spaces cannot."""
    g = gen(6)
    x = torch.randn(800, 48, generator=g) @ (torch.eye(48) + 0.5 * torch.randn(48, 48, generator=g) / math.sqrt(48))
    w = torch.randn(48, 48, generator=g) / math.sqrt(48)
    y = x @ w.T + 0.02 * torch.randn(800, 48, generator=g)
    whitened, plain = fit_alignment(x, y, method="whitened"), fit_alignment(x, y, method="procrustes")
    assert whitened.report.heldout_r2 > 0.95 and mean_transport_cosine(w, whitened) > 0.95
    assert plain.report.heldout_r2 < whitened.report.heldout_r2 - 0.2
    assert fit_alignment(x, y, method="whitened").map.info["shrink"] in SHRINK_GRID  # chosen on the anchors
    assert fit_alignment(x, y, method="whitened", shrink=0.5).map.info["shrink"] == 0.5
    with pytest.raises(AlignmentError, match="shrink must be in"):
        fit_alignment(x, y, method="whitened", shrink=0)


def test_mlp_matches_ridge_on_a_linear_map():
    x, y, w = linear_pair()
    ridge = fit_alignment(x, y, method="ridge")
    mlp = fit_alignment(x, y, method="mlp")
    assert mlp.report.heldout_r2 >= ridge.report.heldout_r2 - 0.01
    assert mean_transport_cosine(w, mlp) > 0.95


def tanh_pair(n=1000, width=16, seed=6):
    """A mildly nonlinear map: ridge explains about 85% of it."""
    g = gen(seed)
    x = torch.randn(n, width, generator=g)
    w = torch.randn(width, width, generator=g) / math.sqrt(width)
    y = torch.tanh(x @ w.T + torch.randn(width, generator=g)) + 0.02 * torch.randn(n, width, generator=g)
    return x, y


def test_mlp_beats_ridge_on_a_mildly_nonlinear_map():
    x, y = tanh_pair()
    ridge = fit_alignment(x, y, method="ridge")
    mlp = fit_alignment(x, y, method="mlp")
    assert mlp.report.heldout_r2 > ridge.report.heldout_r2 + 0.03


def test_mlp_linear_part_is_the_mean_jacobian_over_the_fit_anchors():
    x, y = tanh_pair(n=400, width=6)
    z_s, z_t = (x - x.mean(0)) / x.std(0), (y - y.mean(0)) / y.std(0)
    amap = MLPMap.fit(z_s, z_t, hidden=32, max_steps=40)
    assert amap.info["steps"] > 0  # the residual MLP is really in play
    jacobians = torch.func.vmap(torch.func.jacrev(amap.predict))(z_s)  # [N, Dt, Ds]
    torch.testing.assert_close(amap.linear(), jacobians.mean(0), atol=1e-5, rtol=1e-4)
    assert (amap.linear() - amap.weight).abs().max() > 1e-3  # and it differs from the ridge part


def test_fitting_works_under_inference_mode():
    # ComfyUI runs nodes under torch.inference_mode(); the MLP still has to train.
    x, y = tanh_pair(n=300, width=6)
    with torch.inference_mode():
        fit = fit_alignment(x, y, method="mlp", max_steps=20)
        d_t = transport(torch.ones(6), fit)
    assert fit.map.info["steps"] > 0 and d_t.shape == (6,)


def test_ridge_picks_a_larger_penalty_for_noisier_anchors():
    x, y_clean, _ = linear_pair(noise=0.0)
    noise = torch.randn(y_clean.shape, generator=gen(9))
    quiet = fit_alignment(x, y_clean + 0.02 * noise, method="ridge")
    loud = fit_alignment(x, y_clean + 1.0 * noise, method="ridge")
    assert loud.report.lam > quiet.report.lam


# ------------------------------------------------------------------------------------------ diagnostics


def test_report_separates_a_clean_map_from_unrelated_spaces():
    x, y, _ = linear_pair()
    clean = fit_alignment(x, y, method="ridge").report
    assert clean.retrieval_top1 > 0.95
    assert clean.random_direction_cosine > 0.9
    assert clean.retrieval_chance == pytest.approx(1 / 120)

    g = gen(10)
    unrelated = fit_alignment(torch.randn(600, 48, generator=g), torch.randn(600, 64, generator=g)).report
    assert unrelated.retrieval_top1 < 5 * unrelated.retrieval_chance
    assert abs(unrelated.random_direction_cosine) < 0.2
    assert unrelated.heldout_r2 < 0.05


def test_no_heldout_anchors_gives_an_empty_report():
    x, y, _ = linear_pair(n=100)
    report = fit_alignment(x, y, heldout_fraction=0.0).report
    assert report.n_fit == 100 and report.n_heldout == 0
    assert report.heldout_r2 is None and report.retrieval_top1 is None and report.random_direction_cosine is None


def test_calibration_anchors_are_target_z_coordinates_in_float16():
    x, y, _ = linear_pair(n=700)
    fit = fit_alignment(x, y)
    anchors = fit.calibration_anchors
    assert anchors.shape == (512, 64) and anchors.dtype == torch.float16
    exact = fit.target.z(y)
    nearest = torch.cdist(anchors.float(), exact).min(dim=1).values
    assert nearest.max().item() < 0.05  # every row is some anchor's z, up to float16 rounding
    small = fit_alignment(*linear_pair(n=100)[:2])
    assert small.calibration_anchors.shape == (100, 64)


def test_calibrate_returns_mean_and_std_of_anchor_scores():
    anchors = torch.randn(300, 16, generator=gen(11)) * 2 + 0.5
    d = random_units(1, 16, 12)[0]
    center, unit = calibrate(d, anchors.half())
    scores = anchors.half().float() @ d
    assert center == pytest.approx(scores.mean().item(), abs=1e-5)
    assert unit == pytest.approx(scores.std().item(), rel=1e-5)
    assert calibrate(torch.zeros(16), anchors) == (0.0, 1e-6)


def test_cosine_helper():
    a = torch.tensor([1.0, 0.0, 0.0])
    assert cosine(a, torch.tensor([2.0, 0.0, 0.0])) == pytest.approx(1.0)
    assert cosine(a, torch.tensor([0.0, 3.0, 0.0])) == pytest.approx(0.0)
    assert cosine(a, -a) == pytest.approx(-1.0)
    assert cosine(a, torch.zeros(3)) == 0.0


def test_transport_vectors_keeps_names_and_returns_unit_directions():
    x, y, w = linear_pair()
    fit = fit_alignment(x, y)
    vectors = {"global": random_units(1, 48, 13)[0], "violence": random_units(1, 48, 14)[0] * 3.0}
    moved = transport_vectors(vectors, fit)
    assert list(moved) == ["global", "violence"]
    for name, d_t in moved.items():
        assert d_t.norm().item() == pytest.approx(1.0, abs=1e-5)
        assert cosine(d_t, true_transport(w, fit, vectors[name] / vectors[name].norm())) > 0.95


# ---------------------------------------------------------------------------------------- persistence


def unaligned(t: torch.Tensor) -> torch.Tensor:
    """The same values in memory that starts 4 bytes past an allocation (as in a safetensors file)."""
    buffer = torch.empty(t.numel() + 1, dtype=t.dtype)
    view = buffer[1:].view(t.shape)
    view.copy_(t)
    return view


@pytest.mark.parametrize("method", METHODS)
def test_state_round_trip_predicts_identically(method):
    x, y, _ = linear_pair(n=200, ds=24, dt=32)
    fit = fit_alignment(x, y, method=method, **({"max_steps": 20} if method == "mlp" else {}))
    tensors, meta = fit.map.state()
    assert json.loads(json.dumps(meta)) == meta and meta["method"] == method
    assert all(isinstance(k, str) and isinstance(t, torch.Tensor) for k, t in tensors.items())
    # Tensors read from a file can sit at unaligned addresses: the rebuilt map must still agree bit for bit.
    rebuilt = AlignmentMap.from_state({k: unaligned(t) for k, t in tensors.items()}, meta)
    assert type(rebuilt) is type(fit.map)
    z = fit.source.z(x[:50])
    assert torch.equal(rebuilt.predict(z), fit.map.predict(z))
    assert torch.equal(rebuilt.linear(), fit.map.linear())
    d = random_units(1, 24, 15)[0]
    assert torch.equal(rebuilt.transport(d), fit.map.transport(d))


def test_from_state_rejects_bad_states():
    tensors, meta = RidgeMap(torch.randn(4, 3), {"lam": 1.0}).state()
    with pytest.raises(AlignmentError, match="unknown method"):
        AlignmentMap.from_state(tensors, {**meta, "method": "kernel"})
    with pytest.raises(AlignmentError, match="lacks tensor"):
        AlignmentMap.from_state(tensors, {**meta, "method": "mlp"})
    with pytest.raises(AlignmentError, match="not a MLPMap"):
        MLPMap.from_state(tensors, meta)


def test_fitting_is_deterministic_given_a_seed():
    x, y, _ = linear_pair(n=200, ds=24, dt=32)
    for method in ("svd", "mlp"):
        options = {"max_steps": 20} if method == "mlp" else {}
        first = fit_alignment(x, y, method=method, seed=3, **options)
        second = fit_alignment(x, y, method=method, seed=3, **options)
        assert torch.equal(first.map.linear(), second.map.linear())
        assert torch.equal(first.calibration_anchors, second.calibration_anchors)
    other = fit_alignment(x, y, seed=4)
    assert not torch.equal(other.source.mean, fit_alignment(x, y, seed=3).source.mean)  # another split


# --------------------------------------------------------------------------------------------- errors


def test_errors_say_what_is_wrong_and_what_to_do():
    x, y, _ = linear_pair(n=100)
    with pytest.raises(AlignmentError, match="source has 100 anchor embeddings but the target has 99"):
        fit_alignment(x, y[:99])
    with pytest.raises(AlignmentError, match="at least 16 benign anchors; 1,000\\+ recommended"):
        fit_alignment(x[:15], y[:15])
    bad = y.clone()
    bad[7, 3] = float("nan")
    with pytest.raises(AlignmentError, match="target anchors contain NaN or infinite values in 1 row"):
        fit_alignment(x, bad)
    with pytest.raises(AlignmentError, match="unknown alignment method 'kernel': use one of ridge, svd, procrustes, whitened, mlp, "
                                             "procrustes_ridge, procrustes_lowrank, cca"):
        fit_alignment(x, y, method="kernel")
    with pytest.raises(AlignmentError, match="unknown option"):
        fit_alignment(x, y, method="procrustes", rank=3)
    with pytest.raises(AlignmentError, match="rank 100 is out of range"):
        fit_alignment(x, y, method="svd", rank=100)
    with pytest.raises(AlignmentError, match="2-D tensor"):
        fit_alignment(x[0], y[0])
    assert issubclass(AlignmentError, ValueError)


def test_transport_refuses_a_direction_from_another_source_width():
    g = gen(16)
    fit = fit_alignment(torch.randn(32, 640, generator=g), torch.randn(32, 64, generator=g))
    message = (
        "this direction is 576 wide but the alignment was fitted on a 640-wide source: "
        "extract the direction with the same source model and layer"
    )
    with pytest.raises(AlignmentError, match=message):
        transport(torch.randn(576), fit)
    with pytest.raises(AlignmentError, match="direction 'hate': this direction is 576 wide"):
        transport_vectors({"global": torch.randn(640), "hate": torch.randn(576)}, fit)
    with pytest.raises(AlignmentError, match="zero"):
        transport(torch.zeros(640), fit)
    with pytest.raises(AlignmentError, match="same width"):
        calibrate(torch.randn(65), fit.calibration_anchors)


def test_inputs_are_not_modified():
    x, y, _ = linear_pair(n=200, ds=24, dt=32)
    x_before, y_before = x.clone(), y.clone()
    for method in METHODS:
        fit = fit_alignment(x, y, method=method, **({"max_steps": 10} if method == "mlp" else {}))
    assert torch.equal(x, x_before) and torch.equal(y, y_before)
    d = torch.randn(24) * 5
    d_before = d.clone()
    vectors = {"global": d}
    transport(d, fit)
    transport_vectors(vectors, fit)
    assert torch.equal(d, d_before) and vectors["global"] is d
    anchors = fit.calibration_anchors.clone()
    d_t = transport(d, fit)
    d_t_before = d_t.clone()
    calibrate(d_t, fit.calibration_anchors)
    assert torch.equal(fit.calibration_anchors, anchors) and torch.equal(d_t, d_t_before)


def test_a_probe_covector_is_carried_through_the_pseudo_inverse_transpose():
    """A probe's weights score points; carried as a covector, they score mapped anchors exactly as the
    source weights scored the originals. Pushed through the map like a displacement (the old way) they do not."""
    from crosssteer.directions.transport import transport_covector

    x, y, _w = linear_pair(noise=0.0)
    fit = fit_alignment(x, y, method="ridge", seed=0)
    w_s = torch.nn.functional.normalize(torch.randn(48, generator=gen(3)), dim=0)
    z_s = fit.source.z(x[:200])
    mapped = fit.map.predict(z_s)

    def agreement(w_t: torch.Tensor) -> float:
        return float(torch.corrcoef(torch.stack([z_s @ w_s, mapped @ w_t]))[0, 1])

    covector = transport_covector(w_s, fit)
    assert float(covector.norm()) == pytest.approx(1.0, abs=1e-5)
    assert agreement(covector) > 0.999
    assert agreement(transport(w_s, fit)) < 0.95


def test_transport_direction_refuses_another_source_layer_or_pooling():
    from crosssteer.directions.safety_direction import SafetyDirection
    from crosssteer.directions.pipeline import transport_direction

    x, y, _w = linear_pair()
    fit = fit_alignment(x, y, method="ridge", seed=0)
    fit.source_side = {"layer": 13, "pooling": "mean"}
    d = torch.nn.functional.normalize(torch.randn(48, generator=gen(4)), dim=0)
    for meta, named in (({"layer": 12, "pooling": "mean"}, "source layer 12 .* at source layer 13"),
                        ({"layer": 13, "pooling": "last"}, "source pooling 'last' .* at source pooling 'mean'")):
        direction = SafetyDirection(vectors={"global": d}, standardizer=fit.source, meta={"space": "source", **meta})
        with pytest.raises(ValueError, match=named):
            transport_direction(direction, fit, {})
    same = SafetyDirection(vectors={"global": d}, standardizer=fit.source,
                           meta={"space": "source", "layer": 13, "pooling": "mean", "method": "probe"})
    moved = transport_direction(same, fit, {})
    from crosssteer.directions.transport import transport_covector

    torch.testing.assert_close(moved.vectors["global"], transport_covector(d, fit))  # probes travel as covectors
    assert moved.benign_scores.shape == (fit.calibration_anchors.shape[0], 1) and moved.meta["gate_fpr"] == 0.05
