"""Sweep bookkeeping: job results, finished markers, the typed columns of sweep.arrow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from omegaconf import OmegaConf

from engine.io import read_arrow
from engine.runs import Run
from engine.sweep import (
    FAILED,
    FINISHED,
    RESULT_FILE,
    checked_results,
    clear_job_folder,
    is_finished,
    sweep_id,
    sweep_table,
    typed_column,
    write_result,
)


def job_run(folder: Path, seed: int = 0) -> Run:
    folder.mkdir(parents=True, exist_ok=True)
    return Run(folder, OmegaConf.create({"seed": seed, "objective": {"weights": {"travel": 0.2}}}))


def test_sweep_id_is_stable_and_tells_sweeps_apart():
    one = sweep_id(OmegaConf.create(["seed=1,2"]), None)
    assert one == sweep_id(["seed=1,2"], None) and len(one) == 10
    assert one != sweep_id(["seed=1,3"], None)
    assert one != sweep_id(["seed=1,2"], OmegaConf.create({"solver.seed": "0,1"}))


@pytest.mark.parametrize(
    ("values", "kind", "expected"),
    [
        ([1, 2, None], pa.int64(), [1, 2, None]),
        ([1, 0.5], pa.float64(), [1.0, 0.5]),
        ([True, None, False], pa.bool_(), [True, None, False]),
        ([1, "a"], pa.string(), ["1", "a"]),
        ([True, 1], pa.string(), ["true", "1"]),
        ([[1, 2], None], pa.string(), ["[1, 2]", None]),
        ([None, None], pa.null(), [None, None]),
    ],
    ids=["ints", "ints and floats", "bools", "mixed", "bool and int", "lists", "nulls"],
)
def test_typed_column_keeps_one_sensible_type(values, kind, expected):
    column = typed_column(values)
    assert column.type == kind
    assert column.to_pylist() == expected


def test_checked_results_accepts_plain_values_and_numpy_scalars():
    results = checked_results({"moves": np.int64(3), "score": np.float64(0.5), "x": "a"})
    assert results == {"moves": 3, "score": 0.5, "x": "a"}
    assert type(results["moves"]) is int
    assert checked_results(None) == {}


@pytest.mark.parametrize(
    "results",
    [[1, 2], {"status": 1}, {3: 1.0}, {"design": np.zeros(3)}],
    ids=["not a dict", "reserved name", "name not a str", "array value"],
)
def test_checked_results_rejects_what_sweep_arrow_cannot_hold(results):
    with pytest.raises(TypeError):
        checked_results(results)


def test_result_marks_a_job_finished_only_under_the_same_config(tmp_path: Path):
    run = job_run(tmp_path / "0")
    assert not is_finished(run)
    write_result(run, 0, ["seed=0"], FINISHED, "", {"moves": 3})
    assert is_finished(run)
    assert not is_finished(job_run(tmp_path / "0", seed=1))
    write_result(run, 0, ["seed=0"], FAILED, "bad file", {})
    assert not is_finished(run)


def test_clear_job_folder_empties_only_a_folder_inside_the_sweep(tmp_path: Path):
    sweep = tmp_path / "sweep"
    job = sweep / "0"
    (job / "plots").mkdir(parents=True)
    for name in ("designs.arrow", ".designs.arrow.x.tmp"):
        (job / name).write_text("partial")
    clear_job_folder(sweep, sweep)  # the sweep folder itself is never emptied
    clear_job_folder(job, tmp_path / "elsewhere")
    assert len(list(job.iterdir())) == 3
    clear_job_folder(job, sweep)
    assert [p.name for p in job.iterdir()] == ["plots"]


def test_sweep_table_one_row_per_job_in_job_order(tmp_path: Path):
    runs = [job_run(tmp_path / str(j), seed=j) for j in range(3)]
    write_result(runs[2], 2, ["seed=2", "data=files"], FAILED, "no such file", {})
    write_result(runs[0], 0, ["seed=0", "data=files"], FINISHED, "", {"moves": 4, "seed": 9})
    write_result(runs[1], 1, ["seed=1", "data=files"], FINISHED, "", {"moves": 5, "seed": 9})
    table = sweep_table([tmp_path / "2", tmp_path / "0", tmp_path / "1"])
    assert table.column_names == [
        "job",
        "status",
        "overrides",
        "seed",
        "data",
        "moves",
        "result.seed",
        "message",
    ]
    assert table.column("job").to_pylist() == [0, 1, 2]
    assert table.column("status").to_pylist() == [FINISHED, FINISHED, FAILED]
    assert table.schema.field("seed").type == pa.int64()
    assert table.column("seed").to_pylist() == [0, 1, 2]
    assert table.column("data").to_pylist() == ["files"] * 3
    assert table.column("moves").to_pylist() == [4, 5, None]
    assert table.column("message").to_pylist() == ["", "", "no such file"]


def test_result_file_carries_provenance(tmp_path: Path):
    run = job_run(tmp_path / "0", seed=7)
    write_result(run, 0, ["seed=7"], FINISHED, "", {"moves": 1})
    meta = read_arrow(tmp_path / "0" / RESULT_FILE).schema.metadata
    assert meta[b"terrasim.seed"] == b"7" and b"terrasim.git_commit" in meta
