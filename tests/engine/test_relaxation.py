"""LP construction: a true relaxation of the linear objectives and rules, and a good start."""

from __future__ import annotations

import numpy as np
import pytest

from engine import relaxation
from engine.benchmarks.milp import band_instance, band_rules, solve_exact, travel_objective
from engine.candidates import candidate_lists, with_design
from engine.construct import from_today
from engine.evaluate import evaluate
from engine.generator import generate_instance
from engine.optimize import SolverSettings, _objective_weights, optimize, resolved_construction
from engine.problem import build_problem
from engine.relaxation import lp_construction
from engine.rules import Objective, Rules
from engine.validate import instance_from_tables
from kernels.arrays import DISRUPTION, SKILL_MISMATCH, TRAVEL
from tests.conftest import DEFAULT_WEIGHTS

NO_RULES = dict(
    locked=False, regions=False, specialists=False, barred=False, leaving=False, capacity=False
)


def linear_cost(problem, weights, design) -> float:
    """The LP's objective for a whole design, from the engine's own evaluation."""
    objectives = evaluate(problem, design).objectives
    return (
        weights[TRAVEL] * objectives["travel"]
        + weights[DISRUPTION] * objectives["disruption"]
        + weights[SKILL_MISMATCH] * objectives["skill_mismatch"]
    )


def rules_met_by(problem, design, margin: float = 0.01) -> Rules:
    """Every linear rule on, each just loose enough for `design` to meet it."""
    potential = problem.accounts.measures[0]
    workload = problem.accounts.measures[1]
    n_reps = problem.n_reps
    held_potential = np.bincount(design, weights=potential, minlength=n_reps)
    held_workload = np.bincount(design, weights=workload, minlength=n_reps)
    count = np.bincount(design, minlength=n_reps)
    target = problem.reps.target_share * potential.sum()
    before = problem.reps.baseline_potential
    current = problem.accounts.current_rep
    moved = (current >= 0) & (design != current)
    return Rules(
        **{**NO_RULES, "capacity": True},
        capacity_slack=float(max(held_workload / problem.reps.capacity) - 1 + margin),
        balance={"potential": float(np.abs(held_potential / target - 1).max() + margin)},
        min_accounts=int(count.min()),
        max_accounts=int(count.max()),
        max_potential_change=float(np.abs(held_potential / before - 1).max() + margin),
        max_moved=int(moved.sum()) + 1,
        max_moved_potential_share=float(potential[moved].sum() / potential.sum() + margin),
    )


def every_rule_problem(seed: int):
    """80 southwest accounts, 5 reps, every linear rule on and just met by today's design."""
    accounts, reps = generate_instance("southwest", seed=seed, n_accounts=80, n_reps=5)
    loose = instance_from_tables(accounts, reps, Rules(**NO_RULES))
    plain = build_problem(loose, Objective(DEFAULT_WEIGHTS, 1.3, Rules(**NO_RULES)))
    today = from_today(plain)
    rules = rules_met_by(plain, today)
    problem = build_problem(
        instance_from_tables(accounts, reps, rules), Objective(DEFAULT_WEIGHTS, 1.3, rules)
    )
    return problem, today


@pytest.mark.parametrize("seed", range(6))
def test_lp_optimum_is_below_every_design_that_meets_the_rules(seed):
    problem, today = every_rule_problem(seed)
    assert evaluate(problem, today).feasible  # the rules were set so that today meets them
    weights = _objective_weights(problem, candidate_lists(problem, 8))

    relaxation = lp_construction(problem, weights, candidates=problem.n_reps)
    assert relaxation.violation == pytest.approx(0.0, abs=1e-7)
    assert relaxation.candidates == problem.n_reps
    # Over every rep the LP relaxes the whole problem: no design meeting the rules beats it.
    assert relaxation.objective <= linear_cost(problem, weights, today) + 1e-9
    rounded = relaxation.design
    assert rounded.shape == (80,) and (rounded >= 0).all() and (rounded < problem.n_reps).all()
    if evaluate(problem, rounded).feasible:
        assert relaxation.objective <= linear_cost(problem, weights, rounded) + 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_priced_lp_with_every_rule_keeps_the_rules_and_never_beats_the_whole_lp(seed):
    problem, today = every_rule_problem(seed)
    # The rows the prices work on: band, capacity, accounts per territory, potential change,
    # each met by today's design (which meets every rule) and not met by all on one rep.
    rep_rules = relaxation._rep_rules(problem)
    assert rep_rules.coefficient.shape == (4, 80)
    for design, meets in ((today, True), (np.zeros(80, dtype=np.int64), False)):
        held = np.stack(
            [np.bincount(design, weights=c, minlength=5) for c in rep_rules.coefficient]
        )
        load = held / rep_rules.scale
        within = (load >= rep_rules.lower - 1e-9) & (load <= rep_rules.upper + 1e-9)
        assert within.all() == meets

    weights = _objective_weights(problem, candidate_lists(problem, 8))
    whole = lp_construction(problem, weights, candidates=5)
    priced = lp_construction(problem, weights, candidates=5, whole_columns=160)
    assert priced.columns < whole.columns == int(candidate_lists(problem, 5).count.sum())
    assert priced.design.shape == (80,) and (priced.design >= 0).all()
    # Column generation from the priced columns stops only when no column would improve the
    # LP: its optimum is the whole LP's.
    assert priced.violation <= 1e-7
    assert priced.objective == pytest.approx(whole.objective, rel=1e-6)


@pytest.fixture(scope="module")
def band_problem():
    return build_problem(band_instance(150, 6, seed=1), travel_objective(band_rules()))


def test_under_a_band_auto_starts_from_the_lp_and_lands_near_the_exact_optimum(band_problem):
    problem = band_problem
    assert resolved_construction(problem, SolverSettings()) == "lp"
    exact = solve_exact(problem, time_limit=60.0)
    assert exact.proven
    weights = _objective_weights(problem, candidate_lists(problem, 8))
    relaxation = lp_construction(problem, weights, candidates=problem.n_reps)
    # Travel alone: the LP over every rep is a lower bound on the MILP's optimum.
    assert relaxation.objective / weights[TRAVEL] <= exact.objective * (1 + 1e-9)

    design = optimize(problem, SolverSettings(time_limit=10.0))
    assert design.construction == "lp" and design.feasible
    travel = design.evaluation.objectives["travel"]
    assert exact.objective * (1 - 1e-9) <= travel <= 1.03 * exact.objective


def test_without_a_band_auto_starts_from_today():
    accounts, reps = generate_instance("northeast", seed=0, n_accounts=300, n_reps=6)
    rules = Rules()
    problem = build_problem(
        instance_from_tables(accounts, reps, rules), Objective(DEFAULT_WEIGHTS, 1.3, rules)
    )
    assert resolved_construction(problem, SolverSettings()) == "today"
    design = optimize(problem, SolverSettings(max_moves=0, raise_infeasible=False))
    assert design.construction == "today"
    assert np.array_equal(design.assignment, from_today(problem))


@pytest.mark.parametrize("seed", [0, 2])
def test_past_its_column_budget_the_lp_starts_from_priced_reps_and_reaches_the_whole_lp(
    seed, monkeypatch
):
    problem = build_problem(band_instance(600, 12, seed=seed), travel_objective(band_rules()))
    weights = _objective_weights(problem, candidate_lists(problem, 8))
    whole = lp_construction(problem, weights)
    lists = candidate_lists(problem, 12)
    # 600 accounts × up to 12 listed reps, priced down to 1,500 columns to start with.
    column_cost = relaxation._model(problem, lists, weights).cost
    kept = relaxation._priced_columns(problem, lists, column_cost, 1500)
    assert kept.shape == lists.rep.shape and not (kept & (lists.rep < 0)).any()
    assert kept.any(axis=1).all()  # every account keeps a rep
    assert 1500 <= kept.sum() < lists.count.sum()
    priced = lp_construction(problem, weights, whole_columns=1500)
    assert priced.columns < whole.columns == int(lists.count.sum())  # locks list one rep
    assert whole.violation == 0 and priced.violation == 0
    assert priced.objective == pytest.approx(whole.objective, rel=1e-6)
    monkeypatch.setattr(relaxation, "WHOLE_LP_COLUMNS", 1500)  # the search's LP generates too
    design = optimize(problem, SolverSettings(time_limit=10.0))
    assert design.construction == "lp" and design.feasible
    assert np.array_equal(
        design.assignment, optimize(problem, SolverSettings(time_limit=10.0)).assignment
    )


def test_the_lists_hold_each_account_s_start_rep_nearest_first(band_problem):
    problem = band_problem
    lists = candidate_lists(problem, 3)
    every = candidate_lists(problem, problem.n_reps)
    rng = np.random.default_rng(0)
    allowed = every.count
    design = every.rep[np.arange(problem.n_accounts), rng.integers(0, allowed)]
    widened = with_design(problem, lists, design)
    assert widened.rep.shape == lists.rep.shape
    assert (widened.rep == design[:, None]).any(axis=1).all()
    current = problem.accounts.current_rep
    had_current = (lists.rep == current[:, None]).any(axis=1)
    assert (widened.rep == current[:, None]).any(axis=1)[had_current].all()
    assert (widened.distance[:, :-1] <= widened.distance[:, 1:]).all()  # padding at inf
    # Each distance is the one the full lists give for that rep.
    for i in range(problem.n_accounts):
        full = dict(zip(every.rep[i].tolist(), every.distance[i].tolist(), strict=True))
        assert widened.distance[i].tolist() == [full[j] for j in widened.rep[i].tolist()]
    # Accounts whose start rep was listed keep their lists untouched.
    listed = (lists.rep == design[:, None]).any(axis=1)
    assert np.array_equal(widened.rep[listed], lists.rep[listed])
