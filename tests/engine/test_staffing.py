"""Headcount changes (engine/staffing.py): where new reps go, who leaves, and the errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pytest

from engine.errors import TerrasimError
from engine.generator import generate_instance
from engine.greenfield import choose_centres_geo
from engine.model import LEAVING, NEW
from engine.optimize import SolverSettings, optimize
from engine.problem import build_problem
from engine.rules import Objective, Rules
from engine.simulation import SimParams, simulate_designs
from engine.staffing import (
    change_headcount,
    new_rep_homes,
    removal_loss,
    remove_reps,
    with_empty_seats,
)
from engine.validate import instance_from_tables
from tests.conftest import DEFAULT_WEIGHTS, account_columns, rep_columns

RULES = Rules()
OBJECTIVE = Objective(weights=DEFAULT_WEIGHTS, circuity=1.3, rules=RULES)


def two_metros(n_big: int = 60, n_small: int = 20, seed: int = 1):
    """A big metro (Boston) with a rep at home there, and a small one (Pittsburgh) with none."""
    rng = np.random.default_rng(seed)
    lat = np.concatenate(
        [42.36 + 0.1 * rng.standard_normal(n_big), 40.44 + 0.1 * rng.standard_normal(n_small)]
    )
    lon = np.concatenate(
        [-71.06 + 0.1 * rng.standard_normal(n_big), -79.99 + 0.1 * rng.standard_normal(n_small)]
    )
    n = n_big + n_small
    accounts = pa.table(
        {
            "account_id": [f"A{i}" for i in range(n)],
            "lat": lat,
            "lon": lon,
            "region": ["MA"] * n_big + ["PA"] * n_small,
            "segment": ["retail"] * n,
            "potential": np.full(n, 100_000.0),
            "workload": np.full(n, 50.0),
            "current_rep": ["R1"] * n_big + ["R2"] * n_small,
            "relationship_years": np.full(n, 2.0),
        }
    )
    reps = pa.table(
        {
            "rep_id": ["R1", "R2"],
            "home_lat": [42.36, 42.30],
            "home_lon": [-71.06, -71.20],
            "capacity": [3000.0, 2000.0],
            "tenure_months": [40.0, 20.0],
        }
    )
    return instance_from_tables(accounts, reps, RULES)


def small_generated(seed: int = 0):
    accounts, reps = generate_instance("northeast", seed=seed, n_accounts=160, n_reps=8)
    return instance_from_tables(accounts, reps, RULES)


def test_new_rep_home_lies_where_coverage_is_thinnest():
    instance = two_metros()
    # A plain p-median (no homes fixed) puts one centre in the big metro, where reps already are.
    plain = choose_centres_geo(instance.accounts.lat, instance.accounts.lon, 1, seed=0)
    assert instance.accounts.region[plain.centres[0]] == instance.accounts.region_names.index("MA")

    staffed, change = change_headcount(instance, 1, seed=0)
    assert change.added == ("new-1",) and change.removed == ()
    home_lat, home_lon = staffed.reps.home_lat[-1], staffed.reps.home_lon[-1]
    assert abs(home_lat - 40.44) < 0.5 and abs(home_lon + 79.99) < 0.5  # in the uncovered metro


def test_new_rep_home_is_the_exact_p_median_with_homes_fixed():
    instance = two_metros(n_big=30, n_small=12)
    homes, _ = new_rep_homes(instance, 1, seed=0)
    acc, reps = instance.accounts, instance.reps

    def km(lat1, lon1, lat2, lon2):
        p1, p2, dl = np.radians(lat1), np.radians(lat2), np.radians(lon2 - lon1)
        h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
        return 1.3 * 2 * 6371.0 * np.arcsin(np.sqrt(h))

    existing = np.min(
        [km(acc.lat, acc.lon, reps.home_lat[j], reps.home_lon[j]) for j in range(reps.n_reps)],
        axis=0,
    )
    served = [
        (acc.workload * np.minimum(existing, km(acc.lat, acc.lon, acc.lat[c], acc.lon[c]))).sum()
        for c in range(acc.n_accounts)
    ]
    assert served[homes[0]] == pytest.approx(min(served), rel=1e-9)


def test_two_new_reps_spread_over_two_thin_places():
    instance = two_metros()
    acc = instance.accounts
    # A third, far metro (Chicago) with no rep: the two new homes go one to each.
    moved = np.arange(70, 80)
    lat, lon = acc.lat.copy(), acc.lon.copy()
    lat[moved], lon[moved] = 41.88, -87.63
    instance = dataclasses.replace(instance, accounts=dataclasses.replace(acc, lat=lat, lon=lon))
    staffed, change = change_headcount(instance, 2, seed=3)
    homes = sorted(zip(staffed.reps.home_lon[-2:], staffed.reps.home_lat[-2:], strict=True))
    assert homes[0][0] == pytest.approx(-87.63, abs=0.01)  # Chicago
    assert abs(homes[1][0] + 79.99) < 0.5  # Pittsburgh
    assert len(change.added) == 2


def test_new_reps_are_new_generalists_appended_with_unique_ids():
    columns = rep_columns()
    columns["rep_id"] = ["R1", "new-1", "R3"]
    accounts = account_columns()
    accounts["current_rep"] = [r.replace("R2", "new-1") for r in accounts["current_rep"]]
    instance = instance_from_tables(pa.table(accounts), pa.table(columns), RULES)
    staffed, change = change_headcount(instance, 2, seed=0)
    reps = staffed.reps
    assert change.added == ("new-2", "new-3")
    assert reps.ids.tolist() == ["R1", "new-1", "R3", "new-2", "new-3"]
    assert reps.names[3:].tolist() == ["New rep 1", "New rep 2"]
    assert (reps.status[3:] == NEW).all() and (reps.tenure_months[3:] == 0).all()
    assert reps.capacity[3:].tolist() == [float(np.median(instance.reps.capacity))] * 2
    assert not reps.specialist[3:].any() and not reps.skill[3:].any()
    # Each new rep may cover the region its home is in.
    home_region = [
        staffed.accounts.region[np.flatnonzero(staffed.accounts.lat == lat)[0]]
        for lat in reps.home_lat[3:]
    ]
    assert all(reps.region_ok[3 + r, g] for r, g in enumerate(home_region))
    # Accounts untouched: today's rep indices still point at the same reps.
    assert staffed.accounts is instance.accounts
    assert (reps.status[:3] == instance.reps.status).all()


def test_removed_reps_are_leaving_and_get_no_accounts_after_optimize():
    instance = small_generated()
    staffed, change = change_headcount(instance, -2, seed=0)
    assert len(change.removed) == 2
    gone = np.flatnonzero(np.isin(staffed.reps.ids, change.removed))
    assert (staffed.reps.status[gone] == LEAVING).all()
    assert staffed.reps.n_reps == instance.reps.n_reps
    assert (instance.accounts.current_rep[:, None] == gone).any()  # they held accounts today
    problem = build_problem(staffed, OBJECTIVE)
    design = optimize(problem, SolverSettings(max_moves=2000, time_limit=60.0))
    assert not np.isin(design.assignment, gone).any()
    assert (design.assignment >= 0).all()


def test_removal_takes_the_reps_that_lose_the_least():
    instance = small_generated()
    loss = removal_loss(instance)
    staffed, change = remove_reps(instance, 1)
    gone = int(np.flatnonzero(staffed.reps.ids == change.removed[0])[0])
    holds_locked = np.isin(
        np.arange(instance.reps.n_reps), instance.accounts.current_rep[instance.accounts.locked]
    )
    eligible = ~holds_locked & (instance.reps.status != LEAVING)
    assert loss[gone] == loss[eligible].min()


def test_an_open_req_is_removed_before_a_rep_with_accounts():
    instance = small_generated()
    staffed, added = change_headcount(instance, 1, seed=0)  # an open req: no accounts yet
    assert removal_loss(staffed)[-1] == 0.0
    _, change = remove_reps(staffed, 1)
    assert change.removed == added.added


def test_removal_keeps_a_rep_for_every_region_and_segment():
    # The small instance: R1 alone may hold MA retail, R3 alone NY tech, R2 holds a locked one.
    instance = instance_from_tables(pa.table(account_columns()), pa.table(rep_columns()), RULES)
    with pytest.raises(TerrasimError, match="only 0 can leave"):
        change_headcount(instance, -1, seed=0)


def test_headcount_change_is_deterministic_for_a_seed():
    instance = small_generated()
    first, a = change_headcount(instance, 3, seed=7)
    second, b = change_headcount(instance, 3, seed=7)
    assert a == b
    assert np.array_equal(first.reps.home_lat, second.reps.home_lat)
    assert np.array_equal(first.reps.region_ok, second.reps.region_ok)
    removed_1 = change_headcount(instance, -3, seed=1)[1]
    removed_2 = change_headcount(instance, -3, seed=2)[1]
    assert removed_1.removed == removed_2.removed


def test_zero_change_returns_the_instance():
    instance = small_generated()
    staffed, change = change_headcount(instance, 0, seed=0)
    assert staffed is instance and change.added == change.removed == ()


@pytest.mark.parametrize(
    ("delta", "message"),
    [
        (-8, "cannot remove 8 reps: 8 rep"),
        (-20, "at least one must stay"),
        (161, "only 160 accounts"),
        (1.5, "whole number"),
    ],
)
def test_impossible_changes_are_user_errors(delta, message):
    with pytest.raises(TerrasimError, match=message):
        change_headcount(small_generated(), delta, seed=0)


def test_adding_reps_needs_coordinates_not_a_distance_matrix():
    instance = small_generated()
    matrix = np.ones((instance.accounts.n_accounts, instance.reps.n_reps))
    with pytest.raises(TerrasimError, match="distance matrix"):
        change_headcount(dataclasses.replace(instance, distance_matrix=matrix), 1, seed=0)
    staffed, _ = change_headcount(dataclasses.replace(instance, distance_matrix=matrix), -1, 0)
    assert (staffed.reps.status == LEAVING).sum() == 1


def test_empty_seats_book_nothing_and_hold_no_quota():
    instance = small_generated()
    padded = with_empty_seats(instance, instance.reps.n_reps + 3)
    assert padded.reps.n_reps == instance.reps.n_reps + 3
    assert (padded.reps.status[-3:] == LEAVING).all()
    assert (padded.reps.status[:-3] == instance.reps.status).all()
    # Appended seats draw after every real rep (kernels.simulation.draw_scenario), so the padded
    # instance books exactly what the plain one does, market shocks, turnover and lumpy deals
    # included: a command that adds seats leaves today's simulation as every other command has it.
    today = instance.accounts.current_rep[None, :]
    plain = simulate_designs(instance, today, SimParams(), n_scenarios=20, seed=0)
    seated = simulate_designs(padded, today, SimParams(), n_scenarios=20, seed=0)
    assert np.array_equal(seated.total_bookings, plain.total_bookings)
    assert np.array_equal(seated.departures, plain.departures)
    np.testing.assert_allclose(seated.attainment_spread, plain.attainment_spread, rtol=1e-12)
