"""The optimizer (DESIGN §4): hard rules hold, feasibility is real, seeds, limits, infeasibility."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest

from engine.candidates import candidate_lists
from engine.construct import from_today, greedy_regret, greenfield
from engine.errors import InfeasibleError, TerrasimError
from engine.evaluate import evaluate
from engine.generator import generate_instance
from engine.infeasibility import violating_accounts
from engine.optimize import SolverSettings, optimize, solver_settings_from_config
from engine.problem import build_problem
from engine.rules import Objective, Rules
from engine.validate import instance_from_tables
from kernels.arrays import N_RULES, RULE_NAMES
from kernels.objectives import N_SUMS, evaluate_design
from tests.conftest import DEFAULT_WEIGHTS, account_columns, rep_columns

WEIGHTS = DEFAULT_WEIGHTS
# Every switchable rule off: a test switches on what it checks.
NO_RULES = dict(
    locked=False, regions=False, specialists=False, barred=False, leaving=False, capacity=False
)
FAST = SolverSettings(ils_rounds=200, time_limit=60.0)


def problem_of(accounts: pa.Table, reps: pa.Table, rules: Rules):
    instance = instance_from_tables(accounts, reps, rules)
    return build_problem(instance, Objective(weights=WEIGHTS, circuity=1.3, rules=rules))


@pytest.fixture(scope="module")
def tables():
    return {
        "small": (pa.table(account_columns()), pa.table(rep_columns())),
        "northeast": generate_instance("northeast", seed=0),
        "southwest": generate_instance("southwest", seed=0),
    }


def one_rule(rule: str, instance: str) -> dict:
    """Rules with only `rule` switched on, at a bound that suits the instance's size."""
    small = instance == "small"
    bounds = {
        "locked": dict(locked=True),
        "regions": dict(regions=True),
        "specialists": dict(specialists=True),
        "barred": dict(barred=True),
        "leaving": dict(leaving=True),
        "capacity": dict(capacity=True),
        "balance": dict(balance={"potential": 0.5 if small else 0.25}),
        "min_accounts": dict(min_accounts=2 if small else 20),
        "max_accounts": dict(max_accounts=3 if small else 90),
        "potential_change": dict(max_potential_change=0.6),
        "max_moved": dict(max_moved=2 if small else 300),
        "max_moved_potential": dict(max_moved_potential_share=0.4),
        "protected": dict(protected_potential=100_000.0 if small else 200_000.0),
        "contiguity": dict(contiguity=True, contiguity_k=2 if small else 6),
        "max_distance": dict(
            max_distance_km={"small": 400.0, "southwest": 900.0}.get(instance, 500.0)
        ),
    }
    return {**NO_RULES, **bounds[rule]}


def all_rules(instance: str) -> dict:
    merged: dict = {}
    for rule in RULE_NAMES:
        merged.update({k: v for k, v in one_rule(rule, instance).items() if v is not False})
    return merged


def feasible_exists(problem) -> bool:
    """Brute force over every assignment (small instances only)."""
    n_measures = problem.accounts.measures.shape[0]
    totals = np.empty((n_measures, problem.n_reps))
    grand, sums, violations = np.empty(n_measures), np.empty(N_SUMS), np.empty(N_RULES)
    for design in itertools.product(range(problem.n_reps), repeat=problem.n_accounts):
        evaluate_design(
            np.array(design, dtype=np.int64),
            problem.accounts,
            problem.reps,
            problem.distance,
            problem.rules,
            totals,
            grand,
            sums,
            violations,
        )
        if (violations <= 1e-9).all():
            return True
    return False


def check_result(problem, settings=FAST):
    """Optimize; a design reported feasible must be, evaluated from scratch."""
    design = optimize(problem, settings)
    again = evaluate(problem, design.assignment)
    assert design.feasible and again.feasible, again.violations
    assert design.evaluation.objectives == again.objectives
    return design


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_each_rule_alone_holds_on_the_small_instance_when_it_can(tables, rule):
    problem = problem_of(*tables["small"], Rules(**one_rule(rule, "small")))
    if feasible_exists(problem):
        check_result(problem)
    else:
        with pytest.raises(InfeasibleError):
            optimize(problem, FAST)


def test_all_rules_together_on_the_small_instance(tables):
    problem = problem_of(*tables["small"], Rules(**all_rules("small")))
    if feasible_exists(problem):
        check_result(problem)
    else:
        with pytest.raises(InfeasibleError):
            optimize(problem, FAST)


@pytest.mark.parametrize("rule", [r for r in RULE_NAMES if r != "contiguity"])
@pytest.mark.parametrize("instance", ["northeast", "southwest"])
def test_each_rule_alone_holds_on_generated_instances(tables, instance, rule):
    check_result(problem_of(*tables[instance], Rules(**one_rule(rule, instance))))


def test_contiguity_holds_on_northeast(tables):
    design = check_result(problem_of(*tables["northeast"], Rules(**one_rule("contiguity", "ne"))))
    assert design.evaluation.violations["contiguity"] == 0


def test_all_rules_but_contiguity_hold_together_on_northeast(tables):
    rules = Rules(**{**all_rules("northeast"), "contiguity": False})
    design = check_result(problem_of(*tables["northeast"], rules))
    assert set(design.evaluation.violations) == set(RULE_NAMES) - {"contiguity"}


@pytest.mark.parametrize("instance", ["northeast", "southwest"])
def test_a_design_is_never_reported_feasible_when_it_is_not(tables, instance):
    # Every rule on at once may be infeasible (locks, regions and contiguity); then the
    # optimizer must say so, never return a broken design as feasible.
    problem = problem_of(*tables[instance], Rules(**all_rules(instance)))
    try:
        design = optimize(problem, FAST)
    except InfeasibleError as error:
        assert error.rule in RULE_NAMES and error.account_ids
        return
    assert design.feasible and evaluate(problem, design.assignment).feasible


def test_infeasible_design_can_be_returned_instead_of_raised(tables):
    rules = Rules(**{**NO_RULES, "balance": {"accounts": 0.0}})
    problem = problem_of(*tables["small"], rules)  # 8 accounts over 3 reps cannot be equal
    design = optimize(problem, replace(FAST, raise_infeasible=False))
    assert not design.feasible and not evaluate(problem, design.assignment).feasible
    with pytest.raises(InfeasibleError) as error:
        optimize(problem, FAST)
    assert error.value.rule == "balance" and error.value.account_ids


@pytest.fixture(scope="module")
def northeast(tables):
    return problem_of(*tables["northeast"], Rules())


def test_locked_accounts_never_move(northeast):
    design = optimize(northeast, FAST)
    locked = northeast.accounts.locked
    assert locked.any()
    current = northeast.accounts.current_rep
    assert (design.assignment[locked] == current[locked]).all()


def score(problem, design, settings=FAST):
    from engine.optimize import _objective_weights

    weights = _objective_weights(problem, candidate_lists(problem, settings.candidates))
    values = evaluate(problem, design).objectives
    return float(sum(w * values[name] for w, name in zip(weights, values, strict=True)))


def test_search_improves_the_weighted_objective_over_its_start(northeast):
    start = from_today(northeast)
    design = optimize(northeast, FAST)
    assert design.score < score(northeast, start) - 0.05
    assert design.score == pytest.approx(score(northeast, design.assignment), rel=1e-12)


def test_kicks_improve_on_plain_descent(northeast):
    descent = optimize(northeast, replace(FAST, metaheuristic="descent"))
    kicked = optimize(northeast, FAST)
    assert kicked.score < descent.score


def test_same_seed_same_design_other_seed_other_design(northeast):
    first = optimize(northeast, replace(FAST, seed=3))
    second = optimize(northeast, replace(FAST, seed=3))
    other = optimize(northeast, replace(FAST, seed=4))
    assert np.array_equal(first.assignment, second.assignment) and first.moves == second.moves
    assert not np.array_equal(first.assignment, other.assignment)


@pytest.mark.parametrize("max_moves", [0, 1, 37, 500])
def test_max_moves_is_respected(northeast, max_moves):
    settings = replace(FAST, max_moves=max_moves, raise_infeasible=False)
    design = optimize(northeast, settings)
    assert design.moves <= max_moves and design.stopped == "max_moves"
    start = from_today(northeast)
    assert (design.assignment != start).sum() <= max_moves


def test_time_limit_stops_the_search(northeast):
    design = optimize(northeast, replace(FAST, time_limit=0.02, raise_infeasible=False))
    assert design.stopped in ("time_limit", "converged")
    assert design.seconds < 5.0


@pytest.mark.parametrize("construction", ["today", "regret", "greenfield"])
def test_every_construction_gives_a_feasible_design(northeast, construction):
    settings = replace(FAST, construction=construction, greenfield_time_limit=1.0)
    design = check_result(northeast, settings)
    assert design.construction == construction


def test_constructions_use_allowed_reps_only(northeast):
    candidates = candidate_lists(northeast)
    unary = ("locked", "regions", "specialists", "barred", "leaving")
    for design in (
        from_today(northeast, candidates),
        greedy_regret(northeast, candidates),
        greenfield(northeast, seed=1, time_limit=1.0),
    ):
        assert (design >= 0).all()
        violations = evaluate(northeast, design).violations
        assert all(violations[rule] == 0 for rule in unary), violations


def test_greedy_regret_respects_capacity_when_it_can(northeast):
    design = greedy_regret(northeast, candidate_lists(northeast))
    workload = np.bincount(design, weights=northeast.accounts.measures[1], minlength=15)
    limit = northeast.reps.capacity * (1 + northeast.rules.capacity_slack)
    locked = northeast.accounts.locked
    forced = np.bincount(design[locked], weights=northeast.accounts.measures[1][locked])
    over = workload > limit + 1e-9
    assert (~over | (np.pad(forced, (0, 15 - forced.size)) > 0)).all()


def test_greenfield_runs_without_a_current_assignment(tables):
    accounts, reps = tables["northeast"]
    accounts = accounts.set_column(
        accounts.column_names.index("current_rep"), "current_rep", pa.array([""] * len(accounts))
    )
    accounts = accounts.set_column(
        accounts.column_names.index("locked"), "locked", pa.array([False] * len(accounts))
    )
    problem = problem_of(accounts, reps, Rules())
    assert (problem.accounts.current_rep == -1).all()
    design = check_result(problem, replace(FAST, construction="greenfield"))
    assert (design.assignment >= 0).all()


def test_an_account_every_rep_bars_is_named(tables):
    columns = account_columns()
    columns["barred_reps"][4] = "R1;R2;R3"  # account A5
    columns["locked"][3] = False
    problem = problem_of(pa.table(columns), pa.table(rep_columns()), Rules())
    with pytest.raises(InfeasibleError) as error:
        optimize(problem, FAST)
    assert error.value.rule == "barred" and error.value.account_ids == ["A5"]
    assert "A5" in str(error.value)


def test_an_account_outside_every_reps_regions_is_named(tables):
    columns = account_columns()
    columns["region"][2] = "VT"  # A3: only R2 has no region list, and R2 is a specialist
    columns["segment"][2] = "retail"
    problem = problem_of(pa.table(columns), pa.table(rep_columns()), Rules())
    with pytest.raises(InfeasibleError) as error:
        optimize(problem, FAST)
    assert error.value.account_ids == ["A3"] and error.value.rule == "specialists"


def test_violating_accounts_are_those_breaking_the_rule(northeast):
    design = northeast.accounts.current_rep.copy()
    design[design < 0] = 0
    capacity = RULE_NAMES.index("capacity")
    involved = violating_accounts(northeast, design, capacity)
    evaluation = evaluate(northeast, design)
    over = evaluation.rep_workload > northeast.reps.capacity * 1.1 + 1e-9
    assert over.any()
    assert set(involved.tolist()) == set(np.flatnonzero(over[design]).tolist())


def test_start_design_is_used_and_repaired(northeast):
    start = np.full(northeast.n_accounts, -1, dtype=np.int64)
    design = optimize(northeast, replace(FAST, max_moves=0, raise_infeasible=False), start=start)
    assert design.construction == "start" and (design.assignment >= 0).all()
    with pytest.raises(TerrasimError):
        optimize(northeast, FAST, start=np.zeros(3, dtype=np.int64))


def test_solver_config_matches_the_defaults_and_rejects_typos():
    import yaml

    from engine.optimize import SolverSettings as Settings

    with open("conf/solver/default.yaml") as handle:
        values = yaml.safe_load(handle)
    assert solver_settings_from_config(values) == Settings()
    with pytest.raises(TerrasimError, match="unknown"):
        solver_settings_from_config({"time_limt": 3})
    with pytest.raises(TerrasimError, match="metaheuristic"):
        solver_settings_from_config({"metaheuristic": "tabu"})
    settings = solver_settings_from_config({"penalty_weights": {"capacity": 50}, "max_moves": None})
    assert settings.penalty_weights == {"capacity": 50.0} and settings.max_moves is None


def test_moves_a_leaving_rep_forces_beyond_the_budget_are_named_before_the_search(tables):
    accounts, reps = tables["northeast"]
    held = [r == "R0001" for r in accounts.column("current_rep").to_pylist()]
    accounts = accounts.set_column(
        accounts.column_names.index("locked"), "locked", pa.array([False] * accounts.num_rows)
    )
    status = [
        "leaving" if r == "R0001" else s
        for r, s in zip(
            reps.column("rep_id").to_pylist(), reps.column("status").to_pylist(), strict=True
        )
    ]
    reps = reps.set_column(reps.column_names.index("status"), "status", pa.array(status))
    n_forced = sum(held)
    assert n_forced > 1
    problem = problem_of(accounts, reps, Rules(max_moved=n_forced - 1))
    with pytest.raises(InfeasibleError) as error:
        optimize(problem, FAST)
    message = str(error.value)
    assert error.value.rule == "max_moved"
    assert f"{n_forced:,} account(s) must move" in message and "leaving" in message
    assert f"at least {n_forced:,}" in message
    on_leaving = {
        a for a, h in zip(accounts.column("account_id").to_pylist(), held, strict=True) if h
    }
    assert set(error.value.account_ids) == on_leaving
    share = Rules(max_moved_potential_share=1e-6)
    with pytest.raises(InfeasibleError) as error:
        optimize(problem_of(accounts, reps, share), FAST)
    assert error.value.rule == "max_moved_potential" and "$" in str(error.value)


def test_broken_rules_are_told_in_their_units():
    from engine.infeasibility import describe_violation

    assert describe_violation("capacity", 1234.4) == (
        "capacity: 1,234 hours of workload over the reps' capacity"
    )
    assert describe_violation("balance", 0.0312).startswith("balance: territories 3.1% outside")
    assert describe_violation("max_moved_potential", 2.5e6).startswith(
        "max_moved_potential: $2.50M"
    )
    assert describe_violation("leaving", 3.0) == "leaving: 3 account(s) on a rep the rule forbids"
    assert describe_violation("balance", 2.3e-5).startswith("balance: territories 0.0023% outside")


def test_max_distance_bounds_every_assignment_and_the_farthest_are_listed(tables):
    from engine.designs import farthest_table

    accounts, reps = tables["northeast"]
    free = problem_of(accounts, reps, Rules(**NO_RULES))
    today = farthest_table(free, "today", free.accounts.current_rep, n=3)
    assert today.num_rows == 3 and today.column("km")[0].as_py() > 500.0
    assert today.column("km").to_pylist() == sorted(today.column("km").to_pylist(), reverse=True)
    bounded = problem_of(accounts, reps, Rules(**{**NO_RULES, "max_distance_km": 500.0}))
    design = optimize(bounded, FAST)
    assert design.feasible and design.evaluation.violations["max_distance"] == 0.0
    farthest = farthest_table(bounded, "optimized", design.assignment, n=1)
    assert farthest.column("km")[0].as_py() <= 500.0
    assert design.evaluation.metrics["distance_max"] <= 500.0
    # Nearer than any rep: no design, and the rule is named.
    with pytest.raises(InfeasibleError) as error:
        optimize(problem_of(accounts, reps, Rules(**{**NO_RULES, "max_distance_km": 1.0})), FAST)
    assert error.value.rule == "max_distance"
