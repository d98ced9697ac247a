"""The MILP benchmark: HiGHS solves the engine's own model exactly; terrasim is never below it."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pyarrow as pa
import pytest

from engine.benchmarks.milp import (
    band_instance,
    band_rules,
    parse_case,
    run_milp,
    solve_exact,
    travel_objective,
)
from engine.errors import TerrasimError
from engine.evaluate import evaluate
from engine.optimize import SolverSettings, optimize
from engine.problem import build_problem
from engine.validate import instance_from_tables
from tests.conftest import account_columns, rep_columns

pytest.importorskip("highspy")

BAND = 0.3  # binds on the fixture: the unbanded optimum puts 250K more on one rep


def _fixture_problem(band: float):
    accounts = account_columns()
    accounts["locked"] = [True] + [False] * 7  # A1 stays with R1
    rules = band_rules(band)
    instance = instance_from_tables(pa.table(accounts), pa.table(rep_columns()), rules)
    return accounts, build_problem(instance, travel_objective(rules))


def _haversine_km(lat1, lon1, lat2, lon2):
    lat1, lon1, lat2, lon2 = map(np.radians, (lat1, lon1, lat2, lon2))
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * np.arcsin(np.sqrt(h))


def _brute_force(accounts: dict, reps: dict, band: float) -> tuple[float, np.ndarray]:
    """Least travel over every assignment meeting the lock and the band, by plain numpy."""
    lat, lon = np.array(accounts["lat"]), np.array(accounts["lon"])
    d = 1.3 * _haversine_km(
        lat[:, None], lon[:, None], np.array(reps["home_lat"]), np.array(reps["home_lon"])
    )
    workload, potential = np.array(accounts["workload"]), np.array(accounts["potential"])
    capacity = np.array(reps["capacity"])
    target = capacity / capacity.sum() * potential.sum()
    n, m = d.shape
    designs = np.array(list(itertools.product(range(m), repeat=n)))
    travel = (workload * d[np.arange(n), designs]).sum(axis=1) / workload.sum()
    totals = np.stack([((designs == j) * potential).sum(axis=1) for j in range(m)], axis=1)
    ok = (np.abs(totals / target - 1) <= band).all(axis=1) & (designs[:, 0] == 0)
    best = int(np.argmin(np.where(ok, travel, np.inf)))
    return float(travel[best]), designs[best]


def test_highs_finds_the_brute_force_optimum_under_band_and_lock():
    accounts, problem = _fixture_problem(BAND)
    exact = solve_exact(problem, time_limit=30.0)
    reference, design = _brute_force(accounts, rep_columns(), BAND)
    assert exact.proven and exact.objective == pytest.approx(reference, rel=1e-9)
    np.testing.assert_array_equal(exact.assignment, design)
    # The band binds: without it the optimum is far lower.
    _, loose = _fixture_problem(10.0)
    assert solve_exact(loose, time_limit=30.0).objective < 0.5 * reference


def test_the_engine_scores_the_milp_design_as_highs_does():
    _, problem = _fixture_problem(BAND)
    exact = solve_exact(problem, time_limit=30.0)
    scored = evaluate(problem, exact.assignment)
    assert scored.feasible
    assert scored.objectives["travel"] == pytest.approx(exact.objective, rel=1e-9)
    assert exact.assignment[0] == 0  # the locked account kept its rep


def test_an_impossible_band_is_reported_infeasible():
    _, problem = _fixture_problem(0.1)  # no split of these 8 accounts is within ±10 %
    exact = solve_exact(problem, time_limit=30.0)
    assert exact.status == "Infeasible" and exact.assignment is None


def test_terrasim_is_feasible_and_never_below_the_optimum():
    problem = build_problem(
        band_instance(80, 4, seed=1, band=0.1), travel_objective(band_rules(0.1))
    )
    exact = solve_exact(problem, time_limit=60.0)
    assert exact.proven
    design = optimize(problem, SolverSettings(time_limit=2.0, seed=0, raise_infeasible=False))
    assert design.feasible
    assert design.evaluation.objectives["travel"] >= exact.objective * (1 - 1e-9)
    assert problem.instance.accounts.locked.any()


def test_unmodelled_rules_are_refused():
    _, problem = _fixture_problem(BAND)
    rules = dataclasses.replace(band_rules(BAND), max_moved=2)
    refused = build_problem(problem.instance, travel_objective(rules))
    with pytest.raises(TerrasimError, match="not modelled"):
        solve_exact(refused)


def test_run_milp_row():
    [row] = run_milp([(60, 4)], time_limit=1.0, band=0.1, milp_time_limit=60.0)
    assert row["instance"] == "northeast-60x4-s0" and row["milp_status"] == "Optimal"
    assert row["feasible"] and row["gap_percent"] >= -1e-6
    assert row["gap_bound_percent"] >= row["gap_percent"] - 1e-6


def test_parse_case():
    assert parse_case("500x15") == (500, 15)
    assert parse_case("northeast-2000x40-s0") == (2000, 40)
    with pytest.raises(TerrasimError):
        parse_case("big")
