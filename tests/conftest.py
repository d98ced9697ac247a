"""Shared fixtures: a small valid instance as tables, and running the CLI in-process."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from omegaconf import OmegaConf

# The weights of conf/objective/default.yaml: one source for every test that needs them.
DEFAULT_WEIGHTS = {
    str(k): float(v)
    for k, v in OmegaConf.load(
        Path(__file__).resolve().parents[1] / "conf/objective/default.yaml"
    ).weights.items()
}

SHARED = Path(os.environ.get("TERRASIM_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def account_columns() -> dict[str, list]:
    """Eight accounts in two regions, today held unevenly by three reps."""
    return {
        "account_id": [f"A{i}" for i in range(1, 9)],
        "name": ["Acme", "Bolt & Co", "<Cyan>", "Delta", "Echo", "Fox", "Golf", "Hotel"],
        "lat": [42.36, 42.40, 41.82, 41.76, 40.71, 40.73, 40.65, 42.10],
        "lon": [-71.06, -71.10, -71.41, -72.68, -74.00, -73.99, -73.95, -72.59],
        "region": ["MA", "MA", "RI", "CT", "NY", "NY", "NY", "MA"],
        "segment": [
            "healthcare",
            "retail",
            "retail",
            "healthcare",
            "tech",
            "tech",
            "retail",
            "tech",
        ],
        "potential": [120000.0, 80000.0, 50000.0, 300000.0, 40000.0, 60000.0, 90000.0, 10000.0],
        "workload": [100.0, 80.0, 60.0, 200.0, 50.0, 70.0, 90.0, 20.0],
        "current_rep": ["R1", "R1", "R1", "R2", "R3", "R3", "R3", ""],
        "relationship_years": [3.0, 1.0, 0.5, 6.0, 2.0, 2.0, 1.0, 0.0],
        "locked": [False, False, False, True, False, False, False, False],
        "barred_reps": ["", "R3", "", "", "", "", "", ""],
    }


def rep_columns() -> dict[str, list]:
    return {
        "rep_id": ["R1", "R2", "R3"],
        "name": ["Ann", "Bo", "Cy"],
        "home_lat": [42.36, 41.76, 40.71],
        "home_lon": [-71.06, -72.68, -74.00],
        "capacity": [400.0, 300.0, 350.0],
        "tenure_months": [40.0, 84.0, 6.0],
        "skills": ["", "healthcare", "tech;retail"],
        "specialist": [False, True, False],
        "regions": ["MA;RI;CT", "", "NY;CT"],
        "status": ["active", "active", "new"],
    }


def table(columns: dict[str, list]) -> pa.Table:
    return pa.table(columns)


def write_csv(path: Path, columns: dict[str, list]) -> Path:
    pacsv.write_csv(pa.table(columns), path)
    return path


@pytest.fixture
def small_files(tmp_path: Path) -> tuple[Path, Path]:
    """The small instance as two CSV files."""
    return (
        write_csv(tmp_path / "accounts.csv", account_columns()),
        write_csv(tmp_path / "reps.csv", rep_columns()),
    )


@pytest.fixture
def run_cli(capsys):
    """Run `terrasim ARGS...` in-process; returns (exit code, stdout, stderr)."""
    from experiments import cli

    def run(*args: str) -> tuple[int, str, str]:
        saved = sys.argv
        sys.argv = ["terrasim", *args]
        code = 0
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.argv = saved
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
