"""Full evaluation (kernels/objectives.py, kernels/geo.py) against the plain reference of §3."""

import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.arrays import (
    N_RULES,
    OBJECTIVE_NAMES,
    RULE_NAMES,
    AccountArrays,
    DistanceArrays,
    RepArrays,
    RuleArrays,
)
from kernels.geo import account_rep_distance, unit_vectors
from kernels.objectives import N_SUMS, SUM_NAMES, count_islands, evaluate_design
from tests.kernels.kernel_instances import (
    State,
    close,
    random_assignment,
    random_plain_instance,
    sum_scales,
    to_arrays,
    violation_scales,
)
from tests.kernels.reference import EARTH_RADIUS_KM, PlainInstance, evaluate, haversine_km

SEEDS = st.integers(min_value=0, max_value=2**63 - 1)


@settings(max_examples=200, deadline=None)
@given(seed=SEEDS)
def test_full_evaluation_matches_reference(seed):
    rng = np.random.default_rng(seed)
    inst = random_plain_instance(rng)
    assignment = random_assignment(rng, inst)
    state = State(to_arrays(inst), assignment)
    expected = evaluate(inst, assignment.tolist())

    for m, row in enumerate(inst.measures):
        size = sum(abs(x) for x in row)
        assert close(state.grand_totals[m], expected["grand_totals"][m], size)
        for j in range(inst.n_reps):
            assert close(state.totals[m, j], expected["totals"][m][j], size), (m, j)
    scales = sum_scales(inst, expected["sums"])
    for s, name in enumerate(SUM_NAMES):
        assert close(state.sums[s], expected["sums"][name], scales[name]), name
    for o, name in enumerate(OBJECTIVE_NAMES):
        assert close(state.objectives[o], expected["objectives"][name]), name
    scales = violation_scales(inst)
    for r, name in enumerate(RULE_NAMES):
        assert close(state.violations[r], expected["violations"][name], scales[name]), name


@settings(max_examples=100, deadline=None)
@given(seed=SEEDS)
def test_distance_is_haversine_times_circuity(seed):
    rng = np.random.default_rng(seed)
    n = 50
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lon = rng.uniform(-180, 180, n)
    rep_lat = np.concatenate([lat[:5], -lat[5:10], rng.uniform(-90, 90, 5)])
    rep_lon = np.concatenate([lon[:5], lon[5:10] + 180.0, rng.uniform(-180, 180, 5)])
    account_xyz = unit_vectors(lat, lon)
    rep_xyz = unit_vectors(rep_lat, rep_lon)
    circuity = float(rng.uniform(1.0, 1.6))
    distance = DistanceArrays(np.zeros((0, 0)), circuity, EARTH_RADIUS_KM)
    for i in range(n):
        for j in range(rep_lat.shape[0]):
            got = account_rep_distance(i, j, account_xyz, rep_xyz, distance)
            want = circuity * haversine_km(lat[i], lon[i], rep_lat[j], rep_lon[j])
            # Antipodes: asin and the haversine both lose digits as the half chord nears 1.
            near_antipode = want > 0.999999 * circuity * math.pi * EARTH_RADIUS_KM
            assert math.isclose(got, want, rel_tol=1e-6 if near_antipode else 1e-9, abs_tol=1e-9)
    assert account_rep_distance(0, 0, account_xyz, rep_xyz, distance) == 0.0


def test_explicit_matrix_replaces_great_circle_and_circuity():
    matrix = np.array([[3.0, 7.5], [0.0, 2.0]])
    xyz = unit_vectors([10.0, 20.0], [30.0, 40.0])
    distance = DistanceArrays(matrix, 1.3, EARTH_RADIUS_KM)
    assert account_rep_distance(0, 1, xyz, xyz, distance) == 7.5
    assert account_rep_distance(1, 0, xyz, xyz, distance) == 0.0


def test_unit_vectors_have_unit_length():
    xyz = unit_vectors([90.0, -90.0, 0.0, 45.5], [0.0, 10.0, -180.0, 123.0])
    assert xyz.flags.c_contiguous and xyz.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(xyz, axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(xyz[0], [0.0, 0.0, 1.0], atol=1e-16)


def _tiny_instance(**changes):
    """Three accounts, two reps, every rule off: a base for the convention tests."""
    fields = dict(
        lat=[40.0, 41.0, 42.0],
        lon=[-100.0, -101.0, -102.0],
        measures=[[100.0, 200.0, 300.0], [10.0, 20.0, 30.0], [1.0, 1.0, 1.0]],
        current_rep=[0, 1, -1],
        segment=[0, 0, 0],
        region=[0, 0, 0],
        locked=[False, False, False],
        protected=[False, False, False],
        barred=[set(), set(), set()],
        rep_lat=[40.0, 42.0],
        rep_lon=[-100.0, -102.0],
        capacity=[1000.0, 1000.0],
        leaving=[False, False],
        skills=[set(), set()],
        specialist=[False, False],
        regions=[None, None],
        matrix=None,
        circuity=1.3,
        neighbours=[[1], [0, 2], [1]],
        rules_on=dict.fromkeys(RULE_NAMES, False),
        band_tolerance=[math.inf] * 3,
        capacity_slack=0.0,
        min_accounts=0.0,
        max_accounts=10.0,
        max_potential_change=0.1,
        max_moved=0.0,
        max_moved_potential=0.0,
    )
    fields.update(changes)
    return PlainInstance(**fields)


def test_leaving_rep_adds_no_imbalance_term():
    inst = _tiny_instance(leaving=[False, True])
    state = State(to_arrays(inst), [0, 1, 0])
    # Rep 0 holds 400 of 600 with s_0 = 1; rep 1 (s = 0) is not a term.
    assert state.objectives[0] == pytest.approx(abs(400.0 / 600.0 - 1.0))


def test_zero_denominators_give_zero():
    inst = _tiny_instance(measures=[[0.0, 0.0, 0.0], [10.0, 20.0, 30.0], [1.0, 1.0, 1.0]])
    state = State(to_arrays(inst), [-1, -1, -1])
    assert list(state.objectives) == [0.0, pytest.approx(1.0), 0.0, 0.0, 0.0]
    assert state.sums[SUM_NAMES.index("unassigned")] == 3.0


def test_unassigning_a_held_account_counts_as_moved():
    inst = _tiny_instance()
    state = State(to_arrays(inst), [-1, 1, 0])
    assert state.sums[SUM_NAMES.index("moved")] == 1.0
    assert state.objectives[OBJECTIVE_NAMES.index("disruption")] == pytest.approx(100.0 / 600.0)


def test_switched_off_rules_report_zero():
    inst = _tiny_instance(locked=[True, False, False], capacity=[1.0, 1.0])
    assert not State(to_arrays(inst), [1, 1, 1]).violations.any()


@pytest.mark.parametrize(
    ("assignment", "islands"),
    [
        ([0, 0, 0, 0, 0], 0.0),
        ([0, 1, 0, 1, 0], 2.0 + 1.0),
        ([0, 0, 1, 1, -1], 0.0),
        ([0, -1, 0, 2, 2], 1.0),
        ([-1, -1, -1, -1, -1], 0.0),
    ],
)
def test_count_islands_on_a_path(assignment, islands):
    # Path 0-1-2-3-4.
    ptr = np.array([0, 1, 3, 5, 7, 8], dtype=np.int64)
    neighbour = np.array([1, 0, 2, 1, 3, 2, 4, 3], dtype=np.int64)
    got = count_islands(np.array(assignment, dtype=np.int64), 3, ptr, neighbour)
    assert got == islands


def large_instance(n_accounts, n_reps, seed):
    """A larger random design, built with NumPy, with every rule on."""
    rng = np.random.default_rng(seed)
    lat = rng.uniform(25.0, 49.0, n_accounts)
    lon = rng.uniform(-125.0, -67.0, n_accounts)
    measures = np.vstack(
        [
            rng.lognormal(10.0, 1.5, n_accounts),
            rng.lognormal(3.0, 0.5, n_accounts),
            np.ones(n_accounts),
            rng.gamma(2.0, 10.0, n_accounts),
        ]
    )
    current = rng.integers(-1, n_reps, n_accounts)
    design = rng.integers(-1, n_reps, n_accounts)
    barred_ptr = np.concatenate([[0], np.cumsum(rng.integers(0, 2, n_accounts))])
    neighbour_ptr = np.arange(n_accounts + 1, dtype=np.int64)
    neighbour = (np.arange(n_accounts, dtype=np.int64) + 1) % n_accounts
    accounts = AccountArrays(
        measures=measures,
        current_rep=current,
        segment=rng.integers(0, 4, n_accounts),
        region=rng.integers(0, 5, n_accounts),
        locked=(current >= 0) & (rng.random(n_accounts) < 0.1),
        protected=measures[0] > np.quantile(measures[0], 0.95),
        barred_ptr=barred_ptr.astype(np.int64),
        barred_rep=rng.integers(0, n_reps, barred_ptr[-1]),
        xyz=unit_vectors(lat, lon),
        neighbour_ptr=neighbour_ptr,
        neighbour=neighbour,
    )
    capacity = rng.uniform(500.0, 3000.0, n_reps)
    leaving = rng.random(n_reps) < 0.1
    share = np.where(leaving, 0.0, capacity)
    skill = rng.random((n_reps, 4)) < 0.3
    reps = RepArrays(
        capacity=capacity,
        target_share=share / share.sum(),
        baseline_potential=np.bincount(current[current >= 0], measures[0][current >= 0], n_reps),
        skill=skill,
        has_skills=skill.any(axis=1),
        specialist=rng.random(n_reps) < 0.2,
        region_ok=rng.random((n_reps, 5)) < 0.8,
        leaving=leaving,
        xyz=unit_vectors(rng.uniform(25.0, 49.0, n_reps), rng.uniform(-125.0, -67.0, n_reps)),
    )
    rules = RuleArrays(
        on=np.ones(N_RULES, dtype=np.bool_),
        band_tolerance=np.array([0.1, 0.2, np.inf, 0.3]),
        capacity_slack=0.1,
        min_accounts=float(n_accounts // n_reps),
        max_accounts=float(n_accounts // n_reps),
        max_potential_change=0.08,
        max_moved=float(n_accounts // 10),
        max_moved_potential=float(measures[0].sum() * 0.1),
        max_distance=500.0,
    )
    distance = DistanceArrays(np.zeros((0, 0)), 1.3, EARTH_RADIUS_KM)
    return design.astype(np.int64), accounts, reps, distance, rules


def _evaluate(design, accounts, reps, distance, rules):
    out = (
        np.zeros((accounts.measures.shape[0], reps.capacity.shape[0])),
        np.zeros(accounts.measures.shape[0]),
        np.zeros(N_SUMS),
        np.zeros(N_RULES),
    )
    evaluate_design(design, accounts, reps, distance, rules, *out)
    return out


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")
def test_full_evaluation_is_bit_identical_for_one_and_two_threads():
    problem = large_instance(20_000, 40, seed=7)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _evaluate(*problem)
        numba.set_num_threads(2)
        two = _evaluate(*problem)
    finally:
        numba.set_num_threads(threads)
    for a, b in zip(one, two, strict=True):
        assert a.tobytes() == b.tobytes()
    assert one[3].all()  # every rule is on and broken somewhere: all paths ran
