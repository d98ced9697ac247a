"""Plain baselines that the speed benchmarks time beside terrasim, in the same run.

NumPy-vectorised objectives and shift deltas (kernels/objectives.py, kernels/deltas.py),
brute-force candidate lists (engine/candidates.py), the pymoo problem a user would write
(engine/frontier.py), and the stress-test model vectorised over accounts (kernels/simulation.py,
also the reference the kernel's tests compare with). Shared by tests/benchmarks and
`terrasim bench`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.candidates import candidate_lists
from engine.evaluate import evaluate
from engine.frontier import hypervolume, non_dominated
from engine.problem import Problem
from kernels.arrays import (
    RULE_BALANCE,
    RULE_CAPACITY,
    RULE_LEAVING,
    RULE_LOCKED,
    RULE_REGIONS,
    RULE_SPECIALISTS,
)
from kernels.objectives import (
    SUM_ASSIGNED_WORKLOAD,
    SUM_SQUARES_POTENTIAL,
    SUM_SQUARES_WORKLOAD,
    SUM_TRAVEL,
)
from kernels.simulation import ScenarioDraws

RADIUS_KM = 6371.0
CIRCUITY = 1.3
# The objectives of the plain pymoo problem (the frontier benchmark's three).
PLAIN_OBJECTIVES = ("potential_imbalance", "travel", "disruption")


# -- objectives and shift deltas ---------------------------------------------------------------
# `state` is a kernel benchmark state (engine.bench.kernels.KernelState): a design with its
# territory totals, candidate lists and the kernels' arrays.


def great_circle(
    account_xyz: np.ndarray,
    rep_xyz: np.ndarray,
    circuity: float = CIRCUITY,
    radius_km: float = RADIUS_KM,
) -> np.ndarray:
    """Road distance in km between matching rows of two unit-vector arrays (DESIGN §3)."""
    gap = account_xyz - rep_xyz
    half_chord = np.minimum(0.5 * np.sqrt(np.einsum("ij,ij->i", gap, gap)), 1.0)
    return circuity * 2.0 * radius_km * np.arcsin(half_chord)


def numpy_objectives(state: Any) -> np.ndarray:
    """The five objectives of DESIGN §3 vectorised with NumPy: the full-evaluation baseline."""
    accounts, reps, design = state.accounts, state.reps, state.design
    n_reps = reps.capacity.shape[0]
    potential, workload = accounts.measures[0], accounts.measures[1]
    held = design >= 0
    rep = design[held]
    share = reps.target_share
    staying = share > 0

    def imbalance(values):
        total = np.bincount(rep, values[held], n_reps)
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


def numpy_shift_deltas(
    state: Any,
    rules: Any,
    accounts_index: np.ndarray,
    candidate_distance: np.ndarray,
    current_distance: np.ndarray,
    objective_weight: np.ndarray,
    penalty_weight: np.ndarray,
) -> np.ndarray:
    """Weighted shift deltas of a batch of accounts to their candidates, vectorised.

    The same quantities as `kernels.deltas.shift_deltas_weighted` for the rules the kernel
    benchmark switches on: every account is assigned and no territory empties.

    Returns
    -------
    float64[len(accounts_index), n_candidates]
    """
    accounts, reps = state.accounts, state.reps
    totals, grand, sums = state.totals, state.grand_totals, state.sums
    n_candidates = state.candidate_rep.shape[1]
    i = np.repeat(accounts_index, n_candidates)
    b = state.candidate_rep[accounts_index].ravel()
    d_b = candidate_distance.ravel()
    a = state.design[i]
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
        total += objective_weight[objective] * (np.sqrt(after) - np.sqrt(sums[key]))
    workload, potential = x[1], x[0]
    travel = (
        sums[SUM_TRAVEL] + workload * d_b - workload * np.repeat(current_distance, n_candidates)
    )
    total += objective_weight[2] * (travel - sums[SUM_TRAVEL]) / sums[SUM_ASSIGNED_WORKLOAD]
    current = accounts.current_rep[i]
    moved_change = (b != current).astype(float) - (a != current)
    total += objective_weight[3] * moved_change * potential * inverse_grand[0]
    skill_b = reps.skill[b, accounts.segment[i]]
    skill_a = reps.skill[a, accounts.segment[i]]
    mismatch_change = (reps.has_skills[b] & ~skill_b).astype(float) - (
        reps.has_skills[a] & ~skill_a
    )
    total += objective_weight[4] * mismatch_change * potential * inverse_grand[0]
    if rules.on[RULE_CAPACITY]:
        limit = reps.capacity * (1.0 + rules.capacity_slack)
        total += penalty_weight[RULE_CAPACITY] * (
            np.maximum(0.0, totals[1, a] - workload - limit[a])
            - np.maximum(0.0, totals[1, a] - limit[a])
            + np.maximum(0.0, totals[1, b] + workload - limit[b])
            - np.maximum(0.0, totals[1, b] - limit[b])
        )
    if rules.on[RULE_BALANCE]:
        for m in np.flatnonzero(np.isfinite(rules.band_tolerance)):
            total += penalty_weight[RULE_BALANCE] * (
                band(totals[m, a] - x[m], a, m)
                - band(totals[m, a], a, m)
                + band(totals[m, b] + x[m], b, m)
                - band(totals[m, b], b, m)
            )
    if rules.on[RULE_LOCKED]:
        locked = accounts.locked[i] * ((b != current).astype(float) - (a != current))
        total += penalty_weight[RULE_LOCKED] * locked
    if rules.on[RULE_REGIONS]:
        region = accounts.region[i]
        outside = (~reps.region_ok[b, region]).astype(float) - ~reps.region_ok[a, region]
        total += penalty_weight[RULE_REGIONS] * outside
    if rules.on[RULE_SPECIALISTS]:
        off_skill = (reps.specialist[b] & ~skill_b).astype(float) - (reps.specialist[a] & ~skill_a)
        total += penalty_weight[RULE_SPECIALISTS] * off_skill
    if rules.on[RULE_LEAVING]:
        leaving = reps.leaving[b].astype(float) - reps.leaving[a]
        total += penalty_weight[RULE_LEAVING] * leaving
    return np.where(b == a, 0.0, total).reshape(-1, n_candidates)


def numpy_shift_deltas_all(
    state: Any,
    rules: Any,
    account_index: np.ndarray,
    cached: bool,
    objective_weight: np.ndarray,
    penalty_weight: np.ndarray,
    chunk: int = 100_000,
) -> list[np.ndarray]:
    """Shift deltas of every account in `account_index`, in NumPy batches of `chunk` accounts.

    With `cached` the candidate distances are read from the state; otherwise each batch
    computes them (and the distance to the current rep) by great circle, as the kernel does.
    """
    results = []
    n_candidates = state.candidate_rep.shape[1]
    for start in range(0, account_index.shape[0], chunk):
        index = account_index[start : start + chunk]
        if cached:
            to_candidates = state.candidate_distance[index]
            to_current = state.current_distance[index]
        else:
            to_candidates = great_circle(
                np.repeat(state.accounts.xyz[index], n_candidates, axis=0),
                state.reps.xyz[state.candidate_rep[index].ravel()],
            ).reshape(-1, n_candidates)
            to_current = great_circle(
                state.accounts.xyz[index], state.reps.xyz[state.design[index]]
            )
        results.append(
            numpy_shift_deltas(
                state, rules, index, to_candidates, to_current, objective_weight, penalty_weight
            )
        )
    return results


# -- candidate lists ---------------------------------------------------------------------------


def brute_force_candidates(problem: Problem, k: int, block: int = 5000) -> np.ndarray:
    """The k nearest allowed reps of every account by a full distance matrix, in NumPy blocks.

    Returns
    -------
    int64[n_accounts, k]
        Rep indices, nearest first, -1 where fewer than k reps are allowed.
    """
    acc, reps = problem.accounts, problem.reps
    n = problem.n_accounts
    out = np.empty((n, k), dtype=np.int64)
    scale = 2.0 * problem.distance.radius_km * problem.distance.circuity
    owner = np.repeat(np.arange(n), np.diff(acc.barred_ptr))
    for start in range(0, n, block):
        rows = slice(start, min(start + block, n))
        chord = np.linalg.norm(acc.xyz[rows, None, :] - reps.xyz[None, :, :], axis=2)
        km = scale * np.arcsin(np.minimum(0.5 * chord, 1.0))
        allowed = np.ones_like(km, dtype=bool)
        allowed &= ~reps.leaving[None, :]
        allowed &= reps.region_ok[:, acc.region[rows]].T
        allowed &= ~(reps.specialist[:, None] & ~reps.skill[:, acc.segment[rows]]).T
        mine = (owner >= rows.start) & (owner < rows.stop)
        allowed[owner[mine] - rows.start, acc.barred_rep[mine]] = False
        only = acc.locked[rows] & (acc.current_rep[rows] >= 0)
        keep = np.zeros_like(allowed)
        keep[np.flatnonzero(only), acc.current_rep[rows][only]] = True
        allowed[only] &= keep[only]
        km[~allowed] = np.inf
        nearest = np.argpartition(km, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(km, nearest, axis=1), axis=1, kind="stable")
        chosen = np.take_along_axis(nearest, order, axis=1)
        chosen[~np.isfinite(np.take_along_axis(km, chosen, axis=1))] = -1
        out[rows] = chosen
    return out


# -- plain pymoo: NSGA-II with the objectives computed in Python, one individual at a time ----


def plain_pymoo_problem(problem: Problem):
    """The pymoo problem a user would write: the same genome, objectives in NumPy per design.

    Genes are candidate indices of the accounts with a choice (the same lists as terrasim, so
    the unary rules hold); capacity, the one other hard rule on, is one constraint per rep.

    Returns
    -------
    problem : pymoo ElementwiseProblem
        Objectives `PLAIN_OBJECTIVES`.
    design_of : callable
        Genome -> int64[n_accounts] design.
    today : int64[n_genes]
        The genome of today's design.
    """
    from pymoo.core.problem import ElementwiseProblem

    candidates = candidate_lists(problem, 8)
    free = np.flatnonzero(candidates.count > 1)
    base = candidates.rep[:, 0].copy()
    potential = problem.instance.accounts.potential
    workload = problem.instance.accounts.workload
    current = problem.instance.accounts.current_rep
    capacity_limit = problem.reps.capacity * (1.0 + problem.objective.rules.capacity_slack)
    share = problem.reps.target_share
    staying = share > 0
    n_reps = problem.n_reps

    def design_of(x):
        design = base.copy()
        design[free] = candidates.rep[free, np.asarray(x, dtype=np.int64)]
        return design

    class PlainTerritories(ElementwiseProblem):
        def __init__(self):
            super().__init__(
                n_var=free.size,
                n_obj=3,
                n_ieq_constr=n_reps,
                xl=0,
                xu=candidates.count[free] - 1,
                vtype=int,
            )

        def _evaluate(self, x, out, *args, **kwargs):
            design = design_of(x)
            rep_potential = np.bincount(design, weights=potential, minlength=n_reps)
            rep_workload = np.bincount(design, weights=workload, minlength=n_reps)
            target = share * potential.sum()
            imbalance = np.sqrt(
                np.sum(share[staying] * (rep_potential[staying] / target[staying] - 1.0) ** 2)
            )
            rows = np.arange(design.size)
            distance = candidates.distance[rows, (candidates.rep == design[:, None]).argmax(1)]
            travel = np.sum(workload * distance) / workload.sum()
            moved = (current >= 0) & (design != current)
            disruption = potential[moved].sum() / potential.sum()
            out["F"] = [imbalance, travel, disruption]
            out["G"] = rep_workload - capacity_limit

    today = np.where(
        candidates.rep[free] == current[free, None], np.arange(candidates.rep.shape[1]), 0
    ).max(axis=1)
    return PlainTerritories(), design_of, today


def run_plain_pymoo(
    problem: Problem,
    seconds: float,
    seed: int = 0,
    on_generation: Callable[[float, Any, Callable], bool | None] | None = None,
) -> tuple[list[np.ndarray], float, int, int]:
    """Run pymoo NSGA-II (the documented integer recipe), today's design in generation 1.

    Runs generations until `seconds` of its own time have passed (at least one).

    Parameters
    ----------
    problem : Problem
    seconds : float
    seed : int
    on_generation : callable, optional
        Called after each generation as ``on_generation(seconds_so_far, algorithm, design_of)``
        (design_of turns a genome into a design); the time it takes is not counted, and a
        true result stops the run.

    Returns
    -------
    designs : list of int64[n_accounts]
        The final population.
    seconds : float
        Time taken, callbacks excluded.
    generations, evaluations : int
    """
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.population import Population
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling

    plain, design_of, today = plain_pymoo_problem(problem)
    rng = np.random.default_rng(seed)
    initial = IntegerRandomSampling().do(plain, 100, random_state=rng).get("X")
    initial[0] = today
    algorithm = NSGA2(
        pop_size=100,
        sampling=Population.new("X", initial),
        crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
        mutation=PM(eta=20, vtype=float, repair=RoundingRepair()),
        eliminate_duplicates=True,
    )
    started = time.perf_counter()
    paused = 0.0
    algorithm.setup(plain, termination=("n_gen", 2**62), seed=seed, verbose=False)
    while True:
        algorithm.next()
        if on_generation is not None:
            pause_start = time.perf_counter()
            stop = on_generation(pause_start - started - paused, algorithm, design_of)
            paused += time.perf_counter() - pause_start
            if stop:
                break
        if time.perf_counter() - started - paused >= seconds:
            break
    took = time.perf_counter() - started - paused
    designs = [design_of(x) for x in algorithm.pop.get("X")]
    return designs, took, int(algorithm.n_iter), int(algorithm.evaluator.n_eval)


def feasible_hypervolume(
    problem: Problem,
    designs: Sequence[np.ndarray],
    reference: np.ndarray,
    objectives: Sequence[str] = PLAIN_OBJECTIVES,
) -> tuple[float, int]:
    """Hypervolume of the feasible non-dominated designs, each objective over its reference.

    Returns
    -------
    hypervolume : float
    front : int
        Designs on the feasible non-dominated front.
    """
    evaluations = [evaluate(problem, d) for d in designs]
    values = np.array([[e.objectives[o] for o in objectives] for e in evaluations])
    feasible = np.array([e.feasible for e in evaluations])
    front = values[feasible][non_dominated(values[feasible])] if feasible.any() else values[:0]
    return hypervolume(front / reference, np.ones(len(objectives))), int(front.shape[0])


# -- the stress-test model vectorised over accounts in NumPy ---------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_ACCOUNT_MIX = np.uint64(0xD1B54A32D192ED03)


def _splitmix(z):
    # The kernel's counter-based hash (kernels/simulation.py), element-wise.
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def deal_gaps(key, accounts, k):
    """Gap to the k-th deal of each account, in expected deals (the kernel's hash stream)."""
    stream = _splitmix(key + accounts.astype(np.uint64) * _ACCOUNT_MIX)
    z = _splitmix(stream + (k + 1).astype(np.uint64) * _GOLDEN)
    return -np.log(((z >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53)


def draw_numpy(rng, n_accounts, n_reps, n_segments, horizon) -> ScenarioDraws:
    """The kernel's draws, in the same order, with NumPy's vectorised Generator methods."""
    key = np.array([rng.integers(0, 2**62)], dtype=np.uint64)
    account_normal = rng.standard_normal(n_accounts)
    churn_uniform = rng.random(n_accounts)
    market = rng.standard_normal((horizon, n_segments + 1))
    rep_uniform = np.ascontiguousarray(rng.random((n_reps, horizon)).T)  # rep by rep, as the kernel
    return ScenarioDraws(key, account_normal, churn_uniform, market, rep_uniform)


def _tenure_curve(tenure, p):
    ramp = tenure / p.ramp_months if p.ramp_months > 0 else np.ones_like(tenure)
    rise = 1.0 + (p.peak_productivity - 1.0) * (tenure - p.ramp_months) / max(
        p.tenure_peak_months - p.ramp_months, 1e-12
    )
    late = np.maximum(
        p.min_productivity,
        p.peak_productivity - p.decline_per_year * (tenure - p.tenure_decline_months) / 12.0,
    )
    return np.select(
        [tenure < p.ramp_months, tenure < p.tenure_peak_months, tenure < p.tenure_decline_months],
        [ramp, rise, np.full_like(tenure, p.peak_productivity)],
        late,
    )


def simulate_numpy(assignment, accounts, reps, p, draws):
    """One scenario of one design, vectorised over accounts; returns (month_bookings, metrics)."""
    n_reps = reps.capacity.shape[0]
    horizon = p.horizon_months
    lumpy = p.deal_size > 0
    unit = p.deal_size if lumpy else 1.0
    key = draws.key[0]
    current = accounts.current_rep
    held = assignment >= 0
    territory_potential = np.bincount(
        assignment[held], weights=accounts.potential[held], minlength=n_reps
    )
    territory_workload = np.bincount(
        assignment[held], weights=accounts.workload[held], minlength=n_reps
    )
    territory_accounts = np.bincount(assignment[held], minlength=n_reps)
    over = territory_workload > reps.capacity
    coverage = np.where(over, reps.capacity / np.where(over, territory_workload, 1.0), 1.0)
    base = reps.baseline_potential
    target = reps.target_potential
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = np.where(base > 0, np.maximum(0.0, 1.0 - territory_potential / base), 0.0)
        shortfall = np.where(target > 0, np.maximum(0.0, 1.0 - territory_potential / target), 0.0)
    fair = 1.0 + p.turnover_unfairness_factor * shortfall

    def monthly(annual):
        return np.where(annual >= 1.0, 1.0, 1.0 - (1.0 - np.minimum(annual, 1.0)) ** (1.0 / 12.0))

    hazard_first = monthly(p.turnover_annual * (fair + p.turnover_loss_factor * loss))
    hazard_hire = monthly(p.turnover_annual * fair)
    quota = p.quota_factor * territory_potential * horizon / 12.0
    tenure = np.array(reps.start_tenure, dtype=np.float64)
    leaving = np.asarray(reps.leaving)
    is_first = ~leaving
    is_empty = leaving & (territory_accounts == 0)
    vacant_left = np.zeros(n_reps, dtype=np.int64)
    starts_vacant = leaving & ~is_empty
    if p.vacancy_months > 0:
        vacant_left[starts_vacant] = p.vacancy_months
    else:
        tenure[starts_vacant] = 0.0

    noise = np.exp(p.account_volatility * draws.account_normal - 0.5 * p.account_volatility**2)
    scale = accounts.potential / 12.0 / unit * noise
    moved = assignment != current
    both = moved & held & (current >= 0)
    churn = np.minimum(
        p.churn_max, p.churn_base + p.churn_per_relationship_year * accounts.relationship_years
    )
    churns = both & (draws.churn_uniform < churn)
    churn_month = np.full(assignment.shape[0], horizon, dtype=np.int64)
    churn_month[churns] = (
        draws.churn_uniform[churns] / churn[churns] * p.account_ramp_months
    ).astype(np.int64)
    index = np.arange(assignment.shape[0])
    budget = deal_gaps(key, index, np.zeros_like(index)) if lumpy else None
    deal_count = np.ones_like(index)

    n_segments = draws.market_normal.shape[1] - 1
    sd = p.segment_volatility
    state = np.zeros(n_segments)
    month_bookings = np.zeros(horizon)
    rep_bookings = np.zeros(n_reps + 1)  # the last slot collects nothing (index -1)
    lost = 0.0
    departures = 0
    for m in range(horizon):
        eps = (
            math.sqrt(p.segment_correlation) * draws.market_normal[m, 0]
            + math.sqrt(1.0 - p.segment_correlation) * draws.market_normal[m, 1:]
        )
        if m == 0:
            state = sd * eps
        else:
            state = (
                p.segment_persistence * state + sd * math.sqrt(1.0 - p.segment_persistence**2) * eps
            )
        shock = np.exp(state - 0.5 * sd * sd)
        factor = coverage * np.where(
            vacant_left > 0, p.vacancy_productivity, _tenure_curve(tenure + 0.5, p)
        )
        factor = np.append(factor, 0.0)  # index -1 (no rep) reads 0
        relationship = 1.0
        if p.account_ramp_months > 0:
            relationship = p.relationship_floor + (1.0 - p.relationship_floor) * min(
                1.0, (m + 0.5) / p.account_ramp_months
            )
        old_share = 0.0
        if p.sales_cycle_months > 0:
            old_share = max(0.0, 1.0 - (m + 0.5) / p.sales_cycle_months)

        s = scale * shock[accounts.segment]
        lam_old = np.where(moved, s * factor[current] * old_share, 0.0)
        lam_new_full = s * factor[assignment] * np.where(moved, 1.0 - old_share, 1.0)
        lam_new = np.where(both, lam_new_full * relationship, lam_new_full)
        alive = m < churn_month
        lost += (lam_old + lam_new_full)[~alive].sum() + (lam_new_full - lam_new)[alive].sum()
        lam_old = np.where(alive, lam_old, 0.0)
        lam_new = np.where(alive, lam_new, 0.0)
        lam = lam_old + lam_new
        if lumpy:
            b = budget - lam
            arriving = np.flatnonzero(b <= 0.0)
            while arriving.size:
                position = lam[arriving] + b[arriving]
                seat = np.where(
                    position <= lam_old[arriving], current[arriving], assignment[arriving]
                )
                np.add.at(rep_bookings, seat, 1.0)
                month_bookings[m] += arriving.size
                b[arriving] += deal_gaps(key, arriving, deal_count[arriving])
                deal_count[arriving] += 1
                arriving = arriving[b[arriving] <= 0.0]
            budget = b
        else:
            np.add.at(rep_bookings, current, lam_old)
            np.add.at(rep_bookings, assignment, lam_new)
            month_bookings[m] = lam.sum()
        month_bookings[m] *= unit

        vacant = (vacant_left > 0) & ~is_empty
        filled = ~vacant & ~is_empty
        vacant_left[vacant] -= 1
        tenure[vacant & (vacant_left == 0)] = 0.0
        tenure[filled] += 1.0
        leaves = filled & (draws.rep_uniform[m] < np.where(is_first, hazard_first, hazard_hire))
        departures += int(leaves.sum())
        is_first &= ~leaves
        if p.vacancy_months > 0:
            vacant_left[leaves] = p.vacancy_months
        else:
            tenure[leaves] = 0.0

    with_quota = quota > 0
    attainment = rep_bookings[:n_reps][with_quota] * unit / quota[with_quota]
    metrics = np.array(
        [
            month_bookings.sum(),
            departures,
            (churn_month < horizon).sum(),
            np.ptp(attainment) if attainment.size else 0.0,
            (attainment >= 1.0).mean() if attainment.size else 0.0,
            lost * unit,
        ]
    )
    return month_bookings, metrics


def numpy_scenario_rate(inputs: Any, n_scenarios: int, rounds: int = 2) -> tuple[float, list]:
    """Design-scenarios per second of the NumPy model on one core, best of `rounds`.

    Parameters
    ----------
    inputs : engine.simulation.SimInputs
    n_scenarios : int
        Scenarios 0 .. n_scenarios - 1 of every design, drawn as the kernel draws them.
    rounds : int

    Returns
    -------
    rate : float
    results : list
        ``results[k][d]`` is (month_bookings, metrics) of scenario k, design d.
    """
    n_designs, n_accounts = inputs.designs.shape
    best, results = np.inf, []
    for _ in range(rounds):
        start = time.perf_counter()
        results = []
        for k in range(n_scenarios):
            rng = np.random.default_rng([inputs.seed, k])
            draws = draw_numpy(
                rng,
                n_accounts,
                inputs.reps.capacity.shape[0],
                inputs.n_segments,
                inputs.params.horizon_months,
            )
            results.append(
                [
                    simulate_numpy(
                        inputs.designs[d], inputs.accounts, inputs.reps, inputs.params, draws
                    )
                    for d in range(n_designs)
                ]
            )
        best = min(best, time.perf_counter() - start)
    return n_designs * n_scenarios / best, results
