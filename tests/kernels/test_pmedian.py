"""p-median kernels against a brute-force reference on small instances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine.errors import TerrasimError
from engine.greenfield import choose_centres, choose_centres_geo
from kernels import pmedian


def brute_force(distance: np.ndarray, weights: np.ndarray, p: int) -> float:
    """The optimum by enumerating every p-subset of candidates."""
    best = np.inf
    for centres in itertools.combinations(range(distance.shape[1]), p):
        best = min(best, float(weights @ distance[:, list(centres)].min(axis=1)))
    return best


def plain_objective(distance: np.ndarray, weights: np.ndarray, centres) -> float:
    return float(
        sum(w * min(row[c] for c in centres) for w, row in zip(weights, distance, strict=True))
    )


def random_instance(seed: int, n_points: int, n_candidates: int, integer: bool):
    rng = np.random.default_rng(seed)
    if integer:  # small integer distances: many ties
        distance = rng.integers(0, 6, size=(n_points, n_candidates)).astype(np.float64)
        weights = np.ones(n_points)
    else:  # planar points, weighted
        points = rng.random((n_points, 2))
        sites = rng.random((n_candidates, 2))
        distance = np.linalg.norm(points[:, None, :] - sites[None, :, :], axis=2)
        weights = rng.gamma(2.0, size=n_points)
    return distance, weights


CASES = [
    # seed, n_points, n_candidates, p, integer distances
    (seed, n, m, p, integer)
    for seed, (n, m) in enumerate([(12, 12), (10, 12), (12, 8), (9, 9), (12, 11)])
    for p in (1, 2, 3, 4)
    for integer in (False, True)
]


@pytest.mark.parametrize("seed,n_points,n_candidates,p,integer", CASES)
def test_choose_centres_finds_the_brute_force_optimum(seed, n_points, n_candidates, p, integer):
    distance, weights = random_instance(seed, n_points, n_candidates, integer)
    result = choose_centres(distance, p, weights, seed=seed, restarts=3)
    optimum = brute_force(distance, weights, p)
    assert result.objective == pytest.approx(optimum, rel=1e-12, abs=1e-12)
    assert result.objective == pytest.approx(
        plain_objective(distance, weights, result.centres), rel=1e-12, abs=1e-12
    )
    assert result.centres.dtype == np.int64 and result.centres.shape == (p,)
    assert len(set(result.centres.tolist())) == p
    served = distance[np.arange(n_points), result.assignment]
    assert np.all(np.isin(result.assignment, result.centres))
    np.testing.assert_array_equal(served, distance[:, result.centres].min(axis=1))


def test_every_candidate_chosen_when_p_equals_their_number():
    distance, weights = random_instance(3, 6, 4, integer=False)
    result = choose_centres(distance, 4, weights)
    np.testing.assert_array_equal(result.centres, np.arange(4))
    assert result.objective == pytest.approx(plain_objective(distance, weights, range(4)))


def test_incremental_tables_match_a_rebuild_after_random_swaps():
    distance, weights = random_instance(7, 30, 25, integer=True)
    n, m = distance.shape
    p = 5
    problem = pmedian.new_problem(distance, weights)
    rng = np.random.default_rng(1)
    state = pmedian.new_state(n, m, p)
    pmedian.seed_centres(problem, rng, state.solution)
    pmedian.rebuild(problem, state)
    for _ in range(40):
        outside = np.flatnonzero(state.slot_of < 0)
        f_in, slot = int(rng.choice(outside)), int(rng.integers(p))
        before = plain_objective(distance, weights, state.solution)
        predicted = (
            state.loss[slot] - state.gain[f_in] - state.extra[f_in, slot]
        )  # objective change of this swap
        pmedian.apply_swap(problem, state, f_in, slot)
        after = plain_objective(distance, weights, state.solution)
        assert after - before == pytest.approx(predicted, abs=1e-9)
        fresh = pmedian.new_state(n, m, p)
        fresh.solution[:] = state.solution
        pmedian.rebuild(problem, fresh)
        np.testing.assert_allclose(state.gain, fresh.gain, atol=1e-9)
        np.testing.assert_allclose(state.loss, fresh.loss, atol=1e-9)
        np.testing.assert_allclose(state.extra, fresh.extra, atol=1e-9)
        np.testing.assert_array_equal(state.dist1, fresh.dist1)
        np.testing.assert_array_equal(state.dist2, fresh.dist2)


def test_best_swap_reports_the_true_improvement():
    distance, weights = random_instance(11, 40, 40, integer=False)
    n, m = distance.shape
    problem = pmedian.new_problem(distance, weights)
    state = pmedian.new_state(n, m, 4)
    state.solution[:] = [0, 1, 2, 3]
    pmedian.rebuild(problem, state)
    f_in, slot, improvement = pmedian.best_swap(state, 0.0)
    before = plain_objective(distance, weights, state.solution)
    trial = state.solution.copy()
    trial[slot] = f_in
    assert before - plain_objective(distance, weights, trial) == pytest.approx(improvement)
    # No other swap does better.
    for f in range(4, m):
        for s in range(4):
            other = state.solution.copy()
            other[s] = f
            assert plain_objective(distance, weights, other) >= before - improvement - 1e-9


def test_objective_kernel_equals_a_plain_sum():
    distance, weights = random_instance(5, 20, 15, integer=False)
    centres = np.array([3, 7, 11], dtype=np.int64)
    assert pmedian.pmedian_objective(distance, weights, centres) == pytest.approx(
        plain_objective(distance, weights, centres), rel=1e-14
    )


def test_same_seed_gives_the_same_centres_and_another_seed_another_search():
    distance, weights = random_instance(2, 60, 60, integer=False)
    first = choose_centres(distance, 6, weights, seed=4, restarts=2)
    again = choose_centres(distance, 6, weights, seed=4, restarts=2)
    np.testing.assert_array_equal(first.centres, again.centres)
    np.testing.assert_array_equal(first.assignment, again.assignment)
    assert first.objective == again.objective and first.iterations == again.iterations
    problem = pmedian.new_problem(distance, weights)
    starts = []
    for seed in (4, 5):
        out = np.empty(6, dtype=np.int64)
        pmedian.seed_centres(problem, np.random.default_rng(seed), out)
        starts.append(out)
    assert not np.array_equal(starts[0], starts[1])


def test_weighted_accounts_pull_the_centre():
    # Three accounts on a line; the heavy one at the end gets the single centre.
    positions = np.array([0.0, 1.0, 2.0])
    distance = np.abs(positions[:, None] - positions[None, :])
    assert choose_centres(distance, 1).centres.tolist() == [1]
    heavy = choose_centres(distance, 1, np.array([1.0, 1.0, 10.0]))
    assert heavy.centres.tolist() == [2]
    assert heavy.objective == pytest.approx(3.0)


def haversine_km(lat1, lon1, lat2, lon2):
    lat1, lon1, lat2, lon2 = map(np.radians, (lat1, lon1, lat2, lon2))
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * np.arcsin(np.sqrt(h))


def clustered_accounts(seed: int, n: int, n_metros: int):
    rng = np.random.default_rng(seed)
    metros = rng.uniform([30.0, -120.0], [45.0, -75.0], size=(n_metros, 2))
    metro = rng.integers(0, n_metros, n)
    lat = metros[metro, 0] + rng.normal(0, 0.3, n)
    lon = metros[metro, 1] + rng.normal(0, 0.3, n)
    return lat, lon, rng.lognormal(0.0, 1.0, n), metro


def test_great_circle_matrix_equals_haversine_times_scale():
    from kernels.geo import unit_vectors

    lat, lon, _, _ = clustered_accounts(0, 30, 4)
    xyz = unit_vectors(lat, lon)
    out = np.empty((30, 10))
    pmedian.great_circle_matrix(xyz, np.ascontiguousarray(xyz[:10]), 1.3 * 6371.0, out)
    reference = 1.3 * haversine_km(lat[:, None], lon[:, None], lat[None, :10], lon[None, :10])
    np.testing.assert_allclose(out, reference, rtol=1e-9, atol=1e-9)


def test_geo_centres_equal_the_matrix_search_on_haversine_distances():
    lat, lon, weights, _ = clustered_accounts(1, 80, 5)
    geo = choose_centres_geo(lat, lon, 5, weights, circuity=1.2, seed=3, restarts=2)
    distance = 1.2 * haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    plain = choose_centres(distance, 5, weights, seed=3, restarts=2)
    assert geo.objective == pytest.approx(plain.objective, rel=1e-9)
    assert geo.objective == pytest.approx(plain_objective(distance, weights, geo.centres), rel=1e-9)


def test_geo_with_sampled_sites_and_pooled_weights_serves_every_account_exactly():
    # 30,000 accounts × 200 sites exceeds the matrix cap: the search serves pooled sites.
    lat, lon, weights, metro = clustered_accounts(2, 30_000, 6)
    result = choose_centres_geo(lat, lon, 6, weights, seed=0, max_candidates=200, restarts=1)
    assert result.centres.shape == (6,) and len(set(result.centres.tolist())) == 6
    # One centre per metro: the metros are hundreds of km apart, accounts within ~50 km.
    assert sorted(metro[result.centres].tolist()) == list(range(6))
    to_centres = 1.3 * haversine_km(
        lat[:, None], lon[:, None], lat[None, result.centres], lon[None, result.centres]
    )
    served = to_centres.min(axis=1)
    np.testing.assert_array_equal(result.assignment, result.centres[to_centres.argmin(axis=1)])
    assert result.objective == pytest.approx(float(weights @ served), rel=1e-9)


def test_sampled_sites_are_distinct_and_seeded():
    from kernels.geo import unit_vectors

    lat, lon, weights, _ = clustered_accounts(4, 500, 3)
    xyz = unit_vectors(lat, lon)
    draws = []
    for seed in (0, 0, 1):
        out = np.empty(100, dtype=np.int64)
        pmedian.sample_sites(xyz, weights, np.random.default_rng(seed), out)
        assert len(set(out.tolist())) == 100
        draws.append(out)
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])


def test_bad_inputs_are_user_errors():
    distance = np.ones((4, 3))
    with pytest.raises(TerrasimError, match="p must be"):
        choose_centres(distance, 4)
    with pytest.raises(TerrasimError, match="finite"):
        choose_centres(np.full((4, 3), np.nan), 2)
    with pytest.raises(TerrasimError, match="weights"):
        choose_centres(distance, 2, np.array([1.0, -1.0, 1.0, 1.0]))
    with pytest.raises(TerrasimError, match="out of range"):
        choose_centres_geo(np.array([91.0, 0.0]), np.array([0.0, 0.0]), 1)
