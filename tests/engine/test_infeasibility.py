"""Problems refused before any search: unplaceable accounts, held workload over capacity."""

from __future__ import annotations

import pyarrow as pa
import pytest

from engine.errors import InfeasibleError
from engine.infeasibility import check_before_search
from engine.problem import build_problem
from engine.rules import Objective, Rules
from engine.validate import instance_from_tables
from tests.conftest import DEFAULT_WEIGHTS, account_columns, rep_columns


def problem_of(rules: Rules, capacity: list[float]):
    reps = rep_columns()
    reps["capacity"] = capacity
    instance = instance_from_tables(pa.table(account_columns()), pa.table(reps), rules)
    return build_problem(instance, Objective(weights=DEFAULT_WEIGHTS, circuity=1.3, rules=rules))


def test_protected_accounts_count_as_held_in_place():
    # R1 holds A1, A2, A3 (240 h) today; all are protected at 50,000 of potential.
    capacity = [200.0, 300.0, 700.0]
    check_before_search(problem_of(Rules(), capacity))  # they may move: no error
    with pytest.raises(InfeasibleError) as info:
        check_before_search(problem_of(Rules(protected_potential=50_000.0), capacity))
    assert info.value.rule == "capacity"
    assert info.value.account_ids == ["A1", "A2", "A3"]
    assert "R1 240 h against 220 h" in str(info.value)
    assert "locked or protected" in str(info.value)


def test_held_workload_within_capacity_passes():
    check_before_search(problem_of(Rules(protected_potential=50_000.0), [400.0, 300.0, 350.0]))
