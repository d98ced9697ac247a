"""Benchmarks of the objective kernels (DESIGN §3, §4) beside NumPy baselines of the same work.

Full evaluation at xl size (1,000,000 accounts x 2,000 reps) on one and two threads, and
weighted shift deltas per second on one core, with candidate distances cached or computed.
Run with `pytest tests/benchmarks/test_kernels_bench.py -m slow --benchmark-enable`.
"""

from __future__ import annotations

import time

import numba
import numpy as np
import pytest
from scipy.spatial import cKDTree

from kernels.arrays import (
    N_OBJECTIVES,
    N_RULES,
    RULE_BALANCE,
    RULE_CAPACITY,
    RULE_LEAVING,
    RULE_LOCKED,
    RULE_REGIONS,
    RULE_SPECIALISTS,
    AccountArrays,
    DistanceArrays,
    RepArrays,
    RuleArrays,
)
from kernels.deltas import shift_deltas_weighted
from kernels.geo import unit_vectors
from kernels.objectives import (
    N_SUMS,
    SUM_ASSIGNED_WORKLOAD,
    SUM_SQUARES_POTENTIAL,
    SUM_SQUARES_WORKLOAD,
    SUM_TRAVEL,
    evaluate_design,
    objectives_from_sums,
)

N_ACCOUNTS = 1_000_000
N_REPS = 2_000
N_CANDIDATES = 10  # 10 million deltas per sweep over all accounts
N_SEGMENTS = 6
N_REGIONS = 50
RADIUS_KM = 6371.0
CIRCUITY = 1.3
# The rules a benchmark run switches on; the NumPy baselines compute the same ones.
RULES_ON = (RULE_LOCKED, RULE_REGIONS, RULE_SPECIALISTS, RULE_CAPACITY, RULE_BALANCE, RULE_LEAVING)
OBJECTIVE_WEIGHT = np.array([1.0, 1.0, 1e-3, 1.0, 0.5])
PENALTY_WEIGHT = np.full(N_RULES, 10.0)


class Problem:
    """An xl design with its state, candidate lists and candidate distances."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        metro_lat = rng.uniform(26.0, 48.0, 300)
        metro_lon = rng.uniform(-123.0, -70.0, 300)
        metro = rng.integers(0, 300, N_ACCOUNTS)
        lat = np.clip(metro_lat[metro] + rng.normal(0.0, 0.6, N_ACCOUNTS), -90.0, 90.0)
        lon = metro_lon[metro] + rng.normal(0.0, 0.8, N_ACCOUNTS)
        home = rng.integers(0, 300, N_REPS)
        rep_lat = metro_lat[home] + rng.normal(0.0, 0.6, N_REPS)
        rep_lon = metro_lon[home] + rng.normal(0.0, 0.8, N_REPS)
        account_xyz = unit_vectors(lat, lon)
        rep_xyz = unit_vectors(rep_lat, rep_lon)
        _, nearest = cKDTree(rep_xyz).query(account_xyz, k=N_CANDIDATES)
        self.candidate_rep = np.ascontiguousarray(nearest, dtype=np.int64)
        current = self.candidate_rep[:, 0].copy()
        design = current.copy()
        changed = rng.random(N_ACCOUNTS) < 0.1
        design[changed] = self.candidate_rep[changed, rng.integers(1, N_CANDIDATES, changed.sum())]
        self.design = design
        measures = np.vstack(
            [
                rng.lognormal(10.0, 1.5, N_ACCOUNTS),
                rng.lognormal(3.0, 0.5, N_ACCOUNTS),
                np.ones(N_ACCOUNTS),
            ]
        )
        self.accounts = AccountArrays(
            measures=measures,
            current_rep=current,
            segment=rng.integers(0, N_SEGMENTS, N_ACCOUNTS),
            region=rng.integers(0, N_REGIONS, N_ACCOUNTS),
            locked=rng.random(N_ACCOUNTS) < 0.05,
            protected=np.zeros(N_ACCOUNTS, dtype=np.bool_),
            barred_ptr=np.zeros(N_ACCOUNTS + 1, dtype=np.int64),
            barred_rep=np.zeros(0, dtype=np.int64),
            xyz=account_xyz,
            neighbour_ptr=np.zeros(N_ACCOUNTS + 1, dtype=np.int64),
            neighbour=np.zeros(0, dtype=np.int64),
        )
        capacity = rng.uniform(1500.0, 2500.0, N_REPS)
        leaving = rng.random(N_REPS) < 0.01
        share = np.where(leaving, 0.0, capacity)
        skill = rng.random((N_REPS, N_SEGMENTS)) < 0.2
        self.reps = RepArrays(
            capacity=capacity,
            target_share=share / share.sum(),
            baseline_potential=np.bincount(current, measures[0], N_REPS),
            skill=skill,
            has_skills=skill.any(axis=1),
            specialist=skill.any(axis=1) & (rng.random(N_REPS) < 0.05),
            region_ok=rng.random((N_REPS, N_REGIONS)) < 0.95,
            leaving=leaving,
            xyz=rep_xyz,
        )
        self.distance = DistanceArrays(np.zeros((0, 0)), CIRCUITY, RADIUS_KM)
        on = np.zeros(N_RULES, dtype=np.bool_)
        on[list(RULES_ON)] = True
        self.rules = RuleArrays(
            on=on,
            band_tolerance=np.array([0.1, 0.1, np.inf]),
            capacity_slack=0.1,
            min_accounts=0.0,
            max_accounts=1e9,
            max_potential_change=0.1,
            max_moved=1e9,
            max_moved_potential=1e18,
        )
        self.totals = np.zeros((3, N_REPS))
        self.grand_totals = np.zeros(3)
        self.sums = np.zeros(N_SUMS)
        self.violations = np.zeros(N_RULES)
        self.objectives = np.zeros(N_OBJECTIVES)
        self.evaluate()
        self.candidate_distance = np.empty((N_ACCOUNTS, N_CANDIDATES))
        for c in range(N_CANDIDATES):
            self.candidate_distance[:, c] = great_circle(account_xyz, rep_xyz[nearest[:, c]])
        self.current_distance = great_circle(account_xyz, rep_xyz[design])

    def evaluate(self):
        evaluate_design(
            self.design,
            self.accounts,
            self.reps,
            self.distance,
            self.rules,
            self.totals,
            self.grand_totals,
            self.sums,
            self.violations,
        )
        objectives_from_sums(self.sums, self.grand_totals, self.objectives)
        return self.objectives


def great_circle(account_xyz, rep_xyz):
    gap = account_xyz - rep_xyz
    half_chord = np.minimum(0.5 * np.sqrt(np.einsum("ij,ij->i", gap, gap)), 1.0)
    return CIRCUITY * 2.0 * RADIUS_KM * np.arcsin(half_chord)


def numpy_objectives(problem):
    """The five objectives of DESIGN §3 vectorised with NumPy: the full-evaluation baseline."""
    accounts, reps, design = problem.accounts, problem.reps, problem.design
    potential, workload = accounts.measures[0], accounts.measures[1]
    held = design >= 0
    rep = design[held]
    share = reps.target_share
    staying = share > 0

    def imbalance(values):
        total = np.bincount(rep, values[held], N_REPS)
        target = share[staying] * values.sum()
        return np.sqrt((share[staying] * (total[staying] / target - 1.0) ** 2).sum())

    distance = great_circle(accounts.xyz[held], reps.xyz[rep])
    current = accounts.current_rep
    moved = (current >= 0) & (design != current)
    mismatched = reps.has_skills[rep] & ~reps.skill[rep, accounts.segment[held]]
    return np.array(
        [
            imbalance(potential),
            imbalance(workload),
            (workload[held] * distance).sum() / workload[held].sum(),
            potential[moved].sum() / potential.sum(),
            potential[held][mismatched].sum() / potential.sum(),
        ]
    )


def numpy_shift_deltas(problem, rules, accounts_index, candidate_distance, current_distance):
    """Weighted shift deltas of a batch of accounts to their candidates, vectorised.

    The same quantities as `shift_deltas_weighted` for the benchmark's rules: every
    account is assigned and no territory empties at this size.
    """
    accounts, reps = problem.accounts, problem.reps
    totals, grand, sums = problem.totals, problem.grand_totals, problem.sums
    i = np.repeat(accounts_index, N_CANDIDATES)
    b = problem.candidate_rep[accounts_index].ravel()
    d_b = candidate_distance.ravel()
    a = problem.design[i]
    x = accounts.measures[:, i]
    inverse_share = np.where(reps.target_share > 0, 1.0 / np.maximum(reps.target_share, 1e-300), 0)
    inverse_grand = 1.0 / grand

    def squares(total, j, m):
        inverse_target = inverse_share[j] * inverse_grand[m]
        return reps.target_share[j] * (total * inverse_target - 1.0) ** 2

    def band(total, j, m):
        inverse_target = inverse_share[j] * inverse_grand[m]
        excess = np.maximum(0.0, np.abs(total * inverse_target - 1.0) - rules.band_tolerance[m])
        return np.where(inverse_target != 0, excess, 0.0)

    total = np.zeros(i.shape[0])
    for m, objective, key in ((0, 0, SUM_SQUARES_POTENTIAL), (1, 1, SUM_SQUARES_WORKLOAD)):
        after = (
            sums[key]
            - squares(totals[m, a], a, m)
            - squares(totals[m, b], b, m)
            + squares(totals[m, a] - x[m], a, m)
            + squares(totals[m, b] + x[m], b, m)
        )
        total += OBJECTIVE_WEIGHT[objective] * (np.sqrt(after) - np.sqrt(sums[key]))
    workload, potential = x[1], x[0]
    travel = (
        sums[SUM_TRAVEL] + workload * d_b - workload * np.repeat(current_distance, N_CANDIDATES)
    )
    total += OBJECTIVE_WEIGHT[2] * (travel - sums[SUM_TRAVEL]) / sums[SUM_ASSIGNED_WORKLOAD]
    current = accounts.current_rep[i]
    moved_change = (b != current).astype(float) - (a != current)
    total += OBJECTIVE_WEIGHT[3] * moved_change * potential * inverse_grand[0]
    skill_b = reps.skill[b, accounts.segment[i]]
    skill_a = reps.skill[a, accounts.segment[i]]
    mismatch_change = (reps.has_skills[b] & ~skill_b).astype(float) - (
        reps.has_skills[a] & ~skill_a
    )
    total += OBJECTIVE_WEIGHT[4] * mismatch_change * potential * inverse_grand[0]
    if rules.on[RULE_CAPACITY]:
        limit = reps.capacity * (1.0 + rules.capacity_slack)
        total += PENALTY_WEIGHT[RULE_CAPACITY] * (
            np.maximum(0.0, totals[1, a] - workload - limit[a])
            - np.maximum(0.0, totals[1, a] - limit[a])
            + np.maximum(0.0, totals[1, b] + workload - limit[b])
            - np.maximum(0.0, totals[1, b] - limit[b])
        )
    if rules.on[RULE_BALANCE]:
        for m in np.flatnonzero(np.isfinite(rules.band_tolerance)):
            total += PENALTY_WEIGHT[RULE_BALANCE] * (
                band(totals[m, a] - x[m], a, m)
                - band(totals[m, a], a, m)
                + band(totals[m, b] + x[m], b, m)
                - band(totals[m, b], b, m)
            )
    if rules.on[RULE_LOCKED]:
        locked = accounts.locked[i] * ((b != current).astype(float) - (a != current))
        total += PENALTY_WEIGHT[RULE_LOCKED] * locked
    if rules.on[RULE_REGIONS]:
        region = accounts.region[i]
        outside = (~reps.region_ok[b, region]).astype(float) - ~reps.region_ok[a, region]
        total += PENALTY_WEIGHT[RULE_REGIONS] * outside
    if rules.on[RULE_SPECIALISTS]:
        off_skill = (reps.specialist[b] & ~skill_b).astype(float) - (reps.specialist[a] & ~skill_a)
        total += PENALTY_WEIGHT[RULE_SPECIALISTS] * off_skill
    if rules.on[RULE_LEAVING]:
        leaving = reps.leaving[b].astype(float) - reps.leaving[a]
        total += PENALTY_WEIGHT[RULE_LEAVING] * leaving
    return np.where(b == a, 0.0, total).reshape(-1, N_CANDIDATES)


def best_seconds(function, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


@pytest.fixture(scope="module")
def xl():
    return Problem()


@pytest.fixture
def numba_threads():
    before = numba.get_num_threads()
    yield numba.set_num_threads
    numba.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
def test_full_evaluation_xl(benchmark, xl, threads, numba_threads):
    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip(f"needs {threads} Numba threads")
    numba_threads(threads)
    expected = numpy_objectives(xl)
    baseline = best_seconds(lambda: numpy_objectives(xl), repeat=3)
    benchmark.pedantic(xl.evaluate, rounds=7, iterations=1, warmup_rounds=1)
    np.testing.assert_allclose(xl.objectives, expected, rtol=1e-9)
    if benchmark.disabled:
        return
    kernel = benchmark.stats.stats.min
    benchmark.extra_info.update(
        threads=threads,
        accounts=N_ACCOUNTS,
        reps=N_REPS,
        rules_on=len(RULES_ON),
        kernel_min_ms=kernel * 1e3,
        numpy_baseline_min_ms=baseline * 1e3,
        speedup_vs_numpy=baseline / kernel,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("distances", "rules", "order"),
    [
        ("cached", "objectives", "sweep"),
        ("cached", "six_rules", "sweep"),
        ("computed", "objectives", "sweep"),
        ("computed", "six_rules", "sweep"),
        ("cached", "six_rules", "random"),
    ],
)
def test_shift_deltas_per_second(benchmark, xl, distances, rules, order, numba_threads):
    """Weighted shift deltas on one core: 1,000,000 accounts x 10 candidates per call.

    `sweep` visits accounts in order, as a local-search pass does; `random` in a random
    order, which makes it a test of memory latency. `objectives` switches every rule off;
    `six_rules` is RULES_ON.
    """
    numba_threads(1)
    rng = np.random.default_rng(1)
    account_index = np.arange(N_ACCOUNTS) if order == "sweep" else rng.permutation(N_ACCOUNTS)
    rule_arrays = xl.rules
    if rules == "objectives":
        rule_arrays = rule_arrays._replace(on=np.zeros(N_RULES, dtype=np.bool_))
    if distances == "cached":
        candidate_distance, current_distance = xl.candidate_distance, xl.current_distance
    else:
        candidate_distance, current_distance = np.zeros((0, 0)), np.zeros(0)
    out = np.empty((N_ACCOUNTS, N_CANDIDATES))
    arguments = (
        account_index,
        xl.candidate_rep,
        candidate_distance,
        current_distance,
        xl.design,
        xl.accounts,
        xl.reps,
        xl.distance,
        rule_arrays,
        xl.totals,
        xl.grand_totals,
        xl.sums,
        OBJECTIVE_WEIGHT,
        PENALTY_WEIGHT,
        out,
    )
    benchmark.pedantic(
        shift_deltas_weighted, args=arguments, rounds=3, iterations=1, warmup_rounds=1
    )

    chunk = 100_000

    def numpy_batch():
        results = []
        for start in range(0, N_ACCOUNTS, chunk):
            index = account_index[start : start + chunk]
            if distances == "cached":
                to_candidates = xl.candidate_distance[index]
                to_current = xl.current_distance[index]
            else:
                to_candidates = great_circle(
                    np.repeat(xl.accounts.xyz[index], N_CANDIDATES, axis=0),
                    xl.reps.xyz[xl.candidate_rep[index].ravel()],
                ).reshape(-1, N_CANDIDATES)
                to_current = great_circle(xl.accounts.xyz[index], xl.reps.xyz[xl.design[index]])
            results.append(numpy_shift_deltas(xl, rule_arrays, index, to_candidates, to_current))
        return results

    head = account_index[:chunk]
    first = numpy_shift_deltas(
        xl, rule_arrays, head, xl.candidate_distance[head], xl.current_distance[head]
    )
    np.testing.assert_allclose(out[:chunk], first, rtol=1e-7, atol=1e-9)
    if benchmark.disabled:
        return
    baseline = best_seconds(numpy_batch, repeat=1)
    kernel = benchmark.stats.stats.min
    n_deltas = N_ACCOUNTS * N_CANDIDATES
    benchmark.extra_info.update(
        deltas=n_deltas,
        order=order,
        distances=distances,
        rules_on=0 if rules == "objectives" else len(RULES_ON),
        kernel_deltas_per_s=n_deltas / kernel,
        numpy_baseline_deltas_per_s=n_deltas / baseline,
        speedup_vs_numpy=baseline / kernel,
    )
