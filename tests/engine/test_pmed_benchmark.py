"""OR-Library pmed reader and the greenfield p-median on pmed1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.benchmarks import shared_dir
from engine.benchmarks.pmed import pmed_dir, read_pmed, read_pmed_optima
from engine.benchmarks.quality import format_rows, run_pmed
from engine.errors import InputError
from engine.greenfield import choose_centres


@pytest.fixture
def pmed():
    directory = pmed_dir()
    if directory is None:
        pytest.skip("shared folder with benchmarks/pmed is absent (set TERRASIM_SHARED)")
    return directory


def test_shared_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TERRASIM_SHARED", str(tmp_path))
    assert shared_dir() == tmp_path
    monkeypatch.setenv("TERRASIM_SHARED", str(tmp_path / "missing"))
    assert shared_dir() is None
    assert pmed_dir() is None


def test_a_duplicate_edge_takes_its_last_cost(tmp_path: Path):
    # Path 1-2-3 with edge 1-2 listed twice (second time reversed): the last cost, 7, wins.
    path = tmp_path / "tiny.txt"
    path.write_text("3 3 1\n1 2 2\n2 3 4\n2 1 7\n")
    distance, p = read_pmed(path)
    assert p == 1
    np.testing.assert_array_equal(distance, [[0, 7, 11], [7, 0, 4], [11, 4, 0]])
    # The minimum rule would have put the median at vertex 2 with cost 2 + 4 = 6;
    # with the last cost it is still vertex 2 but costs 7 + 4 = 11.
    assert choose_centres(distance, p).objective == 11.0


def test_a_later_cheaper_duplicate_also_overrides(tmp_path: Path):
    path = tmp_path / "tiny.txt"
    path.write_text("3 3 2\n1 2 9\n1 2 1\n2 3 5\n")
    distance, _ = read_pmed(path)
    assert distance[0, 1] == 1 and distance[0, 2] == 6


def test_malformed_pmed_files_are_input_errors(tmp_path: Path):
    short = tmp_path / "short.txt"
    short.write_text("3 3 1\n1 2 2\n")
    with pytest.raises(InputError, match="promises 3 edges"):
        read_pmed(short)
    split = tmp_path / "split.txt"
    split.write_text("4 2 1\n1 2 2\n3 4 1\n")
    with pytest.raises(InputError, match="not connected"):
        read_pmed(split)


def test_pmed1_reads_as_100_vertices_and_5_medians(pmed):
    distance, p = read_pmed(pmed / "pmed1.txt")
    assert distance.shape == (100, 100) and p == 5
    np.testing.assert_array_equal(distance, distance.T)
    assert read_pmed_optima(pmed / "pmedopt.txt")["pmed1"] == 5819


def test_choose_centres_reaches_the_pmed1_optimum(pmed):
    distance, p = read_pmed(pmed / "pmed1.txt")
    result = choose_centres(distance, p, seed=0, restarts=2)
    assert result.objective == 5819
    # The proven optimal medians (1-based 7, 13, 65, 91, 99, SOURCE.md).
    assert (result.centres + 1).tolist() == [7, 13, 65, 91, 99]


def test_run_pmed_rows_and_table(pmed):
    rows = run_pmed(["pmed1"], time_limit=5.0, seed=0)
    assert rows[0]["section"] == "pmed" and rows[0]["optimal"]
    assert rows[0]["gap_percent"] == 0.0 and rows[0]["found"] == 5819
    table = format_rows(rows)
    assert "| instance |" in table and "| pmed1 |" in table
    assert "1 of 1 solved to optimality" in table
