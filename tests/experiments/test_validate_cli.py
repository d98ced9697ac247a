"""`terrasim validate` through the CLI: summary and exit 0, or a message and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import account_columns, write_csv


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
    from tests.conftest import rep_columns

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
