"""engine.evaluate on a validated instance equals the plain reference of DESIGN §3.

This closes the loop from input tables through engine/problem.py's arrays to the kernels.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from engine.evaluate import evaluate
from engine.problem import build_problem
from engine.rules import Objective, Rules
from engine.validate import instance_from_tables
from tests.conftest import account_columns, rep_columns
from tests.kernels import reference

RULES = Rules(
    balance={"potential": 0.2, "accounts": 0.3},
    min_accounts=2,
    max_accounts=4,
    max_potential_change=0.1,
    max_moved=1,
    max_moved_potential_share=0.05,
    protected_potential=100000.0,
    contiguity=True,
    contiguity_k=2,
    max_distance_km=60.0,
)
WEIGHTS = {"potential_imbalance": 1.0, "travel": 0.1}


def plain(problem) -> reference.PlainInstance:
    inst = problem.instance
    acc, reps, r = inst.accounts, inst.reps, problem.rules
    barred = [
        set(acc.barred_rep[acc.barred_ptr[i] : acc.barred_ptr[i + 1]].tolist())
        for i in range(acc.n_accounts)
    ]
    ptr, nb = problem.accounts.neighbour_ptr, problem.accounts.neighbour
    return reference.PlainInstance(
        lat=acc.lat.tolist(),
        lon=acc.lon.tolist(),
        measures=problem.accounts.measures.tolist(),
        current_rep=acc.current_rep.tolist(),
        segment=acc.segment.tolist(),
        region=acc.region.tolist(),
        locked=acc.locked.tolist(),
        protected=[
            p >= 100000.0 and c >= 0 for p, c in zip(acc.potential, acc.current_rep, strict=True)
        ],
        barred=barred,
        rep_lat=reps.home_lat.tolist(),
        rep_lon=reps.home_lon.tolist(),
        capacity=reps.capacity.tolist(),
        leaving=(reps.status == 2).tolist(),
        skills=[set(np.flatnonzero(row).tolist()) for row in reps.skill],
        specialist=reps.specialist.tolist(),
        regions=[
            None if row.all() else set(np.flatnonzero(row).tolist()) for row in reps.region_ok
        ],
        matrix=None,
        circuity=problem.objective.circuity,
        neighbours=[nb[ptr[i] : ptr[i + 1]].tolist() for i in range(acc.n_accounts)],
        rules_on={name: bool(on) for name, on in zip(reference_rule_names(), r.on, strict=True)},
        band_tolerance=r.band_tolerance.tolist(),
        capacity_slack=0.10,
        min_accounts=2.0,
        max_accounts=4.0,
        max_potential_change=0.1,
        max_moved=1.0,
        max_moved_potential=0.05 * float(acc.potential.sum()),
        max_distance=60.0,
        n_segments=len(acc.segment_names),
        n_regions=len(acc.region_names),
    )


def reference_rule_names():
    from kernels.arrays import RULE_NAMES

    return RULE_NAMES


@pytest.mark.parametrize(
    "design",
    [
        [0, 0, 0, 1, 2, 2, 2, -1],  # today
        [0, 1, 0, 1, 2, 0, 2, 1],  # a redesign that breaks several rules
        [2, 2, 2, 2, 2, 2, 2, 2],  # everything on one rep
    ],
    ids=["today", "redesign", "one territory"],
)
def test_engine_evaluation_equals_plain_reference(design):
    reps = rep_columns()
    reps["status"][0] = "leaving"
    accounts = account_columns()
    accounts["locked"][3] = False
    # The leaving rep's accounts below the protected potential: protected there is a conflict.
    on_leaver = [rep == reps["rep_id"][0] for rep in accounts["current_rep"]]
    accounts["potential"] = [
        min(p, 99_000.0) if leaves else p
        for p, leaves in zip(accounts["potential"], on_leaver, strict=True)
    ]
    instance = instance_from_tables(pa.table(accounts), pa.table(reps), RULES)
    problem = build_problem(instance, Objective(weights=WEIGHTS, circuity=1.3, rules=RULES))
    got = evaluate(problem, np.array(design))
    want = reference.evaluate(plain(problem), design)
    for name, value in want["objectives"].items():
        assert math.isclose(got.objectives[name], value, rel_tol=1e-9, abs_tol=1e-9), name
    for name, value in want["violations"].items():
        assert math.isclose(got.violations[name], value, rel_tol=1e-9, abs_tol=1e-6), name
    assert got.feasible == all(v <= 1e-9 for v in want["violations"].values())
    potential = np.array(want["totals"][0])
    assert np.allclose(got.rep_potential, potential, rtol=1e-12)
