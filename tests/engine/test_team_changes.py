"""A team that changes: a leaving rep with a book, an open req, an account its rep may not hold."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401 (pa.compute)
import pytest

from engine.errors import InputError
from engine.generator import generate_instance
from engine.infeasibility import forced_moves
from engine.optimize import SolverSettings, optimize
from engine.problem import build_problem
from engine.rules import Objective, Rules
from engine.scenarios import SCENARIOS, ScenarioSettings, design_scenarios
from engine.validate import instance_from_tables
from tests.conftest import DEFAULT_WEIGHTS

SOLVER = SolverSettings(time_limit=3.0, ils_rounds=60, ils_patience=30)
LEAVER, OPEN_REQ = "R0002", "REQ-1"


def team_tables() -> tuple[pa.Table, pa.Table, str]:
    """Northeast with R0002 leaving (its book unlocked), an open req, one misplaced account."""
    accounts, reps = generate_instance("northeast", seed=0, n_accounts=400, n_reps=10)
    current = accounts.column("current_rep").to_pylist()
    locked = [
        lock and rep != LEAVER
        for lock, rep in zip(accounts.column("locked").to_pylist(), current, strict=True)
    ]
    # One account of a staying rep moved to a region that rep does not cover: today's design
    # breaks the regions rule there, and every redesign must move it.
    rep_regions = dict(
        zip(reps.column("rep_id").to_pylist(), reps.column("regions").to_pylist(), strict=True)
    )
    regions = accounts.column("region").to_pylist()
    misplaced = next(
        i
        for i, rep in enumerate(current)
        if rep not in (None, "", LEAVER)
        and rep_regions[rep]
        and not locked[i]
        and "NJ" not in rep_regions[rep].split(";")
    )
    regions[misplaced] = "NJ"
    accounts = accounts.set_column(
        accounts.column_names.index("locked"), "locked", pa.array(locked)
    )
    accounts = accounts.set_column(
        accounts.column_names.index("region"), "region", pa.array(regions)
    )
    status = [
        "leaving" if r == LEAVER else s
        for r, s in zip(
            reps.column("rep_id").to_pylist(), reps.column("status").to_pylist(), strict=True
        )
    ]
    reps = reps.set_column(reps.column_names.index("status"), "status", pa.array(status))
    # Room for the leaver's book: what is tested is the team change, not a capacity squeeze.
    capacity = pa.compute.multiply(reps.column("capacity"), 1.5)
    reps = reps.set_column(reps.column_names.index("capacity"), "capacity", capacity)
    req = {name: [reps.column(name)[0].as_py()] for name in reps.column_names}
    req.update(
        rep_id=[OPEN_REQ],
        name=["Open req"],
        status=["new"],
        tenure_months=[0.0],
        specialist=[False],
        skills=[""],
        regions=[""],
    )
    reps = pa.concat_tables([reps, pa.table(req, schema=reps.schema)])
    return accounts, reps, accounts.column("account_id")[misplaced].as_py()


def team_problem(rules: Rules | None = None):
    accounts, reps, _ = team_tables()
    rules = rules or Rules()
    instance = instance_from_tables(accounts, reps, rules)
    return build_problem(instance, Objective(weights=DEFAULT_WEIGHTS, circuity=1.3, rules=rules))


@pytest.fixture(scope="module")
def team():
    return team_problem()


def test_the_team_has_forced_moves(team):
    forced = forced_moves(team)
    leaver = team.instance.reps.ids.tolist().index(LEAVER)
    assert set(forced) == {"leaving", "regions"}
    assert len(forced["leaving"]) == int((team.accounts.current_rep == leaver).sum()) > 0
    assert len(forced["regions"]) == 1


def test_potential_change_binds_the_reps_who_stay():
    """A leaving rep loses all, an open req gains from nothing: neither breaks the rule."""
    problem = team_problem(Rules(max_potential_change=0.35))
    design = optimize(problem, SOLVER)
    assert design.feasible
    change = design.evaluation.rep_potential_change
    ids = problem.instance.reps.ids.tolist()
    assert np.isnan(change[ids.index(LEAVER)]) and np.isnan(change[ids.index(OPEN_REQ)])
    staying = [j for j, r in enumerate(ids) if r not in (LEAVER, OPEN_REQ)]
    assert np.nanmax(np.abs(change[staying])) <= 0.35 + 1e-9


def test_a_protected_account_of_a_leaving_rep_is_a_conflict_at_validation():
    accounts, reps, _ = team_tables()
    with pytest.raises(InputError) as error:
        instance_from_tables(accounts, reps, Rules(protected_potential=0.0, regions=False))
    assert "protected_potential" in str(error.value) and "leaving" in str(error.value)


def test_every_scenario_designs_a_feasible_plan_for_the_team(team):
    _, _, misplaced = team_tables()
    settings = ScenarioSettings(time_limit=3.0, headcount_delta=1)
    designed = {s.name: s for s in design_scenarios(team, settings, SOLVER, seed=0)}
    assert tuple(designed) == SCENARIOS
    for name, s in designed.items():
        assert s.design is not None, f"{name}: {s.note}"
        assert s.feasible, f"{name}: {s.note}"
        assignment = s.design.assignment
        # The leaving rep's book and the misplaced account find new owners in every plan.
        leaver = team.instance.reps.ids.tolist().index(LEAVER)
        assert not (assignment == leaver).any(), name
        i = team.instance.accounts.ids.tolist().index(misplaced)
        assert assignment[i] != team.accounts.current_rep[i], name
    forced = sum(len(a) for a in forced_moves(team).values())
    budget = round(settings.status_quo_plus_share * team.n_accounts)
    moved = designed["status_quo_plus"].design.evaluation.metrics["accounts_moved"]
    assert moved <= budget + forced
    assert str(forced) in designed["status_quo_plus"].description


def test_the_frontier_counts_its_budgets_on_top_of_the_forced_moves(team):
    from engine.frontier import FrontierSettings, frontier

    settings = FrontierSettings(population=8, generations=1, polish=0, time_limit=20.0)
    result = frontier(team, SOLVER, settings)
    forced = sum(len(a) for a in forced_moves(team).values())
    moved = [d.evaluation.metrics["accounts_moved"] for d in result.designs]
    assert result.recommended.evaluation.feasible
    assert min(moved) == forced
    assert f"eps_moved_{forced}" in {d.label for d in result.designs}
