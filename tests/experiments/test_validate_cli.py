"""`terrasim validate` through the CLI: summary and exit 0, or a message and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import account_columns, rep_columns, write_csv


def test_validate_prints_a_summary(run_cli, small_files, tmp_path: Path):
    accounts, reps = small_files
    code, out, err = run_cli(
        "validate",
        "data=files",
        f"data.accounts={accounts}",
        f"data.reps={reps}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 0, err
    assert "accounts    8 in 4 regions" in out
    assert "1 locked" in out
    assert (tmp_path / "run" / "config.yaml").is_file()


def test_bad_input_exits_2_and_writes_nothing(run_cli, tmp_path: Path):
    columns = account_columns()
    columns["potential"][1] = -3.0
    accounts = write_csv(tmp_path / "accounts.csv", columns)
    reps = write_csv(tmp_path / "reps.csv", rep_columns())
    run_dir = tmp_path / "run"
    code, out, err = run_cli(
        "validate",
        "data=files",
        f"data.accounts={accounts}",
        f"data.reps={reps}",
        f"hydra.run.dir={run_dir}",
    )
    assert code == 2
    assert "accounts.csv, column 'potential': must be >= 0 — rows 2" in err
    assert "Traceback" not in err
    assert not run_dir.exists()


def test_unknown_override_exits_2(run_cli, tmp_path: Path):
    code, _, err = run_cli("validate", "data.no_such_key=1", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    assert "no_such_key" in err
    assert not (tmp_path / "run").exists()


def test_unknown_experiment_exits_2(run_cli):
    code, _, err = run_cli("no-such-experiment")
    assert code == 2 and "unknown experiment" in err


def test_console_script_and_module_agree(small_files, tmp_path: Path):
    accounts, reps = small_files
    args = ["data=files", f"data.accounts={accounts}", f"data.reps={reps}"]
    script = Path(sys.executable).with_name("terrasim")
    first = subprocess.run(
        [str(script), "validate", *args, f"hydra.run.dir={tmp_path / 'a'}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    second = subprocess.run(
        [sys.executable, "-m", "experiments.validate", *args, f"hydra.run.dir={tmp_path / 'b'}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout
    assert (tmp_path / "a" / "config.yaml").read_text() == (
        tmp_path / "b" / "config.yaml"
    ).read_text()


def test_duplicate_column_exits_2(run_cli, tmp_path: Path):
    accounts = tmp_path / "accounts.csv"
    write_csv(accounts, account_columns())
    lines = accounts.read_text().splitlines()
    accounts.write_text("\n".join([lines[0] + ',"workload"'] + [f"{x},1" for x in lines[1:]]))
    reps = write_csv(tmp_path / "reps.csv", rep_columns())
    code, _, err = run_cli(
        "validate",
        "data=files",
        f"data.accounts={accounts}",
        f"data.reps={reps}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 2, err
    assert "repeats column name(s) 'workload' (2 times)" in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["data=files", "data.reps=R.csv"], "data=files needs data.accounts=PATH"),
        (["data=files", "data.accounts=A.csv"], "data=files needs data.reps=PATH"),
        (["data=files", "data.accounts=", "data.reps=R.csv"], "data.accounts is empty"),
        (["+data.accounts=A.csv", "+data.reps=R.csv"], "add data=files"),
        (["data.accounts=A.csv", "data.reps=R.csv"], "add data=files"),
        (["data=synthetic", "+data.reps=R.csv"], "data.reps is read only with data=files"),
    ],
    ids=["no accounts", "no reps", "empty accounts", "appended", "plain", "preset named"],
)
def test_input_files_need_data_files(run_cli, tmp_path: Path, args, expected):
    code, out, err = run_cli("validate", *args, f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2, out + err
    assert expected in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["validate", "optimize", "stress", "evaluate", "generate"])
@pytest.mark.parametrize("seed", ["abc", "1.5", "-1", "true"])
def test_a_seed_that_is_not_an_integer_exits_2_before_anything(
    run_cli, tmp_path: Path, command, seed
):
    code, _, err = run_cli(command, f"seed={seed}", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2, err
    assert f"terrasim {command}: error: seed must be an integer" in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()


def test_solver_seed_is_checked_too(run_cli, tmp_path: Path):
    code, _, err = run_cli("optimize", "solver.seed=x", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2 and "solver.seed must be an integer" in err, err


def test_input_warnings_are_one_line_on_stderr(run_cli, tmp_path: Path):
    reps = rep_columns()
    reps["regions"][2] = "NY;CT;Ohio"
    accounts = write_csv(tmp_path / "accounts.csv", account_columns())
    reps_file = write_csv(tmp_path / "reps.csv", reps)
    code, _, err = run_cli(
        "validate",
        "data=files",
        f"data.accounts={accounts}",
        f"data.reps={reps_file}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 0, err
    assert err.strip() == (
        f"terrasim validate: warning: {reps_file}, column 'regions': rep R3 regions 'Ohio' "
        "match no account region, ignored; regions in the data: CT, MA, NY, RI"
    )


def validate_columns(run_cli, tmp_path: Path, accounts: dict, reps: dict, *overrides: str):
    return run_cli(
        "validate",
        "data=files",
        f"data.accounts={write_csv(tmp_path / 'accounts.csv', accounts)}",
        f"data.reps={write_csv(tmp_path / 'reps.csv', reps)}",
        *overrides,
        f"hydra.run.dir={tmp_path / 'run'}",
    )


def test_an_account_no_rep_may_hold_exits_2(run_cli, tmp_path: Path):
    accounts = account_columns()
    accounts["barred_reps"][7] = "R1"  # A8, tech in MA: R1 was the only rep allowed
    code, out, err = validate_columns(run_cli, tmp_path, accounts, rep_columns())
    assert code == 2, out + err
    assert "infeasible under rule 'barred': 1 account(s) have no rep the rules allow" in err
    assert err.rstrip().endswith("— accounts A8")
    assert not (tmp_path / "run").exists()
    code, _, err = validate_columns(
        run_cli, tmp_path, accounts, rep_columns(), "objective.rules.barred=false"
    )
    assert code == 0, err


def test_locked_workload_over_its_reps_capacity_exits_2(run_cli, tmp_path: Path):
    reps = rep_columns()
    reps["capacity"][1] = 150.0  # R2 holds locked A4, 200 h of workload
    code, out, err = validate_columns(run_cli, tmp_path, account_columns(), reps)
    assert code == 2, out + err
    assert "infeasible under rule 'capacity'" in err
    assert "R2 200 h against 165 h" in err and err.rstrip().endswith("— accounts A4")
    code, _, err = validate_columns(
        run_cli, tmp_path, account_columns(), reps, "objective.rules.capacity.enabled=false"
    )
    assert code == 0, err
