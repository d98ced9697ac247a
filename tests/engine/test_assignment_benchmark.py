"""Capacity-constrained assignment benchmarks: CPMP and GAP readers, CPMP through the engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.benchmarks.assignment import (
    NOT_EXPRESSIBLE,
    cpmp_dir,
    gap_abcde_dir,
    gap_expressible,
    gap_optima,
    gap_orlib_dir,
    read_cpmp,
    read_gap,
    run_cpmp,
    solve_gap_engine,
)
from engine.errors import InputError


@pytest.fixture
def cpmp():
    directory = cpmp_dir()
    if directory is None:
        pytest.skip("shared folder with benchmarks/cpmp_osman_christofides is absent")
    return directory


@pytest.fixture
def gap_dirs():
    orlib, abcde = gap_orlib_dir(), gap_abcde_dir()
    if orlib is None or abcde is None:
        pytest.skip("shared folder with the GAP benchmarks is absent")
    return orlib, abcde


def test_read_gap_both_layouts(tmp_path: Path):
    # Multi-problem file: P=2, problems of 2x3 and 1x2.
    multi = tmp_path / "multi.txt"
    multi.write_text("2\n2 3\n1 2 3 4 5 6\n1 1 1 2 2 2\n5 6\n1 2\n7 8\n3 4\n9\n")
    problems = read_gap(multi)
    assert [p[0].shape for p in problems] == [(2, 3), (1, 2)]
    np.testing.assert_array_equal(problems[0][1], [[1, 1, 1], [2, 2, 2]])
    np.testing.assert_array_equal(problems[1][2], [9])
    single = tmp_path / "single"
    single.write_text("1 2\n3 4\n5 6\n11\n")
    [(cost, resource, capacity)] = read_gap(single)
    assert cost.shape == (1, 2) and capacity.tolist() == [11.0]
    bad = tmp_path / "bad"
    bad.write_text("2 3 1 2\n")
    with pytest.raises(InputError):
        read_gap(bad)


def test_read_cpmp_sizes(cpmp):
    data = read_cpmp(cpmp / "cpmp01.txt")
    assert (data["distance"].shape, data["p"], data["capacity"], data["optimum"]) == (
        (50, 50),
        5,
        120.0,
        713,
    )
    assert np.all(data["distance"] == np.floor(data["distance"]))
    assert data["demand"].shape == (50,) and data["demand"].min() > 0
    assert read_cpmp(cpmp / "cpmp20.txt")["distance"].shape == (100, 100)


def test_cpmp01_is_feasible_and_not_below_the_optimum(cpmp):
    [row] = run_cpmp(time_limit=1.0, seed=0, instances=["cpmp01"])
    assert row["feasible"] is True
    assert row["found"] >= row["optimum"] == 713
    assert row["gap_percent"] < 10.0


def test_gap_readers_and_optima(gap_dirs):
    orlib, abcde = gap_dirs
    problems = read_gap(orlib / "gap12.txt")
    assert len(problems) == 5
    assert problems[0][0].shape == (10, 60) and problems[0][2].shape == (10,)
    [(cost, resource, capacity)] = read_gap(abcde / "d05100")
    assert cost.shape == resource.shape == (5, 100) and capacity.shape == (5,)
    optima = gap_optima()
    assert optima["gap1-1"] == (261, True) and optima["gap12-5"] == (945, True)
    assert optima["a05100"] == (1698, True) and optima["d20200"] == (12244, False)
    assert not gap_expressible(resource)
    assert "not expressible" in NOT_EXPRESSIBLE


def test_an_expressible_gap_is_solved_by_the_engine():
    # Identical resource rows: 2 agents of capacity 3, four jobs of size 1.5; the cheap agent 0
    # can take only two jobs, and the best pair to give it is jobs 0 and 1.
    cost = np.array([[1.0, 1.0, 5.0, 5.0], [9.0, 9.0, 6.0, 6.0]])
    resource = np.full((2, 4), 1.5)
    assert gap_expressible(resource)
    found, ok = solve_gap_engine(cost, resource, np.array([3.0, 3.0]), 1.0, 0)
    assert ok and found == 14.0
