"""The scenario library (DESIGN §4): each scenario does what it says; settings; the comparison."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pytest
from omegaconf import OmegaConf

from engine.designs import NamedDesign
from engine.errors import TerrasimError
from engine.evaluate import evaluate
from engine.generator import generate_instance
from engine.model import LEAVING, NEW
from engine.optimize import SolverSettings
from engine.parallel import InProcessRunner
from engine.problem import build_problem
from engine.rules import Objective, Rules
from engine.scenarios import (
    SCENARIOS,
    ScenarioSettings,
    comparison_table,
    departing_rep,
    departure,
    design_scenarios,
    full_reopt,
    headcount,
    hybrid,
    named_threshold,
    recommend,
    scenario_settings_from_config,
    segment_teams,
    specialisation,
    status_quo_plus,
    stress_scenarios,
)
from engine.simulation import SimParams, simulate_designs
from engine.staffing import with_empty_seats
from engine.stress import labelled_tables
from engine.validate import instance_from_tables
from tests.conftest import DEFAULT_WEIGHTS, account_columns, rep_columns

SOLVER = SolverSettings(time_limit=10.0, ils_rounds=100, ils_patience=50)
QUIET = InProcessRunner(progress=False)


def problem_of(accounts: pa.Table, reps: pa.Table, rules: Rules | None = None):
    rules = rules or Rules()
    instance = instance_from_tables(accounts, reps, rules)
    return build_problem(instance, Objective(weights=DEFAULT_WEIGHTS, circuity=1.3, rules=rules))


@pytest.fixture(scope="module")
def small():
    """The eight-account fixture with every rule on."""
    return problem_of(pa.table(account_columns()), pa.table(rep_columns()))


@pytest.fixture(scope="module")
def loose():
    """The fixture without region, specialist and capacity rules: any rep may hold any account."""
    rules = Rules(regions=False, specialists=False, capacity=False)
    return problem_of(pa.table(account_columns()), pa.table(rep_columns()), rules)


@pytest.fixture(scope="module")
def northeast():
    """A small northeast: 160 accounts, 8 reps, default rules."""
    accounts, reps = generate_instance("northeast", seed=0, n_accounts=160, n_reps=8)
    return problem_of(accounts, reps)


def moved(problem, assignment) -> np.ndarray:
    current = problem.accounts.current_rep
    return np.flatnonzero((current >= 0) & (assignment != current))


def test_status_quo_plus_moves_at_most_its_budget(northeast):
    result = status_quo_plus(northeast, SOLVER, max_moved=5, candidates=3)
    assert result.feasible, result.note
    assert 0 < moved(northeast, result.design.assignment).size <= 5
    assert result.design.evaluation.metrics["accounts_moved"] <= 5


def test_a_rule_broken_as_today_is_said_so(northeast):
    assert evaluate(northeast, northeast.accounts.current_rep).violations["capacity"] > 0
    result = status_quo_plus(northeast, SOLVER, max_moved=0)
    assert moved(northeast, result.design.assignment).size == 0
    assert not result.feasible
    assert result.note == "breaks hard rule(s): capacity (as today's design)"


def test_status_quo_plus_moves_each_account_to_a_near_rep(northeast):
    from engine.candidates import candidate_lists

    result = status_quo_plus(northeast, SOLVER, max_moved=8, candidates=2)
    near = candidate_lists(northeast, 2).rep
    for i in moved(northeast, result.design.assignment):
        assert result.design.assignment[i] in near[i]


def test_full_reopt_is_at_least_as_good_as_status_quo_plus(northeast):
    edge = status_quo_plus(northeast, SOLVER, max_moved=5)
    full = full_reopt(northeast, SOLVER, start=edge)
    assert full.feasible
    assert full.design.extra["score"] <= edge.design.extra["score"]
    assert moved(northeast, full.design.assignment).size > 5


def test_full_reopt_has_no_budget_even_when_the_run_has_one(northeast):
    rules = dataclasses.replace(northeast.objective.rules, max_moved=2)
    budgeted = build_problem(
        northeast.instance, dataclasses.replace(northeast.objective, rules=rules)
    )
    full = full_reopt(budgeted, SOLVER)
    assert moved(budgeted, full.design.assignment).size > 2 and full.feasible


def test_hybrid_keeps_named_accounts_with_their_owners(loose):
    threshold = 100_000.0
    result = hybrid(loose, SOLVER, named_potential=threshold)
    acc = loose.instance.accounts
    named = (acc.potential >= threshold) & (acc.current_rep >= 0)
    assert named.sum() == 2  # A1 (R1) and A4 (R2)
    assert np.array_equal(result.design.assignment[named], acc.current_rep[named])
    assert result.feasible


def test_hybrid_named_threshold_is_a_quantile_or_a_potential(small):
    assert named_threshold(small, 0.5) == pytest.approx(
        np.median(small.instance.accounts.potential)
    )
    assert named_threshold(small, 0.5, potential=7.0) == 7.0


def test_departure_moves_only_the_leavers_accounts(loose):
    result = departure(loose, SOLVER, "R1")
    assert result.feasible, result.note
    current, design = loose.accounts.current_rep, result.design.assignment
    leaver = 0
    assert not (design == leaver).any()
    assert set(moved(loose, design).tolist()) == set(np.flatnonzero(current == leaver).tolist())
    assert design[7] == -1  # A8, unassigned today, stays so
    assert result.organisation.instance.reps.status[leaver] == LEAVING
    # The run's own instance is untouched.
    assert loose.instance.reps.status[leaver] != LEAVING


def test_departure_default_is_the_rep_with_most_accounts(small):
    # R1 and R3 hold three accounts each: the first in the reps' order.
    assert departing_rep(small, None) == 0
    assert departing_rep(small, "R3") == 2
    with pytest.raises(TerrasimError, match="no rep 'R9'"):
        departing_rep(small, "R9")


def test_an_infeasible_scenario_is_a_row_with_its_reason(small):
    # With regions on, R1's MA retail account A2 has no other rep: R2 is a healthcare specialist
    # and R3 covers NY and CT only.
    result = departure(small, SOLVER, "R1")
    assert result.design is None and not result.feasible
    assert "A2" in result.note and "infeasible" in result.note


def test_segment_teams_follow_workload_skills_and_specialists(small):
    skill, teams = segment_teams(small)
    assert teams == {"healthcare": ["R2"], "retail": ["R1"], "tech": ["R3"]}
    names = small.instance.accounts.segment_names
    assert skill.sum(axis=1).tolist() == [1, 1, 1]
    assert skill[1, names.index("healthcare")]


def test_segment_teams_share_the_unlisted_segments(northeast):
    skill, teams = segment_teams(northeast, ["healthcare"])
    assert set(teams) == {"healthcare", "general"}
    assert sum(len(ids) for ids in teams.values()) == 8
    health = northeast.instance.accounts.segment_names.index("healthcare")
    for j, rep_id in enumerate(northeast.instance.reps.ids):
        in_health = rep_id in teams["healthcare"]
        assert skill[j, health] == in_health
        assert skill[j].sum() == (
            1 if in_health else len(northeast.instance.accounts.segment_names) - 1
        )


def test_specialists_keep_to_their_skills_in_a_team():
    problem = problem_of(*generate_instance("southwest", seed=0))
    reps = problem.instance.reps
    assert reps.specialist.sum() == 3
    skill, teams = segment_teams(problem, ["technology"])
    tech = problem.instance.accounts.segment_names.index("technology")
    for j in np.flatnonzero(reps.specialist):
        assert reps.ids[j] in teams["general"]  # healthcare specialists: not the tech team
        assert np.array_equal(skill[j], reps.skill[j])
    assert not skill[reps.specialist, tech].any()


def test_specialisation_gives_each_account_a_rep_of_its_segment(northeast):
    result = specialisation(northeast, SOLVER)
    # Eight reps in six teams: a one-rep team may be over its capacity, but segments hold.
    assert result.design is not None
    assert result.feasible or result.note.startswith("breaks hard rule(s): capacity")
    acc = northeast.instance.accounts
    skill, _ = segment_teams(northeast)
    design = result.design.assignment
    held = (acc.locked | result.problem.accounts.protected) & (acc.current_rep >= 0)
    assert np.array_equal(design[held], acc.current_rep[held])
    free = np.flatnonzero(~held)
    assert skill[design[free], acc.segment[free]].all()
    # The comparison is against the reps' listed skills, not the teams'.
    assert result.design.evaluation.objectives == evaluate(northeast, design).objectives


def test_headcount_adds_reps_that_take_accounts(northeast):
    result = headcount(northeast, SOLVER, delta=2, seed=0)
    assert result.feasible, result.note
    reps = result.organisation.instance.reps
    assert reps.n_reps == 10 and (reps.status[8:] == NEW).all()
    assert np.isin([8, 9], result.design.assignment).all()
    assert northeast.n_reps == 8


def test_stress_pairs_every_design_with_today_under_the_same_draws(loose):
    scenarios = [departure(loose, SOLVER, "R1"), headcount(loose, SOLVER, delta=1, seed=0)]
    params = SimParams(horizon_months=6)
    result, labels = stress_scenarios(loose, scenarios, params, 12, 3, 5, QUIET)
    assert labels == ["today", "departure", "headcount"]
    today = loose.instance.accounts.current_rep
    for row, s in enumerate(scenarios, start=1):
        # Alone on its padded organisation, the design books what it booked in the joint run.
        alone = simulate_designs(
            with_empty_seats(s.organisation.instance, 4),
            np.stack([today, s.design.assignment]),
            params,
            12,
            3,
            5,
            QUIET,
        )
        assert np.array_equal(alone.metrics[1], result.metrics[row])
    padded_today = simulate_designs(
        with_empty_seats(loose.instance, 4), today[None, :], params, 12, 3, 5, QUIET
    )
    assert np.array_equal(padded_today.metrics[0], result.metrics[0])
    scenario_rows, summary = labelled_tables(result, labels)
    assert scenario_rows.num_rows == 36
    assert summary.column("design").to_pylist() == labels


def test_design_scenarios_runs_the_list_in_library_order(loose):
    settings = ScenarioSettings(run=("departure", "status_quo_plus"), departure_rep="R3")
    found = design_scenarios(loose, settings, SOLVER, seed=0)
    assert [s.name for s in found] == ["status_quo_plus", "departure"]
    with pytest.raises(TerrasimError, match="no rep 'X'"):
        design_scenarios(loose, dataclasses.replace(settings, departure_rep="X"), SOLVER, 0)


def test_comparison_has_today_and_one_row_per_scenario(loose):
    scenarios = [
        status_quo_plus(loose, SOLVER, max_moved=1),
        departure(loose, SOLVER, "R1"),
    ]
    params = SimParams(horizon_months=6)
    result, labels = stress_scenarios(loose, scenarios, params, 8, 0, 4, QUIET)
    _, summary = labelled_tables(result, labels)
    today = NamedDesign(
        "today", loose.accounts.current_rep, evaluate(loose, loose.accounts.current_rep)
    )
    table = comparison_table(loose, today, scenarios, summary)
    rows = table.to_pylist()
    assert [r["scenario"] for r in rows] == ["today", "status_quo_plus", "departure"]
    assert rows[0]["p_beats_today"] is None and rows[1]["p_beats_today"] is not None
    assert [r["reps"] for r in rows] == [3, 3, 2]
    assert sum(r["recommended"] for r in rows) == 1
    assert rows[1]["recommended"]  # a redesign for today's reps, not a departure
    assert recommend(scenarios, summary) == "status_quo_plus"


def test_settings_come_from_the_config_file_and_are_checked():
    from pathlib import Path

    cfg = OmegaConf.load(Path(__file__).resolve().parents[2] / "conf" / "scenarios.yaml")
    assert scenario_settings_from_config(cfg.scenarios) == ScenarioSettings()
    assert ScenarioSettings().run == SCENARIOS
    with pytest.raises(TerrasimError, match="unknown scenario.*nope"):
        scenario_settings_from_config({"run": ["nope"]})
    with pytest.raises(TerrasimError, match="scenarios.hybrid.colour: unknown setting"):
        scenario_settings_from_config({"hybrid": {"colour": 1}})
    with pytest.raises(TerrasimError, match="headcount.delta must not be 0"):
        scenario_settings_from_config({"headcount": {"delta": 0}})
    parsed = scenario_settings_from_config({"departure": {"rep": "R7"}, "run": ["departure"]})
    assert parsed.departure_rep == "R7" and parsed.run == ("departure",)
