"""`terrasim evaluate`: a table on screen, evaluation.arrow with provenance, exit 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pytest

from kernels.arrays import OBJECTIVE_NAMES


def read(path: Path) -> pa.Table:
    with ipc.open_file(path) as reader:
        return reader.read_all()


def test_evaluate_writes_one_row_with_provenance(run_cli, small_files, tmp_path: Path):
    accounts, reps = small_files
    run_dir = tmp_path / "run"
    code, out, err = run_cli(
        "evaluate",
        "data=files",
        f"data.accounts={accounts}",
        f"data.reps={reps}",
        "seed=3",
        f"hydra.run.dir={run_dir}",
    )
    assert code == 0, err
    assert "potential_imbalance" in out
    table = read(run_dir / "evaluation.arrow")
    assert table.num_rows == 1
    for column in (*OBJECTIVE_NAMES, "accounts_moved", "potential_ratio_max", "feasible"):
        assert column in table.column_names
    assert table.column("accounts_moved")[0].as_py() == 0
    assert table.column("accounts_unassigned")[0].as_py() == 1
    meta = table.schema.metadata
    assert json.loads(meta[b"terrasim.config"])["seed"] == 3
    assert meta[b"terrasim.seed"] == b"3"
    assert b"numba" in meta[b"terrasim.libraries"]
    assert (run_dir / "config.yaml").is_file()


def test_evaluate_an_assignment_file(run_cli, small_files, tmp_path: Path):
    accounts, reps = small_files
    ids = [f"A{i}" for i in range(1, 9)]
    design = ["R1", "R1", "R1", "R2", "R3", "R3", "R1", "R1"]  # A7 moves R3 -> R1, A8 gets R1
    pacsv.write_csv(pa.table({"account_id": ids, "rep_id": design}), tmp_path / "design.csv")
    code, out, err = run_cli(
        "evaluate",
        "data=files",
        f"data.accounts={accounts}",
        f"data.reps={reps}",
        f"assignment={tmp_path / 'design.csv'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 0, err
    table = read(tmp_path / "run" / "evaluation.arrow")
    assert table.column("accounts_moved")[0].as_py() == 1
    assert table.column("accounts_unassigned")[0].as_py() == 0
    total = 120000 + 80000 + 50000 + 300000 + 40000 + 60000 + 90000 + 10000
    assert table.column("disruption")[0].as_py() == pytest.approx(90000 / total, rel=1e-12)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ({"account_id": ["A1"], "rep_id": ["R1"]}, "misses 7 account"),
        (
            {"account_id": [f"A{i}" for i in range(1, 9)], "rep_id": ["R9"] * 8},
            "names a rep not in",
        ),
        ({"account_id": ["A1", "A1"], "rep_id": ["R1", "R1"]}, "lists an account twice"),
        ({"account": ["A1"], "rep_id": ["R1"]}, "column 'account_id': missing column"),
    ],
    ids=["missing accounts", "unknown rep", "duplicate account", "missing column"],
)
def test_bad_assignment_exits_2(run_cli, small_files, tmp_path: Path, rows, expected):
    accounts, reps = small_files
    pacsv.write_csv(pa.table(rows), tmp_path / "design.csv")
    code, _, err = run_cli(
        "evaluate",
        "data=files",
        f"data.accounts={accounts}",
        f"data.reps={reps}",
        f"assignment={tmp_path / 'design.csv'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 2
    assert expected in err
    assert not (tmp_path / "run").exists()


def test_evaluate_preset_is_reproducible(run_cli, tmp_path: Path):
    for name in ("a", "b"):
        code, _, err = run_cli("evaluate", f"hydra.run.dir={tmp_path / name}")
        assert code == 0, err
    assert (tmp_path / "a" / "evaluation.arrow").read_bytes() == (
        tmp_path / "b" / "evaluation.arrow"
    ).read_bytes()


def test_broken_rules_are_named_with_units_and_accounts(run_cli, small_files, tmp_path: Path):
    accounts, reps = small_files
    ids = [f"A{i}" for i in range(1, 9)]
    pacsv.write_csv(pa.table({"account_id": ids, "rep_id": ["R1"] * 8}), tmp_path / "design.csv")
    code, out, err = run_cli(
        "evaluate",
        "data=files",
        f"data.accounts={accounts}",
        f"data.reps={reps}",
        f"assignment={tmp_path / 'design.csv'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 0, err
    pad = " " * len("hard rules broken: ")
    assert (
        "hard rules broken: locked: 1 account(s) on a rep the rule forbids — accounts A4\n"
        f"{pad}regions: 3 account(s) on a rep the rule forbids — accounts A5, A6, A7\n"
        f"{pad}capacity: 230 hours of workload over the reps' capacity — accounts A1, A2, A3, "
        "A4, A5, A6, A7, A8\n"
    ) in out


def test_long_lists_of_accounts_are_cut_at_ten(run_cli, tmp_path: Path):
    code, out, err = run_cli(
        "evaluate", "objective.rules.capacity.slack=0", f"hydra.run.dir={tmp_path / 'run'}"
    )
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("hard rules broken: "))
    assert line.startswith("hard rules broken: capacity: 1,635 hours of workload over the reps'")
    assert line.count(", A") == 9 and line.endswith(" more)")
